"""DICOM folder -> smoothed, decimated bone STL: ``surgitwin segment`` + ``surgitwin mesh`` as whole processes,
against InVesalius 3.1's command line (Debian package ``invesalius``) and the raw VTK filter chain (flying edges,
windowed sinc, quadric decimation) as a script, on the same 512x512x300 phantom folder and threshold; plus the
quality of the meshes (triangles, minimum angles, Hausdorff distance between ours and the VTK chain's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Table, median
from benchmarks.dicom_bench import phantom_folder

_SURGITWIN = Path(sys.executable).with_name("surgitwin")
LOWER, UPPER = 226, 3071  # InVesalius' bone preset, the threshold the shared check uses
SMOOTH_ITERATIONS = 20
KEEP_FRACTION = 0.1  # decimate by 90 %

VTK_CHAIN = f"""
import os, sys
os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")
import SimpleITK as sitk
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D, vtkWindowedSincPolyDataFilter, vtkQuadricDecimation
from vtkmodules.vtkIOGeometry import vtkSTLWriter
reader = sitk.ImageSeriesReader()
reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(sys.argv[1]))
image = reader.Execute()
array = sitk.GetArrayViewFromImage(image)
data = vtkImageData()
data.SetDimensions(*image.GetSize())
data.SetSpacing(image.GetSpacing())
data.SetOrigin(image.GetOrigin())
data.GetPointData().SetScalars(numpy_to_vtk(array.ravel(), deep=False))
surface = vtkFlyingEdges3D()
surface.SetInputData(data)
surface.SetValue(0, {LOWER - 0.5})
smooth = vtkWindowedSincPolyDataFilter()
smooth.SetInputConnection(surface.GetOutputPort())
smooth.SetNumberOfIterations({SMOOTH_ITERATIONS})
smooth.SetPassBand(0.05)
smooth.NormalizeCoordinatesOn()
decimate = vtkQuadricDecimation()
decimate.SetInputConnection(smooth.GetOutputPort())
decimate.SetTargetReduction({1 - KEEP_FRACTION})
writer = vtkSTLWriter()
writer.SetInputConnection(decimate.GetOutputPort())
writer.SetFileName(sys.argv[2])
writer.SetFileTypeToBinary()
writer.Write()
"""


def _timed(command: list[str], cwd: str | None = None, env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=env)
    return time.perf_counter() - start


def _invesalius_command(folder: Path, out: Path) -> tuple[list[str], str, dict] | None:
    if not Path("/usr/share/invesalius/app.py").exists() or not shutil.which("xvfb-run"):
        return None
    env = {**os.environ, "PYTHONPATH": "/usr/lib/invesalius"}
    command = ["xvfb-run", "-a", "/usr/bin/python3", "app.py", "--no-gui", "-i", str(folder),
               "-t", f"{LOWER},{UPPER}", "-e", str(out)]
    return command, "/usr/share/invesalius", env


def _quality(path: Path) -> dict[str, float]:
    import trimesh

    from imaging.mesh import SurfaceMesh
    from imaging.mesh_quality import min_angles_deg

    mesh = trimesh.load(path, force="mesh")
    angles = min_angles_deg(SurfaceMesh(np.asarray(mesh.vertices), np.asarray(mesh.faces)))
    return {
        "triangles": len(mesh.faces),
        "watertight": bool(mesh.is_watertight),
        "min_angle_p5": float(np.percentile(angles, 5)),
        "min_angle_median": float(np.median(angles)),
        "slivers_below_10deg": float((angles < 10).mean()),
    }


def _hausdorff(a: Path, b: Path, *, samples: int = 200_000) -> tuple[float, float]:
    """Symmetric Hausdorff and mean distances (mm) between two surfaces, by dense surface sampling."""
    import trimesh
    from scipy.spatial import cKDTree

    ma, mb = trimesh.load(a, force="mesh"), trimesh.load(b, force="mesh")
    pa = trimesh.sample.sample_surface(ma, samples, seed=1)[0]
    pb = trimesh.sample.sample_surface(mb, samples, seed=2)[0]
    dab = cKDTree(pb).query(pa)[0]
    dba = cKDTree(pa).query(pb)[0]
    return float(max(dab.max(), dba.max())), float((dab.mean() + dba.mean()) / 2)


def run(table: Table, *, quick: bool, reps: int) -> None:
    """Whole-process DICOM -> bone STL times and mesh quality."""
    folder = phantom_folder(quick)
    out = Path(tempfile.mkdtemp(prefix="surgitwin-bench-mesh-"))
    ours_cmds = [
        [str(_SURGITWIN), "segment", str(folder), f"--threshold={LOWER}:{UPPER}", "--out", str(out / "seg.nii.gz")],
        [str(_SURGITWIN), "mesh", str(out / "seg.nii.gz"), "--out", str(out / "ours.stl"),
         "--smooth", str(SMOOTH_ITERATIONS), "--decimate", str(KEEP_FRACTION)],
    ]
    vtk_cmd = [sys.executable, "-c", VTK_CHAIN, str(folder), str(out / "vtk.stl")]
    inv = _invesalius_command(folder, out / "invesalius.stl")
    times: dict[str, list[float]] = {"ours": [], "vtk": [], "invesalius": []}
    runs = max(1, reps if not inv else min(reps, 3))  # InVesalius takes 10-20 s a run
    for _ in range(runs):
        times["ours"].append(sum(_timed(c) for c in ours_cmds))
        times["vtk"].append(_timed(vtk_cmd))
        if inv:
            times["invesalius"].append(_timed(inv[0], cwd=inv[1], env=inv[2]))
        print(f"  ours {times['ours'][-1]:.2f} s, VTK chain {times['vtk'][-1]:.2f} s"
              + (f", InVesalius {times['invesalius'][-1]:.2f} s" if inv else ""), flush=True)
    ours = median(times["ours"])
    if inv:
        table.add("DICOM -> smoothed, decimated bone STL (whole processes)", ours, median(times["invesalius"]),
                  peer_name="InVesalius 3.1 --no-gui", note="goal ratio <= 0.5")
    else:
        table.add("DICOM -> bone STL vs InVesalius", ours, None, note="skipped: apt-get install invesalius xvfb")
    table.add("DICOM -> smoothed, decimated bone STL (whole processes)", ours, median(times["vtk"]),
              peer_name="raw VTK chain (FE + sinc + quadric)", note="goal ratio <= 1.5")
    ours_q, vtk_q = _quality(out / "ours.stl"), _quality(out / "vtk.stl")
    table.add("bone STL triangles", ours_q["triangles"], vtk_q["triangles"], unit="tris", peer_name="VTK chain")
    table.add("bone STL min angle, 5th percentile", ours_q["min_angle_p5"], vtk_q["min_angle_p5"], unit="deg",
              peer_name="VTK chain", higher_is_better=True)
    table.add("bone STL min angle, median", ours_q["min_angle_median"], vtk_q["min_angle_median"], unit="deg",
              peer_name="VTK chain", higher_is_better=True)
    table.add("bone STL triangles under 10 deg (fraction)", ours_q["slivers_below_10deg"],
              vtk_q["slivers_below_10deg"], unit="", peer_name="VTK chain")
    # Fidelity: distance of each decimated mesh to the undecimated smoothed isosurface of the same threshold.
    subprocess.run([str(_SURGITWIN), "mesh", str(out / "seg.nii.gz"), "--out", str(out / "full.stl"),
                    "--smooth", str(SMOOTH_ITERATIONS)], check=True, stdout=subprocess.DEVNULL)
    ours_h, ours_mean = _hausdorff(out / "ours.stl", out / "full.stl")
    vtk_h, vtk_mean = _hausdorff(out / "vtk.stl", out / "full.stl")
    table.add("Hausdorff distance to the undecimated surface", ours_h, vtk_h, unit="mm", peer_name="VTK chain",
              note=f"mean {ours_mean:.3f} mm vs {vtk_mean:.3f} mm")
    table.add("decimated bone STL watertight (1 = yes)", float(ours_q["watertight"]), float(vtk_q["watertight"]),
              unit="", peer_name="VTK chain", higher_is_better=True)
    if inv and (out / "invesalius.stl").exists():
        inv_q = _quality(out / "invesalius.stl")
        table.add("bone STL triangles", ours_q["triangles"], inv_q["triangles"], unit="tris", peer_name="InVesalius")
        table.add("bone STL min angle, median", ours_q["min_angle_median"], inv_q["min_angle_median"], unit="deg",
                  peer_name="InVesalius", higher_is_better=True)
    shutil.rmtree(out, ignore_errors=True)
