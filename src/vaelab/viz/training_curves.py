"""Training curves drawn from a run's metrics.jsonl records: the loss-curve PNG a run writes as it trains,
the cycle-VAE's panels, and the report's three panels."""

from __future__ import annotations

from pathlib import Path

from vaelab.viz.figures import pyplot, save_figure


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


def plot_loss_curve(records: list[dict], path: Path, variational: bool = True) -> None:
    """:func:`loss_curve_figure` saved as a PNG."""
    save_figure(loss_curve_figure(records, variational), path, dpi="figure")  # at the figure's own dpi


def loss_curve_figure(records: list[dict], variational: bool = True):
    """Train objective (every logged step), test −ELBO (an AE: test reconstruction NLL) and, when the run
    validates, validation −ELBO (every epoch) against the step, with the best validated epoch marked. A run too
    short to log a step record twice draws each epoch's mean train objective instead."""
    plt = pyplot()
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
    validated = plot_validation(
        ax,
        epochs,
        "val_neg_elbo",
        "val_neg_elbo",
        "s-",
        "validation −ELBO" if variational else "validation reconstruction NLL",
    )
    ax.set_xlabel("step")
    ax.set_ylabel("nats / image")
    values = (
        [y for _, y in train[len(train) // 10 :]]
        + [r["test_neg_elbo"] for r in epochs]
        + [r["val_neg_elbo"] for r in validated]
    )
    if values:  # the first steps are far above the rest; keep the interesting range readable
        lo, hi = min(values), max(values)
        ax.set_ylim(lo - 0.05 * (hi - lo + 1), hi + 0.1 * (hi - lo + 1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


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
    values = [r["loss"] for r in steps[len(steps) // 10 :]] + [r["test_neg_elbo"] for r in epochs]
    if values:  # the first steps lie far above the rest; keep the interesting range readable
        lo, hi = min(values), max(values)
        ax.set_ylim(lo - 0.05 * (hi - lo + 1), hi + 0.1 * (hi - lo + 1))
    ax.set_title("loss (nats / image)")
    ax.legend(frameon=False)
    for ax, key, name in (
        (axes[1], "test_recon", "test reconstruction −log p(x|z)"),
        (axes[2], "test_kl", "test KL(q(z|x) ‖ p(z))"),
    ):
        pts = [(r["step"], r[key]) for r in epochs if key in r]
        if pts:
            ax.plot(*zip(*pts), "o-", ms=3, color="#d1495b" if key == "test_kl" else "#3b6ea8")
        ax.set_title(f"{name} (nats)")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_cycle_curves(records: list[dict], path: Path, pixels: int) -> dict:
    """Forward MSE, KL and reverse L1 against the step, and the per-epoch test figures, as one PNG. KL(z) is shown
    in nats per image, as the console prints it: a step record's 'kl' is the loss term, the KL summed over a
    pair of batches and divided by one batch's pixels (B·C·H·W), so nats per image are kl · C·H·W / 2. Returns the
    train lines as plotted."""
    plt = pyplot()
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), dpi=100)
    per_image = {"mse": 1.0, "kl": pixels / 2, "reverse_l1": 1.0}
    for ax, key, title in zip(
        axes, ("mse", "kl", "reverse_l1"), ("swap reconstruction MSE", "KL(z), nats per image", "reverse-cycle L1")
    ):
        ax.plot(
            [r["step"] for r in steps],
            [r[key] * per_image[key] for r in steps],
            **train_line_style(len(steps)),
            label="train",
        )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if epochs:
        axes[0].plot([r["step"] for r in epochs], [r["test_swap_mse"] for r in epochs], "o-", label="test swap")
        axes[0].plot([r["step"] for r in epochs], [r["test_recon_mse"] for r in epochs], "s-", label="test recon")
        plot_validation(axes[0], epochs, "val_swap_mse", "val_score", "^-", "validation swap")
        axes[1].plot([r["step"] for r in epochs], [r["test_kl"] for r in epochs], "o-", label="test")
        axes[1].legend(fontsize=8)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi="figure")
    return {key: [r[key] * per_image[key] for r in steps] for key in per_image}


def plot_classifier_curve(records: list[dict], path: Path) -> list[tuple]:
    """An evaluator's run as one PNG: the train cross-entropy (every logged step; a run too short to log a step
    twice, each epoch's mean) and the test accuracy after each epoch, against the step. Returns the train line's
    (step, loss) points."""
    plt = pyplot()
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=100)
    train = [(r["step"], r["loss"]) for r in steps]
    if len(train) < 2:
        train = [(r["step"], r["train_loss"]) for r in epochs]
    if train:
        loss_ax.plot(*zip(*train), **train_line_style(len(train)), label="train")
    if epochs:
        acc_ax.plot([r["step"] for r in epochs], [r["test_accuracy"] for r in epochs], "o-", label="test")
    for ax, title in ((loss_ax, "cross-entropy (nats)"), (acc_ax, "test accuracy")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi="figure")
    return train
