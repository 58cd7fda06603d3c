"""The optional adversarial term of a VAE's training (the VAE-GAN idea of Larsen et al. 2016, trained the way
VQGAN trains its decoder): a small PatchGAN discriminator that scores overlapping patches of an image as real or
reconstructed, the hinge loss, and the adaptive weight that balances the decoder's two gradients. With it the
training objective is no longer an ELBO; the −ELBO vaelab reports stays the likelihood and KL part alone."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DISC_WIDTH = 32  # the first layer's channels, doubled at each of the three downsamplings: light enough for a CPU
MAX_ADAPTIVE_WEIGHT = 1e4  # as VQGAN: the weight is clamped, so that a vanishing adversarial gradient cannot blow it up


class PatchDiscriminator(nn.Module):
    """Images (B, C, H, W) in [0, 1] → a map of real/fake logits (B, 1, H/8, W/8), one per overlapping patch
    (each sees 38 × 38 pixels). Strided 4 × 4 convolutions with LeakyReLU, as in pix2pix's PatchGAN, without
    its normalisation layers (a hinge-loss discriminator this small trains stably without them)."""

    def __init__(self, channels: int, width: int = DISC_WIDTH):
        super().__init__()
        layers, c_in = [], channels
        for i in range(3):
            c_out = width * 2**i
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.net = nn.Sequential(*layers, nn.Conv2d(c_in, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The hinge loss of the discriminator: mean(relu(1 − D(real))) + mean(relu(1 + D(fake)))."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The decoder's adversarial loss under the hinge objective: −mean(D(reconstruction))."""
    return -fake_logits.mean()


def adaptive_weight(recon_loss: torch.Tensor, adv_loss: torch.Tensor, last_layer: torch.Tensor) -> torch.Tensor:
    """VQGAN's balance of the two losses: ‖∇ recon‖ ÷ (‖∇ adv‖ + 10⁻⁴) at the decoder's last layer's weight, so that
    the adversarial gradient there is as strong as the reconstruction's; held constant and clamped to
    [0, MAX_ADAPTIVE_WEIGHT], so it stays finite when the adversarial gradient vanishes."""
    g_recon = torch.autograd.grad(recon_loss, last_layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adv_loss, last_layer, retain_graph=True)[0]
    weight = g_recon.norm() / (g_adv.norm() + 1e-4)
    return weight.clamp(0.0, MAX_ADAPTIVE_WEIGHT).detach()


def last_decoder_weight(model: nn.Module) -> torch.Tensor:
    """The weight of the decoder's last layer, where :func:`adaptive_weight` compares the two gradients."""
    weights = [p for p in model.decoder.parameters() if p.ndim >= 2]
    return weights[-1]
