"""How real decoded images look, measured in the features of vaelab's own evaluator for the data (no downloaded
network): the kernel inception distance (KID, Bińkowski et al. 2018, "Demystifying MMD GANs") and the Fréchet
distance (FD, as FID computes it) between a set of images and held-out test images.

The features are the evaluator's hidden layer, standardised by the test images' own mean and spread, so that
every feature counts alike and the numbers of two models on the same test images compare. KID is the unbiased
squared MMD with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over random subsets; it is about 0
for two samples of one distribution, and unlike FD it has no bias that depends on the number of images.

- ``realism_metrics``: KID and FD of a model's reconstructions, prior samples (and samples of its fitted density,
  where the folder has one) and slerp midpoints of random test pairs, each against the test images.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from vaelab.latent.interpolate import interpolate
from vaelab.metrics.paths import random_pairs
from vaelab.models.runtime import decode_batched, encode_batched, open_model
from vaelab.training.evaluation import unit_batch


@torch.no_grad()
def evaluator_features(evaluator, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The evaluator's hidden-layer activations (N, F) for images (N, C, H, W), uint8 or float in [0,1]."""
    was_training = evaluator.training
    evaluator.eval()
    hidden = evaluator.head[:2]  # Linear → ReLU: the layer under the class logits
    out = [
        hidden(evaluator.features(unit_batch(images[i : i + batch_size], "cpu"))).numpy()
        for i in range(0, len(images), batch_size)
    ]
    evaluator.train(was_training)
    return np.concatenate(out).astype(np.float64)


def standardiser(reference: np.ndarray):
    """The function that takes a feature set to the reference's standard: minus its mean, over its spread
    (features that never vary there are divided by 1)."""
    mean, std = reference.mean(0), reference.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    return lambda features: (features - mean) / std


def standardise(reference: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Each feature set, the reference's included, in the reference's standard (:func:`standardiser`)."""
    scale = standardiser(reference)
    return [scale(f) for f in (reference, *others)]


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 50, subset_size: int = 1000, seed: int = 0) -> dict:
    """Kernel inception distance between feature sets (N, F) and (M, F): the mean and spread of the unbiased
    MMD² over ``subsets`` random subsets of min(subset_size, N, M) rows each."""
    rng = np.random.default_rng(seed)
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError(f"KID needs at least 2 images on each side, got {len(real)} and {len(fake)}")
    d = real.shape[1]
    scores = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        off = ~np.eye(m, dtype=bool)
        scores.append(kxx[off].mean() + kyy[off].mean() - 2 * kxy.mean())
    return {"kid": float(np.mean(scores)), "kid_std": float(np.std(scores)), "subset_size": int(m)}


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2(Σ_r Σ_f)^½) of two feature sets (N, F), as FID computes it."""
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    # Tr((Σ_r Σ_f)^½) as the eigenvalues of Σ_r^½ Σ_f Σ_r^½, which is symmetric: stable where features never vary
    # (ReLU units that stay off make Σ singular, and a general matrix square root then warns and wobbles)
    w, v = scipy.linalg.eigh(cov_r)
    half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(scipy.linalg.eigvalsh(half @ cov_f @ half), 0, None)).sum()
    return float(((mu_r - mu_f) ** 2).sum() + np.trace(cov_r) + np.trace(cov_f) - 2 * cross)


def realism_metrics(
    model,
    evaluator,
    images: np.ndarray,
    samples: int = 1000,
    pairs: int = 500,
    seed: int = 0,
    subsets: int = 50,
    folder=None,
) -> dict:
    """KID and FD, in the evaluator's standardised features, of the reconstructions of ``images`` (test images,
    uint8 or float), of ``samples`` decoded prior samples, of as many samples of the fitted density where the model
    ``folder`` has one (``density_samples``), and of the slerp midpoints of ``pairs`` random pairs of them, each
    against ``images`` themselves."""
    rng = np.random.default_rng(seed)
    net = open_model(model, folder=folder)
    z = encode_batched(net, images, progress=False)  # encoded once: the reconstructions and the midpoints decode it
    pair_idx = random_pairs(len(images), pairs, rng)
    midpoints = interpolate(z[pair_idx[:, 0]], z[pair_idx[:, 1]], np.array([0.5]), "slerp")[0]
    prior = net.sample_codes(samples, seed, "prior")
    s_dim = int(net.doc["model"].get("specified_dim", 0))
    if s_dim:  # a cycle-VAE's s has no prior: each sample takes the s of a random test image, as evaluate's do
        prior[:, -s_dim:] = z[rng.choice(len(z), samples), -s_dim:]
    decoded = {
        "reconstructions": decode_batched(net, z),
        "prior_samples": decode_batched(net, prior),
        "midpoints": decode_batched(net, midpoints),
    }
    if net.density() is not None:
        decoded["density_samples"] = net.sample(samples, seed, "density")
    real, *fakes = standardise(evaluator_features(evaluator, images), *(evaluator_features(evaluator, d)
                                                                        for d in decoded.values()))  # fmt: skip
    out = {"features": int(real.shape[1]), "test_images": int(len(images))}
    for (name, images_of), fake in zip(decoded.items(), fakes):
        out[name] = {**kid(real, fake, subsets=subsets, seed=seed), "fd": frechet_distance(real, fake),
                     "n": int(len(images_of))}  # fmt: skip
    return out
