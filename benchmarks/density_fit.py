"""The density fit's cost and what a cap on its codes gives up, on the shipped Fashion-MNIST VAE (60,000 training
images, 32 dimensions): `fit_density` with every code and with seeded random subsamples of at most N.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/density_fit.py [--caps 0,20000,10000,5000,2000] [--samples 1000]

For each cap (0: every code) it prints the wall time of the whole fit (encoding the codes and fitting the
mixtures of 1, 10, 25 and 50 components), the count chosen, and two measures of the fitted density that no fit
saw: the mean log-likelihood of the 10,000 test images' codes (nats per code, higher is better), and the KID of
decoded density samples against the test images in the shipped evaluator's features (0 = alike), as
`vaelab evaluate` measures it; the prior's KID is printed once for scale. The ratios are against every code.

With `--counts 25,50,100,150` it compares component counts instead: each mixture fitted to the same seeded
20,000 codes (`--model emoji` for the shipped emoji VAE), with the test codes' log-likelihood, the KID of its
samples, and their novelty (each sample's distance to its nearest training code ÷ the same for test codes, as
`vaelab evaluate` gives it: near 1 is as new as unseen data, far below 1 copies the training set).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.special import logsumexp

from vaelab.data.loaders import load_dataset
from vaelab.latent.density import MAX_CODES, GaussianMixture, as_mixture, fit_mixture, sample_mixture, subsample
from vaelab.metrics.novelty import novelty
from vaelab.metrics.realism import evaluator_features, kid, standardiser
from vaelab.models.classifier import default_evaluator_for
from vaelab.models.runtime import decode_batched, encode_batched, open_model
from vaelab.tasks.density import fit_density


def log_likelihood(mixture: GaussianMixture, codes: np.ndarray) -> float:
    """The mean log-likelihood (nats per code) of codes (N, D) under the mixture."""
    codes = np.asarray(codes, np.float64)
    chol = np.linalg.cholesky(mixture.covariances)  # (K, D, D)
    per_component = []
    for w, mu, c in zip(mixture.weights, mixture.means, chol):
        y = np.linalg.solve(c, (codes - mu).T)  # (D, N)
        log_det = 2 * np.log(np.diag(c)).sum()
        per_component.append(np.log(w) - 0.5 * (y**2).sum(0) - 0.5 * log_det - 0.5 * mixture.dim * np.log(2 * np.pi))
    return float(logsumexp(np.stack(per_component), axis=0).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--caps", default="0,20000,10000,5000,2000", help="codes fitted at most (0: every code)")
    p.add_argument("--samples", type=int, default=1000, help="density samples for the KID")
    p.add_argument("--counts", help="compare these component counts at 20,000 codes instead of the caps")
    p.add_argument("--model", default="fashion-mnist", help="a shipped model's name: fashion-mnist or emoji")
    args = p.parse_args()
    caps = [int(c) or None for c in args.caps.split(",")]

    m, ds = open_model(args.model, "onnx"), load_dataset(args.model)
    test_images = ds.images[ds.split("test")]
    test_codes = encode_batched(m, test_images, progress=False)
    evaluator = default_evaluator_for(args.model)
    real = evaluator_features(evaluator, test_images)
    scale = standardiser(real)
    real = scale(real)

    def kid_of(codes: np.ndarray) -> dict:
        return kid(real, scale(evaluator_features(evaluator, decode_batched(m, codes))), seed=0)

    prior = kid_of(m.sample_codes(args.samples, seed=0, source="prior"))
    print(f"prior samples: KID {prior['kid']:.4f} ± {prior['kid_std']:.4f}")
    if args.counts:
        compare_counts(m, ds, test_codes, kid_of, [int(c) for c in args.counts.split(",")], args.samples)
        return
    rows = []
    for cap in caps:
        r = fit_density(args.model, seed=0, progress=False, max_codes=cap)
        mixture = r.choice.mixture
        k = kid_of(sample_mixture(mixture, args.samples, seed=0).astype(np.float32))
        rows.append(
            {
                "cap": cap or r.training_codes,
                "codes": r.codes,
                "seconds": round(r.seconds, 1),
                "components": r.choice.n_components,
                "held_out": {k: round(v, 2) for k, v in r.choice.held_out_log_likelihood.items()},
                "test_log_likelihood": round(log_likelihood(mixture, test_codes), 3),
                "kid": round(k["kid"], 4),
                "kid_std": round(k["kid_std"], 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]
    print("\n| codes fitted | time | components | test codes' log-likelihood | KID of density samples | time ratio |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['codes']:,} | {row['seconds']:.0f} s | {row['components']} | {row['test_log_likelihood']:.2f} "
            f"| {row['kid']:.4f} ± {row['kid_std']:.4f} | {row['seconds'] / base['seconds']:.2f} |"
        )


def compare_counts(m, ds, test_codes, kid_of, counts: list[int], samples: int) -> None:
    """One row per component count: each mixture fitted to the same seeded subsample of the training codes."""
    train_images = ds.images[ds.split("train")]
    train_codes = encode_batched(m, train_images[subsample(len(train_images), MAX_CODES, 0)], progress=False)
    rows = []
    for count in counts:
        t0 = time.perf_counter()
        mixture = as_mixture(fit_mixture(train_codes, count, 0))
        seconds = time.perf_counter() - t0
        drawn = sample_mixture(mixture, samples, seed=0).astype(np.float32)
        k, new = kid_of(drawn), novelty(drawn, train_codes, test_codes[:samples])
        rows.append(
            {
                "components": count,
                "seconds": round(seconds, 1),
                "test_log_likelihood": round(log_likelihood(mixture, test_codes), 3),
                "kid": round(k["kid"], 4),
                "kid_std": round(k["kid_std"], 4),
                "novelty": round(new["ratio"], 3),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{len(train_codes):,} training codes fitted")
    print("| components | fit time | test codes' log-likelihood | KID of density samples | novelty |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['components']} | {row['seconds']:.0f} s | {row['test_log_likelihood']:.2f} "
            f"| {row['kid']:.4f} ± {row['kid_std']:.4f} | {row['novelty']:.3f} |"
        )


if __name__ == "__main__":
    main()
