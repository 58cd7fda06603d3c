"""Training: exact resume, the NaN guard, atomic outputs, and (slow) that one epoch learns."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import fashion_mnist_available
from vaelab.data.loaders import load_dataset
from vaelab.models.config import ModelConfig
from vaelab.training.evaluation import evaluate_elbo
from vaelab.training.trainer import TrainConfig, TrainingDiverged, train

CFG = ModelConfig(latent_dim=4, widths=(4, 8))


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path, toy_idx_dir):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    train(CFG, ds, tmp_path / "straight", TrainConfig(epochs=3, batch_size=64), progress=False)
    train(CFG, ds, tmp_path / "split", TrainConfig(epochs=1, batch_size=64), progress=False)
    # a new process would only have the folder: resume reads config, weights, optimizer and RNG from it
    train(None, ds, tmp_path / "split", TrainConfig(epochs=3), resume=True, progress=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    epochs = [json.loads(l)["epoch"] for l in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
              if json.loads(l)["kind"] == "epoch"]
    assert epochs == [1, 2, 3]
    names = {p.name for p in (tmp_path / "split").iterdir()}
    assert {"recon_epoch000.png", "recon_epoch003.png", "samples_epoch003.png", "loss_curve.png",
            "checkpoint.pt", "config.json", "model.safetensors"} <= names
    assert not [n for n in names if n.startswith(".")]  # no temp files left behind


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path, toy_idx_dir, monkeypatch):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    out = tmp_path / "run"
    train(CFG, ds, out, TrainConfig(epochs=1, batch_size=64), progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".pt", ".safetensors", ".json")}

    from vaelab.models.vae_conv import ConvVAE

    real, calls = ConvVAE.decode_logits, {"n": 0}

    def poisoned(self, z):
        calls["n"] += 1
        out_ = real(self, z)
        return out_ * float("nan") if self.training and calls["n"] == 3 else out_

    monkeypatch.setattr(ConvVAE, "decode_logits", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 8 \(epoch 2\)"):
        train(None, ds, out, TrainConfig(epochs=2), resume=True, progress=False)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".pt", ".safetensors", ".json")}
    assert after == before


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, toy_idx_dir):
    from vaelab.errors import VaelabError

    with pytest.raises(VaelabError, match="no checkpoint.pt"):
        train(None, load_dataset(f"mnist:{toy_idx_dir}"), tmp_path, TrainConfig(epochs=1), resume=True)


def test_resume_keeps_the_recorded_limit_and_refuses_another(tmp_path, toy_idx_dir):
    import argparse

    from vaelab.cli.args import load_training_data
    from vaelab.errors import VaelabError

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    out = tmp_path / "run"
    train(CFG, ds, out, TrainConfig(epochs=1, batch_size=64), progress=False)  # on every training image

    def resume_with(limit):
        return load_training_data(argparse.Namespace(data=None, channels=None, size=None, limit=limit, resume=True,
                                                     out=out))

    assert json.loads((out / "config.json").read_text())["data"]["limit"] is None
    assert len(resume_with(None).train_idx) == len(ds.train_idx)
    with pytest.raises(VaelabError, match="trained on all its training images; --limit 50 would change"):
        resume_with(50)
    doc = json.loads((out / "config.json").read_text())
    del doc["data"]["limit"]  # a run from before limits were recorded: --limit is taken as given
    (out / "config.json").write_text(json.dumps(doc))
    assert len(resume_with(50).train_idx) == 50 and len(resume_with(None).train_idx) == len(ds.train_idx)


@pytest.mark.slow
def test_one_epoch_on_2k_images_lowers_the_test_loss(tmp_path, toy_idx_dir):
    ds = load_dataset("fashion-mnist") if fashion_mnist_available() else load_dataset(f"mnist:{toy_idx_dir}")
    ds.train_idx = ds.train_idx[:2000]
    ds.test_idx = ds.test_idx[:1000]
    torch.manual_seed(0)
    from vaelab.models.registry import build_model

    before = evaluate_elbo(build_model(ModelConfig()), ds.images[ds.test_idx])["neg_elbo"]
    model = train(ModelConfig(), ds, tmp_path, TrainConfig(epochs=1, batch_size=64), progress=False)
    after = evaluate_elbo(model, ds.images[ds.test_idx])["neg_elbo"]
    assert after < 0.75 * before, (before, after)


def test_cli_train_writes_a_loadable_model_and_resumes(tmp_path, toy_idx_dir):
    import subprocess
    import sys

    import vaelab

    out = tmp_path / "run"
    # the data path is relative to where the run starts; the run must record it so that it works from anywhere
    data = f"mnist:{toy_idx_dir.name}"
    base = [sys.executable, "-m", "vaelab.cli", "train", "--data", data, "--latent", "3",
            "--widths", "4,8", "--kernel", "3", "--limit", "100", "--batch-size", "50", "--out", str(out), "--quiet"]
    proc = subprocess.run(base + ["--epochs", "1"], capture_output=True, text=True, cwd=toy_idx_dir.parent)
    assert proc.returncode == 0, proc.stderr
    model = vaelab.load(out)
    assert model.cfg.latent_dim == 3 and model.cfg.widths == (4, 8)
    proc = subprocess.run(base + ["--epochs", "2", "--resume"], capture_output=True, text=True, cwd=toy_idx_dir.parent)
    assert proc.returncode == 0, proc.stderr
    assert "epoch 2:" in proc.stdout + proc.stderr
    assert json.loads((out / "config.json").read_text())["training"]["epochs_done"] == 2
    # --resume without --data or --limit, from another folder, goes on with the run's own data and limit
    # (not the default fashion-mnist, nor all the training images)
    bare = [a for a in base if a not in ("--data", data, "--limit", "100")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(bare + ["--epochs", "3", "--resume"], capture_output=True, text=True, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "config.json").read_text())
    assert doc["data"]["name"] == f"mnist:{toy_idx_dir.resolve()}" and doc["data"]["limit"] == 100, doc["data"]
    assert f"on {doc['data']['name']}: 100 train" in proc.stdout, proc.stdout
    assert doc["training"]["epochs_done"] == 3
    # a different --limit would train on other images: refused, and the run is left as it was
    proc = subprocess.run(bare + ["--epochs", "4", "--resume", "--limit", "50"], capture_output=True, text=True)
    assert proc.returncode == 2 and "trained on the first 100 training images" in proc.stderr, proc.stderr
    assert json.loads((out / "config.json").read_text())["training"]["epochs_done"] == 3
