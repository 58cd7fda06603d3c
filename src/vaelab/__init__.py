"""vaelab: train variational autoencoders on images and work in their latent space.

The top-level names load lazily, so that `vaelab.morph` on an ONNX model never imports torch:

- ``vaelab.load(folder)`` → a torch model (config.json + model.safetensors, no pickle);
- ``vaelab.open_model(folder_or_model, backend=...)`` → numpy-in/numpy-out inference (onnxruntime or torch);
- ``vaelab.morph(model, images_or_paths, frames=..., method=...)`` → list of PIL images;
- ``vaelab.encode_images`` / ``vaelab.decode_latents``;
- one task per command, each returning its Result, beside the ``write_…`` function that writes the command's files:
  ``vaelab.arithmetic``, ``attribute``, ``blend``, ``explore``, ``report``, ``evaluate``, ``sweep``,
  ``disentangle``, ``faces``, ``fit_density`` (``dir(vaelab)`` lists them all);
- ``vaelab.open_model(folder).sample(n, seed=...)`` → decoded samples, from the density ``fit_density`` fitted to the
  codes where the folder has one, else from N(0, I);
- ``vaelab.load_dataset(spec)``; ``vaelab.train(data, out, minutes=10, latent_dim=16)`` trains as ``vaelab train``
  does (the same recipe, sizing and checks), as do ``vaelab.train_cycle`` and ``vaelab.train_evaluator``, and
  ``torchrun -m vaelab train ...`` trains on several processes.

The package's layers, each importing only from those before it: errors/rng/progress → io → latent →
data/models → viz → training → metrics → tasks (what a user does with a model) → cli. The blog posts and papers
that docstrings name are credited, by title, in docs/background.md.
"""

from importlib import import_module as _import_module

__version__ = "0.1.0"

# name → the module that defines it, or "module:attribute" where the module calls it otherwise.
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
    # one task per command, each with the function that writes its files as the command does
    "arithmetic": "vaelab.tasks.arithmetic",
    "write_arithmetic": "vaelab.tasks.arithmetic",
    "attribute": "vaelab.tasks.attribute",
    "write_attribute": "vaelab.tasks.attribute",
    "blend": "vaelab.tasks.blend",
    "write_blend": "vaelab.tasks.blend",
    "disentangle": "vaelab.tasks.disentangle",
    "write_disentangle": "vaelab.tasks.disentangle",
    "explore": "vaelab.tasks.explore",
    "write_explore": "vaelab.tasks.explore",
    "report": "vaelab.tasks.report",
    "write_report": "vaelab.tasks.report",
    "faces": "vaelab.tasks.faces",
    "write_faces": "vaelab.tasks.faces",
    "fit_density": "vaelab.tasks.density",
    "write_density": "vaelab.tasks.density",
    "evaluate": "vaelab.metrics.evaluate:evaluate_model",
    "write_evaluation": "vaelab.metrics.evaluate:write_report",
    "sweep": "vaelab.tasks.sweep:run_sweep",
    "write_sweep": "vaelab.tasks.sweep:write_sweep_outputs",
    # training, as the command line trains: the same plan, recipe, sizing and checks
    "train": "vaelab.tasks.train",
    "train_cycle": "vaelab.tasks.train",
    "train_evaluator": "vaelab.tasks.train",
    "TrainResult": "vaelab.tasks.train",
    "VaelabError": "vaelab.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        module, _, attribute = _LAZY[name].partition(":")
        return getattr(_import_module(module), attribute or name)
    raise AttributeError(f"module 'vaelab' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, for tab completion: the lazy ones are not in the module until first used."""
    return sorted([*_LAZY, "__version__"])
