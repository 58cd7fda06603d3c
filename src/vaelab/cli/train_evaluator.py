"""`vaelab train-evaluator`: train the classifier that judges decoded images."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import (
    add_fields_to_parser,
    add_training_data_options,
    config_args,
    data_arg,
    given_flags,
    given_settings,
    interrupted,
    keep_run_settings,
)
from vaelab.progress import counted
from vaelab.training.config import ClassifierTrainConfig


def cmd_train_evaluator(args) -> None:
    from vaelab.training.loop import TrainingInterrupted
    from vaelab.training.plan import plan_evaluator_run, train_planned

    typed = given_flags(args)  # on --resume, the run's own data, labels and subset unless given
    plan = plan_evaluator_run(
        args.data if "--data" in typed else None,
        args.out,
        config_args(ClassifierTrainConfig, args),
        given_settings(args, ClassifierTrainConfig),
        label=args.label,
        resume=args.resume,
        channels=args.channels,
        size=args.size,
        limit=args.limit,
    )
    try:
        _, history = train_planned(plan, progress=not args.quiet)
    except TrainingInterrupted as e:
        raise interrupted(e, "train-evaluator", args) from None
    print(
        f"test accuracy {history['test_accuracy']:.4f} after {counted(len(history['epochs']), 'epoch')} "
        f"({history['train_seconds']:.0f} s of training); evaluator saved to {args.out}"
    )


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
