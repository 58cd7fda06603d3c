"""Likelihood bounds in nats per image: the ELBO and the importance-weighted bound (IWAE, Burda et al. 2015).

    log p(x) ≥ IWAE_k = E[log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x)],  z_i ~ q(z|x)

IWAE_1 is the ELBO; the bound rises with k towards log p(x). The k samples of an image are decoded in chunks
of about 8k codes, so k = 5000 needs little more memory than k = 100 (only the k log-weights per image are kept
for the logsumexp).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaelab.errors import VaelabError
from vaelab.progress import progress_bar
from vaelab.training.evaluation import evaluate_elbo, seeded_rng, unit_batch

LOG_2PI = math.log(2 * math.pi)


def bits_per_dim(nats: float, image_shape: tuple[int, ...]) -> float:
    """Nats per image → bits per dimension, nats / (C·H·W·ln 2)."""
    return nats / (int(np.prod(image_shape)) * math.log(2))


def elbo(model, images: np.ndarray, batch_size: int = 128, seed: int = 0) -> dict:
    """The test -ELBO of images (N, C, H, W), uint8 or float in [0,1]: neg_elbo, recon and kl (nats per image) and
    bits_per_dim."""
    return {k: float(v) for k, v in evaluate_elbo(model, images, batch_size=batch_size, seed=seed).items()}


@torch.no_grad()
def log_importance_weights(model, x: torch.Tensor, k: int, chunk: int | None = None) -> torch.Tensor:
    """log p(x|z) + log p(z) - log q(z|x) for k samples z ~ q(z|x) of each image of x (B, C, H, W) → (k, B)."""
    mu, logvar = model.encode(x)
    if logvar is None:
        raise VaelabError(
            "the IWAE bound needs a variational model (q(z|x) with a variance); a plain autoencoder has none"
        )
    b, d = mu.shape
    std = torch.exp(0.5 * logvar)
    # Decode about 8k codes at a time: big enough for fast batched convs, small enough for any machine.
    chunk = chunk or max(1, 8192 // b)
    out = []
    for start in range(0, k, chunk):
        s = min(chunk, k - start)
        eps = torch.randn(s, b, d, device=mu.device, dtype=mu.dtype)
        z = mu + std * eps  # (s, B, D)
        log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)
        log_p_z = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        logits = model.decode_logits(z.reshape(s * b, d))
        log_p_x = -model.recon_nll(logits, x.repeat(s, *([1] * (x.dim() - 1)))).reshape(s, b)
        out.append(log_p_x + log_p_z - log_q)
    return torch.cat(out)


@torch.no_grad()
def iwae_bound(
    model, images: np.ndarray, k: int = 1000, batch_size: int = 8, seed: int = 0, progress: bool = False
) -> dict:
    """IWAE lower bound on log p(x) with k importance samples, over images (N, C, H, W) (uint8, or float in [0,1]).

    Returns log_likelihood (the mean bound, nats per image), neg_iwae (its negation, comparable to the
    -ELBO), bits_per_dim, k and n.
    """
    if k < 1:
        raise VaelabError(f"the IWAE bound needs k ≥ 1 samples, not {k}")
    if len(images) == 0:
        raise VaelabError("the IWAE bound needs at least one image")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    with seeded_rng(seed, device):
        for i in progress_bar(
            range(0, len(images), batch_size),
            desc=f"IWAE k={k}",
            unit="batch",
            show=progress,
            leave=False,
            dynamic_ncols=True,
        ):
            x = unit_batch(images[i : i + batch_size], device)
            log_w = log_importance_weights(model, x, k).double()
            total += (torch.logsumexp(log_w, 0) - math.log(k)).sum().item()
    model.train(was_training)
    ll = total / len(images)
    return {
        "log_likelihood": ll,
        "neg_iwae": -ll,
        "bits_per_dim": bits_per_dim(-ll, images.shape[1:]),
        "k": int(k),
        "n": int(len(images)),
    }
