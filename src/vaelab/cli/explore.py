"""`vaelab explore`: the pictures of a model's latent space, in one folder."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import MAX_UPSCALE, add_model_options, at_most, data_arg, number_in, positive, seed


def cmd_explore(args) -> None:
    from vaelab.io.staging import check_out_folder
    from vaelab.tasks.explore import explore, write_explore

    check_out_folder(args.out)  # before the encoding, not after it
    result = explore(
        args.model,
        data=args.data,
        split=args.split,
        max_points=args.max_points,
        seed=args.seed,
        max_dims=args.dims,
        steps=args.steps,
        span=args.span,
        center=args.center,
        grid=args.grid,
        scale=args.scale,
        map_size=args.map_size,
        backend=args.backend,
        progress=not args.quiet,
        sample_source=args.samples,
        log=lambda *a, **k: None,
    )
    write_explore(result, args.out)
    s = result.summary
    kl = f"; {s['active_units']} of {s['latent_dim']} dimensions active" if s["variational"] else ""
    print(
        f"explored {s['encoded']} {s['data']} images ({s['plotted']} plotted, {s['projection']['method']}{kl}; "
        f"samples {SAMPLED_FROM[s['samples']]}); "
        f"{len(result.files)} files in {result.out}: " + ", ".join(sorted(result.files))
    )


# how the printed line names where samples.png's samples come from (summary.json's "samples")
SAMPLED_FROM = {
    "density": "from the fitted density",
    "prior": "from the prior N(0, I)",
    "codes": "from a Gaussian fitted to the codes",
}


def add(sub) -> None:
    p = sub.add_parser(
        "explore",
        help="PCA maps, histograms, KL, traversals and grids of a model's latent space",
        description="Encode a dataset with a model and write pictures of its latent space: PCA "
        "scatters (2-D, 3-D, interactive HTML), decoded images on the PCA plane, "
        "histograms against N(0,1), KL per dimension, traversals (PNG and GIF), "
        "reconstruction and sample grids (from the fitted density where the folder has one), and summary.json.",
    )
    add_model_options(p)
    p.add_argument(
        "--data", type=data_arg, help="fashion-mnist | mnist:PATH | folder:PATH (default: the model's training data)"
    )
    p.add_argument("--split", choices=["all", "train", "test"], default="all", help="which images (default all)")
    p.add_argument("--out", type=Path, default=Path("out/explore"), help="output folder (default out/explore)")
    p.add_argument(
        "--max-points",
        type=positive,
        default=5000,
        help="points drawn in the scatters, a seeded sample (default 5000); all images are encoded",
    )
    p.add_argument(
        "--dims",
        type=positive,
        default=32,
        help="dimensions in the traversals and histograms, most KL first (default 32)",
    )
    p.add_argument("--steps", type=at_most(101), default=11, help="traversal steps per dimension (default 11)")
    p.add_argument(
        "--span", type=number_in(0, 100, low_open=True), default=3.0, help="traversals run over ±SPAN σ (default 3)"
    )
    p.add_argument(
        "--center",
        help="traversal centre: origin, mean, an index into the images, an image file, or a dataset image such "
        "as fashion-mnist:test/17 (default: "
        "origin for a VAE, whose prior is centred there; mean for a plain AE)",
    )
    p.add_argument("--grid", type=at_most(64), default=8, help="reconstruction/sample grids are GRID wide (default 8)")
    p.add_argument("--scale", type=at_most(MAX_UPSCALE), help="enlarge grid images K times (default: to about 96 px)")
    p.add_argument("--map-size", type=at_most(64), default=12, help="decoded map lattice, N×N (default 12)")
    p.add_argument(
        "--samples",
        choices=["prior", "density"],
        help="what the sample grid draws from: prior (N(0, I)) or density (the one `vaelab fit-density` fitted; "
        "the default where the model folder has one)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_explore)
