"""The dataset names a user can give (`fashion-mnist`, `mnist`, `mnist:PATH`, `folder:PATH`) and their loaders."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vaelab.data.cache import cache_dir
from vaelab.data.dataset import ImageDataset
from vaelab.data.idx import find_idx_pair, read_idx
from vaelab.data.images import IMAGE_SUFFIXES, image_files, read_images
from vaelab.errors import VaelabError, did_you_mean

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


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
        images=np.concatenate(xs)[:, None],
        labels=labels,
        class_names=class_names,
        name=name,
        train_idx=np.arange(n_train),
        test_idx=np.arange(n_train, len(labels)),
        background=0,
    )


def _download_fashion_mnist(dest: Path) -> None:
    """The four files from Zalando's bucket, each checked against its pinned sha256 (see vaelab.data.downloads)."""
    from vaelab.data.downloads import DOWNLOADS, download_file

    for remote in DOWNLOADS["fashion-mnist"]:
        download_file(remote, dest, desc=f"downloading fashion-mnist {remote.name}")


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
        from vaelab.data.downloads import downloads_enabled

        if not downloads_enabled():
            tried.append(f"{cached} (downloads are off: VAELAB_NO_DOWNLOAD or --no-download)")
        else:
            try:
                _download_fashion_mnist(cached)
            except OSError as e:
                tried.append(f"a download into {cached} ({e.__class__.__name__}: no network?)")
    if find_idx_pair(cached, "train") and find_idx_pair(cached, "t10k"):
        return _idx_dataset(cached, "fashion-mnist", FASHION_MNIST_CLASSES)
    raise VaelabError(
        "Fashion-MNIST not found; tried "
        + "; ".join(tried)
        + ". Install it with: sudo apt-get install dataset-fashion-mnist"
    )


def load_mnist_folder(arg: str | None) -> ImageDataset:
    """``mnist:PATH``: any folder of IDX files in the MNIST naming (train-/t10k-, gz or not); ``mnist`` alone:
    MNIST itself, downloaded into the user cache on first use."""
    if not arg:
        from vaelab.data.downloads import ensure_downloaded

        return _idx_dataset(ensure_downloaded("mnist"), "mnist", [str(d) for d in range(10)])
    folder = _existing_folder(arg, "mnist")
    return _idx_dataset(folder, f"mnist:{folder}", None)


def _existing_folder(arg: str | None, kind: str) -> Path:
    if not arg:
        raise VaelabError(f"'{kind}' needs a folder: {kind}:PATH")
    folder = Path(arg).expanduser()
    if not folder.is_dir():
        raise VaelabError(f"{kind}:{arg}: " + ("a file, not a folder" if folder.exists() else "no such folder"))
    return folder.resolve()  # absolute, so the data name a run records still finds it from another folder


def load_image_folder(
    arg: str | None, channels: int = 3, size: tuple[int, int] = (64, 64), background: int = 255
) -> ImageDataset:
    """``folder:PATH``: each subfolder is a class, holding every image below it; a folder of images only has no
    classes. Hidden files are left out, and so, with a warning, are files Pillow cannot read.

    Each image is preprocessed as described in :mod:`vaelab.data.images` (covering resize + centre crop,
    alpha onto ``background``, EXIF orientation applied).
    """
    folder = _existing_folder(arg, "folder")
    subdirs = [(d, image_files(d)) for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    subdirs = [(d, files) for d, files in subdirs if files]
    flat = image_files(folder, recursive=False)
    # Images beside folders of images: which is meant is unclear. A flat folder may still keep images deeper
    # down (old/x/b.png), which it leaves out, as it did before classes took nested images.
    if flat and any(image_files(d, recursive=False) for d, _ in subdirs):
        raise VaelabError(f"{folder}: holds both images and class subfolders; use one layout or the other")
    subdirs = [] if flat else subdirs
    files = flat or [f for _, fs in subdirs for f in fs]
    if not files:
        raise VaelabError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    images, kept = read_images(files, channels, size, background, desc=f"reading {folder.name}")
    labels = None if flat else np.repeat(np.arange(len(subdirs)), [len(fs) for _, fs in subdirs])[kept]
    return ImageDataset(
        images=images,
        labels=labels,
        class_names=[d.name for d, _ in subdirs] or None,
        name=f"folder:{folder}",
        background=background,
    )


# Every loader takes (arg after the colon or None, channels or None, size or None) and ignores what its
# format fixes itself; imports stay inside so that a dataset's extra dependencies load only when used.
def _fashion_mnist(arg, channels, size):
    if arg:
        raise VaelabError(
            f"fashion-mnist:{arg}: fashion-mnist takes nothing after it; for a copy in a folder of "
            "your own, use mnist:PATH"
        )
    return load_fashion_mnist()


def _mnist(arg, channels, size):
    return load_mnist_folder(arg)


def _folder(arg, channels, size):
    return load_image_folder(arg, channels or 3, tuple(size or (64, 64)))


def _emoji(arg, channels, size):
    from vaelab.data.emoji import load_emoji  # Pillow font rendering

    return load_emoji(arg, size=size[0] if size else None)


def _cifar10(arg, channels, size):
    return _cifar(arg, hundred=False)


def _cifar100(arg, channels, size):
    return _cifar(arg, hundred=True)


def _cifar(arg: str | None, hundred: bool) -> ImageDataset:
    """``cifar10``/``cifar100`` alone: the binary version, downloaded into the user cache on first use;
    with ``:PATH``, a folder of the python or the binary version."""
    from vaelab.data.cifar import load_cifar, load_cifar_binary

    kind = "cifar100" if hundred else "cifar10"
    if not arg:
        from vaelab.data.downloads import ensure_downloaded

        return load_cifar_binary(ensure_downloaded(kind), hundred, name=kind)
    return load_cifar(_existing_folder(arg, kind), hundred)


def _tiny_imagenet(arg, channels, size):
    from vaelab.data.tiny_imagenet import load_tiny_imagenet

    return load_tiny_imagenet(_existing_folder(arg, "tiny-imagenet"), tuple(size or (64, 64)))


def _celeba(arg, channels, size):
    from vaelab.data.celeba import load_celeba

    if not arg:
        raise VaelabError("'celeba' needs a folder: celeba:PATH (optionally celeba:PATH,crop=148)")
    _existing_folder(arg.partition(",crop=")[0], "celeba")
    return load_celeba(arg, tuple(size or (64, 64)))


def _omniglot(arg, channels, size):
    from vaelab.data.omniglot import load_omniglot

    return load_omniglot(_existing_folder(arg, "omniglot"), tuple(size or (28, 28)))


def _sprites(arg, channels, size):
    from vaelab.data.sprites import load_sprites  # procedural, rendered on load

    return load_sprites(arg)


def _sprites_reed(arg, channels, size):
    from vaelab.data.sprites_reed import load_sprites_reed  # h5py

    return load_sprites_reed(arg)


def _hf(arg, channels, size):
    from vaelab.data.hf import load_hf  # the optional datasets package

    return load_hf(arg, channels, size)


LOADERS: dict[str, Callable[..., ImageDataset]] = {
    "fashion-mnist": _fashion_mnist,
    "mnist": _mnist,
    "folder": _folder,
    "emoji": _emoji,
    "cifar10": _cifar10,
    "cifar100": _cifar100,
    "tiny-imagenet": _tiny_imagenet,
    "celeba": _celeba,
    "omniglot": _omniglot,
    "sprites": _sprites,
    "sprites-reed": _sprites_reed,
    "hf": _hf,
}


_SPEC_FORMS = {
    "fashion-mnist": "fashion-mnist",
    "mnist": "mnist[:PATH]",
    "cifar10": "cifar10[:PATH]",
    "cifar100": "cifar100[:PATH]",
    "emoji": "emoji[:SIZE]",
    "sprites": "sprites[:N]",
    "hf": "hf:OWNER/NAME[:SPLIT]",
}


def load_dataset(
    spec: str, channels: int | None = None, size: tuple[int, int] | None = None, strict: bool = False
) -> ImageDataset:
    """Load a dataset by name, e.g. ``fashion-mnist``, ``mnist[:PATH]``, ``folder:PATH``, ``emoji[:SIZE]``,
    ``cifar10[:PATH]``, ``celeba:PATH`` (the keys of LOADERS). ``mnist``, ``cifar10`` and ``cifar100`` without a
    PATH download into the user cache on first use (see :mod:`vaelab.data.downloads`).

    ``channels`` and ``size`` apply where the format leaves them open (image folders: 3 and 64×64;
    emoji, Tiny ImageNet, CelebA: 64×64; Omniglot: 28×28); IDX and CIFAR data keep their own. With ``strict``
    (the user's --channels/--size), a shape the format fixes otherwise is refused rather than ignored; callers
    passing a model's shape check it against the model themselves, with a message about the model.
    """
    kind, _, arg = spec.partition(":")
    if kind not in LOADERS:
        raise VaelabError(
            f"unknown dataset {spec!r}{did_you_mean(kind, LOADERS)}; choose one of: "
            + ", ".join(_SPEC_FORMS.get(k, f"{k}:PATH") for k in LOADERS)
        )
    try:
        ds = LOADERS[kind](arg or None, channels, tuple(size) if size else None)
    except (KeyError, IndexError, ValueError) as e:  # UnicodeDecodeError too: files that are not in the format
        raise VaelabError(f"{spec}: the files are not in the expected format ({type(e).__name__}: {e})") from e
    # Formats that fix their own shape ignore the request; say so rather than train on other images than asked.
    if strict and ((channels and channels != ds.channels) or (size and tuple(size) != ds.size)):
        raise VaelabError(
            f"{spec} has {ds.channels}×{ds.size[0]}×{ds.size[1]} images, which this format fixes; "
            "leave out --channels/--size" + (" (or give the size as emoji:SIZE)" if kind == "emoji" else "")
        )
    return ds
