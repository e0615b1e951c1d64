"""The Planning dock: resection by a plane or a curved surface with volumes and safety margin; trajectories.

Resection: choose the organ and the target (tumour) segments, then either *Draw plane* (drag a line on a slice view:
the plane contains the line and is perpendicular to that slice) or *Curved surface* (click control points on any
slice views, Enter to finish: a thin-plate-spline surface through them). The organ's voxels and surface are split;
the side holding the target is resected. The dock reports resected and remnant volumes (voxels and surface), the
remnant percentage (future liver remnant) and the smallest distance from the target to the cut, drawn as a line with
the safety band (target grown by the wanted margin) around the target.

Trajectory: *Place path* (click the entry, then the target, on any slice views), the tool radius, and the structures
marked critical (vessels by default). The table gives the smallest distance from the tool to every structure and
flags collisions with critical ones.

Every plan is a :class:`~app.case.PlanNode` saved with the case; placing or changing one is one undo step.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.case import Case, MeshNode, Node, PlanNode, SegmentationNode, switch_node_handlers
from app.ui.installing import install_once
from app.ui.markup_tools import (
    MarkupDisplay,
    NodesCommand,
    install_markup_display,
    install_placement,
    push_command,
    set_plan_data_undoable,
)
from imaging.mesh import SurfaceMesh
from imaging.meshing import mesh_from_mask
from imaging.planning import (
    CurvedCutSurface,
    CutPlane,
    PlanningError,
    Trajectory,
    margin_band_mask,
    resect,
    trajectory_report,
)
from rendering.markups import MARKUP_COLOURS, MarkupLayer

__all__ = ["RESECTION", "TRAJECTORY", "PlanningPanel", "PlanningTool", "cut_from_data", "install_planning_panel"]

RESECTION, TRAJECTORY = "resection", "trajectory"
CRITICAL_NAMES = re.compile(r"vessel|aorta|arter|vein|vena|cava|portal|nerve|canal|cord", re.IGNORECASE)
RESECTED_COLOUR = (1.0, 0.55, 0.1)


def cut_from_data(cut: dict[str, Any]) -> CutPlane | CurvedCutSurface:
    """The cut of a saved resection plan."""
    if cut["type"] == "plane":
        return CutPlane(cut["point"], cut["normal"])
    surface = CurvedCutSurface(cut["control_points"], smoothing=cut.get("smoothing", 0.0))
    return surface.flipped() if cut.get("flipped") else surface


def _cut_to_data(cut: CutPlane | CurvedCutSurface) -> dict[str, Any]:
    data = cut.to_dict()
    if isinstance(cut, CurvedCutSurface):
        data["flipped"] = bool(cut._sign < 0)
    return data


@dataclass
class _PlanResult:
    token: int
    value: Any
    error: str


class PlanningPanel(QWidget):
    """The dock's widgets (no logic)."""

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        box = QGroupBox("Resection")
        form = QFormLayout(box)
        self.organ_combo = QComboBox()
        self.organ_combo.setToolTip("The organ to resect (a segment)")
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("The target (tumour): its side of the cut is resected, the margin is measured")
        self.margin_spin = QDoubleSpinBox()
        self.margin_spin.setRange(0.5, 50.0)
        self.margin_spin.setValue(10.0)
        self.margin_spin.setSuffix(" mm")
        self.margin_spin.setToolTip("Wanted safety margin around the target (shown as a band)")
        form.addRow("Organ:", self.organ_combo)
        form.addRow("Target:", self.target_combo)
        form.addRow("Safety margin:", self.margin_spin)
        buttons = QHBoxLayout()
        self.plane_button = QPushButton("Draw plane")
        self.plane_button.setCheckable(True)
        self.plane_button.setToolTip("Drag a line on a slice view: the cut plane contains it, across that slice")
        self.curved_button = QPushButton("Curved surface")
        self.curved_button.setCheckable(True)
        self.curved_button.setToolTip("Click control points on the slice views (at least 3), Enter to cut")
        buttons.addWidget(self.plane_button)
        buttons.addWidget(self.curved_button)
        form.addRow(buttons)
        self.resection_label = QLabel("Choose the organ and the target, then draw the cut.")
        self.resection_label.setWordWrap(True)
        self.resection_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.resection_label)
        layout.addWidget(box)

        box = QGroupBox("Trajectory")
        form = QFormLayout(box)
        self.path_button = QPushButton("Place path")
        self.path_button.setCheckable(True)
        self.path_button.setToolTip("Click the entry point, then the target point, on the slice views")
        self.radius_spin = QDoubleSpinBox()
        self.radius_spin.setRange(0.1, 20.0)
        self.radius_spin.setSingleStep(0.5)
        self.radius_spin.setValue(1.0)
        self.radius_spin.setSuffix(" mm")
        self.radius_spin.setKeyboardTracking(False)
        self.radius_spin.setToolTip("Radius of the tool (needle, probe, drill)")
        form.addRow(self.path_button)
        form.addRow("Tool radius:", self.radius_spin)
        self.critical_list = QListWidget()
        self.critical_list.setToolTip("Tick the structures the tool must not touch")
        self.critical_list.setMaximumHeight(110)
        form.addRow("Critical:", self.critical_list)
        self.clearance_table = QTableWidget(0, 3)
        self.clearance_table.setHorizontalHeaderLabels(["Structure", "Distance (mm)", ""])
        self.clearance_table.verticalHeader().setVisible(False)
        self.clearance_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.clearance_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.clearance_table.horizontalHeader().setStretchLastSection(True)
        self.clearance_table.setMinimumWidth(120)
        form.addRow(self.clearance_table)
        self.trajectory_label = QLabel("")
        self.trajectory_label.setWordWrap(True)
        form.addRow(self.trajectory_label)
        layout.addWidget(box)
        layout.addStretch(1)


class PlanningTool(QObject):
    """Wires the Planning dock to a window: segments, placement on the slice views, plans, undo and display."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.panel = PlanningPanel()
        self.dock = QDockWidget("Planning", window)
        self.dock.setObjectName("PlanningDock")
        self.dock.setWidget(self.panel)
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                              | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                              | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        editor_dock = getattr(getattr(window, "segment_editor", None), "dock", None)
        if editor_dock is not None:  # a tab beside the Segment Editor: the views keep their size
            window.tabifyDockWidget(editor_dock, self.dock)
            editor_dock.raise_()
        with contextlib.suppress(AttributeError):
            window.view_menu.addAction(self.dock.toggleViewAction())
        self.placement = install_placement(window)
        self.display: MarkupDisplay = install_markup_display(window)
        self.display.renderers[RESECTION] = self._draw_resection
        self.display.renderers[TRAJECTORY] = self._draw_trajectory
        self.case: Case | None = None
        self.current_trajectory: PlanNode | None = None
        self._meshes: dict[tuple[str, int], tuple[int, SurfaceMesh]] = {}
        self._bands: dict[str, SurfaceMesh | None] = {}
        self._cut_meshes: dict[str, tuple[str, SurfaceMesh]] = {}
        self._tokens = itertools.count(1)
        self._pending: dict[int, Any] = {}
        window.tasks.finished.connect(self._on_task_finished)
        window.tasks.failed.connect(lambda _m: self._pending.clear())
        window.tasks.cancelled.connect(self._pending.clear)
        p = self.panel
        p.plane_button.toggled.connect(lambda on: self._toggle_placing("plane", on))
        p.curved_button.toggled.connect(lambda on: self._toggle_placing("curved", on))
        p.path_button.toggled.connect(lambda on: self._toggle_placing("path", on))
        p.radius_spin.valueChanged.connect(self._on_radius_changed)
        p.critical_list.itemChanged.connect(self._on_critical_changed)
        window.case_changed.connect(self.set_case)
        self.set_case(window.case)

    # --- the case -----------------------------------------------------------------------------------------------
    def set_case(self, case: Case) -> None:
        """Follow ``case``: its segments fill the combos and the critical list."""
        switch_node_handlers(self.case, case, added=self._on_node, removed=self._on_node,
                             changed=self._on_node_changed)
        self.case = case
        self.current_trajectory = None
        self._pending.clear()  # a result computed for the previous case is dropped
        self._meshes.clear()
        self._bands.clear()
        self._cut_meshes.clear()
        self.refresh_segments()

    def _on_node(self, node: Node) -> None:
        if isinstance(node, SegmentationNode):
            self.refresh_segments()
        if node is self.current_trajectory and node not in self.case:
            self.current_trajectory = None
            self._show_clearances(None)

    def _on_node_changed(self, node: Node, what: str) -> None:
        if isinstance(node, SegmentationNode) and what in ("data", "name"):
            self.refresh_segments()
        elif node is self.current_trajectory:
            self._show_clearances(node)

    def segments(self) -> list[tuple[str, SegmentationNode, int]]:
        """Every segment of the case as ``(name, segmentation, label_value)``."""
        if self.case is None:
            return []
        return [(s.name, seg, s.label_value) for seg in self.case.segmentations for s in seg.segments]

    def refresh_segments(self) -> None:
        """Refill the organ/target combos and the critical list, keeping the choices."""
        p = self.panel
        organ, target = p.organ_combo.currentText(), p.target_combo.currentText()
        critical = self.critical_names()
        known = {p.critical_list.item(i).text() for i in range(p.critical_list.count())}
        for combo in (p.organ_combo, p.target_combo):
            combo.blockSignals(True)
            combo.clear()
        p.target_combo.addItem("None", None)
        p.critical_list.blockSignals(True)
        p.critical_list.clear()
        for name, seg, value in self.segments():
            p.organ_combo.addItem(name, (seg.id, value))
            p.target_combo.addItem(name, (seg.id, value))
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            ticked = name in critical if name in known else bool(CRITICAL_NAMES.search(name))
            item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
            p.critical_list.addItem(item)
        p.critical_list.blockSignals(False)
        for combo, text in ((p.organ_combo, organ), (p.target_combo, target)):
            index = combo.findText(text) if text else -1
            if index < 0 and combo is p.organ_combo:
                index = next((i for i in range(combo.count()) if "liver" in combo.itemText(i).lower()), 0)
            if index <= 0 and combo is p.target_combo:  # "None" was only the default: offer a tumour if there is one
                index = next((i for i in range(combo.count())
                              if re.search(r"tumou?r|lesion|metast", combo.itemText(i), re.IGNORECASE)), 0)
            combo.setCurrentIndex(max(index, 0))
            combo.blockSignals(False)

    def select_segment(self, combo: QComboBox, name: str) -> None:
        """Choose segment ``name`` in ``combo``."""
        index = combo.findText(name)
        if index < 0:
            raise KeyError(f"no segment named {name!r}")
        combo.setCurrentIndex(index)

    def critical_names(self) -> set[str]:
        """Names of the structures ticked critical."""
        lst = self.panel.critical_list
        return {lst.item(i).text() for i in range(lst.count()) if lst.item(i).checkState() == Qt.CheckState.Checked}

    def set_critical(self, name: str, critical: bool) -> None:
        """Tick or untick a structure."""
        for i in range(self.panel.critical_list.count()):
            item = self.panel.critical_list.item(i)
            if item.text() == name:
                item.setCheckState(Qt.CheckState.Checked if critical else Qt.CheckState.Unchecked)
                return
        raise KeyError(f"no structure named {name!r}")

    def _segment(self, data) -> tuple[SegmentationNode, int] | None:
        if data is None or self.case is None:
            return None
        seg_id, value = data
        try:
            node = self.case.get(seg_id)
        except KeyError:
            return None
        return (node, value) if isinstance(node, SegmentationNode) else None

    def _model_mesh(self, segmentation: SegmentationNode, value: int) -> SurfaceMesh | None:
        """The case's model of a segment, if it has one."""
        for mesh in self.case.meshes:
            if mesh.segmentation_id == segmentation.id and mesh.label_value == value and mesh.mesh.n_faces:
                return mesh.mesh
        return None

    def segment_mesh(self, segmentation: SegmentationNode, value: int) -> SurfaceMesh:
        """The segment's surface: its model when the case has one, else one made (and kept) from its voxels."""
        model = self._model_mesh(segmentation, value)
        if model is not None:
            return model
        key = (segmentation.id, value)
        mask = segmentation.labelmap.array == value
        stamp = hash(np.packbits(mask).tobytes())
        cached = self._meshes.get(key)
        if cached is None or cached[0] != stamp:
            cached = (stamp, mesh_from_mask(mask, segmentation.labelmap.geometry))
            self._meshes[key] = cached
        return cached[1]

    # --- placing ------------------------------------------------------------------------------------------------
    def _buttons(self) -> dict[str, QPushButton]:
        p = self.panel
        return {"plane": p.plane_button, "curved": p.curved_button, "path": p.path_button}

    def _toggle_placing(self, mode: str, on: bool) -> None:
        buttons = self._buttons()
        if not on:
            if self.placement.owner is self and self._mode == mode:
                self.placement.cancel()
            return
        for key, button in buttons.items():
            if key != mode and button.isChecked():
                button.blockSignals(True)
                button.setChecked(False)
                button.blockSignals(False)
        with contextlib.suppress(AttributeError):
            self.window.markup_tools.set_tool(None)
        with contextlib.suppress(AttributeError):
            self.window.ruler_tool.action.setChecked(False)
        self._mode = mode
        preview = f"_plan_{mode}"
        common = {"on_cancel": lambda: self._placing_ended(preview)}
        if mode == "plane":
            self.placement.begin(self, drag=True, min_points=2,
                                 hint="Resection plane: drag a line across the organ on a slice view.",
                                 on_change=lambda pts: self.display.show_drawing(preview, pts),
                                 on_finish=lambda pts: self._finish(preview, self.apply_plane, pts), **common)
        elif mode == "curved":
            self.placement.begin(self, min_points=3,
                                 hint="Curved resection: click control points on the slice views, Enter to cut.",
                                 on_change=lambda pts: self._show_control_points(preview, pts),
                                 on_finish=lambda pts: self._finish(preview, self.apply_curved, pts), **common)
        else:
            self.placement.begin(self, min_points=2, max_points=2,
                                 hint="Trajectory: click the entry point, then the target point.",
                                 on_change=lambda pts: self.display.show_drawing(preview, pts),
                                 on_finish=lambda pts: self._finish(preview, self.apply_trajectory, pts), **common)

    _mode = ""

    def _show_control_points(self, key: str, points: list[np.ndarray]) -> None:
        for layer in self.display.slice_layers.values():
            layer.remove(key)
            if points:
                layer.set_points(key, points, [str(i + 1) for i in range(len(points))],
                                 colour=MARKUP_COLOURS["drawing"])
        self.window.request_render()

    def _placing_ended(self, preview: str) -> None:
        self.display.clear_drawing(preview)
        for button in self._buttons().values():
            button.blockSignals(True)
            button.setChecked(False)
            button.blockSignals(False)

    def _finish(self, preview: str, apply, points: list[np.ndarray]) -> None:
        self._placing_ended(preview)
        try:
            apply(points)
        except PlanningError as exc:
            self.window.status_label.setText(f"Planning: {exc}.")
            self.panel.resection_label.setText(f"Not computed: {exc}.")

    # --- resection ----------------------------------------------------------------------------------------------
    def apply_plane(self, points: list[np.ndarray]) -> PlanNode:
        """Resect by the plane through the line ``points[0]``-``points[1]``, perpendicular to its slice."""
        panel = self.placement.last_panel or self.window.axial
        cut = CutPlane.from_line(points[0], points[1], panel.view.orientation.axes.normal)
        return self.apply_cut(cut, "plane")

    def apply_curved(self, points: list[np.ndarray]) -> PlanNode:
        """Resect by the thin-plate-spline surface through ``points``."""
        return self.apply_cut(CurvedCutSurface(points), "curved")

    def apply_cut(self, cut: CutPlane | CurvedCutSurface, mode: str) -> None:
        """Split the chosen organ by ``cut`` in the background; then add the plan and both parts as one undo step.

        Raises
        ------
        PlanningError
            No organ chosen, or the target is the organ itself (checked before anything runs).
        """
        p = self.panel
        organ = self._segment(p.organ_combo.currentData())
        if organ is None:
            raise PlanningError("choose the organ to resect (segment it first)")
        seg, value = organ
        target = self._segment(p.target_combo.currentData())
        if target is not None and target == organ:
            raise PlanningError("the target must be another segment than the organ")
        geometry = seg.labelmap.geometry
        organ_mask = seg.labelmap.array == value  # copies: the worker never reads the live label map
        target_mask = target[0].labelmap.array == target[1] if target is not None else None
        organ_model = self._model_mesh(seg, value)
        target_model = self._model_mesh(*target) if target is not None else None
        wanted = float(p.margin_spin.value())

        def compute(progress, cancel):
            progress(0.05, "Organ and target surfaces")
            organ_mesh = organ_model or mesh_from_mask(organ_mask, geometry)
            has_target = target_mask is not None and bool(target_mask.any())
            target_mesh = (target_model or mesh_from_mask(target_mask, geometry)) if has_target else None
            if cancel.is_set():
                raise InterruptedError("cancelled")
            progress(0.4, "Splitting the organ")
            result = resect(organ_mask, geometry, cut, organ_mesh=organ_mesh, target_mask=target_mask,
                            target_points=target_mesh.points if target_mesh is not None else None)
            if cancel.is_set():
                raise InterruptedError("cancelled")
            progress(0.8, "Safety band")
            band = (mesh_from_mask(margin_band_mask(target_mask, geometry, wanted) | target_mask, geometry)
                    if has_target else None)
            return result, band

        def apply(value_: tuple) -> None:
            self._add_resection(value_[0], value_[1], seg, value, target, mode, wanted)

        self._run(compute, apply, "Resection")

    def _add_resection(self, result, band, seg: SegmentationNode, value: int, target, mode: str,
                       wanted: float) -> PlanNode:
        organ_name = seg.segment(value).name
        summary = result.summary()
        summary["wanted_margin_mm"] = wanted
        geometry = seg.labelmap.geometry
        idx = np.argwhere(result.resected_mask | result.remnant_mask)
        centre = geometry.index_to_point(idx.mean(axis=0)[::-1])
        half = 0.5 * float(np.linalg.norm(np.ptp(idx, axis=0) * np.asarray(geometry.spacing)[::-1])) + 10.0
        number = sum(1 for n in self.case.plans if n.plan_type == RESECTION) + 1
        parts = [MeshNode(result.resected_mesh, f"{organ_name} resected", color=RESECTED_COLOUR, opacity=0.55),
                 MeshNode(result.remnant_mesh, f"{organ_name} remnant", color=seg.segment(value).color)]
        data = {
            "mode": mode, "cut": _cut_to_data(result.cut),
            "organ": {"segmentation_id": seg.id, "label_value": value, "name": organ_name},
            "target": ({"segmentation_id": target[0].id, "label_value": target[1],
                        "name": target[0].segment(target[1]).name} if target is not None else None),
            "result": summary, "display_centre": [float(v) for v in centre], "display_half_mm": half,
            "margin_points": ([[float(v) for v in result.margin.target_point],
                               [float(v) for v in result.margin.surface_point]] if result.margin else None),
            "mesh_ids": [n.id for n in parts],
        }
        node = PlanNode(f"Resection {number}", RESECTION, data)
        self._bands[node.id] = band
        hidden = [m for m in self.case.meshes
                  if m.segmentation_id == seg.id and m.label_value == value and m.visible]
        with self.case.batch():
            for part in parts:
                self.case.add(part)
            self.case.add(node)
            for mesh in hidden:
                mesh.visible = False
        push_command(self.window, NodesCommand(self.case, "Curved resection" if mode == "curved" else "Resection",
                                               added=[*parts, node], visibility=[(m, True, False) for m in hidden]))
        self.show_resection(node)
        return node

    # --- background work ----------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while a resection is computed."""
        return bool(self._pending)

    def _run(self, compute, apply, description: str) -> None:
        token = next(self._tokens)
        self._pending = {token: apply}

        def work(progress, cancel):
            try:
                return _PlanResult(token, compute(progress, cancel), "")
            except PlanningError as exc:  # a plan that cannot be made is a message, not a failure dialog
                return _PlanResult(token, None, str(exc))

        self.panel.resection_label.setText(f"{description}: computing…")
        self.window.tasks.start(work, description)

    def _on_task_finished(self, result: object) -> None:
        if not isinstance(result, _PlanResult):
            return
        apply = self._pending.pop(result.token, None)
        if apply is None:
            return
        if result.error:
            self.window.status_label.setText(f"Planning: {result.error}.")
            self.panel.resection_label.setText(f"Not computed: {result.error}.")
            return
        apply(result.value)

    def show_plan(self, node: PlanNode) -> None:
        """Make ``node`` the plan the dock reports on (a trajectory's radius and critical set then edit it)."""
        if node.plan_type == TRAJECTORY:
            self.current_trajectory = node
            self._show_clearances(node)
        elif node.plan_type == RESECTION:
            self.show_resection(node)

    def show_resection(self, node: PlanNode) -> None:
        """Report ``node``'s volumes and margin in the dock."""
        r = node.data.get("result") or {}
        if not r:
            return
        lines = [f"Resected {r['resected_ml']:.1f} mL, remnant {r['remnant_ml']:.1f} mL of {r['total_ml']:.1f} mL "
                 f"(voxels)"]
        if r.get("mesh_total_ml"):
            lines.append(f"Surface: {r['mesh_resected_ml']:.1f} + {r['mesh_remnant_ml']:.1f} mL "
                         f"of {r['mesh_total_ml']:.1f} mL")
        lines.append(f"Remnant {r['remnant_percent']:.1f} % of the organ")
        if r.get("min_margin_mm") is not None:
            m, wanted = r["min_margin_mm"], r.get("wanted_margin_mm", 0.0)
            verdict = "TARGET CUT" if m < 0 else ("below the wanted margin" if m < wanted else "margin kept")
            lines.append(f"Closest distance from the target to the cut: {m:.1f} mm ({verdict})")
        self.panel.resection_label.setText("\n".join(lines))
        self.window.status_label.setText(f"{node.name}: remnant {r['remnant_percent']:.1f} %")

    def _cut_mesh(self, node: PlanNode) -> SurfaceMesh:
        d = node.data
        key = repr(d["cut"])
        cached = self._cut_meshes.get(node.id)
        if cached is None or cached[0] != key:
            cut = cut_from_data(d["cut"])
            cached = (key, cut.mesh(d["display_centre"], d["display_half_mm"], 3.0))
            self._cut_meshes[node.id] = cached
        return cached[1]

    def _band_mesh(self, node: PlanNode) -> SurfaceMesh | None:
        if node.id not in self._bands:
            band = None
            target = node.data.get("target")
            seg = self._segment((target["segmentation_id"], target["label_value"])) if target else None
            if seg is not None:
                mask = seg[0].labelmap.array == seg[1]
                wanted = (node.data.get("result") or {}).get("wanted_margin_mm", 10.0)
                if mask.any():
                    geometry = seg[0].labelmap.geometry
                    band = mesh_from_mask(margin_band_mask(mask, geometry, wanted) | mask, geometry)
            self._bands[node.id] = band
        return self._bands[node.id]

    def _draw_resection(self, node: PlanNode, layer: MarkupLayer) -> None:
        d = node.data
        colour = MARKUP_COLOURS[RESECTION]
        layer.set_surface(f"{node.id}/cut", self._cut_mesh(node), colour=colour, opacity=0.35, width=2.5)
        if d["cut"]["type"] == "curved":
            pts = d["cut"]["control_points"]
            layer.set_points(f"{node.id}/control", pts, [str(i + 1) for i in range(len(pts))], colour=colour)
        if d.get("margin_points"):
            margin = (d.get("result") or {}).get("min_margin_mm")
            layer.set_polyline(f"{node.id}/margin", d["margin_points"], colour=MARKUP_COLOURS["margin"],
                               label=f"margin {margin:.1f} mm" if margin is not None else None)
        band = self._band_mesh(node)
        if band is not None:
            layer.set_surface(f"{node.id}/band", band, colour=MARKUP_COLOURS["margin"], opacity=0.18, width=1.0)

    # --- trajectory ---------------------------------------------------------------------------------------------
    def apply_trajectory(self, points: list[np.ndarray]) -> PlanNode:
        """Add a trajectory from ``points[0]`` (entry) to ``points[1]`` (target) and report its clearances."""
        entry, target = points[0], points[1]
        data = self._trajectory_data(entry, target, float(self.panel.radius_spin.value()), self.critical_names())
        number = sum(1 for n in self.case.plans if n.plan_type == TRAJECTORY) + 1
        node = PlanNode(f"Trajectory {number}", TRAJECTORY, data)
        self.case.add(node)
        push_command(self.window, NodesCommand(self.case, "Add trajectory", added=[node]))
        self.current_trajectory = node
        self._show_clearances(node)
        return node

    def _trajectory_data(self, entry, target, radius_mm: float, critical: set[str]) -> dict[str, Any]:
        trajectory = Trajectory(entry, target, radius_mm)
        structures = {name: self.segment_mesh(seg, value) for name, seg, value in self.segments()
                      if (seg.labelmap.array == value).any()}
        report = trajectory_report(trajectory, structures, critical)
        return {
            "entry_lps": [float(v) for v in trajectory.entry], "target_lps": [float(v) for v in trajectory.target],
            "radius_mm": float(radius_mm), "length_mm": trajectory.length_mm, "critical": sorted(critical),
            "clearances": [{"structure": c.name, "min_distance_mm": c.min_distance_mm, "depth_mm": c.depth_mm,
                            "critical": c.critical, "collision": c.collision} for c in report],
        }

    def update_trajectory(self, node: PlanNode, *, radius_mm: float | None = None,
                          critical: set[str] | None = None) -> None:
        """Recompute ``node`` with a new radius or critical set (one undo step)."""
        d = node.data
        radius = float(d["radius_mm"] if radius_mm is None else radius_mm)
        crit = set(d.get("critical", [])) if critical is None else set(critical)
        data = self._trajectory_data(d["entry_lps"], d["target_lps"], radius, crit)
        what = "Change tool radius" if radius_mm is not None else "Change critical structures"
        set_plan_data_undoable(self.window, node, {**d, **data}, what)

    def _on_radius_changed(self, value: float) -> None:
        node = self.current_trajectory
        if node is not None and node in self.case and abs(node.data["radius_mm"] - value) > 1e-9:
            self.update_trajectory(node, radius_mm=value)

    def _on_critical_changed(self, _item: QListWidgetItem) -> None:
        node = self.current_trajectory
        if node is not None and node in self.case and set(node.data.get("critical", [])) != self.critical_names():
            self.update_trajectory(node, critical=self.critical_names())

    def _show_clearances(self, node: PlanNode | None) -> None:
        table = self.panel.clearance_table
        rows = node.data.get("clearances", []) if node is not None else []
        table.setRowCount(len(rows))
        for row, c in enumerate(rows):
            flag = "COLLISION" if c["collision"] else ("critical" if c["critical"] else "")
            items = [QTableWidgetItem(c["structure"]), QTableWidgetItem(f"{c['min_distance_mm']:.1f}"),
                     QTableWidgetItem(flag)]
            for col, item in enumerate(items):
                if c["collision"]:
                    item.setForeground(Qt.GlobalColor.red)
                table.setItem(row, col, item)
        if node is None:
            self.panel.trajectory_label.setText("")
            return
        d = node.data
        self.panel.radius_spin.blockSignals(True)
        self.panel.radius_spin.setValue(d["radius_mm"])
        self.panel.radius_spin.blockSignals(False)
        hits = [c["structure"] for c in rows if c["collision"]]
        text = f"{node.name}: {d['length_mm']:.1f} mm long, tool radius {d['radius_mm']:.1f} mm. "
        text += ("Collides with " + ", ".join(hits) + "!") if hits else "No collision with a critical structure."
        self.panel.trajectory_label.setText(text)
        self.window.status_label.setText(text)

    def _draw_trajectory(self, node: PlanNode, layer: MarkupLayer) -> None:
        d = node.data
        hit = any(c["collision"] for c in d.get("clearances", []))
        colour = MARKUP_COLOURS["collision" if hit else TRAJECTORY]
        rows = d.get("clearances") or []
        label = f"{rows[0]['structure']} {rows[0]['min_distance_mm']:.1f} mm" if rows else None
        layer.set_tube(node.id, d["entry_lps"], d["target_lps"], d["radius_mm"], colour=colour, label=label)


def install_planning_panel(window) -> PlanningTool:
    """Add the Planning dock to ``window`` (once)."""
    return install_once(window, "planning_tool", PlanningTool)
