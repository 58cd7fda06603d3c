"""Active latent units (Burda et al. 2015): a dimension u is active when Cov_x(E_q(z|x)[u]) > 0.01, i.e. its
posterior mean moves with the input. A VAE with too many dimensions leaves the rest at the prior (inactive)."""

from __future__ import annotations

import numpy as np
import torch

from vaelab.training.evaluation import unit_batch


@torch.no_grad()
def active_units(model, images: np.ndarray, threshold: float = 0.01, batch_size: int = 1000) -> dict:
    """The number of active dimensions over images (N, C, H, W), uint8 or float in [0,1]: active, latent_dim, and
    the per-dimension variance of the posterior means (D,), largest first."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    means = np.concatenate(
        [
            model.embed(unit_batch(images[i : i + batch_size], device)).double().cpu().numpy()
            for i in range(0, len(images), batch_size)
        ]
    )
    model.train(was_training)
    var = means.var(0)
    return {
        "active": int((var > threshold).sum()),
        "latent_dim": int(means.shape[1]),
        "variances": [float(v) for v in np.sort(var)[::-1]],
    }
