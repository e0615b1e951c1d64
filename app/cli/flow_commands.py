"""``surgitwin flow``: 1-D blood flow through an openBF YAML network model, waveforms written as CSV.

Wiring into :mod:`app.cli.main`::

    from app.cli.flow_commands import COMMANDS as FLOW_COMMANDS, add_parsers as add_flow_parsers
    add_flow_parsers(sub)                        # in build_parser(), after the other subcommands
    # and in main(): commands = {..., **FLOW_COMMANDS}

Handler ``cmd_flow(args) -> int``; user errors (missing file, bad YAML, impossible parameters) print one line on
stderr and return exit status 2. Runs standalone too: ``python -m app.cli.flow_commands flow MODEL.yaml --out DIR``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["COMMANDS", "add_parsers", "cmd_flow", "main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"cycles must be a positive integer, got {text!r}")
    return value


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``flow`` on ``subparsers`` (sets ``func``)."""
    p = subparsers.add_parser("flow", help="1-D blood flow in an openBF YAML network model; CSV waveforms")
    p.add_argument("model", type=Path, help="openBF model (.yaml) with its inlet .dat file beside it")
    p.add_argument("--out", type=Path, required=True, help="results folder: <vessel>_<P|Q|A|u>.csv")
    p.add_argument("--cycles", type=_positive_int, default=None,
                   help="most cardiac cycles to run (default: the model's; stops earlier when converged)")
    p.set_defaults(func=cmd_flow)


def cmd_flow(args: argparse.Namespace) -> int:
    """Run the model, write the last cycle's P, Q, A, u at inlet, 1/4, 1/2, 3/4 and outlet of every vessel."""
    from simulation.flow import FlowModelError, run_model, write_waveforms

    try:
        result = run_model(args.model, cycles=args.cycles)
        written = write_waveforms(result, args.out)
    except (FlowModelError, OSError) as exc:
        print(f"surgitwin flow: error: {exc}", file=sys.stderr)
        return 2
    state = "converged" if result.converged else "not converged"
    print(f"{args.model.name}: {len(result.waveforms)} vessels, {result.cycles_run} cycles ({state}), "
          f"{result.steps} steps in {result.wall_s:.1f} s; {len(written)} files in {args.out}")
    return 0


COMMANDS = {"flow": cmd_flow}


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (``python -m app.cli.flow_commands flow MODEL.yaml --out DIR``)."""

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:
            self.exit(2, f"surgitwin: error: {message}\n")

    parser = _Parser(prog="surgitwin")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)
    add_parsers(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
