"""Analogy hit-rate: does code(a_p) + mean_q(code(b_q) − code(a_q)) decode closer to b_p than to a_p?

A pure function of codes, images and a decoder (disentanglement_lib's metric shape). Its two baselines say
what the number means: 'zero' replaces the mean difference by 0 (decodes a_p back; hits should be rare),
'pixel' does the same arithmetic on the pixels instead of the codes.

The offset is the arithmetic mean of the other pairs' differences (``offset="mean"``), or their spherical mean
(``offset="spherical"``: the mean direction at the mean length, `vaelab.latent.arithmetic.spherical_mean`).
When the pairs' differences point roughly the same way but not exactly, their arithmetic mean is shorter than
a typical one (it averages away the parts that disagree) and can fall short of the target; the spherical
mean keeps their typical length. The hit rule favours length: any prediction past the half-way point counts,
however far past.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vaelab.latent.arithmetic import spherical_mean
from vaelab.rng import as_generator

OFFSETS = ("mean", "spherical")


def _mse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a - b) ** 2).reshape(len(a), -1).mean(1)


def _average(differences: np.ndarray, offset: str) -> np.ndarray:
    """The mean (offset="mean") or spherical mean of differences (Q, ...), each flattened to a vector."""
    if offset == "mean":
        return differences.mean(0)
    return spherical_mean(differences.reshape(len(differences), -1)).reshape(differences.shape[1:])


def analogy_hit_rate(
    z_a: np.ndarray,
    z_b: np.ndarray,
    x_a: np.ndarray,
    x_b: np.ndarray,
    decode: Callable[[np.ndarray], np.ndarray],
    evaluate: np.ndarray | None = None,
    use: np.ndarray | None = None,
    offset: str = "mean",
    land: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict:
    """Score pairs p = (a_p, b_p) with codes z_a, z_b (P, D) and images x_a, x_b (P, C, H, W) in [0,1]
    (uint8 images are scaled to it).

    For each p in ``evaluate`` (default all), the offset is the mean of z_b[q] − z_a[q] over q in ``use``
    (default all), q ≠ p (``offset="spherical"``: their spherical mean); the prediction is a hit when
    decode(z_a[p] + offset) has a lower pixel MSE to x_b[p] than to x_a[p]; ``land`` (codes (N, D) → (N, D)), when
    given, brings each predicted code back to the model's codes before it is decoded. Returns hit_rate and the 'zero'
    and 'pixel' baselines, each in [0, 1], n, and per evaluated pair its 'hits' (bool) and the decoded
    'predictions' (images in [0,1]).
    """
    if offset not in OFFSETS:
        raise ValueError(f"offset must be one of {OFFSETS}, not {offset!r}")
    x_a, x_b = (x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x for x in (x_a, x_b))  # no wrap-around
    P = len(z_a)
    evaluate = np.arange(P) if evaluate is None else np.asarray(evaluate)
    use = np.arange(P) if use is None else np.asarray(use)
    dz, dx = z_b - z_a, x_b - x_a
    offsets, pix_offsets = [], []
    for p in evaluate:
        others = use[use != p]
        if len(others) == 0:
            raise ValueError("an analogy needs at least one other pair to take the offset from")
        offsets.append(_average(dz[others], offset))
        pix_offsets.append(_average(dx[others], offset))
    offsets, pix_offsets = np.stack(offsets), np.stack(pix_offsets)
    za, xa, xb = z_a[evaluate], x_a[evaluate], x_b[evaluate]

    def hits(pred_images: np.ndarray) -> np.ndarray:
        return _mse(pred_images, xb) < _mse(pred_images, xa)

    predicted = za + offsets
    predictions = decode((predicted if land is None else land(predicted)).astype(np.float32))
    model_hits = hits(predictions)
    zero_hits = hits(decode(za.astype(np.float32)))
    pixel_hits = hits(np.clip(xa + pix_offsets, 0, 1))
    return {
        "hit_rate": float(model_hits.mean()),
        "baseline_zero": float(zero_hits.mean()),
        "baseline_pixel": float(pixel_hits.mean()),
        "n": int(len(evaluate)),
        "hits": model_hits,
        "predictions": predictions,
    }


def cluster_bootstrap_interval(
    hits: np.ndarray, clusters: np.ndarray, rng: np.random.Generator, n_boot: int = 5000, level: float = 0.95
) -> tuple[float, float]:
    """A percentile bootstrap interval for the hit-rate of ``hits`` (N,) bool, resampling whole ``clusters``
    (N,) (for example professions, each scored in six skin tones) rather than single analogies: analogies of
    one cluster succeed or fail together, so treating them as independent would make the interval too narrow."""
    hits = np.asarray(hits, bool)
    if not len(hits) or len(hits) != len(clusters):
        raise ValueError(
            f"an interval needs one cluster per analogy, and at least one: {len(hits)} hits, {len(clusters)} clusters"
        )
    _, cluster = np.unique(np.asarray(clusters), return_inverse=True)
    k = cluster.max() + 1
    if k < 2:  # resampling one cluster always redraws it: a zero-width interval that says nothing
        raise ValueError("an interval that resamples clusters needs at least two of them")
    n_hit, n_all = np.bincount(cluster, hits, k), np.bincount(cluster, minlength=k).astype(float)
    draws = as_generator(rng).integers(0, k, size=(n_boot, k))
    rates = n_hit[draws].sum(1) / n_all[draws].sum(1)
    tail = (1 - level) / 2
    return float(np.quantile(rates, tail)), float(np.quantile(rates, 1 - tail))
