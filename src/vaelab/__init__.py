"""vaelab: train variational autoencoders on images and work in their latent space.

The top-level names load lazily, so that `vaelab.morph` on an ONNX model never imports torch:

- ``vaelab.load(folder)`` → a torch model (config.json + model.safetensors, no pickle);
- ``vaelab.open_model(folder_or_model, backend=...)`` → numpy-in/numpy-out inference (onnxruntime or torch);
- ``vaelab.morph(model, images_or_paths, frames=..., method=...)`` → list of PIL images;
- ``vaelab.encode_images`` / ``vaelab.decode_latents``;
- ``vaelab.load_dataset(spec)``; training is ``vaelab.training.vae.train`` (``vaelab.TrainConfig``), and
  ``torchrun -m vaelab train ...`` trains on several processes.

The package's layers, each importing only from those before it: errors/rng/progress → io → latent →
data/models → viz → training → metrics → tasks (what a user does with a model) → cli. The blog posts and papers
that docstrings name are credited, by title, in docs/background.md.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "load": "vaelab.models.registry",
    "open_model": "vaelab.models.runtime",
    "ModelConfig": "vaelab.models.config",
    "load_dataset": "vaelab.data.loaders",
    "ImageDataset": "vaelab.data.dataset",
    "TrainConfig": "vaelab.training.config",
    "morph": "vaelab.tasks.morph",
    "class_morph": "vaelab.tasks.morph",
    "run_morph": "vaelab.tasks.morph",
    "encode_images": "vaelab.tasks.encoding",
    "decode_latents": "vaelab.tasks.encoding",
    "VaelabError": "vaelab.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vaelab' has no attribute {name!r}")
