"""Training the evaluator classifier: cross-entropy, Adam with a cosine learning-rate decay to 0 at the run's last
step, random horizontal flips, and its test accuracy after each epoch. The run around the step (resume, --minutes,
Ctrl-C, metrics.jsonl, atomic saves, the NaN guard, bf16) is the scaffold that every training loop shares,
:func:`vaelab.training.loop.run_loop`."""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError
from vaelab.io.run_lock import run_folder_lock
from vaelab.models.classifier import EvaluatorCNN, EvaluatorConfig
from vaelab.models.config import CONFIG_NAME, check_model_folder, read_config_doc
from vaelab.training.checkpoint import load_checkpoint
from vaelab.training.checks import check_resumable, pick_device, resumed_settings
from vaelab.training.compute import Compute, plan_compute
from vaelab.training.config import ClassifierTrainConfig
from vaelab.training.distributed import Dist
from vaelab.training.evaluation import images_tensor, unit_batch
from vaelab.training.loop import Scores, run_loop, start_run
from vaelab.viz.training_curves import plot_classifier_curve


@torch.no_grad()
def classifier_accuracy(model: EvaluatorCNN, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of images (N, C, H, W), uint8 or float in [0,1], whose argmax class equals ``labels`` (N,)."""
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(images), batch_size):
        x = unit_batch(images[i : i + batch_size], device)
        correct += (model.predict_proba(x).argmax(1).cpu().numpy() == labels[i : i + batch_size]).sum()
    return float(correct / max(1, len(images)))


def train_classifier(
    dataset: ImageDataset,
    out: str | Path | None = None,
    cfg: ClassifierTrainConfig | None = None,
    progress: bool = True,
    epoch_lines: bool = True,
    resume: bool = False,
    announce=None,
) -> tuple[EvaluatorCNN, dict]:
    """Train an evaluator on ``dataset``'s labelled train split into the folder ``out`` (None: a temporary one,
    for a model kept in memory only).

    ``out`` ends up an evaluator folder (config.json, model.safetensors, features.onnx) plus checkpoint.pt,
    metrics.jsonl and loss_curve.png; with ``resume`` the run goes on from its checkpoint, and ``cfg.epochs`` may be
    raised to train longer. ``announce(line)`` is called once every check has passed, with the line that says how
    the run computes. Returns the model (eval mode) and a history: train-loss windows, per-epoch loss and test
    accuracy, seconds of training.
    """
    cfg = cfg or ClassifierTrainConfig()
    check_labelled(dataset)
    if out is None:
        if resume:
            raise VaelabError("resuming needs the run's folder")
        with tempfile.TemporaryDirectory(prefix="vaelab-evaluator-") as tmp:
            return train_classifier(
                dataset, Path(tmp) / "evaluator", cfg, progress, announce=announce, epoch_lines=epoch_lines
            )
    out = Path(out)
    check_model_folder(out, evaluator=True)
    ckpt, model_cfg = None, evaluator_config(dataset)
    if resume:
        ckpt, model_cfg, cfg = resume_evaluator(out, cfg, dataset)
    check_resumable(ckpt, cfg.epochs, out)
    device = pick_device(cfg.device)
    compute = plan_compute(cfg.precision, cfg.compile, device)
    with run_folder_lock(out):  # one writer per run folder: a second run given the same --out is refused
        if announce is not None:
            announce(compute.line)
        torch.manual_seed(cfg.seed)
        kind = ClassifierKind(compute.prepare(EvaluatorCNN(model_cfg).to(device)), cfg, device, dataset, compute)
        run = start_run(kind, out, dataset, 0, Dist(device=device), ckpt)
        run_loop(kind, run, progress, epoch_lines)
    kind.model.data_spec = dataset.spec()
    return kind.model, history_of(run.records, run.train_seconds)


def check_labelled(dataset: ImageDataset) -> None:
    """An evaluator learns classes: the data must have them, in its test split as in its training split."""
    if dataset.labels is None or not dataset.class_names:
        raise VaelabError(
            f"dataset {dataset.name!r} has no labels; an evaluator needs class labels "
            "(use fashion-mnist, mnist:PATH, or a folder with class subfolders)"
        )
    if dataset.split_by_class():
        raise VaelabError(
            f"{dataset.name} is split by class: its test classes never occur in training, so a "
            "classifier trained on it cannot be tested; use a set whose test split shares its classes"
        )


def evaluator_config(dataset: ImageDataset) -> EvaluatorConfig:
    return EvaluatorConfig(
        channels=dataset.channels, height=dataset.size[0], width=dataset.size[1], num_classes=len(dataset.class_names)
    )


def resume_evaluator(out: Path, cfg: ClassifierTrainConfig, dataset: ImageDataset) -> tuple:
    """(checkpoint, model config, training settings) of the evaluator run in ``out``: its own settings, with the
    epochs and device asked for now; data of another format or other classes is refused."""
    ckpt = load_checkpoint(out)
    if not (out / CONFIG_NAME).is_file():
        raise VaelabError(f"cannot resume: {out} has no {CONFIG_NAME} beside its checkpoint")
    model_cfg = EvaluatorConfig.from_dict(read_config_doc(out)["evaluator"])
    own, now = (
        (model_cfg.num_classes, model_cfg.channels, model_cfg.height, model_cfg.width),
        (
            len(dataset.class_names),
            dataset.channels,
            *dataset.size,
        ),
    )
    if own != now:
        raise VaelabError(
            f"{out} holds an evaluator of {model_cfg.num_classes} classes of {model_cfg.channels}×{model_cfg.height}"
            f"×{model_cfg.width} images, and {dataset.name} has {len(dataset.class_names)} of {dataset.channels}×"
            f"{dataset.size[0]}×{dataset.size[1]}: a resumed run goes on with its own data"
        )
    settings = ClassifierTrainConfig.from_dict(resumed_settings(ckpt["train_config"], cfg))
    return ckpt, model_cfg, settings


def history_of(records: list[dict], seconds: float) -> dict:
    """train_classifier's history from the run's metrics.jsonl records."""
    epochs = [
        {"epoch": r["epoch"], "train_loss": r["train_loss"], "test_accuracy": r["test_accuracy"]}
        for r in records
        if r["kind"] == "epoch"
    ]
    return {
        "step_loss": [r["loss"] for r in records if r["kind"] == "step"],
        "epochs": epochs,
        "train_seconds": seconds,
        "test_accuracy": epochs[-1]["test_accuracy"] if epochs else None,
    }


class ClassifierKind:
    """The evaluator's part of a run (see :class:`vaelab.training.loop.Kind`): a cross-entropy step, the test
    accuracy, and its own model folder."""

    step_keys = ("loss",)
    unit = "batch"
    remedy = "try a lower --lr"
    score_name, score_format, best_key = "validation loss", ".4f", "best_val_loss"  # no validation: never used
    ema = None  # no moving average: the folder saves the trained weights

    def __init__(
        self, model: EvaluatorCNN, cfg: ClassifierTrainConfig, device, dataset: ImageDataset, compute: Compute
    ):
        self.model, self.cfg, self.device, self.compute = model, cfg, device, compute
        self.net, self.parts = compute.compile(model), {}  # nothing trained beside the model
        self.optimizers = {"optimizer": torch.optim.Adam(model.parameters(), lr=cfg.lr)}
        self.images = images_tensor(dataset.images)
        self.labels = torch.from_numpy(dataset.labels.astype(np.int64))
        self.train_idx = torch.from_numpy(dataset.split("train"))
        test_idx = dataset.split("test")
        self.test_images, self.test_labels = dataset.images[test_idx], dataset.labels[test_idx]
        self.steps_per_epoch = math.ceil(len(self.train_idx) / cfg.batch_size)

    def epoch_batches(self, epoch: int) -> list[tuple]:
        """The epoch's batches: (training indices, which images to mirror or None), from a generator seeded by
        (seed, epoch)."""
        cfg, size = self.cfg, self.cfg.batch_size
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        order = self.train_idx[torch.randperm(len(self.train_idx), generator=gen)]
        batches = []
        for b in range(self.steps_per_epoch):
            idx = order[b * size : (b + 1) * size]
            batches.append((idx, torch.rand(len(idx), 1, 1, 1, generator=gen) < 0.5 if cfg.flip else None))
        return batches

    def step(self, batch: tuple, step: int) -> np.ndarray:
        """One Adam step on the batch's cross-entropy; returns it."""
        idx, flips = batch
        x = self.images[idx].float().div_(255)
        if flips is not None:
            x = torch.where(flips, x.flip(-1), x)
        x = self.compute.images(x.to(self.device))
        with self.compute.autocast():  # bf16 needs no gradient scaler: it has fp32's range
            logits = self.net(x)
        loss = F.cross_entropy(logits.float(), self.labels[idx].to(self.device))  # the sum in fp32
        opt = self.optimizers["optimizer"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        value = loss.item()
        if math.isfinite(value):  # a NaN step is not taken: run_epoch stops the run on the value returned
            for group in opt.param_groups:  # from the step count alone, so that a resumed run needs no scheduler
                group["lr"] = self.cfg.lr_at(step, self.steps_per_epoch * self.cfg.epochs)
            opt.step()
        return np.array([value])

    def progress(self, mean: np.ndarray) -> dict:
        return {"loss": f"{mean[0]:.3f}"}

    def evaluate(self, epoch: int, seconds: float, train: dict) -> Scores:
        acc = classifier_accuracy(self.model, self.test_images, self.test_labels)
        images_per_s = len(self.train_idx) / seconds
        record = {
            "train_loss": train["loss"],
            "test_accuracy": acc,
            "epoch_seconds": seconds,
            "img_per_s": images_per_s,
        }
        line = f"train loss {train['loss']:.4f}  test accuracy {acc:.4f}  [{images_per_s:.0f} img/s]"
        return Scores(record, line, {"accuracy": acc})

    def saved_training(self, epoch: int, step: int, seconds: float) -> dict:
        return {
            **asdict(self.cfg),
            **self.compute.record(),
            "epochs_done": epoch,
            "steps": step,
            "train_seconds": round(seconds, 1),
        }

    def save(self, out: Path, data_spec: dict, training: dict, metrics: dict) -> None:
        """The evaluator's folder: config.json with its test accuracy, the weights, and features.onnx standardised
        by the test images."""
        self.model.save_pretrained(
            out,
            data_spec,
            reference=self.test_images,
            training=training,
            metrics={"test_accuracy": metrics["test"]["accuracy"], "train_seconds": training["train_seconds"]},
        )

    def plot_curves(self, records: list[dict], path: Path) -> None:
        plot_classifier_curve(records, path)

    def draw(self, out: Path, epoch: int) -> None:
        """An evaluator draws no pictures."""
