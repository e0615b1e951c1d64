"""Shared pieces of the subcommand modules: argument types, and running one group of subcommands on its own
(``python -m app.cli.flow_commands flow ...``) as ``surgitwin`` does."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence

__all__ = ["OneLineParser", "positive_float", "positive_int", "run_subcommands", "standalone_main"]


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr with exit status 2, like the ``surgitwin`` command."""

    def error(self, message: str) -> None:
        self.exit(2, f"surgitwin: error: {message}\n")


def run_subcommands(add_parsers: Callable[[argparse._SubParsersAction], None], argv: Sequence[str] | None) -> int:
    """Parse ``argv`` with the subcommands ``add_parsers`` registers and run the chosen handler."""
    parser = OneLineParser(prog="surgitwin")
    add_parsers(parser.add_subparsers(dest="command", parser_class=OneLineParser, required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def standalone_main(add_parsers: Callable[[argparse._SubParsersAction], None], argv: Sequence[str] | None) -> int:
    """:func:`run_subcommands`, with a user error (bad input file, unreadable data) as one line and status 2."""
    try:
        return run_subcommands(add_parsers, argv)
    except (ValueError, OSError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else repr(exc)
        print(f"surgitwin: error: {text}", file=sys.stderr)
        return 2


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value
