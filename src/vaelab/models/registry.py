"""Model kinds by name (a dict, not an isinstance chain, so a new kind is one line), and loading a model folder."""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file

from vaelab.errors import VaelabError
from vaelab.models.ae_mlp import MLPAutoencoder
from vaelab.models.base import LatentModel
from vaelab.models.config import WEIGHTS_NAME, ModelConfig, read_model_json
from vaelab.models.cycle_vae import CycleVAE
from vaelab.models.shipped import model_folder
from vaelab.models.vae_conv import ConvVAE
from vaelab.models.vae_res import ResVAE

MODELS: dict[str, type[LatentModel]] = {
    "vae-conv": ConvVAE,
    "vae-res": ResVAE,
    "ae-mlp": MLPAutoencoder,
    "cycle-vae": CycleVAE,
}


# The KL weights' values that leave the objective alone: the only ones a model without a KL term may have.
KL_NEUTRAL = {"beta": 1.0, "free_bits": 0.0, "tc_beta": 1.0}


def check_new_config(cfg: ModelConfig, kl_schedule: dict[str, float] | None = None) -> None:
    """What a new run may not ask for: an unknown kind, or KL weights on a model without a KL term, which would
    do nothing; nor, with ``kl_schedule`` (flag → the run's value, 0 = off), a schedule of that KL term. (Runs
    saved before this check may hold such weights; they load as they are.)"""
    if cfg.kind not in MODELS:
        raise VaelabError(f"unknown model kind {cfg.kind!r}; choose one of: {', '.join(MODELS)}")
    if not MODELS[cfg.kind].variational:
        for name, neutral in KL_NEUTRAL.items():
            if getattr(cfg, name) != neutral:
                flag = "--" + name.replace("_", "-")
                raise VaelabError(f"{flag} weighs a VAE's KL term; {cfg.kind!r} has none (leave it at {neutral:g})")
        for flag, value in (kl_schedule or {}).items():
            if value:
                raise VaelabError(f"{flag} schedules a VAE's KL term; {cfg.kind!r} has none")


def build_model(cfg: ModelConfig) -> LatentModel:
    if cfg.kind not in MODELS:
        raise VaelabError(f"unknown model kind {cfg.kind!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[cfg.kind](cfg)


def load(folder: str | Path | None = None, map_location: str = "cpu") -> LatentModel:
    """Rebuild a model from a folder's config.json and model.safetensors alone (eval mode); a shipped model's name
    ("fashion-mnist") loads that one, and None the shipped Fashion-MNIST VAE, as everywhere else in the API."""
    folder = model_folder(folder)
    doc = read_model_json(folder)
    model = build_model(ModelConfig.from_dict(doc["model"]))
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise VaelabError(f"{folder}: no {WEIGHTS_NAME}")
    try:
        state = load_file(str(weights), device=map_location)
    except (SafetensorError, OSError, ValueError) as e:
        raise VaelabError(f"{weights}: corrupt safetensors file ({e})") from e
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise VaelabError(f"{weights}: weights do not match config.json ({detail})") from e
    model.data_spec = doc["data"]
    model.info = {k: v for k, v in doc.items() if k not in ("model", "data")}
    return model.eval().to(map_location)
