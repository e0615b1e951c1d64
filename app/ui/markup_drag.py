"""Dragging a placed markup's control points on the slice views, as in 3D Slicer.

Pressing the left button over a control point of a ruler, angle, point list or closed curve shown on the slice moves
that point with the mouse (the measurement follows live); the release makes the move one undo step.  Elsewhere a
click does what it did before (crosshair, tools).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QMouseEvent

from app.case import PlanNode
from app.ui.installing import install_once
from app.ui.markup_tools import ANGLE, CLOSED_CURVE, POINT_LIST, NodesCommand, angle_data, curve_data, push_command
from app.ui.ruler_tool import RULER

__all__ = ["GRAB_PIXELS", "MarkupDragger", "control_points", "install_markup_dragger", "with_point_moved"]

GRAB_PIXELS = 8.0  # how near (screen pixels) a press must be to take a control point


def control_points(node: PlanNode) -> list[np.ndarray]:
    """The node's draggable points (LPS mm), in a fixed order; none for plans without any."""
    d = node.data
    try:
        if node.plan_type == RULER:
            return [np.asarray(d["p1_lps"], float), np.asarray(d["p2_lps"], float)]
        if node.plan_type in (ANGLE, CLOSED_CURVE):
            return [np.asarray(p, float) for p in d["points_lps"]]
        if node.plan_type == POINT_LIST:
            return [np.asarray(p["lps"], float) for p in d["points"]]
    except (KeyError, TypeError, ValueError):
        pass
    return []


def with_point_moved(node: PlanNode, index: int, point: np.ndarray) -> dict[str, Any]:
    """The node's data with control point ``index`` at ``point`` and its measurement recomputed."""
    p = [float(v) for v in point]
    d = dict(node.data)
    if node.plan_type == RULER:
        d["p1_lps" if index == 0 else "p2_lps"] = p
        d["length_mm"] = float(np.linalg.norm(np.subtract(d["p2_lps"], d["p1_lps"])))
        return d
    if node.plan_type == POINT_LIST:
        points = [dict(q) for q in d["points"]]
        points[index]["lps"] = p
        return {**d, "points": points}
    points = control_points(node)
    points[index] = np.asarray(p)
    return {**d, **(angle_data(points) if node.plan_type == ANGLE else curve_data(points))}


class MarkupDragger(QObject):
    """Left drags on control points in the slice views move them."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self._panels = {panel.vtk_widget: panel for panel in window.slice_panels}
        for widget in self._panels:
            widget.installEventFilter(self)
        self._drag: tuple[PlanNode, int, dict[str, Any]] | None = None
        self._hand_on: QObject | None = None  # the widget whose cursor we turned into a hand (to give it back)

    def hit(self, panel, x: float, y: float) -> tuple[PlanNode, int] | None:
        """The visible control point on ``panel``'s slice nearest to widget position ``(x, y)``, within
        :data:`GRAB_PIXELS`; None when there is none."""
        view = panel.view
        renderer = view.renderer
        focal = np.asarray(renderer.GetActiveCamera().GetFocalPoint(), float)
        normal = np.asarray(view.axes.normal, float)
        tolerance = 0.5 * float(view.slice_step_mm) + 1e-3
        ratio = panel.vtk_widget.devicePixelRatioF()
        target = np.array([x * ratio, (panel.vtk_widget.height() - y - 1) * ratio])
        best, best_distance = None, GRAB_PIXELS * ratio
        for node in self.window.case.plans:
            if not node.visible:
                continue
            for index, point in enumerate(control_points(node)):
                if abs((point - focal) @ normal) > tolerance:
                    continue  # not on this slice: not drawn here
                renderer.SetWorldPoint(*point, 1.0)
                renderer.WorldToDisplay()
                distance = float(np.hypot(*(np.asarray(renderer.GetDisplayPoint()[:2]) - target)))
                if distance <= best_distance:
                    best, best_distance = (node, index), distance
        return best

    def _placing(self) -> bool:
        """Whether another tool owns left clicks now (placing markups, drawing rulers, painting segments)."""
        placement = getattr(self.window, "placement", None)
        ruler = getattr(self.window, "ruler_tool", None)
        editor = getattr(self.window, "segment_editor", None)
        return bool((placement is not None and placement.active) or (ruler is not None and ruler.active)
                    or (editor is not None and editor.mouse_mode is not None))

    def _show_hand(self, widget: QObject | None, *, closed: bool = False) -> None:
        """A hand cursor over ``widget`` (None: give back the cursor we replaced; other tools' cursors stay)."""
        if self._hand_on is not None and self._hand_on is not widget:
            self._hand_on.unsetCursor()  # type: ignore[attr-defined]
        self._hand_on = widget
        if widget is not None:
            shape = Qt.CursorShape.ClosedHandCursor if closed else Qt.CursorShape.OpenHandCursor
            widget.setCursor(shape)  # type: ignore[attr-defined]

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Take presses on control points; move the point while the button is held."""
        panel = self._panels.get(obj)
        kind = event.type()
        if panel is None or kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
                                         QEvent.Type.MouseButtonRelease):
            return False
        assert isinstance(event, QMouseEvent)
        pos = event.position()
        if kind == QEvent.Type.MouseButtonPress:
            if (event.button() != Qt.MouseButton.LeftButton or event.modifiers() != Qt.KeyboardModifier.NoModifier
                    or panel.view.volume is None or self._placing()):
                return False
            found = self.hit(panel, pos.x(), pos.y())
            if found is None:
                return False
            node, index = found
            self._drag = (node, index, node.data)
            self._show_hand(obj, closed=True)
            return True
        if self._drag is None:
            if kind == QEvent.Type.MouseMove and event.buttons() == Qt.MouseButton.NoButton:
                if self._placing():
                    self._hand_on = None  # the active tool owns the cursor now
                else:
                    self._show_hand(obj if panel.view.volume is not None and self.hit(panel, pos.x(), pos.y())
                                    else None)
            return False
        node, index, before = self._drag
        node.replace_data(with_point_moved(node, index, panel.pick(pos.toPoint())))
        if kind == QEvent.Type.MouseButtonRelease:
            self._drag = None
            self._show_hand(None)
            if node.data != before:
                push_command(self.window, NodesCommand(self.window.case, f"Move a point of {node.name}",
                                                       data=[(node, before, node.data)]))
        return True


def install_markup_dragger(window) -> MarkupDragger:
    """Let the slice views' control points be dragged (once per window)."""
    return install_once(window, "markup_dragger", MarkupDragger)
