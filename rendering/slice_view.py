"""A 2-D slice view of a volume with window/level, a label-map overlay and orientation letters.

The view owns one ``vtkRenderer``; a Qt widget, an offscreen window or a VR panel can host it. World coordinates are
LPS millimetres; the slice follows the camera's focal point, so moving through the volume is moving the camera.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkFiltersSources import vtkLineSource
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkImageProperty,
    vtkImageSlice,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkTextActor,
)
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper

import rendering.vtk_init  # noqa: F401  (registers the OpenGL and font back ends)
from imaging.volume import Volume
from rendering.orientation import SliceOrientation
from rendering.vtk_convert import image_placement_matrix, volume_to_image_data

__all__ = ["SliceView"]

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
        self.renderer = renderer or vtkRenderer()
        self.renderer.SetBackground(*BACKGROUND)
        self._volume: Volume | None = None
        self._labelmap: Volume | None = None
        self._image_slice: vtkImageSlice | None = None
        self._label_slice: vtkImageSlice | None = None
        self._window_level = (400.0, 40.0)
        self._letters = self._make_orientation_letters()
        self._info = self._make_text(0.01, 0.01, align_right=False, size=13)
        self._crosshair = self._make_crosshair()
        self._crosshair_point = np.zeros(3)
        self._rulers: dict[str, tuple[np.ndarray, np.ndarray, vtkActor, vtkTextActor]] = {}
        self._title = self._make_text(0.01, 0.99, align_right=False, size=14)
        self._title.GetTextProperty().SetVerticalJustificationToTop()
        self._title.SetInput(orientation.label)

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
        axes = self.orientation.axes
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
        axes = self.orientation.axes
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
        self.set_label_colours(colours or {}, opacity=opacity)

    def labelmap_modified(self) -> None:
        """The overlaid label map's voxels changed in place: redraw them at the next render, without a rebuild."""
        if self._label_slice is not None:
            self._label_slice.GetMapper().GetInput().Modified()

    def set_label_colours(self, colours: Mapping[int, tuple[float, float, float]], *, opacity: float = 0.5) -> None:
        """Recolour the overlay; labels missing from ``colours`` are hidden."""
        if self._label_slice is None or self._labelmap is None:
            return
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
        self._label_slice.GetProperty().SetLookupTable(table)

    # --- navigation ---------------------------------------------------------------------------------------------
    @property
    def _normal(self) -> np.ndarray:
        return self.orientation.axes.normal

    @property
    def slice_step_mm(self) -> float:
        """Distance between neighbouring slices along the view normal."""
        if self._volume is None:
            return 1.0
        # Spacing of the index axis best aligned with the normal.
        alignment = np.abs(self._volume.direction.T @ self._normal)
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
        axes = self.orientation.axes
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
