"""Model kinds by name: a dict, not an isinstance chain, so a new kind is one line."""
from __future__ import annotations

from vaelab.errors import VaelabError
from vaelab.models.ae_mlp import MLPAutoencoder
from vaelab.models.base import LatentModel
from vaelab.models.config import ModelConfig
from vaelab.models.cycle_vae import CycleVAE
from vaelab.models.vae_conv import ConvVAE

MODELS: dict[str, type[LatentModel]] = {
    "vae-conv": ConvVAE,
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
