"""The `vaelab` command: parse arguments, call the Python API, report. No logic the API lacks.

Each command lives in its own module here with an ``add(subparsers)`` function; register it in COMMANDS.
"""
from __future__ import annotations

import argparse
import sys

from vaelab.cli import demo, morph, train
from vaelab.errors import VaelabError

COMMANDS = [train.add, morph.add, demo.add]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaelab", description=__import__("vaelab").__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except VaelabError as e:
        if args.debug:
            raise
        print(f"vaelab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vaelab: interrupted", file=sys.stderr)
        return 130
    return 0
