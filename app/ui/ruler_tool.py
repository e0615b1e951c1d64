"""The ruler: drag between two points on a slice view to measure their distance; rulers are plan items of the case.

Installed on a :class:`~app.ui.main_window.MainWindow` like the other tools (an event filter on the slice views,
no change to the views themselves). Each ruler is a :class:`~app.case.PlanNode` of type ``"ruler"`` with its end
points in LPS millimetres, so it is saved with the case, listed in the data panel and removed like any node.
"""

from __future__ import annotations

import contextlib

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QMouseEvent

from app.case import Case, Node, PlanNode, switch_node_handlers
from app.ui.installing import install_once
from app.ui.markup_tools import add_node_undoable

__all__ = ["RULER", "RulerTool", "install_ruler_tool", "ruler_label"]

RULER = "ruler"


def ruler_label(length_mm: float) -> str:
    """How a length is shown next to a ruler."""
    return f"{length_mm:.1f} mm"


class RulerTool(QObject):
    """While active, a left drag on a slice view draws a ruler; every ruler of the case is shown on its slice."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.case: Case | None = None
        self._drag: dict | None = None
        self._widgets = {panel.vtk_widget: panel for panel in window.slice_panels}
        for widget in self._widgets:
            widget.installEventFilter(self)
        self.action = QAction("&Ruler", window)
        self.action.setCheckable(True)
        self.action.setShortcut(QKeySequence("M"))
        self.action.setToolTip("Measure a distance: drag between two points on a slice view (M)")
        self.action.toggled.connect(self._on_toggled)
        window.addAction(self.action)
        with contextlib.suppress(AttributeError):
            window.view_menu.addAction(self.action)
        with contextlib.suppress(AttributeError):
            window.main_toolbar.addAction(self.action)
        window.case_changed.connect(self.set_case)
        self.set_case(window.case)

    @property
    def active(self) -> bool:
        """Whether left drags draw rulers."""
        return self.action.isChecked()

    def _on_toggled(self, on: bool) -> None:
        cursor = Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor
        for widget in self._widgets:
            widget.setCursor(cursor)
        if on:
            self.window.status_label.setText("Ruler: drag between two points on a slice view.")

    # --- the case -------------------------------------------------------------------------------------------------
    def set_case(self, case: Case) -> None:
        """Show ``case``'s rulers (and follow its changes)."""
        switch_node_handlers(self.case, case, added=self._on_node, removed=self._on_removed,
                             changed=self._on_node_changed)
        for panel in self.window.slice_panels:
            for key in list(getattr(panel.view, "_rulers", {})):
                panel.view.remove_ruler(key)
        self.case = case
        for node in case.plans:
            self._on_node(node)

    def _on_node(self, node: Node) -> None:
        if isinstance(node, PlanNode) and node.plan_type == RULER:
            data = node.data
            for panel in self.window.slice_panels:
                if node.visible:
                    panel.view.set_ruler(node.id, data["p1_lps"], data["p2_lps"], ruler_label(data["length_mm"]))
                else:
                    panel.view.remove_ruler(node.id)
            self.window.request_render()

    def _on_node_changed(self, node: Node, _what: str) -> None:
        self._on_node(node)

    def _on_removed(self, node: Node) -> None:
        if isinstance(node, PlanNode) and node.plan_type == RULER:
            for panel in self.window.slice_panels:
                panel.view.remove_ruler(node.id)
            self.window.request_render()

    # --- mouse ----------------------------------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Draw a ruler with the left button while the tool is active."""
        panel = self._widgets.get(obj)
        if panel is None or not self.active or panel.view.volume is None:
            return False
        kind = event.type()
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease):
            return False
        assert isinstance(event, QMouseEvent)
        point = panel.pick(event.position().toPoint())
        if kind == QEvent.Type.MouseButtonPress:
            if event.button() != Qt.MouseButton.LeftButton:
                return False
            self._drag = {"panel": panel, "p1": point}
            return True
        if self._drag is None or self._drag["panel"] is not panel:
            return False
        p1 = self._drag["p1"]
        length = float(np.linalg.norm(point - p1))
        if kind == QEvent.Type.MouseMove:
            panel.view.set_ruler("_drawing", p1, point, ruler_label(length))
            panel.render()
            self.window.status_label.setText(f"Ruler: {ruler_label(length)}")
            return True
        self._drag = None
        panel.view.remove_ruler("_drawing")
        if length > 0:
            self.add_ruler(p1, point)
        return True

    def add_ruler(self, p1_lps, p2_lps) -> PlanNode:
        """Add a ruler between two LPS points to the case (one undo step) and report its length."""
        p1, p2 = np.asarray(p1_lps, float), np.asarray(p2_lps, float)
        length = float(np.linalg.norm(p2 - p1))
        number = sum(1 for n in self.window.case.plans if n.plan_type == RULER) + 1
        node = add_node_undoable(self.window, PlanNode(f"Ruler {number}", RULER, {
            "p1_lps": [float(v) for v in p1], "p2_lps": [float(v) for v in p2], "length_mm": length,
        }), "Add ruler")
        self.window.status_label.setText(f"{node.name}: {ruler_label(length)}")
        return node


def install_ruler_tool(window) -> RulerTool:
    """Add the ruler to ``window`` (once)."""
    return install_once(window, "ruler_tool", RulerTool)
