"""Per-dimension statistics of latent codes, as pure numpy functions: KL to the prior, active units,
histogram counts. Shapes: N codes of D dimensions; K classes; B histogram bins."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVE_KL_NATS = 0.01  # a dimension whose mean KL is below this carries (almost) no information


def kl_per_dimension(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Mean over N of KL(N(mu, exp(logvar)) || N(0, 1)) per dimension: mu, logvar (N, D) → (D,) nats."""
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    return (0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)).mean(axis=0)


def active_units(kl: np.ndarray, threshold: float = ACTIVE_KL_NATS) -> int:
    """How many dimensions have a KL (D,) above ``threshold`` nats."""
    return int((np.asarray(kl) > threshold).sum())


def symmetric_edges(values: np.ndarray, bins: int = 41, at_least: float = 4.0) -> np.ndarray:
    """Bin edges (bins + 1,) symmetric about 0, wide enough for ±``at_least`` and for 99.9% of |values|.

    The prior's ±4σ is always in view, so histograms of different models line up; wider codes (a plain
    autoencoder's) widen the range rather than piling up in the end bins.
    """
    lim = max(at_least, float(np.percentile(np.abs(values), 99.9)) if np.size(values) else 0.0)
    return np.linspace(-lim, lim, bins + 1)


@dataclass
class LatentHistograms:
    """Counts of the codes per dimension: ``overall`` (D, B), ``per_class`` (K, D, B) or None."""

    edges: np.ndarray  # (B + 1,)
    overall: np.ndarray
    per_class: np.ndarray | None

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges)


def latent_histograms(
    latents: np.ndarray, labels: np.ndarray | None = None, n_classes: int = 0, edges: np.ndarray | None = None
) -> LatentHistograms:
    """Histogram every dimension of latents (N, D), overall and per class (integer labels (N,)).

    Values beyond the outer edges are counted in the end bins, so each dimension's counts sum to N.
    """
    latents = np.asarray(latents, np.float64)
    edges = symmetric_edges(latents) if edges is None else np.asarray(edges, np.float64)
    n_bins, d = len(edges) - 1, latents.shape[1]
    # searchsorted over the inner edges gives bin 0 … B-1 for every value, out-of-range ones included
    bin_of = np.searchsorted(edges[1:-1], latents, side="right")  # (N, D)
    cell = np.arange(d)[None, :] * n_bins + bin_of  # one flat (dimension, bin) index per value
    overall = np.bincount(cell.ravel(), minlength=d * n_bins).reshape(d, n_bins)
    per_class = None
    if labels is not None and n_classes > 0:
        labels = np.asarray(labels, np.int64)
        flat = (labels[:, None] * (d * n_bins) + cell).ravel()
        per_class = np.bincount(flat, minlength=n_classes * d * n_bins).reshape(n_classes, d, n_bins)
    return LatentHistograms(edges, overall, per_class)


def standard_normal_pdf(x: np.ndarray) -> np.ndarray:
    """The N(0, 1) density, the prior every VAE dimension is pulled towards."""
    return np.exp(-0.5 * np.asarray(x, np.float64) ** 2) / np.sqrt(2.0 * np.pi)
