"""Omniglot as distributed: images_background/ and images_evaluation/, each <alphabet>/<character>/*.png.

Labels are characters ("Alphabet/character_NN", the class names); the alphabet is an attribute.
images_background is the train split and images_evaluation the test split, as in the original paper.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaelab.data.cache import decode_cached
from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError

PARTS = ("images_background", "images_evaluation")


def load_omniglot(folder: Path, size: tuple[int, int] = (28, 28)) -> ImageDataset:
    present = [p for p in PARTS if (folder / p).is_dir()]
    if not present:
        raise VaelabError(f"{folder}: expected images_background/ and/or images_evaluation/ (the Omniglot layout)")
    files, labels, alphabets, names, is_test = [], [], [], [], []
    for part in present:
        for alphabet in sorted(d for d in (folder / part).iterdir() if d.is_dir()):
            for char in sorted(d for d in alphabet.iterdir() if d.is_dir()):
                imgs = sorted(char.glob("*.png"))
                if not imgs:
                    continue
                names.append(f"{alphabet.name}/{char.name}")
                files += imgs
                labels += [len(names) - 1] * len(imgs)
                alphabets += [alphabet.name] * len(imgs)
                is_test += [part == "images_evaluation"] * len(imgs)
    if not files:
        raise VaelabError(f"{folder}: no .png images under {'/, '.join(present)}/<alphabet>/<character>/")
    is_test = np.array(is_test)
    images = decode_cached("omniglot", folder, files, 1, size, 255)
    ds = ImageDataset(
        images=images,
        labels=np.asarray(labels, np.int64),
        class_names=names,
        attributes={"alphabet": np.array(alphabets)},
        name=f"omniglot:{folder}",
        background=255,
    )
    if is_test.any() and (~is_test).any():
        ds.use_split(np.flatnonzero(~is_test), np.flatnonzero(is_test))
    return ds
