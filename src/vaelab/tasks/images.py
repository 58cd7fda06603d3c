"""A dataset's images as PNG files (`vaelab images`): to look at, or to give to any command that takes image files.
Each file is named after the image, so that it can be named again as a dataset image: ``test-17_Sneaker.png`` is
``fashion-mnist:test/17``, ``dog_face.png`` is ``emoji:dog face``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaelab.data.dataset import ImageDataset, query_mask
from vaelab.data.images import to_pil
from vaelab.data.inputs import SPLITS
from vaelab.errors import VaelabError
from vaelab.io.staging import staged_folder
from vaelab.tasks.attribute import file_slug


@dataclass
class DatasetImages:
    """The images a selection found, with a dataset image and a file name for each."""

    data: str  # the dataset, as load_dataset names it
    rows: np.ndarray  # (n,) rows of the dataset, in its order
    images: np.ndarray  # uint8 (n, C, H, W), as the dataset holds them
    refs: list[str]  # each as a dataset image: "fashion-mnist:test/17" (see vaelab.data.inputs)
    files: list[str]  # each one's PNG file name
    matched: int  # images the selection matched before ``limit`` kept the first of them


def _places(ds: ImageDataset, rows: np.ndarray) -> list[tuple[str, int]]:
    """(split, index within it) of each row: its place in the train or the test split, else in 'all'."""
    split = np.full(len(ds), "all", dtype=object)
    index = np.arange(len(ds))
    for name in ("test", "train"):
        own = ds.split(name)
        split[own], index[own] = name, np.arange(len(own))
    return [(split[r], int(index[r])) for r in rows]


def select_images(
    data: str | ImageDataset,
    query: str | None = None,
    split: str = "all",
    class_name: str | None = None,
    limit: int | None = None,
) -> DatasetImages:
    """The images of ``data`` in ``split`` that match the attribute ``query`` ("name=dog face", as `vaelab attribute
    --attr` takes it) and the class ``class_name``, the first ``limit`` of them."""
    from vaelab.data.loaders import load_dataset

    if split not in SPLITS:
        raise VaelabError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if limit is not None and limit < 1:
        raise VaelabError(f"--limit must be at least 1, got {limit}")
    ds = data if isinstance(data, ImageDataset) else load_dataset(data)
    spec = data if isinstance(data, str) else ds.name
    mask = np.zeros(len(ds), bool)
    mask[ds.split(split)] = True
    if class_name is not None:
        if ds.labels is None:
            raise VaelabError(f"{ds.name} has no classes; select its images with --query instead")
        mask &= ds.labels == ds.class_index(class_name)
    if query:
        mask &= query_mask(ds, query)
    rows = np.flatnonzero(mask)
    if not len(rows):
        asked = [f"the {split} split"] + [f"class {class_name}"] * (class_name is not None) + [query] * bool(query)
        raise VaelabError(f"no image of {ds.name} is in {' and '.join(asked)}")
    matched, rows = len(rows), rows[:limit]
    places = _places(ds, rows)
    names = ds.attributes.get("name")
    files, seen = [], set()
    for row, (where, i) in zip(rows, places):
        if names is not None:
            stem = file_slug(str(names[row]))
        else:
            label = f"_{file_slug(ds.class_names[ds.labels[row]])}" if ds.labels is not None and ds.class_names else ""
            stem = f"{where}-{i}{label}"
        name, k = f"{stem}.png", 1
        while name.lower() in seen:  # two names with one slug, or a file system that ignores case
            k += 1
            name = f"{stem}-{k}.png"
        seen.add(name.lower())
        files.append(name)
    refs = [f"{spec}:{where}/{i}" for where, i in places]
    return DatasetImages(ds.name, rows, ds.images[rows], refs, files, matched)


def write_images(result: DatasetImages, out: str | Path) -> list[Path]:
    """Write each image as a PNG into ``out``, at the dataset's own size (a folder built beside ``out`` and moved
    in at the end, so a failure leaves ``out`` as it was); other files there stay. Returns the paths written."""
    with staged_folder(out) as tmp:
        for image, name in zip(result.images, result.files):
            to_pil(image).save(tmp / name, format="PNG")
    return [Path(out) / name for name in result.files]
