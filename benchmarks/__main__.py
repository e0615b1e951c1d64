"""``python -m benchmarks [GROUP ...] [--quick] [--reps N]``: our figures beside the peers', measured in one run.

Groups: ``dicom`` (folder -> volume, peak memory, header indexing, index cache, ``surgitwin convert``) and
``meshing`` (DICOM -> bone STL against InVesalius and the raw VTK chain, mesh quality) and ``ai`` (LiteMedSAM
embedding, box latency and propagation; MeshNet on a 256^3 T1, time and peak memory) and ``flow`` (1-D seconds per
cardiac cycle on openBF's models and ADAN56, 0-D against svzerod) and ``tissue`` (soft-tissue steps per second at 5k,
20k and 50k tetrahedra against a naive projective-dynamics step, the cost of a cut, Cook's membrane against
scikit-fem) and ``workstation`` (3-D view frame times with meshes and volume rendering, with and without level of
detail, against plain pyvista; slice-view reslicing of a 512x512x300 volume against vtkImageViewer2) and ``vr``
(both eyes at 2 x 1852x2056 through OpenXR on Monado, with and without level of detail, and the triangles that
fit 11.1 ms) and ``pacs`` (retrieving a study from a real Orthanc by C-GET, C-MOVE and WADO-RS against dcmtk's
getscu).
Results print as a table (path | ours | peer | ratio) and are written to ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks import (
    ai_bench,
    dicom_bench,
    flow_bench,
    meshing_bench,
    pacs_bench,
    tissue_bench,
    vr_bench,
    workstation_bench,
)
from benchmarks.common import Table

GROUPS = {"dicom": dicom_bench.run, "meshing": meshing_bench.run, "ai": ai_bench.run, "flow": flow_bench.run,
          "tissue": tissue_bench.run, "workstation": workstation_bench.run,
          "vr": vr_bench.run, "pacs": pacs_bench.run}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help="groups to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller inputs and fewer repetitions (a smoke test)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per measurement (default 5, quick 3)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "latest.json")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    reps = args.reps or (3 if args.quick else 5)
    table = Table()
    started = time.time()
    for name in args.groups or list(GROUPS):
        print(f"== {name} ({'quick' if args.quick else 'full'}, {reps} repetitions)", flush=True)
        GROUPS[name](table, quick=args.quick, reps=reps)
    print()
    table.print()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "quick": args.quick,
        "reps": reps,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
        "rows": table.rows,
    }
    args.json.write_text(json.dumps(payload, indent=1))
    print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
