"""Matplotlib plumbing shared by the figures: the Agg backend, class colours, atomic PNG saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaelab.io.atomic import atomic_path

UNLABELLED_COLOR = "#3b6ea8"


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def short_label(text: str, width: int = 20) -> str:
    """``text`` cut to ``width`` characters in the middle, keeping both ends: Omniglot's
    "Alphabet_of_the_Magi/character01" and ".../character02" stay told apart."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return f"{text[:head]}…{text[head + 1 - width :]}"


def class_colors(n: int) -> list:
    """n distinguishable RGBA colours: tab10 up to 10 classes, tab20 up to 20, then a sampled rainbow."""
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    return [matplotlib.colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, n)]


def save_figure(fig, path: str | Path, dpi: int | str = 110) -> Path:
    """Save a matplotlib figure as PNG under a temp name, rename it into place, and close it."""
    plt = pyplot()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return Path(path)


def class_groups(n: int, labels: np.ndarray | None, class_names: list[str] | None):
    """(indices, name, colour) per class present in labels (n,); one unnamed group when there are no labels."""
    if labels is None:
        return [(np.arange(n), None, UNLABELLED_COLOR)]
    names = class_names or [str(i) for i in range(int(labels.max()) + 1)]
    colors = class_colors(len(names))
    return [(np.flatnonzero(labels == k), names[k], colors[k]) for k in range(len(names)) if (labels == k).any()]
