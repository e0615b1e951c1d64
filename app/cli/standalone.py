"""Running one group of subcommands on its own (``python -m app.cli.flow_commands flow ...``), as ``surgitwin`` does."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

__all__ = ["OneLineParser", "run_subcommands"]


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
