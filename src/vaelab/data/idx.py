"""Reader for the IDX format of (Fashion-)MNIST, gzipped or not."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from vaelab.errors import VaelabError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into an array of its stored shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise VaelabError(f"cannot read IDX file {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise VaelabError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape)) if shape else 0
    if len(raw) != header + count * dtype.itemsize:
        raise VaelabError(f"{path} is truncated or padded: header says {shape}, file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header, count=count).reshape(shape).astype(dtype.newbyteorder("="))


def find_idx_pair(folder: Path, prefix: str) -> tuple[Path, Path] | None:
    """Locate ``{prefix}-images-idx3-ubyte[.gz]`` and its labels file in a folder, or None."""
    found = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        candidates = [folder / f"{prefix}-{kind}{ext}" for ext in (".gz", "")]
        candidates += [folder / f"{prefix}-{kind.replace('-idx', '.idx')}{ext}" for ext in (".gz", "")]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            return None
        found.append(hit)
    return found[0], found[1]
