"""Latent traversals: move one dimension at a time through ±k σ around a centre code, the rest fixed."""

from __future__ import annotations

import numpy as np


def traversal_codes(center: np.ndarray, dims, steps: int, span: float = 3.0, sigma=1.0) -> np.ndarray:
    """Codes (len(dims), steps, D): row i moves dimension dims[i] from center - span·σ to center + span·σ.

    center: (D,); sigma: a scalar or per-dimension (D,) scale (the prior's 1 for a VAE, the codes' spread
    for a plain autoencoder).
    """
    center = np.asarray(center, np.float64)
    dims = np.asarray(list(dims), np.int64)
    scale = np.broadcast_to(np.asarray(sigma, np.float64), center.shape)
    if steps < 2:
        raise ValueError("a traversal needs at least 2 steps")
    offsets = np.linspace(-span, span, steps)  # (S,)
    codes = np.broadcast_to(center, (len(dims), steps, len(center))).copy()
    codes[np.arange(len(dims)), :, dims] += offsets[None, :] * scale[dims][:, None]
    return codes


def order_by(values: np.ndarray) -> np.ndarray:
    """Dimension indices sorted by value, largest first (ties by index, so the order is stable)."""
    values = np.asarray(values, np.float64)
    return np.lexsort((np.arange(len(values)), -values))


def moved_code(center: np.ndarray, dims, offsets, sigma=1.0) -> np.ndarray:
    """The code (D,) at ``center`` with each dimension dims[i] moved by offsets[i]·σ (a scalar or per-dimension
    (D,) scale, as in :func:`traversal_codes`): several traversals at once, as a set of sliders sets them."""
    code = np.array(center, np.float64)
    dims = np.asarray(list(dims), np.int64)
    offsets = np.asarray(offsets, np.float64)
    if offsets.shape != dims.shape:
        raise ValueError(f"{len(dims)} dimensions need {len(dims)} offsets, got {offsets.size}")
    scale = np.broadcast_to(np.asarray(sigma, np.float64), code.shape)
    code[dims] += offsets * scale[dims]
    return code
