"""What a training run checks and settles before it writes anything: where a resumed run goes on from, the device,
the split into training and validation images, whether the data fits the model (and is the run's own on a resume),
and whether the run takes enough optimizer steps to be worth it."""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError, VaelabWarning
from vaelab.models.config import ModelConfig, read_model_json
from vaelab.progress import counted
from vaelab.training.checkpoint import CHECKPOINT_NAME, load_checkpoint
from vaelab.training.config import CycleTrainConfig, TrainConfig, check_fraction


def resume_from(out: Path, cfg: TrainConfig | CycleTrainConfig, before: dict | None = None) -> tuple:
    """What the run in ``out`` goes on from: (its checkpoint, its config.json, its model config, the data spec it
    recorded, its training settings as ``cfg``'s class). The settings are :func:`resumed_settings`; ``before``
    holds the values of settings that older checkpoints predate."""
    ckpt = load_checkpoint(out)
    doc = read_model_json(out)
    settings = resumed_settings({**(before or {}), **ckpt["train_config"]}, cfg)
    return ckpt, doc, ModelConfig.from_dict(doc["model"]), doc.get("data") or {}, type(cfg).from_dict(settings)


def resumed_settings(saved: dict, cfg) -> dict:
    """A resumed run's training settings: its own, with those a resume may change as asked for now (the epochs,
    the device, the density, how it computes), and the pictures' interval when one is given (otherwise the run
    keeps its own)."""
    asked = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.metadata.get("free_on_resume")}
    if asked.get("picture_every") is None:
        asked.pop("picture_every", None)
    return {**saved, **asked}


# Settings a resume may change that stay the run's own when they are left out: how the run computes. (The other
# settings free on resume take the value given now, or their default.)
OWN_UNLESS_GIVEN = ("precision", "compile")


def checkpoint_settings(out: Path) -> dict:
    """The training settings in the checkpoint of the run in ``out`` (config.json is rewritten only when a
    validated epoch improves, so it may hold older ones); {} when there is no checkpoint."""
    if not (Path(out) / CHECKPOINT_NAME).is_file():
        return {}  # the trainer then says there is nothing to resume
    return load_checkpoint(out)["train_config"]


def own_unless_given(out: Path, settings: Mapping[str, Any], given: Collection[str], epochs: int) -> dict:
    """On a resume, the settings the run in ``out`` keeps unless they are given now, from one read of its
    checkpoint: the epochs it planned (``epochs`` without a checkpoint) unless --epochs is given, and how it
    computes, unless --precision or --compile is (a run moved to another machine may compute otherwise there)."""
    own = checkpoint_settings(out)
    kept = {name: settings[name] if name in given else own.get(name, settings[name]) for name in OWN_UNLESS_GIVEN}
    return {**kept, "epochs": settings["epochs"] or int(own.get("epochs", epochs))}


def check_resumable(ckpt: dict | None, epochs: int, out: Path) -> None:
    """A resumed run must have epochs left to train; otherwise say so rather than do nothing."""
    if ckpt is not None and ckpt["epoch"] >= epochs:
        raise VaelabError(
            f"the run in {out} has already trained {counted(ckpt['epoch'], 'epoch')}; give --epochs above "
            f"{ckpt['epoch']} to train it longer"
        )


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise VaelabError(f"unknown device {name!r}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VaelabError(f"--device {name}: this torch sees no CUDA GPU (use --device cpu, or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise VaelabError(f"--device {name}: there are only {torch.cuda.device_count()} CUDA devices")
    return device


def validation_split(train_idx: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation): a fixed random ``fraction`` of ``train_idx`` held out, the same for every seed."""
    check_fraction(fraction)
    n_val = round(len(train_idx) * fraction)
    if fraction and not 0 < n_val < len(train_idx):
        raise VaelabError(
            f"a validation fraction of {fraction} of {len(train_idx)} training images leaves "
            f"{n_val} to validate on and {len(train_idx) - n_val} to train on; both need at least one"
        )
    held = np.zeros(len(train_idx), bool)
    held[np.random.default_rng(0).permutation(len(train_idx))[:n_val]] = True
    return train_idx[~held], train_idx[held]


def training_split(dataset: ImageDataset, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) of ``dataset``'s training images, as :func:`validation_split`; a set with no test
    image to score each epoch on (a folder of one image) is refused first."""
    if not len(dataset.split("test")):
        raise VaelabError(
            f"{dataset.name} has no test images to score each epoch on ({len(dataset)} image"
            f"{'s' * (len(dataset) != 1)} in all); training needs at least two"
        )
    return validation_split(dataset.split("train"), fraction)


def check_run_data(model_cfg: ModelConfig, dataset: ImageDataset, out: Path, resumed: dict | None = None) -> None:
    """The data must fit the model; and a resumed run (``resumed``: the data spec its config.json recorded) must
    go on with the data it started with: the same classes, the same benchmark-made split and the same limit.
    Data that moved is fine: only the name may change."""
    if (model_cfg.channels, model_cfg.height, model_cfg.width) != (dataset.channels, *dataset.size):
        raise VaelabError(
            f"model expects {model_cfg.channels}×{model_cfg.height}×{model_cfg.width} images, "
            f"data has {dataset.channels}×{dataset.size[0]}×{dataset.size[1]}"
        )
    if resumed is None:
        return
    if "class_names" in resumed and resumed["class_names"] != dataset.class_names:
        raise VaelabError(
            f"{out} trained on data with the classes {_names(resumed.get('class_names'))}; "
            f"{dataset.name} has {_names(dataset.class_names)}. A resumed run goes on with its own "
            "data (moved, perhaps), not with other data"
        )
    if resumed.get("split") != dataset.split_source:
        raise VaelabError(
            f"{out} was trained on a split made by {resumed.get('split') or 'its loader'}, and this "
            f"data's split was made by {dataset.split_source or 'its loader'}"
        )
    if "limit" in resumed and resumed["limit"] != dataset.train_limit:  # runs from before limits were recorded
        had = f"the first {resumed['limit']}" if resumed["limit"] else "all its"
        raise VaelabError(
            f"{out} trained on {had} training images; this data keeps {dataset.train_limit or 'all'} of them"
        )


def _names(names) -> str:
    return "none" if not names else ", ".join(names[:5]) + (f" … ({len(names)} in all)" if len(names) > 5 else "")


FEW_STEPS = 500  # a run of fewer optimizer steps than this, in all, is worth a warning: its pictures stay blurred


def warn_few_steps(n_train: int, steps: int, batch: int, epochs: int) -> None:
    """A one-line warning when a run (a small set at a large batch, or few epochs) takes few optimizer steps;
    it names the caller of the function that calls this one (train, train_cycle)."""
    if steps * epochs < FEW_STEPS:
        warnings.warn(
            f"{n_train} training images make {steps} optimizer step{'s' * (steps != 1)} an epoch at batch "
            f"{batch}, only {steps * epochs} in all; under {FEW_STEPS} usually leave blurred "
            f"reconstructions: a smaller --batch-size or more --epochs trains more",
            VaelabWarning,
            stacklevel=3,
        )


def check_adversarial_processes(adversarial: float, processes: int) -> None:
    """The adversarial term trains its discriminator in one process only."""
    if adversarial and processes > 1:
        raise VaelabError("--adversarial trains on one process for now: leave out --nproc")


FEW_IMAGES = 500  # fewer training images than this make a VAE learn them by heart rather than a latent space


def warn_small_set(n_train: int) -> None:
    """A one-line warning, before a run on fewer than FEW_IMAGES images, of what such a run gives."""
    if n_train < FEW_IMAGES:
        warnings.warn(
            f"{counted(n_train, 'training image')} {'is' if n_train == 1 else 'are'} few for a VAE: it will learn them "
            "by heart (sharp reconstructions of these, blur or noise between them and on new images) rather than a "
            "latent space; a few thousand images make one, and --shift (and --flip where mirror images are valid) "
            "stretch a small set",
            VaelabWarning,
            stacklevel=3,
        )
