"""Leakage probes and cross-predictors for a split latent code (the tables of the cycle-consistent VAE
re-implementation on 2D Sprites).

- ``leakage_probes``: an MLP classifier per code part (s, z, or a whole code) predicts the label. High accuracy
  on s and chance on z is what a cycle-consistent VAE aims for: class information that a probe can read from z
  has *leaked* into it.
- ``cross_predictors``: MLP regressors z→s and s→z. A part that can be predicted from the other is redundant
  with it. Given the decoder, each prediction is also decoded in place of the true part, and the
  *regeneration error* (per-pixel MSE against the input images) says how much of the picture was lost.

Both are pure functions of arrays and a numpy Generator, with scikit-learn doing the fitting. The default
widths (256, 256) are that re-implementation's classifier and predictor. The MLPs multiply small matrices, for which
BLAS threads cost more than they give (4.5× slower with two threads on the 2-core CI machine), so the fits run on
one BLAS thread.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits


def split_indices(n: int, rng: np.random.Generator, train_fraction: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """A random train/test split of range(n)."""
    perm = rng.permutation(n)
    cut = int(round(n * train_fraction))
    return np.sort(perm[:cut]), np.sort(perm[cut:])


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


def leakage_probes(
    codes: dict[str, np.ndarray],
    labels: np.ndarray,
    rng: np.random.Generator,
    train_fraction: float = 0.8,
    hidden: tuple[int, ...] = (256, 256),
    max_iter: int = 100,
) -> dict:
    """For each named code part (N, D_part): train and test accuracy of an MLP classifier predicting labels (N,).

    Every part uses the same split. ``chance`` is the share of the most common label among all the codes: what
    always answering it scores, on average over splits."""
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is a deliberate time cap
        return _leakage_probes(codes, labels, rng, train_fraction, hidden, max_iter)


def _leakage_probes(codes, labels, rng, train_fraction, hidden, max_iter) -> dict:
    train, test = split_indices(len(labels), rng, train_fraction)
    # over every code, not the test ones alone: 40 test codes of 24 classes may miss the majority class (0 %)
    out = {"chance": float(np.bincount(labels).max() / len(labels)), "n_train": len(train), "n_test": len(test)}
    for name, x in codes.items():
        # Early stopping on a held-out tenth; 20 epochs of patience, since small sets take few steps an epoch.
        mlp = MLPClassifier(
            hidden_layer_sizes=hidden,
            max_iter=max_iter,
            early_stopping=True,
            n_iter_no_change=20,
            random_state=_seed(rng),
        )
        probe = make_pipeline(StandardScaler(), mlp)
        probe.fit(x[train], labels[train])
        out[name] = {
            "train_accuracy": float(probe.score(x[train], labels[train])),
            "test_accuracy": float(probe.score(x[test], labels[test])),
        }
    return out


def cross_predictors(
    z: np.ndarray,
    s: np.ndarray,
    rng: np.random.Generator,
    decode: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    images: np.ndarray | None = None,
    train_fraction: float = 0.8,
    hidden: tuple[int, ...] = (256, 256),
    max_iter: int = 200,
    examples: int = 0,
) -> dict:
    """MLP regressors z→s and s→z on codes z (N, Dz), s (N, Ds): test R² and MSE of each.

    With ``decode(z, s) → images in [0,1]`` and the inputs ``images`` (N, C, H, W, uint8), also the
    regeneration error: the per-pixel MSE of Dec(z, ŝ) (z→s) or Dec(ẑ, s) (s→z) against the inputs, next to
    ``reconstruction_mse`` of Dec(z, s), the floor both sit above. ``examples`` > 0 adds 'examples': the first
    that many test rows' 'index' (into z and s) and their decodings, 'reconstruction', 'z_to_s' and 's_to_z'
    (n, C, H, W) in [0,1], for the pictures of original and regenerated images of that re-implementation.
    """
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is a deliberate time cap
        return _cross_predictors(z, s, rng, decode, images, train_fraction, hidden, max_iter, examples)


def _cross_predictors(z, s, rng, decode, images, train_fraction, hidden, max_iter, examples) -> dict:
    train, test = split_indices(len(z), rng, train_fraction)
    out: dict = {"n_train": len(train), "n_test": len(test)}
    target = None if images is None else images[test].astype(np.float32) / 255.0
    drawn = decode is not None and target is not None
    if drawn:
        reconstruction = decode(z[test], s[test])
        out["reconstruction_mse"] = float(np.mean((reconstruction - target) ** 2))
        if examples:
            out["examples"] = {"index": test[:examples], "reconstruction": reconstruction[:examples]}
    for name, src, dst in (("z_to_s", z, s), ("s_to_z", s, z)):
        scaler = StandardScaler().fit(dst[train])  # fit and score in standard units so every dim counts alike
        mlp = MLPRegressor(
            hidden_layer_sizes=hidden,
            max_iter=max_iter,
            early_stopping=True,
            n_iter_no_change=20,
            random_state=_seed(rng),
        )
        reg = make_pipeline(StandardScaler(), mlp)
        reg.fit(src[train], scaler.transform(dst[train]))
        pred = scaler.inverse_transform(reg.predict(src[test]).reshape(len(test), -1))
        result = {
            "test_r2": float(reg.score(src[test], scaler.transform(dst[test]))),
            "test_mse": float(np.mean((pred - dst[test]) ** 2)),
        }
        if drawn:
            regenerated = decode(z[test], pred) if name == "z_to_s" else decode(pred, s[test])
            result["regeneration_mse"] = float(np.mean((regenerated - target) ** 2))
            if examples:
                out["examples"][name] = regenerated[:examples]
        out[name] = result
    return out
