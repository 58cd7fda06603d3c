"""`vae-conv`: the Metamorph VAE blog post's pseudo-architecture, generalised to any H×W, 1 or 3 channels and any
latent size.

Conv(stride 2)+ReLU stack → Flatten+Linear → (mu, logvar) → reparameterise → Linear+Unflatten+ReLU →
ConvTranspose(stride 2) stack → pixel logits. ``fc`` > 0 adds a hidden Linear+ReLU of that width on each
side of the code, as disentanglement_lib's models have. Each transpose conv's output_padding is chosen so
that the decoder retraces the encoder's exact spatial sizes, which is what lets odd sizes such as
28 → 14 → 7 → 4 come back to 28 (a fixed 64×64 decoder is the limit PyTorch-VAE users hit most).
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.errors import VaelabError
from vaelab.models.base import LatentModel
from vaelab.models.config import ModelConfig


def conv_out(n: int, k: int, p: int, s: int = 2) -> int:
    return (n + 2 * p - k) // s + 1


class ConvVAE(LatentModel):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        k, p = cfg.kernel_size, cfg.kernel_size // 2
        sizes = [(cfg.height, cfg.width)]
        enc, c_in = [], cfg.channels
        for w in cfg.widths:
            enc += [nn.Conv2d(c_in, w, k, stride=2, padding=p), nn.ReLU(inplace=True)]
            c_in = w
            sizes.append((conv_out(sizes[-1][0], k, p), conv_out(sizes[-1][1], k, p)))
        if min(sizes[-1]) < 1:
            raise VaelabError(f"{cfg.height}×{cfg.width} is too small for {len(cfg.widths)} stride-2 convolutions")
        self.feature_shape = (cfg.widths[-1], *sizes[-1])
        n_feat = cfg.widths[-1] * sizes[-1][0] * sizes[-1][1]
        # An optional hidden Linear layer (disentanglement_lib's 256) each way. Without it the code maps
        # linearly onto the conv features, so no single code unit can move an object across the image.
        fc_in = [nn.Linear(n_feat, cfg.fc), nn.ReLU(inplace=True)] if cfg.fc else []
        fc_out = [nn.Linear(cfg.latent_dim, cfg.fc), nn.ReLU(inplace=True)] if cfg.fc else []
        self.encoder = nn.Sequential(*enc, nn.Flatten(), *fc_in)
        self.to_stats = nn.Linear(cfg.fc or n_feat, 2 * cfg.latent_dim)
        self.from_latent = nn.Sequential(
            *fc_out,
            nn.Linear(cfg.fc or cfg.latent_dim, n_feat),
            nn.Unflatten(1, self.feature_shape),
            nn.ReLU(inplace=True),
        )
        dec = []
        outs = list(cfg.widths[-2::-1]) + [cfg.channels]
        for i, c_out in enumerate(outs):
            (h_in, w_in), (h_out, w_out) = sizes[-1 - i], sizes[-2 - i]
            base_h, base_w = (h_in - 1) * 2 - 2 * p + k, (w_in - 1) * 2 - 2 * p + k
            dec.append(
                nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=p, output_padding=(h_out - base_h, w_out - base_w))
            )
            if i < len(outs) - 1:
                dec.append(nn.ReLU(inplace=True))
            c_in = c_out
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.to_stats(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_latent(z))
