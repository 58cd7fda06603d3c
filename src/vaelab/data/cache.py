"""Decode big image sets once into a memory-mapped uint8 .npy in the user cache; later runs start at once.

The cache key is a fingerprint of the source files (relative path, size, mtime) and the decode settings,
so any change to the source makes a new cache instead of serving stale images.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vaelab.data.images import load_image
from vaelab.errors import VaelabWarning
from vaelab.io.atomic import atomic_path
from vaelab.progress import progress_bar


def cache_dir() -> Path:
    """vaelab's user cache: $VAELAB_CACHE, else $XDG_CACHE_HOME/vaelab, else ~/.cache/vaelab."""
    if os.environ.get("VAELAB_CACHE"):
        return Path(os.environ["VAELAB_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vaelab"


def fingerprint(root: Path, files: Sequence[Path], settings: dict) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def decode_cached(
    kind: str,
    root: Path,
    files: Sequence[Path],
    channels: int,
    size: tuple[int, int],
    background: int,
    prepare: Callable | None = None,
) -> np.ndarray:
    """uint8 (N, C, H, W) memory map of ``files`` decoded with :func:`load_image` (after ``prepare``, a
    PIL-image transform such as a crop), written once under the user cache."""
    settings = {
        "channels": channels,
        "size": list(size),
        "background": background,
        "prepare": getattr(prepare, "cache_key", None),
    }
    key = fingerprint(root, files, settings)
    path = cache_dir() / f"{kind}-{key}.npy"
    cached = open_cached(path, (len(files), channels, *size))
    if cached is not None:
        return cached

    def sources():
        for f in files:
            if prepare is None:
                yield f
            else:
                from vaelab.data.images import open_image

                yield prepare(open_image(f))

    return write_cached(path, kind, sources(), len(files), channels, size, background)


def write_cached(path: Path, kind: str, sources, n: int, channels: int, size: tuple[int, int], background: int):
    """Decode ``n`` images (paths or PIL images, from the iterable ``sources``) with :func:`load_image` into the
    .npy ``path``, written atomically, with a progress bar; return its read-only memory map."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, channels, *size))
        for i, src in enumerate(progress_bar(sources, desc=f"decoding {kind} (once)", unit="img", show=n >= 200,
                                             total=n)):  # fmt: skip
            out[i] = load_image(src, channels, size, background)
        out.flush()
        del out
    return _open(path)


def open_cached(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cache ``path`` as a read-only map when it holds uint8 images of ``shape``; None when there is none, and
    (with a warning) when it cannot be read."""
    if not path.is_file():
        return None
    try:
        images = _open(path)
        if images.shape == tuple(shape) and images.dtype == np.uint8:
            return images
        raise ValueError(f"it holds {images.dtype} {images.shape}")
    except (OSError, ValueError) as e:  # a damaged cache (a full disk, a copy cut short) is decoded again
        warn_damaged_cache(path, e)
        return None


def warn_damaged_cache(path: Path, error: Exception) -> None:
    warnings.warn(f"the cache {path} could not be read ({error}); making it again", VaelabWarning, stacklevel=3)


def _open(path: Path) -> np.ndarray:
    """A read-only map: pages are read from the cache file as needed and count against no memory limit (a
    copy-on-write map would reserve the whole file, which fails for CelebA-sized caches)."""
    return np.load(path, mmap_mode="r")
