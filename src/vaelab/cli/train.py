"""`vaelab train`: train a model; the run folder becomes a model folder."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from vaelab.cli.args import (
    add_fields_to_parser,
    add_training_data_options,
    config_args,
    data_arg,
    given_flags,
    interrupted,
    keep_run_settings,
    positive,
    resumed_banner,
    run_settings_from_args,
    training_banner,
    training_data_from_args,
)
from vaelab.errors import VaelabError, VaelabWarning
from vaelab.models.config import ModelConfig, check_model_folder
from vaelab.training.config import TrainConfig
from vaelab.training.settings import flag_of


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


# Model kinds that another command trains (the cycle-consistent VAE has its own loop).
OWN_COMMAND = {"cycle-vae": "train-cycle"}


def trained_kind(text: str) -> str:
    """An argparse type: --model of `vaelab train`; a kind with its own command points to it."""
    if text in OWN_COMMAND:
        raise argparse.ArgumentTypeError(
            f"{text} trains with its own command: vaelab {OWN_COMMAND[text]} --data ... --out ..."
        )
    return text


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


def refuse_unused_options(args) -> None:
    """A new run's options that its model would ignore are refused, not dropped: --fc for ae-mlp, --hidden for
    vae-conv, --sigma without the Gaussian likelihood (each given at other than its default)."""
    given, defaults, by_name = given_flags(args), ModelConfig(), {f.name: f for f in fields(ModelConfig)}
    for name, kinds in ONLY_FOR.items():
        flag = flag_of(by_name[name])
        if flag in given and args.kind not in kinds and getattr(args, name) != getattr(defaults, name):
            raise VaelabError(f"{flag} shapes a {' or '.join(kinds)} model; {args.kind!r} does not use it")
    if "--adversarial-start" in given and not args.adversarial:
        raise VaelabError("--adversarial-start says when the adversarial term starts; give --adversarial too")
    if "--sigma" in given and args.likelihood not in SIGMA_LIKELIHOODS and args.sigma != defaults.sigma:
        raise VaelabError(
            "--sigma is the Gaussian likelihood's; give --likelihood gaussian or gaussian-learned with it"
        )


def apply_recipe(args, channels: int) -> str:
    """Set each setting of the data's recipe (``training.recipe``) that the command line leaves out; returns the
    banner's line that names them, or ""."""
    from vaelab.training.recipe import recipe_for

    given, by_name = given_flags(args), {f.name: f for config in (ModelConfig, TrainConfig) for f in fields(config)}
    taken = {}
    for name, value in recipe_for(channels).items():
        flag = flag_of(by_name[name])
        if flag not in given:
            setattr(args, name, value)
            taken[flag] = value
    if not taken:
        return ""
    shown = " ".join(
        f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}" for flag, value in taken.items()
    )
    return f"\nthe colour recipe: {shown} (give a flag to choose otherwise)"


def cmd_train(args) -> None:
    import os
    import warnings

    from vaelab.models.registry import check_new_config
    from vaelab.training.checks import (
        check_adversarial_processes,
        check_run_data,
        pick_device,
        planned_epochs,
        training_split,
    )
    from vaelab.training.loop import TrainingInterrupted
    from vaelab.training.recipe import largest_batch_for
    from vaelab.training.vae import check_same_processes, epoch_steps, processes_now, sized_schedule, train

    run = run_settings_from_args(args)
    if run and run["model"]["kind"] in OWN_COMMAND:
        kind = run["model"]["kind"]
        raise VaelabError(
            f"the run in {args.out} is a {kind}, which has its own command: "
            f"vaelab {OWN_COMMAND[kind]} --out {args.out} --resume"
        )
    if not args.resume:
        refuse_unused_options(args)  # before the data is read: a large folder takes a while
        if args.minutes and args.epochs:
            raise VaelabError("give either --epochs or --minutes: a time budget fits the epochs to the time")
        check_adversarial_processes(args.adversarial, args.nproc)  # before torchrun: one line, not one per rank
    launcher = args.nproc > 1 and "WORLD_SIZE" not in os.environ
    with warnings.catch_warnings():
        if launcher:  # rank 0 loads the data again and says what it left out: once is enough
            warnings.simplefilter("ignore", VaelabWarning)
        ds = training_data_from_args(args)
    sized = ""
    if args.resume:  # the model and training settings are the run's own; these may change
        epochs = args.epochs or planned_epochs(args.out, TrainConfig.epochs)  # default: as the run planned
        model_cfg, cfg = None, TrainConfig(epochs=epochs, device=args.device, picture_every=args.picture_every)
    else:
        sized = apply_recipe(args, ds.channels)
        model_cfg = ModelConfig(
            channels=ds.channels, height=ds.size[0], width=ds.size[1], **config_args(ModelConfig, args)
        )
        n_train = len(training_split(ds, args.val_fraction)[0])
        world = args.nproc if launcher else processes_now()
        largest = largest_batch_for(ds.channels)
        batch_size, epochs = sized_schedule(n_train, args.batch_size, args.epochs, world, largest)
        chosen = [
            f"batch {batch_size}" if args.batch_size is None and batch_size != TrainConfig.batch_size else "",
            f"{epochs} epochs" if args.epochs is None and epochs != TrainConfig.epochs else "",
        ]
        if args.minutes:  # the epochs, and so the steps, come from the time as the run goes
            if chosen[0]:
                sized += f"\n{chosen[0]}: sized to {n_train} training images (--batch-size chooses another)"
            sized += f"\ntraining for about {args.minutes:g} minutes: the epochs are fitted to the time as it goes"
        elif any(chosen):  # say what was sized away from the usual 128 and 10
            steps = epoch_steps(n_train, batch_size, world) * epochs
            sized += (
                f"\n{' and '.join(filter(None, chosen))}: sized to {n_train} training images, {steps} optimizer "
                "steps in all (--batch-size and --epochs choose others)"
            )
        cfg = TrainConfig(**{**config_args(TrainConfig, args), "epochs": epochs, "batch_size": batch_size})
    if launcher:  # checked here, so that bad input gets one line, not one per rank and a torchrun traceback
        pick_device(args.device)
        kept = run["training"] if run else {}
        if run:
            check_run_data(ModelConfig.from_dict(run["model"]), ds, Path(args.out), run.get("data") or {})
            check_same_processes(
                run["training"].get("processes"), args.nproc, Path(args.out), run["training"]["batch_size"]
            )
        else:
            check_new_config(model_cfg)
        train_idx, _ = training_split(ds, kept.get("val_fraction", cfg.val_fraction))
        epoch_steps(len(train_idx), kept.get("batch_size", cfg.batch_size), args.nproc)
        check_model_folder(args.out, evaluator=False)
        del ds, train_idx  # the ranks load their own: the launcher keeps no copy while they train
        return _launch_torchrun(args)
    main_rank = os.environ.get("RANK", "0") == "0"
    # the settings in use (on --resume the run's own), printed once the trainer's checks have passed
    what, val = resumed_banner(run, args.out, run["model"]["kind"]) if run else (args.kind, args.val_fraction)
    banner = training_banner(what, ds, val) + sized
    try:
        train(
            model_cfg,
            ds,
            args.out,
            cfg,
            resume=args.resume,
            progress=not args.quiet,
            announce=(lambda compute: print(f"{banner}\n{compute}")) if main_rank else None,
        )
    except TrainingInterrupted as e:
        raise interrupted(e, "train", args) from None
    if main_rank:
        print(f"model, checkpoint, metrics.jsonl, loss_curve.png and grids are in {args.out}")


def add(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on a dataset",
        description="Train a VAE or AE; the --out folder becomes a loadable model folder.",
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
    add_fields_to_parser(p, TrainConfig, only=["onnx"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    keep_run_settings(p)
    p.set_defaults(func=cmd_train)
