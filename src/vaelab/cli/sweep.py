"""`vaelab sweep`: train one model per latent size and tabulate what each measures."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import add_fields_to_parser, add_training_data_options, config_args, data_arg
from vaelab.training.config import SweepConfig


def cmd_sweep(args) -> None:
    from vaelab.data.loaders import load_dataset
    from vaelab.models.classifier import evaluator_for
    from vaelab.tasks.sweep import run_sweep, sweep_markdown

    ds = load_dataset(args.data, channels=args.channels, size=args.size, strict=True)
    evaluator = evaluator_for(args.evaluator, ds.name)
    if evaluator is None:
        print(
            f"no evaluator for {ds.name}: fidelity and prior-sample confidence are skipped "
            "(make one with `vaelab train-evaluator` and pass --evaluator)"
        )
    cfg = SweepConfig(**config_args(SweepConfig, args), limit=args.limit, device=args.device)
    rows = run_sweep(ds, args.out, evaluator, cfg, progress=not args.quiet)
    print(sweep_markdown(rows), end="")
    print(f"sweep.md, sweep.csv, sweep.json, sweep.png and one model folder per size are in {args.out}")


def add(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="train a model per latent size and compare them",
        description="Train one model per latent size (and per --model kind) with vaelab's trainer, "
        "then measure each: -ELBO, KL, active units, semantic fidelity, prior-sample "
        "confidence, training time. Writes sweep.md, sweep.csv, sweep.json, sweep.png.",
    )
    add_fields_to_parser(p, SweepConfig, only=["latents", "kinds", "epochs"])
    p.add_argument("--data", type=data_arg, default="fashion-mnist", help="fashion-mnist | mnist:PATH | folder:PATH")
    p.add_argument(
        "--evaluator",
        type=Path,
        help="evaluator folder (default: the shipped one for fashion-mnist or emoji; none: no fidelity)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/sweep"), help="output folder (default runs/sweep)")
    add_fields_to_parser(p, SweepConfig, only=["batch_size", "lr"])
    add_training_data_options(p)
    add_fields_to_parser(p, SweepConfig, only=["eval_images", "prior_samples", "seed"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)
