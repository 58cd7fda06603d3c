"""Image grids of a model's work: reconstructions (inputs above, decodings below) and prior samples."""
from __future__ import annotations

import numpy as np
from PIL import Image

from vaelab.data.images import image_grid


def reconstruction_grid(inputs: np.ndarray, recons: np.ndarray, ncols: int, scale: int = 1,
                        gap: int = 8) -> Image.Image:
    """inputs, recons: (N, C, H, W) → blocks of ``ncols`` inputs over their decodings, ``gap`` px apart."""
    n = len(inputs)
    blocks = []
    for start in range(0, n, ncols):
        part = slice(start, min(start + ncols, n))
        a, b = _as_float(inputs[part]), _as_float(recons[part])
        fill = ncols - len(a)  # a short last block is padded with white tiles
        if fill:
            blank = np.ones((fill, *a.shape[1:]), np.float32)
            a, b = np.concatenate([a, blank]), np.concatenate([b, blank])
        blocks.append(image_grid(np.concatenate([a, b]), nrow=ncols, scale=scale))
    sheet = Image.new(blocks[0].mode, (blocks[0].width, sum(b.height for b in blocks) + gap * (len(blocks) - 1)),
                      255 if blocks[0].mode == "L" else (255, 255, 255))
    y = 0
    for block in blocks:
        sheet.paste(block, (0, y))
        y += block.height + gap
    return sheet


def sample_grid(samples: np.ndarray, ncols: int, scale: int = 1) -> Image.Image:
    """samples: (N, C, H, W) in [0, 1] → one grid image, ``ncols`` a row."""
    return image_grid(samples, nrow=ncols, scale=scale)


def _as_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
