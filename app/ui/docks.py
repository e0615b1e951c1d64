"""Docking the tool panels: one tab each in the right-hand column, with a View-menu entry to show it again."""

from __future__ import annotations

import contextlib

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QWidget

__all__ = ["add_right_dock"]


def add_right_dock(window, widget: QWidget, title: str, object_name: str, min_width: int) -> QDockWidget:
    """Dock ``widget`` on the right of ``window`` as a tab beside the tools already there (full height for tables
    and plots), keep the tab already in front, and list the dock in the View menu.

    ``object_name`` must be unique and stable: the saved window layout refers to the dock by it.
    """
    dock = QDockWidget(title, window)
    dock.setObjectName(object_name)
    dock.setWidget(widget)
    dock.setMinimumWidth(min_width)
    right = [d for d in window.findChildren(QDockWidget)
             if d is not dock and window.dockWidgetArea(d) == Qt.DockWidgetArea.RightDockWidgetArea]
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    if right:
        window.tabifyDockWidget(right[0], dock)
        right[0].raise_()
    with contextlib.suppress(AttributeError):
        window.view_menu.addAction(dock.toggleViewAction())
    return dock
