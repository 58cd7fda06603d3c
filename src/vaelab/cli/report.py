"""`vaelab report`: one self-contained HTML page about a model."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import add_model_options, data_arg, positive, seed


def cmd_report(args) -> None:
    from vaelab.tasks.report import report, report_path, write_report

    out = report_path(args.model, args.out)  # a folder or a non-HTML file is refused before the page is built
    result = report(
        args.model,
        data=args.data,
        split=args.split,
        max_points=args.max_points,
        seed=args.seed,
        frames=args.frames,
        metrics=tuple(args.metrics or ()),
        backend=args.backend,
        progress=not args.quiet,
    )
    write_report(result, out)
    print(f"report written to {out} ({out.stat().st_size / 1e6:.1f} MB, self-contained: open it in any browser)")


def add(sub) -> None:
    p = sub.add_parser(
        "report",
        help="one self-contained HTML page: model card, curves, latent maps, morph, metrics",
        description="Write one HTML file about a model, with every image embedded: the model card, "
        "training curves from metrics.jsonl, every `vaelab explore` figure (with the "
        "interactive 3-D scatter), a morph strip and the metrics there are. It opens "
        "from disk with no server and no network.",
    )
    add_model_options(p)
    p.add_argument("--out", type=Path, help="the HTML file (default out/reports/MODEL.html)")
    p.add_argument(
        "--data", type=data_arg, help="fashion-mnist | mnist:PATH | folder:PATH (default: the model's training data)"
    )
    p.add_argument("--split", choices=["all", "train", "test"], default="all", help="which images (default all)")
    p.add_argument("--max-points", type=positive, default=5000, help="points in the scatters (default 5000)")
    p.add_argument("--frames", type=positive, default=12, help="frames in the morph strip (default 12)")
    p.add_argument(
        "--metrics",
        action="append",
        type=Path,
        metavar="JSON",
        help="add a metrics file (e.g. an eval.json) as a table; repeatable. The model folder's own "
        "eval.json is added when there is one",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_report)
