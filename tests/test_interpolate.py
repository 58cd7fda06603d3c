"""lerp / slerp / cdf and multi-point paths."""

from __future__ import annotations

import numpy as np
import pytest

from vaelab.errors import VaelabError
from vaelab.latent.interpolate import cdf_lerp, lerp, path, slerp


def test_path_shares_frames_by_length_and_rounds_by_largest_remainder():
    # segments of length 1 and 2.4: 9 frames give 8 steps, 2.35 and 5.65 by length; 2 + 6 by largest remainder
    out = path(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.4]]), 9, "lerp")
    np.testing.assert_allclose(out[:3, 0], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(np.diff(out[2:, 1]), 0.4)


def test_slerp_towards_the_origin_is_a_straight_line():
    a = np.array([3.0, 4.0])
    np.testing.assert_allclose(slerp(a, 0 * a, 0.5), 0.5 * a)


RNG = np.random.default_rng(0)


def _angle(u, v):
    return np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))


def test_slerp_hits_both_endpoints_exactly():
    a, b = RNG.normal(size=16), RNG.normal(size=16) * 3
    out = slerp(a, b, [0.0, 1.0])
    np.testing.assert_allclose(out[0], a, atol=1e-12)
    np.testing.assert_allclose(out[1], b, atol=1e-12)


def test_slerp_moves_at_constant_angular_speed_and_linear_norm():
    a, b = RNG.normal(size=32), RNG.normal(size=32) * 2.5
    pts = slerp(a, b, np.linspace(0, 1, 11))
    steps = [_angle(pts[i], pts[i + 1]) for i in range(10)]
    np.testing.assert_allclose(steps, _angle(a, b) / 10, rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1), np.linspace(np.linalg.norm(a), np.linalg.norm(b), 11))


@pytest.mark.parametrize("angle_from_opposite", [1e-3, 1e-5, 1e-7])
def test_slerp_of_nearly_opposite_unequal_endpoints_stays_between_their_norms(angle_from_opposite):
    """The textbook formula on unequal norms bulges like |a|−|b| over (π − Ω): 10⁵ times the norms at 10⁻⁵."""
    a = np.array([1.0, 0.0, 0.0])
    b = 2.0 * np.array([-np.cos(angle_from_opposite), np.sin(angle_from_opposite), 0.0])
    norms = np.linalg.norm(slerp(a, b, np.linspace(0, 1, 9)), axis=-1)
    np.testing.assert_allclose(norms, np.linspace(1, 2, 9), rtol=1e-9)


def test_slerp_keeps_norm_of_equal_norm_endpoints():
    a, b = RNG.normal(size=64), RNG.normal(size=64)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    norms = np.linalg.norm(slerp(a, b, np.linspace(0, 1, 25)), axis=-1)
    np.testing.assert_allclose(norms, np.linalg.norm(a), rtol=1e-10)


def test_slerp_midpoint_of_prior_samples_stays_nearer_the_shell_than_lerp():
    d = 128
    z = np.random.default_rng(1).normal(size=(200, 2, d))
    shell = np.sqrt(d)
    s_err = np.abs(np.linalg.norm(slerp(z[:, 0], z[:, 1], 0.5), axis=-1) - shell)
    l_err = np.abs(np.linalg.norm(lerp(z[:, 0], z[:, 1], 0.5), axis=-1) - shell)
    assert np.median(s_err) < 0.25 * np.median(l_err)
    assert (s_err < l_err).mean() > 0.95


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_slerp_parallel_and_antipodal_endpoints_give_no_nan(sign):
    a = np.array([1.0, 2.0, -0.5, 0.0])
    b = sign * 2.0 * a
    out = slerp(a, b, np.linspace(0, 1, 9))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0], a, atol=1e-9)
    np.testing.assert_allclose(out[-1], b, atol=1e-9)
    if sign < 0:  # turns round a half circle: the middle is orthogonal to a, its norm the mean of the norms
        assert abs(out[4] @ a) < 1e-9
        assert np.linalg.norm(out[4]) == pytest.approx(1.5 * np.linalg.norm(a))


def test_t_is_clipped_to_the_unit_interval():
    a, b = np.ones(3), -np.ones(3) + np.array([0, 0, 3.0])
    np.testing.assert_allclose(slerp(a, b, [-1.0, 2.0]), [a, b], atol=1e-12)
    np.testing.assert_allclose(lerp(a, b, 5.0), b)


def test_cdf_lerp_endpoints_and_uniform_space_midpoint():
    from scipy.stats import norm

    a, b = np.array([-1.0, 0.5, 2.0]), np.array([1.0, 0.5, -2.0])
    out = cdf_lerp(a, b, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(out[0], a, atol=1e-9)
    np.testing.assert_allclose(out[2], b, atol=1e-9)
    np.testing.assert_allclose(out[1], norm.ppf((norm.cdf(a) + norm.cdf(b)) / 2), atol=1e-9)


@pytest.mark.parametrize("frames", range(4, 30))
def test_cdf_lerp_keeps_far_out_endpoints_and_stays_monotone(frames):
    a, b = np.array([-9.0, 8.0, 6.0, 0.0, -30.0]), np.array([20.0, -3.0, 0.5, 1.0, -29.0])
    out = cdf_lerp(a, b, np.linspace(0, 1, frames))
    np.testing.assert_array_equal(out[[0, -1]], [a, b])
    assert np.isfinite(out).all()
    steps = np.diff(out, axis=0) * np.sign(b - a)
    assert (steps >= -1e-9).all()  # each coordinate moves one way only, with no jump to a clipped value
    np.testing.assert_allclose(cdf_lerp(-a, -b, 0.3), -cdf_lerp(a, b, 0.3))  # the formula's own symmetry


@pytest.mark.parametrize("frames", range(4, 30))
def test_path_keeps_every_waypoint_when_short_segments_sit_beside_a_long_one(frames):
    pts = np.array([[0.0, 0.0], [0.1, 0.0], [0.2, 0.0], [10.0, 0.0]])
    out = path(pts, frames, method="lerp")
    assert len(out) == frames
    assert all(np.any(np.all(np.isclose(out, p), axis=1)) for p in pts)
    assert np.all(np.diff(out[:, 0]) > 0)


def test_path_visits_every_waypoint_and_spreads_frames_by_length():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 3.0]])
    out = path(pts, frames=9, method="lerp")
    assert len(out) == 9
    np.testing.assert_allclose(out[0], pts[0])
    np.testing.assert_allclose(out[-1], pts[2])
    assert any(np.allclose(o, pts[1]) for o in out)
    steps = np.linalg.norm(np.diff(out, axis=0), axis=1)
    np.testing.assert_allclose(steps, 0.5, rtol=1e-9)  # 1 + 3 = 4 units over 8 even steps


def test_closed_path_returns_towards_the_start_without_repeating_it():
    pts = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    out = path(pts, frames=12, method="slerp", closed=True)
    assert len(out) == 12
    assert not np.allclose(out[-1], out[0])
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0)  # stays on the unit circle


def test_path_with_too_few_frames_is_an_error():
    with pytest.raises(VaelabError, match="too few"):
        path(np.eye(3), frames=2, method="lerp")
