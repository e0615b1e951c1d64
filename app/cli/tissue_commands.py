"""``surgitwin tissue``: soft-tissue simulation of one organ (fix, pull, cut), written as a deformed surface + JSON.

Wiring into :mod:`app.cli.main`::

    from app.cli.tissue_commands import COMMANDS as TISSUE_COMMANDS, add_parsers as add_tissue_parsers
    add_tissue_parsers(sub)                      # in build_parser(), after the other subcommands
    # and in main(): commands = {..., **TISSUE_COMMANDS}

Handler ``cmd_tissue(args) -> int``; user errors (missing or open mesh, unknown material, selections that select
nothing, impossible parameters) print one line on stderr and return exit status 2.  Runs standalone too:
``python -m app.cli.tissue_commands tissue MESH --out DIR ...``.

Node selections (``--fix``, the left side of ``--pull``), in mm in the mesh's (LPS) frame: ``z<10%`` (lowest tenth of
the bounding box along z), ``x>120``, ``box:X0,Y0,Z0,X1,Y1,Z1``, ``sphere:X,Y,Z,R``, ``nearest:X,Y,Z``.
``--pull SEL=DX,DY,DZ`` moves the selected nodes by that displacement (mm), ramped over the first half of the steps
and then held (a hard grasp).  ``--cut X,Y,Z/NX,NY,NZ`` cuts along a plane after the steps and runs the same number
of steps again; ``--blade A:B/A:B/...`` instead cuts where a blade edge swept, given by the two ends ``A`` and ``B``
(``X,Y,Z`` each) of its edge at two or more successive positions (an incision may stop inside the organ).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from app.cli.standalone import positive_float, positive_int, run_subcommands

__all__ = ["COMMANDS", "add_parsers", "cmd_tissue", "main"]

_SURFACE_SUFFIXES = (".stl", ".obj", ".ply", ".vtp")
_IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
_OUT_SUFFIXES = (".stl", ".obj", ".ply", ".vtp")


class TissueCliError(ValueError):
    """A user error, reported as one line on stderr."""


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``tissue`` on ``subparsers`` (sets ``func``)."""
    p = subparsers.add_parser("tissue", help="soft-tissue simulation of an organ: fix, pull, cut; deformed surface out")
    p.add_argument("mesh", type=Path,
                   help="watertight surface (.stl/.obj/.ply/.vtp, LPS mm) or a label map with --label")
    p.add_argument("--out", type=Path, required=True, help="results folder: deformed.stl and summary.json")
    p.add_argument("--label", type=int, default=None, help="label to simulate when MESH is a label map")
    p.add_argument("--material", default="liver", help="liver, kidney, brain, muscle, fat or vessel_wall")
    p.add_argument("--young", type=positive_float, default=None, help="override Young's modulus (Pa)")
    p.add_argument("--poisson", type=float, default=None, help="override Poisson's ratio (< 0.5)")
    p.add_argument("--fix", action="append", default=[], metavar="SEL", help="attached nodes (repeatable)")
    p.add_argument("--pull", action="append", default=[], metavar="SEL=DX,DY,DZ",
                   help="displace the selected nodes by DX,DY,DZ mm (repeatable)")
    p.add_argument("--gravity", default="0,0,0", metavar="GX,GY,GZ", help="gravity in m/s² (LPS; supine: 0,9.81,0)")
    cut_group = p.add_mutually_exclusive_group()
    cut_group.add_argument("--cut", default=None, metavar="X,Y,Z/NX,NY,NZ", help="cut along this plane after the steps")
    cut_group.add_argument("--blade", default=None, metavar="A:B/A:B/...",
                           help="cut where a blade edge swept: its two ends (X,Y,Z:X,Y,Z) at successive positions")
    p.add_argument("--steps", type=positive_int, default=60, help="time steps (default 60)")
    p.add_argument("--dt", type=positive_float, default=1.0 / 60.0, help="time step in s (default 1/60)")
    p.add_argument("--iterations", type=positive_int, default=4, help="most solver iterations per step (default 4)")
    p.add_argument("--tets", type=positive_int, default=5000, help="target number of tetrahedra (default 5000)")
    p.add_argument("--format", default=".stl", choices=_OUT_SUFFIXES, help="deformed surface format")
    p.set_defaults(func=cmd_tissue)


def _load(args: argparse.Namespace):
    from imaging.mesh import SurfaceMesh
    from simulation.tissue import mesh_label, tetrahedralize

    path: Path = args.mesh
    name = path.name.lower()
    if not path.is_file():
        raise TissueCliError(f"{path}: no such file")
    if name.endswith(_IMAGE_SUFFIXES):
        from imaging.image_io import read_image

        if args.label is None:
            raise TissueCliError(f"{path.name} is an image: give the --label to simulate")
        seg = read_image(path)
        return mesh_label(seg.array, seg.geometry, args.label, target_tets=args.tets)
    if not name.endswith(_SURFACE_SUFFIXES):
        raise TissueCliError(f"{path.name}: use a surface ({', '.join(_SURFACE_SUFFIXES)}) or a label map")
    from imaging.mesh_io import read_mesh_lps

    surface, _ = read_mesh_lps(path)
    if surface.n_faces == 0:
        raise TissueCliError(f"{path.name} holds no triangles")
    surface = SurfaceMesh(surface.points, surface.faces, surface.metadata)
    coarse = surface.n_faces > args.tets // 4
    return tetrahedralize(surface, target_tets=args.tets, coarse=coarse), surface


def _parse_pull(text: str) -> tuple[str, object]:
    from simulation.tissue import parse_vector

    if "=" not in text:
        raise TissueCliError(f"--pull needs SELECTION=DX,DY,DZ, got {text!r}")
    selection, vector = text.rsplit("=", 1)
    return selection, parse_vector(vector, 3, "--pull displacement")


def _parse_blade(text: str):
    """``A:B/A:B/...`` (each end ``X,Y,Z`` in mm) as the blade edge's start and end points over time."""
    import numpy as np

    from simulation.tissue import parse_vector

    positions = [p for p in text.split("/") if p.strip()]
    if len(positions) < 2 or any(p.count(":") != 1 for p in positions):
        raise TissueCliError(f"--blade needs two or more edge positions X,Y,Z:X,Y,Z separated by '/', got {text!r}")
    ends = [tuple(parse_vector(part, 3, "--blade point") for part in p.split(":")) for p in positions]
    return np.array([a for a, _ in ends]), np.array([b for _, b in ends])


def _run(args: argparse.Namespace) -> dict:
    import numpy as np

    from imaging.mesh_io import write_mesh
    from simulation.tissue import TissueSimulation, material, parse_vector, quality_report, select_nodes

    overrides = {k: v for k, v in (("young_pa", args.young), ("poisson", args.poisson)) if v is not None}
    mat = material(args.material, **overrides)
    gravity = parse_vector(args.gravity, 3, "--gravity")
    pulls = [_parse_pull(p) for p in args.pull]
    cut = None
    if args.cut:
        if "/" not in args.cut:
            raise TissueCliError(f"--cut needs X,Y,Z/NX,NY,NZ, got {args.cut!r}")
        point, normal = args.cut.split("/", 1)
        cut = (parse_vector(point, 3, "--cut point"), parse_vector(normal, 3, "--cut normal"))
    blade = _parse_blade(args.blade) if args.blade else None
    started = time.perf_counter()
    mesh, display = _load(args)
    meshed_s = time.perf_counter() - started
    fixed = np.zeros(mesh.n_points, bool)
    for spec in args.fix:
        fixed |= select_nodes(spec, mesh.points)
    pulled = [(select_nodes(sel, mesh.points), vec) for sel, vec in pulls]
    for mask, _ in pulled:
        if (mask & fixed).any():
            raise TissueCliError("a --pull selection overlaps a --fix selection")
    if not fixed.any() and not pulled:
        print("surgitwin tissue: warning: nothing fixed or pulled; the organ moves freely", file=sys.stderr)
    sim = TissueSimulation(mesh, mat, fixed=fixed | _any(pulled, mesh.n_points), display=display, dt=args.dt,
                           iterations=args.iterations, gravity=gravity)
    solver = sim.solver
    ramp = max(1, args.steps // 2)
    t0 = time.perf_counter()
    for k in range(1, args.steps + 1):
        for mask, vec in pulled:
            solver.move_fixed(mask, mesh.points[mask] + vec * min(k, ramp) / ramp)
        sim.step()
    step_s = time.perf_counter() - t0
    cut_report = None
    if cut is not None or blade is not None:
        report = sim.cut(*cut) if cut is not None else sim.cut_swept(*blade)
        sim.step(args.steps)
        cut_report = {"split_tets": report.split_tets, "opened_faces": report.opened_faces,
                      "part_volumes_mm3": list(report.part_volumes_mm3),
                      "volume_before_mm3": report.volume_before_mm3,
                      "resected_volume_mm3": report.resected_volume_mm3}
    args.out.mkdir(parents=True, exist_ok=True)
    shown = sim.display_surface() if cut_report is None else sim.surface()  # after a cut: show the cut faces
    surface_path = write_mesh(shown, args.out / f"deformed{args.format}")
    disp = np.linalg.norm(sim.positions_mm - (mesh.points if cut_report is None else sim.mesh.points), axis=1)
    summary = {
        "input": str(args.mesh),
        "material": {"name": mat.name, "young_pa": mat.young_pa, "poisson": mat.poisson,
                     "density_kg_m3": mat.density_kg_m3, "damping_per_s": mat.damping_per_s},
        "mesh": quality_report(mesh).as_dict(),
        "fixed_nodes": int(fixed.sum()),
        "pulled_nodes": [int(mask.sum()) for mask, _ in pulled],
        "steps": args.steps,
        "dt_s": args.dt,
        "iterations": args.iterations,
        "meshing_s": meshed_s,
        "simulation_s": step_s,
        "steps_per_s": args.steps / step_s if step_s > 0 else None,
        "max_displacement_mm": float(disp.max()),
        "volume_change": sim.volume_mm3() / sim.mesh.volume() - 1.0,
        "kinetic_energy_j": solver.kinetic_energy(),
        "cut": cut_report,
        "surface": str(surface_path),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _any(pulled: list, n: int):
    import numpy as np

    mask = np.zeros(n, bool)
    for m, _ in pulled:
        mask |= m
    return mask


def cmd_tissue(args: argparse.Namespace) -> int:
    """Mesh, simulate, optionally cut; write ``deformed.*`` and ``summary.json`` under ``--out``."""
    from imaging.image_io import ImageIOError
    from imaging.mesh_io import MeshIOError

    try:
        summary = _run(args)
    except (ValueError, MeshIOError, ImageIOError, OSError) as exc:  # TissueInputError is a ValueError
        print(f"surgitwin tissue: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.mesh.name}: {summary['mesh']['n_tets']} tetrahedra, {summary['steps']} steps at "
          f"{summary['steps_per_s']:.0f} steps/s, max displacement {summary['max_displacement_mm']:.1f} mm, "
          f"volume change {100 * summary['volume_change']:+.2f} %; written to {args.out}")
    return 0


COMMANDS = {"tissue": cmd_tissue}


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (``python -m app.cli.tissue_commands tissue MESH --out DIR ...``)."""
    return run_subcommands(add_parsers, argv)


if __name__ == "__main__":
    sys.exit(main())
