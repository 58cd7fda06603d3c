"""`cycle-vae`: the cycle-consistent VAE of Jha et al. 2018 ("Disentangling Factors of Variation with
Cycle-Consistent Variational Auto-Encoders").

The encoder splits the code in two: z, the *unspecified* part (style), is Gaussian (μ, log σ²) and pulled to
N(0, I); s, the *specified* part (the class), is a deterministic point. The decoder takes both. Training
(`vaelab.training.cycle`) swaps s between images of the same class, which pushes the class into s, and
re-encodes decodings of one z with different s, which pushes the class out of z.

The conv stack is `vae-conv`'s (any H×W, `widths`, `kernel_size`); only the head differs. The model's code,
what ``embed`` returns and ``decode`` takes, is the concatenation [μ_z | s] of ``latent_dim`` numbers, the last
``specified_dim`` of them s. So morphs, arithmetic, the ONNX export and the onnxruntime path work unchanged,
and swapping s is slicing: decode(concat(z of one image, s of another)).
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.errors import VaelabError
from vaelab.models.base import LossOutput
from vaelab.models.config import ModelConfig
from vaelab.models.vae_conv import ConvVAE


class CycleVAE(ConvVAE):
    # The code [μ_z | s] has no variance for s, so code-level ELBO machinery (IWAE, per-dim KL) does not
    # apply; z's own posterior comes from encode_parts.
    variational = False

    def __init__(self, cfg: ModelConfig):
        if not 0 < cfg.specified_dim < cfg.latent_dim:
            raise VaelabError(
                f"cycle-vae needs 0 < specified size < latent size (the code is [z | s]); "
                f"got specified {cfg.specified_dim} of latent {cfg.latent_dim}"
            )
        super().__init__(cfg)
        self.z_dim, self.s_dim = cfg.latent_dim - cfg.specified_dim, cfg.specified_dim
        self.to_stats = nn.Linear(self.to_stats.in_features, 2 * self.z_dim + self.s_dim)

    def encode_parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (B, C, H, W) in [0,1] → (μ_z (B, Dz), log σ²_z (B, Dz), s (B, Ds))."""
        mu, logvar, s = self.to_stats(self.encoder(x)).split([self.z_dim, self.z_dim, self.s_dim], dim=1)
        return mu, logvar, s

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """x → (code [μ_z | s] (B, D), None): the deterministic code; see encode_parts for z's variance."""
        mu, _, s = self.encode_parts(x)
        return torch.cat([mu, s], dim=1), None

    def decode_parts(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """z: (B, Dz), s: (B, Ds) → images (B, C, H, W) in [0,1]."""
        return torch.sigmoid(self.decode_logits(torch.cat([z, s], dim=1)))

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The parameters the reverse cycle's optimizer steps: the conv encoder and the (μ, log σ², s) head."""
        return [*self.encoder.parameters(), *self.to_stats.parameters()]

    def loss(
        self, x: torch.Tensor, kl_weight: float = 1.0, eps: torch.Tensor | None = None, capacity: float | None = None
    ) -> LossOutput:
        """Plain (unswapped) per-image terms in nats: x from (sampled z, its own s), KL of z only.

        The cycle objective is in `vaelab.training.cycle`; this is what evaluation reads (eps: (B, Dz))."""
        mu, logvar, s = self.encode_parts(x)
        z = mu + torch.exp(0.5 * logvar) * (torch.randn_like(mu) if eps is None else eps)
        recon = self.recon_nll(self.decode_logits(torch.cat([z, s], dim=1)), x)
        kl = (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).sum(1)
        objective = recon.mean() + self.cfg.beta * kl_weight * kl.mean()
        return LossOutput(objective=objective, recon=recon, kl=kl, z=torch.cat([z, s], dim=1))
