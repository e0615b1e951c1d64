"""A 2-D slice view of a volume with window/level, a label-map overlay and orientation letters.

The view owns one ``vtkRenderer``; a Qt widget, an offscreen window or a VR panel can host it. World coordinates are
LPS millimetres; the slice follows the camera's focal point, so moving through the volume is moving the camera.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from vtkmodules.vtkCommonCore import vtkLookupTable, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersSources import vtkLineSource
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkActor2D,
    vtkImageProperty,
    vtkImageSlice,
    vtkPolyDataMapper,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkTextActor,
)
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper

import rendering.vtk_init  # noqa: F401  (registers the OpenGL and font back ends)
from imaging.volume import Volume
from rendering.orientation import SliceOrientation, ViewAxes
from rendering.vtk_convert import image_placement_matrix, volume_to_image_data
from rendering.weak_callbacks import weak_callback

__all__ = ["SliceView", "changed_region", "label_outline", "nice_length"]

BACKGROUND = (0.0, 0.0, 0.0)
LETTER_COLOUR = (1.0, 0.85, 0.35)
CROSSHAIR_COLOUR = (0.35, 0.85, 1.0)
RULER_COLOUR = (0.3, 1.0, 0.45)


class SliceView:
    """One slice through a volume, seen in a standard orientation.

    Parameters
    ----------
    orientation : SliceOrientation
        Axial, coronal or sagittal.
    renderer : vtkRenderer, optional
        Renderer to draw into; a new one is made when omitted.
    """

    def __init__(self, orientation: SliceOrientation, renderer: vtkRenderer | None = None) -> None:
        self.orientation = orientation
        self.axes: ViewAxes = orientation.axes  # the standard plane, or an oblique one (set_plane)
        self.renderer = renderer or vtkRenderer()
        self.renderer.SetBackground(*BACKGROUND)
        self._volume: Volume | None = None
        self._labelmap: Volume | None = None
        self._image_slice: vtkImageSlice | None = None
        self._label_slice: vtkImageSlice | None = None
        self._outline_slice: vtkImageSlice | None = None
        self._outline_axes: tuple[int, ...] = ()
        self._outline_voxels: np.ndarray | None = None  # the outline image's voxels
        self._outline_labels: np.ndarray | None = None  # the labels it was made from
        self._fill = True
        self._outline = False
        self._label_colours: dict[int, tuple[float, float, float]] = {}
        self._label_opacity = 0.5
        self._window_level = (400.0, 40.0)
        self._letters = self._make_orientation_letters()
        self._info = self._make_text(0.01, 0.01, align_right=False, size=13)
        self._crosshair = self._make_crosshair()
        self._crosshair_point = np.zeros(3)
        self._rulers: dict[str, tuple[np.ndarray, np.ndarray, vtkActor, vtkTextActor]] = {}
        self._title = self._make_text(0.01, 0.99, align_right=False, size=14)
        self._title.GetTextProperty().SetVerticalJustificationToTop()
        self._title.SetInput(orientation.label)
        self._scale_bar = self._make_scale_bar()
        # weakly: an observer holding the view would keep it (through VTK, unseen by Python's collector) forever
        self.renderer.AddObserver("StartEvent", weak_callback(self._place_scale_bar, pass_arguments=False))

    # --- text ---------------------------------------------------------------------------------------------------
    def _make_text(self, x: float, y: float, *, align_right: bool, size: int) -> vtkTextActor:
        actor = vtkTextActor()
        actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        actor.SetPosition(x, y)
        prop = actor.GetTextProperty()
        prop.SetFontSize(size)
        prop.SetColor(*LETTER_COLOUR)
        prop.SetJustificationToRight() if align_right else prop.SetJustificationToLeft()
        prop.ShadowOn()
        self.renderer.AddViewProp(actor)
        return actor

    def _make_orientation_letters(self) -> list[vtkTextActor]:
        axes = self.axes
        letters = []
        for text, (x, y) in ((axes.left, (0.025, 0.5)), (axes.right, (0.975, 0.5)),
                             (axes.top, (0.5, 0.965)), (axes.bottom, (0.5, 0.035))):
            actor = self._make_text(x, y, align_right=False, size=16)
            actor.SetInput(text)
            actor.GetTextProperty().SetJustificationToCentered()
            actor.GetTextProperty().SetVerticalJustificationToCentered()
            actor.GetTextProperty().BoldOn()
            letters.append(actor)
        return letters

    def _make_crosshair(self) -> list[vtkActor]:
        actors = []
        for _ in range(2):
            source = vtkLineSource()
            mapper = vtkPolyDataMapper()
            mapper.SetInputConnection(source.GetOutputPort())
            actor = vtkActor()
            actor.SetMapper(mapper)
            prop = actor.GetProperty()
            prop.SetColor(*CROSSHAIR_COLOUR)
            prop.SetOpacity(0.55)
            prop.LightingOff()
            prop.SetLineWidth(1.0)
            actor.VisibilityOff()
            actor.PickableOff()
            actor._source = source  # type: ignore[attr-defined]
            self.renderer.AddActor(actor)
            actors.append(actor)
        return actors

    # --- scale bar ----------------------------------------------------------------------------------------------
    def _make_scale_bar(self) -> tuple[vtkActor2D, vtkTextActor]:
        points = vtkPoints()
        points.SetNumberOfPoints(4)
        lines = vtkCellArray()
        lines.InsertNextCell(4, [0, 1, 2, 3])  # a bar with end ticks: tick, bar, tick
        poly = vtkPolyData()
        poly.SetPoints(points)
        poly.SetLines(lines)
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(poly)
        bar = vtkActor2D()
        bar.SetMapper(mapper)
        bar.GetProperty().SetColor(*LETTER_COLOUR)
        bar.GetProperty().SetLineWidth(2.0)
        bar.VisibilityOff()
        self.renderer.AddViewProp(bar)
        label = vtkTextActor()
        label.GetTextProperty().SetFontSize(12)
        label.GetTextProperty().SetColor(*LETTER_COLOUR)
        label.GetTextProperty().SetJustificationToCentered()
        label.GetTextProperty().ShadowOn()
        label.VisibilityOff()
        self.renderer.AddViewProp(label)
        return bar, label

    @property
    def scale_bar_mm(self) -> float | None:
        """Length the scale bar stands for (None while it is hidden)."""
        bar, _ = self._scale_bar
        return getattr(bar, "_length_mm", None) if bar.GetVisibility() else None

    def _place_scale_bar(self) -> None:
        bar, label = self._scale_bar
        window = self.renderer.GetRenderWindow()
        if self._volume is None or window is None:
            bar.VisibilityOff()
            label.VisibilityOff()
            return
        width, height = self.renderer.GetSize()
        if width < 80 or height < 60:
            bar.VisibilityOff()
            label.VisibilityOff()
            return
        mm_per_pixel = 2.0 * self.renderer.GetActiveCamera().GetParallelScale() / height
        length_mm = nice_length(0.2 * width * mm_per_pixel)
        pixels = length_mm / mm_per_pixel
        # Viewport pixels (the 2-D mapper's and text actor's default coordinates), bottom right.
        x1 = width - 14
        x0, y = x1 - pixels, 16
        points = bar.GetMapper().GetInput().GetPoints()
        for i, (px, py) in enumerate(((x0, y + 5), (x0, y), (x1, y), (x1, y + 5))):
            points.SetPoint(i, px, py, 0.0)
        points.Modified()
        label.SetInput(f"{length_mm:g} mm" if length_mm >= 1 else f"{length_mm * 1000:g} µm")
        label.SetPosition(0.5 * (x0 + x1), y + 6)
        bar._length_mm = length_mm  # type: ignore[attr-defined]
        bar.VisibilityOn()
        label.VisibilityOn()

    # --- rulers ---------------------------------------------------------------------------------------------------
    def set_ruler(self, key: str, p1_lps, p2_lps, label: str) -> None:
        """Show (or move) ruler ``key`` from ``p1_lps`` to ``p2_lps`` with ``label`` at its end.

        A ruler is drawn while the slice passes within half a slice of both of its ends (as in 2-D viewers,
        a measurement belongs to the slice it was made on).
        """
        p1, p2 = np.asarray(p1_lps, float), np.asarray(p2_lps, float)
        if key in self._rulers:
            _, _, line, text = self._rulers[key]
        else:
            source = vtkLineSource()
            mapper = vtkPolyDataMapper()
            mapper.SetInputConnection(source.GetOutputPort())
            line = vtkActor()
            line.SetMapper(mapper)
            line.GetProperty().SetColor(*RULER_COLOUR)
            line.GetProperty().LightingOff()
            line.GetProperty().SetLineWidth(2.0)
            line._source = source  # type: ignore[attr-defined]
            self.renderer.AddActor(line)
            text = vtkTextActor()
            text.GetTextProperty().SetColor(*RULER_COLOUR)
            text.GetTextProperty().SetFontSize(14)
            text.GetTextProperty().ShadowOn()
            text.GetPositionCoordinate().SetCoordinateSystemToWorld()
            self.renderer.AddViewProp(text)
        line._source.SetPoint1(*p1)  # type: ignore[attr-defined]
        line._source.SetPoint2(*p2)  # type: ignore[attr-defined]
        text.SetInput(label)
        text.GetPositionCoordinate().SetValue(*p2)
        self._rulers[key] = (p1, p2, line, text)
        self._update_ruler_visibility()

    def remove_ruler(self, key: str) -> None:
        """Remove ruler ``key`` if shown."""
        entry = self._rulers.pop(key, None)
        if entry is not None:
            self.renderer.RemoveActor(entry[2])
            self.renderer.RemoveViewProp(entry[3])

    def ruler_visible(self, key: str) -> bool:
        """Whether ruler ``key`` is drawn on the current slice."""
        return key in self._rulers and bool(self._rulers[key][2].GetVisibility())

    def _update_ruler_visibility(self) -> None:
        if not self._rulers:
            return
        focal = np.asarray(self.renderer.GetActiveCamera().GetFocalPoint())
        tolerance = 0.5 * self.slice_step_mm + 1e-6
        for p1, p2, line, text in self._rulers.values():
            here = max(abs(float(np.dot(p - focal, self._normal))) for p in (p1, p2)) <= tolerance
            line.SetVisibility(here)
            text.SetVisibility(here)

    @property
    def crosshair_point(self) -> np.ndarray:
        """The crosshair's LPS point (a copy)."""
        return self._crosshair_point.copy()

    @property
    def crosshair_visible(self) -> bool:
        """Whether the crosshair lines are shown."""
        return bool(self._crosshair[0].GetVisibility())

    def set_crosshair(self, point_lps: np.ndarray | tuple[float, float, float] | None) -> None:
        """Draw the crosshair through ``point_lps`` (the other two views' planes), or hide it with None."""
        if point_lps is None or self._volume is None:
            for actor in self._crosshair:
                actor.VisibilityOff()
            return
        self._crosshair_point = np.asarray(point_lps, dtype=float)
        self._place_crosshair()

    def _place_crosshair(self) -> None:
        point = self._crosshair_point.copy()
        axes = self.axes
        # In the current slice plane, so scrolling never puts the image in front of the lines.
        focal = np.asarray(self.renderer.GetActiveCamera().GetFocalPoint())
        point += np.dot(focal - point, self._normal) * self._normal
        up = np.asarray(axes.view_up)
        right = np.cross(axes.projection, up)
        assert self._volume is not None
        corners = self._volume.geometry.corner_points_lps()
        # Lines span the volume and sit a little towards the camera so the slice never hides them.
        towards_camera = -0.5 * np.asarray(axes.projection)
        for actor, direction in zip(self._crosshair, (right, up), strict=True):
            extent = corners @ direction
            base = point - np.dot(point, direction) * direction + towards_camera
            actor._source.SetPoint1(*(base + extent.min() * direction))  # type: ignore[attr-defined]
            actor._source.SetPoint2(*(base + extent.max() * direction))  # type: ignore[attr-defined]
            actor.VisibilityOn()

    def _update_info(self) -> None:
        if self._volume is None:
            self._info.SetInput("")
            return
        width, centre = self._window_level
        index, count = self.slice_index, self.slice_count
        self._info.SetInput(f"{index + 1}/{count}   {self.slice_offset_mm:+.1f} mm   W {width:.0f} L {centre:.0f}")

    # --- data ---------------------------------------------------------------------------------------------------
    @property
    def volume(self) -> Volume | None:
        """The displayed volume."""
        return self._volume

    def set_volume(self, volume: Volume | None, window_level: tuple[float, float] | None = None) -> None:
        """Show ``volume`` (or nothing), centred, with the given ``(width, centre)`` window."""
        if self._image_slice is not None:
            self.renderer.RemoveViewProp(self._image_slice)
            self._image_slice = None
        self._volume = volume
        if volume is None:
            self._update_info()
            return
        self._image_slice = self._make_slice(volume)
        prop = vtkImageProperty()
        prop.SetInterpolationTypeToLinear()
        self._image_slice.SetProperty(prop)
        self.renderer.AddViewProp(self._image_slice)
        if window_level is not None:
            self._window_level = (float(window_level[0]), float(window_level[1]))
        self._apply_window_level()
        self.reset_camera()

    def _make_slice(self, volume: Volume) -> vtkImageSlice:
        mapper = vtkImageResliceMapper()
        mapper.SetInputData(volume_to_image_data(volume))
        mapper.SliceFacesCameraOn()
        mapper.SliceAtFocalPointOn()
        mapper.BorderOn()
        image_slice = vtkImageSlice()
        image_slice.SetMapper(mapper)
        image_slice.SetUserMatrix(image_placement_matrix(volume))
        return image_slice

    @property
    def window_level(self) -> tuple[float, float]:
        """``(width, centre)`` of the grey-scale window."""
        return self._window_level

    def set_window_level(self, width: float, centre: float) -> None:
        """Change the grey-scale window."""
        if not width > 0:
            raise ValueError(f"window width must be positive, got {width}")
        self._window_level = (float(width), float(centre))
        self._apply_window_level()

    def _apply_window_level(self) -> None:
        if self._image_slice is not None:
            prop = self._image_slice.GetProperty()
            prop.SetColorWindow(self._window_level[0])
            prop.SetColorLevel(self._window_level[1])
        self._update_info()

    def set_labelmap(
        self,
        labelmap: Volume | None,
        colours: Mapping[int, tuple[float, float, float]] | None = None,
        *,
        opacity: float = 0.5,
    ) -> None:
        """Overlay a label map; ``colours`` maps each visible label value to RGB (other labels are transparent)."""
        if self._label_slice is not None:
            self.renderer.RemoveViewProp(self._label_slice)
            self._label_slice = None
        self._remove_outline()
        self._labelmap = labelmap
        if labelmap is None:
            return
        self._label_slice = self._make_slice(labelmap)
        self._label_slice.GetMapper().BorderOn()
        prop = vtkImageProperty()
        prop.SetInterpolationTypeToNearest()
        prop.UseLookupTableScalarRangeOn()
        self._label_slice.SetProperty(prop)
        self.renderer.AddViewProp(self._label_slice)
        self._label_slice.SetVisibility(self._fill)
        self.set_label_colours(colours or {}, opacity=opacity)
        if self._outline:
            self._build_outline()

    def labelmap_modified(self) -> None:
        """The overlaid label map's voxels changed in place: redraw them at the next render, without a rebuild."""
        if self._label_slice is not None:
            self._label_slice.GetMapper().GetInput().Modified()
        if self._outline_slice is not None:
            self._update_outline()

    # --- overlay style ------------------------------------------------------------------------------------------
    @property
    def overlay_style(self) -> tuple[bool, bool]:
        """``(fill, outline)``: how segments are drawn on the slice."""
        return self._fill, self._outline

    def set_overlay_style(self, *, fill: bool = True, outline: bool = False) -> None:
        """Draw segments filled (at the overlay opacity), outlined (opaque, one voxel wide), both, or neither."""
        self._fill, self._outline = bool(fill), bool(outline)
        if self._label_slice is not None:
            self._label_slice.SetVisibility(self._fill)
        if self._outline and self._labelmap is not None:
            self._build_outline()
        elif not self._outline:
            self._remove_outline()

    def _in_plane_axes(self) -> tuple[int, ...]:
        """Array axes (z, y, x order) that lie in the slice plane; all three for an oblique plane."""
        assert self._labelmap is not None
        alignment = np.abs(self._labelmap.direction.T @ self._normal)  # per index axis i, j, k
        if alignment.max() < 1.0 - 1e-6:
            return (0, 1, 2)
        slice_axis = 2 - int(np.argmax(alignment))
        return tuple(a for a in (0, 1, 2) if a != slice_axis)

    def _build_outline(self) -> None:
        assert self._labelmap is not None
        axes = self._in_plane_axes()
        outline = np.ascontiguousarray(label_outline(self._labelmap.array, axes))
        volume = Volume(outline, self._labelmap.spacing, self._labelmap.origin, self._labelmap.direction)
        if self._outline_slice is None or self._outline_axes != axes:
            self._remove_outline()
            self._outline_slice = self._make_slice(volume)
            prop = vtkImageProperty()
            prop.SetInterpolationTypeToNearest()
            prop.UseLookupTableScalarRangeOn()
            self._outline_slice.SetProperty(prop)
            self.renderer.AddViewProp(self._outline_slice)
        else:
            self._outline_slice.GetMapper().SetInputData(volume_to_image_data(volume))
        self._outline_axes = axes
        # the outline image shares ``outline``'s memory: edits redo only the changed part (see _update_outline)
        self._outline_voxels, self._outline_labels = outline, self._labelmap.array.copy()
        self._outline_slice.GetProperty().SetLookupTable(_label_table(self._label_colours, 1.0))

    def _update_outline(self) -> None:
        """The label map changed in place: redo the outline where its voxels changed (a brush stroke touches a few
        slices; recomputing a whole CT's outline per stroke would lag the brush)."""
        assert self._labelmap is not None
        labels = self._labelmap.array
        before = self._outline_labels
        if before is None or before.shape != labels.shape or before.dtype != labels.dtype:
            self._build_outline()
            return
        region = changed_region(labels, before)
        if region is None:
            return
        # voxels whose outline status can change: the changed box grown by one; computed with one more as context
        grown = _grow(region, 1, labels.shape)
        context = _grow(region, 2, labels.shape)
        inner = tuple(slice(g.start - c.start, g.stop - c.start) for g, c in zip(grown, context, strict=True))
        self._outline_voxels[grown] = label_outline(labels[context], self._outline_axes)[inner]
        before[region] = labels[region]
        self._outline_slice.GetMapper().GetInput().Modified()

    def _remove_outline(self) -> None:
        if self._outline_slice is not None:
            self.renderer.RemoveViewProp(self._outline_slice)
            self._outline_slice = None
        self._outline_voxels = self._outline_labels = None

    def set_label_colours(self, colours: Mapping[int, tuple[float, float, float]], *, opacity: float = 0.5) -> None:
        """Recolour the overlay; labels missing from ``colours`` are hidden."""
        self._label_colours, self._label_opacity = dict(colours), float(opacity)
        if self._label_slice is None or self._labelmap is None:
            return
        self._label_slice.GetProperty().SetLookupTable(_label_table(colours, opacity))
        if self._outline_slice is not None:
            self._outline_slice.GetProperty().SetLookupTable(_label_table(colours, 1.0))

    # --- oblique planes -----------------------------------------------------------------------------------------
    @property
    def oblique(self) -> bool:
        """Whether the view shows a plane other than its standard one."""
        return self.axes != self.orientation.axes

    def set_plane(self, normal, view_up, point=None) -> None:
        """Reslice along the plane through ``point`` (default: the current focal point) with unit ``normal``.

        ``normal`` is the direction the view looks along; ``view_up`` (made perpendicular to it) points to the top
        of the screen. The orientation letters follow the plane (e.g. "LA" for a direction between left and
        anterior), and the slice scrolls by the finest voxel spacing.
        """
        n = np.asarray(normal, float)
        if not np.linalg.norm(n) > 1e-9:
            raise ValueError("the plane's normal must not be zero")
        n /= np.linalg.norm(n)
        up = np.asarray(view_up, float)
        up = up - np.dot(up, n) * n
        if not np.linalg.norm(up) > 1e-6:
            raise ValueError("view_up must not be parallel to the plane's normal")
        up /= np.linalg.norm(up)
        right = np.cross(n, up)
        camera = self.renderer.GetActiveCamera()
        centre = np.asarray(camera.GetFocalPoint() if point is None else point, float)
        self.axes = ViewAxes(tuple(n), tuple(up), _direction_letters(-right), _direction_letters(right),
                             _direction_letters(up), _direction_letters(-up))
        for actor, text in zip(self._letters, (self.axes.left, self.axes.right, self.axes.top, self.axes.bottom),
                               strict=True):
            actor.SetInput(text)
        self._title.SetInput(f"{self.orientation.label} (oblique)" if self.oblique else self.orientation.label)
        if self._outline_slice is not None and self._in_plane_axes() != self._outline_axes:
            self._build_outline()
        distance = camera.GetDistance()
        camera.SetFocalPoint(*centre)
        camera.SetPosition(*(centre - distance * n))
        camera.SetViewUp(*up)
        self.renderer.ResetCameraClippingRange()
        if self.crosshair_visible:
            self._place_crosshair()
        self._update_ruler_visibility()
        self._update_info()

    def rotate_plane(self, degrees: float, about: str, point=None) -> None:
        """Tilt the plane by ``degrees`` about the screen's ``"vertical"`` or ``"horizontal"`` axis through
        ``point`` (default: the focal point); positive turns the right (or top) edge away from the viewer."""
        axes = {"vertical": np.asarray(self.axes.view_up), "horizontal": np.cross(self.axes.normal, self.axes.view_up)}
        if about not in axes:
            raise ValueError(f"rotate about 'vertical' or 'horizontal', not {about!r}")
        rotation = _rotation(axes[about], np.radians(degrees))
        self.set_plane(rotation @ self.axes.normal, rotation @ np.asarray(self.axes.view_up), point)

    def reset_plane(self) -> None:
        """Back to the view's standard axial, coronal or sagittal plane, through the same point."""
        axes = self.orientation.axes
        self.set_plane(axes.normal, axes.view_up)
        self.axes = axes  # exactly (letters included), not a recomputed copy
        for actor, text in zip(self._letters, (axes.left, axes.right, axes.top, axes.bottom), strict=True):
            actor.SetInput(text)
        self._title.SetInput(self.orientation.label)
        self._move_focal_to(float(np.dot(self.renderer.GetActiveCamera().GetFocalPoint(), self._normal)))

    # --- navigation ---------------------------------------------------------------------------------------------
    @property
    def _normal(self) -> np.ndarray:
        return self.axes.normal

    @property
    def slice_step_mm(self) -> float:
        """Distance between neighbouring slices along the view normal."""
        if self._volume is None:
            return 1.0
        # Spacing of the index axis best aligned with the normal; an oblique plane steps by the finest spacing.
        alignment = np.abs(self._volume.direction.T @ self._normal)
        if alignment.max() < 1.0 - 1e-6:
            return float(min(self._volume.spacing))
        return float(self._volume.spacing[int(np.argmax(alignment))])

    def _extent_along_normal(self) -> tuple[float, float]:
        assert self._volume is not None
        projections = self._volume.geometry.corner_points_lps() @ self._normal
        return float(projections.min()), float(projections.max())

    @property
    def slice_count(self) -> int:
        """Number of slices through the volume in this orientation."""
        if self._volume is None:
            return 0
        low, high = self._extent_along_normal()
        return round((high - low) / self.slice_step_mm) + 1

    @property
    def slice_index(self) -> int:
        """Index of the current slice, 0 at the lowest position along the normal."""
        if self._volume is None:
            return 0
        low, _ = self._extent_along_normal()
        position = float(np.dot(self.renderer.GetActiveCamera().GetFocalPoint(), self._normal))
        return int(np.clip(round((position - low) / self.slice_step_mm), 0, self.slice_count - 1))

    @property
    def slice_offset_mm(self) -> float:
        """Position of the slice along the normal, in millimetres from the volume centre."""
        if self._volume is None:
            return 0.0
        focal = np.asarray(self.renderer.GetActiveCamera().GetFocalPoint())
        return float(np.dot(focal - self._volume.geometry.center_lps(), self._normal))

    def set_slice_index(self, index: int) -> None:
        """Go to slice ``index`` (clamped to the volume)."""
        if self._volume is None:
            return
        low, _ = self._extent_along_normal()
        index = int(np.clip(index, 0, self.slice_count - 1))
        self._move_focal_to(low + index * self.slice_step_mm)

    def move_slice(self, steps: int) -> None:
        """Move ``steps`` slices along the normal (negative moves back)."""
        self.set_slice_index(self.slice_index + int(steps))

    def set_slice_point(self, point_lps: np.ndarray | tuple[float, float, float]) -> None:
        """Put the slice through ``point_lps`` (the other coordinates of the view stay)."""
        self._move_focal_to(float(np.dot(point_lps, self._normal)))

    def _move_focal_to(self, position: float) -> None:
        # Snap to a voxel plane: a slice between two planes would show an interpolated blend of both.
        if self._volume is not None:
            low, _ = self._extent_along_normal()
            index = np.clip(round((position - low) / self.slice_step_mm), 0, self.slice_count - 1)
            position = low + index * self.slice_step_mm
        camera = self.renderer.GetActiveCamera()
        focal = np.asarray(camera.GetFocalPoint())
        shift = (position - float(np.dot(focal, self._normal))) * self._normal
        camera.SetFocalPoint(*(focal + shift))
        camera.SetPosition(*(np.asarray(camera.GetPosition()) + shift))
        if self.crosshair_visible:
            self._place_crosshair()
        self._update_ruler_visibility()
        self._update_info()

    def reset_camera(self) -> None:
        """Centre the volume, fill the view, and go to the middle slice."""
        camera = self.renderer.GetActiveCamera()
        camera.ParallelProjectionOn()
        axes = self.axes
        centre = self._volume.geometry.center_lps() if self._volume is not None else np.zeros(3)
        camera.SetFocalPoint(*centre)
        camera.SetPosition(*(centre - 1000.0 * np.asarray(axes.projection)))
        camera.SetViewUp(*axes.view_up)
        if self._volume is not None:
            corners = self._volume.geometry.corner_points_lps()
            up = np.asarray(axes.view_up)
            right = np.cross(axes.projection, up)
            half_height = 0.5 * float(np.ptp(corners @ up))
            half_width = 0.5 * float(np.ptp(corners @ right))
            aspect = self._aspect()
            camera.SetParallelScale(1.04 * max(half_height, half_width / aspect, 1.0))
            self.set_slice_index(self.slice_count // 2)
        self.renderer.ResetCameraClippingRange()
        self._update_info()

    def _aspect(self) -> float:
        window = self.renderer.GetRenderWindow()
        if window is None:
            return 1.0
        width, height = window.GetSize()
        x0, y0, x1, y1 = self.renderer.GetViewport()
        w, h = max(width * (x1 - x0), 1), max(height * (y1 - y0), 1)
        return w / h

    def pick_point(self, display_x: float, display_y: float) -> np.ndarray:
        """LPS point under display pixel ``(x, y)`` on the current slice plane."""
        self.renderer.SetDisplayPoint(display_x, display_y, 0.0)
        self.renderer.DisplayToWorld()
        world = np.asarray(self.renderer.GetWorldPoint()[:3])
        focal = np.asarray(self.renderer.GetActiveCamera().GetFocalPoint())
        return world - np.dot(world - focal, self._normal) * self._normal


_LPS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # negative, positive end of each LPS axis


def _direction_letters(direction: np.ndarray, threshold: float = 0.3) -> str:
    """Screen-edge label of an LPS direction: its main axes' letters, strongest first (e.g. "L", "LA")."""
    d = np.asarray(direction, float) / max(float(np.linalg.norm(direction)), 1e-12)
    order = np.argsort(-np.abs(d))
    return "".join(_LPS_LETTERS[i][int(d[i] > 0)] for i in order if abs(d[i]) >= threshold) or "?"


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix by ``angle`` radians about unit ``axis`` (Rodrigues)."""
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def nice_length(limit_mm: float) -> float:
    """The longest 1-2-5 series length (…, 1, 2, 5, 10, 20, 50 mm, …) not above ``limit_mm``."""
    if not limit_mm > 0:
        raise ValueError(f"a scale bar needs a positive length, got {limit_mm}")
    decade = 10.0 ** np.floor(np.log10(limit_mm))
    return float(max(step * decade for step in (1.0, 2.0, 5.0) if step * decade <= limit_mm * (1 + 1e-9)))


def _label_table(colours: Mapping[int, tuple[float, float, float]], opacity: float) -> vtkLookupTable:
    """Lookup table colouring ``colours``' labels at ``opacity``; label 0 and the rest transparent."""
    # The table spans the coloured labels only; any higher label (a hidden segment) takes the transparent
    # above-range colour. This avoids scanning the whole label map on every recolouring.
    top = max([*colours.keys(), 1])
    table = vtkLookupTable()
    table.SetNumberOfTableValues(top + 1)
    table.SetTableRange(0, top)
    table.UseAboveRangeColorOn()
    table.SetAboveRangeColor(0.0, 0.0, 0.0, 0.0)
    for value in range(top + 1):
        rgb = colours.get(value)
        table.SetTableValue(value, *(rgb or (0.0, 0.0, 0.0)), float(opacity) if rgb and value else 0.0)
    table.Build()
    return table


def changed_region(after: np.ndarray, before: np.ndarray) -> tuple[slice, ...] | None:
    """The bounding box (array slices) of the voxels that differ between two same-shaped arrays; None if none do."""
    differs = after != before
    boxes = []
    for axis in range(differs.ndim):
        hits = np.flatnonzero(differs.any(axis=tuple(a for a in range(differs.ndim) if a != axis)))
        if not len(hits):
            return None
        boxes.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(boxes)


def _grow(region: tuple[slice, ...], by: int, shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(max(r.start - by, 0), min(r.stop + by, n)) for r, n in zip(region, shape, strict=True))


def label_outline(labels: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``labels`` kept only on each segment's edge voxels: those with a differently labelled neighbour along any
    of ``axes`` (the slice plane's array axes), so the outline is one voxel wide and inside its segment."""
    edge = np.zeros(labels.shape, bool)
    for axis in axes:
        n = labels.shape[axis]
        if n < 2:
            continue
        low = [slice(None)] * labels.ndim
        high = [slice(None)] * labels.ndim
        low[axis], high[axis] = slice(0, n - 1), slice(1, n)
        differs = labels[tuple(low)] != labels[tuple(high)]
        edge[tuple(low)] |= differs & (labels[tuple(low)] != 0)
        edge[tuple(high)] |= differs & (labels[tuple(high)] != 0)
    return np.where(edge, labels, 0).astype(labels.dtype, copy=False)
