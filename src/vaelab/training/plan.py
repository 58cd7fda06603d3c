"""The plan of a training run, made in one place for the command line and the Python API: the model and training
settings with the data's recipe and sizing applied, each choice made for the user with its reason (the lines a run
prints before it starts), and every check that refuses a run before anything is written. ``vaelab train --data emoji
--minutes 10`` and ``vaelab.train("emoji", out, minutes=10)`` make the same plan, and so the same run.

A plan is made from ``settings`` (field name → value, of the run's config dataclasses) and ``given`` (the names the
user chose): a setting left out takes the command line's default (the batch size and the epochs: sized to the data),
and the data's recipe (``training.recipe``) sets each setting that is not given."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError, VaelabWarning
from vaelab.models.config import ModelConfig, check_model_folder
from vaelab.progress import counted
from vaelab.training.checks import (
    check_adversarial_processes,
    check_run_data,
    own_unless_given,
    pick_device,
    training_split,
)
from vaelab.training.config import ClassifierTrainConfig, CycleTrainConfig, TrainConfig
from vaelab.training.perceptual import perceptual_distance_for
from vaelab.training.recipe import largest_batch_for, recipe_for
from vaelab.training.settings import (
    OWN_COMMAND,
    cli_default,
    cli_fields,
    flag_of,
    is_switch,
    kept_setting,
    load_training_data,
    run_settings_on_resume,
    shown_settings,
    style_of,
)
from vaelab.training.vae import check_same_processes, epoch_steps, processes_now, sized_schedule

# Fields that shape one kind of model only: given for another, they would be silently ignored.
SIGMA_LIKELIHOODS = ("gaussian", "gaussian-learned")  # the likelihoods --sigma sets (gaussian-optimal finds its own)
ONLY_FOR = {
    "widths": ("vae-conv", "vae-res"),
    "kernel_size": ("vae-conv",),
    "fc": ("vae-conv",),
    "upsample": ("vae-conv",),
    "attention": ("vae-res",),
    "hidden": ("ae-mlp",),
}
DATA_FIELDS = ("channels", "height", "width")  # ModelConfig's fields that the data sets, never the user


@dataclass
class RunPlan:
    """A training run as it will go: what trains, on what, with which settings, and why.

    ``model`` and ``training`` are the settings the trainer is given: on a resume ``model`` is None (the run's own,
    in ``run``) and of ``training`` only the settings a resume may change count (``may_change``). ``choices`` are
    the choices made for the user, each with its reason: the lines printed under ``headline`` before the run starts.
    ``launch`` is the number of processes torchrun starts (0: the run trains in this process); those processes load
    the data themselves, so ``dataset`` is then None."""

    out: Path
    dataset: ImageDataset | None
    model: ModelConfig | None
    training: TrainConfig | CycleTrainConfig | ClassifierTrainConfig
    resume: bool = False
    headline: str = ""
    choices: list[str] = field(default_factory=list)
    run: dict | None = None  # on a resume, the run's config.json: the settings it keeps
    launch: int = 0

    @property
    def banner(self) -> str:
        """What a run prints before it starts (the line saying how it computes follows, once its device is known)."""
        return "\n".join([self.headline, *self.choices])

    @property
    def kept(self) -> dict:
        """On a resume, the run's own model and training settings, which it keeps ({} for a new run)."""
        return {k: self.run[k] for k in ("model", "training") if k in self.run} if self.run else {}

    @property
    def may_change(self) -> dict:
        """On a resume, the settings it takes as given now: the epochs, the device, the pictures' interval, how it
        computes."""
        free = [f.name for f in cli_fields(type(self.training)) if f.metadata.get("free_on_resume")]
        return {name: getattr(self.training, name) for name in free} if self.resume else {}


def plan_run(
    data: str | ImageDataset | None,
    out: str | Path,
    settings: Mapping[str, Any],
    given: Collection[str],
    *,
    resume: bool = False,
    nproc: int = 1,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    limit: int | None = None,
) -> RunPlan:
    """The plan of a VAE's (or autoencoder's) run into ``out`` on ``data`` (a ``load_dataset`` spec, an
    ``ImageDataset``, or None: fashion-mnist, or on a resume the run's own). ``settings`` and ``given`` are fields
    of ModelConfig and TrainConfig (see the module's docstring); ``nproc`` processes train together (more than one:
    torchrun launches them, and the checks the processes would make are made here first). ``channels``, ``size``
    and ``limit`` are the image format of folder data and the training images kept. Raises ``VaelabError`` for a run
    that cannot go, before anything is written."""
    out = Path(out)
    settings = {**_defaults((ModelConfig, TrainConfig), (TrainConfig,)), **settings}
    run = _run_on_resume(out, resume, settings, given, (ModelConfig, TrainConfig))
    if run and run["model"]["kind"] in OWN_COMMAND:
        kind = run["model"]["kind"]
        raise VaelabError(
            f"the run in {out} is a {kind}, which has its own command: vaelab {OWN_COMMAND[kind]} --out {out} --resume"
        )
    if not resume:
        refuse_unused_settings(settings, given)  # before the data is read: a large folder takes a while
        if settings["minutes"] and settings["epochs"]:
            raise VaelabError("give either --epochs or --minutes: a time budget fits the epochs to the time")
        check_adversarial_processes(settings["adversarial"], nproc)  # before torchrun: one line, not one per rank
    launch = nproc if nproc > 1 and "WORLD_SIZE" not in os.environ else 0
    with warnings.catch_warnings():
        if launch:  # rank 0 loads the data again and says what it left out: once is enough
            warnings.simplefilter("ignore", VaelabWarning)
        ds = _training_data(out, data, channels, size, limit, resume)
    choices = []
    if resume:  # the model and training settings are the run's own; these may change
        model_cfg = None
        cfg = TrainConfig(
            device=settings["device"],
            picture_every=settings["picture_every"],
            density=settings["density"],
            **own_unless_given(out, settings, given, TrainConfig.epochs),  # the epochs: as the run planned
        )
    else:
        settings, recipe = with_recipe(settings, given, ds.channels)
        if settings.get("perceptual_evaluator") not in (None, "none"):  # a resume from elsewhere still finds it
            settings = {
                **settings,
                "perceptual_evaluator": str(Path(settings["perceptual_evaluator"]).expanduser().resolve()),
            }
        choices += [recipe] if recipe else []
        model_cfg = ModelConfig(
            channels=ds.channels, height=ds.size[0], width=ds.size[1], **_of(ModelConfig, settings, DATA_FIELDS)
        )
        n_train = len(training_split(ds, settings["val_fraction"])[0])
        world = launch or processes_now()
        batch_size, epochs = sized_schedule(
            n_train, settings["batch_size"], settings["epochs"], world, largest_batch_for(ds.channels)
        )
        choices += sizing_lines(settings, n_train, batch_size, epochs, world)
        cfg = TrainConfig(**{**_of(TrainConfig, settings), "epochs": epochs, "batch_size": batch_size})
        if cfg.perceptual:  # its evaluator is read and checked before the run writes anything
            perceptual_distance_for(cfg.perceptual_evaluator, ds.name, ds.channels, ds.size)
    if launch:
        check_launch(out, ds, run, model_cfg, cfg, settings["device"], launch)
        # the processes load their own data: the plan keeps no copy while they train
        return RunPlan(out, None, model_cfg, cfg, resume, run=run, launch=launch)
    # the settings in use (on a resume the run's own)
    what, val = resumed_banner(run, out, run["model"]["kind"]) if run else (settings["kind"], settings["val_fraction"])
    return RunPlan(out, ds, model_cfg, cfg, resume, training_banner(what, ds, val), choices, run)


def refuse_unused_settings(settings: Mapping[str, Any], given: Collection[str]) -> None:
    """A new run's settings that its model would ignore are refused, not dropped: --fc for ae-mlp, --hidden for
    vae-conv, --sigma without the Gaussian likelihood (each given at other than its default)."""
    kind, defaults, by_name = settings["kind"], ModelConfig(), {f.name: f for f in fields(ModelConfig)}
    if kind in OWN_COMMAND:
        command = OWN_COMMAND[kind]
        raise VaelabError(
            f"{kind} trains with its own command: vaelab {command} --data ... --out ... "
            f"(from Python, vaelab.{command.replace('-', '_')})"
        )
    for name, kinds in ONLY_FOR.items():
        if name in given and kind not in kinds and settings[name] != getattr(defaults, name):
            raise VaelabError(f"{flag_of(by_name[name])} shapes a {' or '.join(kinds)} model; {kind!r} does not use it")
    if "adversarial_start" in given and not settings["adversarial"]:
        raise VaelabError("--adversarial-start says when the adversarial term starts; give --adversarial too")
    if "sigma" in given and settings["likelihood"] not in SIGMA_LIKELIHOODS and settings["sigma"] != defaults.sigma:
        raise VaelabError(
            "--sigma is the Gaussian likelihood's; give --likelihood gaussian or gaussian-learned with it"
        )


def with_recipe(settings: Mapping[str, Any], given: Collection[str], channels: int) -> tuple[dict, str]:
    """``settings`` with each setting of the data's recipe (``training.recipe``) that is not ``given``, and the
    banner's line that names them ("" when none was taken)."""
    taken = {name: value for name, value in recipe_for(channels).items() if name not in given}
    if not taken:
        return dict(settings), ""
    return {**settings, **taken}, f"the colour recipe: {shown_settings(taken)} (give a flag to choose otherwise)"


def sizing_lines(settings: Mapping[str, Any], n_train: int, batch_size: int, epochs: int, world: int) -> list[str]:
    """The banner's lines for a batch size and epochs sized to the data, away from the usual 128 and 10."""
    chosen = [
        f"batch {batch_size}" if settings["batch_size"] is None and batch_size != TrainConfig.batch_size else "",
        f"{epochs} epochs" if settings["epochs"] is None and epochs != TrainConfig.epochs else "",
    ]
    lines = []
    if settings["minutes"]:  # the epochs, and so the steps, come from the time as the run goes
        if chosen[0]:
            lines.append(f"{chosen[0]}: sized to {n_train} training images (--batch-size chooses another)")
        minutes = settings["minutes"]
        lines.append(f"training for about {minutes:g} minutes: the epochs are fitted to the time as it goes")
    elif any(chosen):
        steps = epoch_steps(n_train, batch_size, world) * epochs
        lines.append(
            f"{' and '.join(filter(None, chosen))}: sized to {n_train} training images, {steps} optimizer "
            "steps in all (--batch-size and --epochs choose others)"
        )
    return lines


def check_launch(
    out: Path, ds: ImageDataset, run: dict | None, model_cfg: ModelConfig | None, cfg: TrainConfig, device: str, n: int
) -> None:
    """What the ``n`` processes torchrun starts would refuse, checked before they start: bad input gets one line,
    not one per process and a torchrun traceback."""
    from vaelab.models.registry import check_new_config

    pick_device(device)
    kept = run["training"] if run else {}
    if run:
        check_run_data(ModelConfig.from_dict(run["model"]), ds, out, run.get("data") or {})
        check_same_processes(run["training"].get("processes"), n, out, run["training"]["batch_size"])
    elif model_cfg is not None:
        check_new_config(model_cfg)
    train_idx, _ = training_split(ds, kept.get("val_fraction", cfg.val_fraction))
    epoch_steps(len(train_idx), kept.get("batch_size", cfg.batch_size), n)
    check_model_folder(out, evaluator=False)


def plan_cycle_run(
    data: str | ImageDataset | None,
    out: str | Path,
    settings: Mapping[str, Any],
    given: Collection[str],
    *,
    style: int = 16,
    resume: bool = False,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    limit: int | None = None,
) -> RunPlan:
    """The plan of a cycle-consistent VAE's run: as :func:`plan_run`, with fields of ModelConfig and
    CycleTrainConfig, and z of ``style`` dimensions beside s's ``specified_dim``."""
    out = Path(out)
    settings = {**_defaults((ModelConfig, CycleTrainConfig), (ModelConfig, CycleTrainConfig)), **settings}
    derived = {"--style": (style, style_of)}
    run = _run_on_resume(out, resume, settings, given, (ModelConfig, CycleTrainConfig), derived, "style" in given)
    if run and run["model"]["kind"] != "cycle-vae":
        raise VaelabError(
            f"the run in {out} is a {run['model']['kind']}, not a cycle-vae: resume it with vaelab train --resume"
        )
    ds = _training_data(out, data, channels, size, limit, resume)
    if resume:  # the model and training settings are the run's own; these may change
        model_cfg = None
        cfg = CycleTrainConfig(
            device=settings["device"],
            picture_every=settings["picture_every"],
            **own_unless_given(out, settings, given, CycleTrainConfig.epochs),  # the epochs: as the run planned
        )
    else:
        model_cfg = ModelConfig(
            **{
                **_of(ModelConfig, settings, DATA_FIELDS),
                "kind": "cycle-vae",
                "channels": ds.channels,
                "height": ds.size[0],
                "width": ds.size[1],
                "latent_dim": style + settings["specified_dim"],
                "likelihood": "gaussian",
            }
        )
        cfg = CycleTrainConfig(**{**_of(CycleTrainConfig, settings), "epochs": settings["epochs"] or 10})
    what, val = f"cycle-vae (z {style}, s {settings['specified_dim']})", settings["val_fraction"]
    if run:  # the settings in use: the run's own
        m = run["model"]
        z, s = m["latent_dim"] - m["specified_dim"], m["specified_dim"]
        what, val = resumed_banner(run, out, f"cycle-vae, z {z}, s {s}")
    return RunPlan(out, ds, model_cfg, cfg, resume, training_banner(what, ds, val), [], run)


def plan_evaluator_run(
    data: str | ImageDataset | None,
    out: str | Path,
    settings: Mapping[str, Any],
    given: Collection[str],
    *,
    label: str | None = None,
    resume: bool = False,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    limit: int | None = None,
) -> RunPlan:
    """The plan of an evaluator's run (the classifier that judges decoded images) on ``data`` (default
    fashion-mnist), labelled by its own labels or by the column ``label`` of its attribute table. A resumed run
    goes on with its own data, labels and training subset unless they are given."""
    from vaelab.data.loaders import load_dataset

    out = Path(out)
    settings = {**_defaults((ClassifierTrainConfig,), (ClassifierTrainConfig,)), **settings}
    run = _run_on_resume(out, resume, settings, given, (ClassifierTrainConfig,), evaluator=True)
    if run:  # before the data: an --out to refuse
        own = run.get("data") or {}
        data = data if data is not None else own.get("name")
        label = label if label is not None else own.get("label")
        limit = limit or own.get("limit")
    if isinstance(data, ImageDataset):
        ds = data
    else:
        ds = load_dataset(data or "fashion-mnist", channels=channels, size=size, strict=True)
    if limit:
        ds.limit_train(limit)
    if label:  # after the limit: a class needs its training images among those that train
        ds = ds.labelled_by(label)
    own = own_unless_given(out, settings, given, ClassifierTrainConfig.epochs) if resume else {}
    cfg = ClassifierTrainConfig(**{**_of(ClassifierTrainConfig, settings), "epochs": settings["epochs"] or 8, **own})
    headline = (
        f"training an evaluator on {ds.name}: {len(ds.train_idx)} train / {len(ds.test_idx)} test images, "
        + counted(len(ds.class_names or []), "class", "classes")
        + (f" of {label}" if label else "")
        + _others(ds)
    )
    return RunPlan(out, ds, None, cfg, resume, headline, [], run)


def train_planned(
    plan: RunPlan, progress: bool = True, say: Callable[[str], None] | None = print, epoch_lines: bool = True
):
    """Train the run ``plan`` describes; ``say`` (None: nothing) prints its banner and the line saying how it
    computes once every check has passed; ``progress`` shows the progress bar, ``epoch_lines`` a line of scores
    after each epoch (the command line's --quiet drops the bar only). Returns what its trainer returns: the model
    (an evaluator: the model and its history)."""
    announce = None if say is None else (lambda compute: say(f"{plan.banner}\n{compute}"))
    if isinstance(plan.training, ClassifierTrainConfig):
        from vaelab.training.classifier import train_classifier

        return train_classifier(
            plan.dataset,
            plan.out,
            plan.training,
            progress=progress,
            resume=plan.resume,
            announce=announce,
            epoch_lines=epoch_lines,
        )
    if isinstance(plan.training, CycleTrainConfig):
        from vaelab.training.cycle import train_cycle
        from vaelab.viz.disentangle_figures import swap_grid_figure

        return train_cycle(
            plan.model,
            plan.dataset,
            plan.out,
            plan.training,
            resume=plan.resume,
            progress=progress,
            announce=announce,
            swap_figure=swap_grid_figure,
            epoch_lines=epoch_lines,
        )
    from vaelab.training.vae import train

    return train(
        plan.model,
        plan.dataset,
        plan.out,
        plan.training,
        resume=plan.resume,
        progress=progress,
        announce=announce,
        epoch_lines=epoch_lines,
    )


def training_banner(what: str, ds: ImageDataset, val_fraction: float) -> str:
    """The first line a training run prints: the model, the data and how its images are split."""
    n_train, n_val = len(ds.train_idx), round(len(ds.train_idx) * val_fraction)
    split = f"{n_train - n_val} train + {n_val} validation" if n_val else f"{n_train} train"
    return (
        f"training {what} on {ds.name}: {split} / {len(ds.test_idx)} test images of "
        f"{ds.channels}×{ds.size[0]}×{ds.size[1]}"
    )


def resumed_banner(run: dict, out, what: str) -> tuple[str, float]:
    """What a resumed run is, for the first line a training run prints, and its validation fraction."""
    return f"the run in {out} ({what})", run["training"].get("val_fraction", 0.0)


def _defaults(configs: tuple[type, ...], command_line: tuple[type, ...]) -> dict:
    """Each field's value when the user leaves it out: for the fields of ``command_line``, the command line's
    default (None for a setting sized to the data or, on a resume, the run's own); for the others, the field's."""
    found = {f.name: f.default for config in configs for f in fields(config) if f.name not in DATA_FIELDS}
    for config in command_line:
        found.update({f.name: cli_default(f) for f in fields(config) if "cli_default" in f.metadata})
    return found


def _of(config: type, settings: Mapping[str, Any], leave: Collection[str] = ()) -> dict:
    """The values in ``settings`` of ``config``'s fields (but ``leave``), as its keyword arguments."""
    return {f.name: settings[f.name] for f in fields(config) if f.name in settings and f.name not in leave}


def _run_on_resume(
    out: Path,
    resume: bool,
    settings: Mapping[str, Any],
    given: Collection[str],
    configs: tuple[type, ...],
    derived: Mapping[str, tuple[Any, Callable[[dict], Any]]] | None = None,
    derived_given: bool = False,
    evaluator: bool = False,
) -> dict | None:
    """``training.settings.run_settings_on_resume`` for settings by field name: the run's config.json on a resume,
    after refusing each given setting that a resumed run keeps, typed with another value than the run's own.
    ``derived``: flag → (its value, its reader of config.json), for a setting that no field holds."""
    typed, kept = {}, {}
    for config in configs:
        for f in fields(config):
            if f.name in given and not f.metadata.get("free_on_resume"):
                flag = flag_of(f)
                typed[flag] = not settings[f.name] if is_switch(f) else settings[f.name]
                kept[flag] = kept_setting(config, f)
    if derived_given:
        for flag, (value, stored) in (derived or {}).items():
            typed[flag], kept[flag] = value, stored
    free = dict.fromkeys(flag_of(f) for config in configs for f in fields(config) if f.metadata.get("free_on_resume"))
    return run_settings_on_resume(out, resume, typed, kept, evaluator, tuple(free))


def _training_data(out: Path, data, channels, size, limit, resume: bool) -> ImageDataset:
    """The dataset a run trains on: ``data`` itself when it is one, else as ``load_training_data`` reads it."""
    if not isinstance(data, ImageDataset):
        return load_training_data(out, data=data, channels=channels, size=size, limit=limit, resume=resume)
    if channels or size:
        raise VaelabError("channels and size are the image format of folder data; a dataset has its own")
    if limit:
        data.limit_train(limit)
    return data


def _others(ds: ImageDataset) -> str:
    """How many images the rare values of a label column left in the shared class, if any."""
    from vaelab.data.dataset import OTHER_CLASS

    if ds.label_source is None or OTHER_CLASS not in ds.class_names:
        return ""
    n = int((ds.labels == ds.class_names.index(OTHER_CLASS)).sum())
    return f" ({n} images of rare values share the class {OTHER_CLASS})"
