"""The Markups dock: every measurement and plan of the case in a table, point labels, and segment volumes.

The top table lists rulers, angles, point lists, closed curves, resections and trajectories with their measurement;
names are edited in place (F2 or double click), Delete removes the selected item; both are undoable. The middle
table shows the selected point list's points, whose labels are edited in place. The bottom table gives the volume of
every segment of every segmentation (updated shortly after the label map changes).
"""

from __future__ import annotations

import contextlib

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.case import Case, Node, PlanNode, SegmentationNode, switch_node_handlers
from app.ui.markup_tools import POINT_LIST, NodesCommand, markup_summary, push_command, set_plan_data_undoable

__all__ = ["TABLE_TYPES", "MarkupsTable", "install_markups_table", "segment_volumes_ml"]

TABLE_TYPES = {"ruler": "Ruler", "angle": "Angle", POINT_LIST: "Point list", "closed_curve": "Closed curve",
               "resection": "Resection", "trajectory": "Trajectory"}
ID_ROLE = Qt.ItemDataRole.UserRole


def segment_volumes_ml(node: SegmentationNode) -> dict[int, float]:
    """Volume of every segment of ``node`` in millilitres (one pass over the label map)."""
    array = node.labelmap.array
    counts = np.bincount(array.ravel(), minlength=max((s.label_value for s in node.segments), default=0) + 1)
    voxel_ml = float(np.prod(node.labelmap.spacing)) / 1000.0
    return {s.label_value: float(counts[s.label_value]) * voxel_ml for s in node.segments}


def _table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().setVisible(False)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    table.setMinimumWidth(120)  # the dock shares the left column with the Data dock; never widen it
    return table


def _item(text: str, *, editable: bool = False, node_id: str | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
    if editable:
        flags |= Qt.ItemFlag.ItemIsEditable
    item.setFlags(flags)
    if node_id is not None:
        item.setData(ID_ROLE, node_id)
    return item


class MarkupsTable(QWidget):
    """The dock's widget, bound to a window (its case and undo stack)."""

    def __init__(self, window) -> None:
        super().__init__()
        self.window = window
        self.case: Case | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(QLabel("Measurements and plans"))
        self.table = _table(["Name", "Type", "Measurement"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        layout.addWidget(self.table, 3)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Remove the selected measurement or plan (Delete; Ctrl+Z brings it back)")
        layout.addWidget(self.delete_button)
        self.points_label = QLabel("Points of the selected list (double-click a label to rename it)")
        self.points_label.setWordWrap(True)
        layout.addWidget(self.points_label)
        self.points_table = _table(["Label", "L (mm)", "P (mm)", "S (mm)"])
        self.points_table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                          | QAbstractItemView.EditTrigger.EditKeyPressed)
        layout.addWidget(self.points_table, 2)
        layout.addWidget(QLabel("Segment volumes"))
        self.volumes_table = _table(["Segment", "Segmentation", "Volume (mL)"])
        self.volumes_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        layout.addWidget(self.volumes_table, 2)

        self._filling = False
        self._volume_timer = QTimer(self)
        self._volume_timer.setSingleShot(True)
        self._volume_timer.setInterval(150)
        self._volume_timer.timeout.connect(self._volumes_due)
        self._volumes_dirty = False
        self.table.itemChanged.connect(self._on_name_edited)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.points_table.itemChanged.connect(self._on_label_edited)
        self.delete_button.clicked.connect(self.delete_selected)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table, activated=self.delete_selected,
                  context=Qt.ShortcutContext.WidgetShortcut)
        window.case_changed.connect(self.set_case)
        self.set_case(window.case)

    # --- the case -----------------------------------------------------------------------------------------------
    def set_case(self, case: Case) -> None:
        """List ``case``'s markups and follow its changes."""
        switch_node_handlers(self.case, case, added=self._on_node, removed=self._on_node,
                             changed=self._on_node_changed)
        self.case = case
        self.refresh()
        self.refresh_volumes()

    def _on_node(self, node: Node) -> None:
        if isinstance(node, PlanNode):
            self.refresh()
        elif isinstance(node, SegmentationNode):
            self._volume_timer.start()

    def _on_node_changed(self, node: Node, what: str) -> None:
        if isinstance(node, PlanNode):
            self.refresh()
        elif isinstance(node, SegmentationNode) and what in ("data", "name"):
            self._volume_timer.start()

    def markups(self) -> list[PlanNode]:
        """The plan nodes listed, in case order."""
        return [n for n in self.case.plans if n.plan_type in TABLE_TYPES] if self.case is not None else []

    def selected_node(self) -> PlanNode | None:
        """The plan node of the selected row."""
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.case is None:
            return None
        node_id = self.table.item(rows[0].row(), 0).data(ID_ROLE)
        try:
            node = self.case.get(node_id)
        except KeyError:
            return None
        return node if isinstance(node, PlanNode) else None

    def select(self, node: PlanNode) -> None:
        """Select ``node``'s row."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(ID_ROLE) == node.id:
                self.table.selectRow(row)
                return

    def refresh(self) -> None:
        """Rebuild the markups table, keeping the selection."""
        selected = self.selected_node()
        self._filling = True
        nodes = self.markups()
        self.table.setRowCount(len(nodes))
        for row, node in enumerate(nodes):
            self.table.setItem(row, 0, _item(node.name, editable=True, node_id=node.id))
            self.table.setItem(row, 1, _item(TABLE_TYPES[node.plan_type]))
            value = _item(markup_summary(node))
            if node.plan_type == "trajectory" and "COLLISION" in value.text():
                value.setForeground(Qt.GlobalColor.red)
            self.table.setItem(row, 2, value)
        self._filling = False
        if selected is not None and selected in nodes:
            self.select(selected)
        self.refresh_points()

    def _on_selection(self) -> None:
        self.refresh_points()
        node = self.selected_node()
        planning = getattr(self.window, "planning_tool", None)
        if node is not None and planning is not None and not self._filling:
            planning.show_plan(node)  # the planning dock reports on (and edits) the plan chosen here

    def refresh_points(self) -> None:
        """Show the selected point list's points."""
        node = self.selected_node()
        points = node.data.get("points", []) if node is not None and node.plan_type == POINT_LIST else []
        self._filling = True
        self.points_table.setRowCount(len(points))
        for row, point in enumerate(points):
            self.points_table.setItem(row, 0, _item(point["label"], editable=True))
            for col, value in enumerate(point["lps"], start=1):
                self.points_table.setItem(row, col, _item(f"{value:.1f}"))
        self._filling = False

    def _volumes_due(self) -> None:
        if self.isVisible():
            self.refresh_volumes()
        else:  # hidden behind another tab: count when shown, not after every brush stroke
            self._volumes_dirty = True

    def showEvent(self, event) -> None:
        """Bring the volumes up to date when the dock comes into view."""
        super().showEvent(event)
        if self._volumes_dirty:
            self.refresh_volumes()

    def refresh_volumes(self) -> None:
        """Recompute every segment's volume."""
        self._volumes_dirty = False
        rows: list[tuple[str, str, float]] = []
        if self.case is not None:
            for seg in self.case.segmentations:
                volumes = segment_volumes_ml(seg)
                rows += [(s.name, seg.name, volumes[s.label_value]) for s in seg.segments]
        self.volumes_table.setRowCount(len(rows))
        for row, (name, seg_name, ml) in enumerate(rows):
            self.volumes_table.setItem(row, 0, _item(name))
            self.volumes_table.setItem(row, 1, _item(seg_name))
            self.volumes_table.setItem(row, 2, _item(f"{ml:.2f}"))

    def segment_volume_text(self, segment_name: str) -> str | None:
        """The volume shown for ``segment_name`` (first match), or None."""
        for row in range(self.volumes_table.rowCount()):
            if self.volumes_table.item(row, 0).text() == segment_name:
                return self.volumes_table.item(row, 2).text()
        return None

    # --- edits --------------------------------------------------------------------------------------------------
    def _on_name_edited(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 0 or self.case is None:
            return
        node = self.case.get(item.data(ID_ROLE))
        new = item.text().strip()
        if not new or new == node.name:
            QTimer.singleShot(0, self.refresh)  # an empty name is refused: show the old one again
            return
        before = node.name
        node.name = new
        push_command(self.window, NodesCommand(self.case, "Rename", names=[(node, before, new)]))

    def _on_label_edited(self, item: QTableWidgetItem) -> None:
        node = self.selected_node()
        if self._filling or item.column() != 0 or node is None or node.plan_type != POINT_LIST:
            return
        points = [dict(p) for p in node.data.get("points", [])]
        new = item.text().strip()
        if not new or item.row() >= len(points) or points[item.row()]["label"] == new:
            QTimer.singleShot(0, self.refresh_points)
            return
        points[item.row()]["label"] = new
        set_plan_data_undoable(self.window, node, {**node.data, "points": points}, "Rename point")

    def delete_selected(self) -> None:
        """Remove the selected measurement or plan (undoable)."""
        node = self.selected_node()
        if node is None or self.case is None:
            return
        removed: list[Node] = [node]
        # Models a resection made belong to it and go with it.
        for mesh_id in node.data.get("mesh_ids", []):
            with contextlib.suppress(KeyError):
                removed.append(self.case.get(mesh_id))
        # The organ model a resection hid comes back with it gone.
        organ = node.data.get("organ") if node.plan_type == "resection" else None
        shown = [m for m in self.case.meshes if organ and not m.visible
                 and m.segmentation_id == organ.get("segmentation_id") and m.label_value == organ.get("label_value")]
        with self.case.batch():
            for n in removed:
                self.case.remove(n)
            for mesh in shown:
                mesh.visible = True
        push_command(self.window, NodesCommand(self.case, f"Delete {node.name}", removed=removed,
                                               visibility=[(m, False, True) for m in shown]))


def install_markups_table(window) -> MarkupsTable:
    """Add the Markups dock to ``window`` (once)."""
    table = getattr(window, "markups_table", None)
    if table is None:
        table = MarkupsTable(window)
        dock = QDockWidget("Markups", window)
        dock.setObjectName("MarkupsDock")
        dock.setWidget(table)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        data_dock = getattr(window, "data_dock", None)
        if data_dock is not None:  # a tab beside the Data dock: the views keep their size
            window.tabifyDockWidget(data_dock, dock)
            data_dock.raise_()
        with contextlib.suppress(AttributeError):
            window.view_menu.addAction(dock.toggleViewAction())
        window.markups_table = table
        window.markups_dock = dock
    return table
