"""One front door for training: `vaelab.train(data, out, ...)` from Python is the run `vaelab train --data ...
--out ...` makes, with the same plan (the recipe, the sized batch and epochs, the checks and the printed choices)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import vaelab
from vaelab.cli import main
from vaelab.errors import VaelabError

TIMINGS = {"train_seconds", "run_seconds"}  # what differs between two runs of the same plan


def settings_of(folder) -> dict:
    """config.json's model and training sections, without the timings."""
    doc = json.loads((folder / "config.json").read_text())
    return {"model": doc["model"], "training": {k: v for k, v in doc["training"].items() if k not in TIMINGS}}


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory):
    """40 colour PNGs of 16×16 in two class folders: reddish squares and bluish bars, seeded."""
    root = tmp_path_factory.mktemp("colour") / "shapes"
    rng = np.random.default_rng(0)
    for c, name in enumerate(("squares", "bars")):
        (root / name).mkdir(parents=True)
        for i in range(20):
            img = np.zeros((16, 16, 3), np.uint8)
            img[..., 2 - 2 * c] = 60
            r = rng.integers(2, 8)
            if c == 0:
                img[r : r + 6, r : r + 6] = (220, 40, 40)
            else:
                img[:, r : r + 3] = (40, 40, 220)
            Image.fromarray(img).save(root / name / f"{i:02d}.png")
    return root


SMALL = {"latent_dim": 4, "widths": (4, 8), "onnx": False}
SMALL_FLAGS = ["--latent", "4", "--widths", "4,8", "--no-onnx"]


def test_the_cli_and_python_write_the_same_settings_for_grey_data(tmp_path, toy_idx_dir):
    data = f"mnist:{toy_idx_dir}"
    cli = ["train", "--data", data, "--out", str(tmp_path / "cli"), "--epochs", "1", "--quiet", *SMALL_FLAGS]
    assert main(cli) == 0
    vaelab.train(data, tmp_path / "py", epochs=1, progress=False, **SMALL)
    cli, py = settings_of(tmp_path / "cli"), settings_of(tmp_path / "py")
    assert cli == py
    assert py["training"]["batch_size"] == 16 and py["model"]["likelihood"] == "bernoulli"  # sized, grey's own


def test_the_cli_and_python_write_the_same_settings_for_colour_data_and_a_resume(tmp_path, colour_folder):
    data, size = f"folder:{colour_folder}", ["--size", "16"]
    cli, py = tmp_path / "cli", tmp_path / "py"
    assert main(["train", "--data", data, *size, "--out", str(cli), "--epochs", "1", "--quiet", *SMALL_FLAGS]) == 0
    vaelab.train(data, py, size=16, epochs=1, progress=False, **SMALL)
    assert settings_of(cli) == settings_of(py)
    assert settings_of(py)["model"]["likelihood"] == "gaussian-optimal"  # the colour recipe, from Python too
    assert main(["train", "--out", str(cli), "--resume", "--epochs", "2", "--quiet"]) == 0
    result = vaelab.train(None, py, resume=True, epochs=2, progress=False)
    assert settings_of(cli) == settings_of(py)
    assert settings_of(py)["training"]["epochs_done"] == 2
    assert result.plan.may_change["epochs"] == 2 and result.plan.kept["model"]["latent_dim"] == 4


def test_python_takes_the_colour_recipe_and_says_so(tmp_path, colour_folder, capsys):
    result = vaelab.train(f"folder:{colour_folder}", tmp_path / "run", size=16, minutes=0.05, progress=False, **SMALL)
    printed = capsys.readouterr().out
    assert "the colour recipe: --likelihood gaussian-optimal --freq-loss 1" in printed
    assert "training for about 0.05 minutes" in printed and "computing in" in printed
    assert result.model.cfg.likelihood == "gaussian-optimal"
    doc = json.loads((tmp_path / "run" / "config.json").read_text())
    assert doc["training"]["freq_loss"] == 1.0 and doc["training"]["batch_size"] == 16
    assert result.folder == tmp_path / "run" and "test" in result.metrics
    assert any("colour recipe" in line for line in result.plan.choices)


def test_a_setting_given_in_python_overrides_the_recipe(tmp_path, colour_folder, capsys):
    result = vaelab.train(
        f"folder:{colour_folder}", tmp_path / "run", size=16, epochs=1, freq_loss=0.0, progress=False, **SMALL
    )
    assert result.plan.training.freq_loss == 0.0 and result.plan.model.likelihood == "gaussian-optimal"
    assert "--freq-loss" not in capsys.readouterr().out


def test_an_unknown_setting_is_refused_with_the_name_likeliest_meant(tmp_path):
    with pytest.raises(VaelabError, match="no setting 'latnet_dim'; did you mean latent_dim"):
        vaelab.train("emoji", tmp_path / "run", latnet_dim=4)
    with pytest.raises(VaelabError, match="did you mean freq_loss"):
        vaelab.train("emoji", tmp_path / "run", freq_los=1.0)
    with pytest.raises(VaelabError, match="height is the data's"):
        vaelab.train("emoji", tmp_path / "run", height=32)
    assert not (tmp_path / "run").exists()


def test_python_refuses_what_the_command_line_refuses(tmp_path, toy_idx_dir):
    data = f"mnist:{toy_idx_dir}"
    with pytest.raises(VaelabError, match="give either --epochs or --minutes"):
        vaelab.train(data, tmp_path / "run", epochs=2, minutes=1)
    with pytest.raises(VaelabError, match="--fc shapes a vae-conv model; 'ae-mlp' does not use it"):
        vaelab.train(data, tmp_path / "run", kind="ae-mlp", fc=64)
    with pytest.raises(VaelabError, match="trains with its own command.*vaelab.train_cycle"):
        vaelab.train(data, tmp_path / "run", kind="cycle-vae")
    assert not (tmp_path / "run").exists()


def test_ctrl_c_in_python_says_how_to_resume_from_python(tmp_path, toy_idx_dir, monkeypatch):
    import vaelab.tasks.train as front
    from vaelab.training.loop import TrainingInterrupted

    def interrupted(plan, **_):
        raise TrainingInterrupted(plan.out, 3)

    monkeypatch.setattr(front, "train_planned", interrupted)
    with pytest.raises(TrainingInterrupted) as e:
        vaelab.train(f"mnist:{toy_idx_dir}", tmp_path / "run", epochs=1, **SMALL)
    assert "holds epoch 3" in str(e.value)
    assert f"vaelab.train('mnist:{toy_idx_dir}', '{tmp_path / 'run'}', resume=True)" in str(e.value)


def test_the_training_names_load_lazily():
    code = (
        "import json, sys, vaelab\n"
        "before = sorted(m for m in sys.modules if m == 'torch' or m.startswith('vaelab.'))\n"
        "f = vaelab.train\n"
        "from vaelab.tasks.train import train, train_cycle, train_evaluator\n"
        "print(json.dumps([before, f is train, vaelab.train_cycle is train_cycle, "
        "vaelab.train_evaluator is train_evaluator, 'torch' in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == [[], True, True, True, True]
    assert {"train", "train_cycle", "train_evaluator", "TrainResult"} <= set(dir(vaelab))


def test_a_colour_run_leads_its_epoch_line_with_psnr_and_records_it(tmp_path, colour_folder, toy_idx_dir, capsys):
    colour, grey = tmp_path / "colour", tmp_path / "grey"
    assert main(["train", "--data", f"folder:{colour_folder}", "--size", "16", "--out", str(colour), "--epochs", "1",
                 "--quiet", *SMALL_FLAGS]) == 0  # fmt: skip
    assert main(["train", "--data", f"mnist:{toy_idx_dir}", "--out", str(grey), "--epochs", "1", "--quiet",
                 *SMALL_FLAGS]) == 0  # fmt: skip
    colour_line, grey_line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch 1:")]
    assert colour_line.startswith("epoch 1: test PSNR ") and " dB " in colour_line and "-ELBO" in colour_line
    assert "PSNR" not in grey_line and "test -ELBO" in grey_line  # Bernoulli: the −ELBO is readable as it is
    epoch = [r for r in map(json.loads, (colour / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "epoch"]
    psnr = json.loads((colour / "config.json").read_text())["metrics"]["test"]["psnr"]
    assert 0 < psnr < 60 and epoch[-1]["test_psnr"] == psnr
    assert "psnr" not in json.loads((grey / "config.json").read_text())["metrics"]["test"]
    from vaelab.tasks.report import metric_tables

    doc = json.loads((colour / "config.json").read_text())
    card = metric_tables(doc, {"encoded": 40, "latent_dim": 4}, [])["Test set, at the end of training (nats / image)"]
    assert list(card)[0] == "reconstruction PSNR (dB, not nats)"  # the model card leads with it too


def test_progress_false_from_python_is_silent_but_the_clis_quiet_keeps_the_epoch_lines(tmp_path, toy_idx_dir, capsys):
    data = f"mnist:{toy_idx_dir}"
    vaelab.train(data, tmp_path / "py", epochs=1, progress=False, **SMALL)
    assert not [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch 1:")]
    cli = ["train", "--data", data, "--out", str(tmp_path / "cli"), "--epochs", "1", "--quiet", *SMALL_FLAGS]
    assert main(cli) == 0
    assert [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch 1:")]  # --quiet: no bar only
