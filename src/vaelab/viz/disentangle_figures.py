"""Pictures of a split latent space: the cycle-consistent VAE's style-transfer grid and the s × z interpolation grid, as
labelled PNGs. Images come in as (C, H, W) arrays, uint8 or float in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaelab.data.images import image_grid
from vaelab.viz.figures import pyplot, save_figure

GAP = 6  # white pixels between the input images and the generated cells


def _as_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)


def swap_canvas(rows: np.ndarray, cols: np.ndarray, cells: np.ndarray, pad: int = 2) -> np.ndarray:
    """One RGB-or-grey image (H', W', C) in [0,1]: cols (K, C, H, W) along the top, rows (R, C, H, W) down the
    left, cells (R, K, C, H, W) in between, set off from the inputs by a wider white gap."""
    r, k = cells.shape[:2]
    c, h, w = cells.shape[2:]
    top = np.asarray(image_grid(_as_float(cols), nrow=k, pad=pad)) / 255.0
    left = np.asarray(image_grid(_as_float(rows), nrow=1, pad=pad)) / 255.0
    body = np.asarray(image_grid(_as_float(cells.reshape(r * k, c, h, w)), nrow=k, pad=pad)) / 255.0
    if c == 1:
        top, left, body = top[..., None], left[..., None], body[..., None]
    canvas = np.ones((top.shape[0] + GAP + body.shape[0], left.shape[1] + GAP + body.shape[1], top.shape[2]))
    canvas[: top.shape[0], left.shape[1] + GAP :] = top
    canvas[top.shape[0] + GAP :, : left.shape[1]] = left
    canvas[top.shape[0] + GAP :, left.shape[1] + GAP :] = body
    return canvas


def _show(ax, canvas: np.ndarray) -> None:
    ax.imshow(canvas[..., 0] if canvas.shape[-1] == 1 else canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _figure(canvas: np.ndarray, px: int):
    plt = pyplot()
    dpi = 100
    w, h = max(canvas.shape[1] * px / dpi, 3.2) + 0.6, canvas.shape[0] * px / dpi + 0.8
    fig = plt.figure(figsize=(w, h), dpi=dpi)
    ax = fig.add_axes((0.4 / w, 0.1 / h, 1 - 0.5 / w, 1 - 0.7 / h))
    return fig, ax


def swap_grid_figure(
    rows: np.ndarray, cols: np.ndarray, cells: np.ndarray, path: str | Path, title: str = "style transfer"
) -> Path:
    """The style-transfer grid as a PNG: cell (r, c) = Dec(z of the left image r, s of the top image c)."""
    canvas = swap_canvas(rows, cols, cells)
    px = max(1, 96 // cells.shape[-1])
    fig, ax = _figure(canvas, px)
    _show(ax, canvas)
    ax.set_title(f"{title}\neach column: s (specified) of the top image", fontsize=9)
    ax.set_ylabel("each row: z (unspecified) of the left image", fontsize=9)
    return save_figure(fig, path, dpi=100)


def interpolation_figure(
    cells: np.ndarray, path: str | Path, pair: np.ndarray | None = None, title: str = "s × z interpolation"
) -> Path:
    """The (S, S) grid between two images as a PNG: z lerps down the rows, s across the columns; the
    top-left and bottom-right cells are the two images' reconstructions. ``pair`` (2, C, H, W), the input
    images A and B, are drawn beside those corners."""
    s, (c, h, w) = cells.shape[0], cells.shape[2:]
    canvas = np.asarray(image_grid(_as_float(cells.reshape(s * s, c, h, w)), nrow=s)) / 255.0
    canvas = canvas[..., None] if canvas.ndim == 2 else canvas
    if pair is not None:  # A left of the top-left cell, B right of the bottom-right one
        a, b = (np.asarray(image_grid(_as_float(p[None]), nrow=1)) / 255.0 for p in pair)
        a, b = (x[..., None] if x.ndim == 2 else x for x in (a, b))
        strip = a.shape[1] + GAP
        wide = np.ones((canvas.shape[0], canvas.shape[1] + 2 * strip, canvas.shape[2]))
        wide[:, strip : strip + canvas.shape[1]] = canvas
        wide[: a.shape[0], : a.shape[1]] = a
        wide[-b.shape[0] :, -b.shape[1] :] = b
        canvas = wide
    fig, ax = _figure(canvas, max(1, 96 // w))
    _show(ax, canvas)
    ax.set_title(
        f"{title}\ns from image A to image B →" + ("  (A top left, B bottom right)" if pair is not None else ""),
        fontsize=9,
    )
    ax.set_ylabel("z from image A to image B →", fontsize=9)
    return save_figure(fig, path, dpi=100)


def probe_figure(probes: dict, path: str | Path, title: str = "leakage probes") -> Path:
    """Bars of train and test accuracy of each part's label probe, with the majority-class chance line."""
    plt = pyplot()
    parts = [k for k, v in probes.items() if isinstance(v, dict)]
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(parts), 3.2), dpi=100)
    x = np.arange(len(parts))
    for offset, key, label in ((-0.18, "train_accuracy", "train"), (0.18, "test_accuracy", "test")):
        values = [probes[p][key] for p in parts]
        bars = ax.bar(x + offset, values, width=0.34, label=label)
        ax.bar_label(bars, [f"{v:.0%}" for v in values], fontsize=8)
    ax.axhline(probes.get("chance", 0.0), color="grey", ls="--", lw=1, label="chance")
    ax.set_xticks(x, [f"label from {p}" for p in parts])
    ax.set_ylim(0, 1.3)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncol=3, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def predictor_figure(examples: dict, predictors: dict, path: str | Path, title: str = "z→s and s→z predictors") -> Path:
    """The cycle-consistent VAE re-implementation's original and regenerated batches as one picture: the input images,
    their reconstructions
    Dec(z, s), and the decodings with a predicted part in place of the true one, each row with its MSE.
    ``examples`` holds the n inputs ('input', uint8) and ``cross_predictors(..., examples=n)['examples']``'s
    decodings (``DisentangleResult.predictor_images``)."""
    originals = examples["input"]
    rows = [
        ("input", originals, None),
        ("Dec(z, s)", examples["reconstruction"], "reconstruction_mse"),
        ("Dec(z, ŝ), ŝ from z", examples["z_to_s"], "z_to_s"),
        ("Dec(ẑ, s), ẑ from s", examples["s_to_z"], "s_to_z"),
    ]
    strips = []
    for _, images, _ in rows:
        strip = np.asarray(image_grid(_as_float(images), nrow=len(images))) / 255.0
        strips.append(strip[..., None] if strip.ndim == 2 else strip)
    px = max(1, 96 // originals.shape[-1])
    plt = pyplot()
    h, w = strips[0].shape[:2]
    fig_w = w * px / 100 + 2.2
    fig, axes = plt.subplots(len(rows), 1, figsize=(fig_w, len(rows) * (h * px / 100 + 0.3) + 0.4), dpi=100)
    for ax, strip, (label, _, key) in zip(axes, strips, rows):
        _show(ax, strip)
        if key is not None:
            mse = predictors.get(key) if key == "reconstruction_mse" else predictors[key].get("regeneration_mse")
            label += f"\nMSE {mse:.5f}"
        ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(f"{title}\n(each MSE is over all {predictors['n_test']} test codes)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
