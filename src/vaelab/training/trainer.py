"""The training loop: one screen of plain PyTorch, plus what a run needs around it (pictures, metrics,
atomic checkpoints, exact resume, a NaN guard)."""
from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vaelab.atomic import write_text_atomic
from vaelab.data.dataset import ImageDataset
from vaelab.data.images import image_grid, save_png_atomic
from vaelab.errors import VaelabError, VaelabWarning
from vaelab.models.base import LatentModel
from vaelab.models.config import CONFIG_NAME, WEIGHTS_NAME, ModelConfig, read_model_json, write_json_atomic
from vaelab.models.registry import build_model, check_new_config
from vaelab.progress import progress_bar
from vaelab.staging import check_out_folder
from vaelab.training.checkpoint import (CHECKPOINT_NAME, load_checkpoint, restore_rng, restore_states, rng_state,
                                       save_checkpoint)
from vaelab.training.curves import plot_loss_curve
from vaelab.training.distributed import init_distributed
from vaelab.training.evaluation import evaluate_elbo, images_tensor, unit_batch

METRICS_NAME = "metrics.jsonl"


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    kl_warmup_steps: int = 0  # KL weight rises linearly from 0 to 1 over this many steps (0 = off)
    capacity_max: float = 0.0  # Burgess et al.: objective recon + β·|KL − C|, C rising to this many nats (0 = off)
    capacity_steps: int = 0  # steps over which C rises linearly from 0 to capacity_max (0 = C fixed at the max)
    device: str = "auto"  # 'auto' picks CUDA when there is one
    log_every: int = 50  # steps between train-loss records in metrics.jsonl
    grid_images: int = 16  # test images in the reconstruction grid
    onnx: bool = True  # also export encoder.onnx / decoder.onnx at every save
    val_fraction: float = 0.0  # hold out this fraction of the training images to validate on (0 = none)
    patience: int = 0  # with validation: stop after this many epochs without a better −ELBO (0 = never stop early)
    picture_every: int | None = None  # draw the grids every this many epochs and after the last (None: about 20
    # a run, every epoch of a run of up to 20; on a resume, the run's own setting)

    def __post_init__(self) -> None:
        """Settings no run can use are refused here, before anything is written."""
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise VaelabError(f"the learning rate must be above 0, not {self.lr}")
        if self.epochs < 1 or self.batch_size < 1:
            raise VaelabError(f"epochs and batch size must be at least 1, not {self.epochs} and {self.batch_size}")
        if self.kl_warmup_steps < 0 or self.capacity_steps < 0:
            raise VaelabError("the KL warm-up and the capacity steps must be 0 or more, not "
                              f"{self.kl_warmup_steps} and {self.capacity_steps}")
        if not (math.isfinite(self.capacity_max) and self.capacity_max >= 0):
            raise VaelabError(f"the capacity must be 0 (off) or more nats, not {self.capacity_max}")
        if self.capacity_steps and not self.capacity_max:
            raise VaelabError("capacity steps without a capacity do nothing: give --capacity-max too")
        check_validation_settings(self.val_fraction, self.patience)
        check_picture_every(self.picture_every)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if not d.get("capacity_max"):  # runs from before the check may hold steps that never did anything
            d["capacity_steps"] = 0
        return cls(**d)


def check_picture_every(every: int | None) -> None:
    if every is not None and every < 1:
        raise VaelabError(f"pictures are drawn every 1 or more epochs, not every {every}")


PICTURES_PER_RUN = 20  # with no interval given, about this many grids a run: every epoch of a run of up to 20


def draws_pictures(epoch: int, every: int | None, last: int, stopping: bool = False) -> bool:
    """Whether an epoch's pictures are drawn: every ``every`` epochs (None: every epoch in a run of up to
    PICTURES_PER_RUN, and about that many in a longer one), the ``last`` one, and one that ends a run early."""
    every = every or math.ceil(last / PICTURES_PER_RUN)
    return epoch % every == 0 or epoch == last or stopping


def planned_epochs(out: Path, default: int) -> int:
    """The epochs the run in ``out`` was set to train, from its checkpoint (config.json is rewritten only when a
    validated epoch improves, so it may hold an older plan); ``default`` when there is no checkpoint."""
    if not (Path(out) / CHECKPOINT_NAME).is_file():
        return default  # the trainer then says there is nothing to resume
    return int(load_checkpoint(out)["train_config"]["epochs"])


def resumed_settings(saved: dict, cfg) -> dict:
    """A resumed run's training settings: its own, with the epochs and device asked for now, and the pictures'
    interval when one is given (otherwise the run keeps its own)."""
    given = {"picture_every": cfg.picture_every} if cfg.picture_every is not None else {}
    return {**saved, "epochs": cfg.epochs, "device": cfg.device, **given}


def _check_fraction(fraction: float) -> None:
    if not 0 <= fraction < 1:
        raise VaelabError(f"the validation fraction must be at least 0 and below 1, not {fraction}")


def check_validation_settings(val_fraction: float, patience: int) -> None:
    """--val-fraction and --patience, as both training loops take them."""
    _check_fraction(val_fraction)
    if patience < 0:
        raise VaelabError(f"the patience is a number of epochs, 0 or more, not {patience}")
    if patience and not val_fraction:
        raise VaelabError("stopping early (--patience) needs validation images: give --val-fraction too, e.g. 0.1")


@dataclass
class BestEpoch:
    """The validated epoch a model folder holds (lower score is better), and when patience runs out."""

    patience: int = 0
    epoch: int = 0
    score: float = math.inf

    def improved(self, epoch: int, score: float) -> bool:
        """Record ``epoch``'s validation score; True when it is the best so far (the folder should save it)."""
        if score < self.score:
            self.epoch, self.score = epoch, score
            return True
        return False

    def exhausted(self, epoch: int) -> bool:
        return bool(self.patience) and epoch - self.epoch >= self.patience

    def saved_fields(self, val_images: int, seconds: float) -> dict:
        """config.json's record of the best epoch as it is saved; epochs_run/run_seconds grow to the whole run
        at its end (``restore``)."""
        return {"best_epoch": self.epoch, "val_images": val_images, "epochs_run": self.epoch,
                "run_seconds": round(seconds, 3)}

    def restore(self, model: torch.nn.Module, out: Path, device, last_epoch: int, seconds: float) -> None:
        """After a run that went on past its best epoch: load that epoch's weights, as the model folder holds
        them, into ``model``, and record the whole run's length in config.json."""
        if 0 < self.epoch < last_epoch:
            from safetensors.torch import load_file

            model.load_state_dict(load_file(str(out / WEIGHTS_NAME), device=str(device)))
            _record_whole_run(out / CONFIG_NAME, last_epoch, seconds)


def _record_whole_run(config_path: Path, epochs_run: int, seconds: float) -> None:
    """config.json describes the saved (best validated) epoch; add how long the whole run went on past it."""
    doc = json.loads(config_path.read_text())
    doc["training"].update(epochs_run=epochs_run, run_seconds=round(seconds, 3))
    write_json_atomic(config_path, doc)


def epoch_steps(n_train: int, batch_size: int, world: int = 1) -> int:
    """Steps in an epoch of ``n_train`` images at ``batch_size`` per process on ``world`` processes. With several
    processes every rank needs a full slice, so a last, short global batch is dropped."""
    global_batch = batch_size * world
    steps = math.ceil(n_train / global_batch) if world == 1 else n_train // global_batch
    if steps == 0:
        raise VaelabError(f"{n_train} training images are fewer than one global batch of {global_batch}")
    return steps


def validation_split(train_idx: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation): a fixed random ``fraction`` of ``train_idx`` held out, the same for every seed."""
    _check_fraction(fraction)
    n_val = round(len(train_idx) * fraction)
    if fraction and not 0 < n_val < len(train_idx):
        raise VaelabError(f"a validation fraction of {fraction} of {len(train_idx)} training images leaves "
                          f"{n_val} to validate on and {len(train_idx) - n_val} to train on; both need at least one")
    held = np.zeros(len(train_idx), bool)
    held[np.random.default_rng(0).permutation(len(train_idx))[:n_val]] = True
    return train_idx[~held], train_idx[held]


def training_split(dataset: ImageDataset, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) of ``dataset``'s training images, as :func:`validation_split`; a set with no test
    image to score each epoch on (a folder of one image) is refused first."""
    if not len(dataset.split("test")):
        raise VaelabError(f"{dataset.name} has no test images to score each epoch on ({len(dataset)} image"
                          f"{'s' * (len(dataset) != 1)} in all); training needs at least two")
    return validation_split(dataset.split("train"), fraction)


def check_run_data(model_cfg: ModelConfig, dataset: ImageDataset, out: Path, resumed: dict | None = None) -> None:
    """The data must fit the model; and a resumed run (``resumed``: the data spec its config.json recorded) must
    go on with the data it started with: the same classes, the same benchmark-made split and the same limit.
    Data that moved is fine: only the name may change."""
    if (model_cfg.channels, model_cfg.height, model_cfg.width) != (dataset.channels, *dataset.size):
        raise VaelabError(f"model expects {model_cfg.channels}×{model_cfg.height}×{model_cfg.width} images, "
                          f"data has {dataset.channels}×{dataset.size[0]}×{dataset.size[1]}")
    if resumed is None:
        return
    if "class_names" in resumed and resumed["class_names"] != dataset.class_names:
        raise VaelabError(f"{out} trained on data with the classes {_names(resumed.get('class_names'))}; "
                          f"{dataset.name} has {_names(dataset.class_names)}. A resumed run goes on with its own "
                          "data (moved, perhaps), not with other data")
    if resumed.get("split") != dataset.split_source:
        raise VaelabError(f"{out} was trained on a split made by {resumed.get('split') or 'its loader'}, and this "
                          f"data's split was made by {dataset.split_source or 'its loader'}")
    if "limit" in resumed and resumed["limit"] != dataset.train_limit:  # runs from before limits were recorded
        had = f"the first {resumed['limit']}" if resumed["limit"] else "all its"
        raise VaelabError(f"{out} trained on {had} training images; this data keeps "
                          f"{dataset.train_limit or 'all'} of them")


def _names(names) -> str:
    return "none" if not names else ", ".join(names[:5]) + (f" … ({len(names)} in all)" if len(names) > 5 else "")


FEW_STEPS = 500  # a run of fewer optimizer steps than this, in all, is worth a warning: its pictures stay blurred
SIZED_STEPS, SIZED_MAX_EPOCHS, SIZED_MIN_BATCH = 1000, 300, 16  # sized_schedule's aims and bounds


def sized_schedule(n_train: int, batch_size: int | None = None, epochs: int | None = None,
                   world: int = 1) -> tuple[int, int]:
    """The batch size and epochs of a run that was given neither (or one of them), sized to its data: on a large
    set TrainConfig's 128 and 10 epochs; on a small one a smaller batch (a power of two down to 16, for 16 to 32
    steps an epoch) and enough epochs for about SIZED_STEPS optimizer steps (at most SIZED_MAX_EPOCHS). 209
    training images get batch 16 and 72 epochs; from about 12,700, 128 and 10."""
    if batch_size is None:
        power = 2 ** math.floor(math.log2(max(n_train / (16 * world), 1)))
        batch_size = min(TrainConfig.batch_size, max(SIZED_MIN_BATCH, power))
    if epochs is None:
        steps = epoch_steps(n_train, batch_size, world)
        epochs = min(SIZED_MAX_EPOCHS, max(TrainConfig.epochs, math.ceil(SIZED_STEPS / steps)))
    return batch_size, epochs


def warn_few_steps(n_train: int, steps: int, batch: int, epochs: int) -> None:
    """A one-line warning when a run (a small set at a large batch, or few epochs) takes few optimizer steps."""
    if steps * epochs < FEW_STEPS:
        warnings.warn(f"{n_train} training images make {steps} optimizer step{'s' * (steps != 1)} an epoch at batch "
                      f"{batch}, only {steps * epochs} in all; under {FEW_STEPS} usually leave blurred "
                      f"reconstructions: a smaller --batch-size or more --epochs trains more", VaelabWarning,
                      stacklevel=3)


class TrainingDiverged(VaelabError):
    """The loss became NaN or infinite; the last good checkpoint was left as it was."""


def left_to_resume(epoch: int, out: Path) -> str:
    """What a run stopped during ``epoch`` (1-based) leaves in ``out`` to resume from."""
    if epoch <= 1:
        return f"No epoch had finished, so {out} holds no checkpoint to resume; start it again"
    return f"The last good checkpoint (epoch {epoch - 1}) in {out} is intact"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise VaelabError(f"unknown device {name!r}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VaelabError(f"--device {name}: this torch sees no CUDA GPU (use --device cpu, or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise VaelabError(f"--device {name}: there are only {torch.cuda.device_count()} CUDA devices")
    return device


def processes_now() -> int:
    """How many processes train together: torchrun's WORLD_SIZE, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_same_processes(trained_with: int | None, processes: int, out: Path, batch_size: int) -> None:
    """A resumed run goes on with as many processes as it trained with: each takes its own batch, so another
    count changes the global batch (and the steps an epoch) half-way through. Runs from before the count was
    recorded (None) are not checked."""
    if trained_with is not None and trained_with != processes:
        how = f"--nproc {trained_with}" if trained_with > 1 else "no --nproc"
        raise VaelabError(f"the run in {out} trained on {trained_with} process(es), a global batch of "
                          f"{trained_with * batch_size}; resume it with {how}, not {processes} process(es), or "
                          "the batch would change half-way")


def check_resumable(ckpt: dict | None, epochs: int, out: Path) -> None:
    """A resumed run must have epochs left to train; otherwise say so rather than do nothing."""
    if ckpt is not None and ckpt["epoch"] >= epochs:
        raise VaelabError(f"the run in {out} has already trained {ckpt['epoch']} epochs; give --epochs above "
                          f"{ckpt['epoch']} to train it longer")


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


def _write_pictures(model: LatentModel, grid_x: torch.Tensor, prior_z: torch.Tensor, out: Path, epoch: int) -> None:
    """Reconstruction grid (inputs above, decodings below) and prior-sample grid for this epoch."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        recon = model.decode(model.embed(grid_x)).cpu().numpy()
        samples = model.decode(prior_z).cpu().numpy()
    model.train(was_training)
    n, scale = len(grid_x), max(1, 96 // grid_x.shape[-1])
    save_png_atomic(image_grid(np.concatenate([grid_x.cpu().numpy(), recon]), nrow=n, scale=scale),
                    out / f"recon_epoch{epoch:03d}.png")
    save_png_atomic(image_grid(samples, nrow=8, scale=scale), out / f"samples_epoch{epoch:03d}.png")


def _read_metrics(out: Path, upto_epoch: int) -> list[dict]:
    path = out / METRICS_NAME
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r["epoch"] <= upto_epoch]


def train(model_cfg: ModelConfig | None, dataset: ImageDataset, out: str | Path, cfg: TrainConfig | None = None,
          resume: bool = False, progress: bool = True, announce=None) -> LatentModel:
    """Train a model on ``dataset``'s train split and write everything into ``out``.

    ``out`` ends up a model folder (config.json + model.safetensors + ONNX files) plus checkpoint.pt,
    metrics.jsonl, loss_curve.png and recon/sample grids per epoch. With ``resume`` the model config and
    the training state come from ``out`` and training continues exactly where the last checkpoint left
    off; ``cfg.epochs`` may then be raised to train for longer.

    With ``cfg.val_fraction`` a fixed part of the training images is held out and scored every epoch; the model
    folder then holds the epoch with the best validation −ELBO (checkpoint.pt still holds the latest, to
    resume), and ``cfg.patience`` stops the run once that many epochs have passed without a better one.
    """
    out = Path(out)
    cfg = cfg or TrainConfig()
    ckpt = resumed = None
    if resume:
        ckpt = load_checkpoint(out)
        doc = read_model_json(out)
        model_cfg, resumed = ModelConfig.from_dict(doc["model"]), doc.get("data") or {}
        cfg = TrainConfig.from_dict(resumed_settings(ckpt["train_config"], cfg))
    elif model_cfg is None:
        model_cfg = ModelConfig(channels=dataset.channels, height=dataset.size[0], width=dataset.size[1])
    if not resume:
        check_new_config(model_cfg, {"--kl-warmup": cfg.kl_warmup_steps, "--capacity-max": cfg.capacity_max})
    check_resumable(ckpt, cfg.epochs, out)
    if resume:  # config.json keeps the count, where the launcher and sweep read it too
        check_same_processes(doc.get("training", {}).get("processes"), processes_now(), out, cfg.batch_size)
    check_out_folder(out, evaluator=False)
    requested_device = pick_device(cfg.device)
    train_split, val_idx = training_split(dataset, cfg.val_fraction)  # checked before out exists
    check_run_data(model_cfg, dataset, out, resumed)
    torch.manual_seed(cfg.seed)
    model = build_model(model_cfg)  # before the run folder exists: a config it refuses leaves nothing behind
    out.mkdir(parents=True, exist_ok=True)
    if announce is not None:  # every check has passed: a banner printed now is not followed by an error line
        announce()
    ddp = init_distributed(requested_device)
    device = ddp.device
    model = model.to(device)
    net = ddp.wrap(model)
    # The fused Adam kernel measured a few per cent faster than the default foreach one here (BENCHMARKS.md).
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=device.type in ("cpu", "cuda"))
    start_epoch, step = 0, 0
    train_seconds = 0.0
    best = BestEpoch(cfg.patience)  # the validated epoch the model folder holds
    if ckpt is not None:
        restore_states(ckpt, out, model=model, optimizer=opt)
        start_epoch, step, train_seconds = ckpt["epoch"], ckpt["step"], ckpt.get("train_seconds", 0.0)
        best = BestEpoch(cfg.patience, ckpt.get("best_epoch", 0), ckpt.get("best_val_neg_elbo", math.inf))
        restore_rng(ckpt, device)
    records = _read_metrics(out, start_epoch)

    images = images_tensor(dataset.images)  # uint8, converted per batch: no float copy of the whole set
    train_idx, val_images = torch.from_numpy(train_split), dataset.images[val_idx]
    test_images = dataset.images[dataset.split("test")]
    n_train = len(train_idx)
    global_batch = cfg.batch_size * ddp.world
    steps_per_epoch = epoch_steps(n_train, cfg.batch_size, ddp.world)
    images_per_epoch = min(n_train, steps_per_epoch * global_batch)
    if ddp.is_main and start_epoch == 0:
        warn_few_steps(n_train, steps_per_epoch, global_batch, cfg.epochs)
    test_labels = dataset.labels[dataset.split("test")] if dataset.labels is not None else None
    grid_x = unit_batch(test_images[each_class_in_turn(test_labels, len(test_images))[: cfg.grid_images]], device)
    prior_z = torch.randn(64, model_cfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
    data_spec = dataset.spec()

    def save_model(epoch: int, test: dict | None, val: dict | None = None) -> None:
        extra = best.saved_fields(len(val_idx), train_seconds) if val else {}  # with validation: the best epoch
        model.save_pretrained(out, data_spec, onnx=cfg.onnx, training={**asdict(cfg), "processes": ddp.world,
                              "epochs_done": epoch,
                              "train_seconds": round(train_seconds, 3), "steps": step, **extra},
                              metrics={"test": test, **({"validation": val} if val else {})} if test else {})

    def end_epoch(epoch: int, epoch_seconds: float, running: float) -> bool:
        """Rank 0's work after an epoch: score, log, draw, save. True when the run should stop early."""
        test = evaluate_elbo(model, test_images, seed=cfg.seed, device=device)
        val = evaluate_elbo(model, val_images, seed=cfg.seed, device=device) if len(val_idx) else None
        record = {"kind": "epoch", "epoch": epoch, "step": step, "train_loss": running / steps_per_epoch,
                  "test_neg_elbo": test["neg_elbo"], "test_recon": test["recon"], "test_kl": test["kl"],
                  "epoch_seconds": epoch_seconds, "img_per_s": images_per_epoch / epoch_seconds}
        line = f"epoch {epoch}: train {running / steps_per_epoch:.2f}  "
        if val:
            record["val_neg_elbo"] = val["neg_elbo"]
            line += f"validation -ELBO {val['neg_elbo']:.2f}  "
        records.append(record)
        scores = (f"test -ELBO {test['neg_elbo']:.2f} (recon {test['recon']:.2f} + KL {test['kl']:.2f})"
                  if model.variational else f"test reconstruction {test['recon']:.2f}")  # an AE has no ELBO
        tqdm.write(line + f"{scores} nats/image  [{images_per_epoch / epoch_seconds:.0f} img/s]")
        write_text_atomic(out / METRICS_NAME, "".join(json.dumps(r) + "\n" for r in records))
        plot_loss_curve(records, out / "loss_curve.png", model.variational)
        if val is None:
            save_model(epoch, test)
        elif best.improved(epoch, val["neg_elbo"]):  # the model folder keeps the best validated epoch
            save_model(epoch, test, val)
        save_checkpoint(out, {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch, "step": step,
                              "train_seconds": train_seconds, "train_config": asdict(cfg), **rng_state(device),
                              "best_epoch": best.epoch, "best_val_neg_elbo": best.score,
                              "log_window": [float(window), window_steps]})
        stopping = best.exhausted(epoch)
        if draws_pictures(epoch, cfg.picture_every, cfg.epochs, stopping):
            _write_pictures(model, grid_x, prior_z, out, epoch)
        if stopping:
            tqdm.write(f"no better validation -ELBO for {cfg.patience} epochs: stopped after epoch {epoch}; the model "
                       f"folder holds epoch {best.epoch} (validation -ELBO {best.score:.2f})")
            return True
        return False

    if start_epoch == 0 and ckpt is None and ddp.is_main:
        _write_pictures(model, grid_x, prior_z, out, 0)  # before training: seed 000 shows this noise too
        (out / METRICS_NAME).unlink(missing_ok=True)

    model.train()
    last_epoch = start_epoch
    # the train loss since the last record: it may span an epoch's end, so a checkpoint keeps it
    window, window_steps = ckpt["log_window"] if ckpt is not None and "log_window" in ckpt else (0.0, 0)
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        # Shuffle with a generator seeded by (seed, epoch): the order needs no saved state to resume.
        order = train_idx[torch.randperm(n_train, generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))]
        bar = progress_bar(range(steps_per_epoch), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                           show=progress and ddp.is_main, leave=False, dynamic_ncols=True)
        t0, running = time.perf_counter(), 0.0
        for b in bar:
            idx = order[b * global_batch:(b + 1) * global_batch]
            # Noise for the whole global batch, drawn the same on every rank (one process: as randn_like).
            eps = torch.randn(len(idx), model_cfg.latent_dim, device=device) if model.variational else None
            mine = ddp.my_slice(len(idx), cfg.batch_size)
            x = images[idx[mine]].to(device, non_blocking=True).float().div_(255)
            kl_weight = min(1.0, (step + 1) / cfg.kl_warmup_steps) if cfg.kl_warmup_steps else 1.0
            capacity = cfg.capacity_max * min(1.0, step / cfg.capacity_steps if cfg.capacity_steps else 1.0) \
                if cfg.capacity_max else None
            loss = net(x, kl_weight, None if eps is None else eps[mine], capacity).objective
            opt.zero_grad(set_to_none=True)
            loss.backward()
            value = ddp.mean(loss)
            if not math.isfinite(value):
                raise TrainingDiverged(f"loss became {value} at step {step + 1} (epoch {epoch}); stopped. "
                                       f"{left_to_resume(epoch, out)}; try a lower --lr or a KL warm-up")
            opt.step()
            step += 1
            running += value
            window += value
            window_steps += 1
            if step % cfg.log_every == 0:  # the mean over the window: single batches are too noisy to read
                records.append({"kind": "step", "epoch": epoch, "step": step, "loss": window / window_steps})
                bar.set_postfix(loss=f"{window / window_steps:.1f}", refresh=False)
                window, window_steps = 0.0, 0
        epoch_seconds = time.perf_counter() - t0
        train_seconds += epoch_seconds
        last_epoch = epoch
        stop = end_epoch(epoch, epoch_seconds, running) if ddp.is_main else False  # rank 0 alone scores and saves
        if cfg.patience and ddp.mean(torch.tensor(float(stop), device=device)):  # every rank stops together
            break
    ddp.close()
    if len(val_idx) and ddp.is_main:
        best.restore(model, out, device, last_epoch, train_seconds)
    model.eval()
    model.data_spec = data_spec
    return model

