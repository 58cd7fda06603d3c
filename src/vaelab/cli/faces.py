"""`vaelab faces`: crop the faces of a folder of photos into square images for training."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import at_most, number_in
from vaelab.progress import counted


def cmd_faces(args) -> None:
    from vaelab.io.staging import check_out_folder
    from vaelab.tasks.faces import faces, write_faces

    check_out_folder(args.dst)  # before the photos are read, not after
    report = faces(args.src, size=args.size, margin=args.margin, all_faces=args.all, skip=args.dst)
    written = write_faces(report, args.dst)
    print(
        f"{counted(len(written), 'face crop')} of {args.size}×{args.size} written to {args.dst}; "
        f"{counted(len(report.no_face), 'image')} held no face" + (" (listed in no_face.txt)" if report.no_face else "")
    )
    for p in report.no_face[:10]:
        print(f"  no face: {p}")
    if report.unreadable:
        print(f"{counted(len(report.unreadable), 'file')} could not be read (listed in unreadable.txt):")
        for line in report.unreadable[:10]:
            print(f"  {line}")


def add(sub) -> None:
    p = sub.add_parser(
        "faces",
        help="crop faces from photos (OpenCV's bundled detector)",
        description="Finds faces with OpenCV's bundled Haar cascade and writes square crops.",
    )
    p.add_argument("src", type=Path, help="an image or a folder of images (searched recursively)")
    p.add_argument("dst", type=Path, help="output folder for the crops")
    p.add_argument("--size", type=at_most(1024), default=64, help="side of each square crop, in pixels")
    p.add_argument("--margin", type=number_in(0, 4), default=0.25, help="extra border around each face, × its side")
    p.add_argument("--all", action="store_true", help="every face of an image, not just the largest")
    p.set_defaults(func=cmd_faces)
