"""Argument types shared by the commands."""
from __future__ import annotations

import argparse


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
        return _number(text, lambda v: (v > low if low_open else v >= low) and v <= high,
                       f"{'above' if low_open else 'from'} {low:g} {'and at most' if low_open else 'to'} {high:g}")
    check.bounds = f"{'above ' if low_open else ''}{low:g} to {high:g}"  # --help shows it
    return check


SEED_LIMIT = 2 ** 32  # numpy's seeds are 0 to 2**32 - 1


def seed(text: str) -> int:
    """An argparse type: a random seed, a whole number from 0 to 2**32 - 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= v < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be from 0 to {SEED_LIMIT - 1}, got {v}")
    return v


def add_model_options(p: argparse.ArgumentParser, backend: bool = True) -> None:
    """--model (default: the shipped model) and, for commands that run it, --backend."""
    from pathlib import Path

    p.add_argument("--model", type=Path, help="model folder (default: the shipped Fashion-MNIST VAE)")
    p.set_defaults(model_defaults_to_shipped=True)  # main() says so when --model is left out
    if backend:
        p.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto",
                       help="auto uses onnxruntime when the model has ONNX files")


def load_training_data(args):
    """The dataset of a training command: --data (default fashion-mnist), or on --resume without --data the
    data named in the run's config.json, so that a resumed run goes on with the images it started with.
    --limit keeps the first N training images; the run records N, and --resume keeps it."""
    from pathlib import Path

    from vaelab.data.loaders import load_dataset
    from vaelab.errors import VaelabError
    from vaelab.models.config import CONFIG_NAME, read_model_json
    from vaelab.training.checkpoint import CHECKPOINT_NAME

    name, channels, size, limit = args.data, args.channels, args.size, args.limit
    spec = None
    out = Path(args.out)
    if args.resume and out.is_dir() and not (out / CONFIG_NAME).is_file() and not (out / CHECKPOINT_NAME).is_file():
        raise VaelabError(f"cannot resume: {out} holds no model or checkpoint, so no epoch of a run there finished; "
                          "start it again without --resume")
    # A run folder without config.json gets read_model_json's clear error when the data must come from it.
    if args.resume and (name is None or (Path(args.out) / CONFIG_NAME).is_file()):
        spec = read_model_json(args.out)["data"]
        if spec.get("split"):
            raise VaelabError(f"{args.out} was trained on a split made by {spec['split']}, which --resume cannot "
                              "rebuild; resume it with what made it")
        # The run's image format, also for data that moved (--data given anew).
        channels, size = channels or spec.get("channels"), size or spec.get("size")
        if "limit" in spec:  # runs from before limits were recorded lack it and take --limit as given
            stored = spec["limit"]
            if limit and limit != stored:
                had = f"the first {stored}" if stored else "all its"
                raise VaelabError(f"{args.out} trained on {had} training images; --limit {limit} would change its "
                                  "data (leave --limit out to go on with the same images)")
            limit = stored
    given = args.channels or args.size  # on --resume the others are the run's, not the user's
    try:
        ds = load_dataset(name or spec and spec["name"] or "fashion-mnist", channels=channels, size=size,
                          strict=bool(given) or spec is None)
    except VaelabError as e:
        if spec is None or name is not None:
            raise
        raise VaelabError(f"{e} (if the run's data moved, give --data with its new place)") from e
    if spec and spec.get("size") and not given and (ds.channels, *ds.size) != (spec.get("channels"), *spec["size"]):
        raise VaelabError(f"{args.out} trained on {spec.get('channels')}×{'×'.join(map(str, spec['size']))} "
                          f"images, and {ds.name} has {ds.channels}×{ds.size[0]}×{ds.size[1]} ones: a resumed run "
                          "goes on with its own data")
    if limit:
        ds.limit_train(limit)
    return ds


def add_conv_options(p: argparse.ArgumentParser) -> None:
    """The conv stack's shape (vae-conv and cycle-vae): --widths, --kernel and --fc."""
    p.add_argument("--widths", type=ints, default=(32, 64, 128), help="conv widths; each conv halves H and W")
    p.add_argument("--kernel", type=positive, default=3, help="conv kernel size")
    p.add_argument("--fc", type=int, default=0, metavar="WIDTH",
                   help="a hidden Linear layer of this width each side of the code (default 0 = none; "
                        "disentanglement_lib: 256)")


def add_training_data_options(p: argparse.ArgumentParser) -> None:
    """The image format for folder data, a training subset, and the device: shared by every training command."""
    p.add_argument("--channels", type=int, choices=[1, 3], help="image channels for folder data (default 3)")
    p.add_argument("--size", type=size_arg, help="image size for folder data: 64 (square), or HEIGHTxWIDTH such as "
                                                  "64x48, which is 64 high and 48 wide (default 64)")
    p.add_argument("--limit", type=positive, help="train on the first N training images only")
    p.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")


def add_pictures_option(p: argparse.ArgumentParser, what: str) -> None:
    """--pictures-every, the same in both training commands (and free to change on --resume)."""
    p.add_argument("--pictures-every", type=positive, metavar="EPOCHS",
                   help=f"draw {what} every this many epochs, and always after the last (default: every epoch "
                        "of a run of up to 20, about 20 in all in a longer one; on --resume, the run's own setting)")


def add_validation_options(p: argparse.ArgumentParser, score: str) -> None:
    """--val-fraction and --patience, the same in both training commands; ``score`` names what is validated."""
    p.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                   help="hold out this fraction of the training images (the same ones for every seed) and score "
                        "them every epoch; the model folder then keeps the best validated epoch (default 0: none)")
    p.add_argument("--patience", type=int, default=0, metavar="EPOCHS",
                   help=f"with --val-fraction: stop after this many epochs without a better {score} "
                        "(default 0: train every epoch)")


def keep_run_settings(p: argparse.ArgumentParser, settings: dict) -> None:
    """Record, for ``run_settings_on_resume``, where config.json keeps each of ``settings`` (dest → a (section,
    key) path, or a function of the document) and the option strings that set it."""
    flags = {a.dest: tuple(a.option_strings) for a in p._actions}
    p.set_defaults(run_settings={dest: (where, flags[dest], p.get_default(dest)) for dest, where in settings.items()})


def no_onnx_of(doc: dict) -> bool:
    """Where a run's config.json keeps --no-onnx."""
    return not doc.get("training", {}).get("onnx", True)


def given_flags(args) -> set[str]:
    """The options written on the command line (not those left at their defaults)."""
    return {a.split("=", 1)[0] for a in getattr(args, "argv", []) if a.startswith("--")}


def run_settings_on_resume(args) -> dict | None:
    """On --resume: the run's config.json, after refusing every setting given on the command line with a value
    other than the run's own (a resumed run goes on with its own model and training settings; only --epochs,
    --device and --data may change). None when not resuming, or when there is no config.json (the trainer then
    says there is nothing to resume). Without --resume, an --out that holds a model is refused."""
    from pathlib import Path

    from vaelab.errors import VaelabError
    from vaelab.models.config import CONFIG_NAME, read_model_json
    from vaelab.staging import check_out_folder

    check_out_folder(Path(args.out), evaluator=False)  # an evaluator's folder: choose another, not --resume
    if not args.resume and (Path(args.out) / CONFIG_NAME).is_file():
        raise VaelabError(f"{args.out} holds a trained model: --resume goes on with it, or choose another --out "
                          "(a new run there would replace it)")
    if not args.resume or not (Path(args.out) / CONFIG_NAME).is_file():
        return None
    doc = read_model_json(args.out)
    on_line = given_flags(args)
    changed = []
    for dest, (where, flags, default) in args.run_settings.items():
        if not on_line & set(flags):
            continue  # not on the command line: the run's own value applies
        given = getattr(args, dest)
        # a key older runs lack had the value that is now the default
        own = where(doc) if callable(where) else doc.get(where[0], {}).get(where[1], default)
        same = (tuple(given) == tuple(own)) if isinstance(given, (list, tuple)) else given == own
        if not same:
            changed.append(f"{flags[-1]} {_shown(given)} (the run's: {_shown(own)})")
    if changed:
        raise VaelabError(f"--resume goes on with the run's own settings; only --epochs, --device and --data may "
                          f"change, but {', '.join(changed)}")
    return doc


def training_banner(what: str, ds, val_fraction: float) -> str:
    """The first line a training command prints: the model, the data and how its images are split."""
    n_train, n_val = len(ds.train_idx), round(len(ds.train_idx) * val_fraction)
    split = f"{n_train - n_val} train + {n_val} validation" if n_val else f"{n_train} train"
    return (f"training {what} on {ds.name}: {split} / {len(ds.test_idx)} test images of "
            f"{ds.channels}×{ds.size[0]}×{ds.size[1]}")


def resumed_banner(run: dict, out, what: str) -> tuple[str, float]:
    """What a resumed run is, for the first line a training command prints, and its validation fraction."""
    return f"the run in {out} ({what})", run["training"].get("val_fraction", 0.0)


def _shown(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
