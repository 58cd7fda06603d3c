"""A perceptual reconstruction term: the distance between an image and its reconstruction in the features of
vaelab's own evaluator CNN, beside the VAE's likelihood. It is the recipe of LPIPS (Zhang et al. 2018, "The
Unreasonable Effectiveness of Deep Features as a Perceptual Metric") without its downloaded network or learned
weights: the activations after each of the evaluator's convolution blocks, each feature vector scaled to unit length
across its channels, compared by squared error and averaged over positions, then summed over the blocks.

The evaluator is the data's shipped one or any `vaelab train-evaluator` folder; it is frozen. A model trained with
this term is flattered by the KID measured in that evaluator's features, so judge it in a second space too.
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.errors import VaelabError


class PerceptualDistance(nn.Module):
    """recon, x (B, C, H, W) in [0, 1] → (B,): Σ over the evaluator's convolution blocks of the mean over positions of
    ‖u(f(recon)) − u(f(x))‖², with f a block's ReLU activations and u the scaling of each position's feature vector
    to unit length. 0 for identical images; at most 4 a block. Holds a frozen copy of the evaluator's layers."""

    def __init__(self, evaluator: nn.Module):
        super().__init__()
        blocks, current = [], []
        for layer in evaluator.features:
            if isinstance(layer, (nn.AdaptiveAvgPool2d, nn.Flatten)):
                break
            current.append(layer)
            if isinstance(layer, nn.ReLU):  # a block ends at its activation; its pooling opens the next
                blocks.append(nn.Sequential(*current))
                current = []
        if not blocks:
            raise VaelabError("the evaluator has no convolution block to measure a perceptual distance in")
        self.blocks = nn.ModuleList(blocks)
        for block in self.blocks:
            for layer in block:
                if isinstance(layer, nn.ReLU):
                    layer.inplace = False  # the activations are kept to compare
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> PerceptualDistance:
        return super().train(False)  # frozen: never in training mode

    def forward(self, recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # the originals' features need no gradient: a third less work than one batch of both
            targets = [(b, b.square().sum(1)) for b in (f.float() for f in self.activations(x))]
        total = recon.new_zeros(len(recon), dtype=torch.float32)
        for a, (b, b_sq) in zip(self.activations(recon), targets):
            total = total + unit_distance(a.float(), b, b_sq).flatten(1).mean(1)
        return total

    def activations(self, x: torch.Tensor):
        for block in self.blocks:
            x = block(x)
            yield x


def unit_distance(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """‖a/√(‖a‖² + ε) − b/√(‖b‖² + ε)‖² over the channels of activations (B, K, H, W) → (B, H, W), written out as
    ‖a‖²/(‖a‖² + ε) + ‖b‖²/(‖b‖² + ε) − 2⟨a, b⟩/√((‖a‖² + ε)(‖b‖² + ε)): no scaled copy of either is made, which on a
    CPU costs several times the convolutions. ``b_sq`` is ‖b‖². Two zero vectors are 0 apart, as two unit ones
    are; a zero and a unit vector 1."""
    a_sq, dot = a.square().sum(1), (a * b).sum(1)
    return a_sq / (a_sq + eps) + b_sq / (b_sq + eps) - 2 * dot / ((a_sq + eps) * (b_sq + eps)).sqrt()


def perceptual_term(distance: torch.Tensor, images_dim: int) -> torch.Tensor:
    """The batch's perceptual distances (B,) in the units of a calibrated Gaussian likelihood: (D/2) · mean ÷ its
    value held constant, whose gradient is that of (D/2) · log(mean distance), as the calibrated decoder's own
    −log p(x|z) = (D/2) · log MSE + const is in the squared error. So a weight of 1 pulls as hard as that
    likelihood, whatever the images' size (D = C·H·W), and the weight stays meaningful as the distance shrinks."""
    mean = distance.mean()
    return (images_dim / 2) * mean / mean.detach().clamp(min=1e-8)


def perceptual_distance_for(folder: str | None, data_name: str | None, channels: int, size: tuple[int, int]):
    """The PerceptualDistance of the evaluator in ``folder`` (None: the data's shipped one), checked against the
    model's image format: a one-line error when there is none or it takes other images."""
    from vaelab.models.classifier import evaluator_for

    evaluator = evaluator_for(folder, data_name)
    if evaluator is None:
        raise VaelabError(
            f"--perceptual compares images in an evaluator's features, and {data_name or 'this data'} has no shipped "
            "evaluator: give --perceptual-evaluator FOLDER, made with `vaelab train-evaluator`"
        )
    evaluator.check_images(channels, size)
    return PerceptualDistance(evaluator)
