"""Markups drawn in a renderer: point lists with labels, polylines (angles, closed curves), surfaces, tubes.

One :class:`MarkupLayer` per view. In a 3-D view everything is drawn as it is. In a slice view (``slice_view``
given) points and polylines are drawn only while the slice passes within half a slice of them (a measurement belongs
to the slice it was made on, as in 2-D viewers) and surfaces are drawn as their intersection with the slice plane,
updated whenever the camera (hence the slice) moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPlane, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkCutter, vtkTubeFilter
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer, vtkTextActor

import rendering.vtk_init  # noqa: F401  (registers the OpenGL and font back ends)
from imaging.mesh import SurfaceMesh
from rendering.vtk_convert import mesh_to_polydata

__all__ = ["MARKUP_COLOURS", "MarkupLayer", "polyline_polydata"]

RGB = tuple[float, float, float]
MARKUP_COLOURS: dict[str, RGB] = {
    "angle": (1.0, 0.85, 0.2),
    "point_list": (1.0, 0.35, 0.35),
    "closed_curve": (0.35, 0.8, 1.0),
    "resection": (1.0, 0.55, 0.1),
    "margin": (0.95, 0.2, 0.9),
    "trajectory": (0.3, 1.0, 0.45),
    "collision": (1.0, 0.15, 0.15),
    "drawing": (1.0, 1.0, 1.0),
}


def polyline_polydata(points: npt.ArrayLike, *, closed: bool = False, vertices: bool = False,
                      lines: bool = True) -> vtkPolyData:
    """A polyline (closed or not) through ``points``, optionally with a vertex cell per point (or only those)."""
    pts = np.asarray(points, float).reshape(-1, 3)
    poly = vtkPolyData()
    vtk_points = vtkPoints()
    vtk_points.SetData(numpy_to_vtk(np.ascontiguousarray(pts), deep=True))
    poly.SetPoints(vtk_points)
    n = len(pts)
    if lines and n >= 2:
        cells = vtkCellArray()
        ids = list(range(n)) + ([0] if closed and n > 2 else [])
        cells.InsertNextCell(len(ids))
        for i in ids:
            cells.InsertCellPoint(i)
        poly.SetLines(cells)
    if vertices and n:
        verts = vtkCellArray()
        for i in range(n):
            verts.InsertNextCell(1)
            verts.InsertCellPoint(i)
        poly.SetVerts(verts)
    return poly


def flat_actor(poly_or_port: Any, colour: RGB, *, width: float = 2.0, point_size: float = 0.0,
               opacity: float = 1.0, lighting: bool = False) -> vtkActor:
    """An unpickable actor drawing ``poly_or_port`` (a ``vtkPolyData`` or an output port) in one colour, unlit
    unless ``lighting``: lines ``width`` pixels wide, points as spheres of ``point_size`` pixels when given."""
    mapper = vtkPolyDataMapper()
    if isinstance(poly_or_port, vtkPolyData):
        mapper.SetInputData(poly_or_port)
    else:
        mapper.SetInputConnection(poly_or_port)
    actor = vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetColor(*colour)
    prop.SetLineWidth(width)
    prop.SetOpacity(opacity)
    if point_size:
        prop.SetPointSize(point_size)
        prop.SetRenderPointsAsSpheres(True)
    if not lighting:
        prop.LightingOff()
    actor.PickableOff()
    return actor


def _text(label: str, colour: RGB, size: int = 14) -> vtkTextActor:
    text = vtkTextActor()
    text.SetInput(label)
    text.GetTextProperty().SetColor(*colour)
    text.GetTextProperty().SetFontSize(size)
    text.GetTextProperty().ShadowOn()
    text.GetPositionCoordinate().SetCoordinateSystemToWorld()
    text.PickableOff()
    return text


@dataclass
class _Item:
    kind: str
    points: np.ndarray
    actors: list[vtkActor] = field(default_factory=list)
    texts: list[tuple[vtkTextActor, np.ndarray]] = field(default_factory=list)
    cutter: vtkCutter | None = None
    closed: bool = False
    colour: RGB = (1.0, 1.0, 1.0)
    labels: list[str] = field(default_factory=list)


class MarkupLayer:
    """Markups of one view.

    Parameters
    ----------
    renderer : vtkRenderer
        Where to draw.
    slice_view : rendering.slice_view.SliceView, optional
        Makes this a slice layer: items are shown on the slices they belong to, surfaces as cut lines.
    """

    def __init__(self, renderer: vtkRenderer, slice_view: Any = None) -> None:
        self.renderer = renderer
        self.slice_view = slice_view
        self._items: dict[str, _Item] = {}
        self._plane = vtkPlane()
        self._camera = None
        self._observer: int | None = None
        if slice_view is not None:
            self._watch_camera()

    # --- slice following ----------------------------------------------------------------------------------------
    def _watch_camera(self) -> None:
        camera = self.renderer.GetActiveCamera()
        if camera is self._camera:
            return
        if self._camera is not None and self._observer is not None:
            self._camera.RemoveObserver(self._observer)
        self._camera = camera
        self._observer = camera.AddObserver("ModifiedEvent", lambda *_: self.update_slice())

    @property
    def is_slice(self) -> bool:
        """Whether this layer follows a slice."""
        return self.slice_view is not None

    def _slice_frame(self) -> tuple[np.ndarray, np.ndarray, float]:
        view = self.slice_view
        focal = np.asarray(self.renderer.GetActiveCamera().GetFocalPoint(), float)
        return focal, np.asarray(view.orientation.axes.normal, float), 0.5 * float(view.slice_step_mm) + 1e-3

    def on_slice(self, points: npt.ArrayLike) -> np.ndarray:
        """Which of ``points`` lie on the current slice (all of them in a 3-D layer)."""
        pts = np.asarray(points, float).reshape(-1, 3)
        if not self.is_slice:
            return np.ones(len(pts), bool)
        focal, normal, tolerance = self._slice_frame()
        return np.abs((pts - focal) @ normal) <= tolerance

    def update_slice(self) -> None:
        """Show what belongs to the current slice and recut surfaces (called when the camera moves)."""
        if not self.is_slice:
            return
        focal, normal, _ = self._slice_frame()
        self._plane.SetOrigin(*focal)
        self._plane.SetNormal(*normal)
        for item in self._items.values():
            if item.cutter is not None:
                continue
            here = self.on_slice(item.points)
            if item.kind == "points":
                self._refresh_points(item, here)
            else:
                visible = bool(here.all()) if len(here) else False
                for actor in item.actors:
                    actor.SetVisibility(visible)
                for text, _ in item.texts:
                    text.SetVisibility(visible)

    # --- items --------------------------------------------------------------------------------------------------
    def __contains__(self, key: str) -> bool:
        return key in self._items

    def keys(self) -> list[str]:
        """Keys of the items drawn."""
        return list(self._items)

    def is_visible(self, key: str) -> bool:
        """Whether item ``key`` is drawn now (on this slice)."""
        item = self._items.get(key)
        if item is None:
            return False
        if item.cutter is not None:
            item.cutter.Update()
            return item.cutter.GetOutput().GetNumberOfPoints() > 0 and bool(item.actors[0].GetVisibility())
        return any(bool(a.GetVisibility()) for a in item.actors)

    def text(self, key: str) -> list[str]:
        """Labels of item ``key`` that are visible now."""
        item = self._items.get(key)
        return [t.GetInput() for t, _ in item.texts if t.GetVisibility()] if item else []

    def remove(self, key: str) -> None:
        """Remove item ``key`` if present."""
        item = self._items.pop(key, None)
        if item is None:
            return
        for actor in item.actors:
            self.renderer.RemoveActor(actor)
        for text, _ in item.texts:
            self.renderer.RemoveViewProp(text)

    def clear(self) -> None:
        """Remove every item."""
        for key in list(self._items):
            self.remove(key)

    def _add(self, key: str, item: _Item) -> _Item:
        self.remove(key)
        lift = np.zeros(3)
        if self.is_slice:
            # Lines lying exactly in the image plane lose the depth test to the image half the time: lift them
            # a little towards the camera, in front of the label overlay (the slice tests use the true points).
            lift = -1.0 * np.asarray(self.renderer.GetActiveCamera().GetDirectionOfProjection(), float)
        for actor in item.actors:
            actor.SetPosition(*lift)
            self.renderer.AddActor(actor)
        for text, _ in item.texts:
            self.renderer.AddViewProp(text)
        self._items[key] = item
        if self.is_slice:
            self._watch_camera()
            self.update_slice()
        return item

    def set_polyline(self, key: str, points: npt.ArrayLike, *, closed: bool = False, colour: RGB = (1, 1, 1),
                     label: str | None = None, label_at: npt.ArrayLike | None = None, width: float = 2.0,
                     curve: npt.ArrayLike | None = None) -> None:
        """A polyline through ``points`` (drawn with its control points), e.g. an angle or a closed curve.

        ``curve`` is a denser line to draw instead of the straight segments (a spline through the points).
        """
        pts = np.asarray(points, float).reshape(-1, 3)
        line_pts = pts if curve is None else np.asarray(curve, float).reshape(-1, 3)
        actors = [flat_actor(polyline_polydata(line_pts, closed=closed), colour, width=width),
                  flat_actor(polyline_polydata(pts, vertices=True, lines=False), colour, point_size=7.0)]
        texts = []
        if label:
            anchor = np.asarray(label_at, float) if label_at is not None else pts[-1]
            texts.append((_text(label, colour), anchor))
            texts[-1][0].GetPositionCoordinate().SetValue(*anchor)
        self._add(key, _Item("polyline", pts, actors, texts, closed=closed, colour=colour))

    def set_points(self, key: str, points: npt.ArrayLike, labels: Sequence[str], *, colour: RGB = (1, 0, 0)) -> None:
        """Labelled points (a point list)."""
        pts = np.asarray(points, float).reshape(-1, 3)
        actor = flat_actor(polyline_polydata(pts, vertices=True, lines=False), colour, point_size=9.0)
        texts = []
        for p, label in zip(pts, labels, strict=True):
            text = _text(f" {label}", colour)
            text.GetPositionCoordinate().SetValue(*p)
            texts.append((text, p))
        item = _Item("points", pts, [actor], texts, colour=colour, labels=list(labels))
        self._add(key, item)

    def _refresh_points(self, item: _Item, here: np.ndarray) -> None:
        item.actors[0].GetMapper().SetInputData(polyline_polydata(item.points[here], vertices=True, lines=False))
        item.actors[0].SetVisibility(bool(here.any()))
        for (text, _), shown in zip(item.texts, here, strict=True):
            text.SetVisibility(bool(shown))

    def set_surface(self, key: str, mesh: SurfaceMesh | vtkPolyData, *, colour: RGB = (1, 1, 1),
                    opacity: float = 0.4, width: float = 2.0) -> None:
        """A surface: shaded in 3-D, its intersection line on a slice."""
        poly = mesh if isinstance(mesh, vtkPolyData) else mesh_to_polydata(mesh)
        if self.is_slice:
            cutter = vtkCutter()
            cutter.SetInputData(poly)
            cutter.SetCutFunction(self._plane)
            actor = flat_actor(cutter.GetOutputPort(), colour, width=width)
            self._add(key, _Item("surface", np.zeros((0, 3)), [actor], cutter=cutter, colour=colour))
        else:
            actor = flat_actor(poly, colour, opacity=opacity, lighting=True)
            if opacity < 1:
                actor.GetProperty().BackfaceCullingOff()
            self._add(key, _Item("surface", np.zeros((0, 3)), [actor], colour=colour))

    def set_tube(self, key: str, p1: npt.ArrayLike, p2: npt.ArrayLike, radius_mm: float, *, colour: RGB = (0, 1, 0),
                 label: str | None = None, opacity: float = 0.6) -> None:
        """A straight tool of radius ``radius_mm`` from ``p1`` to ``p2`` (a capped tube), with its end points."""
        line = polyline_polydata([p1, p2])
        tube = vtkTubeFilter()
        tube.SetInputData(line)
        tube.SetRadius(max(float(radius_mm), 0.05))
        tube.SetNumberOfSides(24)
        tube.CappingOn()
        tube.Update()
        key_surface = f"{key}/tube"
        self.set_surface(key_surface, tube.GetOutput(), colour=colour, opacity=opacity)
        self.set_polyline(key, [p1, p2], colour=colour, label=None if self.is_slice else label, width=1.0)
        if self.is_slice:
            # On a slice the axis shows only when the path lies in it; its end points show where they are.
            self.set_points(f"{key}/ends", [p1, p2], ["entry", "target"], colour=colour)

    def remove_group(self, key: str) -> None:
        """Remove ``key`` and the items made with it (``key/...``)."""
        for k in [k for k in self._items if k == key or k.startswith(f"{key}/")]:
            self.remove(k)
