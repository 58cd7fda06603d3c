"""The fitted code density: choosing its components, its file, sampling from it, and the novelty of samples."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaelab.errors import VaelabError
from vaelab.latent.density import GaussianMixture, choose_mixture, sample_mixture
from vaelab.metrics.novelty import novelty
from vaelab.models.density import DENSITY_NAME, SAMPLES_NAME, read_density, save_density

SRC = Path(__file__).resolve().parent.parent / "src"


def blob(n: int, d: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def clusters(n: int, k: int = 8, d: int = 4, seed: int = 0) -> np.ndarray:
    """n codes in k tight, well-separated clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 10
    return centres[rng.integers(k, size=n)] + 0.1 * rng.standard_normal((n, d))


def some_mixture(d: int = 3) -> GaussianMixture:
    return GaussianMixture(
        np.array([0.25, 0.75]), np.array([[5.0] * d, [-5.0] * d]), np.stack([np.eye(d) * 0.01, np.eye(d) * 0.04])
    )


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path) -> Path:
    """A copy of the tiny model folder, which a test may give a density."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def test_clustered_codes_get_more_components_than_one_gaussian_blob():
    candidates = (1, 4, 8)
    assert choose_mixture(blob(400), candidates, seed=0).n_components == 1
    assert choose_mixture(clusters(400), candidates, seed=0).n_components == 8


def test_component_counts_past_the_codes_are_not_tried():
    choice = choose_mixture(blob(20), (1, 10, 50), seed=0)
    assert sorted(choice.held_out_log_likelihood) == [1]  # 16 fitting codes give 10 components under 2 each


def test_mixture_samples_are_seeded_and_follow_the_weights():
    mixture = some_mixture()
    a, b = sample_mixture(mixture, 2000, seed=3), sample_mixture(mixture, 2000, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, sample_mixture(mixture, 2000, seed=4))
    near_first = (a[:, 0] > 0).mean()
    assert 0.22 < near_first < 0.28  # the first component weighs 1/4
    np.testing.assert_allclose(a[a[:, 0] > 0].std(0), 0.1, rtol=0.15)


def test_density_round_trips_through_its_file(model_copy):
    mixture = some_mixture(8)
    save_density(model_copy, mixture, {"data": "toy", "components": 2})
    read, header = read_density(model_copy)
    for name in ("weights", "means", "covariances"):  # stored in float32, read back in float64
        assert getattr(read, name).dtype == np.float64
        np.testing.assert_allclose(getattr(read, name), getattr(mixture, name), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(sample_mixture(read, 500, seed=1), sample_mixture(mixture, 500, seed=1), atol=1e-5)
    assert header["data"] == "toy" and header["components"] == 2
    k, d = mixture.means.shape
    assert (model_copy / DENSITY_NAME).stat().st_size < 4 * (k + k * d + k * d * d) + 4096  # float32 on disk
    assert not list(model_copy.glob(f".{DENSITY_NAME}*"))  # no temp file left behind


def test_a_density_fitted_on_other_weights_is_refused_in_one_line(model_copy):
    save_density(model_copy, some_mixture(8), {"data": "toy"})
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")  # another training state of the model
    with pytest.raises(VaelabError, match="other weights.*vaelab fit-density") as e:
        read_density(model_copy)
    assert "\n" not in str(e.value)


def test_a_density_file_is_not_pickle(model_copy):
    save_density(model_copy, some_mixture(8), {"data": "toy"})
    raw = (model_copy / DENSITY_NAME).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    assert json.loads(header["__metadata__"]["vaelab"])["weights_id"]


def test_asking_for_density_samples_without_a_density_names_fit_density(model_copy):
    from vaelab.models.runtime import open_model

    m = open_model(model_copy, "onnx")
    assert m.sample_source() == "prior"
    with pytest.raises(VaelabError, match="vaelab fit-density"):
        m.sample(4, source="density")


def test_fit_density_chooses_writes_and_makes_density_the_default_source(model_copy, toy_idx_dir):
    from vaelab.models.runtime import open_model
    from vaelab.tasks.density import fit_density, write_density

    result = fit_density(model_copy, data=f"mnist:{toy_idx_dir}", candidates=(1, 3), seed=0, progress=False)
    write_density(result)
    assert set(result.choice.held_out_log_likelihood) == {1, 3}
    m = open_model(model_copy, "onnx")
    assert m.sample_source() == "density"
    images = m.sample(6, seed=1)
    assert images.shape == (6, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    from vaelab.data.images import image_grid

    grid = np.asarray(image_grid(m.sample(64, seed=0), nrow=8, scale=3))  # samples.png: the density's, as drawn
    assert result.samples == model_copy / SAMPLES_NAME
    np.testing.assert_array_equal(np.asarray(Image.open(result.samples)), grid)


def test_sampling_is_seeded_and_runs_on_onnx_without_torch(model_copy):
    save_density(model_copy, some_mixture(8), {"data": "toy"})
    script = f"""
import sys, numpy as np, vaelab
m = vaelab.open_model({str(model_copy)!r}, backend="onnx")
a, b = m.sample(5, seed=7), m.sample(5, seed=7)
prior = m.sample(5, seed=7, source="prior")
assert a.shape == (5, 1, 28, 28) and np.array_equal(a, b) and not np.array_equal(a, prior)
assert not np.array_equal(a, m.sample(5, seed=8))
print("torch" in sys.modules, "sklearn" in sys.modules)
"""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_novelty_flags_a_density_that_copies_the_training_codes():
    rng = np.random.default_rng(0)
    train, test = rng.standard_normal((500, 8)), rng.standard_normal((200, 8))
    d = train.shape[1]
    copier = GaussianMixture(np.full(len(train), 1 / len(train)), train, np.tile(np.eye(d) * 1e-6, (len(train), 1, 1)))
    honest = GaussianMixture(np.ones(1), train.mean(0, keepdims=True), np.cov(train, rowvar=False)[None])
    copied = novelty(sample_mixture(copier, 200, seed=1), train, test)
    fresh = novelty(sample_mixture(honest, 200, seed=1), train, test)
    assert copied["ratio"] < 0.05
    assert 0.8 < fresh["ratio"] < 1.25


def copying_density(model_dir: Path, data: str) -> np.ndarray:
    """Give the folder a density with a tiny component on every training code (one that only copies); returns the
    codes."""
    from vaelab.data.loaders import load_dataset
    from vaelab.models.runtime import encode_batched, open_model

    ds = load_dataset(data)
    codes = encode_batched(open_model(model_dir, "onnx"), ds.images[ds.split("train")], progress=False)
    n, d = codes.shape
    save_density(model_dir, GaussianMixture(np.full(n, 1 / n), codes, np.tile(np.eye(d) * 1e-8, (n, 1, 1))), {})
    return codes


def speckled_toy_data(folder: Path) -> str:
    """The toy shapes, with test images speckled so that none repeats a training image (the plain toy test split
    repeats most of them, which leaves test codes no distance to measure against)."""
    from conftest import toy_images, write_idx

    folder.mkdir()
    rng = np.random.default_rng(2)
    for prefix, n, seed in (("train", 300, 0), ("t10k", 60, 1)):
        x, y = toy_images(n, 28, seed)
        if prefix == "t10k":
            x = np.maximum(x, rng.integers(0, 2, x.shape, dtype=np.uint8) * 255 * (rng.random(x.shape) < 0.05))
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x.astype(np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
    return f"mnist:{folder}"


def test_evaluate_reports_the_novelty_of_prior_and_density_samples(model_copy, tmp_path):
    from vaelab.data.loaders import load_dataset
    from vaelab.metrics.evaluate import EvalConfig, evaluate_model, format_report
    from vaelab.models.registry import load

    data = speckled_toy_data(tmp_path / "speckled")
    copying_density(model_copy, data)
    cfg = EvalConfig(k=2, iwae_images=4, pairs=4, frames=3, prior_samples=40)
    report = evaluate_model(load(model_copy), load_dataset(data), None, cfg, folder=model_copy)
    novelty = report["novelty"]
    assert set(novelty) == {"prior", "density"}
    assert novelty["density"]["ratio"] < 0.05 < novelty["prior"]["ratio"]
    assert novelty["density"]["train_codes"] == 300 and novelty["density"]["test_codes"] == 40
    assert "density samples" in format_report(report)


def test_explore_draws_its_sample_grid_from_the_density_unless_told_prior(model_copy, toy_idx_dir):
    from vaelab.tasks.explore import explore

    data = f"mnist:{toy_idx_dir}"
    codes = copying_density(model_copy, data)
    kw = dict(data=data, split="test", max_points=50, max_dims=2, steps=3, grid=3, map_size=2, progress=False)
    dense = explore(model_copy, log=lambda *a: None, **kw)
    prior = explore(model_copy, log=lambda *a: None, sample_source="prior", **kw)
    assert dense.summary["samples"] == "density" and prior.summary["samples"] == "prior"
    assert dense.pictures.samples.shape == (9, 1, 28, 28)
    # the copying density's samples decode the training codes themselves
    from vaelab.models.runtime import open_model

    m = open_model(model_copy, "onnx")
    drawn = m.sample_codes(9, seed=0)
    assert np.abs(drawn[:, None] - codes[None]).max(-1).min(1).max() < 1e-3
    np.testing.assert_allclose(dense.pictures.samples, m.decode(drawn), atol=1e-5)


@pytest.mark.parametrize("name", ["fashion-mnist", "emoji"])
def test_the_shipped_models_carry_a_density_of_their_own_weights(name):
    from vaelab.models.runtime import open_model

    m = open_model(name, "onnx")
    assert m.sample_source() == "density"
    mixture, header = read_density(m.folder)
    assert header["data"] == name and mixture.n_components == header["components"] > 1
    assert m.sample_codes(3, seed=0).shape == (3, m.latent_dim)


def test_fit_density_command_prints_each_count_and_the_choice(model_copy, toy_idx_dir, capsys):
    from vaelab.cli import main

    args = ["fit-density", str(model_copy), "--data", f"mnist:{toy_idx_dir}", "--components", "1,3,500", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "← chosen" in out and "skipped 500" in out and (model_copy / DENSITY_NAME).is_file()
    with pytest.raises(SystemExit) as e:
        main(["fit-density", str(model_copy), "--components", "0"])
    assert e.value.code == 2 and "component counts" in capsys.readouterr().err


def test_the_studio_offers_the_prior_and_says_why_when_a_density_is_of_other_weights(model_copy):
    from safetensors.numpy import save_file

    from vaelab.studio.catalog import Entry
    from vaelab.studio.workspace import Workspace

    save_density(model_copy, some_mixture(8), {"data": "toy"})
    assert Workspace(Entry("m", model_copy, "given"), uploads=None).sample_sources()["sources"] == ["density", "prior"]
    arrays = {k: getattr(some_mixture(8), k) for k in ("weights", "means", "covariances")}
    save_file(arrays, str(model_copy / DENSITY_NAME), metadata={"vaelab": json.dumps({"weights_id": "0" * 16})})
    stale = Workspace(Entry("m", model_copy, "given"), uploads=None).sample_sources()
    assert stale["sources"] == ["prior"] and "vaelab fit-density" in stale["problem"]


def test_saving_new_weights_drops_a_density_of_the_old_ones_and_keeps_a_matching_one(model_copy):
    import torch

    from vaelab.models.registry import load

    model = load(model_copy)
    data = json.loads((model_copy / "config.json").read_text())["data"]
    save_density(model_copy, some_mixture(8), {"data": "toy"})
    (model_copy / SAMPLES_NAME).write_bytes(b"its grid")
    model.save_pretrained(model_copy, data, onnx=False)  # the same weights saved again: the density still fits
    assert read_density(model_copy)[0].means.shape == (2, 8) and (model_copy / SAMPLES_NAME).is_file()
    with torch.no_grad():
        next(model.parameters()).add_(0.01)  # as a resumed run trains on
    model.save_pretrained(model_copy, data, onnx=False)
    assert not (model_copy / DENSITY_NAME).exists()  # explore and evaluate then sample the prior, not refuse
    assert not (model_copy / SAMPLES_NAME).exists()  # and its grid goes with it


def test_a_density_is_not_written_beside_a_running_training_or_over_weights_that_changed(model_copy, toy_idx_dir):
    from vaelab.io.run_lock import run_folder_lock
    from vaelab.tasks.density import fit_density, write_density

    result = fit_density(model_copy, data=f"mnist:{toy_idx_dir}", candidates=(1,), seed=0, progress=False)
    hold = "import sys, time\nfrom vaelab.io.run_lock import run_folder_lock\n"
    hold += "with run_folder_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(model_copy)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(VaelabError, match=f"in use by another vaelab run \\(process {holder.pid}\\)"):
            write_density(result)
    finally:
        holder.kill()
        holder.wait()
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")  # trained on since the fit
    with pytest.raises(VaelabError, match="weights changed while the density was fitted"):
        write_density(result)
    assert not (model_copy / DENSITY_NAME).exists()
    with run_folder_lock(model_copy):  # and the refusals left the folder free
        pass


def test_the_fit_takes_a_seeded_subsample_of_at_most_max_codes_and_records_it(model_copy, toy_idx_dir):
    from vaelab.data.loaders import load_dataset
    from vaelab.latent.density import choose_mixture, subsample
    from vaelab.models.runtime import encode_batched, open_model
    from vaelab.tasks.density import fit_density, write_density

    folder, data = model_copy, f"mnist:{toy_idx_dir}"
    result = fit_density(folder, data=data, candidates=(1, 3), seed=2, progress=False, max_codes=50)
    write_density(result)
    header = read_density(folder)[1]
    assert (header["codes"], header["training_codes"], header["max_codes"], header["held_out_codes"]) == (
        50,
        300,
        50,
        10,
    )
    # the codes are those of the subsample's images, and the fit is the one those codes give
    ds = load_dataset(data)
    picked = ds.images[ds.split("train")[subsample(300, 50, seed=2)]]
    codes = encode_batched(open_model(folder), picked, progress=False)
    expected = choose_mixture(codes, (1, 3), seed=2).mixture
    np.testing.assert_allclose(result.choice.mixture.means, expected.means, rtol=1e-6, atol=1e-8)
    every = fit_density(folder, data=data, candidates=(1, 3), seed=2, progress=False, max_codes=None)
    assert every.codes == every.training_codes == 300 and every.choice.held_out_codes == 60
    with pytest.raises(VaelabError, match="at least 2 codes"):
        fit_density(folder, data=data, max_codes=1, progress=False)


def test_a_subsample_is_seeded_sorted_and_whole_when_the_set_is_small():
    from vaelab.latent.density import subsample

    a = subsample(1000, 100, seed=0)
    assert len(a) == len(set(a.tolist())) == 100 and (np.diff(a) > 0).all() and a.max() < 1000
    np.testing.assert_array_equal(a, subsample(1000, 100, seed=0))
    assert not np.array_equal(a, subsample(1000, 100, seed=1))
    assert 300 < a.mean() < 700  # spread over the set, not its start
    np.testing.assert_array_equal(subsample(80, 100), np.arange(80))
    np.testing.assert_array_equal(subsample(80, None), np.arange(80))


def test_fit_density_command_caps_the_codes_and_says_of_how_many(model_copy, toy_idx_dir, capsys):
    from vaelab.cli import build_parser, main
    from vaelab.latent.density import MAX_CODES

    folder = model_copy
    args = ["fit-density", str(folder), "--data", f"mnist:{toy_idx_dir}", "--components", "1,3", "--quiet"]
    assert main([*args, "--max-codes", "100"]) == 0
    out = capsys.readouterr().out
    assert f"fitted on 100 of 300 mnist:{toy_idx_dir} training codes (20 held out" in out
    assert f"64 samples drawn from it: {folder / SAMPLES_NAME}" in out
    assert read_density(folder)[1]["codes"] == 100
    assert build_parser().parse_args(["fit-density", str(folder)]).max_codes == MAX_CODES
    assert build_parser().parse_args(["fit-density", str(folder), "--max-codes", "0"]).max_codes is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fit-density", str(folder), "--max-codes", "1"])


def test_the_fit_shows_a_bar_counting_the_components_it_fits(capsys, monkeypatch):
    from vaelab.latent.density import choose_mixture

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    codes = np.random.default_rng(0).standard_normal((200, 3))
    choose_mixture(codes, (1, 4), progress=True)
    err = capsys.readouterr().err
    assert "fitting the density" in err and "component" in err
    choose_mixture(codes, (1, 4))
    assert "fitting the density" not in capsys.readouterr().err


def test_the_held_out_score_finds_many_small_clusters_in_many_dimensions():
    # 40 clusters of 60 codes in 64 dimensions, each spread along a few directions as a model's codes are: a
    # component fitted on so few codes is nearly singular, and without enough regularisation of its covariance the
    # held-out score of 25 or 50 components collapsed and 10 was chosen
    from vaelab.latent.density import choose_mixture

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1.5, (40, 64))
    codes = np.concatenate(
        [c + rng.normal(0, 1, (60, 8)) @ rng.normal(0, 0.4, (8, 64)) + rng.normal(0, 0.05, (60, 64)) for c in centres]
    )
    choice = choose_mixture(codes, seed=0)
    scores = choice.held_out_log_likelihood
    assert choice.mixture.n_components == 50, scores
    assert scores[50] > scores[25] > scores[10] > scores[1]
