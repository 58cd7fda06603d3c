"""`vaelab arithmetic`: evaluate an expression over concepts and draw it."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import MAX_UPSCALE, add_model_options, at_most, data_arg
from vaelab.latent.corrections import CORRECTIONS


def cmd_arithmetic(args) -> None:
    from vaelab.io.staging import check_out_folder
    from vaelab.tasks.arithmetic import arithmetic, write_arithmetic

    check_out_folder(args.out)  # before the encoding, not after it
    result = arithmetic(
        args.model,
        args.expression,
        data=args.data,
        rescale=args.rescale,
        backend=args.backend,
        correction=args.correction,
    )
    write_arithmetic(result, args.out, upscale=args.upscale)
    terms = ", ".join(f"{w:+g}·{c.label} ({len(c.images) or 'vector'})" for w, c in result.terms)
    print(
        f"{terms}; the result {result.landing.describe()} → result.png, arithmetic.png and histograms.png in {args.out}"
    )


def add(sub) -> None:
    p = sub.add_parser(
        "arithmetic",
        help="vector arithmetic on concepts: 'class:A - class:B + class:C'",
        description="Each term is a concept: class:NAME, attr:KEY=VALUE[,KEY=VALUE], a file, a folder, "
        "one dataset image (fashion-mnist:test/17, emoji:dog face), or a bracketed file list [a.png b.png]; its "
        "vector is the mean code of its images. "
        "A .safetensors file that vaelab attribute saved is taken as the vector itself. "
        "Put spaces around + and -; a term may carry a weight, e.g. 0.5*class:Bag.",
    )
    p.add_argument("expression")
    add_model_options(p)
    p.add_argument("--data", type=data_arg, help="data for class:/attr: terms (default: the model's training data)")
    p.add_argument("--rescale", action="store_true", help="give the result the terms' mean norm (plat's rule)")
    p.add_argument(
        "--correction",
        choices=CORRECTIONS,
        default="norm",
        help="bring the result back to the model's codes before decoding it: norm (rescale it to the codes' typical "
        "norm, the default), density (climb the fitted code density until it is as likely as a typical code; "
        "needs `vaelab fit-density`), none (decode the plain sum)",
    )
    p.add_argument("--out", type=Path, default=Path("out/arithmetic"))
    p.add_argument("--upscale", type=at_most(MAX_UPSCALE), default=4, help="enlarge result.png K times")
    p.set_defaults(func=cmd_arithmetic)
