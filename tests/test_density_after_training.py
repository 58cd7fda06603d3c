"""A training run that finishes fits the density of its model's codes and draws samples.png from it, through one
path for `vaelab train` and `vaelab.train`; --no-density, Ctrl-C and the other processes of a torchrun leave it
out, and a resumed run fits it again for its new weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

import vaelab
from conftest import interrupt_at_step
from vaelab.cli import main
from vaelab.errors import VaelabError
from vaelab.models.config import weights_id
from vaelab.models.density import DENSITY_NAME, SAMPLES_NAME, read_density

SMALL = {"latent_dim": 4, "widths": (4, 8), "onnx": False}
SMALL_FLAGS = ["--latent", "4", "--widths", "4,8", "--no-onnx", "--quiet"]


def train_cli(data: str, out: Path, *flags: str) -> int:
    return main(["train", "--data", data, "--out", str(out), *SMALL_FLAGS, *flags])


def density_grid(folder: Path) -> np.ndarray:
    """The grid samples.png should hold: 64 samples of the folder's density, drawn as open_model(...).sample does."""
    from vaelab.data.images import image_grid

    samples = vaelab.open_model(folder).sample(64, seed=0, source="density")
    return np.asarray(image_grid(samples, nrow=8, scale=96 // 28))


def test_a_finished_run_holds_a_density_of_its_weights_and_a_grid_drawn_from_it(tmp_path, toy_idx_dir, capsys):
    from vaelab.tasks.density import fit_density

    out = tmp_path / "run"
    assert train_cli(f"mnist:{toy_idx_dir}", out, "--epochs", "2") == 0
    mixture, header = read_density(out)  # refused if it were of other weights than the folder's
    assert header["weights_id"] == weights_id(out) != ""
    assert header["codes"] == header["training_codes"] == 300 and header["max_codes"] == 20_000
    assert header["components"] == mixture.n_components and set(header["held_out_log_likelihood"]) == {
        "1",
        "10",
        "25",
        "50",
    }
    # the very density `vaelab fit-density RUN` fits, on the images the run trained on
    again = fit_density(out, progress=False).choice.mixture
    np.testing.assert_allclose(mixture.means, again.means, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(np.asarray(Image.open(out / SAMPLES_NAME)), density_grid(out))
    said = capsys.readouterr().out.splitlines()
    density_line = next(line for line in said if "density (chosen among 1, 10, 25, 50)" in line)
    assert density_line.startswith(f"{mixture.n_components}-component density")
    assert f"fitted to 300 mnist:{toy_idx_dir} training codes" in density_line
    assert density_line.endswith(f"samples drawn from it: {out / SAMPLES_NAME}")


def test_each_epochs_grid_samples_a_quick_mixture_of_that_epochs_codes(tmp_path, toy_idx_dir):
    """samples_epochNNN.png decodes 64 draws of a EPOCH_DENSITY_COMPONENTS-Gaussian mixture fitted to the codes of a
    seeded subsample of the training images, not N(0, I): rebuilt here from the saved last epoch."""
    import torch

    from vaelab.data.images import image_grid
    from vaelab.data.loaders import load_dataset
    from vaelab.latent.density import as_mixture, fit_mixture, sample_mixture, subsample
    from vaelab.models.registry import load
    from vaelab.training import vae

    out, data = tmp_path / "run", f"mnist:{toy_idx_dir}"
    vaelab.train(data, out, epochs=2, density=False, progress=False, seed=3, **SMALL)
    model, train_idx = load(out).eval(), load_dataset(data).split("train")
    images = load_dataset(data).images[train_idx[subsample(len(train_idx), vae.EPOCH_DENSITY_CODES, 3)]]
    with torch.no_grad():
        codes = model.embed(torch.from_numpy(images).float().div(255)).numpy()
        mixture = as_mixture(fit_mixture(codes, vae.EPOCH_DENSITY_COMPONENTS, 3))
        drawn = sample_mixture(mixture, 64, 3)
        expected = model.decode(torch.from_numpy(drawn).float()).numpy()
        prior = model.decode(torch.randn(64, 4, generator=torch.Generator().manual_seed(3))).numpy()
    grid = np.asarray(Image.open(out / "samples_epoch002.png"), np.float64)
    assert np.abs(grid - np.asarray(image_grid(expected, nrow=8, scale=96 // 28), np.float64)).max() <= 1
    assert np.abs(grid - np.asarray(image_grid(prior, nrow=8, scale=96 // 28), np.float64)).mean() > 1  # not N(0, I)
    # the draws sit where the codes do: their mean norm within a fifth of the codes'
    code_norm = np.linalg.norm(codes, axis=1).mean()
    assert abs(np.linalg.norm(drawn, axis=1).mean() - code_norm) < 0.2 * code_norm


def test_no_density_leaves_none_and_a_resume_may_turn_it_on(tmp_path, toy_idx_dir):
    data, out = f"mnist:{toy_idx_dir}", tmp_path / "run"
    result = vaelab.train(data, out, epochs=1, density=False, progress=False, **SMALL)
    assert not (out / DENSITY_NAME).exists() and not (out / SAMPLES_NAME).exists()
    assert json.loads((out / "config.json").read_text())["training"]["density"] is False
    assert result.plan.training.density is False
    vaelab.train(None, out, resume=True, epochs=2, progress=False)  # a resume takes the setting given now
    assert read_density(out)[1]["weights_id"] == weights_id(out) and (out / SAMPLES_NAME).is_file()
    assert json.loads((out / "config.json").read_text())["training"]["density"] is True
    assert train_cli(data, tmp_path / "cli", "--epochs", "1", "--no-density") == 0
    assert not (tmp_path / "cli" / DENSITY_NAME).exists() and not (tmp_path / "cli" / SAMPLES_NAME).exists()


def test_an_interrupted_run_fits_no_density(tmp_path, toy_idx_dir, monkeypatch, capsys):
    out = tmp_path / "run"
    interrupt_at_step(monkeypatch, 19)  # the first step of epoch 2 (300 images at batch 16: 19 steps an epoch)
    assert train_cli(f"mnist:{toy_idx_dir}", out, "--epochs", "2") == 130
    assert "holds epoch 1" in capsys.readouterr().err
    assert (out / "model.safetensors").is_file()  # epoch 1 was saved ...
    assert not (out / DENSITY_NAME).exists() and not (out / SAMPLES_NAME).exists()  # ... and no density fitted


def test_a_resumed_run_fits_again_and_one_stopped_after_new_weights_drops_the_old_density(
    tmp_path, toy_idx_dir, monkeypatch
):
    data, out = f"mnist:{toy_idx_dir}", tmp_path / "run"
    assert train_cli(data, out, "--epochs", "1") == 0
    first = read_density(out)[1]["weights_id"]
    first_grid = (out / SAMPLES_NAME).read_bytes()
    with monkeypatch.context() as m:
        interrupt_at_step(m, 38)  # the first step of epoch 3: epoch 2's new weights are saved
        assert main(["train", "--out", str(out), "--resume", "--epochs", "3", "--quiet"]) == 130
    assert not (out / DENSITY_NAME).exists() and not (out / SAMPLES_NAME).exists()  # of weights no longer there
    assert main(["train", "--out", str(out), "--resume", "--epochs", "3", "--quiet"]) == 0
    header = read_density(out)[1]
    assert header["weights_id"] == weights_id(out) != first
    assert (out / SAMPLES_NAME).read_bytes() != first_grid
    np.testing.assert_array_equal(np.asarray(Image.open(out / SAMPLES_NAME)), density_grid(out))


def test_only_the_main_process_of_a_torchrun_fits(tmp_path, toy_idx_dir, monkeypatch):
    import vaelab.tasks.train as front
    from vaelab.training.plan import plan_run

    fitted = []
    monkeypatch.setattr(front, "train_planned", lambda plan, **_: None)
    monkeypatch.setattr(front, "fit_density_after_training", lambda out, *_: fitted.append(out))
    plan = plan_run(f"mnist:{toy_idx_dir}", tmp_path / "run", {**SMALL, "epochs": 1}, {"epochs"})
    for rank in ("1", "0"):
        monkeypatch.setenv("RANK", rank)
        front.run_planned(plan, say=None)
    assert fitted == [tmp_path / "run"]  # rank 0's call only


def test_a_fit_that_fails_after_training_is_a_warning_and_ctrl_c_in_it_says_the_model_is_saved(
    tmp_path, toy_idx_dir, monkeypatch, capsys
):
    import vaelab.tasks.density as density

    out = tmp_path / "run"

    def refused(*_, **__):
        raise VaelabError("its training split holds 1 images; a density needs at least 2")

    monkeypatch.setattr(density, "fit_density", refused)
    assert train_cli(f"mnist:{toy_idx_dir}", out, "--epochs", "1") == 0  # the run itself went well
    err = capsys.readouterr().err
    assert "warning: no density was fitted to the model's codes: its training split holds 1 images" in err
    assert (out / "model.safetensors").is_file() and not (out / DENSITY_NAME).exists()

    def stopped(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr(density, "fit_density", stopped)
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 130
    err = capsys.readouterr().err
    assert f"training had finished and {out} holds the model" in err and f"vaelab fit-density {out}" in err
