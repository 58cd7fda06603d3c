"""`vaelab train`: train a model; the run folder becomes a model folder. The run is planned, checked and
explained by ``training.plan``, as ``vaelab.train`` plans it from Python; this parses and launches."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaelab.cli.args import (
    add_fields_to_parser,
    add_training_data_options,
    config_args,
    data_arg,
    given_settings,
    interrupted,
    keep_run_settings,
    positive,
)
from vaelab.errors import VaelabError
from vaelab.models.config import ModelConfig
from vaelab.training.config import TrainConfig
from vaelab.training.recipe import COLOUR_LARGEST_BATCH, COLOUR_RECIPE
from vaelab.training.settings import OWN_COMMAND, shown_settings


def _launch_torchrun(args) -> None:
    """Re-run this command under torchrun with --nproc processes on this machine."""
    import subprocess
    import sys

    rest, skip = [], False
    for a in args.argv[args.argv.index("train") + 1 :]:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            rest.append(a)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={args.nproc}",
        "-m",
        "vaelab",
        "train",
        *rest,
    ]
    code = subprocess.run(cmd).returncode
    if code:
        raise VaelabError(f"distributed training stopped with exit code {code}; the messages above say why")


def trained_kind(text: str) -> str:
    """An argparse type: --model of `vaelab train`; a kind with its own command points to it."""
    if text in OWN_COMMAND:
        raise argparse.ArgumentTypeError(
            f"{text} trains with its own command: vaelab {OWN_COMMAND[text]} --data ... --out ..."
        )
    return text


def cmd_train(args) -> None:
    from vaelab.tasks.train import main_process, run_planned
    from vaelab.training.loop import TrainingInterrupted
    from vaelab.training.plan import plan_run

    plan = plan_run(
        args.data,
        args.out,
        {**config_args(ModelConfig, args), **config_args(TrainConfig, args)},
        given_settings(args, ModelConfig, TrainConfig),
        resume=args.resume,
        nproc=args.nproc,
        channels=args.channels,
        size=args.size,
        limit=args.limit,
    )
    if plan.launch:
        return _launch_torchrun(args)
    main_rank = main_process()
    try:  # the plan's banner is printed once the trainer's checks have passed
        run_planned(plan, progress=not args.quiet, say=print if main_rank else None)
    except TrainingInterrupted as e:
        raise interrupted(e, "train", args) from None
    if main_rank:
        print(f"model, checkpoint, metrics.jsonl, loss_curve.png and grids are in {args.out}")


def add(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on a dataset",
        description="Train a VAE or AE; the --out folder becomes a loadable model folder. On colour images a "
        f"setting left out takes the colour recipe in place of the default shown: {shown_settings(COLOUR_RECIPE)}, "
        f"and a batch of at most {COLOUR_LARGEST_BATCH}.",
    )
    p.add_argument(
        "--data",
        type=data_arg,
        help="fashion-mnist (default) | mnist:PATH | folder:PATH | emoji | sprites[:N] | …; "
        "--resume without it goes on with the run's own data",
    )
    add_fields_to_parser(p, ModelConfig, only=["kind"])
    kind = p._option_string_actions["--model"]  # offer only the kinds this command trains
    kind.choices, kind.type = [k for k in kind.choices if k not in OWN_COMMAND], trained_kind
    p.add_argument("--out", required=True, type=Path, help="run folder (model, checkpoint, metrics, pictures)")
    add_fields_to_parser(
        p,
        (ModelConfig, TrainConfig),
        only=[
            "latent_dim",
            "epochs",
            "batch_size",
            "lr",
            "lr_schedule",
            "warmup_steps",
            "ema",
            "minutes",
            "freq_loss",
            "perceptual",
            "perceptual_evaluator",
            "adversarial",
            "adversarial_start",
            "shift",
            "flip",
            "beta",
            "tc_beta",
            "free_bits",
            "kl_warmup_steps",
            "capacity_max",
            "capacity_steps",
            "likelihood",
            "sigma",
            "widths",
            "kernel_size",
            "fc",
            "upsample",
            "attention",
            "hidden",
        ],
    )
    add_training_data_options(p)
    add_fields_to_parser(p, TrainConfig, only=["val_fraction", "patience", "picture_every", "seed"])
    p.add_argument(
        "--nproc",
        type=positive,
        default=1,
        help="train data-parallel on N processes (launches torchrun; batch size is per process)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    add_fields_to_parser(p, TrainConfig, only=["onnx", "density"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    keep_run_settings(p)
    p.set_defaults(func=cmd_train)
