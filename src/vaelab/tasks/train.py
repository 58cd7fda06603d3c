"""Training from Python, as the command line trains: ``vaelab.train("emoji", "runs/emoji", minutes=10)`` is the
run ``vaelab train --data emoji --out runs/emoji --minutes 10`` makes. Both are planned by ``training.plan``: the
data's recipe, the batch size and epochs sized to the data, the same checks, and the same lines printed before the
run starts. Settings are given by the name of their field (``latent_dim=16``, ``kind="vae-res"``,
``precision="fp32"``), as config.json records them; each function returns the trained folder, its final metrics and
the model in a Result.

A VAE's or autoencoder's run that finishes (not one stopped by Ctrl-C) then has the density of its codes fitted
and samples.png drawn from it (``tasks.density``), unless its ``density`` setting is off: :func:`run_planned` is
that one path, for ``vaelab train`` and :func:`train` alike."""

from __future__ import annotations

import contextlib
import difflib
import os
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError, VaelabWarning
from vaelab.models.config import ModelConfig, read_config_doc, read_model_json
from vaelab.models.registry import load
from vaelab.training.config import ClassifierTrainConfig, CycleTrainConfig, TrainConfig
from vaelab.training.loop import TrainingInterrupted
from vaelab.training.plan import DATA_FIELDS, RunPlan, plan_cycle_run, plan_evaluator_run, plan_run, train_planned


@dataclass
class TrainResult:
    """A finished run: its ``folder`` (a model folder, or an evaluator's), the final ``metrics`` its config.json
    holds (a VAE's: the test and validation scores of the saved epoch; an evaluator's: its test accuracy), the
    trained ``model``, and the ``plan`` it was trained by (its settings and the choices made for it)."""

    folder: Path
    metrics: dict
    model: Any
    plan: RunPlan


def train(
    data: str | ImageDataset | None,
    out: str | Path,
    *,
    minutes: float | None = None,
    epochs: int | None = None,
    resume: bool = False,
    progress: bool = True,
    channels: int | None = None,
    size: int | tuple[int, int] | None = None,
    limit: int | None = None,
    **settings,
) -> TrainResult:
    """Train a VAE (or autoencoder) on ``data`` into the folder ``out``, as ``vaelab train`` does.

    ``data`` is a dataset spec ("emoji", "folder:~/cats", "fashion-mnist") or an ``ImageDataset``; None is
    fashion-mnist, or on a resume the run's own data. ``minutes`` trains for about that long, ``epochs`` for that
    many epochs; neither: epochs sized to the data. ``settings`` are fields of ``ModelConfig`` and ``TrainConfig``
    by name (``latent_dim=16``, ``kind="vae-res"``, ``batch_size=64``); one left out takes the command line's
    choice (on colour images the colour recipe). ``channels``, ``size`` and ``limit`` are the image format of folder
    data (``size=64``: 64×64, or (HEIGHT, WIDTH)) and the first N training images kept. ``resume`` goes on from the
    checkpoint in ``out`` with the run's own settings (``epochs`` may be raised). ``progress=False`` trains without
    the progress bar and without the line of scores after each epoch. Ctrl-C stops the run with its last finished
    epoch saved, and says how to go on."""
    given = _checked(settings, (ModelConfig, TrainConfig), "vaelab.train")
    given.update({k: v for k, v in (("minutes", minutes), ("epochs", epochs)) if v is not None})
    plan = plan_run(data, out, given, set(given), resume=resume, channels=channels, size=_size(size), limit=limit)
    with _resumable(data, out, "train"):
        run_planned(plan, progress=progress, say=_say(), epoch_lines=progress)
    return _result(plan)


def run_planned(plan: RunPlan, progress: bool = True, say=print, epoch_lines: bool = True):
    """Train the run ``plan`` describes (``training.plan.train_planned``, which takes the same arguments); then, for
    a VAE's or autoencoder's run whose ``density`` setting is on, fit the density of the model's codes and draw
    samples.png from it (:func:`fit_density_after_training`). Only the main process fits: torchrun's others are done
    when training is. Ctrl-C during training raises before the fit. Returns what train_planned returns."""
    model = train_planned(plan, progress=progress, say=say, epoch_lines=epoch_lines)
    if isinstance(plan.training, TrainConfig) and plan.training.density and main_process():
        fit_density_after_training(plan.out, plan.dataset, progress, say)
    return model


def fit_density_after_training(out: Path, dataset: ImageDataset | None, progress: bool = True, say=print):
    """Fit the density of the codes of the model a run left in ``out``, on its training images (``dataset``: the
    run's own, None: as the folder names them), and write it with samples.png; ``say`` (None: nothing) gets the line
    that sums it up. The run has trained: a fit that cannot be made is a warning, not an error, and Ctrl-C during
    it says that the model is saved. Returns the DensityResult, or None."""
    from vaelab.tasks.density import fit_density, write_density

    try:
        result = fit_density(out, dataset, progress=progress)
        write_density(result)
    except VaelabError as e:
        warnings.warn(f"no density was fitted to the model's codes: {e}", VaelabWarning, stacklevel=2)
        return None
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"training had finished and {out} holds the model, but not its density: its samples come from N(0, I) "
            f"until `vaelab fit-density {out}`"
        ) from None
    if say is not None:
        say(f"{result.summary()}; samples drawn from it: {result.samples}")
    return result


def train_cycle(
    data: str | ImageDataset | None,
    out: str | Path,
    *,
    epochs: int | None = None,
    style: int | None = None,
    resume: bool = False,
    progress: bool = True,
    channels: int | None = None,
    size: int | tuple[int, int] | None = None,
    limit: int | None = None,
    **settings,
) -> TrainResult:
    """Train the cycle-consistent VAE on labelled ``data`` into ``out``, as ``vaelab train-cycle`` does: z of
    ``style`` dimensions (default 16) holds what the label does not, s (``specified_dim``, default 16) the label.
    ``settings`` are fields of ``ModelConfig`` and ``CycleTrainConfig`` by name; the rest as :func:`train`."""
    given = _checked(settings, (ModelConfig, CycleTrainConfig), "vaelab.train_cycle")
    given.update({"epochs": epochs} if epochs is not None else {})
    named = set(given) | ({"style"} if style is not None else set())
    plan = plan_cycle_run(
        data,
        out,
        given,
        named,
        style=16 if style is None else style,
        resume=resume,
        channels=channels,
        size=_size(size),
        limit=limit,
    )
    with _resumable(data, out, "train_cycle"):
        train_planned(plan, progress=progress, say=_say(), epoch_lines=progress)
    return _result(plan)


def train_evaluator(
    data: str | ImageDataset | None,
    out: str | Path,
    *,
    minutes: float | None = None,
    epochs: int | None = None,
    label: str | None = None,
    resume: bool = False,
    progress: bool = True,
    channels: int | None = None,
    size: int | tuple[int, int] | None = None,
    limit: int | None = None,
    **settings,
) -> TrainResult:
    """Train the evaluator (the classifier that judges decoded images) on labelled ``data`` into ``out``, as
    ``vaelab train-evaluator`` does; ``label`` labels the images by that column of the data's attribute table.
    ``settings`` are fields of ``ClassifierTrainConfig`` by name; the rest as :func:`train`."""
    given = _checked(settings, (ClassifierTrainConfig,), "vaelab.train_evaluator")
    given.update({k: v for k, v in (("minutes", minutes), ("epochs", epochs)) if v is not None})
    plan = plan_evaluator_run(
        data, out, given, set(given), label=label, resume=resume, channels=channels, size=_size(size), limit=limit
    )
    with _resumable(data, out, "train_evaluator"):
        model, _ = train_planned(plan, progress=progress, say=_say(), epoch_lines=progress)
    return TrainResult(plan.out, read_config_doc(plan.out, "vaelab train-evaluator").get("metrics", {}), model, plan)


def _checked(settings: dict, configs: tuple[type, ...], function: str) -> dict:
    """``settings`` by field name, each a field of ``configs`` (lists given for tuples made tuples); an unknown
    name is refused with the names likeliest meant."""
    by_name = {f.name: f for config in configs for f in fields(config) if f.name not in DATA_FIELDS}
    checked = {}
    for name, value in settings.items():
        if name in DATA_FIELDS:
            raise VaelabError(f"{name} is the data's: give channels= or size=(HEIGHT, WIDTH) for folder data")
        if name not in by_name:
            meant = difflib.get_close_matches(name, list(by_name), n=3)
            names = " and ".join(c.__name__ for c in configs)
            hint = f"did you mean {' or '.join(meant)}?" if meant else f"the settings are the fields of {names}"
            raise VaelabError(f"{function} has no setting {name!r}; {hint}")
        checked[name] = tuple(value) if isinstance(by_name[name].default, tuple) else value
    return checked


def _size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """An image size as the loaders take it: 64 is 64×64."""
    return (size, size) if isinstance(size, int) else size


def main_process() -> bool:
    """Whether this is the run's main process: the only one, or torchrun's rank 0."""
    return os.environ.get("RANK", "0") == "0"


def _say():
    """Print the run's banner in the main process only (torchrun's others train in silence)."""
    return print if main_process() else None


@contextlib.contextmanager
def _resumable(data, out, function: str):
    """Ctrl-C during a run: stop, and say how to go on from Python."""
    try:
        yield
    except TrainingInterrupted as e:
        shown = repr(data) if data is None or isinstance(data, str) else "dataset"
        go_on = f"vaelab.{function}({shown}, {str(out)!r}, resume=True)"
        raise TrainingInterrupted(e.out, e.saved_epoch, go_on=go_on) from None


def _result(plan: RunPlan) -> TrainResult:
    """The finished run of ``plan``: its folder, config.json's metrics and the model as the folder holds it."""
    return TrainResult(plan.out, read_model_json(plan.out).get("metrics", {}), load(plan.out), plan)
