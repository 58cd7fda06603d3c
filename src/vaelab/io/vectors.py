"""Latent vectors on disk (an attribute vector, say): safetensors with the key "vector", and what made it as
string metadata. No pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaelab.errors import VaelabError
from vaelab.io.atomic import atomic_path

VECTOR_SUFFIX = ".safetensors"


def save_vector(path: str | Path, vector: np.ndarray, metadata: dict[str, str]) -> Path:
    """Write ``vector`` (D,) to ``path`` through a temp file, so that a failure leaves no half-written file."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file({"vector": np.ascontiguousarray(vector, np.float32)}, str(tmp), metadata=metadata)
    return path


def load_vector(path: str | Path, latent_dim: int | None = None) -> np.ndarray:
    """The vector (D,) saved at ``path``; with ``latent_dim``, one of another length is refused."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        vector = load_file(str(path))["vector"]
    except (SafetensorError, OSError, KeyError) as e:
        raise VaelabError(f"{path}: not a vaelab vector file ({e})") from e
    if vector.ndim != 1:
        raise VaelabError(f"{path}: the vector must be one row of numbers, not an array of shape {vector.shape}")
    if not np.isfinite(vector).all():
        raise VaelabError(
            f"{path}: the vector holds {int((~np.isfinite(vector)).sum())} values that are NaN or infinite"
        )
    if latent_dim is not None and len(vector) != latent_dim:
        raise VaelabError(f"{path} holds a vector of {len(vector)} numbers; this model's codes have {latent_dim}")
    return vector
