"""Perceptual distances between images without torch: the standardised hidden-layer features of vaelab's own
evaluator for the data (the features the realism numbers use, no downloaded network), from the evaluator folder's
``features.onnx`` under onnxruntime. A morph's even spacing and its path metrics measure in them."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from vaelab.models.config import FEATURES_ONNX
from vaelab.models.runtime import BATCH, onnx_session
from vaelab.models.shipped import SHIPPED_EVALUATORS


class FeatureSpace:
    """An evaluator's standardised features: ``features`` maps images (N, C, H, W), uint8 or float in [0, 1], to
    (N, F) float64, where each feature has mean 0 and spread 1 over the data's test images."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._session = onnx_session(self.folder / FEATURES_ONNX)
        shape = self._session.get_inputs()[0].shape
        self.shape = tuple(shape[1:])

    def features(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        out = []
        for i in range(0, len(images), BATCH):
            batch = images[i : i + BATCH].astype(np.float32)
            if images.dtype == np.uint8:
                batch /= 255.0
            out.append(self._session.run(None, {"x": np.ascontiguousarray(batch)})[0])
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, 0))


@functools.lru_cache(maxsize=4)
def feature_space_for(data_name: str | None) -> FeatureSpace | None:
    """The shipped evaluator's feature space for the data (Fashion-MNIST, emoji), or None for other data."""
    folder = SHIPPED_EVALUATORS.get(data_name or "")
    if folder is None or not (folder / FEATURES_ONNX).is_file():
        return None
    return FeatureSpace(folder)
