"""Concepts: named sets of images, resolved against a model (for codes) and its data (for classes and
attributes). A concept's vector is the mean of its images' posterior means (as the vector-arithmetic blog post averages
several faces per term).

A concept is written as:
- ``class:Sneaker``: the images of a class of the data;
- ``attr:gender=woman,skin=none``: the images whose attributes match (``a=x|y`` for either value);
- ``[a.png b.png]``: a bracketed list of files (or dataset images);
- a file or a folder path;
- one image of a dataset, ``fashion-mnist:test/17`` or ``emoji:dog face`` (:mod:`vaelab.data.inputs`).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaelab.data.dataset import ImageDataset, query_mask
from vaelab.data.images import image_files, read_images
from vaelab.data.inputs import image_label, load_input, parse_dataset_image
from vaelab.errors import VaelabError
from vaelab.io.vectors import VECTOR_SUFFIX, load_vector
from vaelab.models.runtime import InferenceModel, encode_batched
from vaelab.tasks.encoding import load_model_dataset


@dataclass
class Concept:
    label: str
    images: np.ndarray  # uint8 (n, C, H, W)
    latents: np.ndarray  # (n, D) posterior means

    @property
    def vector(self) -> np.ndarray:
        return self.latents.mean(0)

    @property
    def name(self) -> str:
        """The label as a figure shows it: files and folders by their own names, not their whole paths."""
        if self.label.startswith(("class:", "attr:")):
            return self.label
        if self.label.startswith("[") and self.label.endswith("]"):
            return "[" + ",".join(image_label(p) for p in shlex.split(self.label[1:-1])) + "]"
        return image_label(self.label) or self.label


class ConceptResolver:
    """Turns concept strings into Concepts. The data is loaded only when a class or attribute asks for it."""

    def __init__(self, m: InferenceModel, data: str | ImageDataset | None = None):
        self.m, self._data = m, data

    @property
    def dataset(self) -> ImageDataset:
        if not isinstance(self._data, ImageDataset):
            self._data = load_model_dataset(self.m, self._data)
        return self._data

    def mask(self, token: str) -> np.ndarray:
        """The data rows a ``class:`` or ``attr:`` token selects."""
        kind, _, arg = token.partition(":")
        ds = self.dataset
        if kind == "class":
            if ds.labels is None:
                other = "attr: or image files" if ds.attributes else "image files or folders"
                raise VaelabError(f"{ds.name} has no classes; name {other} instead")
            return ds.labels == ds.class_index(arg.strip())
        return query_mask(ds, arg)

    def resolve(self, token: str) -> Concept:
        token = token.strip()
        if token.endswith(VECTOR_SUFFIX) and Path(token).is_file():  # a saved vector: a code, no images
            vector = load_vector(token, self.m.latent_dim)
            return Concept(token, np.zeros((0, self.m.channels, *self.m.size), np.uint8), vector[None])
        if token.startswith(("class:", "attr:")):
            return self.of_data(token)
        named, found = self._files(token)
        fmt = (self.m.channels, self.m.size, self.m.background)
        parts = [np.stack([load_input(f, *fmt) for f in named])] if named else []
        if found:  # a folder's images: one that cannot be read is left out with a warning
            parts.append(read_images(found, *fmt)[0])
        return self._concept(token, np.concatenate(parts))

    def of_data(self, token: str) -> Concept:
        """The concept of a ``class:`` or ``attr:`` token: the data's images it selects (never a file)."""
        if not token.startswith(("class:", "attr:")):
            raise VaelabError(f"concept {token!r}: write class:NAME or attr:NAME=VALUE")
        return self._concept(token, self.dataset.images[np.flatnonzero(self.mask(token))])

    def of_images(self, label: str, images) -> Concept:
        """The concept of images given as pixels (PIL images or arrays, e.g. uploads), named ``label``."""
        fmt = (self.m.channels, self.m.size, self.m.background)
        return self._concept(label, np.stack([load_input(im, *fmt) for im in images]) if len(images) else [])

    def _concept(self, token: str, images) -> Concept:
        if len(images) == 0:
            raise VaelabError(f"concept {token!r} matches no images")
        return Concept(token, images, encode_batched(self.m, images))

    @staticmethod
    def _files(token: str) -> tuple[list[Path], list[Path]]:
        """(files named, files found in the folders named): every image below a folder, hidden ones left out."""
        parts = shlex.split(token[1:-1]) if token.startswith("[") and token.endswith("]") else [token]
        named: list[Path] = []
        found: list[Path] = []
        paths: list[Path] = []
        for part in parts:  # a pattern the shell did not expand (it sat inside the quoted expression)
            if not Path(part).exists() and ("*" in part or "?" in part) and not parse_dataset_image(part):
                matched = [Path(m) for m in sorted(glob.glob(os.path.expanduser(part)))]
                if not matched:
                    raise VaelabError(f"concept {token!r}: the pattern {part} matches no files")
                # what it matches is found, not named: a file that is no image is left out with a warning
                found += [f for m in matched for f in (image_files(m) if m.is_dir() else [m])]
            else:
                paths.append(Path(part))
        for p in paths:
            if p.is_dir():
                below = image_files(p)
                if not below:
                    raise VaelabError(f"concept folder {p} holds no images")
                found += below
            elif p.exists() or parse_dataset_image(p):
                named.append(p)
            else:
                glued = " (put spaces around + and -)" if re.search(r"\S[+-]", str(p)) else ""
                raise VaelabError(
                    f"concept {token!r}: {p} is neither a file nor a folder{glued} "
                    "(for data, write class:NAME or attr:NAME=VALUE; for one image of it, DATA:SPLIT/INDEX)"
                )
        if not named and not found:
            raise VaelabError(f"concept {token!r} is empty")
        return named, found
