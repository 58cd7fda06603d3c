"""`vaelab images`: a dataset's images as PNG files, chosen by attribute query, split and class."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import data_arg, positive


def cmd_images(args) -> None:
    from vaelab.io.staging import check_out_folder
    from vaelab.tasks.images import select_images, write_images

    check_out_folder(args.out)  # before the data is loaded, not after it
    result = select_images(args.data, query=args.query, split=args.split, class_name=args.class_name, limit=args.limit)
    written = write_images(result, args.out)
    of = f" (the first {len(written)} of {result.matched} that match)" if result.matched > len(written) else ""
    shown = ", ".join(p.name for p in written[:3]) + (", ..." if len(written) > 3 else "")
    print(f"{len(written)} image{'s' * (len(written) != 1)} of {result.data}{of} written to {args.out}: {shown}")


def add(sub) -> None:
    p = sub.add_parser(
        "images",
        help="a dataset's images as PNG files, chosen by attribute, split and class",
        description="Write images of a dataset as PNG files at its own size. Each file is named after its image: "
        "test-17_Sneaker.png is fashion-mnist:test/17, and dog_face.png is 'emoji:dog face', which every command "
        "that takes an image file also takes.",
    )
    p.add_argument(
        "--data", type=data_arg, required=True, help="the dataset, e.g. fashion-mnist, emoji, mnist:PATH, folder:PATH"
    )
    p.add_argument("--query", help="attributes the images must have, e.g. 'name=dog face' or gender=woman,skin=none")
    p.add_argument("--split", choices=["train", "test", "all"], default="all", help="the split to take images from")
    p.add_argument("--class", dest="class_name", metavar="NAME", help="only images of this class")
    p.add_argument("--limit", type=positive, metavar="N", help="the first N images that match (default: all of them)")
    p.add_argument("--out", type=Path, default=Path("out/images"), help="output folder (default out/images)")
    p.set_defaults(func=cmd_images)
