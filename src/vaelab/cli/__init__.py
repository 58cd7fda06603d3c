"""The `vaelab` command: parse arguments, call the Python API, report. No logic the API lacks.

Each command lives in its own module here with an ``add(subparsers)`` function; register it in COMMANDS.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import warnings

from vaelab.cli import (
    arithmetic,
    attribute,
    blend,
    demo,
    disentangle,
    evaluate,
    explore,
    faces,
    fit_density,
    images,
    models,
    morph,
    report,
    studio,
    sweep,
    train,
    train_cycle,
    train_evaluator,
)
from vaelab.errors import VaelabError, VaelabWarning

COMMANDS = [
    train.add,
    morph.add,
    demo.add,
    models.add,
    images.add,
    arithmetic.add,
    attribute.add,
    blend.add,
    faces.add,
    evaluate.add,
    train_evaluator.add,
    sweep.add,
    explore.add,
    studio.add,
    report.add,
    train_cycle.add,
    disentangle.add,
    fit_density.add,
]


class OneLineErrors(argparse.ArgumentParser):
    """A usage error is one line, like every other error (the usage is one --help away). Options are taken only
    as written in full: the checks that read the command line (given_flags) see what the user typed."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"vaelab: error: {message} (see {self.prog} --help)\n")

    def _check_value(self, action, value):
        """argparse's check of a value against its choices (a command, --model, --method …), with the likeliest
        choice meant beside the list (argparse before Python 3.14 suggests none)."""
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as e:
            meant = likeliest(str(value), action.choices)
            if meant is None:
                raise
            raise argparse.ArgumentError(action, f"{e.message}; did you mean {meant!r}?") from None


def likeliest(typed: str, choices) -> str | None:
    """The choice closest to what was typed (a command, a choice, a flag), or None when none is close."""
    close = difflib.get_close_matches(typed, [str(c) for c in choices], n=1)
    return close[0] if close else None


def unknown_flags_error(parser: argparse.ArgumentParser, command: argparse.ArgumentParser, unknown: list[str]) -> str:
    """The one-line error for arguments a command does not take, with the flag likeliest meant by the first
    unknown one: "--fames 10" → "did you mean --frames?"."""
    flags = [o for p in (command, parser) for o in p._option_string_actions if o.startswith("--")]
    typed = [a.split("=", 1)[0] for a in unknown if a.startswith("--")]
    meant = next((m for t in typed if (m := likeliest(t, flags)) is not None), None)
    return f"unrecognized arguments: {' '.join(unknown)}" + (f"; did you mean {meant}?" if meant else "")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(prog="vaelab", description=__import__("vaelab").__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"vaelab {__import__('vaelab').__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    parser.commands = dict(sub.choices)  # name → subparser: an unknown option is reported against its command
    for command in parser.commands.values():
        if "--data" in command._option_string_actions:  # mnist, cifar10, ... download on first use
            command.add_argument(
                "--no-download", action="store_true", help="never download a dataset (as VAELAB_NO_DOWNLOAD=1)"
            )
        _show_defaults(command)
    return parser


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Add "(default X)" to the --help of every option that has a default its help does not already give."""
    for action in parser._actions:
        if getattr(action.type, "bounds", None) and action.help and action.help != argparse.SUPPRESS:
            action.help += f" [{action.type.bounds}]"
        default = action.default
        if not action.option_strings or default is None or default is False or default == argparse.SUPPRESS:
            continue
        if action.help == argparse.SUPPRESS or "default" in (action.help or ""):
            continue
        shown = ",".join(map(str, default)) if isinstance(default, (tuple, list)) else default
        action.help = f"{action.help} (default {shown})" if action.help else f"default {shown}"


# Options whose values may start with '-' ("--strengths -2:2:9"); argparse would take them for flags.
NEGATIVE_VALUE_OPTIONS = ("--strengths", "--weights")


def _expression_slot(argv: list[str], parser: argparse.ArgumentParser) -> int | None:
    """Where `arithmetic`'s expression sits when it starts with a minus sign ("-1*class:Bag", which argparse would
    take for an option): the first token after the command that is neither an option of it nor an option's
    value. None when there is no such token."""
    command = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if command is None or argv[command] != "arithmetic":
        return None
    options = parser.commands["arithmetic"]._option_string_actions
    i = command + 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return None
        action = options.get(a.split("=", 1)[0]) if a.startswith("-") else None
        if action is not None:
            i += 1 if "=" in a or action.nargs == 0 else 2  # skip the option, and its value
            continue
        return i if re.match(r"-[^-]", a) else None
    return None


def _join_negative_values(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Join the options above to a value that starts with '-', and keep an arithmetic expression that starts with
    one ("-1*class:Bag") a positional: a leading space, which the expression parser ignores, hides it from argparse."""
    out, i = [], 0
    slot = _expression_slot(argv, parser)
    while i < len(argv):
        if i == slot:
            out.append(f" {argv[i]}")
            i += 1
            continue
        if argv[i] in NEGATIVE_VALUE_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _one_line_warnings(message, category, filename, lineno, file=None, line=None):
    if not issubclass(category, VaelabWarning):
        return _PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)
    print(f"vaelab: warning: {message}", file=file or sys.stderr)


_PYTHON_SHOWWARNING = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = _join_negative_values(list(sys.argv[1:] if argv is None else argv), parser)
    for i, a in enumerate(argv):  # an empty value is never meant: --out "" would write into the current folder
        if a == "" or (a.startswith("--") and a.endswith("=")):
            after = f" after {argv[i - 1]}" if a == "" and i and argv[i - 1].startswith("-") else ""
            name = a[:-1] if a else f"argument{after}"
            print(f"vaelab: error: an empty {name}; give it a value", file=sys.stderr)
            return 2
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would name the top-level command and its --help, and suggest no flag
        command = parser.commands[args.command]
        command.error(unknown_flags_error(parser, command, unknown))
    args.argv = argv  # for commands that re-launch themselves (train --nproc)
    if getattr(args, "no_download", False):
        os.environ["VAELAB_NO_DOWNLOAD"] = "1"  # read where a dataset is loaded; kept by processes it starts
    shown, warnings.showwarning = warnings.showwarning, _one_line_warnings
    try:
        return _run(args)
    finally:
        warnings.showwarning = shown


def _run(args) -> int:
    try:
        args.func(args)
    except VaelabError as e:
        if args.debug:
            raise
        print(f"vaelab: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system said no: a folder that cannot be written, a full disk
        if args.debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"vaelab: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # a training command's says what was saved and how to go on
        print(f"vaelab: interrupted; {e}" if str(e) else "vaelab: interrupted", file=sys.stderr)
        return 130
    if getattr(args, "model_defaults_to_shipped", False) and args.model is None:  # after it: errors stay one line
        print(
            "vaelab: note: no --model was given, so this used the shipped Fashion-MNIST VAE (28×28 greyscale); "
            "give --model RUN for a model you trained",
            file=sys.stderr,
        )
    return 0
