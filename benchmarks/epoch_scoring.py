"""Scoring after each epoch: the test −ELBO and PSNR that `vaelab train` prints after every epoch, in batches of
128 (today) against the whole test set in one batch (before; 1000 and 500 at most), on the shipped models.

Run: .venv/bin/python benchmarks/epoch_scoring.py [--reps 7]

Medians of --reps calls in this one process, torch on the CPU. The −ELBO is the same either way (the σ-VAE's σ is
the optimum over every test image, whatever the batch), which the script checks before it times anything.
"""

from __future__ import annotations

import argparse

from timing import median_seconds
from vaelab.data.loaders import load_dataset
from vaelab.models.runtime import open_model
from vaelab.training.evaluation import evaluate_elbo, evaluate_psnr

BEFORE = {"elbo": 1000, "psnr": 500}  # the batch sizes until 2026-12-08


def score(model, test, elbo_batch: int, psnr_batch: int) -> None:
    evaluate_elbo(model, test, batch_size=elbo_batch)
    evaluate_psnr(model, test, batch_size=psnr_batch)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--models", default="emoji,fashion-mnist")
    p.add_argument("--test-images", type=int, default=2000, help="at most this many (Fashion-MNIST has 10,000)")
    args = p.parse_args()
    print("| model | test images | before (one batch) | batches of 128 | ratio | −ELBO before / now |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        model = open_model(name, "torch").module
        ds = load_dataset(name)
        test = ds.images[ds.split("test")][: args.test_images]
        before_elbo = evaluate_elbo(model, test, batch_size=len(test))["neg_elbo"]
        now_elbo = evaluate_elbo(model, test)["neg_elbo"]
        score(model, test, len(test), BEFORE["psnr"])  # warm-up
        one = min(len(test), BEFORE["elbo"])
        before = median_seconds(lambda m=model, t=test, b=one: score(m, t, b, BEFORE["psnr"]), args.reps)
        now = median_seconds(lambda m=model, t=test: score(m, t, 128, 128), args.reps)
        print(
            f"| {name} | {len(test)} | {before:.3f} s | {now:.3f} s | {now / before:.2f} | "
            f"{before_elbo:.2f} / {now_elbo:.2f} |"
        )


if __name__ == "__main__":
    main()
