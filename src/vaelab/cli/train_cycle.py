"""`vaelab train-cycle`: train the cycle-consistent VAE (z: style, s: the class); the run folder is a model folder."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import (
    add_fields_to_parser,
    add_training_data_options,
    config_args,
    data_arg,
    interrupted,
    keep_run_settings,
    positive,
    resumed_banner,
    run_settings_from_args,
    training_banner,
    training_data_from_args,
)
from vaelab.models.config import ModelConfig
from vaelab.training.config import CycleTrainConfig


def style_of(doc: dict) -> int:
    """--style, which no field holds, as a run's config.json keeps it: the code's size less s's."""
    return doc["model"]["latent_dim"] - doc["model"]["specified_dim"]


def cmd_train_cycle(args) -> None:
    from vaelab.errors import VaelabError
    from vaelab.training.checks import planned_epochs
    from vaelab.training.cycle import train_cycle
    from vaelab.training.loop import TrainingInterrupted
    from vaelab.viz.disentangle_figures import swap_grid_figure

    run = run_settings_from_args(args)
    if run and run["model"]["kind"] != "cycle-vae":
        raise VaelabError(
            f"the run in {args.out} is a {run['model']['kind']}, not a cycle-vae: resume it with vaelab train --resume"
        )
    ds = training_data_from_args(args)
    if args.resume:  # the model and training settings are the run's own; these may change
        epochs = args.epochs or planned_epochs(args.out, CycleTrainConfig.epochs)  # default: as the run planned
        model_cfg, cfg = None, CycleTrainConfig(epochs=epochs, device=args.device, picture_every=args.picture_every)
    else:
        model_cfg = ModelConfig(
            kind="cycle-vae",
            channels=ds.channels,
            height=ds.size[0],
            width=ds.size[1],
            latent_dim=args.style + args.specified_dim,
            likelihood="gaussian",
            **config_args(ModelConfig, args),
        )
        cfg = CycleTrainConfig(
            **{**config_args(CycleTrainConfig, args), "epochs": args.epochs or CycleTrainConfig.epochs}
        )
    what, val = f"cycle-vae (z {args.style}, s {args.specified_dim})", args.val_fraction
    if run:  # the settings in use: the run's own
        m = run["model"]
        what, val = resumed_banner(
            run, args.out, f"cycle-vae, z {m['latent_dim'] - m['specified_dim']}, s {m['specified_dim']}"
        )
    banner = training_banner(what, ds, val)
    try:
        train_cycle(
            model_cfg,
            ds,
            args.out,
            cfg,
            resume=args.resume,
            progress=not args.quiet,
            announce=lambda compute: print(f"{banner}\n{compute}"),
            swap_figure=swap_grid_figure,
        )
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
