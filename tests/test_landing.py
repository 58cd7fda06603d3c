"""Results of latent arithmetic are brought back to where the model's codes are before they are decoded: a code
already there stays, one planted far off comes back, and correction="none" decodes the plain sum."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import emoji_font_available
from vaelab.errors import VaelabError
from vaelab.latent.density import GaussianMixture, sample_mixture
from vaelab.latent.landing import (
    NORM_BAND,
    MixtureLogDensity,
    land_on_density,
    land_on_norm,
    mixture_norm,
    mixture_norm_band,
    norm_band,
    typical_log_density,
)

needs_font = pytest.mark.skipif(not emoji_font_available(), reason="needs Debian's fonts-noto-color-emoji")


def two_clusters(dim: int = 4) -> GaussianMixture:
    means = np.zeros((2, dim))
    means[0, 0], means[1, 0] = 3.0, -3.0
    return GaussianMixture(np.array([0.5, 0.5]), means, np.stack([np.eye(dim) * 0.25] * 2))


def test_norm_landing_keeps_a_code_on_the_shell_and_rescales_one_far_off():
    rng = np.random.default_rng(0)
    on_shell = rng.standard_normal(8)
    on_shell *= 5.0 / np.linalg.norm(on_shell)
    kept = land_on_norm(on_shell, 5.0)
    assert np.allclose(kept.code, on_shell) and kept.moved < 1e-9
    far = on_shell * 3.0
    back = land_on_norm(far, 5.0)
    assert np.isclose(np.linalg.norm(back.code), 5.0) and back.before == pytest.approx(15.0)
    assert np.allclose(back.code / 5.0, on_shell / 5.0)  # the same direction


def test_norm_landing_into_a_band_keeps_a_typical_norm_and_brings_others_to_the_nearer_end():
    rng = np.random.default_rng(1)
    unit = rng.standard_normal(8)
    unit /= np.linalg.norm(unit)
    for norm, expected in ((5.0, 5.0), (4.0, 4.0), (6.0, 6.0), (15.0, 6.0), (1.0, 4.0)):
        landed = land_on_norm(unit * norm, 4.0, 6.0)
        assert np.linalg.norm(landed.code) == pytest.approx(expected)
        assert np.allclose(landed.code / expected, unit)  # the same direction
        assert (landed.moved == 0.0) == (norm == expected)
    assert "kept" in land_on_norm(unit * 5.0, 4.0, 6.0).describe()
    assert "15.0 → 6.0" in land_on_norm(unit * 15.0, 4.0, 6.0).describe()
    codes = rng.standard_normal((4000, 8)) * np.linspace(1, 3, 4000)[:, None]
    lo, hi = norm_band(codes)
    norms = np.linalg.norm(codes, axis=1)
    assert np.mean((norms >= lo) & (norms <= hi)) == pytest.approx(NORM_BAND[1] - NORM_BAND[0], abs=0.002)


def test_density_landing_keeps_a_likely_code_and_brings_a_far_one_up_to_a_typical_log_density():
    mixture = two_clusters()
    log_p = MixtureLogDensity(mixture)
    target = typical_log_density(mixture)
    likely = mixture.means[0] + 0.1
    kept = land_on_density(likely, mixture, target)
    assert kept.moved == 0.0 and np.array_equal(kept.code, likely)
    far = np.array([3.0, 6.0, -5.0, 4.0])  # beside the first cluster, many of its spreads away
    assert log_p(far)[0] < target - 50
    back = land_on_density(far, mixture, target)
    assert back.after >= target and back.after == pytest.approx(log_p(back.code)[0])
    assert np.linalg.norm(back.code - mixture.means[0]) < np.linalg.norm(far - mixture.means[0])
    assert np.linalg.norm(back.code - mixture.means[0]) > 0.5  # it stops at the typical level, not at the mean


def test_the_typical_log_density_and_norm_are_those_of_the_mixtures_codes():
    mixture = two_clusters()
    codes = sample_mixture(mixture, 4000, seed=1)
    levels = MixtureLogDensity(mixture)(codes)
    assert abs(typical_log_density(mixture, 0.25) - np.quantile(levels, 0.25)) < 0.1
    assert abs(mixture_norm(mixture) - np.linalg.norm(codes, axis=1).mean()) < 0.05
    lo, hi = mixture_norm_band(mixture)
    norms = np.linalg.norm(codes, axis=1)
    assert abs(np.mean(norms < lo) - NORM_BAND[0]) < 0.01 and abs(np.mean(norms > hi) - (1 - NORM_BAND[1])) < 0.01


def test_arithmetic_lands_its_result_by_default_and_the_flag_turns_it_off():
    import vaelab
    from vaelab.tasks.arithmetic import combine_concepts
    from vaelab.tasks.concepts import Concept

    m = vaelab.open_model(None)  # the shipped Fashion-MNIST model, with its fitted density
    rng = np.random.default_rng(0)
    no_images = np.zeros((0, m.channels, *m.size), np.uint8)
    concepts = [(1.0, Concept(f"v{i}", no_images, rng.standard_normal((1, m.latent_dim)) * 4)) for i in range(3)]
    plain = sum(w * c.vector for w, c in concepts)

    off = combine_concepts(m, concepts, correction="none")
    assert off.correction == "none" and np.allclose(off.vector, plain, atol=1e-5)
    landed = combine_concepts(m, concepts)
    assert landed.correction == "norm" and np.allclose(landed.sum, plain, atol=1e-5)
    assert np.linalg.norm(landed.vector) == pytest.approx(mixture_norm_band(m.density())[1], rel=1e-4)  # its top
    assert np.linalg.norm(plain) > 1.3 * np.linalg.norm(landed.vector)  # the planted sum was far out
    climbed = combine_concepts(m, concepts, correction="density")
    assert climbed.landing.after > climbed.landing.before
    assert "log-density" in climbed.landing.describe()
    with pytest.raises(VaelabError, match="unknown correction"):
        combine_concepts(m, concepts, correction="shell")


def test_a_models_norm_band_is_measured_once_and_is_the_same_each_time(monkeypatch):
    import vaelab.tasks.arithmetic as arithmetic_task
    from vaelab.models.runtime import open_model

    m = open_model(None)  # the shipped Fashion-MNIST model, with its fitted density
    draws = []
    measure = arithmetic_task.mixture_norm_band
    monkeypatch.setattr(arithmetic_task, "mixture_norm_band", lambda d: draws.append(1) or measure(d))
    first = arithmetic_task.codes_norm_band(m)
    assert first == arithmetic_task.codes_norm_band(m) == mixture_norm_band(m.density())
    assert len(draws) == 1  # the studio's slider asks on every move: the mixture is sampled once per open model
    arithmetic_task.codes_norm_band(open_model(None))
    assert len(draws) == 2  # another open model measures its own


@needs_font
def test_the_demo_arithmetic_decodes_to_a_picture_the_evaluator_places_among_the_cooks():
    from vaelab.metrics.realism import evaluator_features, standardiser
    from vaelab.models.classifier import default_evaluator_for
    from vaelab.models.runtime import open_model
    from vaelab.tasks.arithmetic import arithmetic
    from vaelab.tasks.demo import EMOJI_ARITHMETIC
    from vaelab.tasks.encoding import load_model_dataset

    result = arithmetic("emoji", EMOJI_ARITHMETIC)
    assert result.correction == "norm"
    evaluator = default_evaluator_for("emoji")
    ds = load_model_dataset(open_model("emoji"))
    test = ds.split("test")
    reference = evaluator_features(evaluator, ds.images[test])
    scale = standardiser(reference)
    seen = scale(evaluator_features(evaluator, result.image[None]))[0]
    nearest = test[np.argmin(((scale(reference) - seen) ** 2).sum(1))]
    assert "cook" in ds.attributes["name"][nearest], ds.attributes["name"][nearest]
