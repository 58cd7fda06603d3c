"""How a run computes: --precision auto picks bf16 only where the device computes it natively, the objective and the
saved weights stay fp32 under bf16, bf16 and fp32 agree on a planted batch, a run killed mid-epoch resumes
bit-identically under either, and the evaluator's classifier trains on the same scaffold (--minutes, Ctrl-C,
--resume)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import vaelab
from conftest import run_vaelab
from vaelab.cli import main
from vaelab.data.loaders import load_dataset
from vaelab.errors import VaelabError, VaelabWarning
from vaelab.models.config import ModelConfig
from vaelab.models.registry import build_model
from vaelab.models.runtime import open_model
from vaelab.training import compute
from vaelab.training.classifier import ClassifierKind, train_classifier
from vaelab.training.compute import plan_compute
from vaelab.training.config import ClassifierTrainConfig, TrainConfig
from vaelab.training.loop import TrainingInterrupted
from vaelab.training.vae import train

CPU = torch.device("cpu")
CFG = ModelConfig(latent_dim=4, widths=(4, 8))


def fake_cpu(monkeypatch, amx: bool, avx512_bf16: bool) -> None:
    monkeypatch.setattr(compute, "cpu_has_amx", lambda: amx)
    monkeypatch.setattr(compute, "cpu_has_avx512_bf16", lambda: avx512_bf16)


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "chosen", "named"),
    [
        (True, True, "bf16", "AMX and AVX512-BF16"),
        (True, False, "bf16", "AMX"),
        (False, True, "bf16", "AVX512-BF16"),
        (False, False, "fp32", "neither AMX nor AVX512-BF16"),
    ],
)
def test_auto_picks_bf16_only_on_a_cpu_that_computes_it_natively(monkeypatch, amx, avx512_bf16, chosen, named):
    fake_cpu(monkeypatch, amx, avx512_bf16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto never warns
        plan = plan_compute("auto", False, CPU, "vae-conv")
    assert plan.precision == chosen
    assert named in plan.line and f"computing in {chosen}" in plan.line
    assert plan.channels_last == (chosen == "bf16")  # vae-conv measured faster in NHWC under bf16 only


@pytest.mark.parametrize(("native", "chosen"), [(True, "bf16"), (False, "fp32")])
def test_auto_on_cuda_follows_the_gpus_native_bf16(monkeypatch, native, chosen):
    monkeypatch.setattr(compute, "cuda_has_bf16", lambda device: native)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Test GPU")
    plan = plan_compute("auto", False, torch.device("cuda"), "vae-res")
    assert plan.precision == chosen and "Test GPU" in plan.line
    assert not plan.channels_last  # vae-res measured slower in NHWC


def test_asking_for_bf16_without_native_support_runs_it_and_says_so_in_one_warning(monkeypatch):
    fake_cpu(monkeypatch, False, False)
    with pytest.warns(VaelabWarning) as caught:
        plan = plan_compute("bf16", False, CPU, "vae-conv")
    assert plan.precision == "bf16"
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert "auto would pick fp32" in str(caught[0].message)
    fake_cpu(monkeypatch, True, False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plan_compute("bf16", False, CPU).precision == "bf16"  # native: no warning
    assert plan_compute("fp32", False, CPU, "vae-conv") == plan_compute("fp32", False, CPU, "vae-conv")
    assert plan_compute("fp32", False, CPU, "vae-conv").precision == "fp32"


def test_an_unknown_precision_is_refused_in_one_line():
    with pytest.raises(VaelabError, match="one of auto, bf16, fp32"):
        TrainConfig(precision="fp16")
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--precision", "fp16", "--out", "/nonexistent/x"])
    assert stopped.value.code == 2


def test_under_bf16_autocast_the_objective_is_fp32_and_the_weights_stay_fp32():
    torch.manual_seed(0)
    model = build_model(ModelConfig(channels=3, height=16, width=16, widths=(8, 16), likelihood="gaussian-optimal"))
    x = torch.rand(8, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        hidden = model.encoder(x)
    assert hidden.dtype == torch.bfloat16  # the networks do compute in bf16
    for term in (out.objective, out.recon, out.kl, out.z, out.logits):
        assert term.dtype == torch.float32
    out.objective.backward()
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in model.parameters())


def _loss_path(precision: str, steps: int = 6) -> list[float]:
    """The objective over a few Adam steps on one planted batch, from the same start."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=8, widths=(8, 16)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = (torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(1)) > 0.7).float()
    eps = torch.randn(32, 8, generator=torch.Generator().manual_seed(2))
    plan = plan_compute(precision, False, CPU)
    path = []
    for _ in range(steps):
        with plan.autocast():
            loss = model(x, eps=eps).objective
        opt.zero_grad()
        loss.backward()
        opt.step()
        path.append(loss.item())
    return path


def test_bf16_and_fp32_agree_within_half_a_percent_over_a_few_steps_on_a_planted_batch(monkeypatch):
    fake_cpu(monkeypatch, True, True)  # no warning: this test is about the numbers, not the machine
    fp32, bf16 = np.array(_loss_path("fp32")), np.array(_loss_path("bf16"))
    assert fp32[-1] < fp32[0]  # it trains
    np.testing.assert_allclose(bf16, fp32, rtol=5e-3)
    assert not np.array_equal(bf16, fp32)  # and bf16 did compute something else


def test_a_bf16_run_saves_fp32_weights_and_records_how_it_computed(tmp_path, toy_idx_dir, monkeypatch):
    fake_cpu(monkeypatch, True, False)
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    lines = []
    train(CFG, ds, tmp_path / "run", TrainConfig(epochs=1, batch_size=64), progress=False, announce=lines.append)
    assert lines == ["computing in bf16, channels_last on cpu (auto: this CPU has AMX)"]
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.float32}
    assert all(t.is_contiguous() for t in weights.values())  # plain NCHW on disk, whatever the layout in training
    training = json.loads((tmp_path / "run" / "config.json").read_text())["training"]
    assert (training["precision"], training["computed_in"], training["channels_last"]) == ("auto", "bf16", True)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["optimizer"]["state"]
    assert {t.dtype for s in state.values() for k, t in s.items() if k != "step"} == {torch.float32}
    # the ONNX export of a model trained in channels_last decodes as the saved weights do
    z = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    onnx, torch_model = open_model(tmp_path / "run", backend="onnx"), open_model(tmp_path / "run", backend="torch")
    np.testing.assert_allclose(onnx.decode(z), torch_model.decode(z), atol=1e-5)


def _computed(out) -> tuple[str, str]:
    training = json.loads((out / "config.json").read_text())["training"]
    return training["precision"], training["computed_in"]


def test_a_resumed_run_computes_as_asked_now_and_otherwise_as_it_did(tmp_path, toy_idx_dir, monkeypatch):
    """A run moved to another machine may change --precision; left out, it stays the run's own."""
    fake_cpu(monkeypatch, True, False)  # a machine where auto picks bf16
    out, quiet = tmp_path / "run", dict(progress=False)
    vaelab.train(f"mnist:{toy_idx_dir}", out, epochs=1, precision="fp32", latent_dim=4, widths=(4, 8), **quiet)
    assert _computed(out) == ("fp32", "fp32")
    vaelab.train(None, out, epochs=2, resume=True, **quiet)
    assert _computed(out) == ("fp32", "fp32")  # not auto's bf16: the run's own
    vaelab.train(None, out, epochs=3, resume=True, precision="auto", **quiet)
    assert _computed(out) == ("auto", "bf16")
    vaelab.train(None, out, epochs=4, resume=True, **quiet)
    assert _computed(out) == ("auto", "bf16")
    assert json.loads((out / "config.json").read_text())["training"]["epochs_done"] == 4


def test_a_resumed_evaluator_computes_as_asked_now_and_otherwise_as_it_did(tmp_path, toy_idx_dir, monkeypatch):
    fake_cpu(monkeypatch, True, False)
    out, quiet = tmp_path / "evaluator", dict(progress=False, batch_size=64)
    vaelab.train_evaluator(f"mnist:{toy_idx_dir}", out, epochs=1, precision="fp32", **quiet)
    vaelab.train_evaluator(None, out, epochs=2, resume=True, progress=False)
    assert _computed(out) == ("fp32", "fp32")
    vaelab.train_evaluator(None, out, epochs=3, resume=True, precision="bf16", progress=False)
    assert _computed(out) == ("bf16", "bf16")


KILL_AT_STEP = """
import os, signal, sys
from vaelab.training import vae
step = vae.VAEKind.step
def step_then_die(self, batch, n):
    if n == {kill_at}:  # mid-epoch 2: epoch 1's checkpoint is on disk, epoch 2 half done
        os.kill(os.getpid(), signal.SIGKILL)
    return step(self, batch, n)
vae.VAEKind.step = step_then_die
from vaelab.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("precision", "compiled"),
    [("fp32", False), ("bf16", False), pytest.param("fp32", True, marks=pytest.mark.slow)],
)
def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_bit_for_bit(tmp_path, toy_idx_dir, precision, compiled):
    common = ["--data", f"mnist:{toy_idx_dir}", "--latent", "4", "--widths", "4,8", "--batch-size", "64"]
    common += ["--precision", precision, "--quiet", "--no-onnx", *(["--compile"] if compiled else [])]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the killed process computes: one thread
    try:
        assert run_vaelab("train", *common, "--epochs", "3", "--out", tmp_path / "a").returncode == 0
        # 300 training images at batch 64: 5 steps an epoch; the process kills itself at its 8th step
        killed = [sys.executable, "-c", KILL_AT_STEP.format(kill_at=7), "train", *common, "--epochs", "3"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([*killed, "--out", str(tmp_path / "b")], env=env, capture_output=True)
        assert proc.returncode == -signal.SIGKILL
        done = run_vaelab("train", "--out", tmp_path / "b", "--resume", "--quiet", "--data", f"mnist:{toy_idx_dir}")
    finally:
        torch.set_num_threads(threads)
    assert done.returncode == 0, done.stderr
    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "b" / "config.json").read_text())["training"]["computed_in"] == precision


# --- the evaluator on the shared scaffold -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy(toy_idx_dir):
    return load_dataset(f"mnist:{toy_idx_dir}")


def _state(folder):
    return load_file(str(folder / "model.safetensors"))


def test_an_evaluator_stopped_mid_epoch_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, toy, monkeypatch):
    cfg = ClassifierTrainConfig(epochs=3, batch_size=64, device="cpu", log_every=3)
    train_classifier(toy, tmp_path / "a", cfg, progress=False)
    step = ClassifierKind.step

    def interrupted_in_epoch_2(self, batch, n):
        if n == self.steps_per_epoch + 2:
            raise KeyboardInterrupt
        return step(self, batch, n)

    monkeypatch.setattr(ClassifierKind, "step", interrupted_in_epoch_2)
    with pytest.raises(TrainingInterrupted) as stopped:
        train_classifier(toy, tmp_path / "b", cfg, progress=False)
    assert stopped.value.saved_epoch == 1
    monkeypatch.setattr(ClassifierKind, "step", step)
    _, history = train_classifier(toy, tmp_path / "b", ClassifierTrainConfig(epochs=3), progress=False, resume=True)
    a, b = _state(tmp_path / "a"), _state(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 3]
    with pytest.raises(VaelabError, match="already trained 3 epochs"):
        train_classifier(toy, tmp_path / "b", ClassifierTrainConfig(epochs=3), progress=False, resume=True)


def test_an_evaluator_with_a_time_budget_fits_its_epochs_to_it(tmp_path, toy):
    cfg = ClassifierTrainConfig(epochs=8, batch_size=64, device="cpu", minutes=1e-4)  # less than one epoch
    _, history = train_classifier(toy, tmp_path / "ev", cfg, progress=False)
    assert len(history["epochs"]) == 1  # the first epoch runs in full; the budget then leaves none
    training = json.loads((tmp_path / "ev" / "config.json").read_text())["training"]
    assert training["epochs_done"] == 1 and training["minutes"] == 1e-4


def test_ctrl_c_in_train_evaluator_names_the_saved_epoch_and_the_resume_command(
    tmp_path, toy_idx_dir, capsys, monkeypatch
):
    step = ClassifierKind.step

    def interrupted_in_epoch_2(self, batch, n):
        if n == self.steps_per_epoch + 1:
            raise KeyboardInterrupt
        return step(self, batch, n)

    monkeypatch.setattr(ClassifierKind, "step", interrupted_in_epoch_2)
    out = tmp_path / "ev"
    args = ["train-evaluator", "--data", f"mnist:{toy_idx_dir}", "--out", str(out), "--epochs", "3", "--quiet"]
    assert main([*args, "--batch-size", "64"]) == 130
    err = capsys.readouterr().err
    assert "holds epoch 1" in err and f"vaelab train-evaluator --out {out} --resume" in err
    monkeypatch.setattr(ClassifierKind, "step", step)
    assert main(["train-evaluator", "--out", str(out), "--resume", "--quiet"]) == 0  # the run's own data and plan
    assert "test accuracy" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["training"]["epochs_done"] == 3
    assert main(["train-evaluator", "--out", str(out), "--resume", "--epochs", "4", "--lr", "0.5"]) == 2
    assert "--lr 0.5 (the run's: 0.002)" in capsys.readouterr().err


def test_an_evaluator_in_memory_leaves_no_folder_and_refuses_to_resume(toy):
    model, history = train_classifier(toy, None, ClassifierTrainConfig(epochs=1, batch_size=64), progress=False)
    assert history["test_accuracy"] is not None and not model.training
    with pytest.raises(VaelabError, match="needs the run's folder"):
        train_classifier(toy, None, ClassifierTrainConfig(epochs=2), progress=False, resume=True)


def test_an_evaluator_step_under_bf16_keeps_fp32_weights(tmp_path, toy, monkeypatch):
    fake_cpu(monkeypatch, True, False)
    lines = []
    cfg = ClassifierTrainConfig(epochs=1, batch_size=64, device="cpu")
    model, _ = train_classifier(toy, tmp_path / "ev", cfg, progress=False, announce=lines.append)
    assert lines[0].startswith("computing in bf16 on cpu")  # the classifier keeps NCHW: not measured faster
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert json.loads((tmp_path / "ev" / "config.json").read_text())["training"]["computed_in"] == "bf16"


def test_an_evaluators_curve_draws_each_epochs_mean_when_too_few_steps_were_logged(tmp_path):
    from vaelab.viz.training_curves import plot_classifier_curve

    epochs = [
        {"kind": "epoch", "epoch": e, "step": 24 * e, "train_loss": 1.0 / e, "test_accuracy": 0.7} for e in (1, 2)
    ]
    short = [{"kind": "step", "epoch": 2, "step": 30, "loss": 0.9}, *epochs]
    assert plot_classifier_curve(short, tmp_path / "a.png") == [(24, 1.0), (48, 0.5)]
    logged = [{"kind": "step", "epoch": 1, "step": s, "loss": 2.0 / s} for s in (10, 20)] + epochs
    assert plot_classifier_curve(logged, tmp_path / "b.png") == [(10, 0.2), (20, 0.1)]
    assert (tmp_path / "a.png").stat().st_size > 1000
