"""``surgitwin flow``: blood flow through a network model, waveforms written as CSV; scenarios; calibration.

A ``.yaml`` model is openBF's (1-D): ``<vessel>_<P|Q|A|u>.csv`` as before. A ``.json`` model is svZeroDSolver's
(0-D): ``<vessel>_0d.csv`` (t, pressure_in, pressure_out, flow_in, flow_out) plus ``result.json`` in
svZeroDSolver's own result layout. ``--scenario KIND:VESSEL...`` (repeatable, applied in order) runs baseline and
scenario and writes ``comparison.csv``/``comparison.json`` plus both runs' waveforms under ``baseline/`` and
``scenario/``. ``--systolic/--diastolic/--heart-rate/--cardiac-output`` (or ``--measurements CSV``) calibrate the
outlets and inflow first and write ``calibration.json``.

``surgitwin vessels SEG --out DIR [--label N | --below T]``: centrelines with radii (``centrelines.csv``) and the
vessel network (``network.json``: segments, junctions, inlet, outlets, openBF vessel entries) of a segmentation.

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

from app.cli.standalone import positive_float, positive_int, run_subcommands

__all__ = ["COMMANDS", "add_parsers", "cmd_flow", "cmd_vessels", "main"]


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``flow`` on ``subparsers`` (sets ``func``)."""
    p = subparsers.add_parser("flow", help="blood flow in an openBF (1-D, .yaml) or svZeroDSolver (0-D, .json) "
                                           "model; CSV waveforms, scenarios, calibration")
    p.add_argument("model", type=Path, help="openBF model (.yaml, inlet .dat beside it) or svZeroDSolver input (.json)")
    p.add_argument("--out", type=Path, required=True, help="results folder")
    p.add_argument("--cycles", type=positive_int, default=None,
                   help="most cardiac cycles to run (default: the model's; 1-D stops earlier when converged)")
    p.add_argument("--scenario", action="append", default=[], metavar="KIND:VESSEL[:...]",
                   help="clamp:V | stenosis:V:PERCENT[:LENGTH_MM] | stent:V[:STIFFNESS] | "
                        "bypass:FROM:TO[:RADIUS_MM[:LENGTH_MM]] | resect:V (repeatable)")
    p.add_argument("--systolic", type=positive_float, help="measured systolic pressure (mmHg): calibrate")
    p.add_argument("--diastolic", type=positive_float, help="measured diastolic pressure (mmHg)")
    p.add_argument("--heart-rate", type=positive_float, help="measured heart rate (beats/min)")
    p.add_argument("--cardiac-output", type=positive_float, help="measured cardiac output (L/min)")
    p.add_argument("--measurements", type=Path, help="CSV of readings (systolic, diastolic, heart_rate, "
                                                      "cardiac_output columns; medians are used): calibrate")
    p.add_argument("--backend", choices=("auto", "numba", "numpy"), default="auto",
                   help="1-D solver kernel (default: numba when installed)")
    p.set_defaults(func=cmd_flow)
    v = subparsers.add_parser("vessels", help="centrelines with radii and the vessel network of a segmentation")
    v.add_argument("segmentation", type=Path, help="label map or level set (.nii.gz, .nrrd, .mha)")
    v.add_argument("--out", type=Path, required=True, help="folder: centrelines.csv, network.json")
    pick = v.add_mutually_exclusive_group()
    pick.add_argument("--label", type=positive_int, help="the vessel label (default: every non-zero voxel)")
    pick.add_argument("--below", type=float, help="voxels <= this value are vessel (level sets: --below 0)")
    v.add_argument("--min-branch-mm", type=positive_float, default=15.0, help="shortest branch kept (mm)")
    v.set_defaults(func=cmd_vessels)


def cmd_vessels(args: argparse.Namespace) -> int:
    """Centrelines (LPS mm, radius mm per point) and the network graph (segments, junctions, inlet, outlets)."""
    import json

    import numpy as np

    from imaging.image_io import ImageIOError, read_image
    from imaging.vessels.centreline import extract_centrelines
    from imaging.vessels.network import network_from_centrelines

    try:
        volume = read_image(args.segmentation)
        a = volume.array
        mask = a <= args.below if args.below is not None else (a == args.label if args.label else a != 0)
        c = extract_centrelines(mask, volume.spacing, volume.origin, volume.direction,
                                min_branch_mm=args.min_branch_mm)
        net = network_from_centrelines(c)
        args.out.mkdir(parents=True, exist_ok=True)
        rows = [(b, *p, r) for b, (pts, rad) in enumerate(zip(c.paths, c.radii, strict=True))
                for p, r in zip(pts, rad, strict=True)]
        np.savetxt(args.out / "centrelines.csv", np.array(rows), delimiter=",", comments="",
                   header="branch,x_mm,y_mm,z_mm,radius_mm", fmt=["%d", "%.4f", "%.4f", "%.4f", "%.4f"])
        doc = {"frame": "LPS mm", "inlet": net.inlet, "outlets": net.outlets, "junctions": net.junctions,
               "nodes": {str(k): v.tolist() for k, v in net.nodes.items()},
               "segments": [{"start": sg.start, "end": sg.end, "length_mm": sg.length_mm,
                             "median_radius_mm": float(np.median(sg.radii))} for sg in net.segments],
               "openbf_network": net.to_openbf()}
        (args.out / "network.json").write_text(json.dumps(doc, indent=1))
    except (ImageIOError, ValueError, OSError) as exc:
        print(f"surgitwin vessels: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.segmentation.name}: {len(net.segments)} segments, {len(net.junctions)} junctions, "
          f"{len(net.outlets)} outlets; centrelines.csv and network.json in {args.out}")
    return 0


def _measurements(args: argparse.Namespace):
    from simulation.flow import FlowModelError
    from simulation.flow.personalise import Measurements, read_measurements_csv

    if args.measurements is not None:
        return read_measurements_csv(args.measurements)
    if args.systolic is None and args.diastolic is None:
        if args.heart_rate is not None or args.cardiac_output is not None:
            raise FlowModelError("calibration needs --systolic and --diastolic too")
        return None
    if args.systolic is None or args.diastolic is None:
        raise FlowModelError("calibration needs both --systolic and --diastolic")
    return Measurements(args.systolic, args.diastolic, args.heart_rate, args.cardiac_output)


def _write_result(result, out: Path) -> int:
    """Waveform files of a 1-D (SimulationResult) or 0-D (ZeroDResult) run; returns how many were written."""
    from simulation.flow import write_waveforms
    from simulation.flow.results import write_zerod_result

    if hasattr(result, "waveforms"):
        return len(write_waveforms(result, out))
    return len(write_zerod_result(result, out))


def cmd_flow(args: argparse.Namespace) -> int:
    """Run the model (after calibration, with scenarios if asked) and write waveforms / comparisons."""
    import json
    import os

    from simulation.flow import FlowModelError
    from simulation.flow.compare import load_model, run_any, run_scenario
    from simulation.flow.scenarios import parse_scenario

    os.environ["SURGITWIN_FLOW_BACKEND"] = args.backend
    try:
        model = load_model(args.model)
        scenarios = [parse_scenario(s) for s in args.scenario]
        meas = _measurements(args)
        notes = []
        if meas is not None:
            from simulation.flow.personalise import calibrate

            cal = calibrate(model, meas, cycles=args.cycles)
            model = cal.model
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "calibration.json").write_text(json.dumps(cal.as_dict(), indent=1))
            res = ", ".join(f"{k} {v:+.2f}" for k, v in cal.residual.items())
            notes.append(f"calibrated in {cal.iterations} runs: R x {cal.resistance_scale:.3f}, "
                         f"C x {cal.compliance_scale:.3f}, inflow x {cal.inflow_scale:.3f}, "
                         f"period {cal.period_s:.3f} s; residual {res}")
        if scenarios:
            comp = run_scenario(model, scenarios, cycles=args.cycles)
            written = len(comp.write(args.out))
            written += _write_result(comp.baseline_result, args.out / "baseline")
            written += _write_result(comp.scenario_result, args.out / "scenario")
            result = comp.scenario_result
        else:
            result = run_any(model, args.cycles)
            written = _write_result(result, args.out)
    except (FlowModelError, OSError) as exc:
        print(f"surgitwin flow: error: {exc}", file=sys.stderr)
        return 2
    for line in notes:
        print(line)
    nv = len(result.waveforms) if hasattr(result, "waveforms") else len(result.names)
    if hasattr(result, "converged"):
        state = "converged" if result.converged else "not converged"
        print(f"{args.model.name}: {nv} vessels, {result.cycles_run} cycles ({state}), "
              f"{result.steps} steps in {result.wall_s:.1f} s; {written} files in {args.out}")
    else:
        print(f"{args.model.name}: 0-D, {nv} vessels, {result.cycles_run} cycles, {result.steps} steps in "
              f"{result.wall_s:.2f} s; {written} files in {args.out}")
    return 0


COMMANDS = {"flow": cmd_flow, "vessels": cmd_vessels}


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (``python -m app.cli.flow_commands flow MODEL.yaml --out DIR``)."""
    return run_subcommands(add_parsers, argv)


if __name__ == "__main__":
    sys.exit(main())
