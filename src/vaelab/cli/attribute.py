"""`vaelab attribute`: an attribute vector mean(z|attr) − mean(z|not attr), saved and optionally applied; or a
saved vector applied again."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import MAX_UPSCALE, add_model_options, at_most, data_arg
from vaelab.latent.corrections import CORRECTIONS
from vaelab.progress import counted


def cmd_attribute(args) -> None:
    from vaelab.data.inputs import image_label, open_input
    from vaelab.errors import VaelabError
    from vaelab.io.staging import check_out_folder
    from vaelab.io.vectors import load_vector
    from vaelab.latent.arithmetic import parse_strengths
    from vaelab.models.runtime import open_model
    from vaelab.tasks.attribute import attribute, attribute_strip, file_slug, query_slug, write_attribute

    if (args.attr is None) == (args.vector is None):
        raise VaelabError("give --attr to compute a vector, or --vector FILE to apply a saved one")
    if args.vector is not None and (args.apply is None or args.balance_on or args.data):
        raise VaelabError(
            "--vector applies a saved vector: it needs --apply IMAGE, and takes no --data or --balance-on"
        )
    strengths = parse_strengths(args.strengths)  # these are checked before the slow part
    check_out_folder(args.out)
    image = open_input(args.apply) if args.apply else None
    m = open_model(args.model, args.backend)
    result = None
    if args.vector is not None:
        vector, slug = load_vector(args.vector, m.latent_dim), file_slug(args.vector.stem.removeprefix("attribute_"))
    else:
        balance = [b.strip() for b in args.balance_on.split(",") if b.strip()] if args.balance_on else None
        result = attribute(m, args.attr, data=args.data, balance_on=balance)
        vector, slug = result.vector, query_slug(args.attr)
    strip = None
    if image is not None:
        strip = attribute_strip(
            m,
            image,
            image_label(args.apply),
            vector,
            strengths,
            along=args.attr or args.vector.name,
            correction=args.correction,
        )
    write_attribute(
        args.out, slug, result, m.folder, data=args.data or m.data_name or "", strip=strip, upscale=args.upscale
    )
    if args.vector is not None:
        print(f"{args.vector} applied to {args.apply} at {counted(len(strengths), 'strength')}; written to {args.out}")
        return
    print(summary(args.attr, result, float((vector**2).sum() ** 0.5), args.out))


def summary(attr: str, result, length: float, out: Path) -> str:
    """The sentence that says what went into an attribute vector, and where it was written."""
    said = (
        f"{attr}: the vector runs from the mean code of {counted(result.n_without, 'image')} without it to that of "
        f"{counted(result.n_with, 'image')} with it"
    )
    if result.balance_on:
        said += f", balanced on {' and '.join(result.balance_on)}"
        if result.n_left_out:
            said += (
                f", which left out {counted(result.n_left_out, 'image')} whose {'/'.join(result.balance_on)} "
                "occurs on one side only"
            )
    return f"{said}; its length is {length:.3f}, and it is written to {out}"


def add(sub) -> None:
    p = sub.add_parser(
        "attribute",
        help="attribute vector: mean(z | attr) - mean(z | not attr)",
        description="Saves the vector as safetensors; --apply edits an image along it. With --vector, "
        "applies a vector saved before instead of computing one.",
    )
    p.add_argument("--attr", help="e.g. gender=woman or gender=woman,skin=none (a=x|y for either)")
    p.add_argument("--vector", type=Path, metavar="FILE", help="a vector this command saved before (with --apply)")
    add_model_options(p)
    p.add_argument("--data", type=data_arg, help="data with the attribute table (default: the model's training data)")
    p.add_argument("--balance-on", help="attributes to balance, e.g. skin,group (plat's --balanced)")
    p.add_argument(
        "--apply",
        type=Path,
        metavar="IMAGE",
        help="write a strip of IMAGE (a file, or a dataset image such as emoji:dog face) edited along the vector",
    )
    p.add_argument("--strengths", default="-2:2:9", help="START:STOP:COUNT or a list (default -2:2:9)")
    p.add_argument(
        "--correction",
        choices=CORRECTIONS,
        default="norm",
        help="with --apply: bring each edited code back to the model's codes before decoding it: norm (keep the "
        "image's code norm, the default), density (climb the fitted code density; needs `vaelab fit-density`), "
        "none (decode the plain sum)",
    )
    p.add_argument("--upscale", type=at_most(MAX_UPSCALE), default=2, help="enlarge the strip's images K times")
    p.add_argument("--out", type=Path, default=Path("out/attribute"))
    p.set_defaults(func=cmd_attribute)
