"""Qt hosts for the Qt-free VTK views: slice panels (with a slider) and the 3-D panel.

Mouse and keyboard handling lives here; :class:`~rendering.slice_view.SliceView` and
:class:`~rendering.scene3d.Scene3D` only know how to draw.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QSlider, QWidget
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleImage, vtkInteractorStyleTrackballCamera

import rendering.vtk_init  # noqa: F401  (before any render window is made)
from rendering.clipping import Clipping, ClippingBoxWidget, ClipPlane
from rendering.orientation import SliceOrientation
from rendering.scene3d import Scene3D
from rendering.slice_view import SliceView
from rendering.weak_callbacks import weak_callback

__all__ = ["SlicePanel", "ThreeDPanel", "ViewPanel"]


class _VTKWidget(QVTKRenderWindowInteractor):
    """A render-window widget that lets its panel handle input first.

    Key presses never reach VTK's one-letter commands (``e``/``q`` quit, ``w`` wireframe...); they go to the panel,
    then to Qt (window shortcuts). Mouse events go to ``panel.on_<event>`` when the panel defines it, which returns
    True when it handled the event.
    """

    def __init__(self, panel: ViewPanel) -> None:
        super().__init__(panel)
        self._panel = panel

    def _dispatch(self, name: str, ev) -> bool:
        handler = getattr(self._panel, name, None)
        return bool(handler is not None and handler(ev))

    def mousePressEvent(self, ev: QMouseEvent) -> None:
        if not self._dispatch("on_mouse_press", ev):
            super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:
        if not self._dispatch("on_mouse_move", ev):
            super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:
        if not self._dispatch("on_mouse_release", ev):
            super().mouseReleaseEvent(ev)

    def mouseDoubleClickEvent(self, ev: QMouseEvent) -> None:
        if not self._dispatch("on_double_click", ev):
            super().mouseDoubleClickEvent(ev)

    def wheelEvent(self, ev: QWheelEvent) -> None:
        if not self._dispatch("on_wheel", ev):
            super().wheelEvent(ev)

    def keyPressEvent(self, ev: QKeyEvent) -> None:
        if not self._dispatch("on_key_press", ev):
            QWidget.keyPressEvent(self, ev)

    def keyReleaseEvent(self, ev: QKeyEvent) -> None:
        QWidget.keyReleaseEvent(self, ev)


class ViewPanel(QFrame):
    """A framed view: a VTK render widget, optionally with a slider on its right.

    Signals
    -------
    maximise_requested()
        The user double-clicked the view.
    activated()
        The user clicked into the view.
    """

    maximise_requested = Signal()
    activated = Signal()

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ViewPanel")
        self.title = title
        self.vtk_widget = _VTKWidget(self)
        self.vtk_widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.vtk_widget.setMinimumSize(120, 120)
        self.render_window = self.vtk_widget.GetRenderWindow()
        self.render_window.SetMultiSamples(0)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(1, 1, 1, 1)
        self._layout.setSpacing(0)
        self._layout.addWidget(self.vtk_widget, 1)

    def set_active(self, active: bool) -> None:
        """Highlight the frame of the view the user works in."""
        self.setProperty("active", "true" if active else "false")
        self.style().unpolish(self)
        self.style().polish(self)

    def render(self) -> None:  # type: ignore[override]  # QWidget.render draws into a device; unused here
        """Redraw now (only when shown: rendering a hidden native window is wasted or unsafe)."""
        if self.vtk_widget.isVisible() and self.vtk_widget.width() > 0:
            self.render_window.Render()

    def finalize(self) -> None:
        """Release the OpenGL context (call before the widget is destroyed)."""
        self.vtk_widget.Finalize()


TILT_DEGREES_PER_PIXEL = 0.4


class SlicePanel(ViewPanel):
    """An axial, coronal or sagittal slice view.

    Mouse: wheel scrolls slices (Ctrl+wheel zooms), left click/drag sets the crosshair point, right drag or
    Shift+left drag changes window/level, middle drag pans, double-click maximises. Keys: PageUp/PageDown and the
    arrow keys scroll, Home/End go to the first/last slice.

    Signals
    -------
    point_picked(object)
        LPS point (numpy array) the user clicked on the current slice.
    window_level_dragged(float, float)
        New ``(width, centre)`` while right-dragging.
    slice_changed()
        The slice moved (by wheel, keys or slider).
    """

    point_picked = Signal(object)
    hovered = Signal(object)
    window_level_dragged = Signal(float, float)
    slice_changed = Signal()

    def __init__(self, orientation: SliceOrientation, parent: QWidget | None = None) -> None:
        super().__init__(orientation.label, parent)
        self.orientation = orientation
        self.view = SliceView(orientation)
        self.render_window.AddRenderer(self.view.renderer)
        style = vtkInteractorStyleImage()
        self.vtk_widget.SetInteractorStyle(style)
        self.slider = QSlider(Qt.Orientation.Vertical, self)
        self.slider.setInvertedAppearance(False)
        self.slider.setToolTip(f"{orientation.label} slice (wheel, PageUp/PageDown or arrow keys)")
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._on_slider)
        self._layout.addWidget(self.slider)
        self.vtk_widget.setToolTip(
            f"{orientation.label}: wheel = scroll slices, left click = crosshair, right drag = window/level, "
            "middle drag = pan, Ctrl+wheel = zoom, Ctrl+left drag = tilt the plane (oblique), O = back to the "
            f"{orientation.label.lower()} plane, double-click = maximise"
        )
        self._drag: tuple[str, QPoint, tuple[float, float]] | None = None

    # --- state ----------------------------------------------------------------------------------------------------
    def sync_slider(self) -> None:
        """Match the slider to the view's slice count and position."""
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(self.view.slice_count - 1, 0))
        self.slider.setValue(self.view.slice_index)
        self.slider.setEnabled(self.view.volume is not None)
        self.slider.blockSignals(False)

    def move_slice(self, steps: int) -> None:
        """Scroll ``steps`` slices and redraw."""
        self.view.move_slice(steps)
        self._slice_moved()

    def set_slice_index(self, index: int) -> None:
        """Go to slice ``index`` and redraw."""
        self.view.set_slice_index(index)
        self._slice_moved()

    def _slice_moved(self) -> None:
        self.sync_slider()
        self.render()
        self.slice_changed.emit()

    def _on_slider(self, value: int) -> None:
        if value != self.view.slice_index:
            self.view.set_slice_index(value)
            self.render()
            self.slice_changed.emit()

    def fit(self, focus: np.ndarray | None = None) -> None:
        """Fill the view with the volume and go to ``focus`` (or the middle slice)."""
        self.view.reset_camera()
        if focus is not None:
            self.view.set_slice_point(focus)
        self.sync_slider()

    def zoom(self, factor: float) -> None:
        """Zoom in (factor > 1) or out."""
        camera = self.view.renderer.GetActiveCamera()
        camera.SetParallelScale(camera.GetParallelScale() / factor)
        self.render()

    # --- events ---------------------------------------------------------------------------------------------------
    def _display_xy(self, pos: QPoint) -> tuple[float, float]:
        ratio = self.vtk_widget.devicePixelRatioF()
        return pos.x() * ratio, (self.vtk_widget.height() - pos.y() - 1) * ratio

    def pick(self, pos: QPoint) -> np.ndarray:
        """LPS point under widget position ``pos``."""
        return self.view.pick_point(*self._display_xy(pos))

    def on_mouse_press(self, ev: QMouseEvent) -> bool:
        """Start a crosshair, window/level or pan drag."""
        self.vtk_widget.setFocus()
        self.activated.emit()
        pos = ev.position().toPoint()
        button, shift = ev.button(), bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        ctrl = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if button == Qt.MouseButton.LeftButton and ctrl and self.view.volume is not None:
            self._drag = ("tilt", pos, self.view.window_level)
            self._tilt_centre = self._crosshair_or_focal()
        elif button == Qt.MouseButton.RightButton or (button == Qt.MouseButton.LeftButton and shift):
            self._drag = ("wl", pos, self.view.window_level)
        elif button == Qt.MouseButton.LeftButton:
            self._drag = ("point", pos, self.view.window_level)
            if self.view.volume is not None:
                self.point_picked.emit(self.pick(pos))
        elif button == Qt.MouseButton.MiddleButton:
            self._drag = ("pan", pos, self.view.window_level)
            return False
        return True

    def on_mouse_move(self, ev: QMouseEvent) -> bool:
        """Continue the current drag; without one, report the point under the cursor."""
        if self._drag is None:
            if self.view.volume is not None:
                self.hovered.emit(self.pick(ev.position().toPoint()))
            return True
        mode, start, (width, centre) = self._drag
        pos = ev.position().toPoint()
        if mode == "wl":
            scale = max(width, 10.0) / 250.0
            dx, dy = pos.x() - start.x(), pos.y() - start.y()
            self.window_level_dragged.emit(max(1.0, width + dx * scale), centre + dy * scale)
        elif mode == "point" and self.view.volume is not None:
            self.point_picked.emit(self.pick(pos))
        elif mode == "tilt":
            # Incremental: each move tilts by its own step, about the point the drag started on.
            dx, dy = pos.x() - start.x(), pos.y() - start.y()
            if dx:
                self.view.rotate_plane(TILT_DEGREES_PER_PIXEL * dx, "vertical", self._tilt_centre)
            if dy:
                self.view.rotate_plane(TILT_DEGREES_PER_PIXEL * dy, "horizontal", self._tilt_centre)
            self._drag = ("tilt", pos, (width, centre))
            self._plane_changed()
        elif mode == "pan":
            return False
        return True

    def on_mouse_release(self, ev: QMouseEvent) -> bool:
        """End the drag."""
        panning = self._drag is not None and self._drag[0] == "pan"
        self._drag = None
        return not panning

    def on_double_click(self, ev: QMouseEvent) -> bool:
        """Toggle maximised layout."""
        self._drag = None
        self.maximise_requested.emit()
        return True

    def on_wheel(self, ev: QWheelEvent) -> bool:
        """Scroll slices, or zoom with Ctrl."""
        steps = ev.angleDelta().y() // 120 or (1 if ev.angleDelta().y() > 0 else -1 if ev.angleDelta().y() else 0)
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(1.1 ** steps)
        elif steps:
            self.move_slice(int(steps))
        return True

    def on_key_press(self, ev: QKeyEvent) -> bool:
        """Slice navigation keys; anything else goes on to the window."""
        key = ev.key()
        big = max(self.view.slice_count // 10, 1)
        moves = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_Left: -1,
                 Qt.Key.Key_PageUp: big, Qt.Key.Key_PageDown: -big}
        if key in moves:
            self.move_slice(moves[key])
        elif key == Qt.Key.Key_Home:
            self.set_slice_index(0)
        elif key == Qt.Key.Key_End:
            self.set_slice_index(self.view.slice_count - 1)
        elif key == Qt.Key.Key_O and self.view.oblique:
            self.view.reset_plane()
            self._plane_changed()
        else:
            return False
        return True

    # --- oblique planes -------------------------------------------------------------------------------------------
    def _crosshair_or_focal(self) -> np.ndarray:
        if self.view.crosshair_visible:
            return self.view.crosshair_point
        return np.asarray(self.view.renderer.GetActiveCamera().GetFocalPoint())

    def set_plane(self, normal, view_up, point=None) -> None:
        """Show the oblique plane through ``point`` with ``normal`` (see :meth:`SliceView.set_plane`)."""
        self.view.set_plane(normal, view_up, point)
        self._plane_changed()

    def _plane_changed(self) -> None:
        self.setToolTip(f"{self.title} (oblique: O resets)" if self.view.oblique else "")
        self.sync_slider()
        self.render()
        self.slice_changed.emit()


class ThreeDPanel(ViewPanel):
    """The 3-D view: trackball camera (left rotate, middle pan, right/wheel zoom), models, volume rendering,
    clipping planes and box, orientation marker.

    While the camera moves the scene draws its coarse level of detail; the full-detail frame follows
    :attr:`LOD_SETTLE_MS` after the last movement (a wheel turn is one short interaction per notch).

    Signals
    -------
    clipping_changed(object)
        The :class:`~rendering.clipping.Clipping` now applied (the user dragged the box, or it was set).
    """

    clipping_changed = Signal(object)
    LOD_SETTLE_MS = 150

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("3D", parent)
        self.scene = Scene3D()
        self.scene.attach(self.render_window)
        style = vtkInteractorStyleTrackballCamera()
        self.vtk_widget.SetInteractorStyle(style)
        # VTK keeps its observers alive and Python's collector cannot see through them: bound methods would tie
        # the panel (and its X connection) to the interactor style for good. Weak ones let both go.
        style.AddObserver("StartInteractionEvent", weak_callback(self._interaction_started))
        style.AddObserver("EndInteractionEvent", weak_callback(self._interaction_ended))
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(self.LOD_SETTLE_MS)
        self._settle.timeout.connect(self._interaction_settled)
        self._clip_planes: tuple[ClipPlane, ...] = ()
        self.clip_box = ClippingBoxWidget(self.render_window.GetInteractor(), self.scene.renderer,
                                          on_change=weak_callback(self._apply_clipping_from_box))
        self.vtk_widget.setToolTip("3D: left drag = rotate, middle drag = pan, right drag / wheel = zoom, "
                                   "double-click = maximise")

    # --- level of detail ------------------------------------------------------------------------------------------
    def _interaction_started(self, *_args) -> None:
        self._settle.stop()
        self.scene.set_interacting(True)

    def _interaction_ended(self, *_args) -> None:
        self._settle.start()

    def _interaction_settled(self) -> None:
        self.scene.set_interacting(False)
        self.render()

    # --- clipping -------------------------------------------------------------------------------------------------
    @property
    def clip_box_enabled(self) -> bool:
        """Whether the clipping box is on."""
        return self.clip_box.enabled

    def set_clip_box_enabled(self, enabled: bool) -> None:
        """Turn the clipping box on (placed around everything shown, unless it was placed before) or off."""
        if enabled and not self.clip_box.placed:
            bounds = self.scene.visible_bounds()
            self.clip_box.place(bounds if bounds is not None else np.array([[-100.0] * 3, [100.0] * 3]))
        self.clip_box.set_enabled(enabled)
        self._apply_clipping()

    def set_clip_planes(self, planes: list[ClipPlane] | tuple[ClipPlane, ...]) -> None:
        """Clip by ``planes`` (each keeps the side its normal points to), together with the box when it is on."""
        self._clip_planes = tuple(planes)
        self._apply_clipping()

    def _apply_clipping_from_box(self, _bounds) -> None:
        self._apply_clipping()

    def _apply_clipping(self) -> None:
        box = self.clip_box.bounds if self.clip_box.enabled else None
        clipping = Clipping(self._clip_planes, box)
        self.scene.set_clipping(clipping)
        self.clipping_changed.emit(clipping)
        self.render()

    # --- events ---------------------------------------------------------------------------------------------------
    def on_mouse_press(self, ev: QMouseEvent) -> bool:
        """Activate the view; VTK's trackball style does the rest."""
        self.vtk_widget.setFocus()
        self.activated.emit()
        return False

    def on_double_click(self, ev: QMouseEvent) -> bool:
        """End the rotation the first click started, then toggle the layout."""
        QVTKRenderWindowInteractor.mouseReleaseEvent(self.vtk_widget, ev)
        self.maximise_requested.emit()
        return True

    def show_standard_view(self, view: str) -> None:
        """Point the camera from a standard direction (``anterior``, ``left``, ``superior``...) and redraw."""
        self.scene.reset_camera(view, zoom=1.1)
        self.render()
