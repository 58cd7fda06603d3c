"""Metrics: the IWAE bound against the ELBO and a closed-form likelihood, and sanity checks of every score
(a perfect input scores its best, a useless one its worst)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from torch import nn

from vaelab.data.loaders import load_dataset
from vaelab.latent.interpolate import lerp, slerp
from vaelab.metrics.activity import active_units
from vaelab.metrics.evaluate import json_safe, write_report
from vaelab.metrics.fidelity import class_histogram_scores, prior_sample_quality, semantic_fidelity
from vaelab.metrics.interpolation import interpolation_metrics, path_smoothness, prior_typicality, rises_monotonically
from vaelab.metrics.likelihood import elbo, iwae_bound
from vaelab.metrics.reconstruction import image_scores, reconstruction_metrics
from vaelab.models.base import LatentModel
from vaelab.models.config import ModelConfig
from vaelab.models.registry import load
from vaelab.training.classifier import ClassifierTrainConfig, train_classifier


@pytest.fixture(scope="module")
def toy(toy_idx_dir):
    return load_dataset(f"mnist:{toy_idx_dir}")


@pytest.fixture(scope="module")
def toy_evaluator(toy):
    model, _ = train_classifier(toy, None, ClassifierTrainConfig(epochs=2, batch_size=32, device="cpu"), progress=False)
    return model


# --- likelihood ---------------------------------------------------------------------------------------------


def test_iwae_is_at_least_the_elbo_and_tightens_as_k_grows(tiny_model_dir, toy):
    model = load(tiny_model_dir)
    x = toy.images[toy.split("test")[:40]]
    neg_elbo = elbo(model, x, seed=1)["neg_elbo"]
    ll = {k: iwae_bound(model, x, k=k, seed=1)["log_likelihood"] for k in (1, 10, 100)}
    assert ll[1] == pytest.approx(-neg_elbo, abs=0.05 * neg_elbo)  # IWAE_1 is an ELBO estimate
    assert ll[100] >= -neg_elbo
    assert ll[1] < ll[10] < ll[100]


class LinearGaussian(LatentModel):
    """p(z) = N(0, I), p(x|z) = N(Wz + b, σ²I): log p(x) = log N(x; b, WWᵀ + σ²I) in closed form.

    q(z|x) is the true posterior mean with a diagonal, doubled variance, so the ELBO is visibly loose."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor, sigma: float):
        d_x, d_z = w.shape
        super().__init__(ModelConfig(channels=1, height=1, width=d_x, latent_dim=d_z))
        self.w, self.b, self.sigma = nn.Parameter(w), nn.Parameter(b), sigma
        precision = torch.eye(d_z, dtype=w.dtype) + w.T @ w / sigma**2
        self.post_cov = torch.linalg.inv(precision)

    def encode(self, x):
        flat = x.flatten(1).to(self.w.dtype)
        mu = (flat - self.b) @ self.w @ self.post_cov.T / self.sigma**2
        logvar = torch.log(2 * torch.diagonal(self.post_cov)).expand_as(mu)
        return mu, logvar

    def decode_logits(self, z):
        return (z @ self.w.T + self.b).reshape(len(z), 1, 1, -1)

    def recon_nll(self, mean, x):
        d = mean[0].numel()
        sq = ((x.to(mean.dtype) - mean) ** 2).flatten(1).sum(1)
        return 0.5 * sq / self.sigma**2 + d * math.log(self.sigma) + 0.5 * d * math.log(2 * math.pi)


def test_iwae_with_large_k_recovers_the_closed_form_log_likelihood():
    g = torch.Generator().manual_seed(0)
    w = 0.5 * torch.randn(4, 2, generator=g, dtype=torch.float64)
    b, sigma = torch.full((4,), 0.5, dtype=torch.float64), 0.3
    model = LinearGaussian(w, b, sigma)
    images = np.random.default_rng(0).integers(0, 256, (16, 1, 1, 4)).astype(np.uint8)
    x = images.reshape(16, 4) / 255.0
    true = multivariate_normal(b.numpy(), (w @ w.T).numpy() + sigma**2 * np.eye(4)).logpdf(x).mean()
    loose = iwae_bound(model, images, k=1, seed=0)["log_likelihood"]
    tight = iwae_bound(model, images, k=5000, seed=0)["log_likelihood"]
    assert true - loose > 0.3  # the doubled variance makes the plain ELBO visibly loose ...
    assert abs(tight - true) < 0.1  # ... and 5000 importance samples close the gap


def test_iwae_of_a_plain_autoencoder_is_a_clear_error():
    from vaelab.errors import VaelabError
    from vaelab.models.registry import build_model

    ae = build_model(ModelConfig(kind="ae-mlp", latent_dim=2, hidden=(8,)))
    with pytest.raises(VaelabError, match="variational"):
        iwae_bound(ae, np.zeros((2, 1, 28, 28), np.uint8), k=2)


# --- reconstruction --------------------------------------------------------------------------------------


def test_identical_images_give_zero_mse_full_ssim_and_an_infinite_psnr_that_json_can_hold(tmp_path):
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    s = image_scores(x, x.copy())
    assert s["mse"] == 0.0 and s["ssim"] == pytest.approx(1.0) and s["exact"] == 3
    assert s["sharpness"] == pytest.approx(1.0) and s["edge_fidelity"] == pytest.approx(1.0)
    assert s["psnr"] == math.inf
    path = write_report({"reconstruction": s}, tmp_path / "eval.json")
    assert (
        json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))["reconstruction"][
            "psnr"
        ]
        == "inf"
    )


def test_psnr_matches_its_definition_and_exact_images_do_not_swamp_the_mean():
    x = np.zeros((2, 1, 8, 8))
    y = x.copy()
    y[0] += 0.1  # MSE 0.01 → PSNR = 10·log10(1 / 0.01) = 20 dB; image 1 is exact
    s = image_scores(x, y)
    assert s["psnr"] == pytest.approx(20.0)
    assert s["exact"] == 1 and s["mse"] == pytest.approx(0.005)


def test_ssim_of_two_flat_images_is_the_luminance_term_for_pixel_values_in_0_1():
    # flat images have no variance, so SSIM = (2ab + C1) / (a² + b² + C1) with C1 = (0.01 · data range)²
    a, b = np.full((1, 1, 28, 28), 0.2), np.full((1, 1, 28, 28), 0.6)
    c1 = 0.01**2
    assert image_scores(a, b)["ssim"] == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1), rel=1e-6)


def test_bits_per_dim_divide_the_nats_by_every_channel_and_pixel(tiny_model_dir, toy):
    from vaelab.metrics.likelihood import bits_per_dim

    assert bits_per_dim(192 * math.log(2), (3, 8, 8)) == pytest.approx(1.0)  # 3 channels count
    r = elbo(load(tiny_model_dir), toy.images[toy.split("test")[:20]])
    assert r["bits_per_dim"] == pytest.approx(r["neg_elbo"] / (784 * math.log(2)), rel=1e-6)


def test_ssim_ranks_a_blurred_copy_above_noise():
    rng = np.random.default_rng(0)
    x = np.zeros((1, 1, 28, 28))
    x[0, 0, 8:20, 8:20] = 1.0
    blurred = x.copy()
    blurred[0, 0, 7:21, 7:21] = np.maximum(blurred[0, 0, 7:21, 7:21], 0.5)
    noise = rng.random(x.shape)
    assert image_scores(x, blurred)["ssim"] > 0.5 > image_scores(x, noise)["ssim"]


def test_reconstruction_metrics_of_a_trained_model_beat_those_of_an_untrained_one(tiny_model_dir, toy):
    from vaelab.models.registry import build_model

    x = toy.images[toy.split("test")[:30]]
    trained = load(tiny_model_dir)
    torch.manual_seed(0)
    s, untrained = reconstruction_metrics(trained, x), reconstruction_metrics(build_model(trained.cfg), x)
    assert s["mse"] < untrained["mse"] and s["psnr"] > untrained["psnr"] and untrained["ssim"] < s["ssim"] <= 1


# --- interpolation ---------------------------------------------------------------------------------------


def test_identical_frames_are_perfectly_smooth_and_a_jump_is_not():
    frame = np.random.default_rng(0).random((1, 8, 8))
    assert path_smoothness(np.repeat(frame[None], 6, axis=0)) == 1.0
    even = np.stack([frame * t for t in np.linspace(0, 1, 6)])
    assert path_smoothness(even) == pytest.approx(1.0)
    jump = np.stack([frame * 0, frame * 0, frame * 0, frame])  # steps 0, 0, 1: max ÷ mean = 3
    assert path_smoothness(jump) == pytest.approx(3.0)


def test_lerp_midpoints_fall_off_the_prior_shell_and_slerp_stays_on_it():
    rng = np.random.default_rng(0)
    d = 512
    a, b = rng.standard_normal((2, 50, d))
    t = np.linspace(0, 1, 9)
    lin = prior_typicality(np.swapaxes(lerp(a, b, t), 0, 1))
    sph = prior_typicality(np.swapaxes(slerp(a, b, t), 0, 1))
    assert lin["norm_ratio_min"] == pytest.approx(math.sqrt(0.5), abs=0.03)  # independent ends: √(1/2)
    assert sph["norm_ratio_min"] == pytest.approx(1.0, abs=0.03)
    assert sph["log_density_mean"] == pytest.approx(sph["prior_log_density"], rel=0.05)
    # lerp's inner frames are *denser* than any prior sample would be: atypical, not better
    assert lin["log_density_mean"] > sph["prior_log_density"] + 50


def test_a_rise_with_a_dip_is_not_monotonic():
    assert rises_monotonically(np.array([0.1, 0.2, 0.2, 0.9]))
    assert not rises_monotonically(np.array([0.1, 0.5, 0.3, 0.9]))
    assert not rises_monotonically(np.array([0.5, 0.5, 0.5]))  # flat is no rise


def test_interpolation_metrics_on_a_trained_model(tiny_model_dir, toy):
    test = toy.split("test")
    r = interpolation_metrics(load(tiny_model_dir), toy.images[test], toy.labels[test], pairs=20, frames=9)
    assert r["pairs"] == 20 and "target_prob_curve" not in r["lerp"]  # no evaluator, no class curve
    for m in ("lerp", "slerp", "cdf"):
        assert r[m]["smoothness_mean"] >= 1.0
    assert r["slerp"]["norm_ratio_min"] > r["lerp"]["norm_ratio_min"]


def test_a_pixel_crossfade_raises_the_target_class_probability_monotonically(toy, toy_evaluator):
    # With the image as its own code, lerp is a crossfade from A to B: the evaluator sees A turn into B.
    test = toy.split("test")
    r = interpolation_metrics(
        Identity((1, 28, 28)), toy.images[test], toy.labels[test], toy_evaluator, pairs=30, frames=9, methods=("lerp",)
    )
    curve = r["lerp"]["target_prob_curve"]
    assert len(curve) == 9 and curve[0] < 0.1 and curve[-1] > 0.9
    assert r["lerp"]["monotonic_fraction"] > 0.8
    assert r["lerp"]["smoothness_mean"] == pytest.approx(1.0)  # a linear crossfade moves in equal pixel steps
    for row in ("lerp", "pixel-crossfade"):  # and the morph table's pixel column says so
        assert r[row]["pixel_step_deviation"] == pytest.approx(0.0, abs=1e-4)
    assert r["lerp"]["step_deviation"] > 0.05  # while the evaluator's features see uneven steps


# --- fidelity -------------------------------------------------------------------------------------------


class Identity(LatentModel):
    """A perfect 'autoencoder': the code is the image itself."""

    variational = False

    def __init__(self, shape):
        c, h, w = shape
        super().__init__(ModelConfig(channels=c, height=h, width=w, latent_dim=c * h * w))
        self.shape = shape
        self.dummy = nn.Parameter(torch.zeros(1))

    def encode(self, x):
        return x.flatten(1), None

    def decode(self, z):
        return z.reshape(len(z), *self.shape)


class Constant(Identity):
    """A useless one: every reconstruction is the same grey image."""

    def decode(self, z):
        return torch.full((len(z), *self.shape), 0.3)


def test_fidelity_is_one_for_a_perfect_model_and_near_chance_for_a_useless_one(toy, toy_evaluator):
    test = toy.split("test")
    x, y = toy.images[test], toy.labels[test]
    perfect = semantic_fidelity(Identity((1, 28, 28)), toy_evaluator, x, y)
    assert perfect["accuracy_original"] > 0.9
    assert perfect["fidelity"] == 1.0
    useless = semantic_fidelity(Constant((1, 28, 28)), toy_evaluator, x, y)
    # one class for every image: accuracy is that class's share, about 1/3 of the three toy classes
    assert useless["fidelity"] < 0.6


def test_class_histogram_coverage_is_one_for_balanced_and_zero_for_a_single_class():
    k = 4
    balanced = np.eye(k)[np.arange(400) % k]
    single = np.eye(k)[np.zeros(400, int)] * 0.7 + 0.3 / k
    b, s = class_histogram_scores(balanced, list("abcd")), class_histogram_scores(single)
    assert b["coverage"] == pytest.approx(1.0) and b["confidence"] == 1.0 and b["histogram"]["c"] == 0.25
    assert s["coverage"] == 0.0 and s["confidence"] == pytest.approx(0.775)


def test_prior_samples_are_seeded(tiny_model_dir, toy_evaluator):
    model = load(tiny_model_dir)
    a = prior_sample_quality(model, toy_evaluator, n=64, seed=3)
    assert a == prior_sample_quality(model, toy_evaluator, n=64, seed=3)
    assert 1 / 3 <= a["confidence"] <= 1 and sum(a["histogram"].values()) == pytest.approx(1.0)


# --- active units ---------------------------------------------------------------------------------------


class HalfDead(Identity):
    """Codes whose odd dimensions never move with the input."""

    variational = True

    def encode(self, x):
        mu = x.flatten(1)[:, :6].clone() * 3
        mu[:, 1::2] = 0.5
        return mu, torch.zeros_like(mu)


def test_active_units_count_only_dimensions_that_move_with_the_input(toy):
    x = toy.images[toy.split("test")]
    x[:, :, 0, :6] = np.random.default_rng(0).integers(0, 256, (len(x), 1, 6))
    r = active_units(HalfDead((1, 28, 28)), x)
    assert r["active"] == 3 and r["latent_dim"] == 6


def test_json_safe_turns_every_non_finite_float_into_a_string():
    assert json_safe({"a": [math.inf, -math.inf, math.nan, np.float32(1.5)]}) == {"a": ["inf", "-inf", "nan", 1.5]}


def test_float_images_in_unit_range_score_as_their_uint8_originals_and_are_left_untouched(tiny_model_dir, toy):
    model = load(tiny_model_dir)
    images = toy.images[toy.split("test")][:50]
    floats = images.astype(np.float32) / 255
    kept = floats.copy()
    assert elbo(model, floats) == pytest.approx(elbo(model, images), rel=1e-6)
    assert reconstruction_metrics(model, floats) == pytest.approx(reconstruction_metrics(model, images), rel=1e-5)
    assert active_units(model, floats)["active"] == active_units(model, images)["active"]
    np.testing.assert_array_equal(floats, kept)  # the caller's array was not scaled in place
    from vaelab.errors import VaelabError

    with pytest.raises(VaelabError, match="float images must lie in \\[0,1\\].*from 0 to 255"):
        elbo(model, images.astype(np.float32))


def test_scoring_leaves_the_training_noise_stream_where_it_was(tiny_model_dir, toy):
    model = load(tiny_model_dir)
    torch.manual_seed(5)
    expected = torch.randn(3)
    torch.manual_seed(5)
    first = elbo(model, toy.images[:20], seed=1)
    assert torch.equal(torch.randn(3), expected)
    assert elbo(model, toy.images[:20], seed=1) == first  # and its own noise is the same every time


def test_integer_images_scale_like_uint8_and_a_bicubic_overshoot_is_clipped(tiny_model_dir, toy):
    model = load(tiny_model_dir)
    images = toy.images[toy.split("test")][:20]
    assert elbo(model, images.astype(np.int64)) == pytest.approx(elbo(model, images), rel=1e-6)
    floats = images.astype(np.float32) / 255
    overshoot = floats.copy()
    overshoot[:, :, 0, 0] = np.where(floats[:, :, 0, 0] > 0.5, 1.04, -0.02)  # what a bicubic resize can leave
    clipped = np.clip(overshoot, 0, 1)
    assert elbo(model, overshoot) == pytest.approx(elbo(model, clipped), rel=1e-6)


def test_scoring_on_a_gpu_forks_that_gpus_generator_too(monkeypatch):
    import contextlib

    from vaelab.training import evaluation

    forked = []

    @contextlib.contextmanager
    def recording_fork(devices=None, **kw):
        forked.append(list(devices))
        yield

    monkeypatch.setattr(torch.random, "fork_rng", recording_fork)
    monkeypatch.setattr(torch, "manual_seed", lambda seed: None)  # no GPU here to seed
    with evaluation.seeded_rng(3, "cuda:1"):
        pass
    with evaluation.seeded_rng(3, "cpu"):
        pass
    assert forked == [[1], []]  # the old code forked the CPU generator only, and reseeded every GPU's


def test_a_cycle_vae_prior_sample_takes_s_from_an_image_and_only_z_from_the_prior(toy, toy_evaluator):
    from vaelab.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(
        ModelConfig(kind="cycle-vae", latent_dim=6, specified_dim=2, widths=(4, 8), likelihood="gaussian")
    ).eval()
    images = toy.images[toy.split("test")[:5]]
    decoded = []
    real = model.decode
    model.decode = lambda z: decoded.append(z.clone()) or real(z)
    r = prior_sample_quality(model, toy_evaluator, n=40, seed=3, images=images)
    codes = torch.cat(decoded).numpy()
    with torch.no_grad():
        s_of_images = model.embed(torch.from_numpy(images).float() / 255).numpy()[:, -2:]
    # every sample's s is one of the five images' s, and they are not all the same image's
    nearest = np.abs(codes[:, None, -2:] - s_of_images[None]).max(-1).min(1)
    assert nearest.max() < 1e-5 and len({tuple(np.round(c, 4)) for c in codes[:, -2:]}) > 1
    np.testing.assert_array_equal(
        codes[:, :4], np.random.default_rng(3).standard_normal((40, 6))[:, :4].astype(np.float32)
    )  # z: the seeded prior draw
    assert r["s_from"] == "images" and r["n"] == 40
    with pytest.raises(ValueError, match="need images"):
        prior_sample_quality(model, toy_evaluator, n=4)
