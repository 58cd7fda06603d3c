"""The focal frequency loss of Jiang et al. 2021 ("Focal Frequency Loss for Image Reconstruction and Synthesis"),
as a term beside a VAE's likelihood: a squared error in the 2-D Fourier spectrum of each image, weighted towards
the frequencies the reconstruction gets most wrong, which are mostly the high ones a VAE blurs away. It needs no
downloaded network."""

from __future__ import annotations

import torch


def focal_frequency_loss(recon: torch.Tensor, x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Per image (B,): Σ_f w_f · |F(recon)_f − F(x)_f|², summed over channels and frequencies f, with the
    orthonormal 2-D FFT (so that with every w_f = 1 it is the images' sum of squared errors, by Parseval) and the
    focal weights w_f = |difference_f|^alpha ÷ its largest value in the image, in [0, 1] and held constant (no
    gradient flows through them), as in Jiang et al."""
    diff = torch.fft.fft2(recon, norm="ortho") - torch.fft.fft2(x, norm="ortho")
    power = diff.real.square() + diff.imag.square()  # (B, C, H, W)
    with torch.no_grad():
        weight = power.sqrt().pow(alpha)
        weight = weight / weight.flatten(1).amax(1).clamp(min=1e-12).view(-1, 1, 1, 1)
    return (weight * power).flatten(1).sum(1)


def frequency_term(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The focal frequency loss in the units of a Gaussian likelihood's reconstruction term: the batch mean of
    focal_frequency_loss ÷ (2σ²), σ² being the batch's mean squared error per pixel (held constant). Weighed this
    way, a weight of 1 pulls as hard as the calibrated decoder's own −log p(x|z) = (D/2)·log MSE + const, whatever
    the images' size, and the weight stays meaningful as the error shrinks."""
    sq_err = (recon.detach() - x).square().mean().clamp(min=1e-8)
    return focal_frequency_loss(recon, x).mean() / (2 * sq_err)
