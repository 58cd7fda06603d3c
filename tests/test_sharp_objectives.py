"""The terms a VAE's training may add to its ELBO to keep detail (the focal frequency loss, a PatchGAN's hinge loss
with VQGAN's adaptive weight), augmentation, and a run fitted to a time budget (--minutes)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vaelab.cli import main
from vaelab.data.loaders import load_dataset
from vaelab.models.config import ModelConfig
from vaelab.models.registry import build_model
from vaelab.training import loop
from vaelab.training.adversarial import (
    MAX_ADAPTIVE_WEIGHT,
    PatchDiscriminator,
    adaptive_weight,
    discriminator_loss,
    generator_loss,
    last_decoder_weight,
)
from vaelab.training.augment import flip_images, shift_images
from vaelab.training.checkpoint import load_checkpoint
from vaelab.training.config import TrainConfig
from vaelab.training.distributed import Dist
from vaelab.training.frequency import focal_frequency_loss, frequency_term
from vaelab.training.vae import train

CFG = ModelConfig(latent_dim=4, widths=(4, 8))


# --- the focal frequency loss ----------------------------------------------------------------------------------


def test_the_focal_frequency_loss_is_0_for_equal_images_and_the_squared_error_without_focus():
    torch.manual_seed(0)
    x, y = torch.rand(3, 2, 8, 6), torch.rand(3, 2, 8, 6)
    assert torch.allclose(focal_frequency_loss(x, x), torch.zeros(3))
    # alpha 0: every weight is 1, and Parseval makes the spectrum's squared error the pixels'
    sse = (x - y).square().flatten(1).sum(1)
    assert torch.allclose(focal_frequency_loss(x, y, alpha=0.0), sse, rtol=1e-5)


def test_the_focal_weights_keep_the_worst_frequency_whole_and_shrink_the_slight_ones():
    h = w = 8
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    stripes = torch.cos(math.pi * xx).float()[None, None]  # the highest horizontal frequency alone
    x = torch.zeros(1, 1, h, w)
    # one frequency wrong: its weight is 1, so the loss is the whole squared error
    assert focal_frequency_loss(x + stripes, x).item() == pytest.approx(stripes.square().sum().item(), rel=1e-5)
    # add a slight error at another frequency: it counts at (its size ÷ the largest) of its squared error
    slight = 0.1 * torch.cos(2 * math.pi * yy / h).float()[None, None]
    sse = (stripes + slight).square().sum().item()
    loss = focal_frequency_loss(x + stripes + slight, x).item()
    assert stripes.square().sum().item() < loss < sse


def test_the_frequency_term_is_in_the_units_of_the_gaussian_likelihood_and_is_scale_free():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 8, 8)
    recon = (x + 0.05 * torch.randn_like(x)).requires_grad_(True)
    term = frequency_term(recon, x)
    # D/2 at most (every weight 1: the squared error over twice the mean squared error is half the pixel count)
    assert 0 < term.item() <= 3 * 8 * 8 / 2
    twice = frequency_term(x + 2 * (recon.detach() - x), x)
    assert twice.item() == pytest.approx(term.item(), rel=1e-5)  # an error twice as large: the same pull
    term.backward()
    assert recon.grad is not None and torch.isfinite(recon.grad).all()


# --- the adversarial term --------------------------------------------------------------------------------------


def test_hinge_losses_of_the_discriminator_and_the_decoder():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    assert discriminator_loss(real, fake).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert generator_loss(fake).item() == pytest.approx(1.5)


def test_the_adaptive_weight_is_the_ratio_of_the_gradient_norms_and_stays_finite_when_one_vanishes():
    w = torch.tensor([[1.0, -2.0]], requires_grad=True)
    recon, adv = (w * torch.tensor([[3.0, 4.0]])).sum(), (w * torch.tensor([[0.6, 0.8]])).sum()
    assert adaptive_weight(recon, adv, w).item() == pytest.approx(5.0 / (1.0 + 1e-4))
    # the adversarial gradient is 0 (a saturated discriminator): the weight is clamped, not infinite
    flat = (w * 0).sum()
    weight = adaptive_weight(recon, flat, w)
    assert torch.isfinite(weight) and weight.item() == MAX_ADAPTIVE_WEIGHT
    assert adaptive_weight(flat, adv, w).item() == 0.0


def test_the_patch_discriminator_scores_patches_and_finds_the_decoders_last_layer():
    d = PatchDiscriminator(3)
    assert d(torch.rand(2, 3, 64, 48)).shape == (2, 1, 8, 6)
    model = build_model(ModelConfig(channels=3, height=32, width=32, latent_dim=4, widths=(4, 8)))
    last = last_decoder_weight(model)
    z = torch.randn(2, 4, requires_grad=True)
    (grad,) = torch.autograd.grad(model.decode_logits(z).sum(), last)
    assert grad.abs().sum() > 0  # it is on the decoder's path, and it is the layer that makes the pixels
    assert last is [p for p in model.parameters() if p.ndim >= 2][-1]


# --- augmentation ------------------------------------------------------------------------------------------------


def test_shifts_repeat_the_edge_and_flips_mirror_only_the_chosen_images():
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.float32).view(2, 1, 3, 4)
    moved = shift_images(x, np.array([[0, 1], [1, 0]]), fill=None)
    assert torch.equal(moved[0, 0, :, 1:], x[0, 0, :, :-1]) and torch.equal(moved[0, 0, :, 0], x[0, 0, :, 0])
    assert torch.equal(moved[1, 0, 1:], x[1, 0, :-1]) and torch.equal(moved[1, 0, 0], x[1, 0, 0])
    flipped = flip_images(x, np.array([True, False]))
    assert torch.equal(flipped[0], x[0].flip(-1)) and torch.equal(flipped[1], x[1])


def test_augmented_batches_are_drawn_from_the_seed_and_leave_the_shuffle_as_it_was(tmp_path, toy_idx_dir):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    train(CFG, ds, tmp_path / "a", TrainConfig(epochs=1, batch_size=64, onnx=False), progress=False)
    cfg = TrainConfig(epochs=1, batch_size=64, shift=2, flip=True, onnx=False)
    train(CFG, ds, tmp_path / "b", cfg, progress=False)
    train(CFG, ds, tmp_path / "c", cfg, progress=False)
    a, b, c = (load_file(str(tmp_path / n / "model.safetensors")) for n in "abc")
    assert all(torch.equal(b[k], c[k]) for k in b)  # the same seed, the same augmentation
    assert not all(torch.equal(a[k], b[k]) for k in a)  # and it changes what is learned


# --- a run with the extra terms resumes exactly --------------------------------------------------------------


def test_a_run_with_frequency_and_adversarial_terms_resumes_to_the_same_weights_and_discriminator(
    tmp_path, toy_idx_dir
):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    settings = dict(
        batch_size=64, freq_loss=1.0, adversarial=0.5, adversarial_start=2, shift=1, log_every=3, onnx=False
    )
    train(CFG, ds, tmp_path / "straight", TrainConfig(epochs=3, **settings), progress=False)
    train(CFG, ds, tmp_path / "split", TrainConfig(epochs=1, **settings), progress=False)
    train(None, ds, tmp_path / "split", TrainConfig(epochs=3), resume=True, progress=False)
    for name in ("model", "discriminator"):
        a, b = (load_checkpoint(tmp_path / run)[name] for run in ("straight", "split"))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    records = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    assert steps and all({"loss", "adversarial", "discriminator"} <= r.keys() for r in steps)
    saved = json.loads((tmp_path / "split" / "config.json").read_text())["training"]
    assert saved["adversarial"] == 0.5 and saved["freq_loss"] == 1.0


def test_each_step_trains_the_model_then_the_discriminator_on_their_own_gradients(tmp_path, toy_idx_dir, monkeypatch):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    seen = []  # for each optimizer step: how many tensors it trains, and the size of the discriminator's gradients
    real_step = torch.optim.Adam.step
    discriminators = []
    real_init = PatchDiscriminator.__init__

    def keep(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        discriminators.append(self)

    def spy(self, *args, **kwargs):
        params = [p for group in self.param_groups for p in group["params"]]
        disc_grads = sum(float(p.grad.abs().sum()) for p in discriminators[0].parameters() if p.grad is not None)
        seen.append((len(params), disc_grads))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(PatchDiscriminator, "__init__", keep)
    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    cfg = TrainConfig(epochs=1, batch_size=64, adversarial=1.0, adversarial_start=1, onnx=False)
    train(CFG, ds, tmp_path / "run", cfg, progress=False)
    n_disc = len(list(discriminators[0].parameters()))
    assert seen[0][0] != n_disc  # before the start: the model's step alone
    after = seen[1:]
    assert len(after) % 2 == 0 and after
    left = 0.0  # the gradients the discriminator's last step left
    for (model_n, model_disc_grads), (disc_n, disc_grads) in zip(after[::2], after[1::2]):
        assert model_n != n_disc and model_disc_grads == left  # the decoder's step adds nothing to them
        assert disc_n == n_disc and disc_grads > 0
        left = disc_grads


# --- a time budget -------------------------------------------------------------------------------------------------


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_time_budget_fits_the_last_epoch_to_the_time_an_epoch_takes(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(loop.TimeBudget, "clock", staticmethod(clock))
    budget, one = loop.TimeBudget(100.0), Dist(torch.device("cpu"))
    clock.now = 9.0  # the first epoch's steps took 9 s
    assert budget.fitted_epochs(1, one) == 1 + 10  # (100 − 9) // 9 more
    clock.now = 10.0  # and its scoring 1 s
    budget.epoch_ended()
    clock.now = 19.0
    assert budget.fitted_epochs(2, one) == 2 + 8  # 10 s an epoch: 19 + 1 used, 80 s left
    clock.now, budget.last_end = 95.0, 1.0
    assert budget.fitted_epochs(9, one) == 9  # no room for another: this epoch is the last


def test_a_run_with_minutes_ends_on_time_with_its_cosine_fitted(tmp_path, toy_idx_dir, monkeypatch):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    clock, real = _Clock(), loop.run_epoch

    labels = []

    def timed_epoch(kind, run, epoch, progress, label=None):
        labels.append(label)
        clock.now += 6.0  # every epoch's steps take 6 s on this clock
        return real(kind, run, epoch, progress, label)

    monkeypatch.setattr(loop.TimeBudget, "clock", staticmethod(clock))
    monkeypatch.setattr(loop, "run_epoch", timed_epoch)
    taken, adam_step = [], torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        taken.append(self.param_groups[0]["lr"])
        return adam_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    cfg = TrainConfig(epochs=2, batch_size=64, minutes=0.5, lr_schedule="cosine", onnx=False)
    train(CFG, ds, tmp_path / "run", cfg, progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["training"]
    assert saved["epochs_done"] == saved["epochs"] == 5  # 30 s of 6-second epochs
    assert taken[-1] < 0.1 * cfg.lr  # the cosine reached about 0 at the last step of the fitted run
    assert (tmp_path / "run" / "recon_epoch005.png").is_file()
    # the bar shows the time left, not an epoch total that moves as the run is refitted
    assert labels[:3] == ["epoch 1 (0:30 left)", "epoch 2 (0:24 left)", "epoch 3 (0:18 left)"]


def test_the_cli_refuses_epochs_and_minutes_together_in_one_line(tmp_path, toy_idx_dir, capsys):
    argv = ["train", "--data", f"mnist:{toy_idx_dir}", "--out", str(tmp_path / "r"), "--epochs", "3", "--minutes", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "either --epochs or --minutes" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(freq_loss=-1.0), "frequency loss weight"),
        (dict(adversarial=float("nan")), "adversarial weight"),
        (dict(shift=-1), "shift must be 0 or more"),
        (dict(minutes=-2.0), "time budget"),
    ],
)
def test_configs_refuse_negative_weights_shifts_and_budgets(settings, message):
    from vaelab.errors import VaelabError

    with pytest.raises(VaelabError, match=message):
        TrainConfig(**settings)


def test_a_set_of_a_few_hundred_images_is_warned_that_it_will_be_learned_by_heart(tmp_path, toy_idx_dir):
    import warnings

    from vaelab.errors import VaelabWarning
    from vaelab.training.checks import FEW_IMAGES, warn_small_set

    small = load_dataset(f"mnist:{toy_idx_dir}")
    small.limit_train(120)
    with pytest.warns(VaelabWarning, match="120 training images are few for a VAE: it will learn them by heart"):
        train(CFG, small, tmp_path / "a", TrainConfig(epochs=1, batch_size=64, onnx=False), progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", VaelabWarning)
        warn_small_set(FEW_IMAGES)  # from FEW_IMAGES on, no warning
    with pytest.warns(VaelabWarning, match="1 training image is few"):
        warn_small_set(1)


# --- the recipe a run takes by its data ----------------------------------------------------------------------------


def _colour_folder(root, n: int = 40):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / f"{i:03d}.png")
    return root


def test_trains_help_names_the_colour_recipe_that_replaces_the_defaults_it_shows(capsys):
    from vaelab.training.recipe import COLOUR_LARGEST_BATCH, COLOUR_RECIPE
    from vaelab.training.settings import shown_settings

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert shown_settings(COLOUR_RECIPE).startswith("--likelihood gaussian-optimal --freq-loss 1 --lr 0.002")
    assert (
        f"colour recipe in place of the default shown: {shown_settings(COLOUR_RECIPE)}, and a batch of at most "
        f"{COLOUR_LARGEST_BATCH}." in shown
    )


def test_a_colour_run_takes_the_colour_recipe_where_no_flag_is_given_and_a_flag_wins(tmp_path, toy_idx_dir, capsys):
    from vaelab.training.recipe import COLOUR_RECIPE

    (tmp_path / "pictures").mkdir()
    folder = _colour_folder(tmp_path / "pictures")
    base = ["train", "--data", f"folder:{folder}", "--size", "16", "--epochs", "1", "--no-onnx", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert "the colour recipe: --likelihood gaussian-optimal" in capsys.readouterr().out
    doc = json.loads((tmp_path / "a" / "config.json").read_text())
    for name, value in COLOUR_RECIPE.items():
        assert {**doc["model"], **doc["training"]}[name] == value
    assert main([*base, "--likelihood", "bernoulli", "--out", str(tmp_path / "b")]) == 0
    assert "--likelihood" not in capsys.readouterr().out.partition("the colour recipe:")[2].splitlines()[0]
    doc = json.loads((tmp_path / "b" / "config.json").read_text())
    assert doc["model"]["likelihood"] == "bernoulli"  # the flag given wins; the rest of the recipe stays
    assert doc["training"]["freq_loss"] == COLOUR_RECIPE.get("freq_loss", 0.0)
    grey = ["train", "--data", f"mnist:{toy_idx_dir}", "--epochs", "1", "--no-onnx", "--quiet", "--out"]
    assert main([*grey, str(tmp_path / "c")]) == 0
    assert "recipe" not in capsys.readouterr().out
    doc = json.loads((tmp_path / "c" / "config.json").read_text())
    assert doc["model"]["likelihood"] == "bernoulli" and doc["training"]["freq_loss"] == 0.0


def test_a_colour_set_is_sized_to_a_batch_of_at_most_32_over_as_many_images_and_a_small_one_still_smaller():
    from vaelab.training.recipe import largest_batch_for
    from vaelab.training.vae import epoch_steps, sized_schedule

    # emoji: batch 128 and 38 epochs without the cap; with it, 4x the steps of a quarter the size, as many images
    assert sized_schedule(3410, largest=largest_batch_for(1)) == (128, 38)
    assert sized_schedule(3410, largest=largest_batch_for(3)) == (32, 38)
    assert 38 * epoch_steps(3410, 32) >= 4 * 1000
    assert sized_schedule(209, largest=largest_batch_for(3)) == (16, 72)  # under the cap: as before
    assert sized_schedule(3410, batch_size=128, largest=64)[0] == 128  # a batch given is kept
    assert sized_schedule(3410, batch_size=32, largest=32) == (32, 10)  # and the epochs are sized to it
    assert sized_schedule(54_000, largest=largest_batch_for(3)) == (32, 10)  # a large set: 10 epochs either way


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--adversarial-start", "100"],
            "--adversarial-start says when the adversarial term starts; give --adversarial",
        ),
        (["--adversarial", "0.1", "--nproc", "2"], "--adversarial trains on one process for now"),
        (["--shift", "28"], "--shift 28 would move 28×28 images out of the frame"),
    ],
)
def test_the_cli_refuses_options_a_run_would_ignore_or_could_not_use_in_one_line(
    tmp_path, toy_idx_dir, capsys, flags, message
):
    out = tmp_path / "run"
    assert main(["train", "--data", f"mnist:{toy_idx_dir}", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()
