"""Editing overlays for :class:`~rendering.slice_view.SliceView`: a live preview layer and a brush outline.

:class:`SlicePreviewLayer` draws, above the label overlay, a one-colour mask computed *only for the slice the view
shows*: a ``plane_fn(axis, index) -> 2-D bool`` gives the mask of array slice ``index`` along array ``axis``, and the
layer re-asks it on each render where the slice or the source changed. A threshold preview on a 512x512x400 CT
thus costs one 512x512 comparison per view while the user drags the threshold, instead of a full volume.

:class:`BrushOutline` is the circle under the mouse when painting. :func:`refresh_labelmap_overlay` tells a view
that its label map's voxels changed in place (a brush dab) without rebuilding the overlay.

No Qt: hosts call these from their event handlers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkFiltersSources import vtkRegularPolygonSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkImageProperty, vtkImageSlice, vtkPolyDataMapper
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper

import rendering.vtk_init  # noqa: F401
from imaging.volume import Volume
from rendering.slice_view import SliceView
from rendering.vtk_convert import image_placement_matrix

__all__ = [
    "BrushOutline",
    "PlaneFunction",
    "SlicePreviewLayer",
    "refresh_labelmap_overlay",
    "threshold_plane_function",
    "view_slice_axis",
]

PlaneFunction = Callable[[int, int], npt.NDArray[np.bool_]]


def view_slice_axis(view: SliceView, volume: Volume | None = None) -> tuple[int, int] | None:
    """``(array axis, index)`` of the voxel plane the view shows (the index axis best aligned with its normal)."""
    volume = volume if volume is not None else view.volume
    if volume is None:
        return None
    normal = view.orientation.axes.normal
    ijk_axis = int(np.argmax(np.abs(volume.direction.T @ normal)))  # 0 = i (x), 1 = j (y), 2 = k (z)
    focal = np.asarray(view.renderer.GetActiveCamera().GetFocalPoint())
    ijk = volume.geometry.point_to_index(focal)
    axis = 2 - ijk_axis  # array order is (z, y, x)
    index = int(np.clip(np.rint(ijk[ijk_axis]), 0, volume.array.shape[axis] - 1))
    return axis, index


def threshold_plane_function(volume: Volume, lower: float, upper: float) -> PlaneFunction:
    """Plane function of the threshold ``lower <= value <= upper`` on ``volume``."""
    array = volume.array

    def plane(axis: int, index: int) -> npt.NDArray[np.bool_]:
        values = np.take(array, index, axis=axis)
        return (values >= lower) & (values <= upper)

    return plane


def refresh_labelmap_overlay(view: SliceView) -> None:
    """The label map shown by ``view`` changed in place: redraw its voxels at the next render (no rebuild)."""
    view.labelmap_modified()


class SlicePreviewLayer:
    """A one-colour mask above a slice view's label overlay, computed for the shown slice only.

    Parameters
    ----------
    view : SliceView
        The view to draw into.
    """

    def __init__(self, view: SliceView) -> None:
        self.view = view
        self._volume: Volume | None = None
        self._plane_fn: PlaneFunction | None = None
        self._shown: tuple[int, int] | None = None
        self._colour = (0.2, 1.0, 0.4)
        self._opacity = 0.6
        self._slice = vtkImageSlice()
        mapper = vtkImageResliceMapper()
        mapper.SliceFacesCameraOn()
        mapper.SliceAtFocalPointOn()
        mapper.BorderOn()
        self._slice.SetMapper(mapper)
        prop = vtkImageProperty()
        prop.SetInterpolationTypeToNearest()
        prop.UseLookupTableScalarRangeOn()
        self._slice.SetProperty(prop)
        self._slice.SetVisibility(False)
        self._slice.PickableOff()
        self._apply_colour()
        self._observer = view.renderer.AddObserver("StartEvent", self._before_render)
        view.renderer.AddViewProp(self._slice)

    @property
    def active(self) -> bool:
        """Whether a preview is shown."""
        return self._plane_fn is not None

    @property
    def shown_plane(self) -> tuple[int, int] | None:
        """``(axis, index)`` of the plane last computed, or None."""
        return self._shown

    def set_source(
        self,
        volume: Volume | None,
        plane_fn: PlaneFunction | None,
        colour: tuple[float, float, float] | None = None,
        opacity: float | None = None,
    ) -> None:
        """Preview ``plane_fn`` on ``volume``'s grid (None hides the layer); recomputed at the next render."""
        self._volume = volume if plane_fn is not None else None
        self._plane_fn = plane_fn if volume is not None else None
        self._shown = None
        if colour is not None:
            self._colour = tuple(float(c) for c in colour)  # type: ignore[assignment]
        if opacity is not None:
            self._opacity = float(opacity)
        self._apply_colour()
        if self._plane_fn is None:
            self._slice.SetVisibility(False)

    def clear(self) -> None:
        """Hide the preview."""
        self.set_source(None, None)

    def remove(self) -> None:
        """Take the layer out of the view."""
        self.clear()
        self.view.renderer.RemoveObserver(self._observer)
        self.view.renderer.RemoveViewProp(self._slice)

    def _apply_colour(self) -> None:
        table = vtkLookupTable()
        table.SetNumberOfTableValues(2)
        table.SetTableRange(0, 1)
        table.SetTableValue(0, 0.0, 0.0, 0.0, 0.0)
        table.SetTableValue(1, *self._colour, self._opacity)
        table.Build()
        self._slice.GetProperty().SetLookupTable(table)

    def update_now(self) -> None:
        """Compute the plane the view shows, if it changed since the last computation."""
        if self._plane_fn is None or self._volume is None:
            return
        where = view_slice_axis(self.view, self._volume)
        if where is None or where == self._shown:
            self._raise_to_top()
            return
        axis, index = where
        plane = np.asarray(self._plane_fn(axis, index), dtype=np.uint8)
        self._slice.GetMapper().SetInputData(self._plane_image(axis, index, plane))
        self._slice.SetUserMatrix(image_placement_matrix(self._volume))
        self._slice.SetVisibility(True)
        self._shown = where
        self._raise_to_top()

    def _raise_to_top(self) -> None:
        # Same-plane translucent images draw in prop order: keep the preview above the label overlay.
        props = self.view.renderer.GetViewProps()
        count = props.GetNumberOfItems()
        images = [props.GetItemAsObject(i) for i in range(count)]
        last_image = next((p for p in reversed(images) if isinstance(p, vtkImageSlice)), None)
        if last_image is not self._slice:
            self.view.renderer.RemoveViewProp(self._slice)
            self.view.renderer.AddViewProp(self._slice)

    def _plane_image(self, axis: int, index: int, plane: np.ndarray) -> vtkImageData:
        assert self._volume is not None
        nz, ny, nx = self._volume.array.shape
        block = np.expand_dims(plane, axis)  # (z, y, x) with one layer along ``axis``
        extent = [0, nx - 1, 0, ny - 1, 0, nz - 1]
        vtk_axis = 2 - axis
        extent[2 * vtk_axis] = extent[2 * vtk_axis + 1] = index
        image = vtkImageData()
        image.SetExtent(*extent)
        image.SetSpacing(self._volume.spacing)
        image.SetOrigin(0.0, 0.0, 0.0)
        data = np.ascontiguousarray(block).ravel()
        scalars = numpy_to_vtk(data, deep=True)
        image.GetPointData().SetScalars(scalars)
        return image

    def _before_render(self, _obj, _event) -> None:
        self.update_now()


class BrushOutline:
    """The brush circle under the mouse on a slice view (radius in millimetres)."""

    def __init__(self, view: SliceView, colour: tuple[float, float, float] = (1.0, 0.85, 0.35)) -> None:
        self.view = view
        self._source = vtkRegularPolygonSource()
        self._source.SetNumberOfSides(72)
        self._source.GeneratePolygonOff()
        self._source.GeneratePolylineOn()
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(self._source.GetOutputPort())
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        prop = self.actor.GetProperty()
        prop.SetColor(*colour)
        prop.SetLineWidth(1.5)
        prop.LightingOff()
        self.actor.PickableOff()
        self.actor.SetVisibility(False)
        view.renderer.AddActor(self.actor)

    def set_colour(self, colour: tuple[float, float, float]) -> None:
        """Outline colour."""
        self.actor.GetProperty().SetColor(*colour)

    def show_at(self, point_lps: np.ndarray, radius_mm: float) -> None:
        """Draw the circle centred on ``point_lps`` (on the slice plane), slightly in front of the image."""
        normal = self.view.orientation.axes.normal
        centre = np.asarray(point_lps, dtype=float) - 0.5 * normal  # towards the camera
        self._source.SetCenter(*centre)
        self._source.SetNormal(*normal)
        self._source.SetRadius(float(radius_mm))
        self.actor.SetVisibility(True)

    def hide(self) -> None:
        """Hide the circle."""
        self.actor.SetVisibility(False)

    @property
    def visible(self) -> bool:
        """Whether the circle is shown."""
        return bool(self.actor.GetVisibility())

    def remove(self) -> None:
        """Take the outline out of the view."""
        self.view.renderer.RemoveActor(self.actor)
