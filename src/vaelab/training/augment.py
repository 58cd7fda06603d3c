"""Training-time augmentation: random integer translations of an image batch, and mirror images.

The shifts are drawn by the caller (from the epoch's numpy Generator), so a resumed run draws the same ones.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def draw_shifts(rng: np.random.Generator, shape: tuple[int, ...], max_shift: int) -> np.ndarray:
    """Integer (dy, dx) pairs, uniform in [−max_shift, max_shift], as an array of ``shape`` + (2,)."""
    return rng.integers(-max_shift, max_shift + 1, size=(*shape, 2))


def shift_images(x: torch.Tensor, shifts: np.ndarray, fill: float | None = 0.0) -> torch.Tensor:
    """Images x (B, C, H, W), each moved down by dy and right by dx pixels for shifts (B, 2) = (dy, dx).

    Pixels that move in take ``fill`` (the data's background), or with ``fill=None`` repeat the image's edge;
    pixels that move out are lost."""
    k = int(np.abs(shifts).max(initial=0))
    if k == 0:
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x, (k, k, k, k), mode="replicate") if fill is None else F.pad(x, (k, k, k, k), value=fill)
    return torch.stack([padded[i, :, k - dy : k - dy + h, k - dx : k - dx + w] for i, (dy, dx) in enumerate(shifts)])


def flip_images(x: torch.Tensor, flips: np.ndarray) -> torch.Tensor:
    """Images x (B, C, H, W) with those where ``flips`` (B,) is True mirrored left to right."""
    if not flips.any():
        return x
    mask = torch.from_numpy(flips).to(x.device).view(-1, 1, 1, 1)
    return torch.where(mask, x.flip(-1), x)
