"""CIFAR-10 / CIFAR-100 as their authors distribute them: python pickle batches, read with a restricted
unpickler that only rebuilds plain numpy arrays, lists, dicts, strings and numbers."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError

# What the official batches (pickled by Python 2 + numpy) need, and nothing else.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("builtins", "bytes"),
    ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core"):
            module = module.replace("numpy.core", "numpy._core" if hasattr(np, "_core") else "numpy.core")
        return super().find_class(module, name)


def read_batch(path: Path) -> dict:
    """One CIFAR batch file → dict with str keys (the files are Python-2 pickles: encoding='bytes')."""
    try:
        with open(path, "rb") as f:
            raw = _ArraysOnly(f, encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise VaelabError(f"{path}: {e}; only plain CIFAR arrays are accepted") from e
    except (OSError, EOFError, ValueError) as e:
        raise VaelabError(f"{path}: unreadable CIFAR batch ({e})") from e
    if not isinstance(raw, dict):
        raise VaelabError(f"{path}: not a CIFAR batch (expected a dict)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}


def _names(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _images(batch: dict, path: Path) -> np.ndarray:
    data = np.asarray(batch.get("data"))
    if data.ndim != 2 or data.shape[1] != 3072:
        raise VaelabError(f"{path}: expected 'data' of shape (N, 3072), got {data.shape}")
    return data.astype(np.uint8).reshape(-1, 3, 32, 32)


def load_cifar(folder: Path, hundred: bool) -> ImageDataset:
    """``cifar10:PATH`` (data_batch_1..5, test_batch, batches.meta) or ``cifar100:PATH`` (train, test, meta)."""
    if hundred:
        parts, meta_name, key = [("train", "train"), ("test", "test")], "meta", "fine_labels"
    else:
        parts = [(f"data_batch_{i}", "train") for i in range(1, 6)] + [("test_batch", "test")]
        meta_name, key = "batches.meta", "labels"
    missing = [p for p, _ in parts + [(meta_name, "")] if not (folder / p).is_file()]
    if missing:
        raise VaelabError(f"{folder}: missing {', '.join(missing)} (expected the python version of CIFAR)")
    meta = read_batch(folder / meta_name)
    names = _names(meta["fine_label_names" if hundred else "label_names"])
    imgs, labels, coarse, is_test = [], [], [], []
    for fname, split in parts:
        b = read_batch(folder / fname)
        imgs.append(_images(b, folder / fname))
        labels.append(np.asarray(b[key], dtype=np.int64))
        if hundred:
            coarse.append(np.asarray(b["coarse_labels"], dtype=np.int64))
        is_test.append(np.full(len(imgs[-1]), split == "test"))
    is_test = np.concatenate(is_test)
    attrs = {}
    if hundred:
        coarse_names = _names(meta.get("coarse_label_names", []))
        c = np.concatenate(coarse)
        attrs["coarse"] = np.array([coarse_names[i] for i in c]) if coarse_names else c
    return ImageDataset(
        images=np.concatenate(imgs),
        labels=np.concatenate(labels),
        class_names=names,
        attributes=attrs,
        train_idx=np.flatnonzero(~is_test),
        test_idx=np.flatnonzero(is_test),
        name=f"{'cifar100' if hundred else 'cifar10'}:{folder}",
        background=255,
    )
