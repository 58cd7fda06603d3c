"""The latent-size sweep, end to end on a tiny subset: it trains through vaelab's trainer, writes its table,
CSV, JSON and figure, and reuses folders already trained with the same settings."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from vaelab.cli import main
from vaelab.data.loaders import load_dataset
from vaelab.errors import VaelabError
from vaelab.tasks.sweep import SweepConfig, run_sweep
from vaelab.training.classifier import ClassifierTrainConfig, train_classifier


@pytest.fixture(scope="module")
def evaluator_dir(toy_idx_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep-evaluator") / "ev"
    train_classifier(
        load_dataset(f"mnist:{toy_idx_dir}"),
        out,
        ClassifierTrainConfig(epochs=2, batch_size=32, device="cpu"),
        progress=False,
    )
    return out


@pytest.mark.slow
def test_sweep_runs_end_to_end_on_a_tiny_subset(tmp_path, toy_idx_dir, evaluator_dir, capsys):
    out = tmp_path / "sweep"
    assert (
        main(
            [
                "sweep",
                "--latent",
                "2,4",
                "--model",
                "vae-conv,ae-mlp",
                "--epochs",
                "2",
                "--data",
                f"mnist:{toy_idx_dir}",
                "--evaluator",
                str(evaluator_dir),
                "--limit",
                "200",
                "--batch-size",
                "32",
                "--prior-samples",
                "100",
                "--out",
                str(out),
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "| vae-conv | 2 |" in printed and "| ae-mlp | 4 |" in printed
    assert {
        "sweep.md",
        "sweep.csv",
        "sweep.json",
        "sweep.png",
        "vae-conv-z2",
        "vae-conv-z4",
        "ae-mlp-z2",
        "ae-mlp-z4",
    } <= {p.name for p in out.iterdir()}
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # every temp file was renamed
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [(r["model"], r["latent"]) for r in rows] == [
        ("vae-conv", "2"),
        ("vae-conv", "4"),
        ("ae-mlp", "2"),
        ("ae-mlp", "4"),
    ]
    for r in rows:
        assert int(r["active_units"]) <= int(r["latent"])
        assert 0 <= float(r["fidelity"]) <= 2 and 1 / 3 <= float(r["prior_confidence"]) <= 1
        assert float(r["train_seconds"]) > 0 and r["epochs"] == "2"
    vae, ae = rows[0], rows[2]
    assert float(vae["neg_elbo"]) == pytest.approx(float(vae["recon"]) + float(vae["kl"]), rel=1e-6)
    assert ae["neg_elbo"] == "" and ae["kl"] == ""  # a plain AE has no ELBO and no KL
    # the sweep trained through vaelab's trainer: each folder is a loadable model with its metrics.jsonl
    assert (out / "vae-conv-z4" / "metrics.jsonl").is_file()
    assert json.loads((out / "vae-conv-z4" / "config.json").read_text())["model"]["latent_dim"] == 4
    with Image.open(out / "sweep.png") as im:
        assert im.size[0] >= 800 and im.size[1] >= 600
    with Image.open(out / "sweep_pictures.png") as im:  # the test images and a row per model, to compare by eye
        assert im.size[1] > 5 * 0.6 * 100 and im.size[0] > im.size[1]


def test_a_rerun_reuses_folders_trained_with_the_same_settings(tmp_path, toy_idx_dir):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    cfg = SweepConfig(latents=(2,), epochs=1, limit=64, batch_size=32, device="cpu", prior_samples=10)
    run_sweep(ds, tmp_path, None, cfg, progress=False)
    weights = tmp_path / "vae-conv-z2" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    rows = run_sweep(ds, tmp_path, None, cfg, progress=False)
    assert weights.stat().st_mtime_ns == before
    assert (tmp_path / "sweep_pictures.png").is_file()
    import torch

    from vaelab.models.registry import load
    from vaelab.tasks.sweep import model_examples

    model, x = load(tmp_path / "vae-conv-z2"), ds.images[ds.test_idx[:3]]
    recon, samples = model_examples(model, x, 4, seed=5)
    with torch.no_grad():
        z = torch.randn(4, 2, generator=torch.Generator().manual_seed(5))
        np.testing.assert_allclose(samples, model.decode(z).numpy(), atol=1e-6)  # the seeded prior draw
        np.testing.assert_allclose(
            recon, model.decode(model.embed(torch.from_numpy(x).float() / 255)).numpy(), atol=1e-6
        )
    assert recon.shape == x.shape and not np.allclose(recon[0], recon[1])  # each image its own decoding
    assert rows[0]["latent"] == 2 and "fidelity" not in rows[0]  # no evaluator, no fidelity
    assert len(ds.train_idx) == 300  # the --limit subset did not shrink the caller's dataset
    # a model trained otherwise is refused, before any training, rather than overwritten
    run_sweep(ds, tmp_path, None, replace(cfg, latents=(3,)), progress=False)
    other = tmp_path / "vae-conv-z3" / "model.safetensors"
    before_other = other.stat().st_mtime_ns
    for changed, says in (
        (replace(cfg, limit=96), "data limit 64 (asked 96)"),
        (replace(cfg, seed=1), "seed 0 (asked 1)"),
        (replace(cfg, lr=5e-4), "lr 0.001 (asked 0.0005)"),
    ):
        with pytest.raises(VaelabError, match=re.escape(says)):
            run_sweep(ds, tmp_path, None, replace(changed, latents=(3, 2)), progress=False)
        assert (weights.stat().st_mtime_ns, other.stat().st_mtime_ns) == (before, before_other)
    # a folder trained on two processes (vaelab train --nproc 2) would change its batch if the sweep went on with it
    doc = json.loads((tmp_path / "vae-conv-z3" / "config.json").read_text())
    doc["training"]["processes"] = 2
    (tmp_path / "vae-conv-z3" / "config.json").write_text(json.dumps(doc))
    with pytest.raises(VaelabError, match=re.escape("2 processes (the sweep trains on 1)")):
        run_sweep(ds, tmp_path, None, replace(cfg, latents=(2, 3), epochs=2), progress=False)
    assert weights.stat().st_mtime_ns == before  # refused before z2 trained on


def test_more_epochs_train_a_swept_model_on_exactly_as_one_longer_run(tmp_path, toy_idx_dir):
    from safetensors.numpy import load_file

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    cfg = SweepConfig(latents=(2,), epochs=1, limit=64, batch_size=32, device="cpu", prior_samples=10)
    run_sweep(ds, tmp_path / "a", None, cfg, progress=False)
    rows = run_sweep(ds, tmp_path / "a", None, replace(cfg, epochs=2), progress=False)
    run_sweep(ds, tmp_path / "b", None, replace(cfg, epochs=2), progress=False)
    extended, straight = (load_file(str(tmp_path / r / "vae-conv-z2" / "model.safetensors")) for r in "ab")
    assert rows[0]["epochs"] == 2
    assert all(np.array_equal(extended[k], straight[k]) for k in straight)
    with pytest.raises(VaelabError, match="trained for 2 epochs; give --epochs 2 or more"):
        run_sweep(ds, tmp_path / "a", None, cfg, progress=False)


@pytest.mark.parametrize("kind", ["vae-transformer", "cycle-vae"])  # the cycle-VAE has its own loop and labels
def test_a_kind_the_sweep_cannot_train_is_a_clear_error(tmp_path, toy_idx_dir, kind):
    with pytest.raises(VaelabError, match=f"the sweep trains vae-conv or vae-res or ae-mlp, not '{kind}'"):
        run_sweep(load_dataset(f"mnist:{toy_idx_dir}"), tmp_path, None, SweepConfig(kinds=(kind,)))
    assert not any(tmp_path.iterdir())


def test_a_size_named_twice_is_refused(tmp_path, toy_idx_dir):
    with pytest.raises(VaelabError, match="--latent names 2 more than once"):
        run_sweep(load_dataset(f"mnist:{toy_idx_dir}"), tmp_path, None, SweepConfig(latents=(2, 4, 2)), progress=False)


def test_the_active_units_panel_shows_a_collapsed_model():
    import matplotlib.pyplot as plt

    from vaelab.tasks.sweep import sweep_figure

    rows = [{"model": "vae-conv", "latent": z, "neg_elbo": 100.0, "recon": 90.0, "active_units": 0} for z in (2, 4)]
    rows += [{"model": "ae-mlp", "latent": z, "neg_elbo": None, "recon": 80.0, "active_units": z} for z in (2, 4)]
    fig = sweep_figure(rows)
    ax = fig.axes[3]
    collapsed = [line for line in ax.get_lines() if line.get_label() == "vae-conv"][0]
    assert list(collapsed.get_ydata()) == [0, 0] and ax.get_ylim()[0] < 0 < ax.get_ylim()[1]  # drawn, not dropped
    plt.close(fig)


def test_sweep_evaluator_none_skips_fidelity(tmp_path, toy_idx_dir, capsys):
    code = main(
        [
            "sweep",
            "--latent",
            "2",
            "--epochs",
            "1",
            "--data",
            f"mnist:{toy_idx_dir}",
            "--evaluator",
            "none",
            "--limit",
            "64",
            "--batch-size",
            "32",
            "--prior-samples",
            "10",
            "--out",
            str(tmp_path / "s"),
            "--quiet",
        ]
    )
    assert code == 0
    assert "no evaluator" in capsys.readouterr().out
    assert "fidelity" not in json.loads((tmp_path / "s" / "sweep.json").read_text())[0]


def test_an_ae_in_a_sweep_with_a_beta_vae_base_trains_without_the_kl_weights(tmp_path, toy_idx_dir):
    from vaelab.models.config import ModelConfig

    cfg = SweepConfig(
        kinds=("ae-mlp",), latents=(2,), epochs=1, limit=64, batch_size=32, device="cpu", prior_samples=10
    )
    rows = run_sweep(
        load_dataset(f"mnist:{toy_idx_dir}"), tmp_path, None, cfg, base=ModelConfig(beta=4.0), progress=False
    )
    assert len(rows) == 1 and json.loads((tmp_path / "ae-mlp-z2" / "config.json").read_text())["model"]["beta"] == 1.0
