"""Sharpness and realism numbers: the sharpness ratio, KID and the Fréchet distance, on planted data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from vaelab.metrics.realism import frechet_distance, kid, standardise
from vaelab.metrics.reconstruction import edge_fidelity, sharpness_ratio


def _textured(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, 24, 24))


def test_sharpness_is_one_for_identical_images_and_falls_with_blur():
    x = _textured()
    assert sharpness_ratio(x, x.copy()) == pytest.approx(1.0)
    slightly = gaussian_filter(x, sigma=(0, 0, 0.7, 0.7))
    much = gaussian_filter(x, sigma=(0, 0, 2.0, 2.0))
    assert 1 > sharpness_ratio(x, slightly) > sharpness_ratio(x, much) > 0
    assert sharpness_ratio(x, np.clip(x + np.random.default_rng(1).normal(0, 0.3, x.shape), 0, 1)) > 1  # noise


def test_sharpness_of_flat_images():
    flat = np.full((2, 1, 8, 8), 0.5)
    assert sharpness_ratio(flat, flat) == 1.0 and sharpness_ratio(flat, _textured(2)[:, :1, :8, :8]) == math.inf


def test_edge_fidelity_is_one_for_identical_images_and_falls_with_blur():
    x = _textured()
    assert edge_fidelity(x, x.copy()) == pytest.approx(1.0)
    slightly = gaussian_filter(x, sigma=(0, 0, 0.7, 0.7))
    much = gaussian_filter(x, sigma=(0, 0, 2.0, 2.0))
    assert 1 > edge_fidelity(x, slightly) > edge_fidelity(x, much) > 0
    assert edge_fidelity(x, np.full_like(x, 0.5)) == 0.0  # no edges at all
    assert math.isnan(edge_fidelity(np.full((2, 1, 8, 8), 0.5), x[:2, :1, :8, :8]))  # no edges to carry


@pytest.mark.parametrize("seed", range(5))
def test_edge_fidelity_is_not_raised_by_zero_mean_noise_while_sharpness_is(seed):
    """Noise that does not follow the originals' edges adds to their Laplacian's energy (sharpness) but only its
    chance correlation with their edges to edge fidelity: about 0 over 10,000 pixels."""
    x = _textured()
    blurred = gaussian_filter(x, sigma=(0, 0, 0.6, 0.6))  # keeps about 0.28 of the edges
    noisy = blurred + np.random.default_rng(seed).normal(0, 0.15, x.shape)
    assert sharpness_ratio(x, noisy) > 3 * sharpness_ratio(x, blurred)
    assert edge_fidelity(x, noisy) == pytest.approx(edge_fidelity(x, blurred), abs=0.03)
    assert 0.2 < edge_fidelity(x, blurred) < 0.4


def test_kid_is_about_zero_for_one_distribution_and_clearly_above_for_a_shifted_one():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(800, 16)), rng.normal(size=(800, 16))
    same = kid(a, b, subsets=20, subset_size=400)
    shifted = kid(a, b + 0.5, subsets=20, subset_size=400)
    assert abs(same["kid"]) < 3 * same["kid_std"] + 0.01
    assert shifted["kid"] > 20 * max(abs(same["kid"]), same["kid_std"])
    assert shifted["subset_size"] == 400


def test_kid_needs_two_images_a_side():
    with pytest.raises(ValueError, match="at least 2"):
        kid(np.zeros((1, 4)), np.zeros((5, 4)))


def test_the_frechet_distance_of_a_shift_is_its_squared_length_and_zero_for_the_same_set():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([0.5, -1.0] + [0.0] * 6)
    assert frechet_distance(a, a + shift) == pytest.approx((shift**2).sum(), rel=1e-6)
    dead = np.hstack([a, np.zeros((4000, 3))])  # features that never vary: a singular covariance, still finite
    assert frechet_distance(dead, dead + np.r_[shift, 0, 0, 0]) == pytest.approx(1.25, rel=1e-6)


def test_standardising_uses_the_reference_statistics_for_every_set():
    rng = np.random.default_rng(0)
    ref, other = rng.normal(3.0, 2.0, (500, 4)), rng.normal(3.0, 2.0, (500, 4))
    ref_s, other_s = standardise(ref, other)
    np.testing.assert_allclose(ref_s.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(ref_s.std(0), 1, atol=1e-12)
    np.testing.assert_allclose(other_s, (other - ref.mean(0)) / ref.std(0))
