"""Class centroids in latent space: the mean code of each class (seed 000's λ·"dog" + (1-λ)·"bird")."""
from __future__ import annotations

import numpy as np


def class_centroids(latents: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """latents (N, D), integer labels (N,) → (n_classes, D) means; a class with no samples gives NaN."""
    sums = np.zeros((n_classes, latents.shape[1]), np.float64)
    np.add.at(sums, labels, latents)
    counts = np.bincount(labels, minlength=n_classes)[:, None].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts
