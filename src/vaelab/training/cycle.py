"""The cycle-consistent VAE's training, as in the official code of Jha et al. 2018.

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
code's StepLR does (``lr_step_epochs``, ``lr_gamma``). Each epoch scores plain and swapped reconstructions and
draws a swap grid. The run around the steps (resume, metrics.jsonl, validation, atomic saves of the model folder
and checkpoint.pt, the NaN guard) is the scaffold every training loop shares, :func:`vaelab.training.loop.run_loop`.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vaelab.data.dataset import ImageDataset
from vaelab.data.images import image_grid, save_png_atomic
from vaelab.errors import VaelabError
from vaelab.io.run_lock import run_folder_lock
from vaelab.models.base import fp32, full_precision
from vaelab.models.config import ModelConfig, check_model_folder
from vaelab.models.cycle_vae import CycleVAE
from vaelab.models.registry import build_model
from vaelab.training.augment import draw_shifts, shift_images
from vaelab.training.checks import (
    check_resumable,
    check_run_data,
    pick_device,
    resume_from,
    training_split,
    warn_few_steps,
)
from vaelab.training.compute import Compute, plan_compute
from vaelab.training.config import CycleTrainConfig
from vaelab.training.distributed import Dist
from vaelab.training.evaluation import images_tensor, unit_batch
from vaelab.training.loop import Scores, run_loop, start_run
from vaelab.viz.training_curves import plot_cycle_curves


def _kl_sum(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum()


def _class_blocks(pool_labels: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stable order that sorts ``pool_labels`` by class, and for each of ``labels`` where its class's block
    starts in that order and how long it is."""
    order = np.argsort(pool_labels, kind="stable")
    classes, starts, counts = np.unique(pool_labels[order], return_index=True, return_counts=True)
    slot = np.searchsorted(classes, labels)
    return order, starts[slot], counts[slot]


def same_class_partners(
    labels: np.ndarray, pool: np.ndarray, pool_labels: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
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
    x = torch.cat([x1, x2])
    mu, logvar, s = fp32(model.encode_parts(x))  # under a bf16 autocast: the networks' outputs, back in fp32
    with full_precision(x):
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        s1, s2 = s.chunk(2)
    # x̂1 = Dec(z1, s2), x̂2 = Dec(z2, s1)
    logits = model.decode_logits(torch.cat([z, torch.cat([s2, s1])], dim=1)).float()
    with full_precision(x):  # the objective's sums in fp32
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
    mu_a, mu_b = model.encode_parts(decoded)[0].float().chunk(2)
    with full_precision(xa):
        l1 = F.l1_loss(mu_a, mu_b)
        return {"loss": cfg.reverse_coef * l1, "l1": l1}


@torch.no_grad()
def evaluate_cycle(
    model: CycleVAE, images: np.ndarray, labels: np.ndarray, seed: int = 0, batch_size: int = 500
) -> dict:
    """Mean per-pixel MSE of plain reconstructions Dec(μ_z, s) and of same-class swaps Dec(μ_z1, s2), on
    images (N, C, H, W), uint8 or float in [0,1], and the mean KL of z per image (nats)."""
    device = next(model.parameters()).device
    partners = other_same_class(labels, np.random.default_rng(seed))
    was_training = model.training
    model.eval()
    totals = np.zeros(3)
    for i in range(0, len(images), batch_size):
        x = unit_batch(images[i : i + batch_size], device)
        x2 = unit_batch(images[partners[i : i + batch_size]], device)
        mu, logvar, s = model.encode_parts(x)
        s2 = model.encode_parts(x2)[2]
        totals += [
            F.mse_loss(model.decode_parts(mu, s), x, reduction="sum").item(),
            F.mse_loss(model.decode_parts(mu, s2), x, reduction="sum").item(),
            _kl_sum(mu, logvar).item(),
        ]
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


def train_cycle(
    model_cfg: ModelConfig | None,
    dataset: ImageDataset,
    out: str | Path,
    cfg: CycleTrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    epoch_lines: bool = True,
    announce=None,
    swap_figure=None,
) -> CycleVAE:
    """Train a `cycle-vae` on ``dataset``'s labelled train split (the label is the specified factor) into ``out``.

    ``out`` ends up a model folder plus checkpoint.pt, metrics.jsonl, loss_curve.png and swap_epochNNN.png.
    ``swap_figure(rows, cols, cells, path, title)`` draws each epoch's swap grid (the CLI passes the labelled
    figure of ``vaelab.viz``); without it the grid is a plain picture, inputs along the top and the left.
    With ``resume`` the config and state come from ``out``; ``cfg.epochs`` may be raised to train longer.
    ``cfg.val_fraction`` and ``cfg.patience`` validate and stop early as :func:`vaelab.training.vae.train` does,
    on :meth:`CycleTrainConfig.validation_score`. ``announce(line)`` is called once every check has passed, with the
    line that says how the run computes (see ``training.compute``).
    """
    out = Path(out)
    cfg = cfg or CycleTrainConfig()
    if dataset.labels is None:
        raise VaelabError(
            f"{dataset.name} has no labels; the cycle-consistent VAE needs the specified factor "
            "as labels (fashion-mnist, sprites, sprites-reed:PATH, a folder of class folders)"
        )
    ckpt = resumed = None
    if resume:
        # Checkpoints from before the schedule existed trained at a fixed rate: keep it so (lr_step_epochs 0).
        ckpt, _, model_cfg, resumed, cfg = resume_from(out, cfg, before={"lr_step_epochs": 0})
    elif model_cfg is None:
        model_cfg = ModelConfig(
            kind="cycle-vae",
            channels=dataset.channels,
            height=dataset.size[0],
            width=dataset.size[1],
            latent_dim=32,
            specified_dim=16,
            likelihood="gaussian",
        )
    if not 0 <= cfg.shift < min(dataset.size):
        raise VaelabError(f"the random shift must be 0 to {min(dataset.size) - 1} pixels, not {cfg.shift}")
    check_resumable(ckpt, cfg.epochs, out)
    check_model_folder(out, evaluator=False)
    device = pick_device(cfg.device)
    if model_cfg.kind != "cycle-vae":
        raise VaelabError(f"train_cycle trains kind 'cycle-vae', not {model_cfg.kind!r}")
    check_run_data(model_cfg, dataset, out, resumed)
    # the same fixed validation images as `vaelab train` holds out (none at val_fraction 0: the old data order)
    train_idx, val_idx = training_split(dataset, cfg.val_fraction)
    if len(np.unique(dataset.labels[train_idx])) < 2:  # s would have nothing to tell apart
        raise VaelabError(
            f"{dataset.name}'s training images are all of one class; the cycle-consistent VAE learns "
            "what tells classes apart, so it needs two or more"
        )
    if len(train_idx) < cfg.batch_size:
        raise VaelabError(f"{len(train_idx)} training images are fewer than one batch of {cfg.batch_size}")
    compute = plan_compute(cfg.precision, cfg.compile, device, model_cfg.kind)
    with run_folder_lock(out):  # one writer per run folder: a second run given the same --out is refused
        if announce is not None:  # every check has passed: a banner printed now is not followed by an error line
            announce(compute.line)
        torch.manual_seed(cfg.seed)
        model = compute.prepare(build_model(model_cfg).to(device))
        kind = CycleKind(model, cfg, device, dataset, train_idx, val_idx, compute, swap_figure)
        run = start_run(kind, out, dataset, len(val_idx), Dist(device=device), ckpt)  # one process: no torchrun here
        if ckpt is None:
            warn_few_steps(len(train_idx), kind.steps_per_epoch, cfg.batch_size, cfg.epochs)
        run_loop(kind, run, progress, epoch_lines)
    kind.model.data_spec = run.data_spec
    return kind.model


class CycleKind:
    """The cycle-consistent VAE's part of a run (see :class:`vaelab.training.loop.Kind`): a forward-cycle step then
    a reverse-cycle step per batch, with two optimizers; plain and swapped test reconstructions; the swap grid."""

    step_keys = ("mse", "kl", "reverse_l1")
    unit = "it"
    remedy = "try a lower --lr"
    score_name, score_format, best_key = "validation score", ".5f", "best_val_score"
    ema = None  # no moving average: the folder saves the trained weights

    def __init__(
        self,
        model: CycleVAE,
        cfg: CycleTrainConfig,
        device: torch.device,
        dataset: ImageDataset,
        train_idx: np.ndarray,
        val_idx: np.ndarray,
        compute: Compute,
        swap_figure=None,
    ):
        self.model, self.cfg, self.device, self.swap_figure = model, cfg, device, swap_figure
        # the two cycles' passes call the model's parts, not its forward: compiled as functions
        self.compute = compute
        self.forward_cycle, self.reverse_cycle = compute.compile(forward_cycle), compute.compile(reverse_cycle)
        self.parts = {}  # nothing trained beside the model
        fused = device.type in ("cpu", "cuda")
        self.optimizers = {
            "optimizer": torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), fused=fused),
            "optimizer_reverse": torch.optim.Adam(
                model.encoder_parameters(), lr=cfg.lr, betas=(0.9, 0.999), fused=fused
            ),
        }
        self.images, self.labels, self.train_idx = images_tensor(dataset.images), dataset.labels, train_idx
        self.background = dataset.background / 255
        eval_idx = np.sort(np.random.default_rng(cfg.seed).permutation(dataset.split("test"))[: cfg.eval_images])
        self.eval_images, self.eval_labels = dataset.images[eval_idx], self.labels[eval_idx]
        self.val_images, self.val_labels = dataset.images[val_idx], self.labels[val_idx]
        self.pixels = int(np.prod(dataset.images.shape[1:]))
        self.grid_x = torch.from_numpy(self.eval_images[: cfg.grid_images]).to(device).float().div_(255)
        # Whole batches only, as the official loader drops the rest.
        self.steps_per_epoch = len(train_idx) // cfg.batch_size

    def epoch_batches(self, epoch: int) -> list[tuple]:
        """Set the epoch's learning rates, and draw its batches: (images, their same-class partners, the shifts of
        both or (None, None), the reverse cycle's two batches), all from a generator seeded by (seed, epoch)."""
        cfg, train_idx, size = self.cfg, self.train_idx, self.cfg.batch_size
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = cfg.lr_at(epoch)
        rng = np.random.default_rng([cfg.seed, epoch])
        order = rng.permutation(train_idx)
        partners = same_class_partners(self.labels[order], train_idx, self.labels[train_idx], rng)
        reverse = rng.choice(train_idx, size=(self.steps_per_epoch, 2, size))
        # Drawn last, and only when on, so that runs without a shift keep their exact data order. The two images of
        # a pair move independently: s cannot carry where the partner sits, only what the pair shares.
        shifts = draw_shifts(rng, (2, self.steps_per_epoch * size), cfg.shift) if cfg.shift else None
        spans = [slice(b * size, (b + 1) * size) for b in range(self.steps_per_epoch)]
        moves = [(None, None)] * len(spans) if shifts is None else [(shifts[0, s], shifts[1, s]) for s in spans]
        return [(order[s], partners[s], move, reverse[b]) for b, (s, move) in enumerate(zip(spans, moves))]

    def step(self, batch: tuple, step: int) -> np.ndarray:
        """A forward-cycle step, then a reverse-cycle step; returns the swap MSE, the KL term and the reverse L1."""
        idx1, idx2, (shift1, shift2), (idx_a, idx_b) = batch
        with self.compute.autocast():  # the losses come back in fp32 (see forward_cycle); bf16 needs no grad scaler
            fwd = self.forward_cycle(self.model, self.batch(idx1, shift1), self.batch(idx2, shift2), self.cfg)
        opt = self.optimizers["optimizer"]
        opt.zero_grad(set_to_none=True)
        fwd["loss"].backward()
        opt.step()
        with self.compute.autocast():
            rev = self.reverse_cycle(self.model, self.batch(idx_a), self.batch(idx_b), self.cfg)
        opt = self.optimizers["optimizer_reverse"]
        opt.zero_grad(set_to_none=True)
        rev["loss"].backward()
        opt.step()
        return np.array([fwd["mse"].item(), fwd["kl"].item(), rev["l1"].item()])

    def batch(self, idx: np.ndarray, shifts: np.ndarray | None = None) -> torch.Tensor:
        """Training images ``idx`` as floats in [0,1] on the device, each moved by its shift (if given)."""
        x = self.images[torch.from_numpy(idx)].to(self.device, non_blocking=True).float().div_(255)
        return self.compute.images(x if shifts is None else shift_images(x, shifts, self.background))

    def progress(self, mean: np.ndarray) -> dict:
        mse, _, l1 = mean
        return {"mse": f"{mse:.4f}", "rev": f"{l1:.4f}"}

    def evaluate(self, epoch: int, seconds: float, train: dict) -> Scores:
        """Plain and swapped reconstructions of the test images (and the validation score, with validation
        images), as metrics.jsonl and the console show them."""
        cfg, model = self.cfg, self.model
        test = evaluate_cycle(model, self.eval_images, self.eval_labels, seed=cfg.seed)
        record = {
            "test_recon_mse": test["recon_mse"],
            "test_swap_mse": test["swap_mse"],
            "test_kl": test["kl"],
            "epoch_seconds": seconds,
            "img_per_s": self.steps_per_epoch * cfg.batch_size / seconds,
            "lr": cfg.lr_at(epoch),
        }
        line = ""
        val = evaluate_cycle(model, self.val_images, self.val_labels, seed=cfg.seed) if len(self.val_images) else None
        if val:
            record["val_score"] = val["score"] = cfg.validation_score(val, self.pixels)
            record["val_swap_mse"] = val["swap_mse"]
            line += f"validation score {val['score']:.5f}  "
        line += (
            f"test MSE recon {test['recon_mse']:.5f}  swap {test['swap_mse']:.5f}  "
            f"KL(z) {test['kl']:.2f} nats  [{self.steps_per_epoch / seconds:.1f} it/s]"
        )
        return Scores(record, line, test, val, val["score"] if val else math.inf)

    def saved_training(self, epoch: int, step: int, seconds: float) -> dict:
        return {
            **asdict(self.cfg),
            **self.compute.record(),
            "loop": "cycle",
            "epochs_done": epoch,
            "steps": step,
            "train_seconds": round(seconds, 1),
        }

    def plot_curves(self, records: list[dict], path: Path) -> None:
        plot_cycle_curves(records, path, self.pixels)

    def draw(self, out: Path, epoch: int) -> None:
        """The swap grid of the first test images: cell (r, c) decodes z of image r with s of image c."""
        grid = self.grid_x.cpu().numpy()
        cells, path = swap_cells(self.model, self.grid_x), out / f"swap_epoch{epoch:03d}.png"
        if self.swap_figure is None:
            save_png_atomic(
                image_grid(swap_picture(cells, grid), nrow=len(grid) + 1, scale=max(1, 96 // grid.shape[-1])), path
            )
        else:
            self.swap_figure(grid, grid, cells, path, f"epoch {epoch}: style transfer on test images")
