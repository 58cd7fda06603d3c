"""The dataset names a user can give (`fashion-mnist`, `mnist:PATH`, `folder:PATH`) and their loaders."""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from vaelab.data.dataset import ImageDataset
from vaelab.data.idx import find_idx_pair, read_idx
from vaelab.data.images import IMAGE_SUFFIXES, load_image
from vaelab.errors import VaelabError

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_IDX_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def cache_dir() -> Path:
    """vaelab's user cache: $VAELAB_CACHE, else $XDG_CACHE_HOME/vaelab, else ~/.cache/vaelab."""
    if os.environ.get("VAELAB_CACHE"):
        return Path(os.environ["VAELAB_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vaelab"


def _idx_dataset(folder: Path, name: str, class_names: list[str] | None) -> ImageDataset:
    train, test = find_idx_pair(folder, "train"), find_idx_pair(folder, "t10k")
    if train is None or test is None:
        raise VaelabError(f"{folder}: expected train-/t10k- images-idx3-ubyte and labels-idx1-ubyte files (.gz or raw)")
    xs, ys = [], []
    for images_path, labels_path in (train, test):
        x, y = read_idx(images_path), read_idx(labels_path)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise VaelabError(f"{images_path}: expected (N, H, W) images with N labels, got {x.shape} and {y.shape}")
        xs.append(x.astype(np.uint8))
        ys.append(y.astype(np.int64))
    n_train = len(xs[0])
    labels = np.concatenate(ys)
    if class_names is None:
        class_names = [str(i) for i in range(int(labels.max()) + 1)]
    return ImageDataset(
        images=np.concatenate(xs)[:, None], labels=labels, class_names=class_names, name=name,
        train_idx=np.arange(n_train), test_idx=np.arange(n_train, len(labels)), background=0,
    )


def _download_fashion_mnist(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for fname in _IDX_FILES:
        if (dest / fname).is_file():
            continue
        fd, tmp = tempfile.mkstemp(dir=dest, suffix=".part")
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(FASHION_MNIST_URL + fname, timeout=20) as resp:
            shutil.copyfileobj(resp, out)
        os.replace(tmp, dest / fname)


def load_fashion_mnist(arg: str | None = None) -> ImageDataset:
    """Fashion-MNIST from Debian's package, then $VAELAB_DATA/fashion-mnist, then a download to the cache."""
    tried = []
    vaelab_data = os.environ.get("VAELAB_DATA")
    for place in [DEBIAN_FASHION_MNIST] + ([Path(vaelab_data) / "fashion-mnist"] if vaelab_data else []):
        if find_idx_pair(place, "train") and find_idx_pair(place, "t10k"):
            return _idx_dataset(place, "fashion-mnist", FASHION_MNIST_CLASSES)
        tried.append(str(place))
    if not vaelab_data:
        tried.append("$VAELAB_DATA/fashion-mnist ($VAELAB_DATA is not set)")
    cached = cache_dir() / "fashion-mnist"
    if not (find_idx_pair(cached, "train") and find_idx_pair(cached, "t10k")):
        if os.environ.get("VAELAB_NO_DOWNLOAD"):
            tried.append(f"{cached} (download disabled by VAELAB_NO_DOWNLOAD)")
        else:
            try:
                _download_fashion_mnist(cached)
            except OSError as e:
                tried.append(f"a download into {cached} ({e.__class__.__name__}: no network?)")
    if find_idx_pair(cached, "train") and find_idx_pair(cached, "t10k"):
        return _idx_dataset(cached, "fashion-mnist", FASHION_MNIST_CLASSES)
    raise VaelabError(
        "Fashion-MNIST not found; tried " + "; ".join(tried)
        + ". Install it with: sudo apt-get install dataset-fashion-mnist"
    )


def load_mnist_folder(arg: str | None) -> ImageDataset:
    """``mnist:PATH``: any folder of IDX files in the MNIST naming (train-/t10k-, gz or not)."""
    folder = _existing_folder(arg, "mnist")
    return _idx_dataset(folder, f"mnist:{folder}", None)


def _existing_folder(arg: str | None, kind: str) -> Path:
    if not arg:
        raise VaelabError(f"'{kind}' needs a folder: {kind}:PATH")
    folder = Path(arg).expanduser()
    if not folder.is_dir():
        raise VaelabError(f"{kind}:{arg}: no such folder")
    return folder


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_image_folder(arg: str | None, channels: int = 3, size: tuple[int, int] = (64, 64),
                      background: int = 255) -> ImageDataset:
    """``folder:PATH``: class subfolders become labels; a flat folder of images has none.

    Each image is preprocessed as described in :mod:`vaelab.data.images` (covering resize + centre crop,
    alpha onto ``background``, EXIF orientation applied).
    """
    folder = _existing_folder(arg, "folder")
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and _images_in(d))
    flat = _images_in(folder)
    if subdirs and flat:
        raise VaelabError(f"{folder}: holds both images and class subfolders; use one layout or the other")
    files, labels = (flat, None) if not subdirs else ([], [])
    for label, d in enumerate(subdirs):
        imgs = _images_in(d)
        files += imgs
        labels += [label] * len(imgs)
    if not files:
        raise VaelabError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    images = np.empty((len(files), channels, *size), dtype=np.uint8)
    for i, f in enumerate(tqdm(files, desc=f"reading {folder.name}", unit="img", disable=len(files) < 500)):
        images[i] = load_image(f, channels, size, background)
    return ImageDataset(
        images=images, labels=None if labels is None else np.asarray(labels, dtype=np.int64),
        class_names=[d.name for d in subdirs] or None, name=f"folder:{folder}", background=background,
    )


def _load_emoji(arg: str | None, size: tuple[int, int] | None = None) -> ImageDataset:
    from vaelab.data.emoji import load_emoji  # Pillow font rendering; only this dataset needs it

    return load_emoji(arg, size=size[0] if size else None)


LOADERS: dict[str, Callable[..., ImageDataset]] = {
    "fashion-mnist": load_fashion_mnist,
    "mnist": load_mnist_folder,
    "folder": load_image_folder,
    "emoji": _load_emoji,
}


def load_dataset(spec: str, channels: int | None = None, size: tuple[int, int] | None = None) -> ImageDataset:
    """Load a dataset by name: ``fashion-mnist``, ``mnist:PATH``, ``folder:PATH`` or ``emoji[:SIZE]``.

    ``channels`` and ``size`` apply to image folders (defaults 3 and 64×64) and ``size`` to emoji (64);
    IDX data keeps its own.
    """
    kind, _, arg = spec.partition(":")
    if kind not in LOADERS:
        raise VaelabError(f"unknown dataset {spec!r}; choose one of: fashion-mnist, mnist:PATH, folder:PATH, emoji")
    if kind == "folder":
        return load_image_folder(arg, channels or 3, tuple(size or (64, 64)))
    if kind == "emoji":
        return _load_emoji(arg or None, tuple(size) if size else None)
    return LOADERS[kind](arg or None)
