"""The cycle-consistent VAE: its split code, the two cycles of its training step, the swap grid, the loop's
saving and exact resume, and `vaelab train-cycle` / `vaelab disentangle` end to end."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import run_vaelab
from vaelab.errors import VaelabError
from vaelab.latent.partition import part_interpolation_codes, swap_codes
from vaelab.models.config import ModelConfig
from vaelab.models.cycle_vae import CycleVAE
from vaelab.models.registry import build_model
from vaelab.models.runtime import InferenceModel
from vaelab.tasks.disentangle import interpolation_grid, swap_grid
from vaelab.training.config import CycleTrainConfig
from vaelab.training.cycle import (
    forward_cycle,
    other_same_class,
    reverse_cycle,
    same_class_partners,
    train_cycle,
)
from vaelab.viz.training_curves import plot_cycle_curves

TINY = ModelConfig(kind="cycle-vae", latent_dim=6, specified_dim=2, widths=(4, 8), likelihood="gaussian")


class PlantedSplitModel(InferenceModel):
    """Image i (its first pixel holds i) has code table[i] = [z | s]; decode shows z[0] in pixel 0, s[0] in pixel 1."""

    def __init__(self, table: np.ndarray, specified_dim: int):
        doc = {
            "model": {
                "kind": "cycle-vae",
                "channels": 1,
                "height": 1,
                "width": 2,
                "latent_dim": table.shape[1],
                "specified_dim": specified_dim,
            },
            "data": {"name": "planted"},
        }
        super().__init__(None, doc)
        self.table, self.sd = table, specified_dim

    def embed(self, x):
        return self.table[np.rint(x[:, 0, 0, 0] * 255).astype(int)]

    def decode(self, codes):
        return np.stack([codes[:, 0], codes[:, -self.sd]], 1)[:, None, None, :].astype(np.float32)


def _planted_images(ids) -> np.ndarray:
    images = np.zeros((len(ids), 1, 1, 2), np.uint8)
    images[:, 0, 0, 0] = ids
    return images


def test_swap_grid_takes_s_from_the_columns_and_z_from_the_rows():
    table = np.random.default_rng(0).normal(size=(10, 5)).astype(np.float32)
    m = PlantedSplitModel(table, specified_dim=2)
    rows, cols = [1, 4, 7], [0, 2, 5, 9]
    cells = swap_grid(m, _planted_images(rows), _planted_images(cols))  # (3, 4, 1, 1, 2)
    assert cells.shape == (3, 4, 1, 1, 2)
    np.testing.assert_allclose(cells[..., 1].squeeze(), np.tile(table[cols, 3], (3, 1)))  # s: the column's only
    np.testing.assert_allclose(cells[..., 0].squeeze(), np.tile(table[rows, 0][:, None], (1, 4)))  # z: the row's


def test_part_interpolation_walks_z_down_and_s_across():
    a, b = np.array([0.0, 0.0, 10.0, 10.0]), np.array([4.0, 8.0, 20.0, 30.0])
    codes = part_interpolation_codes(a, b, specified_dim=2, steps=5)
    np.testing.assert_allclose(codes[0, 0], a)
    np.testing.assert_allclose(codes[-1, -1], b)
    np.testing.assert_allclose(codes[2, 4], [2.0, 4.0, 20.0, 30.0])  # z halfway, s all the way to b
    np.testing.assert_allclose(codes[:, 0, 2:], np.tile(a[2:], (5, 1)))  # the first column keeps a's s
    np.testing.assert_allclose(swap_codes(a[None], b[None], 2)[0, 0], [0.0, 0.0, 20.0, 30.0])
    m = PlantedSplitModel(np.stack([a, b]).astype(np.float32), specified_dim=2)
    grid = interpolation_grid(m, _planted_images([0])[0], _planted_images([1])[0], steps=5)
    np.testing.assert_allclose(grid[4, :, 0, 0, 0], 4.0)  # bottom row: b's z[0] throughout
    np.testing.assert_allclose(grid[:, 4, 0, 0, 1], 20.0)  # last column: b's s[0] throughout


def test_cycle_vae_code_is_mu_z_then_s():
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    assert isinstance(model, CycleVAE) and (model.z_dim, model.s_dim) == (4, 2)
    x = torch.rand(3, 1, 28, 28)
    mu, logvar, s = model.encode_parts(x)
    code = model.embed(x)
    assert torch.equal(code, torch.cat([mu, s], 1))
    assert torch.allclose(model.decode(code), model.decode_parts(mu, s))
    with pytest.raises(VaelabError, match="specified"):
        build_model(ModelConfig(kind="cycle-vae", latent_dim=6, specified_dim=6))


def test_style_draws_sample_q_z_given_x():
    from vaelab.models.runtime import open_model
    from vaelab.tasks.disentangle import style_draws

    torch.manual_seed(0)
    model = build_model(TINY).eval()
    image = (np.random.default_rng(0).random((1, 1, 28, 28)) * 255).astype(np.uint8)
    draws = style_draws(open_model(model), np.repeat(image, 4000, 0), np.random.default_rng(1))
    with torch.no_grad():
        mu, logvar, _ = model.encode_parts(torch.from_numpy(image).float() / 255)
    np.testing.assert_allclose(draws.mean(0), mu[0].numpy(), atol=0.06)
    np.testing.assert_allclose(draws.std(0), torch.exp(0.5 * logvar[0]).numpy(), rtol=0.06)


def test_forward_cycle_is_the_papers_swap_loss():
    torch.manual_seed(0)
    model = build_model(TINY)
    x1, x2 = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    cfg = CycleTrainConfig()
    torch.manual_seed(1)
    got = forward_cycle(model, x1, x2, cfg)
    torch.manual_seed(1)  # the same noise, by hand: x̂1 = Dec(z1, s2) and x̂2 = Dec(z2, s1)
    mu, logvar, s = model.encode_parts(torch.cat([x1, x2]))
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    x1_hat, x2_hat = model.decode_parts(z[:4], s[4:]), model.decode_parts(z[4:], s[:4])
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
    expected = 2 * F.mse_loss(x1_hat, x1) + 2 * F.mse_loss(x2_hat, x2) + 3 * kl / (4 * 28 * 28)
    assert got["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    torch.manual_seed(1)  # the BCE variant: the same swap, with per-pixel cross-entropy as the recon term
    bce = forward_cycle(model, x1, x2, CycleTrainConfig(recon_loss="bce"))
    expected_bce = 2 * F.binary_cross_entropy(torch.cat([x1_hat, x2_hat]), torch.cat([x1, x2])) * 2 + 3 * kl / (
        4 * 28 * 28
    )
    assert bce["loss"].item() == pytest.approx(expected_bce.item(), rel=1e-5)
    assert bce["mse"].item() == pytest.approx(got["mse"].item(), rel=1e-6)
    per_pixel = F.mse_loss(torch.cat([x1_hat, x2_hat]), torch.cat([x1, x2]))  # what the logs and the test MSE show
    assert got["mse"].item() == pytest.approx(per_pixel.item(), rel=1e-5)
    # the loss curve shows KL(z) in nats per image, as the console and the test records do
    nats_per_image = (kl / 8).item()
    lines = plot_cycle_curves(
        [{"kind": "step", "epoch": 1, "step": 1, "mse": got["mse"].item(), "kl": got["kl"].item(), "reverse_l1": 0.5}],
        Path(tempfile.mkdtemp()) / "curve.png",
        pixels=28 * 28,
    )
    assert lines["kl"] == [pytest.approx(nats_per_image, rel=1e-5)] and lines["reverse_l1"] == [0.5]


def test_forward_cycle_decodes_each_z_with_the_partners_s():
    torch.manual_seed(0)
    model = build_model(TINY)
    x1, x2 = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    seen = []
    real = model.decode_logits
    model.decode_logits = lambda code: seen.append(code.detach().clone()) or real(code)
    forward_cycle(model, x1, x2, CycleTrainConfig())
    s = model.encode_parts(torch.cat([x1, x2]))[2].detach()
    (code,) = seen  # x̂1 = Dec(z1, s2), x̂2 = Dec(z2, s1): the s half is the batches' s, swapped
    assert torch.allclose(code[:, model.z_dim :], torch.cat([s[4:], s[:4]]))


def test_reverse_cycle_decodes_one_shared_z_with_both_s():
    torch.manual_seed(0)
    model = build_model(TINY)
    x = torch.rand(4, 1, 28, 28)
    # the same batch twice: the same s and the same z decode to the same images, so their re-encodings agree exactly
    assert reverse_cycle(model, x, x, CycleTrainConfig())["l1"].item() == 0.0
    assert reverse_cycle(model, x, torch.rand(4, 1, 28, 28), CycleTrainConfig())["l1"].item() > 0.0


def test_the_validation_score_is_the_forward_loss_at_the_posterior_mean():
    cfg = CycleTrainConfig(kl_coef=3.0)
    assert cfg.validation_score({"swap_mse": 0.1, "kl": 784.0}, 784) == pytest.approx(2 * 0.1 + 3 * 1.0)


def test_reverse_cycle_steps_the_encoder_only():
    torch.manual_seed(0)
    model = build_model(TINY)
    opt = torch.optim.Adam(model.encoder_parameters(), lr=1e-2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rev = reverse_cycle(model, torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28), CycleTrainConfig())
    assert rev["loss"].item() == pytest.approx(10 * rev["l1"].item())
    opt.zero_grad()
    rev["loss"].backward()
    assert all(p.grad is None for p in (*model.from_latent.parameters(), *model.decoder.parameters()))
    opt.step()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("encoder.", "to_stats.")) for k in changed)


def test_same_class_partners_share_the_label():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 2, 1, 0])  # every image's label, by index
    pool = np.array([11, 2, 5, 7, 3, 0, 8, 4])  # the images partners may come from (a shuffled subset)
    query = np.array([6, 9, 1, 10, 6])  # images wanting a partner, in the training loop's shuffled order
    partners = same_class_partners(labels[query], pool, labels[pool], np.random.default_rng(0))
    assert np.isin(partners, pool).all()
    assert np.array_equal(labels[partners], labels[query])
    many = np.stack(
        [same_class_partners(labels[query], pool, labels[pool], np.random.default_rng(s)) for s in range(30)]
    )
    assert set(many[:, 0]) == {11, 3, 0}  # every pool image of class 0 gets drawn


def test_scoring_partners_are_other_images_of_the_class_unless_it_has_one():
    labels = np.array([2, 0, 1, 0, 2, 0, 2, 2])  # class 1 has one image
    draws = np.stack([other_same_class(labels, np.random.default_rng(s)) for s in range(40)])
    assert (labels[draws] == labels).all()
    assert (draws[:, 2] == 2).all()  # the lone image can only pair with itself
    others = np.arange(len(labels)) != 2
    assert (draws[:, others] != np.arange(len(labels))[others]).all()
    assert set(draws[:, 1]) == {3, 5} and set(draws[:, 0]) == {4, 6, 7}  # every other member gets drawn


def test_shift_images_moves_each_image_by_its_own_offset_and_fills_with_the_background():
    from vaelab.training.augment import draw_shifts, shift_images

    x = torch.zeros(3, 2, 6, 7)
    x[:, :, 2, 3] = 1.0  # one lit pixel, in both channels
    shifts = np.array([[1, 2], [-2, 0], [0, -3]])
    y = shift_images(x, shifts, fill=0.25)
    for img, (dy, dx) in zip(y, shifts):
        lit = (img == 1.0).nonzero().tolist()
        assert lit == [[c, 2 + dy, 3 + dx] for c in range(2)]
    assert y[0, 0, 0].tolist() == [0.25] * 7 and y[0, 0, :, :2].eq(0.25).all()  # moved in from the top and left
    assert y[0, 0, 1, 2:].eq(0).all()  # the original zeros, moved
    assert torch.equal(shift_images(x, np.zeros((3, 2), int)), x)
    drawn = draw_shifts(np.random.default_rng(0), (2, 500), 2)
    assert drawn.shape == (2, 500, 2) and drawn.min() == -2 and drawn.max() == 2


@pytest.mark.slow
@pytest.mark.parametrize("shift", [0, 2])
def test_train_cycle_saves_a_model_folder_and_resumes_exactly(toy_idx_dir, tmp_path, shift):
    from vaelab.data.loaders import load_dataset
    from vaelab.models.registry import load
    from vaelab.models.runtime import open_model

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    ds.train_idx = ds.train_idx[:128]
    # 4 steps an epoch, a record every 3: the one at step 6 spans the resume
    cfg = dict(batch_size=32, lr=1e-3, log_every=3, eval_images=40, lr_step_epochs=1, lr_gamma=0.5, shift=shift)
    drawn = []  # each epoch's swap grid goes to the figure hook: inputs, and the cells of the model as it stands
    straight = train_cycle(
        TINY,
        ds,
        tmp_path / "a",
        CycleTrainConfig(epochs=2, **cfg),
        progress=False,
        swap_figure=lambda *a: drawn.append(a),
    )
    assert [(p.name, t) for *_, p, t in drawn] == [
        (f"swap_epoch00{e}.png", f"epoch {e}: style transfer on test images") for e in (1, 2)
    ]
    rows, cols, cells = drawn[-1][:3]
    eval_idx = np.sort(np.random.default_rng(0).permutation(ds.split("test"))[:40])[:8]
    np.testing.assert_array_equal(rows, ds.images[eval_idx] / np.float32(255))
    np.testing.assert_array_equal(cols, rows)
    expected = swap_grid(open_model(straight), ds.images[eval_idx], ds.images[eval_idx])
    np.testing.assert_allclose(cells, expected, atol=1e-5)
    train_cycle(TINY, ds, tmp_path / "b", CycleTrainConfig(epochs=1, onnx=False, **cfg), progress=False)
    resumed = train_cycle(None, ds, tmp_path / "b", CycleTrainConfig(epochs=2), resume=True, progress=False)
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    doc = json.loads((tmp_path / "b" / "config.json").read_text())
    assert doc["training"]["shift"] == shift
    if shift:  # the shifts reach the images: the same run without them ends elsewhere
        unshifted = train_cycle(
            TINY, ds, tmp_path / "c", CycleTrainConfig(epochs=2, **{**cfg, "shift": 0}), progress=False
        )
        other = unshifted.state_dict()
        assert any(not torch.equal(v, other[k]) for k, v in straight.state_dict().items())
    loaded = load(tmp_path / "a")
    x = torch.rand(2, 1, 28, 28)
    assert isinstance(loaded, CycleVAE) and torch.equal(loaded.embed(x), straight.embed(x))
    onnx = open_model(tmp_path / "a")  # the generic ONNX export holds [μ_z | s] and decodes it
    assert onnx.backend == "onnx"
    np.testing.assert_allclose(onnx.embed(x.numpy()), straight.embed(x).detach().numpy(), atol=1e-5)
    records = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1, 2]
    straight_records = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in records if r["kind"] == "step"] == [r for r in straight_records if r["kind"] == "step"]
    assert [r["lr"] for r in records if r["kind"] == "epoch"] == [1e-3, 5e-4]  # the step schedule, kept on resume
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert {g["lr"] for o in ("optimizer", "optimizer_reverse") for g in state[o]["param_groups"]} == {5e-4}
    assert (tmp_path / "b" / "swap_epoch002.png").is_file() and (tmp_path / "a" / "loss_curve.png").is_file()


def test_train_cycle_draws_its_swap_grid_every_n_epochs_and_after_the_last(toy_idx_dir, tmp_path):
    from vaelab.data.loaders import load_dataset

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    ds.train_idx = ds.train_idx[:64]
    drawn = []
    train_cycle(
        TINY,
        ds,
        tmp_path / "run",
        CycleTrainConfig(epochs=3, batch_size=32, eval_images=20, onnx=False, picture_every=2),
        progress=False,
        swap_figure=lambda *a: drawn.append(a[3].name),
    )
    assert drawn == ["swap_epoch002.png", "swap_epoch003.png"]
    train_cycle(
        None,
        ds,
        tmp_path / "run",
        CycleTrainConfig(epochs=6),
        resume=True,
        progress=False,
        swap_figure=lambda *a: drawn.append(a[3].name),
    )
    assert drawn[2:] == ["swap_epoch004.png", "swap_epoch006.png"]  # the run's own setting, kept on resume


def test_train_cycle_needs_labels(tmp_path):
    from vaelab.data.dataset import ImageDataset

    ds = ImageDataset(images=np.zeros((80, 1, 28, 28), np.uint8), name="unlabelled")
    with pytest.raises(VaelabError, match="labels"):
        train_cycle(TINY, ds, tmp_path / "run", CycleTrainConfig(epochs=1), progress=False)
    one = ImageDataset(
        images=np.zeros((80, 1, 28, 28), np.uint8),
        labels=np.zeros(80, np.int64),
        name="one class",
        class_names=["only"],
    )
    with pytest.raises(VaelabError, match="all of one class"):
        train_cycle(TINY, one, tmp_path / "run", CycleTrainConfig(epochs=1), progress=False)
    assert not (tmp_path / "run").exists()


def test_train_cycle_validation_keeps_the_best_epoch_and_stops_after_patience(toy_idx_dir, tmp_path, monkeypatch):
    import vaelab.training.cycle as cycle
    from vaelab.data.loaders import load_dataset
    from vaelab.training.checks import validation_split

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    ds.train_idx = ds.train_idx[:128]
    n_val = len(validation_split(ds.split("train"), 0.25)[1])  # 32: 96 images left, 3 batches of 32 an epoch
    scripted = iter([5.0, 3.0, 4.0, 6.0, 7.0, 8.0])
    real = cycle.evaluate_cycle

    def planted(model, images, labels, **kw):  # validation swap MSE 5, 3, 4, 6, ... (KL 0): best at epoch 2
        result = real(model, images, labels, **kw)
        return {**result, "swap_mse": next(scripted), "kl": 0.0} if len(images) == n_val else result

    monkeypatch.setattr(cycle, "evaluate_cycle", planted)
    out = tmp_path / "run"
    cfg = CycleTrainConfig(epochs=6, batch_size=32, lr=1e-3, eval_images=40, val_fraction=0.25, patience=2, onnx=False)
    model = train_cycle(TINY, ds, out, cfg, progress=False)
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in epochs if r["kind"] == "epoch"]
    assert [r["val_score"] for r in epochs] == [10.0, 6.0, 8.0, 12.0]  # 2 × swap MSE; stopped after epoch 4
    assert [r["step"] for r in epochs] == [3, 6, 9, 12]  # the validation images are not trained on
    doc = json.loads((out / "config.json").read_text())
    assert (doc["training"]["best_epoch"], doc["training"]["epochs_run"]) == (2, 4)
    assert doc["metrics"]["validation"]["score"] == 6.0
    latest = torch.load(out / "checkpoint.pt", weights_only=True)
    assert latest["epoch"] == 4 and latest["best_epoch"] == 2
    from safetensors.torch import load_file

    folder = load_file(str(out / "model.safetensors"))
    assert any(not torch.equal(v, latest["model"][k]) for k, v in folder.items())  # the folder is not epoch 4
    for k, v in model.state_dict().items():  # the returned model is the folder's
        assert torch.equal(v, folder[k]), k
    with pytest.raises(VaelabError, match="--val-fraction"):
        CycleTrainConfig(patience=3)


def _vaelab(*args) -> tuple[int, str, str]:
    """`vaelab ARGS` in this process: (exit code, stdout, stderr)."""
    done = run_vaelab(*args)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
def test_train_cycle_then_disentangle_end_to_end(toy_idx_dir, tmp_path):
    run = tmp_path / "cycle"
    code, stdout, err = _vaelab(
        "train-cycle",
        "--data",
        f"mnist:{toy_idx_dir}",
        "--style",
        "4",
        "--specified",
        "2",
        "--widths",
        "4,8",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--limit",
        "96",
        "--lr",
        "1e-3",
        "--no-onnx",
        "--quiet",
        "--val-fraction",
        "0.25",
        "--out",
        run,
    )
    assert code == 0, err
    assert f"on mnist:{toy_idx_dir.resolve()}: 72 train + 24 validation / 60 test images of 1×28×28" in stdout
    doc = json.loads((run / "config.json").read_text())
    assert doc["training"]["val_fraction"] == 0.25 and doc["training"]["best_epoch"] == 1
    from PIL import Image

    assert Image.open(run / "swap_epoch001.png").mode != "L"  # the labelled figure, not the plain grey grid
    # a resume keeps the run's settings: another value is refused, and so is a run with no epochs left
    code, _, err = _vaelab("train-cycle", "--out", run, "--resume", "--epochs", "2", "--kl-coef", "9", "--style", "4")
    assert code == 2 and "--kl-coef 9.0 (the run's: 3.0)" in err and "--style" not in err and err.count("\n") == 1
    code, _, err = _vaelab("train-cycle", "--out", run, "--resume", "--epochs", "1")
    assert code == 2 and "already trained 1 epoch;" in err
    code, _, err = _vaelab("train", "--out", run, "--resume", "--epochs", "2")  # the other loop
    assert code == 2 and f"vaelab train-cycle --out {run} --resume" in err and not (run / "recon_epoch001.png").exists()
    out = tmp_path / "dis"
    code, stdout, err = _vaelab(
        "disentangle",
        "--model",
        run,
        "--out",
        out,
        "--grid",
        "4",
        "--steps",
        "4",
        "--probe-images",
        "120",
        "--quiet",
    )
    assert code == 0, err
    assert {"swap_grid.png", "interpolation.png", "probes.png", "probes.csv", "disentangle.json", "predictors.png"} <= {
        p.name for p in out.iterdir()
    }
    doc = json.loads((out / "disentangle.json").read_text())
    assert doc["model_kind"] == "cycle-vae" and doc["specified_dim"] == 2
    assert doc["probe_source"] == "120 images, test and training (the test split has only 60)"
    assert "leakage probes on 120 images, test and training" in stdout
    for part in ("s", "z", "z draw"):
        assert 0.0 <= doc["probes"][part]["test_accuracy"] <= 1.0
    assert doc["predictors"]["z_to_s"]["regeneration_mse"] >= 0 and doc["metrics"] is None
    assert set(doc["predictors"]) == {"n_train", "n_test", "reconstruction_mse", "z_to_s", "s_to_z"}  # no pictures
    assert "label from s" in stdout and "label from z" in stdout
    rows = list(csv.DictReader((out / "probes.csv").open()))
    assert [r["part"] for r in rows] == ["s", "z", "z draw"]
    assert {(r["chance"], r["train_codes"], r["test_codes"]) for r in rows} == {
        (f"{doc['probes']['chance']:.4f}", "96", "24")
    }
    assert "(only 24 test codes: these accuracies can move by 20 points" in stdout  # 120 codes, a fifth tested
    leaked = doc["probes"]["z"]["test_accuracy"] > doc["probes"]["s"]["test_accuracy"]
    assert ("the class has leaked into z" in stdout) == leaked


@pytest.mark.slow
def test_disentangle_on_sprites_scores_a_vae_with_the_metrics(tmp_path):
    from vaelab.data.loaders import load_dataset
    from vaelab.training.config import TrainConfig
    from vaelab.training.vae import train

    ds = load_dataset("sprites:120")
    train(
        ModelConfig(channels=3, height=64, width=64, latent_dim=4, widths=(4, 8, 8)),
        ds,
        tmp_path / "vae",
        TrainConfig(epochs=1, batch_size=32, onnx=False),
        progress=False,
    )
    out = tmp_path / "dis"
    out.mkdir()
    (out / "swap_grid.png").write_text("a cycle-VAE's, from before")  # replaced: a VAE has no swap grid
    code, stdout, err = _vaelab(
        "disentangle",
        "--model",
        tmp_path / "vae",
        "--data",
        "sprites:120",
        "--out",
        out,
        "--probe-images",
        "100",
        "--metrics-scale",
        "0.001",
        "--quiet",
    )
    assert code == 0, err
    assert not (out / "swap_grid.png").exists()
    doc = json.loads((out / "disentangle.json").read_text())
    assert set(doc["metrics"]) == {"mig", "beta_vae", "factor_vae", "dci", "sap"}
    assert 0.0 <= doc["metrics"]["mig"]["mig"] <= 1.0
    assert (out / "traversals.png").is_file() and "MIG" in stdout
    assert f"BetaVAE {1 / 6:.3f}, FactorVAE {1 / 6:.3f}" in stdout  # six sprites factors: chance on each accuracy
    from vaelab.data.sprites import Sprites
    from vaelab.metrics.disentanglement import all_metrics, model_representation
    from vaelab.models.runtime import open_model

    again = all_metrics(model_representation(open_model(tmp_path / "vae")), Sprites(), 0, scale=0.001)
    assert again["mig"]["mig"] == pytest.approx(doc["metrics"]["mig"]["mig"])  # README's Python recipe, same seed
    assert again["beta_vae"]["eval_accuracy"] == pytest.approx(doc["metrics"]["beta_vae"]["eval_accuracy"])


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    code, _, err = _vaelab("train", "--model", "cycle-vae", "--out", tmp_path / "x")
    assert code == 2 and "train-cycle" in err and err.count("\n") == 1
    code, _, err = _vaelab("disentangle", "--model", tmp_path / "missing", "--out", tmp_path / "d")
    assert code == 2 and "no such model folder" in err and err.count("\n") == 1
    code, _, err = _vaelab("train-cycle", "--data", "sprites:x", "--out", tmp_path / "y")
    assert code == 2 and "image count" in err
    code, _, err = _vaelab("train-cycle", "--data", "sprites:64", "--shift", "64", "--out", tmp_path / "z")
    assert code == 2 and "shift must be 0 to 63 pixels" in err and err.count("\n") == 1
    assert not (tmp_path / "d").exists()


def test_scored_swaps_take_s_from_another_image_of_the_class(toy_idx_dir, monkeypatch):
    import vaelab.training.cycle as cycle
    from vaelab.data.loaders import load_dataset

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    model = build_model(TINY).eval()
    images, labels = ds.images[:40], ds.labels[:40]
    paired = []
    real = cycle.other_same_class
    monkeypatch.setattr(cycle, "other_same_class", lambda lab, rng: paired.append(real(lab, rng)) or paired[-1])
    cycle.evaluate_cycle(model, images, labels)
    assert len(paired) == 1 and (paired[0] != np.arange(40)).all()  # nobody is their own partner
    assert (labels[paired[0]] == labels).all()
