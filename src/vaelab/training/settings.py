"""The settings a training run is made with, defined once in the fields of ``ModelConfig``, ``TrainConfig``,
``CycleTrainConfig`` and ``SweepConfig``: which of them a command line sets and under which flag, which of them a
resumed run keeps, and the data a run trains on.

A field is a command-line setting when its ``metadata`` has a ``"help"`` (the --help text, "" for none). The
other keys, each optional:

- ``"flag"``: the option, when it is not ``--`` and the field's name with dashes (``--latent`` for latent_dim);
- ``"type"``: the name of the command line's reader of the value ("positive", "positive_number", "seed", "ints",
  "names", "text" for a string whose default is None); without it, the type of the default (int, float, str);
- ``"choices"`` and ``"metavar"``, as argparse takes them;
- ``"cli_default"``: the default on the command line when it is not the field's (None where the command sizes the
  setting to the data, or, on --resume, takes the run's own);
- ``"free_on_resume"``: True for a setting that a resumed run may change (--epochs, --device, --pictures-every,
  and how it computes: --precision, --compile); every other one is the run's for good, and --resume refuses
  another value.

A bool field that is on by default is a switch whose flag, ``--no-NAME``, turns it off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import Field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaelab.errors import VaelabError
from vaelab.models.config import CONFIG_NAME, ModelConfig, check_model_folder, read_config_doc, read_model_json
from vaelab.training.config import ClassifierTrainConfig, CycleTrainConfig, TrainConfig

if TYPE_CHECKING:
    from vaelab.data.dataset import ImageDataset

# Model kinds that another command than `vaelab train` trains (the cycle-consistent VAE has its own loop).
OWN_COMMAND = {"cycle-vae": "train-cycle"}

# The section of a run's config.json that holds each dataclass's fields, under their own names.
SECTION = {
    ModelConfig: "model",
    TrainConfig: "training",
    CycleTrainConfig: "training",
    ClassifierTrainConfig: "training",
}


def cli_fields(config: type) -> list[Field]:
    """The fields of ``config`` that a command line sets."""
    return [f for f in fields(config) if "help" in f.metadata]


def is_switch(f: Field) -> bool:
    """A bool field on by default, which its flag turns off."""
    return f.default is True


def flag_of(f: Field) -> str:
    """The option that sets ``f``: ``--no-NAME`` for a switch, else metadata's flag or ``--NAME``."""
    name = f.name.replace("_", "-")
    return f.metadata.get("flag") or (f"--no-{name}" if is_switch(f) else f"--{name}")


def shown_settings(values: Mapping[str, Any]) -> str:
    """Settings by field name as the flags that give them: ``--likelihood gaussian-optimal --freq-loss 1``."""
    by_name = {f.name: f for config in (ModelConfig, TrainConfig) for f in fields(config)}
    return " ".join(
        f"{flag_of(by_name[name])} {value:g}" if isinstance(value, float) else f"{flag_of(by_name[name])} {value}"
        for name, value in values.items()
    )


def cli_default(f: Field) -> Any:
    """The value of ``f`` on a command line that leaves its flag out (False for a switch: not given)."""
    if is_switch(f):
        return False
    return f.metadata["cli_default"] if "cli_default" in f.metadata else f.default


def kept_setting(config: type, f: Field) -> Callable[[dict], Any]:
    """How to read, from a run's config.json, the value its flag had: for a switch, whether it was turned off. A key
    that older runs lack had the value that is now the field's default."""
    section = SECTION[config]

    def stored(doc: dict) -> Any:
        value = doc.get(section, {}).get(f.name, f.default)
        return not value if is_switch(f) else value

    return stored


def style_of(doc: dict) -> int:
    """A cycle-vae run's --style, which no field holds, as its config.json keeps it: the code's size less s's."""
    return doc["model"]["latent_dim"] - doc["model"]["specified_dim"]


def run_settings_on_resume(
    out: Path,
    resume: bool,
    given: Mapping[str, Any],
    kept: Mapping[str, Callable[[dict], Any]],
    evaluator: bool = False,
    free: Sequence[str] = ("--epochs", "--device"),
) -> dict | None:
    """On a resume: the run's config.json, after refusing every setting in ``given`` (flag → the value typed) whose
    value differs from the run's own, as ``kept`` (flag → its reader of config.json) reads it. A resumed run goes on
    with its own model and training settings; only --data and the flags in ``free`` may change (the refusal names
    them). None when not resuming,
    or when there is no config.json (the trainer then says there is nothing to resume). Without ``resume``, an
    ``out`` that holds a model is refused; one that holds an ``evaluator`` is replaced, as it always was."""
    out = Path(out)
    check_model_folder(out, evaluator=evaluator)  # the other kind's folder: choose another, not --resume
    if not resume and not evaluator and (out / CONFIG_NAME).is_file():
        raise VaelabError(
            f"{out} holds a trained model: --resume goes on with it, or choose another --out "
            "(a new run there would replace it)"
        )
    if not resume or not (out / CONFIG_NAME).is_file():
        return None
    doc = read_config_doc(out) if evaluator else read_model_json(out)
    changed = []
    for flag, stored in kept.items():
        if flag not in given:
            continue  # not on the command line: the run's own value applies
        value, own = given[flag], stored(doc)
        same = (tuple(value) == tuple(own)) if isinstance(value, (list, tuple)) else value == own
        if not same:
            changed.append(f"{flag} {_shown(value)} (the run's: {_shown(own)})")
    if changed:
        raise VaelabError(
            f"--resume goes on with the run's own settings; only {', '.join(['--data', *free])} may "
            f"change, but {', '.join(changed)}"
        )
    return doc


def load_training_data(
    out: Path,
    data: str | None = None,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    limit: int | None = None,
    resume: bool = False,
) -> ImageDataset:
    """The dataset a run in ``out`` trains on: ``data`` (default fashion-mnist), or on a resume without ``data``
    the data named in the run's config.json, so that a resumed run goes on with the images it started with.
    ``limit`` keeps the first N training images; the run records N, and a resume keeps it. ``channels`` and
    ``size`` are the image format of folder data."""
    from vaelab.data.loaders import load_dataset  # numpy and the image readers: not for --help
    from vaelab.training.checkpoint import CHECKPOINT_NAME  # torch

    out = Path(out)
    spec = None
    given_format = bool(channels or size)  # on a resume the others are the run's, not the user's
    if resume and out.is_dir() and not (out / CONFIG_NAME).is_file() and not (out / CHECKPOINT_NAME).is_file():
        raise VaelabError(
            f"cannot resume: {out} holds no model or checkpoint, so no epoch of a run there finished; "
            "start it again without --resume"
        )
    # A run folder without config.json gets read_model_json's clear error when the data must come from it.
    if resume and (data is None or (out / CONFIG_NAME).is_file()):
        spec = read_model_json(out)["data"]
        if spec.get("split"):
            raise VaelabError(
                f"{out} was trained on a split made by {spec['split']}, which --resume cannot "
                "rebuild; resume it with what made it"
            )
        # The run's image format, also for data that moved (--data given anew).
        channels, size = channels or spec.get("channels"), size or spec.get("size")
        if "limit" in spec:  # runs from before limits were recorded lack it and take --limit as given
            stored = spec["limit"]
            if limit and limit != stored:
                had = f"the first {stored}" if stored else "all its"
                raise VaelabError(
                    f"{out} trained on {had} training images; --limit {limit} would change its "
                    "data (leave --limit out to go on with the same images)"
                )
            limit = stored
    try:
        ds = load_dataset(
            data or spec and spec["name"] or "fashion-mnist",
            channels=channels,
            size=size,
            strict=given_format or spec is None,
        )
    except VaelabError as e:
        if spec is None or data is not None:
            raise
        raise VaelabError(f"{e} (if the run's data moved, give --data with its new place)") from e
    own_format = spec and spec.get("size") and (spec.get("channels"), *spec["size"])
    if own_format and not given_format and (ds.channels, *ds.size) != own_format:
        raise VaelabError(
            f"{out} trained on {spec.get('channels')}×{'×'.join(map(str, spec['size']))} "
            f"images, and {ds.name} has {ds.channels}×{ds.size[0]}×{ds.size[1]} ones: a resumed run "
            "goes on with its own data"
        )
    if limit:
        ds.limit_train(limit)
    return ds


def _shown(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
