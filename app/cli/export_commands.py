"""``surgitwin deidentify``: export de-identified copies of DICOM series (PS3.15 basic profile).

Wiring into :mod:`app.cli.main` mirrors :mod:`app.cli.segment_commands`: :func:`add_parsers` and :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["COMMANDS", "ExportCliError", "add_parsers", "cmd_deidentify", "cmd_dicom_import", "cmd_dicom_seg",
           "cmd_dicom_wrap"]


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
    _add_dicom_seg_parsers(subparsers)


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


def _add_dicom_seg_parsers(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("dicom-seg", help="write a label map as a DICOM SEG that references its DICOM series")
    p.add_argument("labelmap", type=Path, help="label map on the series' grid (.nrrd, .nii.gz, .mha)")
    p.add_argument("--source", type=Path, required=True, help="DICOM folder of the segmented series")
    p.add_argument("--series", metavar="UID", help="series UID or unique prefix (default: the largest volume)")
    p.add_argument("--out", type=Path, required=True, help="SEG file to write (.dcm)")
    p.add_argument("--kind", choices=("binary", "labelmap"), default="binary",
                   help="binary SEG (every reader) or label-map SEG (DICOM 2024, smaller)")
    p.add_argument("--name", action="append", default=[], metavar="LABEL=NAME",
                   help="segment name of a label value, e.g. 1=Liver (repeatable; default 'Segment N')")
    p = subparsers.add_parser("dicom-wrap", help="a mesh, screenshot or PDF report as a DICOM object in a study")
    p.add_argument("path", type=Path, help=".stl/.obj/.ply/.vtp mesh (LPS mm), .png/.jpg screenshot or .pdf report")
    p.add_argument("--source", type=Path, required=True, help="DICOM folder of the series it derives from")
    p.add_argument("--series", metavar="UID", help="series UID or unique prefix (default: the largest volume)")
    p.add_argument("--out", type=Path, required=True, help="DICOM file to write (.dcm)")
    p.add_argument("--title", default=None, help="document title / description (default: the file name)")
    p = subparsers.add_parser("dicom-import", help="read a DICOM SEG or RTSTRUCT into a label map on a series' grid")
    p.add_argument("path", type=Path, help="DICOM SEG or RTSTRUCT file")
    p.add_argument("--source", type=Path, required=True, help="DICOM folder of the image the segments belong to")
    p.add_argument("--series", metavar="UID", help="series UID or unique prefix (default: the largest volume)")
    p.add_argument("--out", type=Path, required=True, help="label map to write (.nrrd, .nii.gz, .mha)")


def cmd_dicom_seg(args: argparse.Namespace) -> int:
    """``dicom-seg``: label map + source series -> DICOM SEG (names coded with SNOMED CT where we know them)."""
    import numpy as np

    from imaging.dicom_outputs import DicomOutputError, SegmentInfo, read_source_series, write_segmentation
    from imaging.image_io import read_image
    from imaging.segmentation.terminology import find_terminology

    if not args.labelmap.is_file():
        raise ExportCliError(f"{args.labelmap}: no such file")
    names = {}
    for text in args.name:
        value, _, name = text.partition("=")
        if not value.strip().isdigit() or not name.strip():
            raise ExportCliError(f"--name must look like 1=Liver, got {text!r}")
        names[int(value)] = name.strip()
    labels = read_image(args.labelmap)
    if not np.issubdtype(labels.array.dtype, np.integer):
        raise ExportCliError(f"{args.labelmap.name} holds {labels.array.dtype} values, not a label map")
    values = [int(v) for v in np.unique(labels.array) if v]
    if not values:
        raise ExportCliError(f"{args.labelmap.name} is empty: no label to write")
    segments = []
    for value in values:
        name = names.get(value, f"Segment {value}")
        entry = find_terminology(name)
        segments.append(SegmentInfo(value, name, entry.color if entry else (0.9, 0.5, 0.3)))
    try:
        source = read_source_series(args.source, series_uid=args.series)
        write_segmentation(labels, segments, source, args.out, kind=args.kind)
    except DicomOutputError as exc:
        raise ExportCliError(str(exc).splitlines()[0]) from exc
    print(f"wrote {args.out}: {args.kind} DICOM SEG of {len(segments)} segment(s) on series "
          f"{source.info.series_uid}")
    return 0


def cmd_dicom_wrap(args: argparse.Namespace) -> int:
    """``dicom-wrap``: mesh -> Encapsulated STL, image -> Secondary Capture, PDF -> Encapsulated PDF."""
    import numpy as np
    from PIL import Image

    from imaging.dicom_outputs import (
        DicomOutputError,
        read_source_series,
        write_encapsulated_pdf,
        write_encapsulated_stl,
        write_secondary_capture,
    )
    from imaging.mesh_io import MeshIOError, read_mesh_lps

    if not args.path.is_file():
        raise ExportCliError(f"{args.path}: no such file")
    suffix, title = args.path.suffix.lower(), args.title or args.path.stem
    try:
        source = read_source_series(args.source, series_uid=args.series)
        if suffix in (".stl", ".obj", ".ply", ".vtp"):
            mesh, _ = read_mesh_lps(args.path)
            write_encapsulated_stl(mesh, source, args.out, title=title)
            what = f"Encapsulated STL ({mesh.n_faces} triangles)"
        elif suffix == ".pdf":
            write_encapsulated_pdf(args.path, source, args.out, title=title)
            what = "Encapsulated PDF"
        elif suffix in (".png", ".jpg", ".jpeg"):
            with Image.open(args.path) as image:
                pixels = np.asarray(image.convert("RGB"))
            write_secondary_capture(pixels, source, args.out, title=title)
            what = f"Secondary Capture ({pixels.shape[1]}x{pixels.shape[0]})"
        else:
            raise ExportCliError(f"{args.path.name}: use a mesh (.stl .obj .ply .vtp), image (.png .jpg) or .pdf")
    except (DicomOutputError, MeshIOError) as exc:
        raise ExportCliError(str(exc).splitlines()[0]) from exc
    print(f"wrote {args.out}: {what} in study {source.study_instance_uid}")
    return 0


def cmd_dicom_import(args: argparse.Namespace) -> int:
    """``dicom-import``: DICOM SEG or RTSTRUCT -> label map on the source series' grid."""
    from imaging.dicom_outputs import (
        DicomImportError,
        DicomOutputError,
        import_dicom_segmentation,
        read_source_series,
    )
    from imaging.image_io import write_image

    if not args.path.is_file():
        raise ExportCliError(f"{args.path}: no such file")
    try:
        source = read_source_series(args.source, series_uid=args.series)
        imported = import_dicom_segmentation(args.path, source.geometry,
                                             frame_of_reference_uid=source.frame_of_reference_uid)
    except (DicomImportError, DicomOutputError) as exc:
        raise ExportCliError(str(exc).splitlines()[0]) from exc
    write_image(imported.labelmap, args.out)
    for warning in imported.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for segment in imported.segments:
        print(f"  {segment.label_value}: {segment.name}")
    print(f"wrote {args.out}: {len(imported.segments)} segment(s) on the grid of series {source.info.series_uid}")
    return 0


COMMANDS = {"deidentify": cmd_deidentify, "dicom-seg": cmd_dicom_seg, "dicom-wrap": cmd_dicom_wrap,
            "dicom-import": cmd_dicom_import}
"""Subcommand name -> handler, for :func:`app.cli.main.main`'s dispatch table."""
