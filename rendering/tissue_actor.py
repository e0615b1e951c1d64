"""The deformable organ of a soft-tissue simulation in the 3-D view: surfaces updated in place every frame.

VTK only (no Qt): :class:`DeformableSurface` is a triangle surface whose point and normal arrays are numpy buffers
shared with VTK, so a frame copies the new positions into them, recomputes the normals (vectorised) and marks them
modified; the mapper re-uploads and nothing else in the scene is rebuilt.  :class:`TissueActors` groups the organ,
the faces a cut opened and the instrument (tip and tether to the grasped tissue).  The camera helpers turn display
pixels into the drag target and the cut plane of the interaction.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersSources import vtkLineSource, vtkSphereSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkCellPicker, vtkPolyDataMapper, vtkRenderer

import rendering.vtk_init  # noqa: F401

__all__ = ["DeformableSurface", "TissueActors", "cut_plane_through_line", "display_ray", "drag_target",
           "triangulate_loops", "vertex_normals"]

Arr = npt.NDArray[np.float64]
RGB = tuple[float, float, float]

CUT_COLOUR: RGB = (0.62, 0.16, 0.13)  # freshly cut parenchyma: darker and redder than the capsule
INSTRUMENT_COLOUR: RGB = (0.78, 0.82, 0.88)  # steel


def vertex_normals(points: Arr, faces: npt.NDArray[np.int64]) -> Arr:
    """Unit vertex normals ``(n, 3)``: area-weighted sums of the adjacent face normals (zero for unused vertices)."""
    p = np.asarray(points, np.float64)
    normals = np.zeros_like(p)
    if len(faces):
        a, b, c = p[faces[:, 0]], p[faces[:, 1]], p[faces[:, 2]]
        face_n = np.cross(b - a, c - a)  # length = 2 x area: area weighting for free
        idx = faces.ravel()
        for axis in range(3):
            normals[:, axis] = np.bincount(idx, np.repeat(face_n[:, axis], 3), minlength=len(p))
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    np.divide(normals, length, out=normals, where=length > 0)
    return normals


class DeformableSurface:
    """A triangle surface in ``renderer`` whose vertices move (shared numpy buffers, no pipeline rebuild).

    Parameters
    ----------
    renderer : vtkRenderer
        Where it is drawn.
    colour : (float, float, float)
        Diffuse colour.
    specular : float
        Specular strength (wet tissue glistens).
    """

    def __init__(self, renderer: vtkRenderer, colour: RGB, *, specular: float = 0.35) -> None:
        self.renderer = renderer
        self.polydata = vtkPolyData()
        self._points = np.zeros((0, 3))
        self._normals = np.zeros((0, 3))
        self._faces = np.zeros((0, 3), np.int64)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(self.polydata)
        mapper.ScalarVisibilityOff()
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        prop = self.actor.GetProperty()
        prop.SetColor(*colour)
        prop.SetInterpolationToPhong()
        prop.SetAmbient(0.12)
        prop.SetDiffuse(0.8)
        prop.SetSpecular(specular)
        prop.SetSpecularPower(25.0)
        prop.BackfaceCullingOff()
        self.actor.VisibilityOff()
        renderer.AddActor(self.actor)

    @property
    def n_points(self) -> int:
        """Vertices shown."""
        return len(self._points)

    @property
    def n_faces(self) -> int:
        """Triangles shown."""
        return len(self._faces)

    def set_surface(self, points: npt.ArrayLike, faces: npt.ArrayLike) -> None:
        """Replace the geometry and topology (at the start and after a cut); empty ``faces`` hides the actor."""
        self._points = np.array(points, np.float64, copy=True, order="C").reshape(-1, 3)
        self._faces = np.ascontiguousarray(faces, np.int64).reshape(-1, 3)
        self._normals = vertex_normals(self._points, self._faces)
        vtk_points = vtkPoints()
        vtk_points.SetData(numpy_to_vtk(self._points, deep=False))  # shares self._points
        cells = vtkCellArray()
        cells.SetData(numpy_to_vtkIdTypeArray(np.arange(0, 3 * len(self._faces) + 1, 3, dtype=np.int64), deep=True),
                      numpy_to_vtkIdTypeArray(self._faces.ravel(), deep=True))
        normals = numpy_to_vtk(self._normals, deep=False)
        normals.SetName("Normals")
        self.polydata.SetPoints(vtk_points)
        self.polydata.SetPolys(cells)
        self.polydata.GetPointData().SetNormals(normals)
        self.polydata.Modified()
        self.actor.SetVisibility(bool(len(self._faces)))

    def update_points(self, points: npt.ArrayLike) -> None:
        """Move the vertices (same count and order as :meth:`set_surface`), in place."""
        p = np.asarray(points, np.float64).reshape(-1, 3)
        if p.shape != self._points.shape:
            raise ValueError(f"expected {self._points.shape} points, got {p.shape}")
        self._points[...] = p
        self._normals[...] = vertex_normals(self._points, self._faces)
        self.polydata.GetPoints().GetData().Modified()
        self.polydata.GetPoints().Modified()
        self.polydata.GetPointData().GetNormals().Modified()
        self.polydata.Modified()

    def points(self) -> Arr:
        """The vertices shown (a copy)."""
        return self._points.copy()

    def remove(self) -> None:
        """Take the actor out of the renderer."""
        self.renderer.RemoveActor(self.actor)


class _Instrument:
    """A small steel ball at the instrument tip and a thin tether to the tissue it holds."""

    def __init__(self, renderer: vtkRenderer, radius_mm: float) -> None:
        self.renderer = renderer
        self.sphere = vtkSphereSource()
        self.sphere.SetRadius(radius_mm)
        self.sphere.SetThetaResolution(20)
        self.sphere.SetPhiResolution(14)
        self.line = vtkLineSource()
        self.actors = []
        for source, width in ((self.sphere, 0.0), (self.line, 3.0)):
            mapper = vtkPolyDataMapper()
            mapper.SetInputConnection(source.GetOutputPort())
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.PickableOff()
            prop = actor.GetProperty()
            prop.SetColor(*INSTRUMENT_COLOUR)
            prop.SetSpecular(0.8)
            prop.SetSpecularPower(60.0)
            if width:
                prop.SetLineWidth(width)
            actor.VisibilityOff()
            renderer.AddActor(actor)
            self.actors.append(actor)

    def show(self, tip: Arr, grasp: Arr) -> None:
        self.sphere.SetCenter(*map(float, tip))
        self.line.SetPoint1(*map(float, tip))
        self.line.SetPoint2(*map(float, grasp))
        for actor in self.actors:
            actor.VisibilityOn()

    def hide(self) -> None:
        for actor in self.actors:
            actor.VisibilityOff()

    @property
    def visible(self) -> bool:
        return bool(self.actors[0].GetVisibility())

    def remove(self) -> None:
        for actor in self.actors:
            self.renderer.RemoveActor(actor)


class TissueActors:
    """The simulated organ in a 3-D renderer: deformed surface, cut faces and instrument.

    Parameters
    ----------
    renderer : vtkRenderer
        The 3-D view's renderer (the rest of its scene is left alone).
    colour : (float, float, float)
        Organ colour.
    instrument_radius_mm : float
        Radius of the instrument tip ball.
    """

    def __init__(self, renderer: vtkRenderer, colour: RGB, *, instrument_radius_mm: float = 2.5) -> None:
        self.renderer = renderer
        self.organ = DeformableSurface(renderer, colour)
        self.cut = DeformableSurface(renderer, CUT_COLOUR, specular=0.5)
        self.instrument = _Instrument(renderer, instrument_radius_mm)
        self._picker = vtkCellPicker()
        self._picker.SetTolerance(0.0005)
        self._picker.PickFromListOn()
        self._picker.AddPickList(self.organ.actor)
        self._picker.AddPickList(self.cut.actor)

    def pick(self, x: float, y: float) -> Arr | None:
        """The organ surface point (mm) under display pixel ``(x, y)`` (origin bottom-left), or None."""
        if not self.organ.actor.GetVisibility():
            return None
        if not self._picker.Pick(float(x), float(y), 0.0, self.renderer):
            return None
        return np.asarray(self._picker.GetPickPosition(), np.float64)

    def remove(self) -> None:
        """Take every actor out of the renderer."""
        self.organ.remove()
        self.cut.remove()
        self.instrument.remove()


# --- camera geometry -----------------------------------------------------------------------------------------------
def _display_to_world(renderer: vtkRenderer, x: float, y: float, z: float) -> Arr:
    renderer.SetDisplayPoint(float(x), float(y), float(z))
    renderer.DisplayToWorld()
    w = np.asarray(renderer.GetWorldPoint(), np.float64)
    return w[:3] / w[3] if w[3] else w[:3]


def display_ray(renderer: vtkRenderer, x: float, y: float) -> tuple[Arr, Arr]:
    """Points on the near and far clipping planes under display pixel ``(x, y)``: the ray through that pixel."""
    return _display_to_world(renderer, x, y, 0.0), _display_to_world(renderer, x, y, 1.0)


def drag_target(renderer: vtkRenderer, x: float, y: float, plane_point: npt.ArrayLike) -> Arr:
    """Where the ray under pixel ``(x, y)`` meets the plane through ``plane_point`` facing the camera.

    The plane's normal is the camera's direction of projection, so dragging the mouse moves the instrument parallel
    to the screen at the depth of the grasped tissue.
    """
    point = np.asarray(plane_point, np.float64)
    normal = np.asarray(renderer.GetActiveCamera().GetDirectionOfProjection(), np.float64)
    near, far = display_ray(renderer, x, y)
    direction = far - near
    denominator = float(direction @ normal)
    if abs(denominator) < 1e-12:
        return point.copy()
    t = float((point - near) @ normal) / denominator
    return near + t * direction


def cut_plane_through_line(renderer: vtkRenderer, start_xy: tuple[float, float],
                           end_xy: tuple[float, float]) -> tuple[Arr, Arr]:
    """The plane (point, unit normal) that contains a line drawn on the screen and the viewing direction.

    It holds the rays through both end pixels (for a perspective camera, every ray from the eye through the line),
    so the cut appears exactly where the line was drawn.

    Raises
    ------
    ValueError
        When the two pixels coincide (no line).
    """
    near0, far0 = display_ray(renderer, *start_xy)
    near1, _ = display_ray(renderer, *end_xy)
    normal = np.cross(far0 - near0, near1 - near0)
    length = float(np.linalg.norm(normal))
    if not length > 0:
        raise ValueError("the cut line has no length")
    return near0, normal / length


def blade_through_stroke(renderer: vtkRenderer, stroke_xy: npt.ArrayLike, box_min: npt.ArrayLike,
                         box_max: npt.ArrayLike) -> tuple[Arr, Arr]:
    """A scalpel pushed straight into the view along a stroke drawn on the screen: the blade edge's two ends
    ``(k, 3)`` under every stroke pixel, from in front of the box ``[box_min, box_max]`` (the organ's bounds) to
    behind it, so the incision goes through the organ's depth exactly under the stroke and nowhere else.

    Raises
    ------
    ValueError
        When no ray of the stroke passes through the box.
    """
    xy = np.asarray(stroke_xy, np.float64).reshape(-1, 2)
    rays = [display_ray(renderer, x, y) for x, y in xy]
    near = np.array([r[0] for r in rays])
    direction = np.array([r[1] for r in rays]) - near
    lo, hi = np.asarray(box_min, np.float64), np.asarray(box_max, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_lo, t_hi = (lo - near) / direction, (hi - near) / direction
    t_lo = np.where(np.isfinite(t_lo), t_lo, -np.inf)
    t_hi = np.where(np.isfinite(t_hi), t_hi, np.inf)
    enter = np.minimum(t_lo, t_hi).max(axis=1)
    leave = np.maximum(t_lo, t_hi).min(axis=1)
    hit = leave > np.maximum(enter, 0.0)
    if not hit.any():
        raise ValueError("the stroke does not pass over the organ")
    # one depth range for the whole stroke, so the blade's edge is one straight segment moved along the stroke
    t0, t1 = max(float(enter[hit].min()), 0.0), float(leave[hit].max())
    return near + t0 * direction, near + t1 * direction


def triangulate_loops(points: npt.ArrayLike, edges: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Triangles ``(m, 3)`` (indices into ``points``) filling the closed planar loops made of ``edges`` ``(k, 2)``:
    the cap of a cut.  Winding is arbitrary; empty when the edges hold no closed loop."""
    from vtkmodules.vtkFiltersGeneral import vtkContourTriangulator

    e = np.asarray(edges, np.int64).reshape(-1, 2)
    if len(e) < 3:
        return np.zeros((0, 3), np.int64)
    used, local = np.unique(e, return_inverse=True)
    local = local.reshape(-1, 2)
    vtk_points = vtkPoints()
    vtk_points.SetData(numpy_to_vtk(np.ascontiguousarray(np.asarray(points, np.float64)[used]), deep=True))
    lines = vtkCellArray()
    lines.SetData(numpy_to_vtkIdTypeArray(np.arange(0, 2 * len(local) + 1, 2, dtype=np.int64), deep=True),
                  numpy_to_vtkIdTypeArray(np.ascontiguousarray(local.ravel()), deep=True))
    polydata = vtkPolyData()
    polydata.SetPoints(vtk_points)
    polydata.SetLines(lines)
    triangulator = vtkContourTriangulator()
    triangulator.SetInputData(polydata)
    triangulator.Update()
    out = triangulator.GetOutput()
    if out.GetNumberOfPolys() == 0 or out.GetNumberOfPoints() != len(used):
        return np.zeros((0, 3), np.int64)
    from vtkmodules.util.numpy_support import vtk_to_numpy

    cells = out.GetPolys()
    offsets = vtk_to_numpy(cells.GetOffsetsArray())
    conn = vtk_to_numpy(cells.GetConnectivityArray())
    if not np.all(np.diff(offsets) == 3):
        return np.zeros((0, 3), np.int64)
    return used[conn.reshape(-1, 3)].astype(np.int64)
