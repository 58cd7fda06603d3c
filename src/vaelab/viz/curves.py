"""Training curves for the report, drawn from a run's metrics.jsonl records."""
from __future__ import annotations

from pathlib import Path

from vaelab.viz.figures import pyplot, save_figure


def plot_training_curves(records: list[dict], path: str | Path) -> Path:
    """Three panels against the training step: the train objective with the test −ELBO, then the test
    reconstruction term and the test KL per epoch (records: metrics.jsonl's 'step' and 'epoch' lines)."""
    plt = pyplot()
    steps = [r for r in records if r.get("kind") == "step"]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
    ax = axes[0]
    if steps:
        ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=1, alpha=0.7, label="train objective")
    if epochs:
        ax.plot([r["step"] for r in epochs], [r["test_neg_elbo"] for r in epochs], "o-", ms=3, label="test −ELBO")
    values = [r["loss"] for r in steps[len(steps) // 10:]] + [r["test_neg_elbo"] for r in epochs]
    if values:  # the first steps lie far above the rest; keep the interesting range readable
        lo, hi = min(values), max(values)
        ax.set_ylim(lo - 0.05 * (hi - lo + 1), hi + 0.1 * (hi - lo + 1))
    ax.set_title("loss (nats / image)")
    ax.legend(frameon=False)
    for ax, key, name in ((axes[1], "test_recon", "test reconstruction −log p(x|z)"), (axes[2], "test_kl", "test KL(q(z|x) ‖ p(z))")):
        pts = [(r["step"], r[key]) for r in epochs if key in r]
        if pts:
            ax.plot(*zip(*pts), "o-", ms=3, color="#d1495b" if key == "test_kl" else "#3b6ea8")
        ax.set_title(f"{name} (nats)")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    return save_figure(fig, path)
