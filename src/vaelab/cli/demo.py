"""`vaelab demo`: what `make demo` runs."""

from __future__ import annotations

from pathlib import Path


def cmd_demo(args) -> None:
    from vaelab.tasks.demo import check_demo_out, demo, write_demo

    check_demo_out(args.out)  # before the morphs are computed
    write_demo(demo(), args.out)


def add(sub) -> None:
    p = sub.add_parser("demo", help="morphs on Fashion-MNIST with the shipped model (what `make demo` runs)")
    p.add_argument("--out", type=Path, default=Path("out/demo"))
    p.set_defaults(func=cmd_demo)
