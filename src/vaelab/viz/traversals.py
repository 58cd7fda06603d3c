"""Latent traversals as pictures: a labelled PNG grid (one row per dimension, one column per step) and an
animated GIF in which every dimension moves at once. Images come in as (K, S, C, H, W) in [0, 1]:
K traversed dimensions, S steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vaelab.data.images import image_grid
from vaelab.io.atomic import atomic_path
from vaelab.viz.figures import pyplot, save_figure

PAD = 2


def traversal_grid(images: np.ndarray, pad: int = PAD, scale: int = 1) -> Image.Image:
    """The bare grid: K rows (dimensions) × S columns (steps), ``pad`` pixels of white between tiles."""
    k, s = images.shape[:2]
    return image_grid(images.reshape(k * s, *images.shape[2:]), nrow=s, pad=pad, scale=scale)


def plot_traversals(
    images: np.ndarray,
    row_labels: list[str],
    offsets: np.ndarray,
    path: str | Path,
    title: str,
    px_per_pixel: int = 2,
    source: np.ndarray | None = None,
) -> Path:
    """The grid with a label per row (the dimension) and per column (the offset in σ), as a PNG. With ``source``
    (C, H, W) in [0, 1], the image whose code is traversed comes first, in a column of its own at the top."""
    plt = pyplot()
    column_labels = [_offset_text(o) for o in offsets]
    if source is not None:
        first = np.ones((len(images), 1, *images.shape[2:]), images.dtype)  # white below the input
        first[0, 0] = source
        images, column_labels = np.concatenate([first, images], axis=1), ["input", *column_labels]
    k, s, _, h, w = images.shape
    grid = np.asarray(traversal_grid(images).convert("RGB"))
    dpi = 100
    left, top, bottom = 1.35, 0.75, 0.45  # inches of margin for the labels
    fig_w = grid.shape[1] * px_per_pixel / dpi + left + 0.2
    fig_h = grid.shape[0] * px_per_pixel / dpi + top + bottom
    fig = plt.figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes((left / fig_w, bottom / fig_h, 1 - (left + 0.2) / fig_w, 1 - (top + bottom) / fig_h))
    ax.imshow(grid, interpolation="nearest")
    ax.set_yticks([PAD + r * (h + PAD) + h / 2 for r in range(k)], row_labels, fontsize=8)
    ax.set_xticks(
        [PAD + c * (w + PAD) + w / 2 for c in range(s)],
        column_labels,
        fontsize=8,
        rotation=90 if (w + PAD) * px_per_pixel < 44 else 0,
    )
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.suptitle(title, fontsize=11, y=1 - 0.12 / fig_h, va="top")
    return save_figure(fig, path, dpi=dpi)


def _offset_text(o: float) -> str:
    return "0" if abs(o) < 1e-9 else f"{o:+.1f}σ"


def _caption_font(size: int = 13):
    """matplotlib's bundled DejaVu Sans (it has σ, which Pillow's default font lacks)."""
    from matplotlib import font_manager

    try:
        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except OSError:
        return ImageFont.load_default(size=size)


def traversal_frames(images: np.ndarray, offsets: np.ndarray, scale: int = 2, ncols: int = 8) -> list[Image.Image]:
    """One frame per step: every traversed dimension's image at that step, in a grid, under a caption.

    Grey images give "L" frames, which the GIF stores without quantising and compresses better.
    """
    k, s = images.shape[:2]
    ncols = min(ncols, k)
    font = _caption_font()
    mode = "L" if images.shape[2] == 1 else "RGB"
    frames = []
    for j in range(s):
        tiles = image_grid(images[:, j], nrow=ncols, pad=PAD, scale=scale).convert(mode)
        frame = Image.new(mode, (tiles.width, tiles.height + 22), "white")
        frame.paste(tiles, (0, 22))
        ImageDraw.Draw(frame).text(
            (4, 3), f"every dimension at {_offset_text(offsets[j])} (rows: by KL)", fill="black", font=font
        )
        frames.append(frame)
    return frames


def _posterize(frame: Image.Image) -> Image.Image:
    # Decodings are smooth; 32 grey levels look the same at this size, and with the frames' unchanged
    # regions left out (which plain GIF frames allow), the file is about 6× smaller (0.45 MB against 2.6 MB
    # for the shipped model), which matters inside the report.
    if frame.mode == "L":
        return frame.point(lambda v: v // 8 * 8 + 4 if v < 248 else 255)
    return frame.quantize(colors=64, method=Image.Quantize.MEDIANCUT)


def write_traversal_gif(
    images: np.ndarray, offsets: np.ndarray, path: str | Path, fps: float = 12, scale: int = 2
) -> Path:
    """Animated GIF sweeping every dimension from -span to +span and back, written under a temp name."""
    path = Path(path)
    frames = traversal_frames(images, offsets, scale)
    seq = [_posterize(f) for f in frames + frames[-2:0:-1]]  # forward, then back without repeating the ends
    with atomic_path(path) as tmp:
        seq[0].save(tmp, format="GIF", save_all=True, append_images=seq[1:], duration=round(1000 / fps), loop=0)
    return path
