"""`vaelab morph`: frames, GIF, MP4 and contact sheet of a latent path."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import MAX_UPSCALE, add_model_options, at_most, number_in


def cmd_morph(args) -> None:
    from vaelab.tasks.morph import run_morph, write_morph_outputs

    result = run_morph(
        args.model,
        images=args.images,
        classes=args.classes or (),
        frames=args.frames,
        method=args.method,
        closed=args.loop,
        upscale=args.upscale,
        resample=args.resample,
        backend=args.backend,
        invert=args.invert,
        spacing=args.spacing,
    )
    written = write_morph_outputs(result, args.out, fps=args.fps, pingpong=args.pingpong, mp4=not args.no_mp4)
    spaced = f", {result.spacing}" if args.spacing != "latent" else ""
    print(f"{len(result.frames)} frames ({args.method}{spaced}) written to {args.out}: " + ", ".join(sorted(written)))
    if result.note:
        print(result.note)


def add(sub) -> None:
    p = sub.add_parser(
        "morph",
        help="morph image A into B (and C ...) through decoded frames",
        description="Encode the images, walk the latent path between them, decode every frame. "
        "Writes frames/, morph.gif, morph.mp4 and contact_sheet.png.",
    )
    p.add_argument(
        "images",
        nargs="*",
        type=Path,
        help="two or more image files (any format Pillow reads), or dataset images: DATA:SPLIT/INDEX such as "
        "fashion-mnist:test/17, or DATA:NAME such as 'emoji:dog face'",
    )
    p.add_argument(
        "--class",
        dest="classes",
        action="append",
        metavar="NAME",
        help="morph between class centroids instead (give --class twice or more)",
    )
    add_model_options(p)
    p.add_argument("--frames", type=int, default=24, help="frames including both ends, 2 to 2000 (default 24)")
    p.add_argument("--method", choices=["slerp", "lerp", "cdf"], default="slerp")
    p.add_argument(
        "--spacing",
        choices=["latent", "even"],
        default="latent",
        help="latent: frames evenly along the latent path; even: re-timed so that each step changes the picture "
        "alike, measured in the evaluator's features and the pixels together (pixels alone without an evaluator)",
    )
    p.add_argument(
        "--invert",
        action="store_true",
        help="invert the images first: dark objects on white for a model of light ones on black",
    )
    p.add_argument("--loop", action="store_true", help="close the path back to the first image")
    p.add_argument("--out", type=Path, default=Path("out/morph"), help="output folder (default out/morph)")
    p.add_argument(
        "--fps",
        type=number_in(0.01, 1000),
        default=12,
        help="frames per second of the MP4 and GIF (default 12; a GIF plays at most 50)",
    )
    p.add_argument("--pingpong", action="store_true", help="GIF/MP4 play forward then back")
    p.add_argument("--upscale", type=at_most(MAX_UPSCALE), default=4, help="enlarge frames K times (default 4)")
    p.add_argument("--resample", choices=["nearest", "bicubic"], default="nearest")
    p.add_argument("--no-mp4", action="store_true", help="skip the MP4")
    p.set_defaults(func=cmd_morph)
