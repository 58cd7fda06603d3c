"""The run scaffold that every training loop shares (the checks a run passes before it starts are in ``checks``).

A run resumes from checkpoint.pt, trains epoch by epoch with a NaN guard, writes each epoch's record to
metrics.jsonl, keeps the best validated epoch in the model folder (and stops once ``patience`` epochs bring no
better one), draws its pictures on a schedule, and saves the model folder and checkpoint.pt atomically. A model
kind brings only its own parts (see :class:`Kind`): its step on one batch, its end-of-epoch scores, its curves and
its pictures. ``vae.VAEKind`` trains the VAEs and autoencoders, ``cycle.CycleKind`` the cycle-consistent VAE of
Jha et al. 2018.

Read :func:`run_loop` from the top: :func:`run_epoch` steps through one epoch's batches, :func:`end_epoch` scores,
logs, saves and draws, and :func:`save_model` and :func:`checkpoint` say what is saved.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError
from vaelab.io.atomic import write_text_atomic
from vaelab.models.base import LatentModel
from vaelab.models.config import CONFIG_NAME, WEIGHTS_NAME, write_json_atomic
from vaelab.progress import progress_bar
from vaelab.training.checkpoint import (
    restore_rng,
    restore_states,
    rng_state,
    save_checkpoint,
)
from vaelab.training.config import CycleTrainConfig, TrainConfig
from vaelab.training.distributed import Dist

METRICS_NAME = "metrics.jsonl"


# --- what a model kind brings -------------------------------------------------------------------------------------


@dataclass
class Scores:
    """A kind's end-of-epoch evaluation, as :func:`end_epoch` logs and saves it."""

    record: dict  # metrics.jsonl's epoch record, after its kind, epoch and step
    line: str  # the console line, after "epoch N: "
    test: dict  # config.json's metrics["test"]
    val: dict | None = None  # config.json's metrics["validation"]; None without validation images
    val_score: float = math.inf  # what the best epoch is chosen by; lower is better


class Kind(Protocol):
    """What one kind of model brings to :func:`run_loop`; everything else about a run is the same for every kind."""

    cfg: TrainConfig | CycleTrainConfig
    model: LatentModel  # the weights that the optimizers train
    ema: LatentModel | None  # their moving average, which is scored, drawn and saved instead; None: off
    optimizers: dict[str, torch.optim.Optimizer]  # each saved under its name in checkpoint.pt
    parts: dict[str, torch.nn.Module]  # networks trained beside the model (a discriminator), saved alike
    step_keys: tuple[str, ...]  # the values step() returns, as metrics.jsonl's step records name them
    unit: str  # what the progress bar counts
    remedy: str  # what to try when the loss diverges
    score_name: str  # the validation score, as the console names it
    score_format: str  # and prints it
    best_key: str  # checkpoint.pt's entry for the best validation score

    def epoch_batches(self, epoch: int) -> list:
        """The (1-based) epoch's batches, each whatever step() takes; everything random about them is drawn
        from (seed, epoch), so that a resumed run needs no saved state to draw them again."""

    def step(self, batch, step: int) -> np.ndarray:
        """Train on one batch, after ``step`` optimizer steps; returns the values to log (step_keys)."""

    def progress(self, mean: np.ndarray) -> dict:
        """The progress bar's postfix for the mean of the values since the last step record."""

    def evaluate(self, epoch: int, seconds: float, train: dict) -> Scores:
        """Score the model after an epoch that took ``seconds``; ``train``: the epoch's mean step values."""

    def saved_training(self, epoch: int, step: int, seconds: float) -> dict:
        """config.json's training record of the model as it stands after ``epoch``."""

    def plot_curves(self, records: list[dict], path: Path) -> None:
        """Draw the run's curves from its metrics.jsonl records into ``path``."""

    def draw(self, out: Path, epoch: int) -> None:
        """Write the epoch's pictures into ``out``."""

    # Optional: save(out, data_spec, training=..., metrics=...) writes the model folder, for a model that is not a
    # LatentModel (the evaluator classifier); without it the folder is saved_model(kind).save_pretrained's.


# --- the loop ---------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """Where a run writes and how far it has got; :func:`start_run` makes one."""

    out: Path
    data_spec: dict  # config.json's record of the data
    n_val: int  # validation images (0: none; the model folder then holds the latest epoch)
    ddp: Dist
    best: BestEpoch
    window: np.ndarray  # the step values summed since the last step record; it may span an epoch's end
    window_steps: int = 0
    epoch: int = 0  # epochs done
    saved_epoch: int = 0  # the epoch checkpoint.pt holds (0: none yet)
    step: int = 0  # optimizer steps done
    train_seconds: float = 0.0
    records: list[dict] = field(default_factory=list)  # metrics.jsonl, as far as the run has got
    epoch_lines: bool = True  # print each epoch's scores on the console


def start_run(kind: Kind, out: Path, dataset: ImageDataset, n_val: int, ddp: Dist, ckpt: dict | None) -> Run:
    """A fresh run in ``out`` (rank 0 removes an older metrics.jsonl there), or one resumed where ``ckpt`` left
    it: weights and optimizers, counters, best epoch, torch's random state and the records up to that epoch."""
    run = Run(out, dataset.spec(), n_val, ddp, BestEpoch(kind.cfg.patience), np.zeros(len(kind.step_keys)))
    if ckpt is None:
        if ddp.is_main:
            (out / METRICS_NAME).unlink(missing_ok=True)
        return run
    restore_states(ckpt, out, **stateful(kind))
    run.epoch, run.step, run.train_seconds = ckpt["epoch"], ckpt["step"], ckpt.get("train_seconds", 0.0)
    run.saved_epoch = run.epoch
    run.best = BestEpoch(kind.cfg.patience, ckpt.get("best_epoch", 0), ckpt.get(kind.best_key, math.inf))
    restore_rng(ckpt, ddp.device)
    run.records = _read_metrics(out, run.epoch)
    if "log_window" in ckpt:  # one number for one step value (the VAE's objective), else a list (the cycle VAE's)
        run.window, run.window_steps = run.window + ckpt["log_window"][0], ckpt["log_window"][1]
    return run


def run_loop(kind: Kind, run: Run, progress: bool = True, epoch_lines: bool = True) -> None:
    """Train from where ``run`` stands to the last epoch, or until patience runs out. With validation the model
    folder, and ``kind.model``, end up holding the best validated epoch. A fresh run with a time budget
    (``cfg.minutes``) refits its last epoch to the time after each epoch (see :class:`TimeBudget`). Ctrl-C (or
    SIGTERM) raises :class:`TrainingInterrupted`, which says which epoch checkpoint.pt holds. ``progress``: the
    progress bar; ``epoch_lines``: a line of scores after each epoch."""
    cfg, ddp = kind.cfg, run.ddp
    run.epoch_lines = epoch_lines
    minutes = getattr(cfg, "minutes", 0.0)
    budget = TimeBudget(minutes * 60) if minutes and run.epoch == 0 else None  # a resumed run keeps its plan
    kind.model.train()
    try:
        with sigterm_as_ctrl_c():
            run_epochs(kind, run, budget, progress)
    except KeyboardInterrupt:  # the files are written atomically: each is the last whole one
        raise TrainingInterrupted(run.out, run.saved_epoch) from None
    ddp.close()
    if run.n_val and ddp.is_main:
        run.best.restore(saved_model(kind), run.out, ddp.device, run.epoch, run.train_seconds)
    kind.model.eval()


def run_epochs(kind: Kind, run: Run, budget: TimeBudget | None, progress: bool) -> None:
    """Train epoch after epoch to the last, or until patience runs out."""
    cfg, ddp = kind.cfg, run.ddp
    while run.epoch < cfg.epochs:
        label = f"epoch {run.epoch + 1}" + (budget.left() if budget else f"/{cfg.epochs}")
        seconds, train = run_epoch(kind, run, run.epoch + 1, progress, label)
        if budget is not None:  # before the epoch is scored: its pictures and console line know if it is last
            cfg.epochs = budget.fitted_epochs(run.epoch, ddp)
        stop = end_epoch(kind, run, seconds, train) if ddp.is_main else False  # rank 0 alone scores and saves
        if budget is not None:
            budget.epoch_ended()
        if cfg.patience and ddp.mean(torch.tensor(float(stop), device=ddp.device)):  # every rank stops together
            break


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """While the block runs, SIGTERM (from `timeout`, a scheduler, `kill`) stops a run as Ctrl-C does: the save in
    progress cleans up after itself, and the run says which epoch it can resume from. Only the main thread can
    take signals; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_epoch(kind: Kind, run: Run, epoch: int, progress: bool, label: str | None = None) -> tuple[float, dict]:
    """Step through the epoch's batches, then count the epoch as done in ``run``: (its seconds, each step value's
    mean over it). ``label`` heads the progress bar (default "epoch N/EPOCHS")."""
    batches = kind.epoch_batches(epoch)
    bar = progress_bar(
        batches,
        desc=label or f"epoch {epoch}/{kind.cfg.epochs}",
        unit=kind.unit,
        show=progress and run.ddp.is_main,
        leave=False,
        dynamic_ncols=True,
    )
    t0, running = time.perf_counter(), np.zeros(len(kind.step_keys))
    for batch in bar:
        values = kind.step(batch, run.step)
        if not np.isfinite(values).all():
            raise TrainingDiverged(
                f"loss became {_plain(values)} at step {run.step + 1} (epoch {epoch}); stopped. "
                f"{left_to_resume(epoch, run.out)}; {kind.remedy}"
            )
        run.step += 1
        running += values
        run.window += values
        run.window_steps += 1
        if run.step % kind.cfg.log_every == 0:  # the mean over the window: single batches are too noisy to read
            mean = run.window / run.window_steps
            run.records.append(
                {"kind": "step", "epoch": epoch, "step": run.step, **dict(zip(kind.step_keys, mean.tolist()))}
            )
            bar.set_postfix(kind.progress(mean), refresh=False)
            run.window, run.window_steps = np.zeros(len(kind.step_keys)), 0
    seconds = time.perf_counter() - t0
    run.epoch, run.train_seconds = epoch, run.train_seconds + seconds
    return seconds, dict(zip(kind.step_keys, (running / len(batches)).tolist()))


def end_epoch(kind: Kind, run: Run, seconds: float, train: dict) -> bool:
    """Rank 0's work after an epoch: score, log, save, draw. True when the run should stop early."""
    cfg, epoch, best = kind.cfg, run.epoch, run.best
    scores = kind.evaluate(epoch, seconds, train)
    run.records.append({"kind": "epoch", "epoch": epoch, "step": run.step, **scores.record})
    if run.epoch_lines:
        tqdm.write(f"epoch {epoch}: {scores.line}")
    write_text_atomic(run.out / METRICS_NAME, "".join(json.dumps(r) + "\n" for r in run.records))
    kind.plot_curves(run.records, run.out / "loss_curve.png")
    if scores.val is None or best.improved(epoch, scores.val_score):  # with validation: the best validated epoch
        save_model(kind, run, scores)
    save_checkpoint(run.out, checkpoint(kind, run))
    run.saved_epoch = epoch
    stopping = best.exhausted(epoch)
    if draws_pictures(epoch, cfg.picture_every, cfg.epochs, stopping):
        kind.draw(run.out, epoch)
    if stopping:
        tqdm.write(
            f"no better {kind.score_name} for {cfg.patience} epochs: stopped after epoch {epoch}; the model "
            f"folder holds epoch {best.epoch} ({kind.score_name} {best.score:{kind.score_format}})"
        )
    return stopping


def save_model(kind: Kind, run: Run, scores: Scores) -> None:
    """The model folder as of this epoch: config.json (with the training record and scores), the weights (the
    moving average's, with one), ONNX."""
    best = run.best.saved_fields(run.n_val, run.train_seconds) if scores.val else {}
    record = dict(
        training={**kind.saved_training(run.epoch, run.step, run.train_seconds), **best},
        metrics={"test": scores.test, **({"validation": scores.val} if scores.val else {})},
    )
    if hasattr(kind, "save"):  # a model that is not a LatentModel writes its own folder
        kind.save(run.out, run.data_spec, **record)
    else:
        saved_model(kind).save_pretrained(run.out, run.data_spec, onnx=kind.cfg.onnx, **record)


def checkpoint(kind: Kind, run: Run) -> dict:
    """checkpoint.pt's contents: all that an exact resume needs, the random state and the log window included. The
    model is the trained weights, to go on training; the moving average, with one, is beside it."""
    return {
        **{name: part.state_dict() for name, part in stateful(kind).items()},
        "epoch": run.epoch,
        "step": run.step,
        "train_seconds": run.train_seconds,
        "train_config": asdict(kind.cfg),
        **rng_state(run.ddp.device),
        "best_epoch": run.best.epoch,
        kind.best_key: run.best.score,
        "log_window": [_plain(run.window), run.window_steps],
    }


def stateful(kind: Kind) -> dict:
    """The parts of a run whose state dicts checkpoint.pt holds, by their entries: the model, its moving average
    (with one), the networks trained beside it and the optimizers."""
    return {
        "model": kind.model,
        **({"ema": kind.ema} if kind.ema is not None else {}),
        **kind.parts,
        **kind.optimizers,
    }


def saved_model(kind: Kind) -> LatentModel:
    """The weights that an epoch is scored and drawn with and the model folder holds: the moving average, with one;
    else the trained weights themselves."""
    return kind.ema if kind.ema is not None else kind.model


def _plain(values: np.ndarray) -> float | list[float]:
    """Step values as plain Python: one number alone, several as a list."""
    return values.item() if values.size == 1 else values.tolist()


def _read_metrics(out: Path, upto_epoch: int) -> list[dict]:
    path = out / METRICS_NAME
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r["epoch"] <= upto_epoch]


class TrainingDiverged(VaelabError):
    """The loss became NaN or infinite; the last good checkpoint was left as it was."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; ``saved_epoch`` is the epoch its checkpoint.pt in ``out`` holds (0: none), and
    ``go_on`` the call or command that resumes it, said when there is a checkpoint to resume from."""

    def __init__(self, out: Path, saved_epoch: int, go_on: str = ""):
        self.out, self.saved_epoch = Path(out), saved_epoch
        if saved_epoch:
            said = f"the checkpoint in {out} holds epoch {saved_epoch}, the last one saved"
            said += f"; go on with: {go_on}" if go_on else ""
        else:
            said = f"no epoch had finished, so {out} holds no checkpoint to resume; start it again"
        super().__init__(said)


def left_to_resume(epoch: int, out: Path) -> str:
    """What a run stopped during ``epoch`` (1-based) leaves in ``out`` to resume from."""
    if epoch <= 1:
        return f"No epoch had finished, so {out} holds no checkpoint to resume; start it again"
    return f"The last good checkpoint (epoch {epoch - 1}) in {out} is intact"


class TimeBudget:
    """A run of about ``seconds`` of wall-clock time, counted from its first step: after each epoch's steps, the
    run's last epoch is set to the last one that fits, from the mean time an epoch has taken so far (its steps,
    and the scoring, saving and drawing after it). A cosine learning rate follows, since it runs to the last step
    of the planned epochs; the first epoch runs on the epochs planned before."""

    clock = staticmethod(time.perf_counter)

    def __init__(self, seconds: float):
        self.seconds, self.start = seconds, self.clock()
        self.scored = self.start  # when the latest epoch's steps ended and its scoring began
        self.last_end = 0.0  # seconds that the scoring, saving and drawing after the latest epoch took

    def fitted_epochs(self, done: int, ddp: Dist) -> int:
        """The run's last epoch, ``done`` epochs in, their steps timed but the last one not yet scored: every rank
        gets the same number."""
        elapsed = self.clock() - self.start
        per_epoch = (elapsed + self.last_end) / done  # the epoch about to be scored takes about as long as the last
        left = max(0.0, (self.seconds - elapsed - self.last_end) // per_epoch)
        self.scored = self.clock()
        return done + round(ddp.mean(torch.tensor(left, device=ddp.device)))

    def epoch_ended(self) -> None:
        self.last_end = self.clock() - self.scored

    def left(self) -> str:
        """The progress bar's note of the time left, such as " (4:05 left)": a budgeted run's epoch count moves as
        it is refitted, so the bar shows the time instead."""
        seconds = max(0, round(self.seconds - (self.clock() - self.start)))
        return f" ({seconds // 60}:{seconds % 60:02d} left)"


# --- validation and pictures ------------------------------------------------------------------------------------


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
        return {
            "best_epoch": self.epoch,
            "val_images": val_images,
            "epochs_run": self.epoch,
            "run_seconds": round(seconds, 3),
        }

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


PICTURES_PER_RUN = 20  # with no interval given, about this many grids a run: every epoch of a run of up to 20


def draws_pictures(epoch: int, every: int | None, last: int, stopping: bool = False) -> bool:
    """Whether an epoch's pictures are drawn: every ``every`` epochs (None: every epoch in a run of up to
    PICTURES_PER_RUN, and about that many in a longer one), the ``last`` one, and one that ends a run early."""
    every = every or math.ceil(last / PICTURES_PER_RUN)
    return epoch % every == 0 or epoch == last or stopping
