"""Tiny ImageNet as distributed: train/<wnid>/images/*.JPEG, val/images/ with val/val_annotations.txt,
wnids.txt and words.txt. The val set (labelled) is the test split; test/ has no labels and is not read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaelab.data.cache import decode_cached
from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError


def load_tiny_imagenet(folder: Path, size: tuple[int, int] = (64, 64)) -> ImageDataset:
    for needed in ("wnids.txt", "train", "val/val_annotations.txt", "val/images"):
        if not (folder / needed).exists():
            raise VaelabError(f"{folder}: missing {needed} (expected the tiny-imagenet-200 layout)")
    wnids = [w.strip() for w in (folder / "wnids.txt").read_text().split() if w.strip()]
    words = {}
    if (folder / "words.txt").is_file():
        for line in (folder / "words.txt").read_text().splitlines():
            wnid, _, text = line.partition("\t")
            words[wnid.strip()] = text.split(",")[0].strip()
    index = {w: i for i, w in enumerate(wnids)}
    files, labels = [], []
    for w in wnids:
        imgs = sorted((folder / "train" / w / "images").glob("*.JPEG"))
        files += imgs
        labels += [index[w]] * len(imgs)
    n_train = len(files)
    for line in (folder / "val" / "val_annotations.txt").read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1] in index:
            files.append(folder / "val" / "images" / parts[0])
            labels.append(index[parts[1]])
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise VaelabError(f"{folder}: {len(missing)} listed images are missing, e.g. {missing[0]}")
    if not files:
        raise VaelabError(f"{folder}: no images found under train/<wnid>/images/")
    images = decode_cached("tiny-imagenet", folder, files, 3, size, 255)
    return ImageDataset(
        images=images,
        labels=np.asarray(labels, np.int64),
        class_names=[words.get(w, w) for w in wnids],
        attributes={"wnid": np.array(wnids)[labels]},
        train_idx=np.arange(n_train),
        test_idx=np.arange(n_train, len(files)),
        name=f"tiny-imagenet:{folder}",
        background=255,
    )
