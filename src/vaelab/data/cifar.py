"""CIFAR-10 / CIFAR-100 as their authors distribute them: the binary version (fixed-size records and text files of
class names, no pickle: what ``cifar10``/``cifar100`` download), or the python version's pickle batches, read with
a restricted unpickler that only rebuilds plain numpy arrays, lists, dicts, strings and numbers."""

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


BINARY_PARTS = {
    False: ([f"data_batch_{i}.bin" for i in range(1, 6)], ["test_batch.bin"], ["batches.meta.txt"]),
    True: (["train.bin"], ["test.bin"], ["fine_label_names.txt", "coarse_label_names.txt"]),
}


def _text_names(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_cifar_binary(folder: Path, hundred: bool, name: str | None = None) -> ImageDataset:
    """The binary version: records of a label byte (CIFAR-100: coarse, then fine) and 3072 bytes of R, G, B planes
    of 32×32, in ``data_batch_1..5.bin``/``test_batch.bin`` with ``batches.meta.txt``, or ``train.bin``/``test.bin``
    with ``fine_label_names.txt``/``coarse_label_names.txt``."""
    train_files, test_files, meta_files = BINARY_PARTS[hundred]
    missing = [f for f in train_files + test_files + meta_files if not (folder / f).is_file()]
    if missing:
        raise VaelabError(f"{folder}: missing {', '.join(missing)} (expected the binary version of CIFAR)")
    n_labels = 2 if hundred else 1
    record = n_labels + 3072
    imgs, labels, coarse, is_test = [], [], [], []
    for f in train_files + test_files:
        raw = np.fromfile(folder / f, dtype=np.uint8)
        if len(raw) == 0 or len(raw) % record:
            raise VaelabError(f"{folder / f}: {len(raw)} bytes is not a whole number of {record}-byte CIFAR records")
        rows = raw.reshape(-1, record)
        imgs.append(rows[:, n_labels:].reshape(-1, 3, 32, 32))
        labels.append(rows[:, n_labels - 1].astype(np.int64))
        if hundred:
            coarse.append(rows[:, 0].astype(np.int64))
        is_test.append(np.full(len(rows), f in test_files))
    names = _text_names(folder / meta_files[0])
    labels = np.concatenate(labels)
    if labels.max() >= len(names):
        raise VaelabError(f"{folder / meta_files[0]}: {len(names)} class names, but a label is {labels.max()}")
    attrs = {}
    if hundred:
        coarse_names, c = _text_names(folder / meta_files[1]), np.concatenate(coarse)
        if c.max() >= len(coarse_names):
            raise VaelabError(f"{folder / meta_files[1]}: {len(coarse_names)} names, but a coarse label is {c.max()}")
        attrs["coarse"] = np.array(coarse_names)[c]
    is_test = np.concatenate(is_test)
    return ImageDataset(
        images=np.concatenate(imgs),
        labels=labels,
        class_names=names,
        attributes=attrs,
        train_idx=np.flatnonzero(~is_test),
        test_idx=np.flatnonzero(is_test),
        name=name or f"{'cifar100' if hundred else 'cifar10'}:{folder}",
        background=255,
    )


def load_cifar(folder: Path, hundred: bool) -> ImageDataset:
    """``cifar10:PATH`` (data_batch_1..5, test_batch, batches.meta) or ``cifar100:PATH`` (train, test, meta); a
    folder of the binary version (see :func:`load_cifar_binary`) works too."""
    if (folder / BINARY_PARTS[hundred][0][0]).is_file():
        return load_cifar_binary(folder, hundred)
    if hundred:
        parts, meta_name, key = [("train", "train"), ("test", "test")], "meta", "fine_labels"
    else:
        parts = [(f"data_batch_{i}", "train") for i in range(1, 6)] + [("test_batch", "test")]
        meta_name, key = "batches.meta", "labels"
    missing = [p for p, _ in parts + [(meta_name, "")] if not (folder / p).is_file()]
    if missing:
        raise VaelabError(
            f"{folder}: missing {', '.join(missing)} (expected the python or the binary version of CIFAR)"
        )
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
