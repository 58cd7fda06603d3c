"""The perceptual reconstruction term: a distance in an evaluator's features that is 0 for identical images and grows
as they part, a gradient into the reconstruction only, and `vaelab train --perceptual` with its evaluator checked
before anything is written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vaelab.cli import main
from vaelab.errors import VaelabError
from vaelab.models.classifier import EvaluatorCNN, EvaluatorConfig, load_evaluator
from vaelab.models.shipped import SHIPPED_EVALUATORS
from vaelab.training.config import TrainConfig
from vaelab.training.perceptual import PerceptualDistance, perceptual_distance_for, perceptual_term

FASHION_EVALUATOR = SHIPPED_EVALUATORS["fashion-mnist"]
SMALL_FLAGS = ["--latent", "4", "--widths", "4,8", "--no-onnx", "--quiet", "--no-density"]


def shapes(n: int = 6, seed: int = 0) -> torch.Tensor:
    """n grey 28×28 images of bright rectangles on black, seeded."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, 28, 28), np.float32)
    for i in range(n):
        top, left = rng.integers(2, 12, 2)
        x[i, 0, top : top + rng.integers(6, 14), left : left + rng.integers(6, 14)] = 1.0
    return torch.from_numpy(x)


def blurred(x: torch.Tensor, passes: int) -> torch.Tensor:
    kernel = torch.full((1, 1, 3, 3), 1 / 9)
    for _ in range(passes):
        x = torch.nn.functional.conv2d(x, kernel, padding=1)
    return x


def test_the_distance_is_zero_for_identical_images_and_grows_with_blur_and_noise():
    distance, x = PerceptualDistance(load_evaluator(FASHION_EVALUATOR)), shapes()
    with torch.no_grad():
        assert distance(x, x).abs().max() < 1e-6
        by_blur = [distance(blurred(x, k), x).mean().item() for k in (1, 2, 4)]
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
        by_noise = [distance((x + s * noise).clamp(0, 1), x).mean().item() for s in (0.05, 0.2, 0.5)]
    assert 0 < by_blur[0] < by_blur[1] < by_blur[2]
    assert 0 < by_noise[0] < by_noise[1] < by_noise[2]
    assert max(by_blur + by_noise) <= 4 * len(distance.blocks)  # unit vectors: at most 4 a block


def test_the_written_out_distance_is_that_of_the_unit_vectors_and_zero_between_zero_vectors():
    from vaelab.training.perceptual import unit_distance

    g = torch.Generator().manual_seed(0)
    a, b = torch.relu(torch.randn(3, 5, 4, 4, generator=g)), torch.relu(torch.randn(3, 5, 4, 4, generator=g))
    a[0, :, 0, 0] = b[0, :, 0, 0] = 0  # a dead position in both: 0 apart
    b[1, :, 1, 1] = 0  # in one only: 1 apart
    unit = [v / (v.square().sum(1, keepdim=True) + 1e-10).sqrt() for v in (a, b)]
    expected = (unit[0] - unit[1]).square().sum(1)
    got = unit_distance(a, b, b.square().sum(1))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert got[0, 0, 0] == 0 and abs(got[1, 1, 1] - 1) < 1e-6 and (got <= 4).all()


def test_it_measures_each_convolution_block_of_the_evaluator_and_stays_frozen():
    evaluator = EvaluatorCNN(EvaluatorConfig(widths=(8, 16, 32)))
    distance = PerceptualDistance(evaluator)
    assert len(distance.blocks) == 3 and not any(p.requires_grad for p in distance.parameters())
    distance.train()
    assert not distance.training  # never in training mode (the evaluator's dropout is not among its layers anyway)
    recon = shapes(4, seed=1).requires_grad_(True)
    distance(recon, shapes(4)).sum().backward()
    assert recon.grad is not None and recon.grad.abs().sum() > 0


def test_the_term_has_the_gradient_of_half_d_log_the_mean_distance():
    distance, x = PerceptualDistance(load_evaluator(FASHION_EVALUATOR)), shapes()
    recon_a = blurred(x, 2).clone().requires_grad_(True)
    perceptual_term(distance(recon_a, x), 28 * 28).backward()
    recon_b = blurred(x, 2).clone().requires_grad_(True)
    (28 * 28 / 2 * torch.log(distance(recon_b, x).mean())).backward()
    torch.testing.assert_close(recon_a.grad, recon_b.grad, rtol=1e-4, atol=1e-8)


def test_an_evaluator_of_other_images_or_none_at_all_is_refused():
    with pytest.raises(VaelabError, match="takes 1×28×28 images, the model makes 3×64×64"):
        perceptual_distance_for(str(FASHION_EVALUATOR), "emoji", 3, (64, 64))
    with pytest.raises(VaelabError, match="has no shipped evaluator: give --perceptual-evaluator FOLDER"):
        perceptual_distance_for(None, "mnist:/somewhere", 1, (28, 28))
    with pytest.raises(VaelabError, match="give --perceptual too"):
        TrainConfig(perceptual_evaluator=str(FASHION_EVALUATOR))
    with pytest.raises(VaelabError, match="perceptual weight must be 0"):
        TrainConfig(perceptual=-1)
    assert not TrainConfig(perceptual=1).elbo_objective


def test_train_with_perceptual_checks_its_evaluator_first_then_trains_with_it(tmp_path, toy_idx_dir, capsys):
    data, out = f"mnist:{toy_idx_dir}", tmp_path / "run"
    # toy data has no shipped evaluator: refused in one line, before the run folder exists
    assert main(["train", "--data", data, "--out", str(out), "--perceptual", "1", *SMALL_FLAGS]) == 2
    err = capsys.readouterr().err
    assert "--perceptual-evaluator FOLDER" in err and err.count("\n") == 1 and not out.exists()
    flags = ["--perceptual", "0.5", "--perceptual-evaluator", str(FASHION_EVALUATOR), "--epochs", "1"]
    assert main(["train", "--data", data, "--out", str(out), *flags, *SMALL_FLAGS]) == 0
    training = json.loads((out / "config.json").read_text())["training"]
    assert training["perceptual"] == 0.5 and training["perceptual_evaluator"] == str(FASHION_EVALUATOR.resolve())
    from vaelab.tasks.report import model_card

    objective = [
        t for t in model_card(json.loads((out / "config.json").read_text()), None).values() if "objective" in t
    ]
    assert f"perceptual distance × 0.5 in the features of {FASHION_EVALUATOR.resolve()}" in objective[0]["objective"]
    # a resume keeps the term: another weight is refused
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--perceptual", "1", "--quiet"]) == 2
    assert "--perceptual 1.0 (the run's: 0.5)" in capsys.readouterr().err
