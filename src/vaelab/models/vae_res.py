"""`vae-res`: a VAE built the way current image autoencoders are (the encoder and decoder of Stable Diffusion's
AutoencoderKL, scaled down), with a flat latent vector so that every latent operation of vaelab works on it as on
any other model.

Each level of ``widths`` is a residual block (GroupNorm → SiLU → 3×3 conv, twice, plus the input) and a halving of
H and W by a stride-2 conv. The decoder mirrors it, doubling H and W by nearest-neighbour upsampling followed by a
3×3 conv rather than by a transposed conv, whose overlapping strides print a checkerboard on the images. Each
upsampling goes to the exact size of the encoder's level, so any H×W comes back whole (28 → 14 → 7 → 4 → … → 28).
``attention`` > 0 adds that many self-attention blocks at the lowest resolution, where every position can see the
whole image. A Linear maps the lowest features to (mu, logvar) and back.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaelab.models.base import LatentModel
from vaelab.models.config import ModelConfig
from vaelab.models.vae_conv import conv_out


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups (the usual count), as many as divide ``channels``."""
    return nn.GroupNorm(math.gcd(channels, 32), channels, eps=1e-6)


class ResBlock(nn.Module):
    """x + f(x), f = (GroupNorm → SiLU → 3×3 conv) twice; a 1×1 conv matches the channels when they change."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(
            group_norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1),
            group_norm(c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1),
        )  # fmt: skip
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class AttentionBlock(nn.Module):
    """x + self-attention over the H·W positions of x (one head), as the mid-block of a diffusion autoencoder."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        self.scale = 1 / math.sqrt(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # shapes from x itself, not as numbers: the ONNX export then takes any batch size
        q, k, v = self.qkv(self.norm(x)).flatten(2).chunk(3, dim=1)  # each (B, C, HW)
        weights = torch.softmax(q.transpose(1, 2) @ k * self.scale, dim=-1)  # (B, HW, HW)
        return x + self.proj((v @ weights.transpose(1, 2)).reshape_as(x))


class ResVAE(LatentModel):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        sizes = [(cfg.height, cfg.width)]
        for _ in cfg.widths:
            sizes.append((conv_out(sizes[-1][0], 3, 1), conv_out(sizes[-1][1], 3, 1)))
        widths, low = cfg.widths, cfg.widths[-1]
        self.feature_shape = (low, *sizes[-1])
        n_feat = low * sizes[-1][0] * sizes[-1][1]

        enc: list[nn.Module] = [nn.Conv2d(cfg.channels, widths[0], 3, padding=1)]
        c = widths[0]
        for w in widths:
            enc += [ResBlock(c, w), nn.Conv2d(w, w, 3, stride=2, padding=1)]
            c = w
        enc += [ResBlock(low, low), *(AttentionBlock(low) for _ in range(cfg.attention))]
        enc += [group_norm(low), nn.SiLU(), nn.Flatten()]
        self.encoder = nn.Sequential(*enc)
        self.to_stats = nn.Linear(n_feat, 2 * cfg.latent_dim)

        dec: list[nn.Module] = [nn.Linear(cfg.latent_dim, n_feat), nn.Unflatten(1, self.feature_shape)]
        dec += [ResBlock(low, low), *(AttentionBlock(low) for _ in range(cfg.attention))]
        c = low
        for level, w in zip(range(len(widths) - 1, -1, -1), widths[::-1]):
            dec += [ResBlock(c, w), nn.Upsample(size=sizes[level], mode="nearest"), nn.Conv2d(w, w, 3, padding=1)]
            c = w
        dec += [group_norm(c), nn.SiLU(), nn.Conv2d(c, cfg.channels, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.to_stats(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)
