"""Data-parallel training: 2 CPU processes (gloo) follow the same path as 1 process with the doubled batch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from vaelab.data.loaders import load_dataset
from vaelab.models.config import ModelConfig, weights_id
from vaelab.models.density import read_density
from vaelab.training.config import TrainConfig
from vaelab.training.vae import train


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_doubled_batch(tmp_path, toy_idx_dir):
    # 300 training images: 3 global batches of 2 × 50, so no rank ever gets a short slice.
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    train(
        ModelConfig(latent_dim=4, widths=(4, 8)),
        ds,
        tmp_path / "one",
        TrainConfig(epochs=2, batch_size=100, onnx=False),
        progress=False,
    )
    common = [
        "--data",
        f"mnist:{toy_idx_dir}",
        "--latent",
        "4",
        "--widths",
        "4,8",
        "--batch-size",
        "50",
        "--out",
        str(tmp_path / "two"),
        "--quiet",
        "--no-onnx",
    ]
    # epoch 1 through `vaelab train --nproc 2`, epoch 2 through torchrun directly, resuming the checkpoint
    p = subprocess.run(
        [sys.executable, "-m", "vaelab.cli", "train", *common, "--epochs", "1", "--nproc", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=2",
            "-m",
            "vaelab",
            "train",
            *common,
            "--epochs",
            "2",
            "--resume",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.count("epoch 2:") == 1  # rank 0 alone reports
    assert p.stdout.count("density (chosen among") == 1  # and alone fits the density, for the final weights
    assert read_density(tmp_path / "two")[1]["weights_id"] == weights_id(tmp_path / "two")
    one, two = (
        load_file(str(tmp_path / "one" / "model.safetensors")),
        load_file(str(tmp_path / "two" / "model.safetensors")),
    )
    for k in one:
        torch.testing.assert_close(two[k], one[k], atol=2e-5, rtol=1e-4), k
    assert not torch.equal(one["to_stats.weight"], torch.zeros_like(one["to_stats.weight"]))
    # the run records its process count, and going on with another would change the global batch half-way
    assert json.loads((tmp_path / "two" / "config.json").read_text())["training"]["processes"] == 2
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "vaelab.cli",
            "train",
            "--out",
            str(tmp_path / "two"),
            "--resume",
            "--epochs",
            "3",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "trained on 2 process(es), a global batch of 100; resume it with --nproc 2" in p.stderr


def test_the_launcher_refuses_a_resume_with_another_process_count_before_starting_the_ranks(
    tmp_path, monkeypatch, capsys, toy_idx_dir
):
    import vaelab.cli.train as cli_train
    from vaelab.cli import main

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    train(
        ModelConfig(latent_dim=4, widths=(4, 8)),
        ds,
        tmp_path / "run",
        TrainConfig(epochs=1, batch_size=100, onnx=False),
        progress=False,
    )
    launched = []
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(cli_train, "_launch_torchrun", lambda args: launched.append(args))
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--epochs", "2", "--nproc", "2"]) == 2
    assert not launched and "resume it with no --nproc, not 2 process(es)" in capsys.readouterr().err


def test_the_launcher_leaves_the_unreadable_files_warning_to_rank_0(tmp_path, monkeypatch, capsys):
    from PIL import Image

    import vaelab.cli.train as cli_train
    from vaelab.cli import main

    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(20):
        Image.new("L", (8, 8), i).save(data / f"{i}.png")
    (data / "broken.png").write_text("not an image")
    launched = []
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(cli_train, "_launch_torchrun", lambda args: launched.append(args))
    assert (
        main(
            [
                "train",
                "--data",
                f"folder:{data}",
                "--size",
                "8",
                "--widths",
                "8",
                "--batch-size",
                "4",
                "--nproc",
                "2",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    assert launched and "warning" not in capsys.readouterr().err  # rank 0 says it, once


def test_the_launcher_refuses_what_the_ranks_would_before_starting_them(tmp_path, monkeypatch, capsys, toy_idx_dir):
    import vaelab.cli.train as cli_train
    from vaelab.cli import main

    launched = []
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(cli_train, "_launch_torchrun", lambda args: launched.append(args))
    assert (
        main(
            [
                "train",
                "--data",
                f"mnist:{toy_idx_dir}",
                "--model",
                "ae-mlp",
                "--beta",
                "4",
                "--nproc",
                "2",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 2
    )
    assert not launched and "--beta weighs a VAE's KL term" in capsys.readouterr().err


def test_the_launcher_refuses_a_resume_on_other_data_before_starting_the_ranks(
    tmp_path, monkeypatch, capsys, tiny_model_dir
):
    import shutil

    from PIL import Image

    import vaelab.cli.train as cli_train
    from vaelab.cli import main

    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run)
    other = tmp_path / "other"
    for c in ("cats", "dogs"):
        (other / c).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (28, 28), 40 * i).save(other / c / f"{i}.png")
    launched = []
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(cli_train, "_launch_torchrun", lambda args: launched.append(args))
    assert (
        main(["train", "--out", str(run), "--resume", "--epochs", "5", "--data", f"folder:{other}", "--nproc", "2"])
        == 2
    )
    assert not launched and "has cats, dogs" in capsys.readouterr().err
