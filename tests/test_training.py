"""Training: exact resume, the NaN guard, atomic outputs, and (slow) that one epoch learns."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import fashion_mnist_available, run_vaelab
from vaelab.data.loaders import load_dataset
from vaelab.models.config import ModelConfig
from vaelab.training.config import TrainConfig
from vaelab.training.evaluation import evaluate_elbo
from vaelab.training.loop import METRICS_NAME as METRICS
from vaelab.training.loop import TrainingDiverged
from vaelab.training.vae import train

CFG = ModelConfig(latent_dim=4, widths=(4, 8))


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path, toy_idx_dir):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    # 4 steps an epoch, a train-loss record every 3: the record at step 6 averages steps of epochs 1 and 2
    train(CFG, ds, tmp_path / "straight", TrainConfig(epochs=3, batch_size=64, log_every=3), progress=False)
    train(CFG, ds, tmp_path / "split", TrainConfig(epochs=1, batch_size=64, log_every=3), progress=False)
    # a new process would only have the folder: resume reads config, weights, optimizer and RNG from it
    train(None, ds, tmp_path / "split", TrainConfig(epochs=3), resume=True, progress=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    epochs = [
        json.loads(l)["epoch"]
        for l in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
        if json.loads(l)["kind"] == "epoch"
    ]
    assert epochs == [1, 2, 3]
    assert _step_records(tmp_path / "split") == _step_records(tmp_path / "straight")
    names = {p.name for p in (tmp_path / "split").iterdir()}
    assert {
        "recon_epoch000.png",
        "recon_epoch003.png",
        "samples_epoch003.png",
        "loss_curve.png",
        "checkpoint.pt",
        "config.json",
        "model.safetensors",
    } <= names
    assert not [n for n in names if n.startswith(".")]  # no temp files left behind


def _step_records(run) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if r["kind"] == "step"]


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
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 8 \(epoch 2\).*checkpoint \(epoch 1\)"):
        train(None, ds, out, TrainConfig(epochs=2), resume=True, progress=False)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".pt", ".safetensors", ".json")}
    assert after == before
    calls["n"] = 0  # a fresh run that fails in its first epoch has no checkpoint, and says so
    fresh = tmp_path / "fresh"
    with pytest.raises(TrainingDiverged, match="No epoch had finished, so .* holds no checkpoint to resume"):
        train(CFG, ds, fresh, TrainConfig(epochs=2, onnx=False), progress=False)
    import argparse

    from vaelab.cli.args import training_data_from_args
    from vaelab.errors import VaelabError

    with pytest.raises(VaelabError, match="holds no model or checkpoint, so no epoch of a run there finished"):
        training_data_from_args(
            argparse.Namespace(data=None, channels=None, size=None, limit=None, resume=True, out=fresh)
        )


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, toy_idx_dir):
    from vaelab.errors import VaelabError

    with pytest.raises(VaelabError, match="no checkpoint.pt"):
        train(None, load_dataset(f"mnist:{toy_idx_dir}"), tmp_path, TrainConfig(epochs=1), resume=True)


def test_checkpoints_with_numpy_scalars_load_and_foreign_ones_are_refused_in_one_line(tmp_path):
    import numpy as np

    from vaelab.errors import VaelabError
    from vaelab.training.checkpoint import load_checkpoint

    torch.save({"epoch": 3, "best_val_neg_elbo": np.float64(2.5)}, tmp_path / "checkpoint.pt")  # as runs before
    assert load_checkpoint(tmp_path)["best_val_neg_elbo"] == 2.5
    # the same checkpoint as numpy 1 names the scalar's constructor (numpy.core, not numpy._core)
    import zipfile

    with zipfile.ZipFile(tmp_path / "checkpoint.pt") as z:
        entries = [(info, z.read(info.filename)) for info in z.infolist()]
    renamed = [
        (i, d.replace(b"numpy._core.multiarray", b"numpy.core.multiarray") if i.filename.endswith("data.pkl") else d)
        for i, d in entries
    ]
    assert any(b"numpy.core.multiarray" in d for _, d in renamed)
    with zipfile.ZipFile(tmp_path / "checkpoint.pt", "w") as z:
        for info, data in renamed:
            z.writestr(info, data)
    assert load_checkpoint(tmp_path)["best_val_neg_elbo"] == 2.5
    torch.save({"path": tmp_path}, tmp_path / "checkpoint.pt")  # a global that is not plain data
    with pytest.raises(VaelabError, match=r"can read \(Unsupported global: GLOBAL pathlib\.\w*Path\)$"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(VaelabError, match=r"can read \(EOFError\)$"):
        load_checkpoint(tmp_path)


def test_resume_keeps_the_recorded_limit_and_refuses_another(tmp_path, toy_idx_dir):
    import argparse

    from vaelab.cli.args import training_data_from_args
    from vaelab.errors import VaelabError

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    out = tmp_path / "run"
    train(CFG, ds, out, TrainConfig(epochs=1, batch_size=64), progress=False)  # on every training image

    def resume_with(limit):
        return training_data_from_args(
            argparse.Namespace(data=None, channels=None, size=None, limit=limit, resume=True, out=out)
        )

    assert json.loads((out / "config.json").read_text())["data"]["limit"] is None
    assert len(resume_with(None).train_idx) == len(ds.train_idx)
    with pytest.raises(VaelabError, match="trained on all its training images; --limit 50 would change"):
        resume_with(50)
    limited = load_dataset(f"mnist:{toy_idx_dir}")
    limited.limit_train(50)
    with pytest.raises(VaelabError, match="trained on all its training images; this data keeps 50"):
        train(None, limited, out, TrainConfig(epochs=2), resume=True, progress=False)  # the API checks it too
    doc = json.loads((out / "config.json").read_text())
    del doc["data"]["limit"]  # a run from before limits were recorded: --limit is taken as given
    (out / "config.json").write_text(json.dumps(doc))
    assert len(resume_with(50).train_idx) == 50 and len(resume_with(None).train_idx) == len(ds.train_idx)


def test_resume_refuses_a_run_trained_on_a_split_the_loader_cannot_rebuild(tmp_path, toy_idx_dir):
    import argparse

    from vaelab.cli.args import training_data_from_args
    from vaelab.errors import VaelabError

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    held = ds.train_idx[:20]  # a benchmark's own held-out rows, as the emoji benchmark makes
    ds.use_split(np.setdiff1d(np.arange(len(ds)), held), held, source="my benchmark")
    out = tmp_path / "run"
    train(CFG, ds, out, TrainConfig(epochs=1, batch_size=64, onnx=False), progress=False)
    assert json.loads((out / "config.json").read_text())["data"]["split"] == "my benchmark"
    with pytest.raises(VaelabError, match="split made by my benchmark, which --resume cannot rebuild"):
        training_data_from_args(
            argparse.Namespace(data=None, channels=None, size=None, limit=None, resume=True, out=out)
        )


def test_a_train_loss_record_spanning_two_epochs_is_their_mean(tmp_path, toy_idx_dir):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    steps = -(-len(ds.split("train")) // 100)  # batches of 100 per epoch
    out = tmp_path / "run"
    train(CFG, ds, out, TrainConfig(epochs=2, batch_size=100, log_every=2 * steps, onnx=False), progress=False)
    records = [json.loads(l) for l in (out / METRICS).read_text().splitlines()]
    (window,) = [r for r in records if r["kind"] == "step"]
    epochs = [r["train_loss"] for r in records if r["kind"] == "epoch"]
    assert window["step"] == 2 * steps and window["loss"] == pytest.approx(sum(epochs) / 2, rel=1e-9)


def test_validation_split_is_fixed_disjoint_and_checked():
    from vaelab.errors import VaelabError
    from vaelab.training.checks import validation_split

    idx = np.arange(100, 300)
    train_part, val = validation_split(idx, 0.1)
    assert len(val) == 20 and len(train_part) == 180
    assert np.array_equal(np.sort(np.concatenate([train_part, val])), idx) and not set(train_part) & set(val)
    assert np.array_equal(validation_split(idx, 0.1)[1], val)  # the same images every time, whatever the seed
    assert len(validation_split(idx, 0.0)[1]) == 0
    for bad in (1.0, -0.1, 0.001):  # 0.001 of 200 rounds to no image at all
        with pytest.raises(VaelabError, match="validat"):
            validation_split(idx, bad)


def test_validation_keeps_the_best_epoch_and_stops_after_patience(tmp_path, toy_idx_dir, monkeypatch):
    import vaelab.training.vae as trainer
    from vaelab.training.checks import validation_split

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    n_val = len(validation_split(ds.split("train"), 0.25)[1])
    assert n_val != len(ds.split("test"))  # how the planted scores below tell the validation call apart
    scripted = iter([5.0, 3.0, 4.0, 6.0, 7.0, 8.0])
    real = trainer.evaluate_elbo

    def planted(model, images, **kw):  # validation -ELBO 5, 3, 4, 6, ...: best at epoch 2
        result = real(model, images, **kw)
        return {**result, "neg_elbo": next(scripted)} if len(images) == n_val else result

    monkeypatch.setattr(trainer, "evaluate_elbo", planted)
    out = tmp_path / "run"
    model = train(CFG, ds, out, TrainConfig(epochs=6, batch_size=64, val_fraction=0.25, patience=2), progress=False)
    records = [json.loads(l) for l in (out / METRICS).read_text().splitlines()]
    assert [r["val_neg_elbo"] for r in records if r["kind"] == "epoch"] == [5.0, 3.0, 4.0, 6.0]  # stopped after 4
    doc = json.loads((out / "config.json").read_text())
    assert doc["training"]["best_epoch"] == 2 and doc["metrics"]["validation"]["neg_elbo"] == 3.0
    # the saved epoch's time, and the whole run's: four epochs, as long as the checkpoint's count
    seconds = [r["epoch_seconds"] for r in records if r["kind"] == "epoch"]
    assert doc["training"]["epochs_run"] == 4
    assert doc["training"]["train_seconds"] == pytest.approx(sum(seconds[:2]), abs=2e-3)
    assert doc["training"]["run_seconds"] == pytest.approx(sum(seconds), abs=2e-3)
    folder, latest = _weights(out), torch.load(out / "checkpoint.pt", weights_only=True)
    assert latest["epoch"] == 4 and latest["best_epoch"] == 2
    assert any(not torch.equal(v, latest["model"][k]) for k, v in folder.items())  # the folder is not epoch 4
    for k, v in model.state_dict().items():  # the returned model is the folder's, the best validated epoch
        assert torch.equal(v, folder[k]), k
    # a validated run resumes (its checkpoint holds plain floats) and keeps validating: epoch 5 scores 7, not
    # better than epoch 2's 3, so patience stops it again at once and the folder still holds epoch 2
    train(None, ds, out, TrainConfig(epochs=6), resume=True, progress=False)
    records = [json.loads(l) for l in (out / METRICS).read_text().splitlines()]
    assert [r["val_neg_elbo"] for r in records if r["kind"] == "epoch"] == [5.0, 3.0, 4.0, 6.0, 7.0]
    doc = json.loads((out / "config.json").read_text())
    assert doc["training"]["best_epoch"] == 2 and doc["training"]["epochs_run"] == 5
    with pytest.raises(trainer.VaelabError, match="--val-fraction"):
        train(CFG, ds, tmp_path / "r2", TrainConfig(epochs=1, patience=2), progress=False)


@pytest.mark.parametrize("likelihood", ["gaussian-optimal", "bernoulli"])
def test_the_test_elbo_does_not_depend_on_the_batch_size(likelihood):
    from vaelab.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(likelihood=likelihood))
    rng = np.random.default_rng(0)
    # black images, then noise: batches of 7 hold one kind each, so a σ fitted to each batch would differ from
    # the optimum over all of them
    images = np.concatenate([np.zeros((21, 1, 28, 28), np.uint8), rng.integers(0, 256, (21, 1, 28, 28), np.uint8)])
    whole = evaluate_elbo(model, images, batch_size=1000, seed=3)
    for batch_size in (7, 16):
        parts = evaluate_elbo(model, images, batch_size=batch_size, seed=3)
        assert parts == pytest.approx(whole, rel=1e-5)
    if likelihood == "gaussian-optimal":  # what one σ per batch of 7 would have given: far from it
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(3)
            model.eval()
            per_batch = [model.loss(torch.from_numpy(images[i : i + 7]).float() / 255).recon for i in range(0, 42, 7)]
        assert abs(torch.cat(per_batch).mean().item() - whole["recon"]) > 10


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

    import vaelab

    out = tmp_path / "run"
    # the data path is relative to where the run starts; the run must record it so that it works from anywhere
    data = f"mnist:{toy_idx_dir.name}"
    base = [
        "train",
        "--data",
        data,
        "--latent",
        "3",
        "--widths",
        "4,8",
        "--kernel",
        "3",
        "--limit",
        "100",
        "--batch-size",
        "50",
        "--tc-beta",
        "6",
        "--out",
        str(out),
        "--quiet",
    ]
    proc = run_vaelab(*base + ["--epochs", "1"], cwd=toy_idx_dir.parent)
    assert proc.returncode == 0, proc.stderr
    model = vaelab.load(out)
    assert model.cfg.latent_dim == 3 and model.cfg.widths == (4, 8) and model.cfg.tc_beta == 6.0
    # a resume keeps the run's settings: another value is refused before anything is written; the same is fine
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    proc = run_vaelab(
        *base + ["--epochs", "2", "--resume", "--lr", "0.5", "--val-fraction", "0.2"], cwd=toy_idx_dir.parent
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--lr 0.5 (the run's: 0.001), --val-fraction 0.2 (the run's: 0.0)" in proc.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    # a value that happens to be the default is still a change when the command line gives it
    proc = run_vaelab(*base + ["--epochs", "2", "--resume", "--latent", "32"], cwd=toy_idx_dir.parent)
    assert proc.returncode == 2 and "--latent 32 (the run's: 3)" in proc.stderr, proc.stderr
    proc = run_vaelab(*base + ["--epochs", "2", "--resume"], cwd=toy_idx_dir.parent)
    assert proc.returncode == 0, proc.stderr
    assert "epoch 2:" in proc.stdout + proc.stderr and f"training the run in {out} (vae-conv)" in proc.stdout
    proc = run_vaelab(*base + ["--epochs", "2", "--resume"], cwd=toy_idx_dir.parent)
    assert proc.returncode == 2 and "already trained 2 epochs; give --epochs above 2" in proc.stderr
    assert json.loads((out / "config.json").read_text())["training"]["epochs_done"] == 2
    # --resume without --data or --limit, from another folder, goes on with the run's own data and limit
    # (not the default fashion-mnist, nor all the training images)
    bare = [a for a in base if a not in ("--data", data, "--limit", "100")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run_vaelab(
        *bare + ["--epochs", "3", "--resume", "--pictures-every", "5"], cwd=elsewhere
    )  # how often to draw may change on a resume
    assert proc.returncode == 0, proc.stderr
    assert (out / "recon_epoch003.png").is_file()  # the last epoch is always drawn
    doc = json.loads((out / "config.json").read_text())
    assert doc["data"]["name"] == f"mnist:{toy_idx_dir.resolve()}" and doc["data"]["limit"] == 100, doc["data"]
    assert f"on {doc['data']['name']}: 100 train" in proc.stdout, proc.stdout
    assert doc["training"]["epochs_done"] == 3
    # a different --limit would train on other images: refused, and the run is left as it was
    proc = run_vaelab(*bare + ["--epochs", "4", "--resume", "--limit", "50"])
    assert proc.returncode == 2 and "trained on the first 100 training images" in proc.stderr, proc.stderr
    assert json.loads((out / "config.json").read_text())["training"]["epochs_done"] == 3


def test_pictures_are_drawn_every_n_epochs_and_after_the_last(tmp_path, toy_idx_dir, monkeypatch):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    ds.limit_train(100)
    cfg = ModelConfig(latent_dim=2, widths=(4,))
    train(cfg, ds, tmp_path / "run", TrainConfig(epochs=5, batch_size=50, onnx=False, picture_every=2), progress=False)

    def drawn(kind):
        return sorted(int(p.stem[-3:]) for p in (tmp_path / "run").glob(f"{kind}_epoch*.png"))

    assert drawn("recon") == drawn("samples") == [0, 2, 4, 5]
    train(None, ds, tmp_path / "run", TrainConfig(epochs=8), resume=True, progress=False)
    assert drawn("recon") == [0, 2, 4, 5, 6, 8]  # a resume keeps the run's setting when none is given
    train(None, ds, tmp_path / "run", TrainConfig(epochs=10, picture_every=3), resume=True, progress=False)
    assert drawn("recon") == [0, 2, 4, 5, 6, 8, 9, 10]  # and takes one that is
    # a run that stops early draws the epoch it stops at
    from vaelab.training.loop import BestEpoch

    monkeypatch.setattr(BestEpoch, "exhausted", lambda self, epoch: epoch == 3)
    train(
        cfg,
        ds,
        tmp_path / "early",
        TrainConfig(epochs=9, batch_size=50, onnx=False, picture_every=5, val_fraction=0.2, patience=2),
        progress=False,
    )
    assert sorted(int(p.stem[-3:]) for p in (tmp_path / "early").glob("recon_epoch*.png")) == [0, 3]
    from vaelab.errors import VaelabError
    from vaelab.training.config import CycleTrainConfig

    with pytest.raises(VaelabError, match="every 1 or more epochs"):
        CycleTrainConfig(picture_every=0)


def test_an_autoencoder_reports_its_reconstruction_not_an_elbo(tmp_path, toy_idx_dir, capsys):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    ds.limit_train(100)
    cfg = ModelConfig(kind="ae-mlp", latent_dim=2, hidden=(16,))
    train(cfg, ds, tmp_path / "ae", TrainConfig(epochs=1, batch_size=50, onnx=False), progress=False)
    train(
        ModelConfig(latent_dim=2, widths=(4,)),
        ds,
        tmp_path / "vae",
        TrainConfig(epochs=1, batch_size=50, onnx=False),
        progress=False,
    )
    ae_line, vae_line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch 1:")]
    assert "test reconstruction" in ae_line and "ELBO" not in ae_line and "KL" not in ae_line
    assert "test -ELBO" in vae_line and "KL" in vae_line


def test_configs_refuse_unusable_settings_but_old_runs_do_nothing_settings_still_load():
    from vaelab.errors import VaelabError
    from vaelab.training.config import CycleTrainConfig

    for bad in (dict(lr=0.0), dict(lr=float("nan")), dict(capacity_steps=5), dict(patience=2), dict(epochs=0)):
        with pytest.raises(VaelabError):
            TrainConfig(**bad)
    for bad in (dict(lr=-1.0), dict(kl_coef=float("inf")), dict(recon_loss="l1"), dict(patience=3)):
        with pytest.raises(VaelabError):
            CycleTrainConfig(**bad)
    # a run from before the check, with capacity steps and no capacity (which did nothing), still resumes
    assert TrainConfig.from_dict({"capacity_steps": 1000, "capacity_max": 0.0, "lr": 1e-3}).capacity_steps == 0


def test_resume_finds_moved_data_with_its_own_format_and_refuses_other_data(tmp_path, toy_idx_dir):

    from PIL import Image

    def folder(root, classes):
        for c, shade in classes.items():
            (root / c).mkdir(parents=True)
            for i in range(6):
                Image.new("RGB", (40, 30), (shade, 10 * i, 0)).save(root / c / f"{i}.png")
        return root

    def vaelab(*args):
        return run_vaelab(*args)

    data, run = folder(tmp_path / "cats", {"black": 20, "tabby": 200}), tmp_path / "run"
    p = vaelab(
        "train",
        "--data",
        f"folder:{data}",
        "--size",
        "16",
        "--widths",
        "8",
        "--latent",
        "2",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--no-onnx",
        "--out",
        run,
    )
    assert p.returncode == 0, p.stderr
    data.rename(tmp_path / "cats2")
    p = vaelab("train", "--out", run, "--resume", "--epochs", "2")
    assert p.returncode == 2 and "no such folder (if the run's data moved, give --data with its new place)" in p.stderr
    p = vaelab("train", "--out", run, "--resume", "--epochs", "2", "--data", f"folder:{tmp_path / 'cats2'}")
    assert p.returncode == 0, p.stderr  # 16×16 from the run, not the folder loader's default 64
    assert json.loads((run / "config.json").read_text())["training"]["epochs_done"] == 2
    other = folder(tmp_path / "dogs", {"husky": 90, "pug": 150})
    p = vaelab("train", "--out", run, "--resume", "--epochs", "3", "--data", f"folder:{other}")
    assert p.returncode == 2 and "trained on data with the classes black, tabby" in p.stderr
    assert "has husky, pug" in p.stderr
    p = vaelab("train", "--out", run, "--resume", "--epochs", "3", "--data", f"mnist:{toy_idx_dir}")
    assert p.returncode == 2 and "trained on 3×16×16 images, and mnist" in p.stderr and "--channels" not in p.stderr


def test_batch_size_and_epochs_are_sized_to_the_data_when_not_given():
    from vaelab.training.vae import SIZED_STEPS, epoch_steps, sized_schedule

    assert sized_schedule(54_000) == (128, 10)  # a large set: the usual schedule
    assert sized_schedule(20_000) == (128, 10)
    for n in (10, 100, 209, 1000, 3000):
        batch, epochs = sized_schedule(n)
        assert 16 <= batch <= 128 and batch & (batch - 1) == 0  # a power of two
        total = epoch_steps(n, batch) * epochs
        assert (SIZED_STEPS <= total < SIZED_STEPS + epoch_steps(n, batch)) or epochs == 300, (n, batch, epochs)
    assert sized_schedule(209) == (16, 72) and sized_schedule(1000) == (32, 32)
    assert sized_schedule(209, batch_size=64) == (64, 250)  # the one given is kept, the other sized to it
    assert sized_schedule(209, epochs=5) == (16, 5)
    assert sized_schedule(100, world=2) == (16, 300)  # 3 global batches of 32 an epoch: the epoch cap


def test_pictures_are_drawn_about_twenty_times_in_a_long_run_by_default():
    from vaelab.training.loop import draws_pictures

    assert [e for e in range(1, 11) if draws_pictures(e, None, 10)] == list(range(1, 11))  # every epoch
    assert [e for e in range(1, 101) if draws_pictures(e, None, 100)] == list(range(5, 101, 5))
    assert [e for e in range(1, 73) if draws_pictures(e, None, 72)] == [*range(4, 73, 4)]
    assert [e for e in range(1, 31) if draws_pictures(e, None, 30)] == [*range(2, 31, 2)]
    assert draws_pictures(7, None, 100, stopping=True)


def test_cli_sizes_the_batch_to_a_small_set_and_a_resume_goes_on_to_the_planned_epochs(tmp_path, toy_idx_dir):

    out = tmp_path / "run"
    base = [
        "train",
        "--data",
        f"mnist:{toy_idx_dir}",
        "--latent",
        "2",
        "--widths",
        "4",
        "--limit",
        "100",
        "--out",
        str(out),
        "--quiet",
        "--no-onnx",
    ]
    proc = run_vaelab(*base + ["--epochs", "2"])
    assert proc.returncode == 0, proc.stderr
    assert "\nbatch 16: sized to 100 training images, 14 optimizer steps in all" in proc.stdout  # only what was sized
    assert (
        "7 optimizer steps an epoch at batch 16, only 14 in all; under 500" in proc.stderr
    )  # the epochs given are few: warned, as before
    doc = json.loads((out / "config.json").read_text())["training"]
    assert (doc["batch_size"], doc["epochs"], doc["epochs_done"]) == (16, 2, 2)
    proc = run_vaelab(*base[:1] + ["--out", str(out), "--resume"])
    assert proc.returncode == 2 and "already trained 2 epochs; give --epochs above 2" in proc.stderr, proc.stderr
    # a run stopped before its planned epochs goes on to them: the plan is the checkpoint's (config.json keeps
    # the best validated epoch's, which may be older)
    from vaelab.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(out)
    ckpt["train_config"]["epochs"] = 3
    torch.save(ckpt, out / "checkpoint.pt")
    proc = run_vaelab(*base[:1] + ["--out", str(out), "--resume", "--quiet"])
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "config.json").read_text())["training"]["epochs_done"] == 3
    given = run_vaelab(*base + ["--epochs", "1", "--batch-size", "50", "--out", str(tmp_path / "given")])
    assert given.returncode == 0 and "sized to" not in given.stdout, given.stderr


def test_a_small_set_at_a_large_batch_warns_that_it_trains_few_steps(tmp_path, toy_idx_dir):
    from vaelab.errors import VaelabWarning

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    n = len(ds.split("train"))
    with pytest.warns(
        VaelabWarning,
        match=f"{n} training images make 3 optimizer steps an epoch at batch 128, only 6 in all; under 500",
    ):
        train(CFG, ds, tmp_path / "a", TrainConfig(epochs=2, batch_size=128, onnx=False), progress=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", VaelabWarning)  # n // 5 steps an epoch, over 500 in all: no warning
        warnings.filterwarnings("ignore", "[0-9]+ training images are few", VaelabWarning)  # the toy set is small
        train(
            CFG, ds, tmp_path / "b", TrainConfig(epochs=-(-500 // (n // 5)), batch_size=5, onnx=False), progress=False
        )


def test_a_run_too_short_to_log_steps_draws_each_epochs_train_objective_with_markers():
    from vaelab.viz.training_curves import loss_curve_figure

    epochs = [
        {"kind": "epoch", "epoch": e, "step": 3 * e, "train_loss": 100.0 / e, "test_neg_elbo": 90.0 / e}
        for e in (1, 2, 3)
    ]
    fig = loss_curve_figure(epochs, variational=False)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert list(lines["train objective"].get_ydata()) == [100.0, 50.0, 100.0 / 3]
    assert lines["train objective"].get_marker() == "."
    assert "test reconstruction NLL" in lines and "test −ELBO" not in lines  # an AE has no ELBO
    many = [{"kind": "step", "epoch": 1, "step": s, "loss": 1.0} for s in range(1, 41)]
    fig = loss_curve_figure(many + epochs)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert len(lines["train objective"].get_xdata()) == 40 and lines["train objective"].get_marker() == "None"
    assert "test −ELBO" in lines


def test_the_reconstruction_grid_takes_each_class_in_turn():
    from vaelab.training.vae import each_class_in_turn

    labels = np.array([2, 2, 2, 0, 2, 1, 0, 2])
    order = each_class_in_turn(labels, len(labels))
    assert list(order) == [0, 3, 5, 1, 6, 2, 4, 7]  # 2, 0, 1 (first of each), then 2, 0, then the rest of 2
    assert sorted(order) == list(range(8)) and list(each_class_in_turn(None, 4)) == [0, 1, 2, 3]


def test_the_reconstruction_grid_shows_a_class_the_first_test_images_lack(tmp_path):
    from PIL import Image

    from vaelab.data.dataset import ImageDataset

    images = np.zeros((60, 1, 8, 8), np.uint8)
    labels = np.zeros(60, np.int64)
    images[59], labels[59] = 255, 1  # the last test image is the only white one, of the only class-1 image
    ds = ImageDataset(images=images, labels=labels, class_names=["dark", "light"], name="lopsided")
    ds.use_split(np.arange(30), np.arange(30, 60))  # 30 test images: 29 dark, then the light one
    train(
        ModelConfig(latent_dim=2, widths=(4,), height=8, width=8),
        ds,
        tmp_path / "r",
        TrainConfig(epochs=1, batch_size=10, onnx=False),
        progress=False,
    )
    grid = np.asarray(Image.open(tmp_path / "r" / "recon_epoch000.png").convert("L"))
    inputs, decodings = grid[: grid.shape[0] // 2], grid[grid.shape[0] // 2 :]
    tile = (grid.shape[1] // 16) ** 2 // 2  # half a tile's pixels, enlarged as the grid draws them
    assert (inputs == 255).sum() - (decodings == 255).sum() > tile  # the inputs' row holds the white image


def test_a_step_whose_loss_is_nan_is_not_taken(tmp_path, toy_idx_dir, monkeypatch):
    """The optimizer never applies the gradient of a NaN loss: the model in memory stays as the last good step left
    it when the run stops."""
    import torch

    from vaelab.models.vae_conv import ConvVAE

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    real_decode, calls, taken = ConvVAE.decode_logits, {"n": 0}, []
    real_step = torch.optim.Adam.step

    def poisoned(self, z):  # the third training step's decoding is NaN
        calls["n"] += self.training
        out_ = real_decode(self, z)
        return out_ * float("nan") if self.training and calls["n"] == 3 else out_

    def counted(self, *a, **k):
        taken.append(calls["n"])
        return real_step(self, *a, **k)

    monkeypatch.setattr(ConvVAE, "decode_logits", poisoned)
    monkeypatch.setattr(torch.optim.Adam, "step", counted)
    with pytest.raises(TrainingDiverged, match="loss became nan at step 3"):
        train(CFG, ds, tmp_path / "run", TrainConfig(epochs=1, batch_size=32, onnx=False), progress=False)
    assert taken == [1, 2]
