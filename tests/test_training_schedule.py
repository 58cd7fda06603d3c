"""The learning-rate schedule (warm-up, cosine) and the moving average of the weights (--ema): what each step
takes, what the model folder saves, and that a resumed run ends exactly where an uninterrupted one does."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from vaelab.cli import main
from vaelab.data.loaders import load_dataset
from vaelab.errors import VaelabError
from vaelab.models.config import ModelConfig
from vaelab.models.registry import load
from vaelab.training import loop
from vaelab.training.checkpoint import load_checkpoint
from vaelab.training.config import TrainConfig
from vaelab.training.evaluation import evaluate_elbo
from vaelab.training.vae import ema_decay_at, epoch_steps, train, update_ema

CFG = ModelConfig(latent_dim=4, widths=(4, 8))


def _weights(folder) -> dict:
    return load_file(str(folder / "model.safetensors"))


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# --- the learning rate at each step ---------------------------------------------------------------------------


def test_cosine_rises_over_the_warmup_then_falls_as_a_half_cosine_to_about_zero_at_the_last_step():
    cfg = TrainConfig(lr=0.01, lr_schedule="cosine", warmup_steps=10)
    total = 110
    assert cfg.lr_at(0, total) == pytest.approx(0.001)  # the first step: a tenth of the rate, not all of it
    assert cfg.lr_at(4, total) == pytest.approx(0.005)
    assert cfg.lr_at(9, total) == pytest.approx(0.01)  # the warm-up's last step reaches --lr
    assert cfg.lr_at(10, total) == pytest.approx(0.01)  # the cosine starts at --lr
    assert cfg.lr_at(60, total) == pytest.approx(0.005)  # half way through the cosine: half the rate
    assert cfg.lr_at(85, total) == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * 0.75)))
    assert 0 < cfg.lr_at(total - 1, total) < 1e-3 * cfg.lr  # the last step: about 0
    after_warmup = [cfg.lr_at(s, total) for s in range(10, total)]
    assert all(a > b for a, b in zip(after_warmup, after_warmup[1:]))


def test_cosine_without_warmup_starts_at_the_full_rate():
    cfg = TrainConfig(lr=0.01, lr_schedule="cosine")
    assert cfg.lr_at(0, 100) == 0.01 and cfg.lr_at(50, 100) == pytest.approx(0.005)


def test_a_constant_rate_with_warmup_rises_linearly_then_stays_and_without_it_is_always_lr():
    warm = TrainConfig(lr=0.01, warmup_steps=4)
    assert [warm.lr_at(s, 100) for s in range(7)] == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01, 0.01])
    plain = TrainConfig(lr=0.01)
    assert {plain.lr_at(s, 100) for s in range(100)} == {0.01}  # exactly --lr: runs without a schedule are unchanged


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(ema=1.0), "EMA decay must be at least 0 .* below 1, .* not 1.0"),
        (dict(ema=-0.1), "EMA decay must be at least 0"),
        (dict(ema=float("nan")), "EMA decay must be at least 0"),
        (dict(lr_schedule="linear"), "schedule is one of constant, cosine, not 'linear'"),
        (dict(warmup_steps=-1), "warm-up is 0 or more steps, not -1"),
    ],
)
def test_configs_refuse_an_ema_decay_outside_0_1_an_unknown_schedule_and_a_negative_warmup(settings, message):
    with pytest.raises(VaelabError, match=message):
        TrainConfig(**settings)


def test_the_cli_refuses_an_ema_decay_of_1_in_one_line(tmp_path, toy_idx_dir, capsys):
    argv = ["train", "--data", f"mnist:{toy_idx_dir}", "--out", str(tmp_path / "run"), "--ema", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "EMA decay must be at least 0 (off) and below 1" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_training_steps_take_the_scheduled_learning_rate(tmp_path, toy_idx_dir, monkeypatch):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    taken, adam_step = [], torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        taken.append(self.param_groups[0]["lr"])
        return adam_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    cfg = TrainConfig(epochs=2, batch_size=64, lr_schedule="cosine", warmup_steps=3, onnx=False)
    train(CFG, ds, tmp_path / "run", cfg, progress=False)
    total = 2 * epoch_steps(len(ds.train_idx), 64)
    assert taken == [cfg.lr_at(s, total) for s in range(total)]
    assert taken[0] == pytest.approx(cfg.lr / 3) and taken[-1] < 0.1 * cfg.lr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["training"]["lr_schedule"] == "cosine"


# --- the moving average of the weights ------------------------------------------------------------------------


def test_update_ema_moves_each_parameter_towards_the_weights_and_copies_the_buffers():
    torch.manual_seed(0)
    model, ema = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        ema.weight.zero_()
        model.running_mean.copy_(torch.tensor([5.0, 6.0, 7.0]))
    update_ema(ema, model, decay=0.9)
    torch.testing.assert_close(ema.weight, torch.tensor([0.1, 0.2, 0.3]))  # 0.9 · 0 + 0.1 · w
    update_ema(ema, model, decay=0.9)
    torch.testing.assert_close(ema.weight, torch.tensor([0.19, 0.38, 0.57]))  # 0.9 · 0.1w + 0.1 · w
    assert torch.equal(ema.running_mean, model.running_mean)
    assert torch.equal(model.weight, torch.tensor([1.0, 2.0, 3.0]))  # the weights themselves are not touched


def test_the_average_follows_the_weights_closely_at_first_and_reaches_its_decay_later():
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1)  # the first step: mostly the new weights
    assert ema_decay_at(0.999, 80) == pytest.approx(0.9)
    assert ema_decay_at(0.999, 10_000) == 0.999  # a long run ends at the decay asked for
    assert ema_decay_at(0.5, 0) == pytest.approx(0.1) and ema_decay_at(0.5, 20) == 0.5
    steps = [ema_decay_at(0.999, s) for s in range(2000)]
    assert steps == sorted(steps)


def test_an_ema_run_trains_the_raw_weights_and_scores_draws_and_saves_their_average(tmp_path, toy_idx_dir):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    plain, averaged = tmp_path / "plain", tmp_path / "ema"
    train(CFG, ds, plain, TrainConfig(epochs=1, batch_size=64, onnx=False), progress=False)
    returned = train(CFG, ds, averaged, TrainConfig(epochs=1, batch_size=64, ema=0.9, onnx=False), progress=False)
    ckpt = load_checkpoint(averaged)
    # training goes on with the raw weights, which the average does not disturb: they are the plain run's
    _assert_same(ckpt["model"], _weights(plain))
    _assert_same(ckpt["ema"], _weights(averaged))  # the model folder holds the average
    assert not torch.equal(ckpt["ema"]["to_stats.weight"], ckpt["model"]["to_stats.weight"])
    _assert_same({k: v.cpu() for k, v in returned.state_dict().items()}, ckpt["ema"])  # so does train()'s model
    doc = json.loads((averaged / "config.json").read_text())
    assert doc["training"]["ema"] == 0.9
    scored = evaluate_elbo(load(averaged), ds.images[ds.split("test")], seed=0)
    assert doc["metrics"]["test"]["neg_elbo"] == pytest.approx(scored["neg_elbo"], rel=1e-6)
    raw = evaluate_elbo(load(plain), ds.images[ds.split("test")], seed=0)
    assert doc["metrics"]["test"]["neg_elbo"] != pytest.approx(raw["neg_elbo"], rel=1e-6)


def test_an_ema_run_with_validation_scores_the_average_and_returns_its_best_epoch(tmp_path, toy_idx_dir, monkeypatch):
    import vaelab.training.vae as trainer

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    scripted, real, scored = iter([3.0, 4.0, 5.0]), trainer.evaluate_elbo, []

    def planted(model, images, **kw):  # validation -ELBO 3, 4, 5: best at epoch 1
        scored.append(model)
        result = real(model, images, **kw)
        return {**result, "neg_elbo": next(scripted)} if len(images) != len(ds.split("test")) else result

    monkeypatch.setattr(trainer, "evaluate_elbo", planted)
    out = tmp_path / "run"
    cfg = TrainConfig(epochs=3, batch_size=64, val_fraction=0.25, ema=0.9, onnx=False)
    model = train(CFG, ds, out, cfg, progress=False)
    assert len(scored) == 6 and all(m is model for m in scored)  # every score is the average's
    folder, latest = _weights(out), load_checkpoint(out)
    assert json.loads((out / "config.json").read_text())["training"]["best_epoch"] == 1
    assert not torch.equal(folder["to_stats.weight"], latest["ema"]["to_stats.weight"])  # epoch 1's, not 3's
    _assert_same({k: v.cpu() for k, v in model.state_dict().items()}, folder)


def test_a_run_without_ema_keeps_no_average_in_its_checkpoint(tmp_path, toy_idx_dir):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    train(CFG, ds, tmp_path / "run", TrainConfig(epochs=1, batch_size=128, onnx=False), progress=False)
    assert "ema" not in load_checkpoint(tmp_path / "run")


# --- exact resume -----------------------------------------------------------------------------------------------


class _Interrupted(Exception):
    pass


@pytest.mark.parametrize(
    "settings",
    [dict(ema=0.9), dict(lr_schedule="cosine", warmup_steps=3), dict(ema=0.8, lr_schedule="cosine")],
    ids=["ema", "cosine-with-warmup", "both"],
)
def test_a_run_interrupted_and_resumed_ends_with_the_same_weights_as_an_uninterrupted_one(
    tmp_path, toy_idx_dir, monkeypatch, settings
):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    cfg = TrainConfig(epochs=3, batch_size=64, onnx=False, **settings)
    train(CFG, ds, tmp_path / "straight", cfg, progress=False)
    end_epoch = loop.end_epoch

    def stop_after_epoch_1(kind, run, seconds, train_values):
        end_epoch(kind, run, seconds, train_values)
        if run.epoch == 1:  # killed once epoch 1's checkpoint is written: the schedule still plans 3 epochs
            raise _Interrupted

    monkeypatch.setattr(loop, "end_epoch", stop_after_epoch_1)
    with pytest.raises(_Interrupted):
        train(CFG, ds, tmp_path / "split", cfg, progress=False)
    monkeypatch.setattr(loop, "end_epoch", end_epoch)
    # a new process would only have the folder: the resume reads the settings, both weights and the RNG from it
    train(None, ds, tmp_path / "split", TrainConfig(epochs=3), resume=True, progress=False)
    _assert_same(_weights(tmp_path / "straight"), _weights(tmp_path / "split"))
    straight, split = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "split")
    _assert_same(straight["model"], split["model"])
    if "ema" in settings:
        _assert_same(straight["ema"], split["ema"])
        assert not torch.equal(split["ema"]["to_stats.weight"], split["model"]["to_stats.weight"])
    assert split["train_config"] == straight["train_config"]  # the resumed run kept the run's settings
