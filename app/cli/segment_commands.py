"""``surgitwin segment`` and ``surgitwin mesh``: threshold segmentation and surface export from the command line.

Wiring into :mod:`app.cli.main`::

    from app.cli.segment_commands import COMMANDS as SEGMENT_COMMANDS, add_parsers as add_segment_parsers
    add_segment_parsers(sub)                     # in build_parser(), after the other subcommands
    # and in main(): commands = {..., **SEGMENT_COMMANDS}

Handlers are ``handler(args) -> int`` (also set as ``func`` on each subparser); user errors are raised as
:class:`SegmentCliError` (a ``ValueError``) or ``OSError`` subclasses with a one-line message.
Runs standalone too: ``python -m app.cli.segment_commands segment ...``.
Only numpy, SimpleITK and VTK filters are imported (no Qt, no rendering), lazily, after the VTK thread backend is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app.cli.standalone import standalone_main

__all__ = [
    "COMMANDS", "SegmentCliError", "add_parsers", "cmd_mesh", "cmd_segment", "main", "parse_seed", "parse_threshold",
]

_SEG_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")
_MESH_SUFFIXES = (".stl", ".obj", ".ply", ".glb", ".3mf")


class SegmentCliError(ValueError):
    """A user error of ``segment`` / ``mesh``: one line on stderr, exit status 2."""


def parse_threshold(text: str) -> tuple[float, float]:
    """``LO:HI`` (e.g. ``-1000:0`` or ``226:3071``) as two floats with LO <= HI."""
    parts = text.split(":")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold must look like LO:HI (e.g. 226:3071), got {text!r}") from None
    if not lo <= hi:
        raise argparse.ArgumentTypeError(f"threshold lower bound {lo:g} is above the upper bound {hi:g}")
    return lo, hi


def parse_seed(text: str) -> tuple[float, float, float]:
    """``X,Y,Z`` in LPS millimetres."""
    try:
        x, y, z = (float(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be X,Y,Z in LPS millimetres, got {text!r}") from None
    return x, y, z


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"decimate takes the fraction of triangles to keep, in (0, 1], got {text!r}")
    return value


def _parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        x0, y0, x1, y1 = (int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"box must be X0,Y0,X1,Y1 in voxel indices, got {text!r}") from None
    return x0, y0, x1, y1


def _cmd_segment_model(args: argparse.Namespace) -> int:
    """``segment --model ...``: LiteMedSAM from a box, or a MeshNet brain model."""
    import time

    import numpy as np

    from imaging.image_io import write_image

    volume = _read_input(args.input)
    t0 = time.perf_counter()
    if args.model == "litemedsam":
        from imaging.ai.litemedsam import LiteMedSAM
        from imaging.ai.propagate import propagate_box

        if args.box is None or args.slice is None:
            raise SegmentCliError("--model litemedsam needs --box X0,Y0,X1,Y1 and --slice K")
        model = LiteMedSAM()
        if args.propagate:
            result = propagate_box(model, volume, args.box, args.slice, args.axis, recipe=args.recipe)
            mask = result.mask
            detail = f"{len(result.slices)} {args.axis} slices {min(result.slices)}..{max(result.slices)}"
        else:
            from imaging.ai.litemedsam import get_slice

            res = model.segment_slice(volume, args.box, args.slice, args.axis, args.recipe)
            mask = np.zeros(volume.array.shape, bool)
            get_slice(mask, args.axis, args.slice)[...] = res.mask
            detail = f"{args.axis} slice {args.slice}, predicted IoU {res.iou_pred:.2f}"
        labels = mask.view(np.uint8) * np.uint8(args.label)
    else:
        from imaging.ai.meshnet import run_meshnet

        result = run_meshnet(volume, args.model)
        labels = result.labels.array
        counts = np.bincount(labels.ravel(), minlength=len(result.names))
        voxel_ml = float(np.prod(volume.spacing)) / 1000.0
        detail = ", ".join(f"{n} {counts[i] * voxel_ml:.1f} mL" for i, n in enumerate(result.names) if i and counts[i])
    out = volume.with_array(labels)
    out.metadata = {"modality": "SEG"}
    write_image(out, args.out)
    n = int(np.count_nonzero(labels))
    print(f"wrote {args.out}: {n} voxels by {args.model} ({detail}) in {time.perf_counter() - t0:.1f} s")
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``segment`` and ``mesh`` on ``subparsers`` (each sets ``func``)."""
    p = subparsers.add_parser("segment", help="threshold an image (DICOM folder or image file) into a label map")
    p.add_argument("input", type=Path, help="DICOM folder or NRRD/NIfTI/MHA image")
    p.add_argument("--out", type=Path, required=True, help="label map to write (.nii.gz, .nrrd or .mha)")
    group = p.add_mutually_exclusive_group(required=False)
    group.add_argument("--preset", help="threshold preset (bone, contrast_vessels, soft_tissue, fat, air, skin)")
    group.add_argument("--threshold", type=parse_threshold, metavar="LO:HI", help="intensity window, inclusive")
    p.add_argument("--seed", type=parse_seed, action="append", default=[], metavar="X,Y,Z",
                   help="LPS mm point; keeps the islands containing the seeds (repeatable)")
    p.add_argument("--largest-island", action="store_true", help="keep only the largest connected island")
    p.add_argument("--min-island-mm3", type=float, default=None, metavar="V", help="drop islands smaller than V mm³")
    p.add_argument("--label", type=int, default=1, help="label value written (default 1)")
    group.add_argument("--model", choices=("litemedsam", "brain-tissue", "brain-subcortical", "brain-mask"),
                       help="AI model instead of a threshold (models from $SURGITWIN_MODELS or ../shared/data/models)")
    p.add_argument("--box", type=_parse_box, metavar="X0,Y0,X1,Y1",
                   help="litemedsam box on the --slice, inclusive voxel indices of the 2-D slice as numpy shows it: "
                        "X = column, Y = row; axial rows/columns = y/x, coronal = z/x, sagittal = z/y")
    p.add_argument("--slice", type=int, default=None, metavar="K", help="litemedsam slice index along --axis")
    p.add_argument("--axis", choices=("axial", "coronal", "sagittal"), default="axial",
                   help="litemedsam slice axis (axial = array[K], coronal = array[:, K], sagittal = array[:, :, K])")
    p.add_argument("--propagate", action="store_true", help="litemedsam: propagate through neighbouring slices")
    p.add_argument("--recipe", choices=("auto", "ct", "nonct"), default="auto",
                   help="litemedsam intensity recipe (auto: CT window when the modality is CT, else percentiles)")
    p.set_defaults(func=cmd_segment)

    p = subparsers.add_parser("mesh", help="make a surface mesh of a label map segment")
    p.add_argument("segmentation", type=Path, help="label map (.nii.gz, .nrrd, .mha)")
    p.add_argument("--out", type=Path, required=True, help="mesh to write (.stl, .obj, .ply, .glb, .3mf)")
    p.add_argument("--label", type=int, default=None,
                   help="label value to mesh (default: every non-zero label; one object each where the format can)")
    p.add_argument("--smooth", type=int, default=20, metavar="N", help="windowed-sinc iterations (0 = none)")
    p.add_argument("--decimate", type=_fraction, default=None, metavar="FRACTION",
                   help="keep this fraction of the triangles")
    p.add_argument("--ras", action="store_true", help="write RAS coordinates (x, y negated) instead of LPS")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=cmd_mesh)


def _setup_vtk() -> None:
    os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")


def _suffix_ok(path: Path, suffixes: tuple[str, ...], what: str) -> None:
    if not path.name.lower().endswith(suffixes):
        raise SegmentCliError(f"{path.name}: unsupported {what} format (use {', '.join(suffixes)})")


def _read_input(path: Path):
    if not path.exists():
        raise SegmentCliError(f"{path}: no such file or folder")
    if path.is_dir():
        from imaging.dicom import DicomError, read_dicom_volume

        try:
            return read_dicom_volume(path)
        except DicomError as exc:
            raise SegmentCliError(str(exc).splitlines()[0]) from exc
    from imaging.image_io import read_image

    return read_image(path)


def cmd_segment(args: argparse.Namespace) -> int:
    """Threshold, optional island selection, write the label map; prints a one-line summary."""
    import numpy as np

    from imaging.image_io import write_image
    from imaging.segmentation import keep_islands_with_seeds, keep_largest_island, remove_small_islands
    from imaging.segmentation.threshold import load_threshold_presets

    _suffix_ok(args.out, _SEG_SUFFIXES, "label map")
    if not 1 <= args.label <= 255:
        raise SegmentCliError(f"--label must be 1..255, got {args.label}")
    if args.min_island_mm3 is not None and not args.min_island_mm3 >= 0:
        raise SegmentCliError(f"--min-island-mm3 must be >= 0, got {args.min_island_mm3}")
    if getattr(args, "model", None):
        return _cmd_segment_model(args)
    if args.preset is None and args.threshold is None:
        raise SegmentCliError("one of the arguments --preset --threshold --model is required")
    if args.preset is not None:
        presets = load_threshold_presets()
        if args.preset not in presets:
            raise SegmentCliError(f"unknown preset {args.preset!r} (choose from {', '.join(sorted(presets))})")
        preset = presets[args.preset]
        lower, upper = preset.lower, preset.upper
        largest = args.largest_island or preset.keep_largest == 1
    else:
        lower, upper = args.threshold
        largest = args.largest_island
    volume = _read_input(args.input)
    array = volume.array
    mask = (array >= lower) & (array <= upper)
    geometry = volume.geometry
    if args.seed:
        mask = keep_islands_with_seeds(mask, geometry, args.seed)
    if largest and mask.any():
        mask = keep_largest_island(mask)
    if args.min_island_mm3:
        mask = remove_small_islands(mask, geometry, args.min_island_mm3)
    labels = mask.view(np.uint8) * np.uint8(args.label) if args.label != 1 else mask.view(np.uint8)
    out = volume.with_array(labels)
    out.metadata = {"modality": "SEG"}
    write_image(out, args.out)
    n = int(np.count_nonzero(mask))
    ml = n * float(np.prod(geometry.spacing)) / 1000.0
    print(f"wrote {args.out}: {n} voxels ({ml:.2f} mL) in [{lower:g}, {upper:g}]")
    return 0


def cmd_mesh(args: argparse.Namespace) -> int:
    """Mesh one label (or each label), smooth, decimate, export; prints triangles, volume, area, watertight."""
    _setup_vtk()
    import numpy as np

    from imaging.image_io import read_image
    from imaging.mesh_io import NamedMesh, write_meshes
    from imaging.mesh_quality import edge_counts
    from imaging.meshing import decimate_mesh, mesh_from_mask
    from imaging.segmentation.terminology import load_terminology

    _suffix_ok(args.out, _MESH_SUFFIXES, "mesh")
    if args.smooth < 0:
        raise SegmentCliError(f"--smooth must be >= 0, got {args.smooth}")
    if not args.segmentation.is_file():
        raise SegmentCliError(f"{args.segmentation}: no such file")
    seg = read_image(args.segmentation)
    if not np.issubdtype(seg.array.dtype, np.integer):
        raise SegmentCliError(f"{args.segmentation.name} holds {seg.array.dtype} values, not a label map")
    array, geometry = seg.array, seg.geometry
    multi = args.out.suffix.lower() in (".obj", ".glb", ".3mf")
    if args.label is not None:
        if not np.any(array == args.label):
            raise SegmentCliError(f"label {args.label} is not in {args.segmentation.name}")
        groups = [(args.label, array == args.label)]
    else:
        present = [int(v) for v in np.unique(array) if v]
        if not present:
            raise SegmentCliError(f"{args.segmentation.name} is empty: no non-zero label to mesh")
        groups = [(v, array == v) for v in present] if multi and len(present) > 1 else [(None, array != 0)]
    palette = list(load_terminology().values())
    items, summary = [], []
    for value, mask in groups:
        mesh = mesh_from_mask(mask, geometry, smoothing_iterations=args.smooth)
        if args.decimate is not None and args.decimate < 1:
            mesh = decimate_mesh(mesh, fraction=args.decimate)
        _, counts = edge_counts(mesh.faces)
        name = "segment" if value is None else f"label_{value}"
        color = palette[1].color if value is None else palette[(value * 7) % len(palette)].color
        items.append(NamedMesh(mesh, name, color))
        summary.append({
            "label": value, "triangles": mesh.n_faces, "volume_ml": round(mesh.volume_ml(), 4),
            "area_mm2": round(mesh.area_mm2(), 2), "watertight": bool(mesh.n_faces and np.all(counts == 2)),
        })
    write_meshes(items, args.out, coordinates="RAS" if args.ras else "LPS")
    if args.json:
        json.dump({"out": str(args.out), "coordinates": "RAS" if args.ras else "LPS", "units": "mm",
                   "meshes": summary}, sys.stdout, indent=2)
        print()
        return 0
    for s in summary:
        which = "all labels" if s["label"] is None else f"label {s['label']}"
        print(f"{which}: {s['triangles']} triangles, volume {s['volume_ml']:.2f} mL, area {s['area_mm2']:.0f} mm², "
              f"watertight {'yes' if s['watertight'] else 'no'}")
    print(f"wrote {args.out} ({'RAS' if args.ras else 'LPS'} millimetres)")
    return 0


COMMANDS = {"segment": cmd_segment, "mesh": cmd_mesh}
"""Subcommand name -> handler, for :func:`app.cli.main.main`'s dispatch table."""


def main(argv: list[str] | None = None) -> int:
    """Standalone entry: ``python -m app.cli.segment_commands {segment,mesh} ...``."""
    return standalone_main(add_parsers, argv)


if __name__ == "__main__":
    sys.exit(main())
