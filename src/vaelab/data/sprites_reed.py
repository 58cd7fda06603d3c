"""`sprites-reed:PATH`: Reed et al.'s 2D game-character sprites (nips2015-analogy-data), read with h5py.

The archive's ``data/sprites/`` folder holds:
- ``sprites_{i}.mat`` for characters i = 0..671, MATLAB v7.3 files (HDF5 underneath). Their ``sprites`` variable
  is a cell array of 21 animations (5 actions × 4 viewpoints, then one "hurt" animation). HDF5 stores a cell
  array as a dataset of object references; each reference points at one animation, a (frames, 10800) array of
  floats in [0, 1]. A row is one 60×60 RGB frame flattened in MATLAB's column-major order, so a C-order reshape
  gives (3, W, H): the transpose (0, 3, 2, 1) makes it H×W×C, and (0, 1, 3, 2) makes it our (C, H, W).
- ``sprites_splits.mat``, 1-based ``trainidx`` / ``validx`` / ``testidx`` over the characters. The archive ships
  it as a MATLAB v5 file (scipy reads that); a v7.3 copy is read with h5py.

The label is the character identity. Attributes: ``animation`` (0..20), ``frame`` (within its animation) and
``split`` (train / val / test). Train and test follow the official split by character; validation characters
are in neither (``split`` still names them).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError
from vaelab.progress import progress_bar

SIDE = 60
SPLITS_NAME = "sprites_splits.mat"
_CHARACTER = re.compile(r"sprites_(\d+)\.mat$")


def _h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - a dependency; only a broken install lacks it
        raise VaelabError("reading MATLAB v7.3 sprites needs h5py: pip install h5py") from e
    return h5py


def read_character(path: str | Path) -> list[np.ndarray]:
    """One ``sprites_{i}.mat`` → its animations, each uint8 (frames, 3, 60, 60)."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            if "sprites" not in f:
                raise VaelabError(f"{path}: no 'sprites' variable; is this one of Reed's sprites_N.mat files?")
            cells = f["sprites"]
            if not isinstance(cells, h5py.Dataset) or cells.dtype != h5py.ref_dtype:
                raise VaelabError(f"{path}: 'sprites' is not a cell array of animations (object references)")
            animations = []
            for ref in np.asarray(cells).ravel():  # MATLAB's cell arrays are (21, 1) or (1, 21)
                frames = np.asarray(f[ref], np.float64)
                if frames.ndim != 2 or frames.shape[1] != 3 * SIDE * SIDE:
                    raise VaelabError(f"{path}: an animation has shape {frames.shape}, expected (frames, 10800)")
                cwh = frames.reshape(len(frames), 3, SIDE, SIDE)
                animations.append(np.rint(np.clip(cwh, 0, 1) * 255).astype(np.uint8).transpose(0, 1, 3, 2))
            if not sum(len(a) for a in animations):
                raise VaelabError(f"{path}: holds no frames")
            return animations
    except (OSError, TypeError, ValueError, KeyError) as e:  # a damaged file or a reference to something else
        raise VaelabError(f"{path}: not a readable MATLAB v7.3 / HDF5 file of sprites ({e})") from e


def read_splits(path: str | Path) -> dict[str, np.ndarray]:
    """``sprites_splits.mat`` → 0-based character indices for 'train', 'val' and 'test'."""
    keys = {"train": "trainidx", "val": "validx", "test": "testidx"}
    h5py = _h5py()
    try:
        if h5py.is_hdf5(path):  # v7.3; scipy reads only v4-v7
            with h5py.File(path, "r") as f:
                raw = {k: np.asarray(f[k]) for k in keys.values() if k in f}
        else:
            from scipy.io import loadmat

            raw = loadmat(str(path))
    except Exception as e:  # h5py's and scipy's many readers (MatReadError among them) fail in many ways
        raise VaelabError(f"{path}: not a readable .mat file ({e})") from e
    missing = [k for k in keys.values() if k not in raw]
    if missing:
        raise VaelabError(f"{path}: missing {', '.join(missing)}")
    splits = {}
    for name, k in keys.items():
        values = np.asarray(raw[k], np.float64).ravel()
        if not np.isfinite(values).all() or (values < 1).any() or (values != np.round(values)).any():
            raise VaelabError(f"{path}: {k} must hold 1-based character numbers (whole numbers from 1)")
        splits[name] = values.astype(np.int64) - 1  # MATLAB is 1-based
    seen: dict[int, str] = {}
    for name, idx in splits.items():
        twice = sorted({int(i) + 1 for i in idx if seen.setdefault(int(i), name) != name})
        if twice:
            raise VaelabError(
                f"{path}: character {', '.join(map(str, twice[:5]))} is in two splits ({seen[twice[0] - 1]} and {name})"
            )
    return splits


def _sprites_folder(arg: str | None) -> Path:
    if not arg:
        raise VaelabError("'sprites-reed' needs a folder: sprites-reed:PATH (the archive's data/sprites/)")
    folder = Path(arg).expanduser()
    if not folder.is_dir():
        raise VaelabError(f"sprites-reed:{arg}: no such folder")
    folder = folder.resolve()  # the data name a run records must not depend on the working folder
    for candidate in (folder, folder / "sprites", folder / "data" / "sprites"):  # the folder or the archive root
        if (candidate / SPLITS_NAME).is_file():
            return candidate
    raise VaelabError(
        f"sprites-reed:{arg}: no {SPLITS_NAME} there or in data/sprites/; point at the unpacked nips2015-analogy-data"
    )


def load_sprites_reed(arg: str | None) -> ImageDataset:
    """``sprites-reed:PATH``: every frame of every character as 60×60 RGB, labelled by character."""
    folder = _sprites_folder(arg)
    files = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _CHARACTER.search(p.name)))
    if not files:
        raise VaelabError(f"{folder}: no sprites_N.mat files")
    splits = read_splits(folder / SPLITS_NAME)
    split_of = {}
    for name, idx in splits.items():
        split_of.update({int(i): name for i in idx})
    images, labels, animation, frame = [], [], [], []
    for character, path in progress_bar(files, desc="reading sprites", unit="character", show=len(files) >= 50):
        for a, frames in enumerate(read_character(path)):
            images.append(frames)
            labels += [character] * len(frames)
            animation += [a] * len(frames)
            frame += range(len(frames))
    labels = np.asarray(labels, np.int64)
    split = np.array([split_of.get(int(c), "none") for c in labels])
    n_classes = int(labels.max()) + 1
    images = np.concatenate(images)
    background = int(np.median(images[:, :, 0, 0]))  # the corner pixel: what user images are composited onto
    return ImageDataset(
        images=images,
        labels=labels,
        class_names=[f"character {i}" for i in range(n_classes)],
        attributes={"animation": np.asarray(animation, np.int64), "frame": np.asarray(frame, np.int64), "split": split},
        train_idx=np.flatnonzero(split == "train"),
        test_idx=np.flatnonzero(split == "test"),
        name=f"sprites-reed:{folder}",
        background=background,
    )
