"""The loss-curve PNG drawn from metrics.jsonl records."""
from __future__ import annotations

import os
from pathlib import Path


def plot_validation(ax, epochs: list[dict], value: str, score: str, style: str, label: str) -> list[dict]:
    """Draw the epoch records' ``value`` where they were validated and mark the epoch with the lowest ``score``
    (the one the model folder keeps); returns the validated records."""
    validated = [r for r in epochs if score in r]
    if validated:
        ax.plot([r["step"] for r in validated], [r[value] for r in validated], style, ms=4, label=label)
        best = min(validated, key=lambda r: r[score])
        ax.axvline(best["step"], color="grey", ls=":", lw=1, label=f"best validated (epoch {best['epoch']})")
    return validated


def plot_loss_curve(records: list[dict], path: Path) -> None:
    """Train objective (every logged step), test −ELBO and, when the run validates, validation −ELBO (every
    epoch) against the step, with the best validated epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    if steps:
        ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=1, alpha=0.7, label="train objective")
    if epochs:
        ax.plot([r["step"] for r in epochs], [r["test_neg_elbo"] for r in epochs], "o-", label="test −ELBO")
    validated = plot_validation(ax, epochs, "val_neg_elbo", "val_neg_elbo", "s-", "validation −ELBO")
    ax.set_xlabel("step")
    ax.set_ylabel("nats / image")
    values = ([r["loss"] for r in steps[len(steps) // 10:]] + [r["test_neg_elbo"] for r in epochs]
              + [r["val_neg_elbo"] for r in validated])
    if values:  # the first steps are far above the rest; keep the interesting range readable
        lo, hi = min(values), max(values)
        ax.set_ylim(lo - 0.05 * (hi - lo + 1), hi + 0.1 * (hi - lo + 1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    os.replace(tmp, path)
