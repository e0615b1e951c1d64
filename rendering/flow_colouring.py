"""Blood-flow results on the 3-D vessels: a vessel mesh or centreline tubes coloured by a per-vessel value.

The value (typically the change in mean pressure, scenario minus baseline, in mmHg) is given per centreline point;
a mesh takes the value of its nearest centreline point; NaN (no value, e.g. a clamped vessel) is grey. A diverging
blue-white-red map centred on zero shows falls
in blue and rises in red, with a scalar bar titled by the caller. No Qt here: the caller adds the actors to its
renderer (:class:`FlowOverlay` keeps them together so they can be removed at once).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkLookupTable, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkTubeFilter
from vtkmodules.vtkRenderingAnnotation import vtkScalarBarActor
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

import rendering.vtk_init  # noqa: F401
from imaging.mesh import SurfaceMesh
from rendering.vtk_convert import mesh_to_polydata

__all__ = ["FlowOverlay", "centreline_polydata", "diverging_lut", "mesh_values", "scalar_bar"]


def diverging_lut(max_abs: float, n: int = 256) -> vtkLookupTable:
    """Blue (falls) - white (no change) - red (rises), symmetric about zero over +-``max_abs``."""
    lut = vtkLookupTable()
    lut.SetNumberOfTableValues(n)
    span = max(float(max_abs), 1e-6)
    lut.SetTableRange(-span, span)
    for i in range(n):
        s = 2.0 * i / (n - 1) - 1.0  # -1 .. 1
        # white -> blue (0.15, 0.4, 1) below zero, white -> red (1, 0.15, 0.15) above
        rgb = (1.0 + 0.85 * s, 1.0 + 0.6 * s, 1.0) if s < 0 else (1.0, 1.0 - 0.85 * s, 1.0 - 0.85 * s)
        lut.SetTableValue(i, *rgb, 1.0)
    lut.SetNanColor(0.55, 0.55, 0.55, 1.0)
    lut.Build()
    return lut


def centreline_polydata(paths: list[np.ndarray], values: list[np.ndarray] | list[float],
                        radii: list[np.ndarray] | None = None) -> vtkPolyData:
    """Polylines through ``paths`` (LPS mm) with point scalars ``values`` (one per point or one per path) and, when
    given, a ``radius`` array for tubes."""
    pts, vals, rads, lines = [], [], [], vtkCellArray()
    start = 0
    for k, path in enumerate(paths):
        path = np.asarray(path, dtype=float).reshape(-1, 3)
        v = np.broadcast_to(np.asarray(values[k], dtype=float), (len(path),))
        pts.append(path)
        vals.append(v)
        rads.append(np.broadcast_to(np.asarray(radii[k], dtype=float), (len(path),)) if radii is not None
                    else np.ones(len(path)))
        lines.InsertNextCell(len(path))
        for i in range(len(path)):
            lines.InsertCellPoint(start + i)
        start += len(path)
    poly = vtkPolyData()
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(np.concatenate(pts)), deep=True))
    poly.SetPoints(points)
    poly.SetLines(lines)
    scal = numpy_to_vtk(np.ascontiguousarray(np.concatenate(vals)), deep=True)
    scal.SetName("value")
    poly.GetPointData().SetScalars(scal)
    rad = numpy_to_vtk(np.ascontiguousarray(np.concatenate(rads)), deep=True)
    rad.SetName("radius")
    poly.GetPointData().AddArray(rad)
    return poly


def mesh_values(vertices: np.ndarray, centre_points: np.ndarray, centre_values: np.ndarray) -> np.ndarray:
    """Per-vertex values: the value of the nearest centreline point."""
    _, nearest = cKDTree(np.asarray(centre_points, dtype=float)).query(np.asarray(vertices, dtype=float))
    return np.asarray(centre_values, dtype=float)[nearest]


def scalar_bar(lut: vtkLookupTable, title: str) -> vtkScalarBarActor:
    """A vertical scalar bar at the right edge of the view."""
    bar = vtkScalarBarActor()
    bar.SetLookupTable(lut)
    bar.SetTitle(title)
    bar.SetNumberOfLabels(5)
    bar.SetBarRatio(0.25)
    bar.SetLabelFormat("%+.0f")
    bar.SetUnconstrainedFontSize(True)
    bar.GetTitleTextProperty().SetFontSize(14)
    bar.GetLabelTextProperty().SetFontSize(13)
    for prop in (bar.GetTitleTextProperty(), bar.GetLabelTextProperty()):
        prop.SetColor(1.0, 1.0, 1.0)
        prop.ShadowOn()
        prop.ItalicOff()
    bar.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    bar.GetPositionCoordinate().SetValue(0.78, 0.1)
    bar.SetWidth(0.2)
    bar.SetHeight(0.75)
    return bar


class FlowOverlay:
    """Actors that show per-vessel values in a renderer: a coloured mesh and/or tubes, and a scalar bar."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self.actors: list = []
        self.values: np.ndarray | None = None

    @property
    def shown(self) -> bool:
        """Whether anything is shown."""
        return bool(self.actors)

    def clear(self) -> None:
        """Remove every actor of the overlay."""
        for actor in self.actors:
            self.renderer.RemoveViewProp(actor)
        self.actors = []
        self.values = None

    def show(self, paths: list[np.ndarray], radii: list[np.ndarray], per_vessel: list[float], title: str, *,
             mesh: SurfaceMesh | None = None) -> None:
        """Colour ``mesh`` (or, without one, tubes along ``paths`` with ``radii``) by ``per_vessel`` values."""
        self.clear()
        values = np.asarray(per_vessel, dtype=float)  # NaN: no value (a clamped vessel), drawn grey
        finite = np.abs(values[np.isfinite(values)])
        lut = diverging_lut(float(finite.max()) if finite.size else 1.0)
        line = centreline_polydata(paths, list(values), radii)
        if mesh is not None and mesh.n_faces:
            poly = mesh_to_polydata(mesh)
            centre = np.concatenate([np.asarray(p, dtype=float).reshape(-1, 3) for p in paths])
            per_point = np.concatenate([np.full(len(p), v) for p, v in zip(paths, values, strict=True)])
            scal = numpy_to_vtk(np.ascontiguousarray(mesh_values(mesh.points, centre, per_point)), deep=True)
            scal.SetName("value")
            poly.GetPointData().SetScalars(scal)
            normals = vtkPolyDataNormals()
            normals.SetInputData(poly)
            normals.SplittingOff()
            normals.Update()
            source = normals.GetOutputPort()
        else:
            tubes = vtkTubeFilter()
            tubes.SetInputData(line)
            line.GetPointData().SetActiveScalars("radius")
            tubes.SetVaryRadiusToVaryRadiusByAbsoluteScalar()
            tubes.SetNumberOfSides(16)
            tubes.CappingOn()
            tubes.Update()
            out = tubes.GetOutput()
            out.GetPointData().SetActiveScalars("value")
            source = None
            poly = out
        mapper = vtkPolyDataMapper()
        if source is not None:
            mapper.SetInputConnection(source)
        else:
            mapper.SetInputData(poly)
        mapper.SetLookupTable(lut)
        mapper.SetScalarModeToUsePointFieldData()
        mapper.SelectColorArray("value")
        mapper.SetScalarRange(lut.GetTableRange())
        mapper.ScalarVisibilityOn()
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetInterpolationToPhong()
        actor.GetProperty().SetSpecular(0.2)
        bar = scalar_bar(lut, title)
        for prop in (actor, bar):
            self.renderer.AddViewProp(prop)
        self.actors = [actor, bar]
        self.values = values
