"""Argument types and option builders shared by the commands. The options of model and training settings are
made from the fields of their config dataclasses (``add_fields_to_parser``), never written out here."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vaelab.training import settings
from vaelab.training.config import TrainConfig
from vaelab.training.settings import cli_default, cli_fields, flag_of, is_switch, kept_setting


def ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def size_arg(text: str) -> tuple[int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        vals = [int(p) for p in parts if p.strip()]
    except ValueError:
        vals = []
    if len(vals) not in (1, 2) or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected a size like 64, or HEIGHTxWIDTH like 64x48, got {text!r}")
    return (vals[0], vals[-1])


def positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def positive_number(text: str) -> float:
    """A finite number above 0 (a rate, a span, a learning rate)."""
    return _number(text, lambda v: v > 0, "above 0")


def _number(text: str, ok, wanted: str) -> float:
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(v) and ok(v)):
        raise argparse.ArgumentTypeError(f"must be a finite number {wanted}, got {text}")
    return v


MAX_UPSCALE = 16  # enlargement of the pictures a command writes; past it a 28-px image passes 448 px a side


def at_most(high: int, low: int = 1):
    """An argparse type: a whole number from ``low`` to ``high`` (past which the work would only fill memory)."""

    def check(text: str) -> int:
        v = positive(text)
        if v < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {v}")
        if v > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {v}")
        return v

    check.bounds = f"{low} to {high}"  # --help shows it
    return check


def number_in(low: float, high: float, low_open: bool = False):
    """An argparse type: a finite number from ``low`` (above it, with ``low_open``) to ``high``."""

    def check(text: str) -> float:
        return _number(
            text,
            lambda v: (v > low if low_open else v >= low) and v <= high,
            f"{'above' if low_open else 'from'} {low:g} {'and at most' if low_open else 'to'} {high:g}",
        )

    check.bounds = f"{'above ' if low_open else ''}{low:g} to {high:g}"  # --help shows it
    return check


SEED_LIMIT = 2**32  # numpy's seeds are 0 to 2**32 - 1


def seed(text: str) -> int:
    """An argparse type: a random seed, a whole number from 0 to 2**32 - 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= v < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be from 0 to {SEED_LIMIT - 1}, got {v}")
    return v


def names(text: str) -> tuple[str, ...]:
    """Comma-separated names, such as model kinds: 'vae-conv,ae-mlp'."""
    return tuple(n.strip() for n in text.split(",") if n.strip())


# The readers that a field's metadata["type"] names (see vaelab.training.settings).
READERS = {
    "positive": positive,
    "positive_number": positive_number,
    "seed": seed,
    "ints": ints,
    "names": names,
    "text": str,
}


def model_arg(text: str) -> Path:
    """An argparse type: a model folder, or a shipped model's name (``vaelab models`` lists them) → its folder."""
    from vaelab.errors import VaelabError
    from vaelab.models.shipped import model_folder

    try:
        return model_folder(text)
    except VaelabError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def data_arg(text: str) -> str:
    """An argparse type: a --data spec (``vaelab.load_dataset``'s); a folder that exists, given without its
    ``folder:``, is read as folder:PATH, with a note."""
    if not Path(text).expanduser().is_dir():
        return text
    from vaelab.data.loaders import LOADERS  # numpy and the image readers: only for a folder's name

    if text.partition(":")[0] in LOADERS:  # a folder named like a dataset: the dataset is meant
        return text
    print(f"vaelab: note: {text} is a folder, so --data reads it as folder:{text}", file=sys.stderr)
    return f"folder:{text}"


def add_model_options(p: argparse.ArgumentParser, backend: bool = True) -> None:
    """--model (default: the shipped model) and, for commands that run it, --backend."""
    p.add_argument(
        "--model",
        type=model_arg,
        metavar="MODEL",
        help="model folder, or a shipped model's name such as fashion-mnist (see vaelab models; "
        "default: the shipped Fashion-MNIST VAE)",
    )
    p.set_defaults(model_defaults_to_shipped=True)  # main() says so when --model is left out
    if backend:
        p.add_argument(
            "--backend",
            choices=["auto", "onnx", "torch"],
            default="auto",
            help="auto uses onnxruntime when the model has ONNX files",
        )


def add_fields_to_parser(
    parser: argparse.ArgumentParser, configs: type | tuple[type, ...], only: Sequence[str]
) -> None:
    """Add a flag for each field named in ``only``, in that order, of the config dataclass(es) ``configs``, made from
    the field's default and metadata (its --help text, option, reader, choices; ``vaelab.training.settings`` lists
    the keys). Each flag remembers its field, for ``keep_run_settings`` and ``config_args``."""
    by_name = {
        f.name: (config, f)
        for config in (configs if isinstance(configs, tuple) else (configs,))
        for f in cli_fields(config)
    }
    for name in only:
        config, f = by_name[name]
        meta, flag = f.metadata, flag_of(f)
        if isinstance(f.default, bool):  # a switch turns its field off; a bool field off by default, on
            action = parser.add_argument(flag, dest=_dest(f), action="store_true", help=meta["help"] or None)
        else:
            # named after the option (KL_WARMUP), not after the field as argparse would (KL_WARMUP_STEPS)
            shown = (
                {"choices": meta["choices"]}
                if "choices" in meta
                else {"metavar": meta.get("metavar") or flag[2:].replace("-", "_").upper()}
            )
            action = parser.add_argument(
                flag,
                dest=_dest(f),
                default=cli_default(f),
                help=meta["help"] or None,
                type=READERS[meta["type"]] if "type" in meta else type(f.default),
                **shown,
            )
        action.setting = (config, f)


def config_args(config: type, args: argparse.Namespace) -> dict:
    """The values on the command line of the fields of ``config`` that the command sets, as keyword arguments of
    ``config`` (a switch's flag turns its field off)."""
    return {
        f.name: not getattr(args, _dest(f)) if is_switch(f) else getattr(args, _dest(f))
        for f in cli_fields(config)
        if hasattr(args, _dest(f))
    }


def _dest(f) -> str:
    """Where argparse keeps the value of field ``f``: under the field's name, or a switch's under its flag's."""
    return flag_of(f)[2:].replace("-", "_") if is_switch(f) else f.name


def add_training_data_options(p: argparse.ArgumentParser, config: type | None = None) -> None:
    """The image format for folder data, a training subset, and the device and how to compute on it (``config``'s
    fields, default TrainConfig's): shared by every training command."""
    p.add_argument("--channels", type=int, choices=[1, 3], help="image channels for folder data (default 3)")
    p.add_argument(
        "--size",
        type=size_arg,
        help="image size for folder data: 64 (square), or HEIGHTxWIDTH such as "
        "64x48, which is 64 high and 48 wide (default 64)",
    )
    p.add_argument("--limit", type=positive, help="train on the first N training images only")
    add_fields_to_parser(p, config or TrainConfig, only=["device", "precision", "compile"])


def keep_run_settings(p: argparse.ArgumentParser, derived: dict[str, Callable[[dict], Any]] | None = None) -> None:
    """Record on the parser the command's resume table, the settings that a resumed run keeps (``training.plan``
    refuses another value of each): each flag made from a field
    that is not free to change on a resume, and each flag of ``derived`` (flag → its value in a run's config.json)
    that no field holds. Each maps its flag → (the parsed value's name, its value in a run's config.json)."""
    derived, kept = derived or {}, {}
    for a in p._actions:
        setting = getattr(a, "setting", None)
        if setting and not setting[1].metadata.get("free_on_resume"):
            kept[a.option_strings[-1]] = (a.dest, kept_setting(*setting))
        elif a.option_strings and a.option_strings[-1] in derived:
            kept[a.option_strings[-1]] = (a.dest, derived[a.option_strings[-1]])
    p.set_defaults(run_settings=kept)


def given_flags(args) -> set[str]:
    """The options written on the command line (not those left at their defaults)."""
    return {a.split("=", 1)[0] for a in getattr(args, "argv", []) if a.startswith("--")}


def given_settings(args, *configs: type) -> set[str]:
    """The fields of ``configs`` whose flags were written on the command line: the settings the user chose."""
    typed = given_flags(args)
    return {f.name for config in configs for f in cli_fields(config) if flag_of(f) in typed}


def training_data_from_args(args):
    """``training.settings.load_training_data`` for a training command's --out, --data, --channels, --size,
    --limit and --resume."""
    return settings.load_training_data(
        Path(args.out), data=args.data, channels=args.channels, size=args.size, limit=args.limit, resume=args.resume
    )


def interrupted(e, command: str, args) -> KeyboardInterrupt:
    """Ctrl-C during a training command (``e``: a ``training.loop.TrainingInterrupted``): what the run saved, and
    the command that goes on from there, for the CLI's "interrupted" line."""
    if not e.saved_epoch:
        return KeyboardInterrupt(str(e))
    nproc = f" --nproc {args.nproc}" if getattr(args, "nproc", 1) > 1 else ""
    return KeyboardInterrupt(f"{e}; go on with: vaelab {command} --out {shlex.quote(str(args.out))} --resume{nproc}")
