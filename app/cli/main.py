"""The ``surgitwin`` command line: GUI launcher and headless subcommands."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from app.cli.batch_commands import COMMANDS as BATCH_COMMANDS
from app.cli.batch_commands import add_parsers as add_batch_parsers
from app.cli.export_commands import COMMANDS as EXPORT_COMMANDS
from app.cli.export_commands import add_parsers as add_export_parsers
from app.cli.flow_commands import COMMANDS as FLOW_COMMANDS
from app.cli.flow_commands import add_parsers as add_flow_parsers
from app.cli.pacs_commands import COMMANDS as PACS_COMMANDS
from app.cli.pacs_commands import add_parsers as add_pacs_parsers
from app.cli.segment_commands import COMMANDS as SEGMENT_COMMANDS
from app.cli.segment_commands import add_parsers as add_segment_parsers
from app.cli.tissue_commands import COMMANDS as TISSUE_COMMANDS
from app.cli.tissue_commands import add_parsers as add_tissue_parsers
from app.cli.vr_commands import COMMANDS as VR_COMMANDS
from app.cli.vr_commands import add_parsers as add_vr_parsers

__all__ = ["main"]

log = logging.getLogger("surgitwin")


class CliError(Exception):
    """A user error: printed on one line, exit status 2."""


def _version() -> str:
    try:
        return version("surgitwin")
    except PackageNotFoundError:
        return "0+unknown"


def _parse_size(text: str) -> tuple[int, int, int]:
    parts = text.lower().replace("×", "x").split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 256x256x200, got {text!r}") from None
    if len(size) != 3 or min(size) < 16 or max(size) > 1024:
        raise argparse.ArgumentTypeError(
            f"size must be three numbers between 16 and 1024 (like 256x256x200), got {text!r}"
        )
    return size  # type: ignore[return-value]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as the CLI promises
        self.exit(2, f"surgitwin: error: {message} (see `surgitwin --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(prog="surgitwin", description="SurgiTwin: the surgical digital twin. Without a command, "
                     "opens the workstation.")
    parser.add_argument("--version", action="version", version=f"surgitwin {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to the terminal")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("open", help="open a DICOM folder, image file or saved case in the workstation")
    p.add_argument("path", type=Path)

    p = sub.add_parser("demo", help="open the demo case (phantom with bone and vessels segmented and meshed)")
    p.add_argument("--offscreen", metavar="DIR", type=Path,
                   help="render the demo views to PNG files in DIR instead of opening a window")
    p.add_argument("--size", type=_parse_size, default=None, help="phantom grid, e.g. 256x256x200 (default)")

    p = sub.add_parser("phantom", help="write the built-in CT phantom as a DICOM series")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--size", type=_parse_size, default=(256, 256, 200), help="grid size XxYxZ (default 256x256x200)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same series)")

    p = sub.add_parser("info", help="list the image series under PATH with their geometry")
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("convert", help="convert a DICOM series (or image file) to NIfTI, NRRD or MetaImage")
    p.add_argument("path", type=Path, help="DICOM folder or file, or a .nii/.nii.gz/.nrrd/.mha image")
    p.add_argument("out", type=Path, help="output file: .nii.gz, .nii, .nrrd or .mha")
    p.add_argument("--series", metavar="UID", help="series to convert: UID or a unique prefix (see `surgitwin info`)")
    p.add_argument("--tilt-correct", action="store_true",
                   help="correct gantry tilt: shear slices onto an orthogonal grid (as dcm2niix _Tilt_1)")
    p.add_argument("--resample-uniform", action="store_true",
                   help="resample irregular slice spacing (missing slices) onto a uniform grid at the smallest step")
    add_segment_parsers(sub)
    add_export_parsers(sub)
    add_flow_parsers(sub)
    add_tissue_parsers(sub)
    add_vr_parsers(sub)
    add_batch_parsers(sub)
    add_pacs_parsers(sub)
    return parser


def _progress_printer(enabled: bool):
    if not enabled:
        return None
    last = [-1]

    def progress(fraction: float, message: str) -> None:
        percent = int(100 * fraction)
        if percent // 10 != last[0] // 10:
            last[0] = percent
            print(f"  {percent:3d}%  {message}", file=sys.stderr)

    return progress


def _cmd_phantom(args: argparse.Namespace) -> int:
    from imaging.phantom import write_phantom_series

    out = args.out_dir
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError(f"{out} exists and is not an empty folder; choose a new folder for the phantom series")
    write_phantom_series(out, args.size, seed=args.seed, progress=_progress_printer(args.verbose))
    n = len(list(out.glob("*.dcm")))
    print(f"wrote {n} CT slices ({args.size[0]}x{args.size[1]}x{args.size[2]}, seed {args.seed}) to {out}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from imaging.dicom import DicomError, scan_folder

    path: Path = args.path
    if not path.exists():
        raise CliError(f"{path}: no such file or folder")
    try:
        result = scan_folder(path, progress=_progress_printer(args.verbose))
    except DicomError as exc:
        raise CliError(str(exc)) from exc
    series = [s.to_dict() for s in result.series]
    if args.json:
        json.dump({"path": str(path), "series": series, "skipped": len(result.skipped)}, sys.stdout, indent=2)
        print()
        return 0
    if not series:
        raise CliError(f"{path}: no DICOM image series found ({len(result.skipped)} files skipped)")
    for s in series:
        print(f"Series {s['uid']}")
        print(f"  {s.get('modality', '?')}  {s.get('description', '')!s}  ({s['n_files']} files)")
        if s.get("size"):
            print(f"  size      {' x '.join(str(v) for v in s['size'])}")
            print(f"  spacing   {', '.join(f'{v:.6g}' for v in s['spacing'])} mm")
            print(f"  origin    {', '.join(f'{v:.6g}' for v in s['origin'])} mm (LPS)")
            d = s["direction"]
            print(f"  direction [{d[0]:.4g} {d[1]:.4g} {d[2]:.4g}; {d[3]:.4g} {d[4]:.4g} {d[5]:.4g}; "
                  f"{d[6]:.4g} {d[7]:.4g} {d[8]:.4g}]")
        for warning in s.get("warnings", []):
            print(f"  warning:  {warning}")
    if result.skipped:
        print(f"{len(result.skipped)} file(s) skipped (not DICOM images)")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from imaging.convert import ConversionError, convert
    from imaging.dicom.errors import DicomError

    try:
        result = convert(args.path, args.out, series=args.series, tilt_correct=args.tilt_correct,
                         resample_uniform=args.resample_uniform)
    except (ConversionError, DicomError) as exc:
        raise CliError(" ".join(str(exc).split())) from exc
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.skipped:
        print(f"note: {result.skipped} file(s) under {args.path} skipped (not DICOM images; see `surgitwin info`)",
              file=sys.stderr)
    g = result.volume.geometry
    source = f"series {result.series_uid}" if result.series_uid else str(args.path)
    print(f"wrote {result.output}: {source}, size {'x'.join(map(str, g.size_xyz))}, spacing "
          f"{', '.join(f'{v:.6g}' for v in g.spacing)} mm, {result.volume.array.dtype}")
    return 0


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("win32", "darwin")


def _cmd_demo(args: argparse.Namespace) -> int:
    from app.pipelines.demo_case import DEMO_SIZE

    size = args.size or DEMO_SIZE
    out = args.offscreen
    if out is None and not _has_display():
        out = Path("demo-output")
        print("no display found: rendering the demo views to PNG files instead of opening a window")
    if out is not None:
        from app.pipelines.demo_case import build_demo_case
        from app.render_case import render_case_views

        case = build_demo_case(size, progress=_progress_printer(True))
        files = render_case_views(case, out)
        print(f"wrote {len(files)} views of the demo case to {out.resolve()}:")
        for f in files:
            print(f"  {f}")
        return 0
    from app.ui.application import run_gui

    return run_gui(demo_size=size)


def _cmd_open(args: argparse.Namespace) -> int:
    if not args.path.exists():
        raise CliError(f"{args.path}: no such file or folder")
    from app.ui.application import run_gui

    return run_gui(open_path=args.path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``surgitwin`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from imaging.logging_safety import install_phi_filter

    install_phi_filter()
    commands = {"phantom": _cmd_phantom, "info": _cmd_info, "demo": _cmd_demo, "open": _cmd_open,
                "convert": _cmd_convert, **SEGMENT_COMMANDS, **EXPORT_COMMANDS, **FLOW_COMMANDS,
                **TISSUE_COMMANDS, **VR_COMMANDS, **BATCH_COMMANDS,
                **PACS_COMMANDS}
    try:
        if args.command is None:
            from app.ui.application import run_gui

            return run_gui()
        return commands[args.command](args)
    except CliError as exc:
        print(f"surgitwin: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"surgitwin: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("surgitwin: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
