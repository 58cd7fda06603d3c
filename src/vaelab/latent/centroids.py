"""Class centroids in latent space: the mean code of each class (the Metamorph VAE blog post's λ·"dog" +
(1-λ)·"bird")."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def class_centroids(latents: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """latents (N, D), integer labels (N,) → (n_classes, D) means; a class with no samples gives NaN."""
    sums = np.zeros((n_classes, latents.shape[1]), np.float64)
    np.add.at(sums, labels, latents)
    counts = np.bincount(labels, minlength=n_classes)[:, None].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def centroids_with_fallback(
    represent: Callable[[np.ndarray], np.ndarray],
    labels: np.ndarray,
    idx: np.ndarray,
    n_classes: int,
    values: np.ndarray | None = None,
) -> np.ndarray:
    """(n_classes, D) class means of ``represent(rows)`` (vectors (len(rows), D)) over the rows ``idx`` (their
    vectors ``values`` when already computed). A class with no row among them (a set split by class, such as
    Omniglot or Reed's sprites, keeps some classes in its test split only) takes the mean over all its rows of
    ``labels``; one with none stays NaN."""
    cents = class_centroids(represent(idx) if values is None else values, labels[idx], n_classes)
    unseen = np.flatnonzero(np.isnan(cents).any(axis=1))
    rows = np.flatnonzero(np.isin(labels, unseen))
    if len(rows):
        cents[unseen] = class_centroids(represent(rows), labels[rows], n_classes)[unseen]
    return cents
