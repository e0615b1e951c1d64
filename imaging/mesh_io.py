"""Surface mesh files: VTP (VTK XML), PLY and STL, always in LPS millimetres unless stated.

STL and PLY files for 3D printing carry no patient metadata: only geometry is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkTriangleFilter
from vtkmodules.vtkIOGeometry import vtkSTLReader, vtkSTLWriter
from vtkmodules.vtkIOPLY import vtkPLYReader, vtkPLYWriter
from vtkmodules.vtkIOXML import vtkXMLPolyDataReader, vtkXMLPolyDataWriter

from imaging.mesh import SurfaceMesh

__all__ = ["MeshIOError", "from_vtk_polydata", "read_mesh", "to_vtk_polydata", "write_mesh"]


class MeshIOError(OSError):
    """A mesh file could not be read or written."""


def to_vtk_polydata(mesh: SurfaceMesh) -> vtkPolyData:
    """Convert to ``vtkPolyData`` (coordinates copied, triangles as cells)."""
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(mesh.points), deep=True))
    n = mesh.n_faces
    connectivity = numpy_to_vtkIdTypeArray(np.ascontiguousarray(mesh.faces.ravel()), deep=True)
    offsets = numpy_to_vtkIdTypeArray(np.arange(0, 3 * n + 1, 3, dtype=np.int64), deep=True)
    cells = vtkCellArray()
    cells.SetData(offsets, connectivity)
    polydata = vtkPolyData()
    polydata.SetPoints(points)
    polydata.SetPolys(cells)
    return polydata


def from_vtk_polydata(polydata: vtkPolyData, metadata: dict | None = None) -> SurfaceMesh:
    """Convert ``vtkPolyData`` to a :class:`SurfaceMesh`, triangulating polygons and dropping lines and vertices."""
    if polydata.GetNumberOfPolys() and polydata.GetPolys().GetMaxCellSize() > 3:
        tri = vtkTriangleFilter()
        tri.SetInputData(polydata)
        tri.PassLinesOff()
        tri.PassVertsOff()
        tri.Update()
        polydata = tri.GetOutput()
    if polydata.GetNumberOfPoints() == 0:
        return SurfaceMesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64), dict(metadata or {}))
    points = vtk_to_numpy(polydata.GetPoints().GetData()).astype(np.float64)
    polys = polydata.GetPolys()
    faces = vtk_to_numpy(polys.GetConnectivityArray()).astype(np.int64).reshape(-1, 3)
    return SurfaceMesh(points, faces, dict(metadata or {}))


def write_mesh(mesh: SurfaceMesh, path: str | Path) -> Path:
    """Write ``mesh`` as ``.vtp``, ``.ply`` or ``.stl`` (binary), chosen by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    writers = {".vtp": vtkXMLPolyDataWriter, ".ply": vtkPLYWriter, ".stl": vtkSTLWriter}
    if suffix not in writers:
        raise MeshIOError(f"{path.name}: unsupported mesh format (use .vtp, .ply or .stl)")
    writer = writers[suffix]()
    writer.SetFileName(str(path))
    writer.SetInputData(to_vtk_polydata(mesh))
    if suffix == ".vtp":
        writer.SetDataModeToAppended()
        writer.SetCompressorTypeToZLib()
    else:
        writer.SetFileTypeToBinary()
    if not writer.Write():
        raise MeshIOError(f"could not write {path}")
    return path


def read_mesh(path: str | Path) -> SurfaceMesh:
    """Read a ``.vtp``, ``.ply`` or ``.stl`` surface."""
    path = Path(path)
    suffix = path.suffix.lower()
    readers = {".vtp": vtkXMLPolyDataReader, ".ply": vtkPLYReader, ".stl": vtkSTLReader}
    if suffix not in readers:
        raise MeshIOError(f"{path.name}: unsupported mesh format (use .vtp, .ply or .stl)")
    if not path.is_file():
        raise MeshIOError(f"{path}: no such file")
    reader = readers[suffix]()
    reader.SetFileName(str(path))
    reader.Update()
    output = reader.GetOutput()
    if output is None or (output.GetNumberOfPoints() == 0 and path.stat().st_size > 200):
        raise MeshIOError(f"{path.name} is not a readable {suffix[1:].upper()} mesh")
    return from_vtk_polydata(output)
