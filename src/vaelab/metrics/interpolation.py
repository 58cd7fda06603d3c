"""How good a latent path is, for lerp vs slerp vs cdf between random test pairs:

- prior typicality: each frame's latent norm ÷ √d (a N(0, I) sample sits near 1) and its log-density under
  N(0, I). lerp's midpoint dips towards √(1/2) of the endpoints' norm; slerp and cdf should not dip;
- smoothness: the largest frame-to-frame pixel step ÷ the mean step (1.0 = even steps, larger = a jump);
- target class: for pairs of different classes, the evaluator's probability of the end image's class along
  the path, and how often it rises monotonically;
- with an evaluator, the morph metrics of image-morphing work (MorphBench's), in its standardised features
  (:mod:`vaelab.metrics.paths`): the perceptual path length, the deviation of the perceptual steps (0 = even),
  and the realism of the frames between the ends (KID against the test images). They are measured for slerp with
  even perceptual spacing too (``vaelab morph --spacing even``), and for two baselines a morph must beat: the
  pixel cross-fade of the two images, and the cross-fade of their reconstructions (which separates what the
  decoder does from what the latent path does).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaelab.latent.interpolate import interpolate
from vaelab.metrics.fidelity import evaluator_probabilities
from vaelab.metrics.paths import random_pairs
from vaelab.models.runtime import decode_batched, open_model
from vaelab.training.evaluation import unit_batch

METHODS = ("lerp", "slerp", "cdf")
EVEN, PIXEL_FADE, RECON_FADE = "slerp-even", "pixel-crossfade", "recon-crossfade"
COMPARED = (*METHODS, EVEN, PIXEL_FADE, RECON_FADE)  # the rows of the morph-quality table


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
    features_of = real = None
    if evaluator is not None:
        from vaelab.metrics.realism import evaluator_features, standardiser  # realism draws its pairs from paths

        ref = evaluator_features(evaluator, images, batch_size)
        scale = standardiser(ref)
        real = scale(ref)

        def features_of(x):  # (a stand-in decoder, a test's identity, may overshoot [0, 1] on slerp's arc)
            return scale(evaluator_features(evaluator, np.clip(x, 0.0, 1.0), batch_size))

    ends = images[pair_idx.reshape(-1)].astype(np.float32)
    ends = (ends / 255.0 if images.dtype == np.uint8 else ends).reshape(len(pair_idx), 2, *images.shape[1:])
    for method in (*methods, *((EVEN, PIXEL_FADE, RECON_FADE) if evaluator is not None else ())):
        decoded, paths = compared_paths(method, net, z, ends, t, features_of, batch_size)
        m = {} if paths is None else dict(prior_typicality(paths))
        smooth = np.array([path_smoothness(f) for f in decoded])
        m.update({"smoothness_mean": float(smooth.mean()), "smoothness_max": float(smooth.max())})
        if features_of is not None:
            m.update(_perceptual(features_of, real, decoded, differ, seed))
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


def crossfade(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The pixel mixtures (1 − t)·a + t·b of image batches a, b (P, C, H, W) at each t (T,) → (P, T, C, H, W)."""
    t = np.asarray(t, np.float64)[None, :, None, None, None]
    return ((1.0 - t) * a[:, None] + t * b[:, None]).astype(np.float32)


def compared_paths(method, net, z, ends, t, features_of, batch_size) -> tuple[np.ndarray, np.ndarray | None]:
    """(decoded frames (P, T, C, H, W), their codes (P, T, D) or None for a cross-fade) of one compared row."""
    from vaelab.metrics.paths import even_codes

    if method == PIXEL_FADE:
        return crossfade(ends[:, 0], ends[:, 1], t), None
    if method == RECON_FADE:
        recon = decode_batched(net, z.reshape(-1, z.shape[-1])).reshape(ends.shape)
        return crossfade(recon[:, 0], recon[:, 1], t), None
    if method == EVEN:  # as `vaelab morph --spacing even` spaces slerp: measured at as many points as frames
        codes = [even_codes(net, interpolate(a, b, t, "slerp"), len(t), features_of)[0] for a, b in z]
        paths = np.stack(codes)
    else:
        paths = np.swapaxes(interpolate(z[:, 0], z[:, 1], t, method), 0, 1)  # (P, T, D)
    return np.clip(decode_batched(net, paths, batch_size), 0.0, 1.0), paths  # (a no-op for a real decoder)


def _perceptual(features_of, real, decoded, differ, seed) -> dict:
    """Path length and step deviation (means over the paths, and over those between different classes) and the KID
    of the frames between the ends against the test images, in the evaluator's standardised features; and the step
    deviation in plain pixels."""
    from vaelab.metrics.paths import path_length, step_deviation
    from vaelab.metrics.realism import kid

    p, n = decoded.shape[:2]
    feats = features_of(decoded.reshape(-1, *decoded.shape[2:])).reshape(p, n, -1)
    length = np.array([path_length(f) for f in feats])
    deviation = np.array([step_deviation(f) for f in feats])
    pixel_deviation = np.array([step_deviation(f) for f in decoded])  # a second eye, which no spacing is tuned to
    out = {
        "path_length": float(length.mean()),
        "step_deviation": float(deviation.mean()),
        "pixel_step_deviation": float(pixel_deviation.mean()),
        "frame_kid": kid(real, feats[:, 1:-1].reshape(-1, feats.shape[-1]), seed=seed)["kid"],
    }
    if differ is not None and differ.any():
        out["path_length_class_pairs"] = float(length[differ].mean())
        out["step_deviation_class_pairs"] = float(deviation[differ].mean())
    return out
