"""Test-set -ELBO of a model, batched, with its own seeded RNG so it never disturbs training's."""
from __future__ import annotations

import warnings

import numpy as np
import torch


def images_tensor(images: np.ndarray) -> torch.Tensor:
    """A zero-copy uint8 tensor of a dataset's images. The decode caches are read-only memory maps, which torch
    warns about on every run; training only reads them, so the warning is silenced here, and only here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(images)


@torch.no_grad()
def evaluate_elbo(model, images: np.ndarray, batch_size: int = 1000, seed: int = 0, device=None) -> dict:
    """Mean per-image -ELBO, reconstruction NLL and KL (nats) over uint8 images (N, C, H, W).

    bits_per_dim = nats / (C·H·W·ln 2).
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals = np.zeros(2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(images[i:i + batch_size]).to(device).float().div_(255)
            out = model.loss(x)
            totals += [out.recon.sum().item(), out.kl.sum().item()]
    model.train(was_training)
    recon, kl = (float(v) for v in totals / len(images))  # plain floats: they go into checkpoints and JSON
    dims = int(np.prod(images.shape[1:]))
    return {"neg_elbo": recon + kl, "recon": recon, "kl": kl, "bits_per_dim": (recon + kl) / (dims * np.log(2))}
