"""The "Volume rendering" dock: volume on/off, presets, an editable opacity/colour curve, shift, clipping, marker.

The curve editor works as 3D Slicer's: the opacity curve over the voxel values (a grey histogram of the volume
behind it), a colour strip below. Mouse: drag a point (left button) to move it; click on an empty spot of the curve
area to add a point there; right-click a point to remove it (two stay at least). On the colour strip: drag a point
sideways; double-click it to choose its colour.
"""

from __future__ import annotations

import contextlib
import logging
import weakref

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QKeySequence,
    QLinearGradient,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.case import VolumeNode
from app.ui.docks import add_right_dock
from imaging.volume import Volume
from rendering.clipping import AXES, ClippingError, axis_plane
from rendering.transfer_functions import TransferFunction, TransferFunctionError, load_preset, preset_names

__all__ = ["TransferFunctionEditor", "VolumePanel", "install_volume_panel"]

log = logging.getLogger(__name__)

PICK_RADIUS_PX = 8
STRIP_HEIGHT_PX = 16
MARGIN_PX = 8
SHIFT_RANGE = 1000  # +-HU of the shift slider


class TransferFunctionEditor(QWidget):
    """An editable scalar-opacity curve with a colour strip below it.

    Signals
    -------
    transfer_function_changed(object)
        The edited :class:`~rendering.transfer_functions.TransferFunction`, emitted on every drag step.
    editing_finished(object)
        The transfer function when the mouse button is released.
    """

    transfer_function_changed = Signal(object)
    editing_finished = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 150)
        self.setMouseTracking(False)
        self.setToolTip("Opacity curve: drag a point, click to add one, right-click to remove one.\n"
                        "Colour strip: drag a point sideways, double-click it to pick its colour.")
        self._tf: TransferFunction | None = None
        self._range = (-1000.0, 1000.0)
        self._histogram: np.ndarray | None = None
        self._histogram_cache: tuple[tuple, np.ndarray] | None = None
        self._drag: tuple[str, int] | None = None

    # --- state ----------------------------------------------------------------------------------------------------
    @property
    def transfer_function(self) -> TransferFunction | None:
        """The curve shown."""
        return self._tf

    def set_transfer_function(self, tf: TransferFunction, *, fit_range: bool = False) -> None:
        """Show ``tf``; with ``fit_range`` the value axis is fitted to its interesting part."""
        self._tf = tf
        if fit_range:
            self._range = self.fitted_range(tf)
        self.update()

    @property
    def value_range(self) -> tuple[float, float]:
        """Values at the left and right edges of the plot."""
        return self._range

    def set_value_range(self, low: float, high: float) -> None:
        """Show values ``low`` to ``high``."""
        if high <= low:
            raise ValueError(f"value range needs low < high, got {low:g}..{high:g}")
        self._range = (float(low), float(high))
        self.update()

    @staticmethod
    def fitted_range(tf: TransferFunction) -> tuple[float, float]:
        """The span of the inner control points padded by half of it on either side (the outermost points of a
        preset sit at the type's limits, e.g. -3024 and 3071 HU, where nothing happens)."""
        xs = [p[0] for p in tf.scalar_opacity]
        inner = xs[1:-1] if len(xs) > 2 else xs
        low, high = min(inner), max(inner)
        pad = max(0.5 * (high - low), 50.0)
        return low - pad, high + pad

    def set_histogram(self, volume: Volume | None) -> None:
        """Draw the histogram of ``volume``'s values (a subsample) behind the curve."""
        if volume is None:
            self._histogram = None
        else:
            sample = np.asarray(volume.array).ravel()[:: max(1, volume.array.size // 200_000)]
            self._histogram = sample.astype(np.float32)
        self.update()

    # --- geometry -------------------------------------------------------------------------------------------------
    def plot_rect(self) -> QRectF:
        """Where the opacity curve is drawn (widget coordinates)."""
        return QRectF(MARGIN_PX, MARGIN_PX, self.width() - 2 * MARGIN_PX,
                      self.height() - 3 * MARGIN_PX - STRIP_HEIGHT_PX)

    def strip_rect(self) -> QRectF:
        """Where the colour strip is drawn."""
        plot = self.plot_rect()
        return QRectF(plot.left(), plot.bottom() + MARGIN_PX, plot.width(), STRIP_HEIGHT_PX)

    def value_to_x(self, value: float) -> float:
        """Widget x of a voxel value."""
        plot, (low, high) = self.plot_rect(), self._range
        return plot.left() + (value - low) / (high - low) * plot.width()

    def x_to_value(self, x: float) -> float:
        """Voxel value at widget x."""
        plot, (low, high) = self.plot_rect(), self._range
        return low + (x - plot.left()) / max(plot.width(), 1.0) * (high - low)

    def opacity_to_y(self, opacity: float) -> float:
        """Widget y of an opacity."""
        plot = self.plot_rect()
        return plot.bottom() - opacity * plot.height()

    def y_to_opacity(self, y: float) -> float:
        """Opacity at widget y (clamped to 0..1)."""
        plot = self.plot_rect()
        return float(np.clip((plot.bottom() - y) / max(plot.height(), 1.0), 0.0, 1.0))

    def opacity_point_position(self, index: int) -> QPointF:
        """Widget position of opacity control point ``index``."""
        x, a = self._tf.scalar_opacity[index]
        return QPointF(self.value_to_x(x), self.opacity_to_y(a))

    def color_point_position(self, index: int) -> QPointF:
        """Widget position of colour control point ``index`` (middle of the strip)."""
        return QPointF(self.value_to_x(self._tf.color[index][0]), self.strip_rect().center().y())

    def _nearest(self, pos: QPointF, positions: list[QPointF]) -> int | None:
        best, best_d = None, float(PICK_RADIUS_PX)
        for i, p in enumerate(positions):
            d = float(np.hypot(p.x() - pos.x(), p.y() - pos.y()))
            if d <= best_d:
                best, best_d = i, d
        return best

    # --- mouse ----------------------------------------------------------------------------------------------------
    def mousePressEvent(self, ev: QMouseEvent) -> None:
        if self._tf is None:
            return
        pos = ev.position()
        in_strip = self.strip_rect().adjusted(0, -4, 0, 4).contains(pos)
        if in_strip:
            index = self._nearest(pos, [self.color_point_position(i) for i in range(len(self._tf.color))])
            if index is not None and ev.button() == Qt.MouseButton.LeftButton:
                self._drag = ("color", index)
            elif index is not None and ev.button() == Qt.MouseButton.RightButton and len(self._tf.color) > 2:
                points = list(self._tf.color)
                del points[index]
                self._commit(self._tf.with_color_points(points), finished=True)
            return
        index = self._nearest(pos, [self.opacity_point_position(i) for i in range(len(self._tf.scalar_opacity))])
        if ev.button() == Qt.MouseButton.RightButton:
            if index is not None and len(self._tf.scalar_opacity) > 2:
                points = list(self._tf.scalar_opacity)
                del points[index]
                self._commit(self._tf.with_opacity_points(points), finished=True)
            return
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        if index is None and self.plot_rect().contains(pos):
            value, opacity = self.x_to_value(pos.x()), self.y_to_opacity(pos.y())
            xs = [p[0] for p in self._tf.scalar_opacity]
            if value in xs:
                return
            points = sorted([*self._tf.scalar_opacity, (value, opacity)])
            index = points.index((value, opacity))
            self._commit(self._tf.with_opacity_points(points))
        if index is not None:
            self._drag = ("opacity", index)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:
        if self._drag is None or self._tf is None:
            return
        kind, index = self._drag
        pos = ev.position()
        points = list(self._tf.scalar_opacity if kind == "opacity" else self._tf.color)
        # A point stays between its neighbours (positions must increase), 0.01 value units apart at least.
        low = points[index - 1][0] + 1e-2 if index > 0 else -1e9
        high = points[index + 1][0] - 1e-2 if index + 1 < len(points) else 1e9
        value = float(np.clip(self.x_to_value(pos.x()), low, high))
        if kind == "opacity":
            points[index] = (value, self.y_to_opacity(pos.y()))
            self._commit(self._tf.with_opacity_points(points))
        else:
            points[index] = (value, *points[index][1:])
            self._commit(self._tf.with_color_points(points))

    @property
    def dragging(self) -> bool:
        """Whether a point is being dragged (``editing_finished`` follows on release)."""
        return self._drag is not None

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:
        if self._drag is not None and self._tf is not None:
            self._drag = None
            self.editing_finished.emit(self._tf)

    def mouseDoubleClickEvent(self, ev: QMouseEvent) -> None:
        if self._tf is None:
            return
        pos = ev.position()
        index = self._nearest(pos, [self.color_point_position(i) for i in range(len(self._tf.color))])
        if index is None or not self.strip_rect().adjusted(0, -4, 0, 4).contains(pos):
            return
        self._drag = None
        x, r, g, b = self._tf.color[index]
        colour = QColorDialog.getColor(QColor.fromRgbF(r, g, b), self, "Colour at this value")
        if colour.isValid():
            points = list(self._tf.color)
            points[index] = (x, colour.redF(), colour.greenF(), colour.blueF())
            self._commit(self._tf.with_color_points(points), finished=True)

    def _commit(self, tf: TransferFunction, *, finished: bool = False) -> None:
        self._tf = tf
        self.update()
        self.transfer_function_changed.emit(tf)
        if finished:
            self.editing_finished.emit(tf)

    # --- drawing --------------------------------------------------------------------------------------------------
    def _histogram_counts(self, bins: int) -> np.ndarray:
        """Histogram of the value sample over the shown range (cached: a drag repaints on every mouse move)."""
        key = (self._range, bins, id(self._histogram))
        if self._histogram_cache is None or self._histogram_cache[0] != key:
            counts, _ = np.histogram(self._histogram, bins=bins, range=self._range)
            self._histogram_cache = (key, counts)
        return self._histogram_cache[1]

    def paintEvent(self, _ev) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        plot, strip = self.plot_rect(), self.strip_rect()
        painter.fillRect(self.rect(), QColor(30, 32, 38))
        painter.fillRect(plot, QColor(18, 19, 23))
        if self._histogram is not None and self._histogram.size:
            counts = self._histogram_counts(max(int(plot.width() // 2), 8))
            if counts.max() > 0:
                heights = np.log1p(counts) / np.log1p(counts.max())
                bar = plot.width() / len(counts)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(70, 74, 84))
                for i, h in enumerate(heights):
                    top = plot.bottom() - h * plot.height()
                    painter.drawRect(QRectF(plot.left() + i * bar, top, bar, h * plot.height()))
        if self._tf is None:
            return
        # colour strip
        gradient = QLinearGradient(strip.left(), 0, strip.right(), 0)
        low, high = self._range
        for x, r, g, b in self._tf.color:
            t = (x - low) / (high - low)
            if 0.0 <= t <= 1.0:
                gradient.setColorAt(t, QColor.fromRgbF(r, g, b))
        for t in (0.0, 1.0):
            r, g, b = self._tf.color_at(low + t * (high - low))
            gradient.setColorAt(t, QColor.fromRgbF(r, g, b))
        painter.fillRect(strip, QBrush(gradient))
        painter.setPen(QPen(QColor(230, 230, 230), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for i in range(len(self._tf.color)):
            p = self.color_point_position(i)
            if strip.left() - 1 <= p.x() <= strip.right() + 1:
                painter.drawRect(QRectF(p.x() - 3, strip.top() - 2, 6, strip.height() + 4))
        # opacity curve, filled with the colours
        painter.setClipRect(plot)
        path = QPainterPath(QPointF(self.opacity_point_position(0).x(), plot.bottom()))
        for i in range(len(self._tf.scalar_opacity)):
            path.lineTo(self.opacity_point_position(i))
        path.lineTo(QPointF(self.opacity_point_position(len(self._tf.scalar_opacity) - 1).x(), plot.bottom()))
        fill = QLinearGradient(gradient)
        fill.setStart(plot.left(), 0)
        fill.setFinalStop(plot.right(), 0)
        painter.setOpacity(0.45)
        painter.fillPath(path, QBrush(fill))
        painter.setOpacity(1.0)
        painter.setPen(QPen(QColor(255, 215, 90), 2))
        curve = QPainterPath(self.opacity_point_position(0))
        for i in range(1, len(self._tf.scalar_opacity)):
            curve.lineTo(self.opacity_point_position(i))
        painter.drawPath(curve)
        painter.setBrush(QColor(255, 215, 90))
        for i in range(len(self._tf.scalar_opacity)):
            painter.drawEllipse(self.opacity_point_position(i), 4.0, 4.0)
        painter.setClipping(False)
        painter.setPen(QColor(160, 160, 170))
        painter.drawText(QRectF(plot.left() + 2, plot.top() + 1, plot.width() - 4, 14),
                         Qt.AlignmentFlag.AlignLeft, f"{low:.0f}")
        painter.drawText(QRectF(plot.left() + 2, plot.top() + 1, plot.width() - 4, 14),
                         Qt.AlignmentFlag.AlignRight, f"{high:.0f}")
        painter.end()


class VolumePanel(QWidget):
    """Controls of the 3-D view's volume rendering, clipping and orientation marker.

    Parameters
    ----------
    three_d : ThreeDPanel
        The 3-D view (its scene renders the volume; its clipping box and planes are driven from here).
    """

    def __init__(self, three_d, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.three_d = three_d
        self.scene = three_d.scene
        self.volume: Volume | None = None
        self._base: TransferFunction = load_preset("ct_angio")
        self._shift = 0.0
        self.node: VolumeNode | None = None  # where the settings are kept (they are saved with the case)
        self._restoring = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        top = QHBoxLayout()
        self.show_check = QCheckBox("Show volume")
        self.show_check.setToolTip("Volume rendering of the displayed image in the 3D view")
        self.show_check.toggled.connect(self.set_volume_visible)
        top.addWidget(self.show_check)
        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip("Transfer-function preset (values of 3D Slicer's presets)")
        for name in preset_names():
            self.preset_combo.addItem(load_preset(name).name, name)
        self.preset_combo.addItem("Custom", None)
        self.preset_combo.activated.connect(self._on_preset_chosen)
        top.addWidget(self.preset_combo, 1)
        layout.addLayout(top)

        self.editor = TransferFunctionEditor(self)
        self.editor.transfer_function_changed.connect(self._on_curve_edited)
        self.editor.editing_finished.connect(lambda _tf: self._store())
        layout.addWidget(self.editor, 1)

        shift_row = QHBoxLayout()
        shift_row.addWidget(QLabel("Shift"))
        self.shift_slider = QSlider(Qt.Orientation.Horizontal)
        self.shift_slider.setRange(-SHIFT_RANGE, SHIFT_RANGE)
        self.shift_slider.setToolTip("Move the whole transfer function along the value axis (HU)")
        self.shift_slider.valueChanged.connect(self.set_shift)
        self.shift_slider.sliderReleased.connect(self._store)
        shift_row.addWidget(self.shift_slider, 1)
        self.shift_label = QLabel("0")
        self.shift_label.setMinimumWidth(44)
        shift_row.addWidget(self.shift_label)
        layout.addLayout(shift_row)

        clip_box = QGroupBox("Clipping")
        grid = QGridLayout(clip_box)
        self.box_check = QCheckBox("Clipping box (drag its faces in the 3D view)")
        self.box_check.toggled.connect(self._on_box_toggled)
        grid.addWidget(self.box_check, 0, 0, 1, 3)
        self.plane_checks: dict[str, QCheckBox] = {}
        self.plane_sliders: dict[str, QSlider] = {}
        self.plane_flips: dict[str, QCheckBox] = {}
        for row, name in enumerate(("axial", "coronal", "sagittal"), start=1):
            check = QCheckBox(name.capitalize())
            check.setToolTip(f"Cut the models and the volume by an {name} plane")
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 1000)
            slider.setValue(500)
            slider.setToolTip(f"Position of the {name} clipping plane")
            flip = QCheckBox("flip")
            flip.setToolTip("Keep the other side")
            for widget_signal in (check.toggled, slider.valueChanged, flip.toggled):
                widget_signal.connect(self._apply_planes)
            grid.addWidget(check, row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(flip, row, 2)
            self.plane_checks[name], self.plane_sliders[name], self.plane_flips[name] = check, slider, flip
        layout.addWidget(clip_box)

        form = QFormLayout()
        self.marker_check = QCheckBox("Orientation marker")
        self.marker_check.setChecked(True)
        self.marker_check.toggled.connect(self._on_marker_toggled)
        form.addRow(self.marker_check)
        self.mapper_label = QLabel("")
        self.mapper_label.setToolTip("Volume ray caster in use (GPU when OpenGL runs on one; CPU on software OpenGL)")
        form.addRow("Ray casting:", self.mapper_label)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        form.addRow(self.message)
        layout.addLayout(form)
        self.editor.set_transfer_function(self._base, fit_range=True)
        self._sync_preset_combo()
        self.set_volume(None)

    # --- the volume -----------------------------------------------------------------------------------------------
    def set_volume(self, volume: Volume | None, node: VolumeNode | None = None) -> None:
        """Render ``volume`` (None: nothing to render) with the settings kept in its case ``node`` when it has some;
        otherwise the MR preset for an MR image."""
        if volume is self.volume and volume is not None:
            return
        self.volume, self.node = volume, node
        self.show_check.setEnabled(volume is not None)
        self.editor.set_histogram(volume)
        saved = node.volume_rendering if node is not None else None
        self._restoring = True
        try:
            if saved is not None and self._restore(saved):
                pass
            elif volume is not None:
                modality = "MR" if str(volume.metadata.get("modality", "")).upper() == "MR" else "CT"
                if modality != self._base.modality:
                    self.apply_preset("mr_default" if modality == "MR" else "ct_angio")
            if volume is None:
                if self.scene.has_volume_rendering:
                    self.scene.set_volume(None)
            elif self.show_check.isChecked() and not (self.scene.has_volume_rendering
                                                      and self.scene.volume_rendering.volume is volume):
                self._push_volume()
        finally:
            self._restoring = False
        self._render()

    def _restore(self, saved: dict) -> bool:
        """Take the saved settings (False, keeping the current ones, when they do not read)."""
        try:
            base = TransferFunction.from_dict(saved["transfer_function"])
            shift = float(saved.get("shift", 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            self.message.setText(f"The saved volume rendering could not be used ({exc}); showing the preset.")
            return False
        self._base, self._shift = base, shift
        self.shift_slider.blockSignals(True)
        self.shift_slider.setValue(round(shift))
        self.shift_slider.blockSignals(False)
        self.shift_label.setText(f"{shift:+.0f}" if shift else "0")
        self.editor.set_transfer_function(self.transfer_function, fit_range=True)
        self._sync_preset_combo()
        self.show_check.setChecked(bool(saved.get("visible", False)))
        self._apply_transfer_function()
        return True

    def _store(self) -> None:
        """Keep the settings on the case's node (an edit of the case, saved with it)."""
        if self.node is not None and not self._restoring:
            self.node.volume_rendering = {"visible": self.show_check.isChecked(), "shift": self._shift,
                                          "transfer_function": self._base.to_dict()}

    def _push_volume(self) -> None:
        try:
            self.scene.set_volume(self.volume, transfer_function=self.transfer_function, visible=True)
        except ValueError as exc:  # VolumeRenderingError: a one-line reason, not a traceback
            self.message.setText(str(exc))
            return
        self.mapper_label.setText(self.scene.volume_rendering.mapper_kind.upper())

    def set_volume_visible(self, visible: bool) -> None:
        """Show or hide the volume rendering."""
        if self.show_check.isChecked() != bool(visible):
            self.show_check.setChecked(bool(visible))  # comes back here through the signal
            return
        if visible and self.volume is not None:
            vr = self.scene.volume_rendering
            if vr.volume is not self.volume:
                self._push_volume()
            else:
                vr.set_visible(True)
        elif self.scene.has_volume_rendering:
            self.scene.volume_rendering.set_visible(False)
        self._store()
        self._render()

    # --- transfer function ----------------------------------------------------------------------------------------
    @property
    def transfer_function(self) -> TransferFunction:
        """The transfer function applied (the edited curve moved by the shift)."""
        return self._base.shifted(self._shift) if self._shift else self._base

    def apply_preset(self, name: str) -> None:
        """Use preset ``name`` (an id of :func:`~rendering.transfer_functions.preset_names`); the shift resets."""
        try:
            self._base = load_preset(name)
        except TransferFunctionError as exc:
            self.message.setText(str(exc))
            return
        self.shift_slider.blockSignals(True)
        self.shift_slider.setValue(0)
        self.shift_slider.blockSignals(False)
        self._shift = 0.0
        self.shift_label.setText("0")
        self.editor.set_transfer_function(self.transfer_function, fit_range=True)
        self._sync_preset_combo()
        self._apply_transfer_function()

    def set_shift(self, offset: float) -> None:
        """Move the transfer function by ``offset`` along the value axis."""
        self._shift = float(offset)
        self.shift_label.setText(f"{self._shift:+.0f}" if self._shift else "0")
        if round(self._shift) != self.shift_slider.value():
            self.shift_slider.blockSignals(True)
            self.shift_slider.setValue(round(self._shift))
            self.shift_slider.blockSignals(False)
        self.editor.set_transfer_function(self.transfer_function)
        self._apply_transfer_function()

    def _on_preset_chosen(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name is not None:
            self.apply_preset(name)

    def _on_curve_edited(self, tf: TransferFunction) -> None:
        self._base = tf.shifted(-self._shift) if self._shift else tf
        self._sync_preset_combo()
        self._apply_transfer_function()

    def _sync_preset_combo(self) -> None:
        index = self.preset_combo.findText(self._base.name)
        self.preset_combo.setCurrentIndex(index if index >= 0 else self.preset_combo.count() - 1)

    def _apply_transfer_function(self) -> None:
        if not (self.editor.dragging or self.shift_slider.isSliderDown()):  # a drag is kept once, when it ends
            self._store()
        if self.scene.has_volume_rendering:
            self.scene.volume_rendering.set_transfer_function(self.transfer_function)
            self._render()

    # --- clipping and marker --------------------------------------------------------------------------------------
    def _on_box_toggled(self, on: bool) -> None:
        self.three_d.set_clip_box_enabled(on)

    def _plane_bounds(self) -> np.ndarray | None:
        if self.volume is not None:
            corners = self.volume.geometry.corner_points_lps()
            return np.array([corners.min(axis=0), corners.max(axis=0)])
        return self.scene.visible_bounds()

    def _apply_planes(self, *_args) -> None:
        bounds = self._plane_bounds()
        planes = []
        if bounds is not None:
            for name, check in self.plane_checks.items():
                if check.isChecked():
                    axis = AXES[name]
                    t = self.plane_sliders[name].value() / 1000.0
                    position = bounds[0, axis] + t * (bounds[1, axis] - bounds[0, axis])
                    planes.append(axis_plane(name, position, keep="below" if self.plane_flips[name].isChecked()
                                             else "above"))
        try:
            self.three_d.set_clip_planes(planes)
            self.message.setText("")
        except ClippingError as exc:
            self.message.setText(str(exc))

    def _on_marker_toggled(self, on: bool) -> None:
        self.scene.orientation_marker.set_visible(on)
        self._render()

    def _render(self) -> None:
        window = self.window()
        request = getattr(window, "request_render", None)
        if callable(request):
            request()
        else:
            self.three_d.render()


def install_volume_panel(window) -> VolumePanel:
    """Add the "Volume rendering" dock (right side, tabbed with the other tools) and keep it on the shown volume."""
    panel = VolumePanel(window.three_d, window)
    window.volume_dock = add_right_dock(window, panel, "Volume rendering", "VolumeRenderingDock", 300)

    # V toggles the volume rendering from anywhere (the 3-D camera toolbar shows it as a button).
    action = QAction("Volume", window)
    action.setCheckable(True)
    action.setShortcut(QKeySequence("V"))
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.setToolTip("Volume rendering in the 3D view on/off (V)")
    action.toggled.connect(panel.set_volume_visible)
    panel.show_check.toggled.connect(action.setChecked)
    window.addAction(action)
    toolbar = window.findChild(QToolBar, "CameraToolBar")
    if toolbar is not None:
        toolbar.addSeparator()
        toolbar.addAction(action)
    window.volume_action = action

    # The case's signals hold these callbacks; weak references keep a case that outlives the window (a test's, an
    # autosave's) from keeping the window, its 3-D view and the view's X connection alive.
    window_ref, panel_ref = weakref.ref(window), weakref.ref(panel)
    watched: list = []

    def follow_displayed_volume(*_args) -> None:
        win, volume_panel = window_ref(), panel_ref()
        if win is None or volume_panel is None:
            return
        controller = getattr(win, "controller", None)
        node = controller.displayed_volume if controller is not None else None
        volume_panel.set_volume(node.volume if node is not None else None, node)

    def watch(case) -> None:
        for old in watched:
            for signal in (old.node_added, old.node_removed, old.node_changed):
                with contextlib.suppress(TypeError, ValueError, RuntimeError):
                    signal.disconnect(follow_displayed_volume)
        watched[:] = [case]
        for signal in (case.node_added, case.node_removed, case.node_changed):
            signal.connect(follow_displayed_volume)
        follow_displayed_volume()

    window.case_changed.connect(watch)
    watch(window.case)
    return panel
