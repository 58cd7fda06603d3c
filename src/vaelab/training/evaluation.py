"""Test-set -ELBO of a model, batched, with its own seeded RNG so it never disturbs training's."""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import torch

from vaelab.errors import VaelabError
from vaelab.models.base import squared_error


def images_tensor(images: np.ndarray) -> torch.Tensor:
    """A zero-copy uint8 tensor of a dataset's images. The decode caches are read-only memory maps, which torch
    warns about on every run; training only reads them, so the warning is silenced here, and only here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(images)


FLOAT_SLACK = 0.25  # float images may overshoot [0,1] this much (a bicubic resize does) and are clipped


def unit_batch(images: np.ndarray, device) -> torch.Tensor:
    """Images (B, C, H, W) as a float tensor in [0,1] on ``device``: integers (0..255) are scaled by 1/255, floats
    are taken as already scaled and clipped to [0,1]. The caller's array is never written to. Floats far outside
    (0..255 ones, NaN) are refused: scaling them again by guesswork would score the wrong images."""
    if images.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255)
    if np.issubdtype(images.dtype, np.integer) or images.dtype == bool:
        if images.size and not (images.min() >= 0 and images.max() <= 255):
            raise VaelabError(f"integer images must hold 0..255, these run from {images.min()} to {images.max()}")
        return torch.tensor(images, dtype=torch.float32, device=device).div_(255)
    if not np.issubdtype(images.dtype, np.floating):
        raise VaelabError(f"images must be integers 0..255, or floats in [0,1], not {images.dtype}")
    x = torch.tensor(images, dtype=torch.float32, device=device)
    if x.numel() and not (x.min() >= -FLOAT_SLACK and x.max() <= 1 + FLOAT_SLACK):  # NaN fails both
        raise VaelabError(
            "float images must lie in [0,1] (integer images are scaled by 1/255); these run from "
            f"{x.min().item():.3g} to {x.max().item():.3g}"
        )
    return x.clamp_(0, 1)


@contextmanager
def seeded_rng(seed: int, device):
    """Seed torch's RNG (CPU, and ``device``'s generator on CUDA) for the block, then restore it, so that scoring
    draws the same noise every time and training's noise stream goes on as if nothing had drawn from it."""
    device = torch.device(device)
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)  # seeds every CUDA device; fork_rng restores the one in use
        yield


PSNR_IMAGES = 500  # the first test images: enough for a steady figure, cheap at every epoch


def evaluate_psnr(model, images: np.ndarray, n: int = PSNR_IMAGES, batch_size: int = 128, device=None) -> float:
    """Mean PSNR (dB) of the first ``n`` of images (N, C, H, W) against their reconstructions decode(embed(x)).

    An exact reconstruction (PSNR +∞) is left out of the mean, as `vaelab evaluate` does; all exact gives ∞."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    psnrs = []
    with torch.no_grad():
        for i in range(0, min(n, len(images)), batch_size):
            x = unit_batch(images[i : min(i + batch_size, n)], device)
            mse = ((model.decode(model.embed(x)).float() - x.float()) ** 2).flatten(1).mean(1)
            psnrs += (10 * torch.log10(1 / mse[mse > 0])).tolist()
    model.train(was_training)
    return float(np.mean(psnrs)) if psnrs else float("inf")


@torch.no_grad()
def evaluate_elbo(model, images: np.ndarray, batch_size: int = 128, seed: int = 0, device=None) -> dict:
    """Mean per-image -ELBO, reconstruction NLL and KL (nats) over images (N, C, H, W): uint8, or float in [0,1].

    bits_per_dim = nats / (C·H·W·ln 2). The figures do not depend on ``batch_size``: the noise is drawn in the same
    order, and a likelihood whose σ is the optimum (the σ-VAE's) takes the optimum over all the images, not over
    each batch (a σ fitted to each batch of 128 would make the emoji model's −ELBO some 1,500 nats lower). Batches
    of about 128 run 2–3× faster on a CPU than one batch of a whole test set.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    optimal = getattr(getattr(model, "cfg", None), "likelihood", None) == "gaussian-optimal"
    totals, squared = np.zeros(2), 0.0
    with seeded_rng(seed, device):
        for i in range(0, len(images), batch_size):
            x = unit_batch(images[i : i + batch_size], device)
            out = model.loss(x)
            totals += [0.0 if optimal else out.recon.sum().item(), out.kl.sum().item()]
            if optimal:
                squared += squared_error(out.logits, x).double().sum().item()
    model.train(was_training)
    dims = int(np.prod(images.shape[1:]))
    if optimal and len(images):
        totals[0] = model.recon_nll_at_optimum(squared, len(images) * dims)
    recon, kl = (float(v) for v in totals / len(images))  # plain floats: they go into checkpoints and JSON
    return {"neg_elbo": recon + kl, "recon": recon, "kl": kl, "bits_per_dim": (recon + kl) / (dims * np.log(2))}
