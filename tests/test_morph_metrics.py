"""The morph metrics (path length, step deviation) on planted feature sequences, the cross-fade baselines, and the
even perceptual spacing of `vaelab morph --spacing even`."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from tests.conftest import fashion_mnist_available

from vaelab.errors import VaelabError
from vaelab.metrics.interpolation import crossfade
from vaelab.metrics.paths import (
    even_codes,
    even_times,
    path_length,
    retime,
    shared_steps,
    step_deviation,
    step_distances,
)


def test_the_path_metrics_are_exact_on_planted_features():
    even = np.arange(6, dtype=float)[:, None] * np.array([[3.0, 4.0]])  # five steps of length 5
    np.testing.assert_allclose(step_distances(even), [5.0] * 5)
    assert path_length(even) == pytest.approx(25.0)
    assert step_deviation(even) == pytest.approx(0.0, abs=1e-12)
    jumpy = np.array([[0.0], [1.0], [2.0], [12.0]])  # steps 1, 1, 10
    assert path_length(jumpy) == pytest.approx(12.0)
    assert step_deviation(jumpy) == pytest.approx(np.std([1, 1, 10]) / 4.0)
    assert step_deviation(np.zeros((5, 3))) == 0.0  # a path that does not move is even


def test_even_spacing_moves_frames_into_a_jump():
    # a dense path of 7 points whose fourth step covers ten times the distance of each other
    distances = np.array([1.0, 1.0, 1.0, 10.0, 1.0, 1.0])
    t = even_times(distances, 9)
    assert t[0] == 0.0 and t[-1] == 1.0 and np.all(np.diff(t) > 0)
    inside = ((t > 3 / 6) & (t < 4 / 6)).sum()  # frames strictly inside the jump's segment
    assert inside >= 4  # evenly in t it would hold one (t = 0.5 is its start)
    dense = np.linspace(0, 1, 7)[:, None] * np.array([[2.0, -1.0]])
    codes = retime(dense, distances, 9)
    np.testing.assert_allclose(codes[[0, -1]], dense[[0, -1]])  # the ends exactly
    np.testing.assert_allclose(even_times(np.zeros(4), 5), np.linspace(0, 1, 5))  # a still path keeps even t


def test_shared_steps_average_each_eyes_shares_and_ignore_a_still_one():
    pixels, features = np.array([1.0, 1.0, 2.0]), np.array([10.0, 30.0, 0.0])
    np.testing.assert_allclose(shared_steps([pixels]), pixels / 4.0)
    np.testing.assert_allclose(shared_steps([pixels, features]), 0.5 * pixels / 4.0 + 0.5 * features / 40.0)
    np.testing.assert_allclose(shared_steps([pixels, features], (3, 1)), 0.75 * pixels / 4.0 + 0.25 * features / 40.0)
    np.testing.assert_allclose(shared_steps([pixels, np.zeros(3)]), 0.5 * pixels / 4.0)  # a still eye adds nothing


class _LineDecoder:
    """A stand-in model whose decoded "image" of a 1-D code t is [t, t³]: its pixels' first half moves evenly in t,
    its second half (the "features" below look only at it) mostly near t = 1."""

    channels, size = 1, (1, 2)

    def decode(self, z):
        t = np.asarray(z, np.float32)[:, :1]
        return np.concatenate([t, t**3], axis=1).reshape(-1, 1, 1, 2)


def test_even_codes_compromise_between_pixels_and_features():
    dense = np.linspace(0, 1, 200)[:, None]
    m = _LineDecoder()
    late = lambda x: x.reshape(len(x), -1)[:, 1:] * 50  # noqa: E731 (an eye for the cubed half, on its own scale)

    def deviations(codes):
        x = m.decode(codes)
        return step_deviation(x.reshape(len(x), -1)), step_deviation(late(x))

    latent = deviations(np.linspace(0, 1, 12)[:, None])
    pixel_only, measured = even_codes(m, dense, 12)
    assert measured == "pixels"
    both, measured = even_codes(m, dense, 12, late)
    assert measured == "the evaluator's features and pixels"
    assert np.all(np.diff(both[:, 0]) > 0) and both[0, 0] == 0.0 and both[-1, 0] == pytest.approx(1.0)
    in_pixels, in_features = deviations(both)
    assert in_pixels < latent[0] and in_features < 0.5 * latent[1]  # both eyes see steadier steps than latent's
    assert in_features < deviations(pixel_only)[1]  # and the features more than with the pixels alone


def test_the_crossfade_baseline_is_the_pixel_mixture():
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 1, 4, 4)), rng.random((2, 1, 4, 4))
    t = np.array([0.0, 0.25, 1.0])
    x = crossfade(a, b, t)
    assert x.shape == (2, 3, 1, 4, 4)
    np.testing.assert_allclose(x[:, 1], 0.75 * a + 0.25 * b, rtol=1e-6)
    np.testing.assert_allclose(x[:, 0], a, rtol=1e-6)
    np.testing.assert_allclose(x[:, 2], b, rtol=1e-6)


needs_data = pytest.mark.skipif(not fashion_mnist_available(), reason="needs Debian's dataset-fashion-mnist")


@needs_data
def test_even_spacing_halves_the_step_deviation_on_the_shipped_model_and_keeps_the_ends():
    from vaelab.models.runtime import open_model
    from vaelab.tasks.encoding import load_model_dataset
    from vaelab.tasks.morph import perceptual_features, run_morph

    m = open_model("fashion-mnist")
    features = perceptual_features(m)
    assert features is not None  # the shipped evaluator's features.onnx
    ds = load_model_dataset(m)
    pairs = np.random.default_rng(0).choice(ds.split("test"), (10, 2), replace=False)

    def deviation(result):
        x = np.stack([np.asarray(f, np.float32)[None] / 255.0 for f in result.frames])
        return step_deviation(features(x))

    latent, even, latent_px, even_px = [], [], [], []
    for a, b in pairs:
        r_lat = run_morph(m, images=[ds.images[a], ds.images[b]], frames=16)
        r_even = run_morph(m, images=[ds.images[a], ds.images[b]], frames=16, spacing="even")
        np.testing.assert_allclose(r_even.latents[[0, -1]], r_lat.latents[[0, -1]], atol=1e-6)
        latent.append(deviation(r_lat))
        even.append(deviation(r_even))
        latent_px.append(step_deviation(np.stack([np.asarray(f, np.float32) for f in r_lat.frames])))
        even_px.append(step_deviation(np.stack([np.asarray(f, np.float32) for f in r_even.frames])))
    assert np.mean(even) <= 0.5 * np.mean(latent), (np.mean(even), np.mean(latent))
    assert np.mean(even_px) <= 0.6 * np.mean(latent_px), (np.mean(even_px), np.mean(latent_px))  # a second eye too
    assert r_even.spacing == "even steps in the evaluator's features and pixels"


def test_even_spacing_without_an_evaluator_measures_pixels(tiny_model_dir, tmp_path):
    from PIL import Image

    from vaelab.tasks.morph import run_morph

    rng = np.random.default_rng(0)
    files = []
    for i in range(2):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(files[-1])
    r = run_morph(tiny_model_dir, images=files, frames=6, spacing="even")
    assert len(r.frames) == 6 and r.spacing == "even steps in pixels"
    with pytest.raises(VaelabError, match="unknown spacing 'evn'"):
        run_morph(tiny_model_dir, images=files, frames=6, spacing="evn")


@needs_data
def test_the_cli_morphs_with_even_spacing_and_never_imports_torch(tmp_path):
    code = (
        "import sys; from vaelab.cli import main; "
        "rc = main(['morph', 'fashion-mnist:test/0', 'fashion-mnist:test/1', '--model', 'fashion-mnist', "
        f"'--spacing', 'even', '--no-mp4', '--out', r'{tmp_path / 'm'}']); "
        "print('torch' in sys.modules); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "even steps in the evaluator's features" in proc.stdout and proc.stdout.strip().endswith("False")
    assert len(list((tmp_path / "m" / "frames").glob("*.png"))) == 24
