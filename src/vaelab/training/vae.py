"""The VAE's (and the autoencoder's) training: one Adam step on the objective per batch, the test −ELBO after
each epoch, and reconstruction and prior-sample grids. :func:`train` checks the run and builds the model; the
run around the step (resume, metrics.jsonl, validation, pictures, atomic saves, the NaN guard) is the scaffold
that every training loop shares, :func:`vaelab.training.loop.run_loop`. Several processes launched by torchrun
train together, each on its slice of every global batch (see ``distributed``)."""

from __future__ import annotations

import contextlib
import copy
import math
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from vaelab.data.dataset import ImageDataset
from vaelab.data.images import image_grid, save_png_atomic
from vaelab.errors import VaelabError
from vaelab.io.run_lock import run_folder_lock
from vaelab.latent.density import as_mixture, fit_mixture, sample_mixture, subsample
from vaelab.models.base import LatentModel
from vaelab.models.config import ModelConfig, check_model_folder
from vaelab.models.registry import build_model, check_new_config
from vaelab.training.adversarial import (
    PatchDiscriminator,
    adaptive_weight,
    discriminator_loss,
    generator_loss,
    last_decoder_weight,
)
from vaelab.training.augment import draw_shifts, flip_images, shift_images
from vaelab.training.checks import (
    check_adversarial_processes,
    check_resumable,
    check_run_data,
    pick_device,
    resume_from,
    training_split,
    warn_few_steps,
    warn_small_set,
)
from vaelab.training.compute import Compute, plan_compute
from vaelab.training.config import TrainConfig
from vaelab.training.distributed import Dist, init_distributed
from vaelab.training.evaluation import evaluate_elbo, evaluate_psnr, images_tensor, unit_batch
from vaelab.training.frequency import frequency_term
from vaelab.training.loop import Scores, run_loop, saved_model, start_run
from vaelab.training.perceptual import perceptual_distance_for, perceptual_term
from vaelab.viz.training_curves import plot_loss_curve

# Each epoch's sample grid: a mixture of this many Gaussians over the codes of this many training images (a fixed,
# seeded subsample), refitted at each drawn epoch; about a second on emoji at one thread.
EPOCH_DENSITY_COMPONENTS = 10
EPOCH_DENSITY_CODES = 1000
# The perceptual term is measured on this many images of each batch: an unbiased estimate of the batch's mean
# distance. The evaluator's convolutions run at the full image size: on emoji (64×64, fp32, one thread) the term on
# a whole batch of 64 cost 2.8 times the VAE's own step, on 16 images 0.4 times.
PERCEPTUAL_IMAGES = 16


def train(
    model_cfg: ModelConfig | None,
    dataset: ImageDataset,
    out: str | Path,
    cfg: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    epoch_lines: bool = True,
    announce=None,
) -> LatentModel:
    """Train a model on ``dataset``'s train split and write everything into ``out``.

    ``out`` ends up a model folder (config.json + model.safetensors + ONNX files) plus checkpoint.pt,
    metrics.jsonl, loss_curve.png and recon/sample grids per epoch. With ``resume`` the model config and
    the training state come from ``out`` and training continues exactly where the last checkpoint left
    off; ``cfg.epochs`` may then be raised to train for longer.

    With ``cfg.val_fraction`` a fixed part of the training images is held out and scored every epoch; the model
    folder then holds the epoch with the best validation −ELBO (checkpoint.pt still holds the latest, to
    resume), and ``cfg.patience`` stops the run once that many epochs have passed without a better one.
    ``announce(line)`` is called once every check has passed, just before training starts, with the line that says
    how the run computes (``cfg.precision``, ``cfg.compile``; see ``training.compute``).
    """
    out = Path(out)
    cfg = cfg or TrainConfig()
    ckpt = resumed = None
    if resume:
        ckpt, doc, model_cfg, resumed, cfg = resume_from(out, cfg)
    elif model_cfg is None:
        model_cfg = ModelConfig(channels=dataset.channels, height=dataset.size[0], width=dataset.size[1])
    if not resume:
        check_new_config(model_cfg, {"--kl-warmup": cfg.kl_warmup_steps, "--capacity-max": cfg.capacity_max})
    check_resumable(ckpt, cfg.epochs, out)
    if resume:  # config.json keeps the count, where the launcher and sweep read it too
        check_same_processes(doc.get("training", {}).get("processes"), processes_now(), out, cfg.batch_size)
    check_model_folder(out, evaluator=False)
    requested_device = pick_device(cfg.device)
    train_idx, val_idx = training_split(dataset, cfg.val_fraction)  # checked before out exists
    if cfg.shift >= min(dataset.size):
        raise VaelabError(f"--shift {cfg.shift} would move {dataset.size[0]}×{dataset.size[1]} images out of the frame")
    check_adversarial_processes(cfg.adversarial, processes_now())
    check_run_data(model_cfg, dataset, out, resumed)
    torch.manual_seed(cfg.seed)
    model = build_model(model_cfg)  # before the run folder exists: a config it refuses leaves nothing behind
    compute = plan_compute(cfg.precision, cfg.compile, requested_device, model_cfg.kind)
    # one writer per run folder (rank 0 writes for every process); a second run given the same --out is refused
    with run_folder_lock(out) if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext():
        if announce is not None:  # every check has passed: a banner printed now is not followed by an error line
            announce(compute.line)
        ddp = init_distributed(requested_device)
        kind = VAEKind(model.to(ddp.device), cfg, ddp, dataset, train_idx, val_idx, compute)
        run = start_run(kind, out, dataset, len(val_idx), ddp, ckpt)
        if ckpt is None and ddp.is_main:
            warn_small_set(len(train_idx))
            if not cfg.minutes:  # a time budget fits its own epochs
                warn_few_steps(len(train_idx), kind.steps_per_epoch, kind.global_batch, cfg.epochs)
            kind.draw(out, 0)  # epoch 000, before training: the noise that every later grid is compared with
        run_loop(kind, run, progress, epoch_lines)
    model = saved_model(kind)  # with --ema, the moving average: the weights the model folder holds
    model.data_spec = run.data_spec
    return model


class VAEKind:
    """The VAE's part of a run (see :class:`vaelab.training.loop.Kind`): its step, scores and pictures."""

    unit = "batch"
    remedy = "try a lower --lr or a KL warm-up"
    score_name, score_format, best_key = "validation -ELBO", ".2f", "best_val_neg_elbo"

    def __init__(
        self,
        model: LatentModel,
        cfg: TrainConfig,
        ddp: Dist,
        dataset: ImageDataset,
        train_idx: np.ndarray,
        val_idx: np.ndarray,
        compute: Compute,
    ):
        self.cfg, self.ddp, self.compute = cfg, ddp, compute
        self.model = model = compute.prepare(model)
        self.ema = averaged_copy(model) if cfg.ema else None  # copied before DDP hooks into the model
        self.net = compute.compile(ddp.wrap(model))
        # The fused Adam kernel measured a few per cent faster than the default foreach one here (BENCHMARKS.md).
        fused = ddp.device.type in ("cpu", "cuda")
        self.optimizers = {"optimizer": torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=fused)}
        # the objective; with an adversarial term also the decoder's and the discriminator's hinge losses
        self.step_keys = ("loss", "adversarial", "discriminator") if cfg.adversarial else ("loss",)
        self.parts, self.disc = {}, None  # trained beside the model, and saved in checkpoint.pt with it
        self.perceptual = None  # a frozen evaluator's layers, not saved: the run's config names the evaluator
        if cfg.perceptual:
            mc = model.cfg
            found = perceptual_distance_for(cfg.perceptual_evaluator, dataset.name, mc.channels, (mc.height, mc.width))
            self.perceptual = compute.prepare(found.to(ddp.device))
        if cfg.adversarial:
            self.disc = compute.prepare(PatchDiscriminator(model.cfg.channels).to(ddp.device))
            self.parts["discriminator"] = self.disc
            # VQGAN's discriminator optimizer: Adam with a low beta1
            self.optimizers["discriminator_optimizer"] = torch.optim.Adam(
                self.disc.parameters(), lr=cfg.lr, betas=(0.5, 0.9), fused=fused
            )
            self.last_layer = last_decoder_weight(model)
        self.images = images_tensor(dataset.images)  # uint8, converted per batch: no float copy of the whole set
        self.train_idx, self.val_images = torch.from_numpy(train_idx), dataset.images[val_idx]
        test_idx = dataset.split("test")
        self.test_images = dataset.images[test_idx]
        self.global_batch = cfg.batch_size * ddp.world
        self.steps_per_epoch = epoch_steps(len(train_idx), cfg.batch_size, ddp.world)
        self.images_per_epoch = min(len(train_idx), self.steps_per_epoch * self.global_batch)
        test_labels = dataset.labels[test_idx] if dataset.labels is not None else None
        grid = each_class_in_turn(test_labels, len(self.test_images))[: cfg.grid_images]
        self.grid_x = unit_batch(self.test_images[grid], ddp.device)
        # each epoch's samples come from a quick mixture over the codes of a fixed subsample of the training images
        self.density_images = dataset.images[train_idx[subsample(len(train_idx), EPOCH_DENSITY_CODES, cfg.seed)]]

    @property
    def total_steps(self) -> int:
        """Where a cosine schedule reaches 0: the run's last step (a --minutes run refits its epochs as it goes)."""
        return self.steps_per_epoch * self.cfg.epochs

    def epoch_batches(self, epoch: int) -> list[tuple]:
        """The epoch's global batches: (training indices, shifts, flips), shuffled by a generator seeded by
        (seed, epoch); the augmentation (None when off) is drawn from a generator of its own, seeded alike."""
        cfg, size = self.cfg, self.global_batch
        shuffle = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        order = self.train_idx[torch.randperm(len(self.train_idx), generator=shuffle)]
        batches = [order[b * size : (b + 1) * size] for b in range(self.steps_per_epoch)]
        augment = np.random.default_rng([cfg.seed, epoch, 1])
        shifts = [draw_shifts(augment, (len(b),), cfg.shift) if cfg.shift else None for b in batches]
        flips = [augment.random(len(b)) < 0.5 if cfg.flip else None for b in batches]
        return list(zip(batches, shifts, flips))

    def step(self, batch: tuple, step: int) -> np.ndarray:
        """One Adam step on this rank's slice of the global batch (its training indices and their augmentation);
        returns the objective (and the adversarial losses), averaged over the ranks."""
        idx, shifts, flips = batch
        cfg, ddp, device = self.cfg, self.ddp, self.ddp.device
        # Noise for the whole global batch, drawn the same on every rank (one process: as randn_like).
        eps = torch.randn(len(idx), self.model.cfg.latent_dim, device=device) if self.model.variational else None
        mine = ddp.my_slice(len(idx), cfg.batch_size)
        x = self.images[idx[mine]].to(device, non_blocking=True).float().div_(255)
        if shifts is not None:
            x = shift_images(x, shifts[mine], fill=None)  # the edge pixels move in: the data's own background
        if flips is not None:
            x = flip_images(x, flips[mine])
        x = self.compute.images(x)
        kl_weight = min(1.0, (step + 1) / cfg.kl_warmup_steps) if cfg.kl_warmup_steps else 1.0
        capacity = (
            cfg.capacity_max * min(1.0, step / cfg.capacity_steps if cfg.capacity_steps else 1.0)
            if cfg.capacity_max
            else None
        )
        with self.compute.autocast():  # no gradient scaler: bf16 has fp32's range, so gradients do not underflow
            out = self.net(x, kl_weight, None if eps is None else eps[mine], capacity)
        # The model returns its objective and logits in fp32 (see LatentModel.loss); the terms added here are fp32 too.
        loss, adversarial = out.objective, self.disc is not None and step >= cfg.adversarial_start
        recon = torch.sigmoid(out.logits) if cfg.freq_loss or cfg.perceptual or adversarial else None
        if cfg.freq_loss:
            loss = loss + cfg.freq_loss * frequency_term(recon, x)
        if self.perceptual is not None:  # on the batch's first images: it is shuffled, so they are a random few
            with self.compute.autocast():
                distance = self.perceptual(recon[:PERCEPTUAL_IMAGES], x[:PERCEPTUAL_IMAGES])
            loss = loss + cfg.perceptual * perceptual_term(distance.float(), x[0].numel())
        g_loss = d_loss = torch.zeros(())  # the decoder's and the discriminator's hinge losses (0 before the start)
        if adversarial:
            self.disc.requires_grad_(False)  # the decoder's step: no gradient into the discriminator
            with self.compute.autocast():
                fake_logits = self.disc(recon)
            g_loss = generator_loss(fake_logits.float())
            weight = adaptive_weight(out.recon.mean(), g_loss, self.last_layer)
            loss = loss + cfg.adversarial * weight * g_loss
        opt = self.optimizers["optimizer"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        value = ddp.mean(loss)
        if math.isfinite(value):  # a NaN step is not taken: run_epoch stops the run on the value returned
            # from the step count alone, so that a resumed run needs no saved scheduler
            lr = cfg.lr_at(step, self.total_steps)
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()
            if self.ema is not None:
                update_ema(self.ema, self.model, ema_decay_at(cfg.ema, step))
            if adversarial:
                d_loss = self.discriminator_step(x, recon.detach(), lr)
        return np.array([value, g_loss.item(), d_loss.item()] if self.disc is not None else [value])

    def discriminator_step(self, real: torch.Tensor, fake: torch.Tensor, lr: float) -> torch.Tensor:
        """One Adam step of the discriminator on a batch of real images and their reconstructions, at the
        model's learning rate; returns its hinge loss."""
        self.disc.requires_grad_(True)
        opt = self.optimizers["discriminator_optimizer"]
        with self.compute.autocast():
            real_logits, fake_logits = self.disc(real), self.disc(fake)
        d_loss = discriminator_loss(real_logits.float(), fake_logits.float())
        opt.zero_grad(set_to_none=True)
        d_loss.backward()
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        return d_loss.detach()

    def progress(self, mean: np.ndarray) -> dict:
        shown = {"loss": f"{mean[0]:.1f}"}
        if len(mean) > 1:
            shown.update(adv=f"{mean[1]:.2f}", disc=f"{mean[2]:.2f}")
        return shown

    def evaluate(self, epoch: int, seconds: float, train: dict) -> Scores:
        """The test −ELBO (and the validation −ELBO, with validation images), as metrics.jsonl and the console
        show them."""
        model, cfg, device = saved_model(self), self.cfg, self.ddp.device
        test = evaluate_elbo(model, self.test_images, seed=cfg.seed, device=device)
        val = evaluate_elbo(model, self.val_images, seed=cfg.seed, device=device) if len(self.val_images) else None
        record = {
            "train_loss": train["loss"],
            "test_neg_elbo": test["neg_elbo"],
            "test_recon": test["recon"],
            "test_kl": test["kl"],
            "epoch_seconds": seconds,
            "img_per_s": self.images_per_epoch / seconds,
        }
        # with a frequency or adversarial term the objective is not an ELBO: the test's −ELBO is its likelihood part
        line = f"train {train['loss']:.2f}{'' if cfg.elbo_objective else ' (not an ELBO)'}  "
        if model.cfg.likelihood != "bernoulli":
            # a continuous likelihood's −ELBO is a density, often below 0, and says little of whether training
            # helped: lead with the reconstructions' PSNR, which a reader can judge
            test["psnr"] = record["test_psnr"] = evaluate_psnr(model, self.test_images, device=device)
            line = f"test PSNR {test['psnr']:.2f} dB  " + line
        if val:
            record["val_neg_elbo"] = val["neg_elbo"]
            line += f"validation -ELBO {val['neg_elbo']:.2f}  "
        scores = (
            f"test -ELBO {test['neg_elbo']:.2f} (recon {test['recon']:.2f} + KL {test['kl']:.2f})"
            if model.variational
            else f"test reconstruction {test['recon']:.2f}"
        )  # an AE has no ELBO
        line += f"{scores} nats/image  [{self.images_per_epoch / seconds:.0f} img/s]"
        return Scores(record, line, test, val, val["neg_elbo"] if val else math.inf)

    def saved_training(self, epoch: int, step: int, seconds: float) -> dict:
        return {
            **asdict(self.cfg),
            **self.compute.record(),
            "processes": self.ddp.world,
            "epochs_done": epoch,
            "train_seconds": round(seconds, 3),
            "steps": step,
        }

    def plot_curves(self, records: list[dict], path: Path) -> None:
        plot_loss_curve(records, path, self.model.variational)

    def draw(self, out: Path, epoch: int) -> None:
        """Reconstruction grid (inputs above, decodings below) and sample grid for this epoch."""
        model, grid_x = saved_model(self), self.grid_x
        was_training = model.training
        model.eval()
        with torch.no_grad():
            recon = model.decode(model.embed(grid_x)).cpu().numpy()
            samples = model.decode(self.epoch_sample_codes(model)).cpu().numpy()
        model.train(was_training)
        n, scale = len(grid_x), max(1, 96 // grid_x.shape[-1])
        save_png_atomic(
            image_grid(np.concatenate([grid_x.cpu().numpy(), recon]), nrow=n, scale=scale),
            out / f"recon_epoch{epoch:03d}.png",
        )
        save_png_atomic(image_grid(samples, nrow=8, scale=scale), out / f"samples_epoch{epoch:03d}.png")

    def epoch_sample_codes(self, model: LatentModel) -> torch.Tensor:
        """64 codes (64, D) drawn, with the run's seed, from a mixture of EPOCH_DENSITY_COMPONENTS Gaussians fitted
        to the codes the model gives a fixed subsample of the training images now: where this epoch's codes live,
        as the density fitted when training ends will be, rather than N(0, I), where they do not. A quick fit, so
        that the grids are drawn the same way at every epoch; `samples.png` comes from the density chosen by
        held-out likelihood at the end."""
        device = self.grid_x.device
        images = self.density_images
        codes = torch.cat(
            [model.embed(unit_batch(images[i : i + 256], device)).float().cpu() for i in range(0, len(images), 256)]
        ).numpy()
        count = min(EPOCH_DENSITY_COMPONENTS, max(1, len(codes) // 2))
        mixture = as_mixture(fit_mixture(codes, count, self.cfg.seed))
        return torch.from_numpy(sample_mixture(mixture, 64, self.cfg.seed)).float().to(device)


def averaged_copy(model: LatentModel) -> LatentModel:
    """A copy of ``model`` to hold the moving average of its weights: not trained itself, and in eval mode."""
    ema = copy.deepcopy(model).eval()
    return ema.requires_grad_(False)


def ema_decay_at(decay: float, step: int) -> float:
    """The moving average's decay at the step taken after ``step`` steps: min(decay, (1 + step) / (10 + step)), so
    that early on it follows the weights closely (0.1 at the first step, 0.9 at step 80, 0.99 at step 890) rather
    than remember the untrained start for 1/(1 − decay) steps, as TensorFlow's ExponentialMovingAverage does with
    num_updates. A long run ends at ``decay`` itself."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema: LatentModel, model: LatentModel, decay: float) -> None:
    """After an optimizer step: ema ← decay · ema + (1 − decay) · weights for the parameters. Buffers (such as a
    normalisation layer's running statistics) are not trained, so they are copied as they are."""
    for averaged, weight in zip(ema.parameters(), model.parameters()):
        averaged.lerp_(weight, 1 - decay)
    for averaged, buffer in zip(ema.buffers(), model.buffers()):
        averaged.copy_(buffer)


def each_class_in_turn(labels: np.ndarray | None, n: int) -> np.ndarray:
    """The order 0..n-1 of items with ``labels`` (n,) that takes the first of each class, then the second of each,
    and so on, so that a few of them show every class (a small, lopsided test split's first 16 may miss one).
    Without labels, the plain order."""
    if labels is None:
        return np.arange(n)
    rank = np.zeros(n, np.int64)  # how many earlier items share the label
    for c in np.unique(labels):
        rank[labels == c] = np.arange((labels == c).sum())
    return np.lexsort((np.arange(n), rank))


# --- the schedule, and the processes that train together ----------------------------------------------------------


def epoch_steps(n_train: int, batch_size: int, world: int = 1) -> int:
    """Steps in an epoch of ``n_train`` images at ``batch_size`` per process on ``world`` processes. With several
    processes every rank needs a full slice, so a last, short global batch is dropped."""
    global_batch = batch_size * world
    steps = math.ceil(n_train / global_batch) if world == 1 else n_train // global_batch
    if steps == 0:
        raise VaelabError(f"{n_train} training images are fewer than one global batch of {global_batch}")
    return steps


SIZED_STEPS, SIZED_MAX_EPOCHS, SIZED_MIN_BATCH = 1000, 300, 16  # sized_schedule's aims and bounds


def sized_schedule(
    n_train: int, batch_size: int | None = None, epochs: int | None = None, world: int = 1, largest: int | None = None
) -> tuple[int, int]:
    """The batch size and epochs of a run that was given neither (or one of them), sized to its data: on a large
    set TrainConfig's 128 and 10 epochs; on a small one a smaller batch (a power of two down to 16, for 16 to 32
    steps an epoch) and enough epochs for about SIZED_STEPS optimizer steps (at most SIZED_MAX_EPOCHS). 209
    training images get batch 16 and 72 epochs; from about 12,700, 128 and 10. ``largest`` (default 128) caps the
    sized batch, as a recipe may (see ``training.recipe``); the epochs stay those of the batch it would have been,
    so that the run sees as many images in more, smaller steps (emoji's 3,410: batch 32 and 38 epochs, not 10)."""
    sized = batch_size
    if batch_size is None:
        power = 2 ** math.floor(math.log2(max(n_train / (16 * world), 1)))
        sized = min(TrainConfig.batch_size, max(SIZED_MIN_BATCH, power))
        batch_size = min(largest or sized, sized)
    if epochs is None:
        steps = epoch_steps(n_train, sized, world)
        epochs = min(SIZED_MAX_EPOCHS, max(TrainConfig.epochs, math.ceil(SIZED_STEPS / steps)))
    return batch_size, epochs


def processes_now() -> int:
    """How many processes train together: torchrun's WORLD_SIZE, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_same_processes(trained_with: int | None, processes: int, out: Path, batch_size: int) -> None:
    """A resumed run goes on with as many processes as it trained with: each takes its own batch, so another
    count changes the global batch (and the steps an epoch) half-way through. Runs from before the count was
    recorded (None) are not checked."""
    if trained_with is not None and trained_with != processes:
        how = f"--nproc {trained_with}" if trained_with > 1 else "no --nproc"
        raise VaelabError(
            f"the run in {out} trained on {trained_with} process(es), a global batch of "
            f"{trained_with * batch_size}; resume it with {how}, not {processes} process(es), or "
            "the batch would change half-way"
        )
