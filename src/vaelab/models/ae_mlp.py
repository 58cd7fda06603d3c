"""`ae-mlp`: the plain autoencoder of the Metamorph VAE blog post's first step: a few Linear layers and a deterministic
code."""

from __future__ import annotations

import torch
from torch import nn

from vaelab.models.base import LatentModel
from vaelab.models.config import ModelConfig


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class MLPAutoencoder(LatentModel):
    variational = False

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        n_pix = cfg.channels * cfg.height * cfg.width
        self.encoder = nn.Sequential(nn.Flatten(), mlp([n_pix, *cfg.hidden, cfg.latent_dim]))
        self.decoder = nn.Sequential(
            mlp([cfg.latent_dim, *cfg.hidden[::-1], n_pix]), nn.Unflatten(1, (cfg.channels, cfg.height, cfg.width))
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.encoder(x), None

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)
