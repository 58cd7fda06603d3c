"""Datasets: one uint8 image type and loaders by name. Needs numpy and Pillow only, never torch."""

from vaelab.data.dataset import ImageDataset
from vaelab.data.images import load_image, to_pil
from vaelab.data.loaders import load_dataset

__all__ = ["ImageDataset", "load_dataset", "load_image", "to_pil"]
