"""`vaelab sweep`: train one model per latent size and tabulate what each measures."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import add_training_data_options, ints, positive, positive_number, seed


def cmd_sweep(args) -> None:
    from vaelab.data.loaders import load_dataset
    from vaelab.models.classifier import evaluator_for
    from vaelab.tasks.sweep import SweepConfig, run_sweep, sweep_markdown

    ds = load_dataset(args.data, channels=args.channels, size=args.size, strict=True)
    evaluator = evaluator_for(args.evaluator, ds.name)
    if evaluator is None:
        print(
            f"no evaluator for {ds.name}: fidelity and prior-sample confidence are skipped "
            "(make one with `vaelab train-evaluator` and pass --evaluator)"
        )
    kinds = tuple(k.strip() for k in args.model.split(",") if k.strip())
    cfg = SweepConfig(
        latents=args.latent,
        kinds=kinds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        limit=args.limit,
        eval_images=args.eval_images,
        prior_samples=args.prior_samples,
        device=args.device,
    )
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
    p.add_argument("--latent", type=ints, default=(2, 8, 16, 32, 64, 128), help="sizes (default 2,8,16,32,64,128)")
    p.add_argument("--model", default="vae-conv", help="kind, or kinds comma-separated: vae-conv,ae-mlp")
    p.add_argument("--epochs", type=positive, default=10)
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist | mnist:PATH | folder:PATH")
    p.add_argument(
        "--evaluator",
        type=Path,
        help="evaluator folder (default: the shipped one for fashion-mnist; none: no fidelity)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/sweep"), help="output folder (default runs/sweep)")
    p.add_argument("--batch-size", type=positive, default=128)
    p.add_argument("--lr", type=positive_number, default=1e-3)
    add_training_data_options(p)
    p.add_argument("--eval-images", type=positive, help="measure on the first N test images (default all)")
    p.add_argument("--prior-samples", type=positive, default=1000)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)
