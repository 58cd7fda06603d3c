"""`vaelab fit-density`: fit a Gaussian mixture to a model's training codes and save it in the model folder."""

from __future__ import annotations

import argparse

from vaelab.cli.args import data_arg, ints, model_arg, seed

MAX_COMPONENTS = 1000  # past this a full-covariance mixture of image codes only memorises them
MAX_CODES = 20_000  # latent.density.MAX_CODES, which --help should not wait for numpy to import


def components_arg(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated component counts, each from 1 to MAX_COMPONENTS."""
    counts = ints(text)
    if not counts or not all(1 <= k <= MAX_COMPONENTS for k in counts):
        raise argparse.ArgumentTypeError(f"expected component counts from 1 to {MAX_COMPONENTS}, got {text!r}")
    return counts


def max_codes_arg(text: str) -> int | None:
    """An argparse type: the most codes fitted, at least 2; 0 for every code."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v == 1 or v < 0:
        raise argparse.ArgumentTypeError(f"expected 2 or more codes, or 0 for every code, got {v}")
    return v or None


def cmd_fit_density(args) -> None:
    from vaelab.tasks.density import fit_density, write_density

    result = fit_density(
        args.model,
        data=args.data,
        candidates=args.components,
        seed=args.seed,
        progress=not args.quiet,
        max_codes=args.max_codes,
    )
    c = result.choice
    of = f" of {result.training_codes}" if result.training_codes > result.codes else ""
    print(
        f"fitted on {result.codes}{of} {result.data} training codes ({c.held_out_codes} held out to choose the "
        f"number of components) in {result.seconds:.0f} s"
    )
    print("  components  held-out log-likelihood (nats/code)")
    for k, score in c.held_out_log_likelihood.items():
        print(f"  {k:10d}  {score:12.2f}" + ("  ← chosen" if k == c.n_components else ""))
    skipped = sorted(set(args.components) - set(c.held_out_log_likelihood))
    if skipped:
        print(f"  (skipped {', '.join(map(str, skipped))}: too few codes for so many components)")
    print(f"{c.n_components}-component density written to {write_density(result)}")
    print(f"64 samples drawn from it: {result.samples}")


def add(sub) -> None:
    p = sub.add_parser(
        "fit-density",
        help="fit a density to a model's codes, so that its samples look like its data",
        description="Encode the model's training images and fit a Gaussian mixture to their codes (Ghosh et al. "
        "2020), choosing the number of components by the log-likelihood of held-out codes. The mixture is saved "
        "as density.safetensors in the model folder, with samples.png, 64 samples drawn from it; samples (explore, "
        "report, evaluate, the Python API's open_model(...).sample) then come from it rather than from N(0, I). "
        "vaelab train fits one when a run finishes.",
    )
    p.add_argument("model", type=model_arg, metavar="MODEL", help="model folder, or a shipped model's name")
    p.add_argument("--data", type=data_arg, help="whose training images to encode (default: the model's training data)")
    p.add_argument(
        "--components",
        type=components_arg,
        default=(1, 10, 25, 50),
        metavar="K,K,...",
        help="component counts to choose among",
    )
    p.add_argument(
        "--max-codes",
        type=max_codes_arg,
        default=MAX_CODES,
        metavar="N",
        help=f"fit a seeded random subsample of at most N training codes (default {MAX_CODES:,}; 0: every code): on "
        "Fashion-MNIST all 60,000 took 4 times as long as 20,000, for about the same density",
    )
    p.add_argument("--seed", type=seed, default=0, help="the subsample, the held-out split and the fits")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fit_density)
