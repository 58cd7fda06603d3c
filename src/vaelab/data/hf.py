"""``hf:OWNER/NAME[:SPLIT]``: an image dataset from the Hugging Face Hub, through the optional ``datasets`` package
(``pip install 'vaelab[hf]'``). It downloads into Hugging Face's own cache (``$HF_HOME``), not vaelab's."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from vaelab.data.cache import cache_dir, open_cached, write_cached
from vaelab.data.dataset import ImageDataset
from vaelab.data.downloads import downloads_enabled
from vaelab.errors import VaelabError


def load_hf(arg: str | None, channels: int | None, size: tuple[int, int] | None) -> ImageDataset:
    """The first Image column is the image, the first ClassLabel column the label (with its names). Without a
    SPLIT, the repository's own train and test splits are kept (any other split is left out); with one, that split
    alone gets the fixed-seed 90/10 split. The shape is the first image's unless --channels/--size say otherwise."""
    repo, _, split = (arg or "").partition(":")
    local = Path(repo).expanduser()
    on_disk = bool(repo) and local.is_dir()  # a folder that datasets' save_to_disk wrote
    if not on_disk and (repo.count("/") != 1 or not all(repo.split("/"))):
        raise VaelabError(
            f"hf:{arg or ''}: give a Hub dataset as hf:OWNER/NAME or hf:OWNER/NAME:SPLIT, or a folder that "
            "datasets' save_to_disk wrote"
        )
    if not downloads_enabled():  # read by datasets and huggingface_hub when they are imported
        os.environ["HF_DATASETS_OFFLINE"] = os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import datasets
    except ImportError:
        raise VaelabError(f"hf:{arg} needs the optional package datasets: pip install 'vaelab[hf]'") from None
    try:
        if on_disk:
            loaded = datasets.load_from_disk(str(local))
            if split:
                if not isinstance(loaded, datasets.DatasetDict) or split not in loaded:
                    raise VaelabError(f"hf:{arg}: {local} has no split {split!r}")
                loaded = loaded[split]
            elif not isinstance(loaded, datasets.DatasetDict):  # one split saved: the fixed-seed 90/10 split
                split = "all"
        else:
            loaded = datasets.load_dataset(repo, split=split or None)
    except VaelabError:
        raise
    except Exception as e:  # the Hub's errors have no common base: name it, in one line
        raise VaelabError(f"hf:{arg}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    if split:
        parts = [(loaded, None)]
    else:
        missing = [s for s in ("train", "test") if s not in loaded]
        if missing:
            raise VaelabError(f"hf:{arg} has no {' or '.join(missing)} split (it has {', '.join(loaded)}); name one")
        parts = [(loaded["train"], False), (loaded["test"], True)]
    features = parts[0][0].features
    image_col = next((k for k, f in features.items() if isinstance(f, datasets.Image)), None)
    if image_col is None:
        raise VaelabError(f"hf:{arg} has no image column (its columns: {', '.join(features)})")
    label_col = next((k for k, f in features.items() if isinstance(f, datasets.ClassLabel)), None)
    first = parts[0][0][0][image_col]
    channels = channels or (1 if first.mode in ("1", "L", "I", "I;16", "F") else 3)
    size = tuple(size) if size else (first.height, first.width)
    labels = [v for part, _ in parts for v in part[label_col]] if label_col else []
    is_test = np.concatenate([np.full(len(part), bool(test)) for part, test in parts])
    return ImageDataset(
        images=_decoded(parts, image_col, channels, size),
        labels=np.asarray(labels, np.int64) if label_col else None,
        class_names=list(features[label_col].names) if label_col else None,
        name=f"hf:{arg}",
        train_idx=None if split else np.flatnonzero(~is_test),
        test_idx=None if split else np.flatnonzero(is_test),
        background=0,
    )


def _decoded(parts, image_col: str, channels: int, size: tuple[int, int]) -> np.ndarray:
    """The images of the dataset's parts, decoded once into a memory-mapped uint8 .npy in vaelab's cache, keyed by
    datasets' own fingerprints of the parts and the decode settings (as the other large sets are)."""
    key = json.dumps([[part._fingerprint for part, _ in parts], channels, list(size)])
    path = cache_dir() / f"hf-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    n = sum(len(part) for part, _ in parts)
    cached = open_cached(path, (n, channels, *size))
    if cached is not None:
        return cached
    rows = (row[image_col] for part, _ in parts for row in part)
    return write_cached(path, "hf", rows, n, channels, size, 0)
