"""What a user gives where an image goes: an image file, a PIL image, an array, or one image of a dataset named
as ``fashion-mnist:test/17`` (the 18th test image), ``emoji:dog face`` (an emoji by its name) or
``mnist:~/mnist:train/0`` (any dataset spec, then SPLIT/INDEX). Every command and API function that takes
image files reads them through :func:`load_input` or :func:`open_input`.

- ``DATA:SPLIT/INDEX``: SPLIT is train, test or all (every image, in the dataset's own order) and INDEX counts
  from 0 within it. DATA is whatever ``load_dataset`` takes, so it is everything before the last colon.
- ``DATA:NAME``: the image whose ``name`` attribute is NAME, compared without regard to case (today only the
  emoji set has names). DATA is a dataset with no path, optionally with its size (``emoji:32:dog face``); a name
  may itself hold colons (``emoji:kiss: woman, man``).

A file that exists always wins: text is read as a dataset image only when no such file exists. A dataset image
is then preprocessed like a file (:mod:`vaelab.data.images`): at the model's size and channels already, it
reaches the model pixel for pixel.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vaelab.data.images import load_image, open_image, to_pil
from vaelab.errors import VaelabError

SPLITS = ("train", "test", "all")
_AT_INDEX = re.compile(r"^(?P<data>.+):(?P<split>train|test|all)/(?P<index>-?\d+)$")
_BY_NAME = re.compile(r"^(?P<data>[a-z0-9-]+(?::\d+)?):(?P<name>.+)$")


@dataclass(frozen=True)
class DatasetImageRef:
    """A parsed dataset image: the dataset spec, and either (split, index) or a name."""

    data: str
    split: str | None = None
    index: int | None = None
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.data}:{self.split}/{self.index}" if self.name is None else f"{self.data}:{self.name}"


def parse_dataset_image(text: str | Path) -> DatasetImageRef | None:
    """``text`` as a dataset image, or None: when a file or folder of that name exists, or when it does not start
    with the name of a dataset (``load_dataset``'s kinds) and a colon."""
    text = str(text)
    if ":" not in text:  # a plain path: the loaders need not even be imported
        return None
    from vaelab.data.loaders import LOADERS

    if text.partition(":")[0] not in LOADERS or Path(text).expanduser().exists():
        return None
    at = _AT_INDEX.match(text)
    if at:
        return DatasetImageRef(at["data"], split=at["split"], index=int(at["index"]))
    named = _BY_NAME.match(text)
    if named and named["name"].strip():
        return DatasetImageRef(named["data"], name=named["name"].strip())
    return None


@functools.lru_cache(maxsize=2)
def loaded_dataset(spec: str):
    """``load_dataset(spec)``, kept for the next image of the same data (a morph names two or more)."""
    from vaelab.data.loaders import load_dataset

    return load_dataset(spec)


def dataset_row(ds, ref: DatasetImageRef) -> int:
    """The row of ``ds`` that ``ref`` names; the errors give the valid range, or the names most like the one given."""
    if ref.name is None:
        rows = ds.split(ref.split)
        if not len(rows):
            raise VaelabError(f"{ref}: the {ref.split} split of {ds.name} holds no images")
        if not 0 <= ref.index < len(rows):
            raise VaelabError(
                f"{ref}: the {ref.split} split of {ds.name} holds {len(rows)} images; "
                f"give an index from 0 to {len(rows) - 1}"
            )
        return int(rows[ref.index])
    names = ds.attributes.get("name")
    place = re.match(r"^(?P<split>\w+)/-?\d+$", ref.name)
    if place and (names is None or place["split"] not in SPLITS):  # a mistyped split, not a name
        close = difflib.get_close_matches(place["split"], SPLITS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise VaelabError(f"{ref}: the split is one of {', '.join(SPLITS)}, not {place['split']!r}{hint}")
    if names is None:
        raise VaelabError(
            f"{ref}: {ds.name} has no image names; name an image by its place instead, e.g. {ref.data}:test/0"
        )
    names = names.astype(str)
    lowered = np.char.lower(names)
    hits = np.flatnonzero(lowered == ref.name.lower())
    if not len(hits):
        close = difflib.get_close_matches(ref.name.lower(), list(dict.fromkeys(lowered.tolist())), n=3, cutoff=0.6)
        shown = [str(names[np.flatnonzero(lowered == c)[0]]) for c in close]
        hint = f"; did you mean {', '.join(map(repr, shown))}?" if shown else ""
        raise VaelabError(f"{ref}: {ds.name} has no image named {ref.name!r}{hint}")
    return int(hits[0])


def dataset_image(text: str | Path) -> np.ndarray:
    """The image ``text`` names (see this module's docstring) as the dataset holds it: uint8 (C, H, W)."""
    ref = parse_dataset_image(text)
    if ref is None:
        raise VaelabError(f"{text}: not a dataset image; write DATA:SPLIT/INDEX (fashion-mnist:test/17) or DATA:NAME")
    try:
        ds = loaded_dataset(ref.data)
    except VaelabError as e:
        raise VaelabError(f"{text}: {e}") from e
    return ds.images[dataset_row(ds, ref)]


def open_input(source: str | Path) -> Image.Image:
    """:func:`~vaelab.data.images.open_image` of a file, or the dataset image ``source`` names where no such file
    exists."""
    return to_pil(dataset_image(source)) if parse_dataset_image(source) else open_image(source)


def load_input(source, channels: int, size: tuple[int, int], background: int = 0) -> np.ndarray:
    """:func:`~vaelab.data.images.load_image` that also takes a dataset image: a path, dataset image, PIL image or
    uint8 array (H, W[, C]) → uint8 (C, H, W) of the given channels and size."""
    if isinstance(source, (str, Path)) and parse_dataset_image(source):
        source = open_input(source)
    return load_image(source, channels, size, background)


def image_label(source) -> str:
    """A caption for an input image: a file's name, a dataset image as written (``fashion-mnist:test/17``), or ""
    for an image given as pixels."""
    if not isinstance(source, (str, Path)):
        return ""
    return str(source) if parse_dataset_image(source) else Path(source).name


def image_stem(label: str) -> str:
    """What of a caption from :func:`image_label` goes into a file name: a file's stem, or the whole dataset image."""
    return label if parse_dataset_image(label) else Path(label).stem
