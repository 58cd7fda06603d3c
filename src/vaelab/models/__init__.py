"""Models. This package init stays torch-free so that `vaelab.models.runtime` (onnxruntime) starts fast;
import torch models from their modules: `from vaelab.models.registry import load`."""

from vaelab.models.config import ModelConfig

__all__ = ["ModelConfig"]
