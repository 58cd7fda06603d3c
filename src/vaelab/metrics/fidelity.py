"""Semantic fidelity, judged by the evaluator classifier instead of by eye (the Metamorph VAE blog post's "87% human
accuracy").

- fidelity: the evaluator's accuracy on reconstructions ÷ its accuracy on the originals (1.0 = the
  reconstructions keep every class the evaluator can see);
- prior samples: decode z ~ N(0, I) and report the evaluator's mean max-probability (how much each sample
  looks like *some* class) and the histogram of the classes it picks (coverage: whether every class
  comes out, or only a few).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaelab.metrics.reconstruction import reconstruct
from vaelab.training.evaluation import unit_batch


@torch.no_grad()
def evaluator_probabilities(evaluator, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities (N, K) of images (N, C, H, W): uint8, or float in [0,1]."""
    device = next(evaluator.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        out.append(evaluator.predict_proba(unit_batch(images[i : i + batch_size], device)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, evaluator.cfg.num_classes), np.float32)


def semantic_fidelity(model, evaluator, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> dict:
    """The evaluator's accuracy on images (N, C, H, W), uint8 or float in [0,1], and on their reconstructions, and
    the ratio.

    Returns accuracy_original, accuracy_reconstruction, fidelity (their ratio) and n.
    """
    labels = np.asarray(labels)
    acc_orig = float((evaluator_probabilities(evaluator, images, batch_size).argmax(1) == labels).mean())
    recon = reconstruct(model, images, batch_size)
    acc_rec = float((evaluator_probabilities(evaluator, recon, batch_size).argmax(1) == labels).mean())
    return {
        "accuracy_original": acc_orig,
        "accuracy_reconstruction": acc_rec,
        "fidelity": acc_rec / acc_orig if acc_orig > 0 else math.nan,
        "n": int(len(images)),
    }


def class_histogram_scores(probs: np.ndarray, class_names: list[str] | None = None) -> dict:
    """Confidence and coverage of class probabilities (N, K).

    confidence: mean max-probability; histogram: the share of samples per predicted class; coverage: the
    entropy of that histogram ÷ log K (1 = every class equally often, 0 = always the same class).
    """
    n, k = probs.shape
    counts = np.bincount(probs.argmax(1), minlength=k)
    share = counts / max(1, n)
    nz = share[share > 0]
    names = class_names if class_names and len(class_names) == k else [str(i) for i in range(k)]
    return {
        "confidence": float(probs.max(1).mean()) if n else math.nan,
        "coverage": max(0.0, float(-(nz * np.log(nz)).sum() / math.log(k))),  # max: no "-0.000"
        "histogram": {name: float(s) for name, s in zip(names, share)},
    }


@torch.no_grad()
def prior_sample_quality(
    model,
    evaluator,
    n: int = 1000,
    seed: int = 0,
    class_names: list[str] | None = None,
    batch_size: int = 1000,
    images: np.ndarray | None = None,
) -> dict:
    """The evaluator's judgement of n decoded prior samples z ~ N(0, I): confidence, coverage, histogram.

    A VAE is trained to decode such codes; a plain autoencoder never saw them, and its decodings of random
    vectors are the poor images the latent-space interpolation blog post describes, which shows as low confidence.

    A cycle-VAE's s has no prior: each sample then takes z ~ N(0, I) and the s of an image drawn at random from
    ``images`` (N, C, H, W), as its swap grid does (the result says 's_from': 'images').
    """
    device = next(model.parameters()).device
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, model.cfg.latent_dim)).astype(np.float32)
    was_training = model.training
    model.eval()
    sd = model.cfg.specified_dim
    if sd:
        if images is None or not len(images):
            raise ValueError("a cycle-VAE's prior samples need images to take s from")
        picks = images[rng.integers(len(images), size=n)]
        z[:, -sd:] = np.concatenate(
            [model.embed(unit_batch(picks[i : i + batch_size], device)).cpu().numpy() for i in range(0, n, batch_size)]
        )[:, -sd:]
    samples = np.concatenate(
        [
            model.decode(torch.from_numpy(z[i : i + batch_size]).to(device)).cpu().numpy()
            for i in range(0, n, batch_size)
        ]
    )
    model.train(was_training)
    return {
        **class_histogram_scores(evaluator_probabilities(evaluator, samples, batch_size), class_names),
        "n": n,
        **({"s_from": "images"} if sd else {}),
    }
