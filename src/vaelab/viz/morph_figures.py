"""The morph-quality figure: each compared path's step deviation and frame KID (vaelab evaluate's table), as bars."""

from __future__ import annotations

from pathlib import Path


def morph_quality_figure(interpolation: dict, path: str | Path, rows: tuple[str, ...]) -> Path | None:
    """Two bar charts from eval.json's "interpolation" entry, one bar per path in ``rows`` that it measured: the
    deviation of the steps (0 = even), in the evaluator's features and in pixels, and the KID of the frames against
    the test images (0 = alike).
    None when it holds no morph-quality figures (an evaluation without an evaluator)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if "path_length" in interpolation.get(r, {})]
    if not shown:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    colours = ["#9aa5b8" if "crossfade" in r else "#2456c7" for r in shown]
    for ax, keys, title in (
        (axes[0], ("step_deviation", "pixel_step_deviation"), "deviation of the steps (0 = even)"),
        (axes[1], ("frame_kid",), "KID of the frames against the test images (0 = alike)"),
    ):
        keys = [k for k in keys if all(k in interpolation[r] for r in shown)]  # older eval.json: features only
        width = 0.8 / len(keys)
        for i, key in enumerate(keys):
            values = [interpolation[r][key] for r in shown]
            xs = [x + (i - (len(keys) - 1) / 2) * width for x in range(len(shown))]
            pixels = key.startswith("pixel")
            ax.bar(xs, values, width, color=colours, alpha=0.45 if pixels else 1.0, hatch="//" if pixels else None)
            for x, v in zip(xs, values):
                ax.text(x, v, f"{v:.2g}" if abs(v) >= 1e-4 else "0", ha="center", va="bottom", fontsize=6)
        ax.set_xticks(range(len(shown)), shown, rotation=30, ha="right", fontsize=8)
        ax.set_title(title + ("\nsolid: in the evaluator's features; hatched: in pixels" if len(keys) > 1 else ""),
                     fontsize=9)  # fmt: skip
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
