"""`vaelab train-cycle`: train the cycle-consistent VAE (z: style, s: the class); the run folder is a model folder."""
from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import (add_conv_options, add_pictures_option, add_training_data_options, add_validation_options,
                             keep_run_settings, load_training_data, no_onnx_of, positive, positive_number,
                             resumed_banner, run_settings_on_resume, seed, training_banner)

# What a run keeps for good, and where its config.json holds it: --resume refuses another value.
RUN_SETTINGS = {
    "style": lambda doc: doc["model"]["latent_dim"] - doc["model"]["specified_dim"],
    "specified": ("model", "specified_dim"), "widths": ("model", "widths"), "kernel": ("model", "kernel_size"),
    "fc": ("model", "fc"), "batch_size": ("training", "batch_size"), "lr": ("training", "lr"),
    "lr_step": ("training", "lr_step_epochs"), "lr_gamma": ("training", "lr_gamma"),
    "recon_loss": ("training", "recon_loss"), "reconstruction_coef": ("training", "reconstruction_coef"),
    "kl_coef": ("training", "kl_coef"), "reverse_coef": ("training", "reverse_coef"), "shift": ("training", "shift"),
    "seed": ("training", "seed"), "val_fraction": ("training", "val_fraction"), "patience": ("training", "patience"),
    "no_onnx": no_onnx_of,
}


def cmd_train_cycle(args) -> None:
    from vaelab.errors import VaelabError
    from vaelab.models.config import ModelConfig
    from vaelab.training.cycle import CycleTrainConfig, train_cycle
    from vaelab.training.trainer import planned_epochs
    from vaelab.viz.disentangle_figures import swap_grid_figure

    run = run_settings_on_resume(args)
    if run and run["model"]["kind"] != "cycle-vae":
        raise VaelabError(f"the run in {args.out} is a {run['model']['kind']}, not a cycle-vae: resume it with "
                          "vaelab train --resume")
    ds = load_training_data(args)
    if args.resume:  # the model and training settings are the run's own; these may change
        epochs = args.epochs or planned_epochs(args.out, CycleTrainConfig.epochs)  # default: as the run planned
        model_cfg, cfg = None, CycleTrainConfig(epochs=epochs, device=args.device,
                                                picture_every=args.pictures_every)
    else:
        model_cfg = ModelConfig(
            kind="cycle-vae", channels=ds.channels, height=ds.size[0], width=ds.size[1],
            latent_dim=args.style + args.specified, specified_dim=args.specified, widths=args.widths,
            kernel_size=args.kernel, fc=args.fc, likelihood="gaussian")
        cfg = CycleTrainConfig(epochs=args.epochs or CycleTrainConfig.epochs, batch_size=args.batch_size, lr=args.lr,
                               seed=args.seed,
                               lr_step_epochs=args.lr_step, lr_gamma=args.lr_gamma, recon_loss=args.recon_loss,
                               reconstruction_coef=args.reconstruction_coef, kl_coef=args.kl_coef,
                               reverse_coef=args.reverse_coef, shift=args.shift, device=args.device,
                               onnx=not args.no_onnx, val_fraction=args.val_fraction, patience=args.patience,
                               picture_every=args.pictures_every)
    what, val = f"cycle-vae (z {args.style}, s {args.specified})", args.val_fraction
    if run:  # the settings in use: the run's own
        m = run["model"]
        what, val = resumed_banner(run, args.out, f"cycle-vae, z {m['latent_dim'] - m['specified_dim']}, "
                                                  f"s {m['specified_dim']}")
    banner = training_banner(what, ds, val)
    train_cycle(model_cfg, ds, args.out, cfg, resume=args.resume, progress=not args.quiet,
                announce=lambda: print(banner), swap_figure=swap_grid_figure)
    print(f"model, checkpoint, metrics.jsonl, loss_curve.png and swap grids are in {args.out}")


def add(sub) -> None:
    p = sub.add_parser("train-cycle", help="train the cycle-consistent VAE (style z, specified s)",
                       description="Train a cycle-consistent VAE (Jha et al. 2018): the label is the specified "
                                   "factor s, z holds the rest. The --out folder becomes a loadable model folder.")
    p.add_argument("--data", help="labelled data: fashion-mnist (default) | sprites[:N] | sprites-reed:PATH | "
                                  "mnist:PATH | folder:PATH; --resume without it goes on with the run's own data")
    p.add_argument("--out", required=True, type=Path, help="run folder (model, checkpoint, metrics, pictures)")
    p.add_argument("--style", type=positive, default=16, help="size of z, the unspecified part (default 16)")
    p.add_argument("--specified", type=positive, default=16, help="size of s, the specified part (default 16)")
    p.add_argument("--epochs", type=positive, help="default 10; on --resume, the epochs the run planned")
    p.add_argument("--batch-size", type=positive, default=64)
    p.add_argument("--lr", type=positive_number, default=1e-4, help="Adam learning rate of both cycles (paper: 1e-4)")
    p.add_argument("--lr-step", type=int, default=80, metavar="EPOCHS",
                   help="multiply the learning rates by --lr-gamma every this many epochs (paper: 80; 0: never)")
    p.add_argument("--lr-gamma", type=float, default=0.1, help="the factor of each --lr-step (paper: 0.1)")
    # training.cycle.RECON_LOSSES, written out so that the CLI starts without importing torch
    p.add_argument("--recon-loss", choices=("mse", "bce"), default="mse",
                   help="the forward cycle's reconstruction term: mse (paper) or bce (small objects on black, "
                        "such as sprites, where MSE settles on an empty image)")
    p.add_argument("--reconstruction-coef", type=float, default=2.0)
    p.add_argument("--kl-coef", type=float, default=3.0)
    p.add_argument("--reverse-coef", type=float, default=10.0)
    p.add_argument("--shift", type=int, default=0, metavar="PIXELS",
                   help="augmentation: move each image of a forward-cycle pair by up to this many pixels, "
                        "independently, so that s cannot carry position (default 0, the paper's)")
    add_conv_options(p)
    add_training_data_options(p)
    add_validation_options(p, "validation score (the forward cycle's loss on the held-out images)")
    add_pictures_option(p, "swap_epochNNN.png")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    keep_run_settings(p, RUN_SETTINGS)
    p.set_defaults(func=cmd_train_cycle)
