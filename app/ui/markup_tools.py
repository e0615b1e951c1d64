"""Markups on the slice views: angles, labelled point lists and closed curves, undoable and saved with the case.

Each markup is a :class:`~app.case.PlanNode` (``plan_type`` ``"angle"``, ``"point_list"``, ``"closed_curve"``) with its
points in LPS millimetres and its measurement, so it is saved with the case, listed in the Markups table and the
data panel, and removed like any node. Every edit is one command on the window's undo stack (Ctrl+Z).

:class:`Placement` is the one place where clicks on the slice views become points, shared by these tools and the
planning dock: left click adds a point, Backspace removes the last one, Enter or a double click finishes, Esc cancels;
in drag mode a press-drag-release gives a line. :class:`MarkupDisplay` draws every markup and plan of the case in
the slice views (on their slice) and the 3-D view.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeyEvent, QKeySequence, QMouseEvent
from vtkmodules.vtkRenderingCore import vtkCellPicker

from app.case import Case, Node, PlanNode, switch_node_handlers
from app.case.commands import Command
from app.ui.installing import install_once
from imaging.planning import angle_deg, closed_curve_area_mm2, closed_curve_length_mm, sample_closed_curve
from rendering.markups import MARKUP_COLOURS, MarkupLayer

__all__ = [
    "ANGLE",
    "CLOSED_CURVE",
    "MARKUP_TYPES",
    "POINT_LIST",
    "MarkupDisplay",
    "MarkupTools",
    "NodesCommand",
    "Placement",
    "install_markup_tools",
    "markup_summary",
    "push_command",
]

ANGLE, POINT_LIST, CLOSED_CURVE = "angle", "point_list", "closed_curve"
MARKUP_TYPES = ("ruler", ANGLE, POINT_LIST, CLOSED_CURVE)


# --- undo -------------------------------------------------------------------------------------------------------
class NodesCommand(Command):
    """Nodes added or removed, plan data replaced, names or visibility changed: one undo step (already done).

    Parameters
    ----------
    case : Case
        The document.
    description : str
        For the Edit menu.
    added, removed : iterable of Node
        Nodes the edit added to / removed from the case.
    data : iterable of (PlanNode, before, after)
        Plan parameters replaced.
    names, visibility : iterable of (Node, before, after)
        Renames and shows/hides.
    """

    def __init__(self, case: Case, description: str, *, added: Iterable[Node] = (), removed: Iterable[Node] = (),
                 data: Iterable[tuple[PlanNode, dict, dict]] = (), names: Iterable[tuple[Node, str, str]] = (),
                 visibility: Iterable[tuple[Node, bool, bool]] = ()) -> None:
        self.case = case
        self.description = description
        self.added, self.removed = list(added), list(removed)
        self.data, self.names, self.visibility = list(data), list(names), list(visibility)

    def undo(self) -> None:
        """Restore the state before the edit."""
        with self.case.batch():
            for node in reversed(self.added):
                if node in self.case:
                    self.case.remove(node)
            for node in self.removed:
                if node not in self.case:
                    self.case.add(node)
            for node, before, _ in self.data:
                node.replace_data(before)
            for node, before, _ in self.names:
                node.name = before
            for node, before, _ in self.visibility:
                node.visible = before

    def redo(self) -> None:
        """Do the edit again."""
        with self.case.batch():
            for node in self.added:
                if node not in self.case:
                    self.case.add(node)
            for node in self.removed:
                if node in self.case:
                    self.case.remove(node)
            for node, _, after in self.data:
                node.replace_data(after)
            for node, _, after in self.names:
                node.name = after
            for node, _, after in self.visibility:
                node.visible = after


def push_command(window, command: Command) -> None:
    """Put an already-done command on the window's undo stack (the Segment Editor's, shared by the app)."""
    editor = getattr(window, "segment_editor", None)
    if editor is not None:
        editor.stack.push(command)
        editor.stack.end_merge()


def add_node_undoable(window, node: Node, description: str) -> Node:
    """Add ``node`` to the window's case as one undo step."""
    window.case.add(node)
    push_command(window, NodesCommand(window.case, description, added=[node]))
    return node


def set_plan_data_undoable(window, node: PlanNode, data: dict[str, Any], description: str) -> None:
    """Replace ``node``'s data as one undo step."""
    before = node.data
    node.replace_data(data)
    push_command(window, NodesCommand(window.case, description, data=[(node, before, dict(data))]))


# --- measurements -----------------------------------------------------------------------------------------------
def angle_data(points: list[np.ndarray]) -> dict[str, Any]:
    """An angle markup's data from its three points (LPS mm): the points and the angle at the middle one."""
    return {"points_lps": [[float(v) for v in p] for p in points], "angle_deg": angle_deg(*points)}


def curve_data(points: list[np.ndarray]) -> dict[str, Any]:
    """A closed curve's data from its points (LPS mm): the points, the enclosed area and the perimeter."""
    return {"points_lps": [[float(v) for v in p] for p in points], "area_mm2": closed_curve_area_mm2(points),
            "perimeter_mm": closed_curve_length_mm(points)}


def markup_summary(node: PlanNode) -> str:
    """The measurement of a markup or plan as shown in tables and next to it."""
    d = node.data
    kind = node.plan_type
    if kind == "ruler":
        return f"{d.get('length_mm', 0.0):.1f} mm"
    if kind == ANGLE:
        return f"{d.get('angle_deg', 0.0):.1f}°"
    if kind == POINT_LIST:
        n = len(d.get("points", []))
        return f"{n} point" + ("s" if n != 1 else "")
    if kind == CLOSED_CURVE:
        return f"{d.get('area_mm2', 0.0) / 100.0:.2f} cm²  (perimeter {d.get('perimeter_mm', 0.0):.1f} mm)"
    if kind == "resection":
        r = d.get("result") or {}
        if not r:
            return "not computed"
        text = f"remnant {r['remnant_percent']:.1f} % ({r['remnant_ml']:.0f} of {r['total_ml']:.0f} mL)"
        if r.get("min_margin_mm") is not None:
            text += f", margin {r['min_margin_mm']:.1f} mm"
        return text
    if kind == "trajectory":
        rows = d.get("clearances") or []
        hits = [r["structure"] for r in rows if r.get("collision")]
        if hits:
            return "COLLISION: " + ", ".join(hits)
        if rows:
            return f"closest {rows[0]['structure']} {rows[0]['min_distance_mm']:.1f} mm"
        return f"{d.get('length_mm', 0.0):.1f} mm"
    return ""


# --- placing points ---------------------------------------------------------------------------------------------
class Placement(QObject):
    """Turns clicks on the slice views into points for one tool at a time."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.owner: object | None = None
        self.points: list[np.ndarray] = []
        self.last_panel = None  # the slice panel of the latest point (its normal orients a drawn plane)
        self._opts: dict[str, Any] = {}
        self._pressed = False
        self._widgets = {panel.vtk_widget: panel for panel in window.slice_panels}
        for widget in self._widgets:
            widget.installEventFilter(self)
        # In the 3-D view a click on a surface places a point there (clicks beside the models still rotate).
        self._three_d = getattr(window, "three_d", None)
        if self._three_d is not None:
            self._three_d.vtk_widget.installEventFilter(self)
        self._picker = vtkCellPicker()
        self._picker.SetTolerance(0.0005)

    @property
    def active(self) -> bool:
        """Whether a tool is placing points."""
        return self.owner is not None

    def begin(self, owner: object, *, max_points: int | None = None, min_points: int = 1, drag: bool = False,
              on_change: Callable[[list[np.ndarray]], None] | None = None,
              on_finish: Callable[[list[np.ndarray]], None] | None = None,
              on_cancel: Callable[[], None] | None = None, hint: str = "") -> None:
        """Start placing points for ``owner`` (ends any other tool's placement)."""
        if self.owner is not None and self.owner is not owner:
            self.cancel()
        self.owner = owner
        self.points = []
        self._pressed = False
        self._opts = {"max": max_points, "min": min_points, "drag": drag, "change": on_change,
                      "finish": on_finish, "cancel": on_cancel}
        for widget in self._widgets:
            widget.setCursor(Qt.CursorShape.CrossCursor)
        if hint:
            self.window.status_label.setText(hint)

    def _end(self) -> dict[str, Any]:
        opts, self._opts, self.owner = self._opts, {}, None
        for widget in self._widgets:
            widget.setCursor(Qt.CursorShape.ArrowCursor)
        return opts

    def cancel(self) -> None:
        """Drop the points placed so far."""
        if self.owner is None:
            return
        self.points = []
        opts = self._end()
        if opts.get("cancel"):
            opts["cancel"]()

    def finish(self) -> None:
        """Hand the points to the tool (when there are enough)."""
        if self.owner is None:
            return
        if len(self.points) < self._opts["min"]:
            self.window.status_label.setText(f"Place at least {self._opts['min']} points (Esc cancels).")
            return
        points = list(self.points)
        opts = self._end()
        if opts.get("finish"):
            opts["finish"](points)

    def _changed(self) -> None:
        if self._opts.get("change"):
            self._opts["change"](list(self.points))

    def pick_3d(self, pos) -> np.ndarray | None:
        """The surface point under widget position ``pos`` in the 3-D view, or None beside the models."""
        widget = self._three_d.vtk_widget
        ratio = widget.devicePixelRatioF()
        renderer = self._three_d.scene.renderer
        if not self._picker.Pick(pos.x() * ratio, (widget.height() - pos.y() - 1) * ratio, 0.0, renderer):
            return None
        return np.asarray(self._picker.GetPickPosition(), float)

    def _filter_3d(self, event: QEvent) -> bool:
        kind = event.type()
        if self._opts.get("drag") or kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
                                                  QEvent.Type.MouseButtonDblClick, QEvent.Type.KeyPress,
                                                  QEvent.Type.ShortcutOverride):
            return False
        if kind in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            if kind == QEvent.Type.ShortcutOverride:
                if event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter):  # type: ignore[attr-defined]
                    event.accept()
                    return True
                return False
            return self._key(event)  # type: ignore[arg-type]
        assert isinstance(event, QMouseEvent)
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        if kind == QEvent.Type.MouseButtonDblClick:
            self.finish()
            return True
        if kind == QEvent.Type.MouseButtonRelease:
            pressed, self._pressed = self._pressed, False
            return pressed
        point = self.pick_3d(event.position().toPoint())
        if point is None:
            return False
        self._pressed = True
        self.last_panel = None
        self.points.append(point)
        self._changed()
        if self._opts["max"] and len(self.points) >= self._opts["max"]:
            self.finish()
        return True

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Clicks add points, keys finish/cancel, while a tool places points."""
        if self.owner is not None and self._three_d is not None and obj is self._three_d.vtk_widget:
            return self._filter_3d(event)
        panel = self._widgets.get(obj)
        if panel is None or self.owner is None or panel.view.volume is None:
            return False
        kind = event.type()
        if kind == QEvent.Type.ShortcutOverride:  # keep Esc/Enter/Backspace from window shortcuts while placing
            key = event.key()  # type: ignore[attr-defined]
            if key in (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Backspace):
                event.accept()
                return True
            return False
        if kind == QEvent.Type.KeyPress:
            return self._key(event)  # type: ignore[arg-type]
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease,
                        QEvent.Type.MouseButtonDblClick):
            return False
        assert isinstance(event, QMouseEvent)
        if kind == QEvent.Type.MouseButtonDblClick:
            if event.button() == Qt.MouseButton.LeftButton and not self._opts["drag"]:
                self.finish()
                return True
            return False
        if kind == QEvent.Type.MouseButtonPress:
            if event.button() != Qt.MouseButton.LeftButton or event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                return False
            obj.setFocus()  # type: ignore[attr-defined]
            self._pressed = True
            self.last_panel = panel
            point = panel.pick(event.position().toPoint())
            self.points.append(point)
            if self._opts["drag"]:
                self.points.append(point.copy())
            self._changed()
            if not self._opts["drag"] and self._opts["max"] and len(self.points) >= self._opts["max"]:
                self._pressed = False
                self.finish()
            return True
        if kind == QEvent.Type.MouseMove:
            if self._pressed and self._opts["drag"]:
                self.points[-1] = panel.pick(event.position().toPoint())
                self._changed()
                return True
            return False
        # release
        if not self._pressed:
            return False
        self._pressed = False
        if self._opts["drag"]:
            self.points[-1] = panel.pick(event.position().toPoint())
            if np.linalg.norm(self.points[1] - self.points[0]) > 0:
                self.finish()
            else:
                self.points = []
                self._changed()
        return True

    def _key(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish()
        elif key == Qt.Key.Key_Escape:
            self.cancel()
        elif key == Qt.Key.Key_Backspace:
            if self.points:
                self.points.pop()
                self._changed()
        else:
            return False
        return True


# --- display ----------------------------------------------------------------------------------------------------
class MarkupDisplay(QObject):
    """Draws the case's markups and plans in every view and follows their changes."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.case: Case | None = None
        self.slice_layers = {panel: MarkupLayer(panel.view.renderer, panel.view) for panel in window.slice_panels}
        self.layer_3d = MarkupLayer(window.three_d.scene.renderer)
        self.renderers: dict[str, Callable[[PlanNode, MarkupLayer], None]] = {
            ANGLE: self._draw_angle, POINT_LIST: self._draw_points, CLOSED_CURVE: self._draw_curve,
            "ruler": self._draw_ruler,
        }
        for panel in window.slice_panels:
            panel.slice_changed.connect(self.window.request_render)
        window.case_changed.connect(self.set_case)
        self.set_case(window.case)

    @property
    def layers(self) -> list[MarkupLayer]:
        """Every view's layer (slices first, then 3-D)."""
        return [*self.slice_layers.values(), self.layer_3d]

    def set_case(self, case: Case) -> None:
        """Draw ``case``'s markups (and follow its changes)."""
        switch_node_handlers(self.case, case, added=self.redraw, removed=self.erase, changed=self._on_changed)
        for layer in self.layers:
            layer.clear()
        self.case = case
        for node in case.plans:
            self.redraw(node)

    def _on_changed(self, node: Node, _what: str) -> None:
        self.redraw(node)

    def erase(self, node: Node) -> None:
        """Remove ``node``'s drawing from every view."""
        for layer in self.layers:
            layer.remove_group(node.id)
        self.window.request_render()

    def redraw(self, node: Node) -> None:
        """Draw ``node`` again (or hide it) in every view."""
        if not isinstance(node, PlanNode) or node.plan_type not in self.renderers:
            return
        for layer in self.layers:
            layer.remove_group(node.id)
            if node.visible:
                try:
                    self.renderers[node.plan_type](node, layer)
                except (KeyError, ValueError, TypeError):  # incomplete data (e.g. an empty point list): draw nothing
                    layer.remove_group(node.id)
        self.window.request_render()

    @staticmethod
    def _draw_ruler(node: PlanNode, layer: MarkupLayer) -> None:
        if layer.is_slice:  # the slice views draw rulers themselves (rendering.slice_view)
            return
        d = node.data
        layer.set_polyline(node.id, [d["p1_lps"], d["p2_lps"]], colour=(0.3, 1.0, 0.45),
                           label=f"{d['length_mm']:.1f} mm")

    @staticmethod
    def _draw_angle(node: PlanNode, layer: MarkupLayer) -> None:
        d = node.data
        pts = np.asarray(d["points_lps"], float)
        layer.set_polyline(node.id, pts, colour=MARKUP_COLOURS[ANGLE], label=f"{d['angle_deg']:.1f}°",
                           label_at=pts[1])

    @staticmethod
    def _draw_points(node: PlanNode, layer: MarkupLayer) -> None:
        points = node.data.get("points", [])
        if points:
            layer.set_points(node.id, [p["lps"] for p in points], [p["label"] for p in points],
                             colour=MARKUP_COLOURS[POINT_LIST])

    @staticmethod
    def _draw_curve(node: PlanNode, layer: MarkupLayer) -> None:
        d = node.data
        pts = np.asarray(d["points_lps"], float)
        layer.set_polyline(node.id, pts, closed=True, colour=MARKUP_COLOURS[CLOSED_CURVE],
                           label=f"{d['area_mm2'] / 100.0:.2f} cm²", curve=sample_closed_curve(pts))

    def show_drawing(self, key: str, points: list[np.ndarray], *, closed: bool = False) -> None:
        """Preview of a markup being placed (white), in every view."""
        for layer in self.layers:
            layer.remove(key)
            if points:
                layer.set_polyline(key, points, closed=closed and len(points) > 2, colour=MARKUP_COLOURS["drawing"])
        self.window.request_render()

    def clear_drawing(self, key: str) -> None:
        """Remove a preview."""
        for layer in self.layers:
            layer.remove(key)
        self.window.request_render()


# --- the tools --------------------------------------------------------------------------------------------------
class MarkupTools(QObject):
    """The angle, point list and closed curve tools (View menu, toolbar, keys G, P and C)."""

    TOOLS: ClassVar[dict[str, tuple[str, str, str]]] = {
        ANGLE: ("&Angle", "G", "Measure an angle: click three points on a slice, the middle one is the vertex (G)"),
        POINT_LIST: ("&Point list", "P", "Place labelled points: click on the slice views; Enter ends the list (P)"),
        CLOSED_CURVE: ("&Closed curve", "C",
                       "Outline an area: click around it on a slice; Enter or double-click closes the curve (C)"),
    }

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.placement: Placement = install_placement(window)
        self.display: MarkupDisplay = install_markup_display(window)
        self.actions: dict[str, QAction] = {}
        self._current_list: PlanNode | None = None
        group = QActionGroup(window)
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        for key, (text, shortcut, tip) in self.TOOLS.items():
            action = QAction(text, window)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(shortcut))
            action.setToolTip(tip)
            action.toggled.connect(lambda on, key=key: self._on_toggled(key, on))
            group.addAction(action)
            window.addAction(action)
            with contextlib.suppress(AttributeError):
                window.view_menu.addAction(action)
            with contextlib.suppress(AttributeError):
                window.main_toolbar.addAction(action)
            self.actions[key] = action
        ruler = getattr(window, "ruler_tool", None)
        if ruler is not None:  # the ruler and these tools take turns on the left button
            ruler.action.toggled.connect(self._on_ruler_toggled)
        window.case_changed.connect(lambda _case: self.set_tool(None))

    def _on_ruler_toggled(self, on: bool) -> None:
        if on:
            self.set_tool(None)
            self.placement.cancel()

    @property
    def tool(self) -> str | None:
        """The active tool, or None."""
        return next((k for k, a in self.actions.items() if a.isChecked()), None)

    def set_tool(self, key: str | None) -> None:
        """Activate a tool (None: none)."""
        if key is None:
            for action in self.actions.values():
                action.setChecked(False)
        else:
            self.actions[key].setChecked(True)

    def _on_toggled(self, key: str, on: bool) -> None:
        if not on:
            if self.placement.owner is self:
                self.placement.cancel()
            return
        ruler = getattr(self.window, "ruler_tool", None)
        if ruler is not None:
            ruler.action.setChecked(False)
        self._current_list = None
        self._begin(key)

    def _begin(self, key: str) -> None:
        hint = self.TOOLS[key][2].split(" (")[0] + "."
        if key == ANGLE:
            self.placement.begin(self, max_points=3, min_points=3, hint=hint,
                                 on_change=lambda p: self.display.show_drawing("_angle", p),
                                 on_finish=self._finish_angle, on_cancel=lambda: self._cancelled("_angle"))
        elif key == CLOSED_CURVE:
            self.placement.begin(self, min_points=3, hint=hint,
                                 on_change=lambda p: self.display.show_drawing("_curve", p, closed=True),
                                 on_finish=self._finish_curve, on_cancel=lambda: self._cancelled("_curve"))
        else:
            self.placement.begin(self, min_points=0, hint=hint, on_change=self._point_placed,
                                 on_finish=lambda _p: self._cancelled(None), on_cancel=lambda: self._cancelled(None))

    def _cancelled(self, preview: str | None) -> None:
        """The placement ended without a new markup (Esc, Enter on a point list, another tool took over)."""
        if preview:
            self.display.clear_drawing(preview)
        self._current_list = None
        key = self.tool
        if key is not None and self.placement.owner is None:
            self.actions[key].setChecked(False)

    def _restart(self, key: str) -> None:
        if self.tool == key:
            self._begin(key)

    def _finish_angle(self, points: list[np.ndarray]) -> None:
        self.display.clear_drawing("_angle")
        try:
            data = angle_data(points)
        except ValueError as exc:
            self.window.status_label.setText(f"Angle not placed: {exc}.")
        else:
            number = sum(1 for n in self.window.case.plans if n.plan_type == ANGLE) + 1
            node = add_node_undoable(self.window, PlanNode(f"Angle {number}", ANGLE, data), "Add angle")
            self.window.status_label.setText(f"{node.name}: {data['angle_deg']:.1f}°")
        self._restart(ANGLE)

    def _finish_curve(self, points: list[np.ndarray]) -> None:
        self.display.clear_drawing("_curve")
        data = curve_data(points)
        number = sum(1 for n in self.window.case.plans if n.plan_type == CLOSED_CURVE) + 1
        node = add_node_undoable(self.window, PlanNode(f"Curve {number}", CLOSED_CURVE, data), "Add closed curve")
        self.window.status_label.setText(f"{node.name}: {markup_summary(node)}")
        self._restart(CLOSED_CURVE)

    def _point_placed(self, points: list[np.ndarray]) -> None:
        if not points:
            return
        point = [float(v) for v in points[-1]]
        self.placement.points = []  # each click is its own edit; the list node holds the points
        node = self._current_list
        if node is None or node not in self.window.case:
            number = sum(1 for n in self.window.case.plans if n.plan_type == POINT_LIST) + 1
            node = PlanNode(f"Points {number}", POINT_LIST, {"points": [{"label": "P-1", "lps": point}]})
            self._current_list = add_node_undoable(self.window, node, "Add point")
        else:
            existing = node.data.get("points", [])
            used = {p["label"] for p in existing}
            n = len(existing) + 1
            while f"P-{n}" in used:
                n += 1
            set_plan_data_undoable(self.window, node, {**node.data, "points": [*existing,
                                                                           {"label": f"P-{n}", "lps": point}]},
                                   "Add point")
        self.window.status_label.setText(f"{self._current_list.name}: {markup_summary(self._current_list)}")


def install_placement(window) -> Placement:
    """The window's shared :class:`Placement` (made once)."""
    return install_once(window, "placement", Placement)


def install_markup_display(window) -> MarkupDisplay:
    """The window's shared :class:`MarkupDisplay` (made once)."""
    return install_once(window, "markup_display", MarkupDisplay)


def install_markup_tools(window) -> MarkupTools:
    """Add the angle, point list and closed curve tools to ``window`` (once)."""
    return install_once(window, "markup_tools", MarkupTools)
