"""`vaelab studio`: the latent space in a browser (vaelab.studio)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaelab.cli.args import model_arg


def port_arg(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"a port is a whole number from 0 to 65535 (0: any free one), not {text!r}")
    return int(text)


def cmd_studio(args) -> None:
    from vaelab.studio.server import serve

    serve(args.model, args.runs, host=args.host, port=args.port, open_browser=not args.no_browser)


def add(sub) -> None:
    p = sub.add_parser(
        "studio",
        help="open the studio: morph, arithmetic, a latent map, traversals and blends in the browser",
        description="Start a local web app over the shipped models, every --model given and every run under "
        "--runs: drop in images and drag a slider. It prints its URL and opens the browser where there is one. "
        "It listens on 127.0.0.1 only, unless --host says otherwise.",
    )
    p.add_argument(
        "--model",
        type=model_arg,
        action="append",
        default=[],
        metavar="MODEL",
        help="a model folder or shipped name to offer besides the shipped ones (repeat for more)",
    )
    p.add_argument("--runs", type=Path, default=Path("runs"), help="offer every model trained under this folder")
    p.add_argument("--port", type=port_arg, default=7860, help="the port to listen on; 0 takes any free one")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on; 0.0.0.0 opens the studio to the network (it warns you)",
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_studio)
