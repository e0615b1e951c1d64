"""``surgitwin batch SPEC.yaml``: run the pipeline of a spec over many studies or variants on Dask.

Wiring into :mod:`app.cli.main` mirrors :mod:`app.cli.flow_commands`: :func:`add_parsers` and :data:`COMMANDS`.
Runs standalone too: ``python -m app.cli.batch_commands batch SPEC.yaml``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.cli.standalone import positive_int, standalone_main

__all__ = ["COMMANDS", "add_parsers", "cmd_batch", "main"]


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``batch`` on ``subparsers``."""
    p = subparsers.add_parser(
        "batch", help="run a pipeline (load, segment, mesh, export, simulate) over many items on Dask",
        description="Runs the pipeline of SPEC.yaml on every item; finished items are skipped on a rerun.",
    )
    p.add_argument("spec", type=Path, help="batch spec (YAML): pipeline, items and/or variants, output")
    p.add_argument("--out", type=Path, default=None, help="output folder (overrides the spec's output)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                   help="an existing Dask scheduler (default: a local cluster of worker processes)")
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="local cluster size (default: CPUs, at most 4)")
    p.add_argument("--force", action="store_true", help="redo items that already finished")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON instead of a table")
    p.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    """Run the batch; exit status 0 when every item finished, 1 when some failed, 2 for a bad spec."""
    from app.batch import BatchError, BatchSpecError, format_summary, load_spec, run_batch

    if args.scheduler is not None and not args.scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise BatchSpecError(f"--scheduler must look like tcp://HOST:PORT, got {args.scheduler!r}")
    spec = load_spec(args.spec, output=args.out)
    try:
        report = run_batch(spec, out_dir=spec.output, scheduler=args.scheduler, workers=args.workers,
                           force=args.force)
    except BatchError as exc:
        raise BatchSpecError(str(exc)) from exc
    if args.json:
        json.dump({"scheduler": report.scheduler, "seconds": round(report.seconds, 2),
                   "items": [{"id": o.id, "status": o.status, "error": o.error} for o in report.outcomes]},
                  sys.stdout, indent=2)
        print()
    else:
        print(format_summary(report))
    return 0 if report.ok else 1


COMMANDS = {"batch": cmd_batch}
"""Subcommand name -> handler, for :func:`app.cli.main.main`'s dispatch table."""


def main(argv: list[str] | None = None) -> int:
    """Standalone entry: ``python -m app.cli.batch_commands batch ...``."""
    return standalone_main(add_parsers, argv)


if __name__ == "__main__":
    sys.exit(main())
