"""How good a latent path is, for lerp vs slerp vs cdf between random test pairs:

- prior typicality: each frame's latent norm ÷ √d (a N(0, I) sample sits near 1) and its log-density under
  N(0, I). lerp's midpoint dips towards √(1/2) of the endpoints' norm; slerp and cdf should not dip;
- smoothness: the largest frame-to-frame pixel step ÷ the mean step (1.0 = even steps, larger = a jump);
- target class: for pairs of different classes, the evaluator's probability of the end image's class along
  the path, and how often it rises monotonically.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaelab.latent.interpolate import interpolate
from vaelab.metrics.fidelity import evaluator_probabilities
from vaelab.models.runtime import decode_batched, open_model
from vaelab.training.evaluation import unit_batch

METHODS = ("lerp", "slerp", "cdf")


def prior_log_density(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I) of codes (..., D) → (...)."""
    d = z.shape[-1]
    return -0.5 * (z**2).sum(-1) - 0.5 * d * math.log(2 * math.pi)


def prior_typicality(paths: np.ndarray) -> dict:
    """Norm and log-density of path codes (P, T, D) against N(0, I).

    norm_ratio_mean: mean of ‖z‖/√d over every frame; norm_ratio_min: the lowest frame of each path,
    averaged over paths; log_density_mean / log_density_min likewise; prior_log_density: what a typical
    prior sample scores, E[log N(z; 0, I)] = -d/2·(1 + log 2π).
    """
    d = paths.shape[-1]
    ratio = np.linalg.norm(paths, axis=-1) / math.sqrt(d)
    logp = prior_log_density(paths)
    return {
        "norm_ratio_mean": float(ratio.mean()),
        "norm_ratio_min": float(ratio.min(1).mean()),
        "log_density_mean": float(logp.mean()),
        "log_density_min": float(logp.min(1).mean()),
        "prior_log_density": -0.5 * d * (1 + math.log(2 * math.pi)),
    }


def path_smoothness(frames: np.ndarray) -> float:
    """Largest ÷ mean L2 step between consecutive frames (T, ...); 1.0 for even steps, and for a still path."""
    steps = np.linalg.norm(np.diff(frames.reshape(len(frames), -1).astype(np.float64), axis=0), axis=1)
    mean = steps.mean() if len(steps) else 0.0
    # Identical frames make every step 0: no step is larger than another, which is perfectly even.
    return float(steps.max() / mean) if mean > 1e-12 else 1.0


def rises_monotonically(p: np.ndarray, tol: float = 0.01) -> bool:
    """Whether probabilities (T,) never fall by more than ``tol`` from one frame to the next and end higher."""
    return bool(np.all(np.diff(p) >= -tol) and p[-1] > p[0])


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


@torch.no_grad()
def interpolation_metrics(
    model,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    evaluator=None,
    pairs: int = 100,
    frames: int = 16,
    methods: tuple[str, ...] = METHODS,
    seed: int = 0,
    tol: float = 0.01,
    batch_size: int = 1000,
) -> dict:
    """Typicality, smoothness and (with labels and an evaluator) target-class rise of paths between random
    pairs of images (N, C, H, W), uint8 or float in [0,1], per method → {method: {...}, "pairs": P, "frames": T}."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    net = open_model(model)
    pair_idx = random_pairs(len(images), pairs, np.random.default_rng(seed))
    x = unit_batch(images[pair_idx.reshape(-1)], device)
    z = model.embed(x).double().cpu().numpy().reshape(len(pair_idx), 2, -1)
    t = np.linspace(0.0, 1.0, frames)
    differ = None if labels is None else labels[pair_idx[:, 0]] != labels[pair_idx[:, 1]]
    result: dict = {"pairs": int(len(pair_idx)), "frames": int(frames)}
    for method in methods:
        paths = np.swapaxes(interpolate(z[:, 0], z[:, 1], t, method), 0, 1)  # (P, T, D)
        decoded = decode_batched(net, paths, batch_size)  # (P, T, C, H, W)
        smooth = np.array([path_smoothness(f) for f in decoded])
        m = {**prior_typicality(paths), "smoothness_mean": float(smooth.mean()), "smoothness_max": float(smooth.max())}
        if evaluator is not None and differ is not None and differ.any():
            probs = evaluator_probabilities(evaluator, decoded[differ].reshape(-1, *images.shape[1:]), batch_size)
            probs = probs.reshape(int(differ.sum()), frames, -1)
            target = labels[pair_idx[differ, 1]]
            p_target = probs[np.arange(len(target)), :, target]  # (P', T)
            m.update(
                {
                    "target_prob_curve": [float(v) for v in p_target.mean(0)],
                    # t = 0.5: the middle frame, or the mean of the two either side of it
                    "target_prob_mid": float(p_target[:, [(frames - 1) // 2, frames // 2]].mean()),
                    "monotonic_fraction": float(np.mean([rises_monotonically(p, tol) for p in p_target])),
                    "class_pairs": int(differ.sum()),
                }
            )
        result[method] = m
    model.train(was_training)
    return result
