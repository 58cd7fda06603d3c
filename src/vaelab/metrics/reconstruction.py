"""Reconstruction quality: MSE, PSNR and SSIM (scikit-image's implementations) of x against decode(embed(x)), how
sharp the reconstructions are beside the originals, and how much of the originals' edges they carry.

Sharpness counts any fine detail, speckle and noise included; edge fidelity counts only the detail that lines up
with the originals' own edges, so a decoder cannot raise it by adding noise.

PSNR is infinite for an exact reconstruction. Such images are counted (``exact``) and left out of the PSNR
mean, so that one perfect image cannot turn the mean into ∞; when every image is exact, the PSNR is ∞.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.ndimage import laplace
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from vaelab.training.evaluation import unit_batch


def _ssim_window(h: int, w: int) -> int | None:
    """scikit-image's default 7×7 window, shrunk (odd, ≥ 3) for images smaller than that; None below 3×3."""
    side = min(h, w, 7)
    side -= 1 - side % 2
    return side if side >= 3 else None


def laplacians(images: np.ndarray) -> np.ndarray:
    """The Laplacian of each channel of float images (N, C, H, W), edges repeated outwards: (N, C, H, W) float64."""
    a = np.asarray(images, np.float64)
    return np.stack([np.stack([laplace(channel, mode="nearest") for channel in image]) for image in a])


def laplacian_energy(images: np.ndarray) -> float:
    """The mean squared Laplacian of float images (N, C, H, W): how much fine detail, edges and texture, they hold."""
    return float(np.mean(laplacians(images) ** 2))


def sharpness_ratio(originals: np.ndarray, reconstructions: np.ndarray) -> float:
    """The reconstructions' mean squared Laplacian ÷ the originals': 1 = as crisp as the data, below 1 = blurred
    (a decoder that averages away detail), above 1 = noisier than the data. ∞ for detail made from flat images."""
    detail = laplacian_energy(originals)
    made = laplacian_energy(reconstructions)
    return made / detail if detail > 0 else (1.0 if made == 0 else math.inf)


def edge_fidelity(originals: np.ndarray, reconstructions: np.ndarray) -> float:
    """⟨L(x̂), L(x)⟩ ÷ ⟨L(x), L(x)⟩ summed over every image, channel and pixel of float images (N, C, H, W), L the
    Laplacian that sharpness uses: the share of the originals' edges the reconstructions carry. 1 = all of them,
    as strong; below 1 = softened or missing; 0 = none. Detail that does not line up with the originals' edges,
    speckle or noise, adds about 0, so unlike sharpness it cannot raise the figure. NaN for flat originals."""
    lx = laplacians(originals)
    edges = float(np.sum(lx * lx))
    return float(np.sum(laplacians(reconstructions) * lx)) / edges if edges > 0 else math.nan


def image_scores(originals: np.ndarray, reconstructions: np.ndarray) -> dict:
    """Mean MSE, PSNR (dB) and SSIM of float images (N, C, H, W) in [0,1] against their reconstructions.

    Returns mse, psnr, ssim (None for images under 3×3), sharpness (:func:`sharpness_ratio`), edge_fidelity
    (:func:`edge_fidelity`), exact (how many are identical) and n.
    """
    if originals.shape != reconstructions.shape:
        raise ValueError(f"shapes differ: {originals.shape} vs {reconstructions.shape}")
    a, b = originals.astype(np.float64), reconstructions.astype(np.float64)
    win = _ssim_window(*a.shape[-2:])
    mses, psnrs, ssims, exact = [], [], [], 0
    for x, y in zip(a, b):
        mse = mean_squared_error(x, y)
        mses.append(mse)
        if mse == 0.0:
            exact += 1  # PSNR is +∞ here; scikit-image would divide by zero
        else:
            psnrs.append(peak_signal_noise_ratio(x, y, data_range=1.0))
        if win is not None:
            ssims.append(structural_similarity(x, y, data_range=1.0, channel_axis=0, win_size=win))
    return {
        "mse": float(np.mean(mses)),
        "psnr": float(np.mean(psnrs)) if psnrs else math.inf,
        "ssim": float(np.mean(ssims)) if ssims else None,
        "sharpness": sharpness_ratio(a, b),
        "edge_fidelity": edge_fidelity(a, b),
        "exact": exact,
        "n": len(a),
    }


@torch.no_grad()
def reconstruct(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Deterministic reconstructions decode(embed(x)) of images (N, C, H, W), uint8 or float in [0,1] → float
    (N, C, H, W) in [0,1]; embed is the posterior mean, not a sample."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = unit_batch(images[i : i + batch_size], device)
        out.append(model.decode(model.embed(x)).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out)


def reconstruction_metrics(model, images: np.ndarray, batch_size: int = 1000) -> dict:
    """MSE, PSNR, SSIM, sharpness and edge fidelity of images (N, C, H, W), uint8 or float in [0,1], against their
    reconstructions decode(embed(x)) (:func:`image_scores`)."""
    return image_scores(unit_batch(images, "cpu").numpy(), reconstruct(model, images, batch_size))
