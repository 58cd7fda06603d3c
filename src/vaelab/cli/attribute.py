"""`vaelab attribute`: an attribute vector mean(z|attr) − mean(z|not attr), saved and optionally applied; or a
saved vector applied again."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from vaelab.cli.args import MAX_UPSCALE, add_model_options, at_most


MAX_SLUG = 80  # bytes of a query kept in a file name; file systems allow 255


def file_slug(text: str) -> str:
    """Text as part of a file name: runs of anything but letters (of any script), digits, = . - become one _; a
    long one is cut, with a hash of the whole, so that two long queries still get two names."""
    slug = re.sub(r"[^\w=.-]+", "_", text).strip("_") or "_"
    if len(slug.encode()) > MAX_SLUG:  # bytes: a letter of another script may take up to 4
        head = slug.encode()[:MAX_SLUG - 9].decode(errors="ignore")
        slug = f"{head}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return slug


def query_slug(query: str) -> str:
    """An --attr query as a file name: 'gender=woman|man' and 'gender=woman,skin=none' stay apart
    ('gender=woman-or-man', 'gender=woman_skin=none')."""
    return file_slug(query.replace("|", "-or-"))


def cmd_attribute(args) -> None:
    from vaelab.algebra import apply_vector, attribute, save_vector
    from vaelab.data.images import open_image
    from vaelab.encoding import prepare_images
    from vaelab.errors import VaelabError
    from vaelab.latent.arithmetic import parse_strengths
    from vaelab.models.runtime import open_model
    from vaelab.staging import check_out_folder, staged_folder
    from vaelab.vector_files import load_vector
    from vaelab.viz.algebra_figures import strip_image

    if (args.attr is None) == (args.vector is None):
        raise VaelabError("give --attr to compute a vector, or --vector FILE to apply a saved one")
    if args.vector is not None and (args.apply is None or args.balance_on or args.data):
        raise VaelabError("--vector applies a saved vector: it needs --apply IMAGE, and takes no --data or --balance-on")
    strengths = parse_strengths(args.strengths)  # these are checked before the slow part
    check_out_folder(args.out)
    image = open_image(args.apply) if args.apply else None
    m = open_model(args.model, args.backend)
    if args.vector is not None:
        vector, slug = load_vector(args.vector, m.latent_dim), file_slug(args.vector.stem.removeprefix("attribute_"))
    else:
        balance = [b.strip() for b in args.balance_on.split(",") if b.strip()] if args.balance_on else None
        result = attribute(m, args.attr, data=args.data, balance_on=balance)
        vector, slug = result.vector, query_slug(args.attr)
    with staged_folder(args.out) as tmp:
        if args.vector is None:
            save_vector(tmp / f"attribute_{slug}.safetensors", result, m.folder, data=args.data or m.data_name or "")
        if image is not None:
            edited = apply_vector(m, image, vector, strengths)
            what = args.attr or args.vector.name
            strip_image(edited, strengths, scale=args.upscale, original=prepare_images(m, [image])[0],
                        title=f"{args.apply.name} along {what}"
                              + (" (strength 0: the reconstruction)" if 0 in strengths else "")
                        ).save(tmp / f"strip_{slug}_{file_slug(args.apply.stem)}.png")  # one strip per image
    if args.vector is not None:
        print(f"{args.vector} applied to {args.apply} at {len(strengths)} strengths; written to {args.out}")
        return
    print(f"{args.attr}: {result.n_with} images with, {result.n_without} without"
          + (f", balanced on {', '.join(balance)}" if balance else "")
          + (f" ({result.n_left_out} left out: their {'/'.join(balance)} occurs on one side only)"
             if result.n_left_out else "")
          + f"; |v| = {float((vector ** 2).sum() ** 0.5):.3f}; written to {args.out}")


def add(sub) -> None:
    p = sub.add_parser("attribute", help="attribute vector: mean(z | attr) - mean(z | not attr)",
                       description="Saves the vector as safetensors; --apply edits an image along it. With --vector, "
                                   "applies a vector saved before instead of computing one.")
    p.add_argument("--attr", help="e.g. gender=woman or gender=woman,skin=none (a=x|y for either)")
    p.add_argument("--vector", type=Path, metavar="FILE", help="a vector this command saved before (with --apply)")
    add_model_options(p)
    p.add_argument("--data", help="data with the attribute table (default: the model's training data)")
    p.add_argument("--balance-on", help="attributes to balance, e.g. skin,group (plat's --balanced)")
    p.add_argument("--apply", type=Path, metavar="IMAGE", help="write a strip of IMAGE edited along the vector")
    p.add_argument("--strengths", default="-2:2:9", help="START:STOP:COUNT or a list (default -2:2:9)")
    p.add_argument("--upscale", type=at_most(MAX_UPSCALE), default=2, help="enlarge the strip's images K times")
    p.add_argument("--out", type=Path, default=Path("out/attribute"))
    p.set_defaults(func=cmd_attribute)
