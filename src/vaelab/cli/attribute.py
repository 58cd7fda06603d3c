"""`vaelab attribute`: an attribute vector mean(z|attr) − mean(z|not attr), saved and optionally applied."""
from __future__ import annotations

import re
from pathlib import Path

from vaelab.cli.args import add_model_options, positive


def cmd_attribute(args) -> None:
    from vaelab.algebra import apply_vector, attribute, save_vector
    from vaelab.latent.arithmetic import parse_strengths
    from vaelab.models.runtime import open_model
    from vaelab.staging import staged_folder
    from vaelab.viz.algebra_figures import strip_image

    strengths = parse_strengths(args.strengths)  # checked before the slow part
    m = open_model(args.model, args.backend)
    balance = [b.strip() for b in args.balance_on.split(",") if b.strip()] if args.balance_on else None
    result = attribute(m, args.attr, data=args.data, balance_on=balance)
    slug = re.sub(r"[^A-Za-z0-9=_-]+", "_", args.attr).strip("_")
    with staged_folder(args.out) as tmp:
        save_vector(tmp / f"attribute_{slug}.safetensors", result, m.folder)
        if args.apply:
            edited = apply_vector(m, args.apply, result.vector, strengths)
            strip_image(edited, strengths, scale=args.upscale).save(tmp / f"strip_{slug}.png")
    print(f"{args.attr}: {result.n_with} images with, {result.n_without} without"
          + (f", balanced on {', '.join(balance)}" if balance else "")
          + (f" ({result.n_left_out} left out: their {'/'.join(balance)} occurs on one side only)"
             if result.n_left_out else "")
          + f"; |v| = {float((result.vector ** 2).sum() ** 0.5):.3f}; written to {args.out}")


def add(sub) -> None:
    p = sub.add_parser("attribute", help="attribute vector: mean(z | attr) - mean(z | not attr)",
                       description="Saves the vector as safetensors; --apply edits an image along it.")
    p.add_argument("--attr", required=True, help="e.g. gender=woman or gender=woman,skin=none (a=x|y for either)")
    add_model_options(p)
    p.add_argument("--data", help="data with the attribute table (default: the model's training data)")
    p.add_argument("--balance-on", help="attributes to balance, e.g. skin,group (plat's --balanced)")
    p.add_argument("--apply", type=Path, metavar="IMAGE", help="write a strip of IMAGE edited along the vector")
    p.add_argument("--strengths", default="-2:2:9", help="START:STOP:COUNT or a list (default -2:2:9)")
    p.add_argument("--upscale", type=positive, default=2)
    p.add_argument("--out", type=Path, default=Path("out/attribute"))
    p.set_defaults(func=cmd_attribute)
