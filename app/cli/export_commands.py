"""``surgitwin deidentify``: export de-identified copies of DICOM series (PS3.15 basic profile).

Wiring into :mod:`app.cli.main` mirrors :mod:`app.cli.segment_commands`: :func:`add_parsers` and :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["COMMANDS", "ExportCliError", "add_parsers", "cmd_deidentify"]


class ExportCliError(ValueError):
    """A user error of the export commands (one line, exit status 2)."""


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``deidentify`` on ``subparsers``."""
    p = subparsers.add_parser(
        "deidentify",
        help="write de-identified copies of the DICOM series under PATH (PS3.15 basic profile)",
    )
    p.add_argument("path", type=Path, help="DICOM file or folder")
    p.add_argument("out_dir", type=Path, help="new or empty folder; one sub-folder per series")
    p.add_argument("--series", metavar="UID", help="only this series (UID or unique prefix, see `surgitwin info`)")
    p.add_argument("--dates", choices=("remove", "shift", "keep"), default="remove",
                   help="remove dates (basic profile, default), shift them by a per-patient offset, or keep them")
    p.add_argument("--pseudonym", help="subject code written as PatientName and PatientID")
    p.add_argument("--keep-descriptors", action="store_true",
                   help="keep study/series descriptions and protocol names (cleaned of identity strings)")
    p.add_argument("--accept-burned-in-risk", action="store_true",
                   help="export images that may carry burned-in patient text (you check the pixels)")
    p.add_argument("--json", action="store_true", help="machine-readable report (counts only, never values)")


def _selected(series: list, wanted: str | None) -> list:
    if wanted is None:
        return series
    matches = [s for s in series if s.series_uid == wanted] or [s for s in series if s.series_uid.startswith(wanted)]
    if len(matches) != 1:
        found = "none" if not matches else f"{len(matches)} series"
        raise ExportCliError(f"--series {wanted} matches {found}; run `surgitwin info` to list the series UIDs")
    return matches


def cmd_deidentify(args: argparse.Namespace) -> int:
    """De-identify every selected series into ``out_dir/NNN_<modality>/IM00001.dcm...``."""
    from imaging.dicom import DicomError, scan_folder
    from imaging.dicom.deidentify import DateMode, DeidentifyOptions, UIDMap, deidentify_series

    if not args.path.exists():
        raise ExportCliError(f"{args.path}: no such file or folder")
    out: Path = args.out_dir
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportCliError(f"{out} exists and is not an empty folder; choose a new folder for the export")
    try:
        result = scan_folder(args.path, cache=None)
    except DicomError as exc:
        raise ExportCliError(str(exc).splitlines()[0]) from exc
    # Every image series, volumes or not: a single localizer carries PHI as much as a volume does.
    series = _selected(result.series, args.series)
    if not series:
        raise ExportCliError(f"{args.path}: no DICOM image series found ({len(result.skipped)} files skipped)")
    options = DeidentifyOptions(
        date_mode=DateMode(args.dates), retain_descriptors=args.keep_descriptors, pseudonym=args.pseudonym
    )
    uid_map = UIDMap()  # one map for the whole export: series of one study stay one study
    summary = []
    done: set[Path] = set()
    for index, s in enumerate(series, start=1):
        files = [f for f in dict.fromkeys(s.files) if f not in done]  # a multi-frame file may back several parts
        if not files:
            continue
        done.update(files)
        folder = out / f"{index:03d}_{s.modality or 'OT'}"
        try:
            report = deidentify_series(files, folder, options=options, uid_map=uid_map,
                                       accept_burned_in_risk=args.accept_burned_in_risk)
        except DicomError as exc:
            raise ExportCliError(str(exc).splitlines()[0]) from exc
        summary.append({
            "folder": folder.name,
            "files": len(report.files),
            "actions": dict(sorted(report.actions.items())),
            "private_removed": report.private_removed,
            "burned_in_annotation_risk": report.burned_in_annotation_risk,
        })
    if args.json:
        json.dump({"out_dir": str(out), "dates": args.dates, "series": summary}, sys.stdout, indent=2)
        print()
        return 0
    for item in summary:
        actions = ", ".join(f"{k}={v}" for k, v in item["actions"].items())
        print(f"{item['folder']}: {item['files']} files ({actions}; {item['private_removed']} private removed)")
    print(f"wrote {sum(i['files'] for i in summary)} de-identified files to {out} (dates: {args.dates})")
    return 0


COMMANDS = {"deidentify": cmd_deidentify}
"""Subcommand name -> handler, for :func:`app.cli.main.main`'s dispatch table."""
