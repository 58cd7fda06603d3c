"""`vaelab blend`: many-class blends, k-means on the codes, and the eigen-image baseline."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import add_model_options, at_most, data_arg, seed


def _floats(text: str) -> list[float]:
    import argparse

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not all(0 <= v <= 1e6 for v in values):  # NaN fails too; the weights are normalised to sum to 1
        raise argparse.ArgumentTypeError(f"weights must be finite numbers from 0 to 1e6, got {text!r}")
    return values


def cmd_blend(args) -> None:
    from vaelab.io.staging import check_out_folder
    from vaelab.tasks.blend import blend, write_blend

    check_out_folder(args.out)  # before the encoding, not after it
    classes = "all" if args.classes == "all" else [c.strip() for c in args.classes.split(",") if c.strip()]
    r = blend(
        args.model,
        classes,
        weights=args.weights,
        data=args.data,
        k=args.k,
        eigen=args.eigen,
        max_points=args.max_points,
        seed=args.seed,
        backend=args.backend,
    )
    write_blend(r, args.out)
    labelled = r.euclidean is not None
    if labelled:
        purity = r.confusion.max(1).sum() / r.confusion.sum()
        what = f"blended {len(r.class_names)} classes; k-means with {len(r.confusion)} clusters, purity {purity:.1%}"
    else:
        what = (
            f"no classes to blend; k-means with {len(r.cluster_sizes)} clusters of "
            f"{', '.join(map(str, r.cluster_sizes.tolist()))} codes"
        )
    print(
        f"{what}; "
        f"{len(r.eigen_images)} eigen-images ({r.explained.sum():.0%} of pixel variance"
        + (
            f"; {args.eigen} asked, but {r.cluster_sizes.sum()} training images give no more"
            if len(r.eigen_images) < args.eigen
            else ""
        )
        + f"); written to {args.out}"
    )


def add(sub) -> None:
    p = sub.add_parser("blend", help="blend many classes: centroids, spherical mean, k-means, eigen-images")
    p.add_argument("--classes", default="all", help="'all' or a comma list of class names")
    p.add_argument("--weights", type=_floats, help="one weight per class (default equal)")
    add_model_options(p)
    p.add_argument("--data", type=data_arg, help="data (default: the model's training data)")
    p.add_argument(
        "--k", type=at_most(1000), help="k-means clusters (default: the number of classes; 8 without classes)"
    )
    p.add_argument("--eigen", type=at_most(1000), default=16, help="eigen-images (pixel PCA components)")
    p.add_argument(
        "--max-points", type=at_most(10_000_000, low=2), default=20000, help="training images used for k-means and PCA"
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--out", type=Path, default=Path("out/blend"))
    p.set_defaults(func=cmd_blend)
