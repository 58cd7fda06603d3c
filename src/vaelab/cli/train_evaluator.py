"""`vaelab train-evaluator`: train the classifier that judges decoded images."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import (
    add_fields_to_parser,
    add_training_data_options,
    config_args,
    data_arg,
    given_flags,
    interrupted,
    keep_run_settings,
    run_settings_from_args,
)
from vaelab.progress import counted
from vaelab.training.config import ClassifierTrainConfig


def cmd_train_evaluator(args) -> None:
    from vaelab.data.loaders import load_dataset
    from vaelab.training.checks import planned_epochs
    from vaelab.training.classifier import train_classifier
    from vaelab.training.loop import TrainingInterrupted

    run = run_settings_from_args(args, evaluator=True)  # before the banner and the data: an --out to refuse
    if run:  # a resumed run goes on with its own data, labels and training subset unless they are given
        own, given = run.get("data") or {}, given_flags(args)
        args.data = args.data if "--data" in given else own.get("name", args.data)
        args.label = args.label if "--label" in given else own.get("label")
        args.limit = args.limit or own.get("limit")
    ds = load_dataset(args.data, channels=args.channels, size=args.size, strict=True)
    if args.limit:
        ds.limit_train(args.limit)
    if args.label:  # after the limit: a class needs its training images among those that train
        ds = ds.labelled_by(args.label)
    epochs = args.epochs or (planned_epochs(args.out, ClassifierTrainConfig.epochs) if args.resume else None)
    cfg = ClassifierTrainConfig(**{**config_args(ClassifierTrainConfig, args), "epochs": epochs or 8})
    banner = (
        f"training an evaluator on {ds.name}: {len(ds.train_idx)} train / {len(ds.test_idx)} test images, "
        + counted(len(ds.class_names or []), "class", "classes")
        + (f" of {args.label}" if args.label else "")
        + _others(ds)
    )
    try:
        _, history = train_classifier(
            ds,
            args.out,
            cfg,
            progress=not args.quiet,
            resume=args.resume,
            announce=lambda compute: print(f"{banner}\n{compute}"),
        )
    except TrainingInterrupted as e:
        raise interrupted(e, "train-evaluator", args) from None
    print(
        f"test accuracy {history['test_accuracy']:.4f} after {counted(len(history['epochs']), 'epoch')} "
        f"({history['train_seconds']:.0f} s of training); evaluator saved to {args.out}"
    )


def _others(ds) -> str:
    """How many images the rare values of a --label column left in the shared class, if any."""
    from vaelab.data.dataset import OTHER_CLASS

    if ds.label_source is None or OTHER_CLASS not in ds.class_names:
        return ""
    n = int((ds.labels == ds.class_names.index(OTHER_CLASS)).sum())
    return f" ({n} images of rare values share the class {OTHER_CLASS})"


def add(sub) -> None:
    p = sub.add_parser(
        "train-evaluator",
        help="train the evaluator classifier used by evaluate and sweep",
        description="Train a small CNN classifier on a labelled dataset and save it as "
        "config.json + model.safetensors; `vaelab evaluate --evaluator` uses it to "
        "judge reconstructions and prior samples.",
    )
    p.add_argument(
        "--data", type=data_arg, default="fashion-mnist", help="fashion-mnist | mnist:PATH | folder:PATH (labelled)"
    )
    p.add_argument("--out", type=Path, default=Path("runs/evaluator"), help="folder (default runs/evaluator)")
    add_fields_to_parser(p, ClassifierTrainConfig, only=["epochs", "batch_size", "lr", "minutes"])
    p.add_argument(  # the 8 is MIN_CLASS_TRAIN of vaelab.data.dataset, not imported so that parsing needs no numpy
        "--label",
        metavar="COLUMN",
        help="label the images by this column of the data's attribute table, such as subgroup for emoji "
        "(default: the data's own labels); values with fewer than 8 training images or no test image "
        "share one class, (other)",
    )
    add_fields_to_parser(p, ClassifierTrainConfig, only=["flip"])
    add_training_data_options(p, ClassifierTrainConfig)
    add_fields_to_parser(p, ClassifierTrainConfig, only=["seed"])
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    keep_run_settings(p)
    p.set_defaults(func=cmd_train_evaluator)
