"""A density of a model's codes, fitted after training: a Gaussian mixture over the posterior means.

A VAE's codes do not fill N(0, I): they sit further out and in clumps, so decodings of prior samples land where
the decoder never learned to draw, and come out as noise. Fitting a Gaussian mixture to the training codes and
sampling from it instead is the ex-post density estimation of Ghosh et al. 2020, "From Variational to
Deterministic Autoencoders". The number of components is the one whose mixture gives held-out codes the highest
log-likelihood, so that the mixture neither blurs clusters (too few) nor memorises the codes (too many).

A large training set is fitted on a seeded random subsample of at most MAX_CODES codes: on Fashion-MNIST's 60,000
codes the fit took about 4 times as long as on 20,000, for the same count of components, samples as realistic,
and test codes about 1 nat likelier (docs/benchmarks/density-fit.md).

Fitting uses scikit-learn; sampling is numpy alone. Shapes: N codes of D dimensions, K components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaelab.progress import progress_bar

CANDIDATES = (1, 10, 25, 50)  # component counts tried by default
HELD_OUT = 0.2  # share of the codes kept out of the fit to score each count
MIN_CODES_PER_COMPONENT = 2  # a count is tried only when the fitting codes give each component this many
MAX_CODES = 20_000  # codes fitted at most; a larger set is subsampled (measured in docs/benchmarks/density-fit.md)
# Added to each component's covariance diagonal. About 1 % of a code unit's variance: at 1e-4, components fitted on
# few codes in 64 dimensions were nearly singular, the held-out score of larger counts collapsed, and it chose 10
# components on emoji where 25 or 50 give samples of half the KID (docs/benchmarks/density-fit.md).
REG_COVAR = 1e-2


@dataclass(frozen=True)
class GaussianMixture:
    """Weights (K,) summing to 1, means (K, D) and full covariances (K, D, D)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    @property
    def n_components(self) -> int:
        return len(self.weights)

    @property
    def dim(self) -> int:
        return self.means.shape[1]


@dataclass(frozen=True)
class MixtureChoice:
    """The mixture fitted to every code with the chosen count, and how each count scored on the held-out codes
    (mean log-likelihood per code, nats)."""

    mixture: GaussianMixture
    held_out_log_likelihood: dict[int, float]
    fitted_codes: int
    held_out_codes: int

    @property
    def n_components(self) -> int:
        return self.mixture.n_components


def fit_mixture(codes: np.ndarray, n_components: int, seed: int = 0, reg_covar: float = REG_COVAR):
    """A scikit-learn GaussianMixture (full covariances, ``reg_covar`` on their diagonals) fitted to codes (N, D),
    seeded."""
    from sklearn.mixture import GaussianMixture as SklearnMixture

    return SklearnMixture(n_components, covariance_type="full", reg_covar=reg_covar, random_state=seed).fit(
        np.asarray(codes, np.float64)
    )


def held_out_split(codes: np.ndarray, held_out: float = HELD_OUT, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The seeded split :func:`choose_mixture` scores counts by: (held-out codes, fitting codes)."""
    order = np.random.default_rng(seed).permutation(len(codes))
    n_held = max(1, int(round(held_out * len(codes))))
    return codes[order[:n_held]], codes[order[n_held:]]


def as_mixture(fitted) -> GaussianMixture:
    return GaussianMixture(
        fitted.weights_.astype(np.float64), fitted.means_.astype(np.float64), fitted.covariances_.astype(np.float64)
    )


def subsample(n: int, most: int | None, seed: int = 0) -> np.ndarray:
    """Indices (M,) of a seeded random subsample of at most ``most`` of ``n`` items, in ascending order: all of
    them when ``most`` is None or ``n`` is no more."""
    if most is None or n <= most:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, n]).choice(n, most, replace=False))


def choose_mixture(
    codes: np.ndarray, candidates=CANDIDATES, held_out: float = HELD_OUT, seed: int = 0, progress: bool = False
) -> MixtureChoice:
    """Fit a mixture to codes (N, D) for each component count in ``candidates`` on a seeded (1 - held_out) share,
    score each by the held-out codes' mean log-likelihood, and refit the best count on every code. ``progress``
    shows a bar that counts the components fitted (a fit takes about as long as its count).

    Counts with fewer than MIN_CODES_PER_COMPONENT fitting codes per component are skipped (1 is always tried)."""
    codes = np.asarray(codes, np.float64)
    held, fit = held_out_split(codes, held_out, seed)
    counts = sorted({k for k in candidates if k == 1 or k * MIN_CODES_PER_COMPONENT <= len(fit)} | {1})
    bar = progress_bar(total=sum(counts), desc="fitting the density", unit="component", show=progress, leave=False)
    scores = {}
    for k in counts:
        bar.set_postfix(components=k)
        scores[k] = float(fit_mixture(fit, k, seed).score(held))
        bar.update(k)
    best = max(scores, key=scores.get)
    bar.total += best  # and the chosen count again, on every code
    bar.set_postfix(components=f"{best}, on every code")
    mixture = as_mixture(fit_mixture(codes, best, seed))
    bar.update(best)
    bar.close()
    return MixtureChoice(mixture, scores, len(fit), len(held))


def sample_mixture(mixture: GaussianMixture, n: int, seed: int = 0) -> np.ndarray:
    """``n`` codes (n, D) drawn from the mixture, seeded: a component by its weight, then its Gaussian."""
    rng = np.random.default_rng(seed)
    weights = mixture.weights / mixture.weights.sum()
    component = rng.choice(mixture.n_components, size=n, p=weights)
    noise = rng.standard_normal((n, mixture.dim))
    chol = np.linalg.cholesky(mixture.covariances)  # (K, D, D)
    return mixture.means[component] + np.einsum("nij,nj->ni", chol[component], noise)
