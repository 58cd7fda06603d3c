"""Figures for latent algebra: the arithmetic equation (the vector-arithmetic blog post's figure), attribute strips,
and the blend / k-means / eigen-image panels."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vaelab.data.images import image_grid, to_pil
from vaelab.viz.figures import short_label


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _show(ax, img: np.ndarray, title: str = "", fontsize: int = 9) -> None:
    """Show a (C, H, W) image in [0,1] or uint8 on an axis without ticks."""
    arr = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else np.clip(img, 0, 1)
    ax.imshow(
        arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=1, interpolation="nearest"
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def _mosaic(images: np.ndarray, n: int = 9) -> np.ndarray:
    """Up to n images (uint8) as a square mosaic (C, H', W'), for a term's 'sample of its images'."""
    pick = images[np.linspace(0, len(images) - 1, min(n, len(images))).astype(int)]
    side = int(np.ceil(np.sqrt(len(pick))))
    grid = np.asarray(image_grid(pick, nrow=side, pad=1))
    return grid[None] if grid.ndim == 2 else grid.transpose(2, 0, 1)


def _save(fig, path: Path) -> None:
    import io

    from vaelab.data.images import save_png_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    buf.seek(0)
    save_png_atomic(Image.open(buf), path)


def arithmetic_figure(result, path: Path) -> None:
    """One column per term (a sample of its images above, its decoded mean vector below), then the result."""
    plt = _plt()
    n = len(result.terms)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.1 * (n + 1), 4.6), squeeze=False)
    lines = 1
    for j, ((weight, concept), decoded) in enumerate(zip(result.terms, result.concept_images)):
        # wrapped to the column's width (about 22 characters at this size), after commas where it can
        label = "\n".join(textwrap.wrap(term_title(weight, concept, j, 59).replace(",", ", "), 22)).replace(", ", ",")
        n_img = len(concept.images)
        lines = max(lines, label.count("\n") + 2)
        if n_img:
            _show(axes[0, j], _mosaic(concept.images), f"{label}\n({n_img} image{'s' * (n_img != 1)})", 8)
        else:  # a saved vector has no images of its own
            axes[0, j].axis("off")
            axes[0, j].set_title(f"{label}\n(a saved vector)", fontsize=8)
        _show(axes[1, j], decoded, "decoded mean" if n_img else "decoded vector", 8)
    _show(axes[1, n], result.image, "= result", 10)
    axes[0, n].axis("off")
    landing = getattr(result, "landing", None)
    note = "\n".join(textwrap.wrap(landing.describe(), 22)) if landing is not None else ""
    axes[0, n].text(
        0.5, 0.5, f"|z| = {np.linalg.norm(result.vector):.2f}\n{note}".strip(), ha="center", va="center", fontsize=8
    )
    fig.suptitle(
        "latent arithmetic: each term is the mean code of its images", fontsize=10, y=0.95 + 0.03 * lines
    )  # above the tallest column title
    _save(fig, path)


def term_title(weight: float, concept, position: int, width: int) -> str:
    """A term as the figures title it: its sign (none on the first), its weight unless 1, and its concept's
    name cut to ``width`` characters."""
    sign = "−" if weight < 0 else ("+" if position else "")
    coef = "" if abs(abs(weight) - 1) < 1e-9 else f"{abs(weight):g}·"
    return f"{sign} {coef}{short_label(concept.name, width)}".strip()


def vector_histograms(result, path: Path, bins: int = 20) -> np.ndarray:
    """The vector-arithmetic blog post's "histogram of each latent vector": the D values of each term's mean code and
    of the result,
    over one shared range, with the N(0, 1) density a prior sample's values would follow. Returns the counts
    (terms + 1, bins)."""
    plt = _plt()
    vectors = [c.vector for _, c in result.terms] + [result.vector]
    titles = [term_title(w, c, j, 22) for j, (w, c) in enumerate(result.terms)] + ["= result"]
    lim = max(3.0, float(np.abs(np.concatenate(vectors)).max()))
    edges = np.linspace(-lim, lim, bins + 1)
    counts = np.stack([np.histogram(v, edges)[0] for v in vectors])
    n = len(vectors)
    fig, axes = plt.subplots(1, n, figsize=(2.3 * n, 2.4), squeeze=False, sharey=True)
    grid = np.linspace(-lim, lim, 200)
    for ax, c, title in zip(axes[0], counts, titles):
        ax.stairs(c / (c.sum() * np.diff(edges)), edges, fill=True, alpha=0.6)
        ax.plot(grid, np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi), "k--", lw=0.8)
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("density", fontsize=8)
    fig.suptitle(f"the {len(vectors[0])} values of each mean code (dashed: N(0, 1))", fontsize=9, y=1.04)
    _save(fig, path)
    return counts


def strip_image(
    images: np.ndarray, strengths, scale: int = 2, original: np.ndarray | None = None, title: str | None = None
) -> Image.Image:
    """A row of edited images with their strengths written under each; with ``original`` (C, H, W) the input
    first, set apart and captioned "input", and with ``title`` a line above."""
    h, w = images.shape[-2] * scale, images.shape[-1] * scale
    lead = w + 12 if original is not None else 0  # the input's tile and a wider gap after it
    top = 16 if title else 0
    strip = Image.new("RGB", (lead + len(images) * (w + 4) + 4, top + h + 22), "white")
    draw = ImageDraw.Draw(strip)
    if title:
        draw.text((4, 3), title, fill="black")
    tiles = [(0, original, "input")] if original is not None else []
    tiles += [(lead + i * (w + 4), img, f"{s:+.2g}") for i, (img, s) in enumerate(zip(images, strengths))]
    for x, img, caption in tiles:
        strip.paste(to_pil(img).convert("RGB").resize((w, h), Image.Resampling.NEAREST), (4 + x, top + 4))
        draw.text((4 + x + w // 2 - 3 * len(caption), top + h + 6), caption, fill="black")
    return strip


def blend_figure(result, path: Path) -> None:
    """The decoded class centroids with their weights, then the three blends side by side."""
    plt = _plt()
    K = len(result.class_names)
    cols = max(K, 3)
    fig, axes = plt.subplots(2, cols, figsize=(1.7 * cols, 4.2), squeeze=False)
    for j in range(cols):
        if j < K:
            _show(
                axes[0, j],
                result.class_images[j],
                f"{short_label(result.class_names[j])}\nw={result.weights[j]:.2f}",
                8,
            )
        else:
            axes[0, j].axis("off")
    for j, (img, title) in enumerate(
        [
            (result.euclidean, "Euclidean centroid"),
            (result.spherical, "spherical mean"),
            (result.pixel_pca, "pixel-PCA blend\n(no VAE)"),
        ]
    ):
        _show(axes[1, j], img, title, 9)
    for j in range(3, cols):
        axes[1, j].axis("off")
    fig.suptitle(f"blend of {K} classes", fontsize=10)
    _save(fig, path)


def confusion_figure(confusion: np.ndarray, class_names: list[str], path: Path) -> None:
    """Heat map of cluster × class counts."""
    plt = _plt()
    k, n = confusion.shape
    fig, ax = plt.subplots(figsize=(0.6 * n + 2.5, 0.45 * k + 1.8))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(n), [short_label(c, 24) for c in class_names], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), [f"cluster {i}" for i in range(k)], fontsize=8)
    for i in range(k):
        for j in range(n):
            if confusion[i, j]:
                ax.text(
                    j,
                    i,
                    str(confusion[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if confusion[i, j] > confusion.max() / 2 else "black",
                )
    ax.set_title("k-means clusters of the codes × classes", fontsize=10)
    _save(fig, path)


def tiles_figure(images: np.ndarray, titles: list[str], suptitle: str, path: Path, cols: int = 9) -> None:
    """Images (N, C, H, W) in rows of ``cols``, each under its title."""
    plt = _plt()
    cols = min(len(images), cols)
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, title in zip(axes.flat, images, titles):
        _show(ax, img, title, 8)
    fig.suptitle(suptitle, fontsize=10)
    _save(fig, path)


def eigen_figure(mean: np.ndarray, components: np.ndarray, explained: np.ndarray, path: Path) -> None:
    """The mean image and the principal components of the pixels (eigen-images)."""
    tiles_figure(
        np.concatenate([mean[None], components]),
        ["mean", *(f"PC{i} ({e:.0%})" for i, e in enumerate(explained[: len(components)], start=1))],
        "eigen-images: PCA on the pixels",
        path,
    )


def centres_figure(centres: np.ndarray, sizes: np.ndarray, path: Path) -> None:
    """The decoded k-means centres, numbered as the rows of the cluster tables, with each cluster's size."""
    tiles_figure(
        centres,
        [f"cluster {i} ({n})" for i, n in enumerate(sizes)],
        "k-means centres of the codes, decoded (images in each cluster)",
        path,
        cols=10,
    )
