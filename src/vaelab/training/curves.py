"""The loss-curve PNG drawn from metrics.jsonl records."""
from __future__ import annotations

from pathlib import Path

from vaelab.atomic import atomic_path


def plot_validation(ax, epochs: list[dict], value: str, score: str, style: str, label: str) -> list[dict]:
    """Draw the epoch records' ``value`` where they were validated and mark the epoch with the lowest ``score``
    (the one the model folder keeps); returns the validated records."""
    validated = [r for r in epochs if score in r]
    if validated:
        ax.plot([r["step"] for r in validated], [r[value] for r in validated], style, ms=4, label=label)
        best = min(validated, key=lambda r: r[score])
        ax.axvline(best["step"], color="grey", ls=":", lw=1, label=f"best validated (epoch {best['epoch']})")
    return validated


FEW_POINTS = 30  # a line of fewer logged points gets a marker on each, so that a short run's curve shows


def train_line_style(n_points: int) -> dict:
    """Matplotlib style of a logged training series: a thin line, with dots when there are few points."""
    return {"lw": 1, "alpha": 0.7, **({"marker": ".", "ms": 5} if n_points < FEW_POINTS else {})}


def save_curve(fig, path: Path) -> None:
    """Save a training figure as PNG under a temp name, rename it into place, and close it."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


def plot_loss_curve(records: list[dict], path: Path, variational: bool = True) -> None:
    """:func:`loss_curve_figure` saved as a PNG."""
    save_curve(loss_curve_figure(records, variational), path)


def loss_curve_figure(records: list[dict], variational: bool = True):
    """Train objective (every logged step), test −ELBO (an AE: test reconstruction NLL) and, when the run
    validates, validation −ELBO (every epoch) against the step, with the best validated epoch marked. A run too
    short to log a step record twice draws each epoch's mean train objective instead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    test = "test −ELBO" if variational else "test reconstruction NLL"
    train = [(r["step"], r["loss"]) for r in steps]
    if len(train) < 2:  # too short a run for the step windows: each epoch's mean
        train = [(r["step"], r["train_loss"]) for r in epochs if "train_loss" in r]
    if train:
        ax.plot(*zip(*train), **train_line_style(len(train)), label="train objective")
    if epochs:
        ax.plot([r["step"] for r in epochs], [r["test_neg_elbo"] for r in epochs], "o-", label=test)
    validated = plot_validation(ax, epochs, "val_neg_elbo", "val_neg_elbo", "s-",
                                "validation −ELBO" if variational else "validation reconstruction NLL")
    ax.set_xlabel("step")
    ax.set_ylabel("nats / image")
    values = ([y for _, y in train[len(train) // 10:]] + [r["test_neg_elbo"] for r in epochs]
              + [r["val_neg_elbo"] for r in validated])
    if values:  # the first steps are far above the rest; keep the interesting range readable
        lo, hi = min(values), max(values)
        ax.set_ylim(lo - 0.05 * (hi - lo + 1), hi + 0.1 * (hi - lo + 1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
