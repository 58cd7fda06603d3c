"""`vaelab train`: train a model; the run folder becomes a model folder."""
from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import (add_conv_options, add_pictures_option, add_training_data_options, add_validation_options,
                             given_flags, ints, keep_run_settings, load_training_data, no_onnx_of, positive,
                             positive_number, resumed_banner, run_settings_on_resume, seed, training_banner)
from vaelab.errors import VaelabError, VaelabWarning
from vaelab.staging import check_out_folder

# What a run keeps for good, and where its config.json holds it: --resume refuses another value.
RUN_SETTINGS = {
    "model": ("model", "kind"), "latent": ("model", "latent_dim"), "widths": ("model", "widths"),
    "kernel": ("model", "kernel_size"), "fc": ("model", "fc"), "hidden": ("model", "hidden"),
    "likelihood": ("model", "likelihood"), "sigma": ("model", "sigma"), "beta": ("model", "beta"),
    "tc_beta": ("model", "tc_beta"), "free_bits": ("model", "free_bits"), "batch_size": ("training", "batch_size"),
    "lr": ("training", "lr"), "seed": ("training", "seed"), "kl_warmup": ("training", "kl_warmup_steps"),
    "capacity_max": ("training", "capacity_max"), "capacity_steps": ("training", "capacity_steps"),
    "val_fraction": ("training", "val_fraction"), "patience": ("training", "patience"),
    "no_onnx": no_onnx_of,
}


def _launch_torchrun(args) -> None:
    """Re-run this command under torchrun with --nproc processes on this machine."""
    import subprocess
    import sys

    rest, skip = [], False
    for a in args.argv[args.argv.index("train") + 1:]:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            rest.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}",
           "-m", "vaelab.train", *rest]
    code = subprocess.run(cmd).returncode
    if code:
        raise VaelabError(f"distributed training stopped with exit code {code}; the messages above say why")


# Options that shape one kind of model only: given for another, they would be silently ignored.
ONLY_FOR = {"--widths": ("widths", "widths", "vae-conv"), "--kernel": ("kernel", "kernel_size", "vae-conv"),
            "--fc": ("fc", "fc", "vae-conv"), "--hidden": ("hidden", "hidden", "ae-mlp")}


def refuse_unused_options(args) -> None:
    """A new run's options that its model would ignore are refused, not dropped: --fc for ae-mlp, --hidden for
    vae-conv, --sigma without the Gaussian likelihood (each given at other than its default)."""
    from vaelab.models.config import ModelConfig

    given, defaults = given_flags(args), ModelConfig()
    for flag, (dest, field, kind) in ONLY_FOR.items():
        if flag in given and args.model != kind and getattr(args, dest) != getattr(defaults, field):
            raise VaelabError(f"{flag} shapes a {kind} model; {args.model!r} does not use it")
    if "--sigma" in given and args.likelihood != "gaussian" and args.sigma != defaults.sigma:
        raise VaelabError("--sigma is the Gaussian likelihood's; give --likelihood gaussian with it")


def cmd_train(args) -> None:
    import os
    import warnings

    from vaelab.models.config import ModelConfig
    from vaelab.models.registry import check_new_config
    from vaelab.training.trainer import (TrainConfig, check_run_data, check_same_processes, epoch_steps, pick_device,
                                         planned_epochs, processes_now, sized_schedule, train,
                                         training_split)

    run = run_settings_on_resume(args)
    if args.model == "cycle-vae" or (run and run["model"]["kind"] == "cycle-vae"):
        raise VaelabError("the cycle-consistent VAE has its own loop: vaelab train-cycle --data ... --out ... "
                          "(and vaelab train-cycle --resume to go on with one)")
    if not args.resume:
        refuse_unused_options(args)  # before the data is read: a large folder takes a while
    launcher = args.nproc > 1 and "WORLD_SIZE" not in os.environ
    with warnings.catch_warnings():
        if launcher:  # rank 0 loads the data again and says what it left out: once is enough
            warnings.simplefilter("ignore", VaelabWarning)
        ds = load_training_data(args)
    sized = ""
    if args.resume:  # the model and training settings are the run's own; these may change
        epochs = args.epochs or planned_epochs(args.out, TrainConfig.epochs)  # default: as the run planned
        model_cfg, cfg = None, TrainConfig(epochs=epochs, device=args.device, picture_every=args.pictures_every)
    else:
        model_cfg = ModelConfig(
            kind=args.model, channels=ds.channels, height=ds.size[0], width=ds.size[1], latent_dim=args.latent,
            widths=args.widths, hidden=args.hidden, kernel_size=args.kernel, fc=args.fc, likelihood=args.likelihood,
            sigma=args.sigma, beta=args.beta, free_bits=args.free_bits, tc_beta=args.tc_beta)
        n_train = len(training_split(ds, args.val_fraction)[0])
        world = args.nproc if launcher else processes_now()
        batch_size, epochs = sized_schedule(n_train, args.batch_size, args.epochs, world)
        chosen = [f"batch {batch_size}" if args.batch_size is None and batch_size != TrainConfig.batch_size else "",
                  f"{epochs} epochs" if args.epochs is None and epochs != TrainConfig.epochs else ""]
        if any(chosen):  # say what was sized away from the usual 128 and 10
            steps = epoch_steps(n_train, batch_size, world) * epochs
            sized = (f"\n{' and '.join(filter(None, chosen))}: sized to {n_train} training images, {steps} optimizer "
                     "steps in all (--batch-size and --epochs choose others)")
        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=args.lr, seed=args.seed,
                          kl_warmup_steps=args.kl_warmup, device=args.device, onnx=not args.no_onnx,
                          capacity_max=args.capacity_max, capacity_steps=args.capacity_steps,
                          val_fraction=args.val_fraction, patience=args.patience, picture_every=args.pictures_every)
    if launcher:  # checked here, so that bad input gets one line, not one per rank and a torchrun traceback
        pick_device(args.device)
        kept = run["training"] if run else {}
        if run:
            check_run_data(ModelConfig.from_dict(run["model"]), ds, Path(args.out), run.get("data") or {})
            check_same_processes(run["training"].get("processes"), args.nproc, Path(args.out),
                                 run["training"]["batch_size"])
        else:
            check_new_config(model_cfg)
        train_idx, _ = training_split(ds, kept.get("val_fraction", cfg.val_fraction))
        epoch_steps(len(train_idx), kept.get("batch_size", cfg.batch_size), args.nproc)
        check_out_folder(args.out, evaluator=False)
        del ds, train_idx  # the ranks load their own: the launcher keeps no copy while they train
        return _launch_torchrun(args)
    main_rank = os.environ.get("RANK", "0") == "0"
    # the settings in use (on --resume the run's own), printed once the trainer's checks have passed
    what, val = resumed_banner(run, args.out, run["model"]["kind"]) if run else (args.model, args.val_fraction)
    banner = training_banner(what, ds, val) + sized
    train(model_cfg, ds, args.out, cfg, resume=args.resume, progress=not args.quiet,
          announce=(lambda: print(banner)) if main_rank else None)
    if main_rank:
        print(f"model, checkpoint, metrics.jsonl, loss_curve.png and grids are in {args.out}")


def add(sub) -> None:
    p = sub.add_parser("train", help="train a model on a dataset",
                       description="Train a VAE or AE; the --out folder becomes a loadable model folder.")
    p.add_argument("--data", help="fashion-mnist (default) | mnist:PATH | folder:PATH | emoji | sprites[:N] | …; "
                                  "--resume without it goes on with the run's own data")
    # models.registry.MODELS, written out so that the CLI starts without importing torch
    p.add_argument("--model", default="vae-conv", choices=("vae-conv", "ae-mlp", "cycle-vae"),
                   help="vae-conv | ae-mlp (cycle-vae trains with vaelab train-cycle)")
    p.add_argument("--out", required=True, type=Path, help="run folder (model, checkpoint, metrics, pictures)")
    p.add_argument("--latent", type=positive, default=32, help="latent size (default 32)")
    p.add_argument("--epochs", type=positive,
                   help="default: 10, or on a small set enough for about 1000 optimizer steps (at most 300); "
                        "on --resume, the run's own")
    p.add_argument("--batch-size", type=positive,
                   help="default: 128, or on a small set a power of two down to 16, for 16 to 32 steps an epoch")
    p.add_argument("--lr", type=positive_number, default=1e-3)
    p.add_argument("--beta", type=float, default=1.0, help="KL weight (beta-VAE when > 1)")
    p.add_argument("--tc-beta", type=float, default=1.0,
                   help="beta-TCVAE (Chen et al. 2018): add (B - 1) x the total correlation of the code to the "
                        "objective; with --beta 1 that weighs the TC part of the KL by B and the rest by 1 "
                        "(default 1 = off; 6 is a common choice)")
    p.add_argument("--free-bits", type=float, default=0.0, help="nats per latent dim not pushed down")
    p.add_argument("--kl-warmup", type=int, default=0, help="steps of linear KL warm-up")
    p.add_argument("--capacity-max", type=float, default=0.0,
                   help="capacity annealing (Burgess et al.): objective recon + beta*|KL - C|, C rising to this "
                        "many nats (0 = off; use a large --beta such as 100 as the gamma)")
    p.add_argument("--capacity-steps", type=int, default=0, help="steps over which C rises from 0 to --capacity-max")
    p.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    p.add_argument("--sigma", type=float, default=0.1, help="fixed sigma of the Gaussian likelihood")
    add_conv_options(p)
    p.add_argument("--hidden", type=ints, default=(512, 256), help="Linear widths (ae-mlp)")
    add_training_data_options(p)
    add_validation_options(p, "validation -ELBO")
    add_pictures_option(p, "recon_epochNNN.png and samples_epochNNN.png")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--nproc", type=positive, default=1,
                   help="train data-parallel on N processes (launches torchrun; batch size is per process)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export (morph then uses torch)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    keep_run_settings(p, RUN_SETTINGS)
    p.set_defaults(func=cmd_train)
