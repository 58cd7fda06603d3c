"""Static pictures of a latent space (matplotlib PNGs): 2-D and 3-D scatters coloured by class, decoded
images on the projected plane, per-dimension histograms against N(0, 1), and the KL per dimension.

Inputs are arrays the caller computed: plot coordinates (N, k), integer labels (N,) or None, class names
or None. Without labels every point has one colour and there is no legend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaelab.latent.stats import ACTIVE_KL_NATS, LatentHistograms, standard_normal_pdf
from vaelab.viz.figures import class_colors, class_groups, pyplot, save_figure


def format_nats(v: float) -> str:
    """Two decimals, or three below 0.1, so that values either side of the 0.01 threshold read differently."""
    return f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.3f}"


def _legend(ax, groups, markerscale: float = 3.0) -> None:
    if any(name is not None for _, name, _ in groups):
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            markerscale=markerscale,
            frameon=False,
            title="class",
            fontsize=9,
            title_fontsize=10,
        )


def _point_size(n: int) -> float:
    return float(np.clip(3000 / max(n, 1), 2.0, 30.0))


def plot_scatter_2d(
    coords: np.ndarray,
    labels: np.ndarray | None,
    class_names: list[str] | None,
    axis_labels: list[str],
    path: str | Path,
    title: str,
) -> Path:
    """Scatter of coords (N, 2), one colour per class, legend of class names outside the axes."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 6.5), layout="constrained")
    groups = class_groups(len(coords), labels, class_names)
    for idx, name, color in groups:
        ax.scatter(
            coords[idx, 0],
            coords[idx, 1],
            s=_point_size(len(coords)),
            color=color,
            alpha=0.6,
            linewidths=0,
            label=name,
            rasterized=True,
        )
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.25)
    _legend(ax, groups)
    return save_figure(fig, path)


def plot_scatter_3d(
    coords: np.ndarray,
    labels: np.ndarray | None,
    class_names: list[str] | None,
    axis_labels: list[str],
    path: str | Path,
    title: str,
) -> Path:
    """3-D scatter of coords (N, 3), one colour per class, legend of class names."""
    plt = pyplot()
    fig = plt.figure(figsize=(9, 7.5), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    groups = class_groups(len(coords), labels, class_names)
    for idx, name, color in groups:
        ax.scatter(
            coords[idx, 0],
            coords[idx, 1],
            coords[idx, 2],
            s=_point_size(len(coords)),
            color=color,
            alpha=0.6,
            linewidths=0,
            label=name,
            depthshade=False,
        )
    for set_label, text in zip((ax.set_xlabel, ax.set_ylabel, ax.set_zlabel), axis_labels):
        set_label(text, fontsize=9)
    ax.view_init(elev=22, azim=-58)
    ax.set_title(title, fontsize=11)
    _legend(ax, groups)
    return save_figure(fig, path)


def plot_decoded_map(
    coords: np.ndarray,
    labels: np.ndarray | None,
    class_names: list[str] | None,
    axis_labels: list[str],
    grid: np.ndarray,
    images: np.ndarray,
    path: str | Path,
    title: str,
) -> Path:
    """The scatter of coords (N, 2) with the decoding of every lattice point laid over it.

    grid: (G, G, 2) plot coordinates, row 0 at the top; images: (G, G, C, H, W) in [0, 1], the decodings
    of those points.
    """
    plt = pyplot()
    g_rows, g_cols = grid.shape[:2]
    fig, ax = plt.subplots(figsize=(10, 8.5), layout="constrained")
    groups = class_groups(len(coords), labels, class_names)
    for idx, name, color in groups:
        ax.scatter(
            coords[idx, 0],
            coords[idx, 1],
            s=_point_size(len(coords)) * 2,
            color=color,
            alpha=0.7,
            linewidths=0,
            label=name,
            rasterized=True,
            zorder=1,
        )
    xs, ys = grid[0, :, 0], grid[:, 0, 1]
    dx = (xs[-1] - xs[0]) / max(g_cols - 1, 1) or 1.0
    dy = (ys[0] - ys[-1]) / max(g_rows - 1, 1) or 1.0
    half_w, half_h = 0.36 * dx, 0.36 * dy  # a gap between tiles lets the scatter show through
    for r in range(g_rows):
        for c in range(g_cols):
            img = images[r, c]
            arr = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
            x, y = grid[r, c]
            ax.imshow(
                np.clip(arr, 0, 1),
                cmap="gray" if img.shape[0] == 1 else None,
                vmin=0,
                vmax=1,
                extent=(x - half_w, x + half_w, y - half_h, y + half_h),
                interpolation="nearest",
                zorder=2,
            )
    ax.set_xlim(xs[0] - dx / 2, xs[-1] + dx / 2)
    ax.set_ylim(ys[-1] - dy / 2, ys[0] + dy / 2)
    ax.set_aspect("auto")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title, fontsize=11)
    _legend(ax, groups)
    return save_figure(fig, path)


def plot_histograms(
    hist: LatentHistograms,
    dims: np.ndarray,
    path: str | Path,
    kl: np.ndarray | None = None,
    title: str = "",
    ncols: int = 8,
    prior: bool = True,
) -> Path:
    """One small histogram (density) per dimension in ``dims`` order, each against the N(0, 1) density (a VAE's
    prior; ``prior=False`` for a model without one for its whole code: a plain AE, the cycle-VAE's s)."""
    plt = pyplot()
    dims = list(dims)
    ncols = min(ncols, len(dims))
    nrows = -(-len(dims) // ncols)
    # A fixed grid, not constrained layout: with 32 axes the layout solver costs more than the drawing.
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(2.0 * ncols + 0.6, 1.6 * nrows + 1.1),
        sharex=True,
        squeeze=False,
        gridspec_kw=dict(
            left=0.03,
            right=0.99,
            bottom=0.75 / (1.6 * nrows + 1.1),
            top=1 - 0.55 / (1.6 * nrows + 1.1),
            hspace=0.45,
            wspace=0.12,
        ),
    )
    x = np.linspace(hist.edges[0], hist.edges[-1], 200)
    density_n01 = standard_normal_pdf(x)
    for ax, d in zip(axes.flat, dims):
        counts = hist.overall[d]
        density = counts / max(counts.sum(), 1) / hist.widths
        ax.stairs(density, hist.edges, fill=True, color="#3b6ea8", alpha=0.8)
        if prior:
            ax.plot(x, density_n01, color="#d1495b", lw=1.2, ls="--")
        ax.set_title(f"z{d}" + (f" · KL {format_nats(kl[d])}" if kl is not None else ""), fontsize=9, pad=3)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax in list(axes.flat)[len(dims) :]:
        ax.set_visible(False)
    if prior:
        fig.supxlabel("latent mean value (bars: the data; dashed: the N(0, 1) prior)", fontsize=10)
        fig.suptitle(title or "Latent means per dimension, against the N(0, 1) prior", fontsize=12)
    else:
        fig.supxlabel("code value (no N(0, 1) prior to compare with)", fontsize=10)
        fig.suptitle(title or "Codes per dimension", fontsize=12)
    return save_figure(fig, path, dpi=100)


def plot_class_histograms(
    hist: LatentHistograms, dims: np.ndarray, class_names: list[str], path: str | Path, title: str = ""
) -> Path:
    """Ridgelines: one column per dimension in ``dims``, one ridge per class, each against N(0, 1) (dashed)."""
    plt = pyplot()
    if hist.per_class is None:
        raise ValueError("these histograms have no per-class counts")
    dims = list(dims)
    k = hist.per_class.shape[0]
    colors = class_colors(k)
    fig, axes = plt.subplots(
        1, len(dims), figsize=(2.4 * len(dims) + 1.6, 0.45 * k + 1.6), sharey=True, squeeze=False, layout="constrained"
    )
    x = np.linspace(hist.edges[0], hist.edges[-1], 200)
    prior = standard_normal_pdf(x)
    for ax, d in zip(axes[0], dims):
        counts = hist.per_class[:, d, :]
        density = counts / np.maximum(counts.sum(1, keepdims=True), 1) / hist.widths
        height = 1.4 / max(float(density.max()), float(prior.max()))  # the tallest ridge overlaps the next a little
        for row in range(k):
            base = k - 1 - row  # the first class on top
            ax.plot(x, base + prior * height, color="0.55", lw=0.7, ls="--", zorder=1)
            ax.stairs(
                base + density[row] * height,
                hist.edges,
                baseline=base,
                fill=True,
                color=colors[row],
                alpha=0.75,
                zorder=2,
            )
        ax.set_title(f"z{d}", fontsize=10)
        ax.tick_params(labelsize=8)
        ax.set_ylim(-0.2, k + 0.6)
    axes[0, 0].set_yticks(
        np.arange(k)[::-1], [class_names[i] if i < len(class_names) else str(i) for i in range(k)], fontsize=9
    )
    fig.supxlabel("latent mean value", fontsize=10)
    fig.suptitle(title or "Latent means per class, in the dimensions with the most KL (dashed: N(0, 1))", fontsize=12)
    return save_figure(fig, path, dpi=100)


def plot_kl_bars(kl: np.ndarray, path: str | Path, threshold: float = ACTIVE_KL_NATS) -> Path:
    """Bars of the KL per dimension (D,), largest first, on a log axis with the active-unit threshold."""
    plt = pyplot()
    kl = np.asarray(kl, np.float64)
    order = np.lexsort((np.arange(len(kl)), -kl))
    active = int((kl > threshold).sum())
    fig, ax = plt.subplots(figsize=(max(6.5, 0.26 * len(kl) + 2.5), 4.2), layout="constrained")
    floor = max(threshold / 100, 1e-6)  # a log axis cannot show 0
    shown = np.maximum(kl[order], floor)
    colors = ["#3b6ea8" if v > threshold else "#b8b8b8" for v in kl[order]]
    ax.bar(np.arange(len(kl)), shown, color=colors, width=0.8)
    ax.axhline(threshold, color="#d1495b", ls="--", lw=1, label=f"active threshold ({threshold:g} nats)")
    ax.set_yscale("log")
    ax.set_ylim(floor / 2, max(shown.max() * 2, threshold * 10))
    ax.set_xticks(np.arange(len(kl)), [f"z{d}" for d in order], rotation=90 if len(kl) > 12 else 0, fontsize=8)
    ax.set_xlabel("latent dimension (sorted by KL)")
    ax.set_ylabel("mean KL to N(0, 1) (nats)")
    ax.set_title(f"KL per latent dimension: {active} of {len(kl)} active, total {kl.sum():.2f} nats")
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(loc="upper right", frameon=False)
    return save_figure(fig, path)
