"""Image grids of a model's work: reconstructions (inputs above, decodings below) and prior samples."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vaelab.data.images import image_grid


def reconstruction_grid(
    inputs: np.ndarray, recons: np.ndarray, ncols: int, scale: int = 1, gap: int = 8
) -> Image.Image:
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
    sheet = Image.new(
        blocks[0].mode,
        (blocks[0].width, sum(b.height for b in blocks) + gap * (len(blocks) - 1)),
        255 if blocks[0].mode == "L" else (255, 255, 255),
    )
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


def side_by_side_figure(originals: np.ndarray, rows: list[tuple[str, np.ndarray, np.ndarray]], title: str):
    """A matplotlib figure comparing models by eye: the ``originals`` (N, C, H, W) on top, then per model a row
    of (label, its reconstructions of them, its decoded prior samples), all as image strips."""
    from vaelab.viz.figures import pyplot

    plt = pyplot()
    n, n_samples = len(originals), len(rows[0][2]) if rows else 0
    fig, axes = plt.subplots(
        1 + len(rows),
        2,
        squeeze=False,
        gridspec_kw={"width_ratios": [n, max(n_samples, 1)]},
        figsize=(1.6 + 0.62 * (n + n_samples), 0.75 * (1 + len(rows)) + 0.6),
    )
    strips = [("test images", originals, None)] + list(rows)
    for (label, recon, samples), (left, right) in zip(strips, axes):
        for ax, images in ((left, recon), (right, samples)):
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if images is not None and len(images):
                grid = np.asarray(image_grid(_as_float(images), nrow=len(images)))
                ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255)
        left.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    axes[0, 0].set_title("reconstructions of the test images", fontsize=9)
    axes[0, 1].set_title("decoded prior samples, z ~ N(0, I)", fontsize=9)
    axes[0, 1].axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
