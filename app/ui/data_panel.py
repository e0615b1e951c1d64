"""The data panel: the case's contents as a tree with visibility check boxes and colour swatches.

The panel edits the model (``node.visible = ...``) and redraws itself only from the case's events, so that every
change, whoever makes it, shows the same way.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QTreeWidget, QTreeWidgetItem, QWidget

from app.case import Case, MeshNode, Node, PlanNode, ResultNode, SegmentationNode, VolumeNode, switch_node_handlers

__all__ = ["DataPanel"]

NODE_ROLE = Qt.ItemDataRole.UserRole + 1
SEGMENT_ROLE = Qt.ItemDataRole.UserRole + 2
NAME_COLUMN, COLOUR_COLUMN = 0, 1

GROUPS: list[tuple[type[Node], str]] = [
    (VolumeNode, "Volumes"),
    (SegmentationNode, "Segmentations"),
    (MeshNode, "Models"),
    (PlanNode, "Plans"),
    (ResultNode, "Results"),
]


def _qcolor(rgb: tuple[float, float, float]) -> QColor:
    return QColor.fromRgbF(*(min(max(float(c), 0.0), 1.0) for c in rgb))


class DataPanel(QTreeWidget):
    """Tree of the case's nodes grouped by kind; segments are children of their segmentation.

    Signals
    -------
    node_activated(object)
        The user double-clicked a node's name (the window may centre the views on it).
    """

    node_activated = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels(["Name", "Colour"])
        self.setAlternatingRowColors(True)
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)
        self.header().setStretchLastSection(False)
        self.header().resizeSection(COLOUR_COLUMN, 56)
        self.header().setSectionResizeMode(NAME_COLUMN, self.header().ResizeMode.Stretch)
        self.setToolTip("Tick to show or hide; double-click a colour swatch to change it")
        self.case: Case | None = None
        self._updating = False
        self._groups: dict[type[Node], QTreeWidgetItem] = {}
        self._items: dict[str, QTreeWidgetItem] = {}
        self.itemChanged.connect(self._on_item_changed)
        self.itemDoubleClicked.connect(self._on_double_clicked)

    # --- case wiring ----------------------------------------------------------------------------------------------
    def set_case(self, case: Case | None) -> None:
        """Show ``case`` (None empties the panel) and follow its events."""
        switch_node_handlers(self.case, case, added=self._on_node_added, removed=self._on_node_removed,
                             changed=self._on_node_changed)
        self.case = case
        self._rebuild()

    def _rebuild(self) -> None:
        self._updating = True
        try:
            self.clear()
            self._items.clear()
            self._groups.clear()
            for cls, title in GROUPS:
                group = QTreeWidgetItem(self, [title])
                group.setFlags(Qt.ItemFlag.ItemIsEnabled)
                font = group.font(NAME_COLUMN)
                font.setBold(True)
                group.setFont(NAME_COLUMN, font)
                group.setHidden(True)
                self._groups[cls] = group
            for node in self.case or ():
                self._add_item(node)
        finally:
            self._updating = False
        self.expandAll()

    def item_for(self, node: Node | str) -> QTreeWidgetItem | None:
        """The tree item of ``node`` (or its id)."""
        return self._items.get(node if isinstance(node, str) else node.id)

    def group_item(self, cls: type[Node]) -> QTreeWidgetItem:
        """The top-level item grouping nodes of class ``cls``."""
        return self._groups[cls]

    def _group_for(self, node: Node) -> QTreeWidgetItem:
        for cls, _ in GROUPS:
            if isinstance(node, cls):
                return self._groups[cls]
        return self._groups[ResultNode]

    def _add_item(self, node: Node) -> None:
        group = self._group_for(node)
        item = QTreeWidgetItem(group)
        item.setData(NAME_COLUMN, NODE_ROLE, node.id)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable)
        self._items[node.id] = item
        self._fill_item(item, node)
        group.setHidden(False)
        group.setExpanded(True)
        item.setExpanded(True)

    def _fill_item(self, item: QTreeWidgetItem, node: Node) -> None:
        item.setText(NAME_COLUMN, node.name)
        item.setCheckState(NAME_COLUMN, Qt.CheckState.Checked if node.visible else Qt.CheckState.Unchecked)
        tip = f"{node.name} ({node.kind})"
        if isinstance(node, VolumeNode):
            shape = node.volume.array.shape
            width, centre = node.window_level
            tip += f"\n{shape[2]} x {shape[1]} x {shape[0]} voxels, window {width:.0f}/{centre:.0f}"
        elif isinstance(node, MeshNode):
            tip += f"\n{node.mesh.n_faces} triangles"
        item.setToolTip(NAME_COLUMN, tip)
        if isinstance(node, MeshNode):
            self._set_swatch(item, node.color)
        if isinstance(node, SegmentationNode):
            self._fill_segments(item, node)

    def _set_swatch(self, item: QTreeWidgetItem, rgb: tuple[float, float, float]) -> None:
        colour = _qcolor(rgb)
        item.setData(COLOUR_COLUMN, Qt.ItemDataRole.DecorationRole, colour)
        item.setToolTip(COLOUR_COLUMN, f"{colour.name()} — double-click to change")

    def _fill_segments(self, item: QTreeWidgetItem, node: SegmentationNode) -> None:
        existing = {item.child(i).data(NAME_COLUMN, SEGMENT_ROLE): item.child(i) for i in range(item.childCount())}
        wanted = {s.label_value for s in node.segments}
        for value, child in existing.items():
            if value not in wanted:
                item.removeChild(child)
        for segment in node.segments:
            child = existing.get(segment.label_value)
            if child is None:
                child = QTreeWidgetItem(item)
                child.setData(NAME_COLUMN, NODE_ROLE, node.id)
                child.setData(NAME_COLUMN, SEGMENT_ROLE, segment.label_value)
                child.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                               | Qt.ItemFlag.ItemIsUserCheckable)
            child.setText(NAME_COLUMN, segment.name)
            child.setCheckState(NAME_COLUMN, Qt.CheckState.Checked if segment.visible else Qt.CheckState.Unchecked)
            try:
                volume = f", {node.volume_ml(segment.label_value):.1f} ml"
            except Exception:
                volume = ""
            child.setToolTip(NAME_COLUMN, f"Segment {segment.name} (label {segment.label_value}{volume})")
            self._set_swatch(child, segment.color)
        item.setExpanded(True)

    # --- model -> panel -------------------------------------------------------------------------------------------
    def _on_node_added(self, node: Node) -> None:
        self._updating = True
        try:
            self._add_item(node)
        finally:
            self._updating = False

    def _on_node_removed(self, node: Node) -> None:
        item = self._items.pop(node.id, None)
        if item is None:
            return
        group = item.parent()
        group.removeChild(item)
        group.setHidden(group.childCount() == 0)

    def _on_node_changed(self, node: Node, what: str) -> None:
        item = self._items.get(node.id)
        if item is None:
            return
        self._updating = True
        try:
            self._fill_item(item, node)
        finally:
            self._updating = False

    # --- panel -> model -------------------------------------------------------------------------------------------
    def _node_of(self, item: QTreeWidgetItem) -> tuple[Node | None, int | None]:
        node_id = item.data(NAME_COLUMN, NODE_ROLE)
        if node_id is None or self.case is None:
            return None, None
        try:
            node = self.case.get(node_id)
        except KeyError:
            return None, None
        return node, item.data(NAME_COLUMN, SEGMENT_ROLE)

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._updating or column != NAME_COLUMN:
            return
        node, label = self._node_of(item)
        if node is None:
            return
        visible = item.checkState(NAME_COLUMN) == Qt.CheckState.Checked
        if label is not None and isinstance(node, SegmentationNode):
            node.set_segment_visible(label, visible)
        else:
            node.visible = visible

    def _on_double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        node, label = self._node_of(item)
        if node is None:
            return
        if column == COLOUR_COLUMN and (isinstance(node, MeshNode) or label is not None):
            self.choose_colour(item)
        elif label is None:
            self.node_activated.emit(node)

    def choose_colour(self, item: QTreeWidgetItem) -> None:
        """Ask for a new colour for the mesh or segment of ``item`` and set it on the model."""
        node, label = self._node_of(item)
        current = item.data(COLOUR_COLUMN, Qt.ItemDataRole.DecorationRole)
        colour = QColorDialog.getColor(current if isinstance(current, QColor) else QColor("white"), self,
                                       f"Colour of {item.text(NAME_COLUMN)}")
        if not colour.isValid() or node is None:
            return
        rgb = (colour.redF(), colour.greenF(), colour.blueF())
        if label is not None and isinstance(node, SegmentationNode):
            node.set_segment_color(label, rgb)
        elif isinstance(node, MeshNode):
            node.color = rgb
