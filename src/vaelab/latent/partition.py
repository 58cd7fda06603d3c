"""Codes split into an unspecified part z and a specified part s, laid out [z | s] (the cycle-VAE's code).

Pure numpy: swapping and interpolating the parts is slicing and joining.
"""

from __future__ import annotations

import numpy as np

from vaelab.latent.interpolate import lerp


def split_code(codes: np.ndarray, specified_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """codes (..., D) → (z (..., D − Ds), s (..., Ds)); the last ``specified_dim`` entries are s."""
    if not 0 < specified_dim < codes.shape[-1]:
        raise ValueError(f"specified_dim must be in 1..{codes.shape[-1] - 1}, not {specified_dim}")
    return codes[..., :-specified_dim], codes[..., -specified_dim:]


def join_code(z: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(z (..., Dz), s (..., Ds)) → codes (..., Dz + Ds)."""
    return np.concatenate([z, s], axis=-1)


def swap_codes(row_codes: np.ndarray, col_codes: np.ndarray, specified_dim: int) -> np.ndarray:
    """Codes (R, C, D): cell (r, c) joins z of row_codes[r] (R, D) with s of col_codes[c] (C, D)."""
    z = split_code(row_codes, specified_dim)[0]
    s = split_code(col_codes, specified_dim)[1]
    return join_code(np.repeat(z[:, None], len(s), 1), np.repeat(s[None], len(z), 0))


def part_interpolation_codes(a: np.ndarray, b: np.ndarray, specified_dim: int, steps: int) -> np.ndarray:
    """Codes (steps, steps, D) between a and b (D,): row i lerps z from a to b, column j lerps s.

    Cell (0, 0) is a and cell (steps−1, steps−1) is b; the first row keeps a's z, the first column a's s."""
    t = np.linspace(0.0, 1.0, steps)
    (za, sa), (zb, sb) = split_code(a, specified_dim), split_code(b, specified_dim)
    z, s = lerp(za, zb, t), lerp(sa, sb, t)  # (steps, Dz), (steps, Ds)
    return join_code(np.repeat(z[:, None], steps, 1), np.repeat(s[None], steps, 0))
