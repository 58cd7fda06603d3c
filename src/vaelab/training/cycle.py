"""The cycle-consistent VAE's training loop, as in the paper's official code (Jha et al. 2018).

Each iteration is one forward-cycle step, then one reverse-cycle step:

1. *Forward cycle* (encoder and decoder, one Adam): a batch x1 and, for each image, a random training image x2
   of the same class. They swap s: x̂1 = Dec(z1, s2), x̂2 = Dec(z2, s1), with z sampled from q(z|x). The loss is
   2·MSE(x̂, x) + 3·KL(q(z|x) ‖ N(0, I)) / (B·C·H·W), the KL summed over the batch and divided by the pixel
   count as the official code does. Same-class images can only be rebuilt from each other's s if s carries
   what they share, the class.
2. *Reverse cycle* (a second Adam over the encoder only): two random batches give s_a and s_b (no gradient);
   one z ~ N(0, I) is decoded with each, both decodings are re-encoded, and the loss is 10·L1(μ_z(a), μ_z(b)).
   If z held class information, changing s would move the re-encoded z; this pushes the class out of z.
   The decodings carry no gradient to the encoder (s is detached, z is noise), so they run under no_grad.

Adam with lr 1e-4 and betas (0.9, 0.999); both learning rates are divided by 10 every 80 epochs, as the official
code's StepLR does (``lr_step_epochs``, ``lr_gamma``). Around it: metrics.jsonl, a swap grid and loss curves per epoch,
atomic model saves (config.json + safetensors + ONNX) and checkpoint.pt for an exact --resume.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vaelab.atomic import write_text_atomic
from vaelab.data.dataset import ImageDataset
from vaelab.data.images import image_grid, save_png_atomic
from vaelab.errors import VaelabError
from vaelab.models.config import ModelConfig, read_model_json
from vaelab.models.cycle_vae import CycleVAE
from vaelab.models.registry import build_model
from vaelab.progress import progress_bar
from vaelab.staging import check_out_folder
from vaelab.training.augment import draw_shifts, shift_images
from vaelab.training.checkpoint import load_checkpoint, restore_rng, restore_states, rng_state, save_checkpoint
from vaelab.training.evaluation import images_tensor, unit_batch
from vaelab.training.curves import plot_validation, save_curve, train_line_style
from vaelab.training.trainer import (METRICS_NAME, BestEpoch, TrainingDiverged, check_picture_every, check_resumable,
                                     check_run_data, check_validation_settings, draws_pictures, left_to_resume,
                                     pick_device, resumed_settings, training_split, warn_few_steps)


@dataclass
class CycleTrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-4
    lr_step_epochs: int = 80  # multiply both learning rates by lr_gamma every this many epochs (0: never)
    lr_gamma: float = 0.1
    reconstruction_coef: float = 2.0
    kl_coef: float = 3.0
    reverse_coef: float = 10.0
    recon_loss: str = "mse"  # the paper's; "bce" for small objects on a flat background (see the README)
    shift: int = 0  # move each forward-cycle image by up to this many pixels, independently (0: the paper's)
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    grid_images: int = 8  # test images along each side of the per-epoch swap grid
    eval_images: int = 2000  # test images for the per-epoch numbers
    onnx: bool = True
    val_fraction: float = 0.0  # hold out this fraction of the training images to validate on (0 = none)
    patience: int = 0  # with validation: stop after this many epochs without a better score (0 = never stop early)
    picture_every: int | None = None  # draw the swap grid every this many epochs and after the last (None: about
    # 20 a run, as train's grids; on a resume, the run's own setting)

    def __post_init__(self) -> None:
        """Settings no run can use are refused here, before anything is written."""
        if self.recon_loss not in RECON_LOSSES:
            raise VaelabError(f"the reconstruction loss is one of {', '.join(RECON_LOSSES)}, not {self.recon_loss!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise VaelabError(f"the learning rate must be above 0, not {self.lr}")
        if self.lr_step_epochs < 0 or not (math.isfinite(self.lr_gamma) and self.lr_gamma > 0):
            raise VaelabError(f"the learning-rate step must be ≥ 0 epochs and its factor > 0; got {self.lr_step_epochs} "
                              f"and {self.lr_gamma}")
        coefs = (self.reconstruction_coef, self.kl_coef, self.reverse_coef)
        if not all(math.isfinite(c) and c >= 0 for c in coefs):
            raise VaelabError(f"the loss weights must be 0 or more; got reconstruction {coefs[0]}, KL {coefs[1]}, "
                              f"reverse cycle {coefs[2]}")
        if self.epochs < 1 or self.batch_size < 1 or self.shift < 0:
            raise VaelabError(f"epochs and batch size must be at least 1 and the shift 0 or more; got {self.epochs}, "
                              f"{self.batch_size} and {self.shift}")
        check_validation_settings(self.val_fraction, self.patience)
        check_picture_every(self.picture_every)

    def validation_score(self, scores: dict, pixels: int) -> float:
        """The forward cycle's loss on held-out images, at the posterior mean and with MSE (lower is better):
        reconstruction_coef · swap MSE + kl_coef · KL(z) per pixel, from ``evaluate_cycle``'s ``scores``."""
        return self.reconstruction_coef * scores["swap_mse"] + self.kl_coef * scores["kl"] / pixels

    @classmethod
    def from_dict(cls, d: dict) -> "CycleTrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def lr_at(self, epoch: int) -> float:
        """The learning rate of (1-based) ``epoch``: lr · gamma^⌊(epoch − 1) / step⌋."""
        return self.lr * self.lr_gamma ** ((epoch - 1) // self.lr_step_epochs) if self.lr_step_epochs else self.lr


RECON_LOSSES = ("mse", "bce")  # the forward cycle's reconstruction term: the paper's, or cross-entropy


def _kl_sum(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum()


def _class_blocks(pool_labels: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stable order that sorts ``pool_labels`` by class, and for each of ``labels`` where its class's block
    starts in that order and how long it is."""
    order = np.argsort(pool_labels, kind="stable")
    classes, starts, counts = np.unique(pool_labels[order], return_index=True, return_counts=True)
    slot = np.searchsorted(classes, labels)
    return order, starts[slot], counts[slot]


def same_class_partners(labels: np.ndarray, pool: np.ndarray, pool_labels: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
    """For each of labels (N,), a random index from ``pool`` (M,) whose label, in pool_labels (M,), is the same.

    The image itself may be drawn, as in the official paired loader."""
    order, starts, counts = _class_blocks(pool_labels, labels)
    return pool[order][starts + (rng.random(len(labels)) * counts).astype(np.int64)]


def other_same_class(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each of labels (N,), a random other index with the same label; the index itself only when its class
    has no other member. A swap scored against the image itself would be a plain reconstruction."""
    order, starts, counts = _class_blocks(labels, labels)
    rank = np.empty(len(labels), np.int64)
    rank[order] = np.arange(len(labels))
    own = rank - starts  # each image's place within its class's block
    pick = (rng.random(len(labels)) * np.maximum(counts - 1, 1)).astype(np.int64)
    pick += (pick >= own) & (counts > 1)  # skip over the image itself
    return order[starts + pick]


def forward_cycle(model: CycleVAE, x1: torch.Tensor, x2: torch.Tensor, cfg: CycleTrainConfig) -> dict:
    """The swap loss for same-class batches x1, x2 (B, C, H, W): 'loss' (to minimise), 'mse' and 'kl' terms.

    With ``cfg.recon_loss == "bce"`` the reconstruction term is the per-pixel binary cross-entropy instead of
    the MSE, normalised the same way (a mean per pixel, times 2); 'mse' is the swap MSE per pixel either way,
    for the logs."""
    mu, logvar, s = model.encode_parts(torch.cat([x1, x2]))
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    s1, s2 = s.chunk(2)
    logits = model.decode_logits(torch.cat([z, torch.cat([s2, s1])], dim=1))  # x̂1 = Dec(z1, s2), x̂2 = Dec(z2, s1)
    x = torch.cat([x1, x2])
    mse = F.mse_loss(torch.sigmoid(logits), x)  # per pixel, like the test MSE it is plotted beside
    # Two per-batch means, as in the official code: the mean over both batches at once is half their sum.
    recon = 2 * (mse if cfg.recon_loss == "mse" else F.binary_cross_entropy_with_logits(logits, x))
    kl = _kl_sum(mu, logvar) / x1.numel()
    return {"loss": cfg.reconstruction_coef * recon + cfg.kl_coef * kl, "mse": mse, "kl": kl}


def reverse_cycle(model: CycleVAE, xa: torch.Tensor, xb: torch.Tensor, cfg: CycleTrainConfig) -> dict:
    """One shared z ~ N(0, I) decoded with the s of xa and of xb, re-encoded: 'loss' = coef · L1 of the two μ_z."""
    with torch.no_grad():
        s = model.encode_parts(torch.cat([xa, xb]))[2]
        z = torch.randn(len(xa), model.z_dim, device=xa.device)
        decoded = model.decode_parts(torch.cat([z, z]), s)
    mu_a, mu_b = model.encode_parts(decoded)[0].chunk(2)
    l1 = F.l1_loss(mu_a, mu_b)
    return {"loss": cfg.reverse_coef * l1, "l1": l1}


@torch.no_grad()
def evaluate_cycle(model: CycleVAE, images: np.ndarray, labels: np.ndarray, seed: int = 0,
                   batch_size: int = 500) -> dict:
    """Mean per-pixel MSE of plain reconstructions Dec(μ_z, s) and of same-class swaps Dec(μ_z1, s2), on
    images (N, C, H, W), uint8 or float in [0,1], and the mean KL of z per image (nats)."""
    device = next(model.parameters()).device
    partners = other_same_class(labels, np.random.default_rng(seed))
    was_training = model.training
    model.eval()
    totals = np.zeros(3)
    for i in range(0, len(images), batch_size):
        x = unit_batch(images[i:i + batch_size], device)
        x2 = unit_batch(images[partners[i:i + batch_size]], device)
        mu, logvar, s = model.encode_parts(x)
        s2 = model.encode_parts(x2)[2]
        totals += [F.mse_loss(model.decode_parts(mu, s), x, reduction="sum").item(),
                   F.mse_loss(model.decode_parts(mu, s2), x, reduction="sum").item(),
                   _kl_sum(mu, logvar).item()]
    model.train(was_training)
    pixels = images[0].size * len(images)
    return {"recon_mse": totals[0] / pixels, "swap_mse": totals[1] / pixels, "kl": totals[2] / len(images)}


@torch.no_grad()
def swap_cells(model: CycleVAE, x: torch.Tensor) -> np.ndarray:
    """The swap grid's cells for images x (n, C, H, W): (n, n, C, H, W) in [0,1], cell (r, c) =
    Dec(z of image r, s of image c)."""
    was_training = model.training
    model.eval()
    mu, _, s = model.encode_parts(x)
    n = len(x)
    cells = model.decode_parts(mu.repeat_interleave(n, 0), s.repeat(n, 1)).view(n, n, *x.shape[1:])
    model.train(was_training)
    return cells.cpu().numpy()


def swap_picture(cells: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The plain (n+1)×(n+1) grid of ``swap_cells``: inputs x (n, C, H, W) in [0,1] along the top and the left.
    Returns (n+1)² images (C, H, W), row-major."""
    n = len(x)
    grid = np.ones((n + 1, n + 1, *x.shape[1:]), np.float32)
    grid[0, 1:], grid[1:, 0], grid[1:, 1:] = x, x, cells
    return grid.reshape(-1, *x.shape[1:])


def _plot_curves(records: list[dict], path: Path, pixels: int) -> dict:
    """Forward MSE, KL and reverse L1 against the step, and the per-epoch test figures, as one PNG. KL(z) is shown
    in nats per image, as the console prints it: a step record's 'kl' is the loss term, the KL summed over a
    pair of batches and divided by one batch's pixels (B·C·H·W), so nats per image are kl · C·H·W / 2. Returns the
    train lines as plotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), dpi=100)
    per_image = {"mse": 1.0, "kl": pixels / 2, "reverse_l1": 1.0}
    for ax, key, title in zip(axes, ("mse", "kl", "reverse_l1"),
                              ("swap reconstruction MSE", "KL(z), nats per image", "reverse-cycle L1")):
        ax.plot([r["step"] for r in steps], [r[key] * per_image[key] for r in steps],
                **train_line_style(len(steps)), label="train")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if epochs:
        axes[0].plot([r["step"] for r in epochs], [r["test_swap_mse"] for r in epochs], "o-", label="test swap")
        axes[0].plot([r["step"] for r in epochs], [r["test_recon_mse"] for r in epochs], "s-", label="test recon")
        plot_validation(axes[0], epochs, "val_swap_mse", "val_score", "^-", "validation swap")
        axes[1].plot([r["step"] for r in epochs], [r["test_kl"] for r in epochs], "o-", label="test")
        axes[1].legend(fontsize=8)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_curve(fig, path)
    return {key: [r[key] * per_image[key] for r in steps] for key in per_image}


def train_cycle(model_cfg: ModelConfig | None, dataset: ImageDataset, out: str | Path,
                cfg: CycleTrainConfig | None = None, resume: bool = False, progress: bool = True,
                announce=None, swap_figure=None) -> CycleVAE:
    """Train a `cycle-vae` on ``dataset``'s labelled train split (the label is the specified factor) into ``out``.

    ``out`` ends up a model folder plus checkpoint.pt, metrics.jsonl, loss_curve.png and swap_epochNNN.png.
    ``swap_figure(rows, cols, cells, path, title)`` draws each epoch's swap grid (the CLI passes the labelled
    figure of ``vaelab.viz``); without it the grid is a plain picture, inputs along the top and the left.
    With ``resume`` the config and state come from ``out``; ``cfg.epochs`` may be raised to train longer.
    """
    out = Path(out)
    cfg = cfg or CycleTrainConfig()
    if dataset.labels is None:
        raise VaelabError(f"{dataset.name} has no labels; the cycle-consistent VAE needs the specified factor "
                          "as labels (fashion-mnist, sprites, sprites-reed:PATH, a folder of class folders)")
    ckpt = resumed = None
    if resume:
        ckpt = load_checkpoint(out)
        doc = read_model_json(out)
        model_cfg, resumed = ModelConfig.from_dict(doc["model"]), doc.get("data") or {}
        # Checkpoints from before the schedule existed trained at a fixed rate: keep it so (lr_step_epochs 0).
        cfg = CycleTrainConfig.from_dict(resumed_settings({"lr_step_epochs": 0, **ckpt["train_config"]}, cfg))
    elif model_cfg is None:
        model_cfg = ModelConfig(kind="cycle-vae", channels=dataset.channels, height=dataset.size[0],
                                width=dataset.size[1], latent_dim=32, specified_dim=16, likelihood="gaussian")
    if not 0 <= cfg.shift < min(dataset.size):
        raise VaelabError(f"the random shift must be 0 to {min(dataset.size) - 1} pixels, not {cfg.shift}")
    check_resumable(ckpt, cfg.epochs, out)
    check_out_folder(out, evaluator=False)
    device = pick_device(cfg.device)
    if model_cfg.kind != "cycle-vae":
        raise VaelabError(f"train_cycle trains kind 'cycle-vae', not {model_cfg.kind!r}")
    check_run_data(model_cfg, dataset, out, resumed)
    # the same fixed validation images as `vaelab train` holds out (none at val_fraction 0: the old data order)
    train_idx, val_idx = training_split(dataset, cfg.val_fraction)
    if len(np.unique(dataset.labels[train_idx])) < 2:  # s would have nothing to tell apart
        raise VaelabError(f"{dataset.name}'s training images are all of one class; the cycle-consistent VAE learns "
                          "what tells classes apart, so it needs two or more")
    test_idx = dataset.split("test")
    if len(train_idx) < cfg.batch_size:
        raise VaelabError(f"{len(train_idx)} training images are fewer than one batch of {cfg.batch_size}")
    out.mkdir(parents=True, exist_ok=True)
    if announce is not None:  # every check has passed: a banner printed now is not followed by an error line
        announce()
    torch.manual_seed(cfg.seed)
    model: CycleVAE = build_model(model_cfg).to(device)
    fused = device.type in ("cpu", "cuda")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), fused=fused)
    opt_reverse = torch.optim.Adam(model.encoder_parameters(), lr=cfg.lr, betas=(0.9, 0.999), fused=fused)
    start_epoch, step, train_seconds = 0, 0, 0.0
    if ckpt is not None:
        restore_states(ckpt, out, model=model, optimizer=opt, optimizer_reverse=opt_reverse)
        start_epoch, step, train_seconds = ckpt["epoch"], ckpt["step"], ckpt.get("train_seconds", 0.0)
        restore_rng(ckpt, device)
    best = BestEpoch(cfg.patience)  # the validated epoch the model folder holds
    if ckpt is not None:
        best = BestEpoch(cfg.patience, ckpt.get("best_epoch", 0), ckpt.get("best_val_score", math.inf))
    records = []
    if (out / METRICS_NAME).is_file() and ckpt is not None:
        lines = (out / METRICS_NAME).read_text().splitlines()
        records = [r for r in map(json.loads, lines) if r["epoch"] <= start_epoch]

    images, labels = images_tensor(dataset.images), dataset.labels
    rng_eval = np.random.default_rng(cfg.seed)
    eval_idx = np.sort(rng_eval.permutation(test_idx)[: cfg.eval_images])
    eval_images, eval_labels = dataset.images[eval_idx], labels[eval_idx]
    val_images, val_labels = dataset.images[val_idx], labels[val_idx]
    pixels = int(np.prod(dataset.images.shape[1:]))
    grid_x = torch.from_numpy(eval_images[: cfg.grid_images]).to(device).float().div_(255)
    grid_np = grid_x.cpu().numpy()
    steps_per_epoch = len(train_idx) // cfg.batch_size  # whole batches only, as the official loader drops the rest
    if ckpt is None:
        warn_few_steps(len(train_idx), steps_per_epoch, cfg.batch_size, cfg.epochs)
    data_spec = dataset.spec()

    def batch(idx: np.ndarray, shifts: np.ndarray | None = None) -> torch.Tensor:
        x = images[torch.from_numpy(idx)].to(device, non_blocking=True).float().div_(255)
        return x if shifts is None else shift_images(x, shifts, dataset.background / 255)

    if ckpt is None:
        (out / METRICS_NAME).unlink(missing_ok=True)
    model.train()
    last_epoch = start_epoch
    window, window_steps = np.zeros(3), 0  # the losses since the last record: it may span an epoch's end
    if ckpt is not None and "log_window" in ckpt:  # so a checkpoint keeps it
        window, window_steps = np.array(ckpt["log_window"][0]), ckpt["log_window"][1]
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        # Everything random about the data order comes from (seed, epoch), so resuming needs no saved state.
        for group in (*opt.param_groups, *opt_reverse.param_groups):
            group["lr"] = cfg.lr_at(epoch)
        rng = np.random.default_rng([cfg.seed, epoch])
        order = rng.permutation(train_idx)
        partners = same_class_partners(labels[order], train_idx, labels[train_idx], rng)
        reverse_idx = rng.choice(train_idx, size=(steps_per_epoch, 2, cfg.batch_size))
        # Drawn last, and only when on, so that runs without a shift keep their exact data order.
        shifts = draw_shifts(rng, (2, steps_per_epoch * cfg.batch_size), cfg.shift) if cfg.shift else None
        bar = progress_bar(range(steps_per_epoch), desc=f"epoch {epoch}/{cfg.epochs}", unit="it", show=progress,
                   leave=False, dynamic_ncols=True)
        t0 = time.perf_counter()
        for b in bar:
            sl = slice(b * cfg.batch_size, (b + 1) * cfg.batch_size)
            if shifts is None:
                x1, x2 = batch(order[sl]), batch(partners[sl])
            else:  # independent shifts: s cannot carry where the partner sits, only what the pair shares
                x1, x2 = batch(order[sl], shifts[0, sl]), batch(partners[sl], shifts[1, sl])
            fwd = forward_cycle(model, x1, x2, cfg)
            opt.zero_grad(set_to_none=True)
            fwd["loss"].backward()
            opt.step()
            rev = reverse_cycle(model, batch(reverse_idx[b, 0]), batch(reverse_idx[b, 1]), cfg)
            opt_reverse.zero_grad(set_to_none=True)
            rev["loss"].backward()
            opt_reverse.step()
            step += 1
            values = np.array([fwd["mse"].item(), fwd["kl"].item(), rev["l1"].item()])
            if not np.isfinite(values).all():
                raise TrainingDiverged(f"loss became {values.tolist()} at step {step} (epoch {epoch}); stopped. "
                                       f"{left_to_resume(epoch, out)}; try a lower --lr")
            window += values
            window_steps += 1
            if step % cfg.log_every == 0:
                mse, kl, l1 = window / window_steps
                records.append({"kind": "step", "epoch": epoch, "step": step, "mse": mse, "kl": kl, "reverse_l1": l1})
                bar.set_postfix(mse=f"{mse:.4f}", rev=f"{l1:.4f}", refresh=False)
                window, window_steps = np.zeros(3), 0
        epoch_seconds = time.perf_counter() - t0
        train_seconds += epoch_seconds
        last_epoch = epoch
        test = evaluate_cycle(model, eval_images, eval_labels, seed=cfg.seed)
        record = {"kind": "epoch", "epoch": epoch, "step": step, "test_recon_mse": test["recon_mse"],
                  "test_swap_mse": test["swap_mse"], "test_kl": test["kl"], "epoch_seconds": epoch_seconds,
                  "img_per_s": steps_per_epoch * cfg.batch_size / epoch_seconds, "lr": cfg.lr_at(epoch)}
        line = f"epoch {epoch}: "
        val = evaluate_cycle(model, val_images, val_labels, seed=cfg.seed) if len(val_idx) else None
        if val:
            record["val_score"] = val["score"] = cfg.validation_score(val, pixels)
            record["val_swap_mse"] = val["swap_mse"]
            line += f"validation score {val['score']:.5f}  "
        records.append(record)
        tqdm.write(line + f"test MSE recon {test['recon_mse']:.5f}  swap {test['swap_mse']:.5f}  "
                          f"KL(z) {test['kl']:.2f} nats  [{steps_per_epoch / epoch_seconds:.1f} it/s]")
        write_text_atomic(out / METRICS_NAME, "".join(json.dumps(r) + "\n" for r in records))
        _plot_curves(records, out / "loss_curve.png", pixels)
        if val is None or best.improved(epoch, val["score"]):  # with validation: the best validated epoch
            extra = best.saved_fields(len(val_idx), train_seconds) if val else {}
            model.save_pretrained(out, data_spec, onnx=cfg.onnx,
                                  training={**asdict(cfg), "loop": "cycle", "epochs_done": epoch, "steps": step,
                                            "train_seconds": round(train_seconds, 1), **extra},
                                  metrics={"test": test, **({"validation": val} if val else {})})
        save_checkpoint(out, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                              "optimizer_reverse": opt_reverse.state_dict(), "epoch": epoch, "step": step,
                              "train_seconds": train_seconds, "train_config": asdict(cfg),
                              **rng_state(device), "best_epoch": best.epoch, "best_val_score": best.score,
                              "log_window": [window.tolist(), window_steps]})
        stopping = best.exhausted(epoch)
        if draws_pictures(epoch, cfg.picture_every, cfg.epochs, stopping):
            cells, path = swap_cells(model, grid_x), out / f"swap_epoch{epoch:03d}.png"
            if swap_figure is None:
                save_png_atomic(image_grid(swap_picture(cells, grid_np), nrow=len(grid_np) + 1,
                                           scale=max(1, 96 // grid_np.shape[-1])), path)
            else:
                swap_figure(grid_np, grid_np, cells, path, f"epoch {epoch}: style transfer on test images")
        if stopping:
            tqdm.write(f"no better validation score for {cfg.patience} epochs: stopped after epoch {epoch}; the model "
                       f"folder holds epoch {best.epoch} (validation score {best.score:.5f})")
            break
    if len(val_idx):
        best.restore(model, out, device, last_epoch, train_seconds)
    model.eval()
    model.data_spec = data_spec
    return model
