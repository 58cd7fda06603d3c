"""`vaelab train-cycle`: train the cycle-consistent VAE (z: style, s: the class); the run folder is a model folder.
The run is planned by ``training.plan``, as ``vaelab.train_cycle`` plans it from Python."""

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
    positive,
)
from vaelab.models.config import ModelConfig
from vaelab.training.config import CycleTrainConfig
from vaelab.training.settings import style_of


def cmd_train_cycle(args) -> None:
    from vaelab.training.loop import TrainingInterrupted
    from vaelab.training.plan import plan_cycle_run, train_planned

    style = {"style"} if "--style" in given_flags(args) else set()  # z's size, which no field holds on its own
    plan = plan_cycle_run(
        args.data,
        args.out,
        {**config_args(ModelConfig, args), **config_args(CycleTrainConfig, args)},
        given_settings(args, ModelConfig, CycleTrainConfig) | style,
        style=args.style,
        resume=args.resume,
        channels=args.channels,
        size=args.size,
        limit=args.limit,
    )
    try:
        train_planned(plan, progress=not args.quiet)
    except TrainingInterrupted as e:
        raise interrupted(e, "train-cycle", args) from None
    print(f"model, checkpoint, metrics.jsonl, loss_curve.png and swap grids are in {args.out}")


def add(sub) -> None:
    p = sub.add_parser(
        "train-cycle",
        help="train the cycle-consistent VAE (style z, specified s)",
        description="Train a cycle-consistent VAE (Jha et al. 2018): the label is the specified "
        "factor s, z holds the rest. The --out folder becomes a loadable model folder.",
    )
    p.add_argument(
        "--data",
        type=data_arg,
        help="labelled data: fashion-mnist (default) | sprites[:N] | sprites-reed:PATH | "
        "mnist:PATH | folder:PATH; --resume without it goes on with the run's own data",
    )
    p.add_argument("--out", required=True, type=Path, help="run folder (model, checkpoint, metrics, pictures)")
    # z's size is the code's less s's, which no field holds on its own
    p.add_argument("--style", type=positive, default=16, help="size of z, the unspecified part (default 16)")
    add_fields_to_parser(p, ModelConfig, only=["specified_dim"])
    add_fields_to_parser(
        p,
        CycleTrainConfig,
        only=[
            "epochs",
            "batch_size",
            "lr",
            "lr_step_epochs",
            "lr_gamma",
            "recon_loss",
            "reconstruction_coef",
            "kl_coef",
            "reverse_coef",
            "shift",
        ],
    )
    add_fields_to_parser(p, ModelConfig, only=["widths", "kernel_size", "fc"])
    add_training_data_options(p, CycleTrainConfig)
    add_fields_to_parser(p, CycleTrainConfig, only=["val_fraction", "patience", "picture_every", "seed"])
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    add_fields_to_parser(p, CycleTrainConfig, only=["onnx"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    keep_run_settings(p, derived={"--style": style_of})
    p.set_defaults(func=cmd_train_cycle)
