"""Whether samples are new or copies: each sample code's distance to its nearest training code, against the same
distance for held-out test codes.

A test image was never trained on, so its code's distance to the nearest training code is what "a new image of
this data" looks like. Samples as far from the training codes as that score a ratio near 1; a density that
copies the training set puts its samples on top of training codes and scores far below 1; samples off in empty
space score above it.
"""

from __future__ import annotations

import numpy as np

CHUNK = 256  # query rows per distance block: a block of 256 × 60 000 distances is 123 MB


def nearest_distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """The Euclidean distance (Q,) from each query (Q, D) to its nearest reference (N, D)."""
    refs = np.asarray(references, np.float64)
    ref_sq = (refs**2).sum(1)
    out = np.empty(len(queries))
    for i in range(0, len(queries), CHUNK):
        q = np.asarray(queries[i : i + CHUNK], np.float64)
        sq = (q**2).sum(1)[:, None] + ref_sq[None] - 2 * q @ refs.T
        out[i : i + CHUNK] = np.sqrt(np.clip(sq.min(1), 0, None))
    return out


def novelty(samples: np.ndarray, train: np.ndarray, test: np.ndarray) -> dict:
    """Sample codes (S, D), training codes (N, D), test codes (T, D) → the mean nearest-training-code distance of
    the samples and of the test codes, and their ratio (about 1: as novel as unseen data; near 0: copies).

    Means, not medians: a data set whose test split repeats many training images (small or synthetic sets do)
    gives test codes a median distance of 0."""
    sample_mean, test_mean = (
        float(nearest_distances(samples, train).mean()),
        float(nearest_distances(test, train).mean()),
    )
    return {
        "ratio": sample_mean / test_mean if test_mean > 0 else float("inf"),
        "sample_distance": sample_mean,
        "test_distance": test_mean,
        "samples": int(len(samples)),
        "test_codes": int(len(test)),
        "train_codes": int(len(train)),
    }
