"""The Segment Editor: a dock with the segment list, editing tools, masking options and undo/redo.

:func:`install_segment_editor` adds it to a :class:`~app.ui.main_window.MainWindow` without changing the window's
code: the dock goes on the right, an Edit menu with Undo/Redo (Ctrl+Z, Ctrl+Y / Ctrl+Shift+Z) goes into the menu
bar, and an event filter on each slice view's render widget takes the left mouse button while a painting or seeding
tool is active (otherwise the views behave as before: left click = crosshair).

Every edit goes through :mod:`app.case.commands`: it becomes one undoable command holding a bounding-box
:class:`~imaging.segmentation.edits.LabelEdit`; a whole brush drag is one command. Long computations (threshold
apply, region growing, morphology, meshing) run in the window's :class:`~app.ui.tasks.TaskRunner`; their result is
applied on the GUI thread.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSlider,
    QStackedWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.case import Case, MeshNode, Node, SegmentationNode, VolumeNode, switch_node_handlers
from app.case.commands import (
    AddSegmentCommand,
    CommandStack,
    LabelMapCommand,
    RemoveSegmentCommand,
    apply_label_edit,
    is_segment_locked,
    locked_labels,
    remove_segment,
    rename_segment,
    set_segment_locked,
    set_segment_mask,
)
from app.ui.installing import install_once
from imaging.segmentation import (
    EditMask,
    closing,
    confidence_connected,
    connected_threshold,
    disc_brush,
    fill_between_slices,
    hollow,
    intersect,
    joint_smooth,
    keep_islands_with_seeds,
    keep_largest_island,
    load_terminology,
    load_threshold_presets,
    margin,
    median_smooth,
    opening,
    remove_small_islands,
    scissors,
    sphere_brush,
    subtract,
    threshold_mask,
    union,
)
from imaging.segmentation.edits import LabelEdit, bounding_box
from imaging.volume import Volume
from rendering.label_preview import BrushOutline, SlicePreviewLayer, refresh_labelmap_overlay, threshold_plane_function
from rendering.lasso import LassoOverlay

__all__ = ["TOOLS", "SegmentEditor", "SegmentEditorPanel", "install_segment_editor"]

log = logging.getLogger(__name__)

NAME_COLUMN, COLOUR_COLUMN, LOCK_COLUMN = 0, 1, 2
VALUE_ROLE = Qt.ItemDataRole.UserRole + 11

# key, label, tooltip, what a left click / drag in a slice view does (None: the views keep their crosshair)
TOOLS: list[tuple[str, str, str, str | None]] = [
    ("none", "Navigate", "No tool: left click moves the crosshair", None),
    ("threshold", "Threshold", "Select voxels in an intensity range, with a live preview on the slices", None),
    ("paint", "Paint", "Paint with a disc (or sphere) brush; Ctrl+drag erases", "paint"),
    ("erase", "Erase", "Erase the selected segment with the brush", "paint"),
    ("grow", "Grow from seed", "Click a seed: region growing in the threshold range, or confidence connected",
     "seed"),
    ("islands", "Islands", "Keep the largest island, remove small ones, or click the island to keep", "seed"),
    ("margin", "Margin", "Grow or shrink the segment by millimetres", None),
    ("hollow", "Hollow", "Make a shell of given thickness", None),
    ("logical", "Logical", "Union, subtract or intersect with another segment", None),
    ("smoothing", "Smoothing", "Median, opening (remove spikes) or closing (fill holes)", None),
    ("fill", "Fill between", "Interpolate the segment between the slices it was drawn on", None),
    ("scissors", "Scissors", "Draw an outline in the 3D or a slice view: cut the segment inside or outside it, "
     "through the whole volume along the view direction", "scissors"),
    ("ai", "AI box", "Drag a box around a structure on a slice view: LiteMedSAM draws it on that slice; "
     "Propagate carries it through the volume", "box"),
]
TOOL_HINTS = {
    "scissors": "Drag an outline in the 3D view (or a slice view); on release the segment is cut along the view.",
    "none": "Pick a tool. Left click in a slice view moves the crosshair.",
    "threshold": "Drag the range: the preview follows on the shown slices. Apply fills the whole volume.",
    "paint": "Left drag in a slice view paints. Ctrl+drag erases. Shift+drag still sets window/level.",
    "erase": "Left drag in a slice view erases the selected segment.",
    "grow": "Left click a seed in a slice view.",
    "islands": "Left click an island in a slice view to keep it, or use the buttons.",
    "margin": "Positive grows, negative shrinks (millimetres, true 3-D distance).",
    "hollow": "Replaces the segment by a shell of the given thickness.",
    "logical": "Combine the selected segment with another one.",
    "smoothing": "Smooths the selected segment in 3-D.",
    "fill": "Draw the structure on a few slices, then fill the slices between them.",
    "ai": "Drag a box around the structure on any slice view; then Propagate. Ctrl+Z undoes each step.",
}



def _swatch(rgb: tuple[float, float, float], size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor.fromRgbF(*(min(max(float(c), 0.0), 1.0) for c in rgb)))
    return QIcon(pixmap)


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "section")
    return label


def _spin(lo: float, hi: float, value: float, step: float, suffix: str = "", decimals: int = 1) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setDecimals(decimals)
    spin.setSingleStep(step)
    spin.setValue(value)
    if suffix:
        spin.setSuffix(suffix)
    spin.setKeyboardTracking(False)
    return spin


@dataclass
class _EditorResult:
    """A worker's result addressed to the editor (the window ignores results that are not cases)."""

    token: int
    value: Any


class SegmentEditorPanel(QWidget):
    """The widgets of the Segment Editor dock; :class:`SegmentEditor` wires them to the case and the views."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SegmentEditorPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.setSpacing(4)

        # --- segmentation and segments --------------------------------------------------------------------------
        top = QHBoxLayout()
        top.addWidget(QLabel("Segmentation:"))
        self.segmentation_combo = QComboBox()
        self.segmentation_combo.setToolTip("The segmentation being edited")
        top.addWidget(self.segmentation_combo, 1)
        self.new_segmentation_button = QPushButton("New layer")
        self.new_segmentation_button.setToolTip(
            "Another segmentation on the same image: its segments may overlap those of the other layers"
        )
        top.addWidget(self.new_segmentation_button)
        layout.addLayout(top)

        self.segment_list = QTreeWidget()
        self.segment_list.setColumnCount(3)
        self.segment_list.setHeaderLabels(["Segment", "Colour", "Lock"])
        self.segment_list.setRootIsDecorated(False)
        self.segment_list.setAlternatingRowColors(True)
        self.segment_list.setUniformRowHeights(True)
        self.segment_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.segment_list.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed
                                          | QAbstractItemView.EditTrigger.SelectedClicked)
        header = self.segment_list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(NAME_COLUMN, header.ResizeMode.Stretch)
        header.resizeSection(COLOUR_COLUMN, 52)
        header.resizeSection(LOCK_COLUMN, 44)
        self.segment_list.setToolTip("Tick = visible; F2 or a second click renames; double-click the colour to "
                                     "change it; tick Lock to protect a segment from every tool")
        self.segment_list.setMinimumHeight(120)
        self.segment_list.setMaximumHeight(170)
        layout.addWidget(self.segment_list)

        buttons = QHBoxLayout()
        self.add_button = QToolButton()
        self.add_button.setText("+ Add")
        self.add_button.setToolTip("Add a segment: pick a structure (standard name and colour)")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_menu = QMenu(self.add_button)
        self.add_button.setMenu(self.add_menu)
        self.remove_button = QToolButton()
        self.remove_button.setText("Remove")
        self.remove_button.setToolTip("Remove the selected segment and its voxels (undoable)")
        self.colour_button = QToolButton()
        self.colour_button.setText("Colour…")
        self.undo_button = QToolButton()
        self.undo_button.setText("Undo")
        self.redo_button = QToolButton()
        self.redo_button.setText("Redo")
        for b in (self.add_button, self.remove_button, self.colour_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.undo_button)
        buttons.addWidget(self.redo_button)
        layout.addLayout(buttons)

        # --- tools ----------------------------------------------------------------------------------------------
        layout.addWidget(_section("Tools"))
        grid = QGridLayout()
        grid.setSpacing(3)
        self.tool_group = QButtonGroup(self)
        self.tool_group.setExclusive(True)
        self.tool_buttons: dict[str, QToolButton] = {}
        for n, (key, label, tip, _mouse) in enumerate(TOOLS):
            button = QToolButton()
            button.setText(label)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setSizePolicy(button.sizePolicy().Policy.Expanding, button.sizePolicy().Policy.Fixed)
            self.tool_group.addButton(button)
            self.tool_buttons[key] = button
            grid.addWidget(button, n // 3, n % 3)
        layout.addLayout(grid)
        self.hint = QLabel()
        self.hint.setProperty("role", "hint")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)

        self.options = QFrame()
        self.options.setObjectName("ToolOptions")
        options_layout = QVBoxLayout(self.options)
        options_layout.setContentsMargins(8, 6, 8, 6)
        self.pages = QStackedWidget()
        options_layout.addWidget(self.pages)
        layout.addWidget(self.options)
        self._page_index: dict[str, int] = {}
        self._build_pages()

        # --- masking --------------------------------------------------------------------------------------------
        layout.addWidget(_section("Masking"))
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        self.editable_combo = QComboBox()
        self.editable_combo.setToolTip("Where tools may change voxels; locked segments are never overwritten")
        form.addRow("Editable area:", self.editable_combo)
        intensity = QHBoxLayout()
        self.intensity_check = QCheckBox("Intensity")
        self.intensity_low = _spin(-5000, 30000, -100, 10, "", 0)
        self.intensity_high = _spin(-5000, 30000, 300, 10, "", 0)
        intensity.addWidget(self.intensity_check)
        intensity.addWidget(self.intensity_low)
        intensity.addWidget(QLabel("–"))
        intensity.addWidget(self.intensity_high)
        form.addRow("Only where:", intensity)
        layout.addLayout(form)

        # --- 3-D model ------------------------------------------------------------------------------------------
        self.model_button = _primary_button("Create 3D model")
        self.model_button.setToolTip("Mesh the selected segment and add (or update) its model in the 3D view")
        layout.addWidget(self.model_button)
        self.status = QLabel()
        self.status.setProperty("role", "hint")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def add_page(self, key: str, widget: QWidget) -> None:
        """Register the options page of tool ``key``."""
        self._page_index[key] = self.pages.addWidget(widget)

    def _build_pages(self) -> None:
        empty = QLabel("Navigation: the views keep their usual mouse controls.")
        empty.setWordWrap(True)
        empty.setProperty("role", "hint")
        self.add_page("none", empty)

        # Threshold
        page, form = _form_page()
        self.preset_combo = QComboBox()
        self.preset_combo.addItem("Custom", None)
        for preset in load_threshold_presets().values():
            self.preset_combo.addItem(f"{preset.name}  ({preset.lower:g} … {preset.upper:g})", preset.key)
        form.addRow("Preset:", self.preset_combo)
        self.lower_spin = _spin(-5000, 30000, 200, 10, "", 0)
        self.upper_spin = _spin(-5000, 30000, 3071, 10, "", 0)
        self.lower_slider = QSlider(Qt.Orientation.Horizontal)
        self.upper_slider = QSlider(Qt.Orientation.Horizontal)
        for label, spin, slider in (("Lower:", self.lower_spin, self.lower_slider),
                                    ("Upper:", self.upper_spin, self.upper_slider)):
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            row.addWidget(spin)
            form.addRow(label, row)
        self.preview_check = QCheckBox("Live preview on the slice views")
        self.preview_check.setChecked(True)
        form.addRow(self.preview_check)
        self.threshold_apply = _primary_button("Apply threshold")
        form.addRow(self.threshold_apply)
        self.add_page("threshold", page)

        # Paint / erase
        page, form = _form_page()
        row = QHBoxLayout()
        self.radius_slider = QSlider(Qt.Orientation.Horizontal)
        self.radius_slider.setRange(1, 500)
        self.radius_spin = _spin(0.5, 100, 5, 0.5, " mm")
        row.addWidget(self.radius_slider, 1)
        row.addWidget(self.radius_spin)
        form.addRow("Radius:", row)
        self.sphere_check = QCheckBox("Sphere brush (3-D)")
        self.sphere_check.setToolTip("Paint a ball instead of a disc on the slice")
        form.addRow(self.sphere_check)
        self.add_page("paint", page)

        # Grow from seed
        page, form = _form_page()
        self.grow_method = _choices((("Connected threshold (uses the threshold range)", "connected"),
                                     ("Confidence connected (learns the range)", "confidence")))
        form.addRow("Method:", self.grow_method)
        self.grow_range = QLabel()
        form.addRow("Range:", self.grow_range)
        self.grow_multiplier = _spin(0.5, 10, 2.5, 0.1, " σ")
        form.addRow("Multiplier:", self.grow_multiplier)
        self.add_page("grow", page)

        # Islands
        page, form = _form_page()
        self.keep_largest_button = QPushButton("Keep largest island")
        form.addRow(self.keep_largest_button)
        row = QHBoxLayout()
        self.min_island = _spin(0, 1e7, 1000, 100, " mm³", 0)
        self.remove_small_button = QPushButton("Remove smaller")
        row.addWidget(self.min_island, 1)
        row.addWidget(self.remove_small_button)
        form.addRow("Min size:", row)
        hint = QLabel("Or click an island in a slice view to keep only it.")
        hint.setProperty("role", "hint")
        form.addRow(hint)
        self.add_page("islands", page)

        # Margin
        page, form = _form_page()
        self.margin_spin = _spin(-100, 100, 3, 0.5, " mm")
        form.addRow("Margin:", self.margin_spin)
        self.margin_apply = _primary_button("Apply margin")
        form.addRow(self.margin_apply)
        self.add_page("margin", page)

        # Hollow
        page, form = _form_page()
        self.hollow_spin = _spin(0.1, 50, 2, 0.5, " mm")
        form.addRow("Thickness:", self.hollow_spin)
        self.hollow_side = _choices(
            (("Inside surface", "inside"), ("Outside surface", "outside"), ("Centred", "medial"))
        )
        form.addRow("Shell:", self.hollow_side)
        self.hollow_apply = _primary_button("Apply hollow")
        form.addRow(self.hollow_apply)
        self.add_page("hollow", page)

        # Logical
        page, form = _form_page()
        self.logical_op = _choices((("Add (union)", "union"), ("Subtract", "subtract"), ("Intersect", "intersect")))
        form.addRow("Operation:", self.logical_op)
        self.logical_other = QComboBox()
        form.addRow("With:", self.logical_other)
        self.logical_apply = _primary_button("Apply")
        form.addRow(self.logical_apply)
        self.add_page("logical", page)

        # Smoothing
        page, form = _form_page()
        self.smooth_method = _choices((("Median", "median"), ("Opening (remove extrusions)", "opening"),
                                       ("Closing (fill holes)", "closing"),
                                       ("Joint: all unlocked segments, no gaps or overlaps", "joint")))
        form.addRow("Method:", self.smooth_method)
        self.smooth_size = _spin(0.5, 50, 3, 0.5, " mm")
        form.addRow("Kernel:", self.smooth_size)
        self.smooth_apply = _primary_button("Apply smoothing")
        form.addRow(self.smooth_apply)
        self.add_page("smoothing", page)

        # Fill between slices
        page, form = _form_page()
        self.fill_axis = _choices((("Axial slices", 0), ("Coronal slices", 1), ("Sagittal slices", 2)))
        form.addRow("Drawn on:", self.fill_axis)
        self.fill_apply = _primary_button("Fill between slices")
        form.addRow(self.fill_apply)
        self.add_page("fill", page)

        # Scissors
        page, form = _form_page()
        self.scissors_mode = _choices((("Erase inside the outline", True), ("Erase outside the outline", False)))
        form.addRow("Cut:", self.scissors_mode)
        self.add_page("scissors", page)

    def show_page(self, tool: str) -> None:
        """Show the options of ``tool``."""
        self.pages.setCurrentIndex(self._page_index["paint" if tool == "erase" else tool])
        self.hint.setText(TOOL_HINTS.get(tool, ""))


class SegmentEditor(QObject):
    """Wires a :class:`SegmentEditorPanel` to a main window: its case, its slice views, its task runner.

    Attributes
    ----------
    stack : CommandStack
        Undo history of the current case.
    tool : str
        Key of the active tool (see :data:`TOOLS`).
    """

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.panel = SegmentEditorPanel()
        self.dock = QDockWidget("Segment Editor", window)
        self.dock.setObjectName("SegmentEditorDock")
        self.dock.setWidget(self.panel)
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                              | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                              | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.dock.setMinimumWidth(330)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)

        self.stack = CommandStack()
        self.tool = "none"
        self.case: Case | None = None
        self._segmentation: SegmentationNode | None = None
        self._label_value: int | None = None
        self._tokens = itertools.count(1)
        self._pending: dict[int, Callable[[Any], None]] = {}
        self._stroke: dict[str, Any] | None = None
        self._filling = False
        self._range_cache: tuple[int, tuple[float, float]] | None = None
        self.previews = {panel: SlicePreviewLayer(panel.view) for panel in window.slice_panels}
        self.outlines = {panel: BrushOutline(panel.view) for panel in window.slice_panels}
        self._widgets = {panel.vtk_widget: panel for panel in window.slice_panels}
        for widget in self._widgets:
            widget.installEventFilter(self)
        # The scissors also cut through the 3-D view, where the outline is most natural to draw.
        self._lasso_panels = {**self._widgets, window.three_d.vtk_widget: window.three_d}
        window.three_d.vtk_widget.installEventFilter(self)
        self.lassos = {panel: LassoOverlay(_panel_renderer(panel)) for panel in self._lasso_panels.values()}
        self._outline: dict[str, Any] | None = None

        self._build_actions()
        self._connect_panel()
        window.tasks.finished.connect(self._on_task_finished)
        window.tasks.failed.connect(lambda _m: self._pending.clear())
        window.tasks.cancelled.connect(self._pending.clear)
        case_changed = getattr(window, "case_changed", None)
        if case_changed is not None:
            case_changed.connect(lambda _case: self.sync_case())
        else:  # the window replaces its case when a load finishes (its slot runs before ours)
            window.tasks.finished.connect(lambda _r: self.sync_case())
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(0)
        self._preview_timer.timeout.connect(self._update_preview)
        self.sync_case()
        self.set_tool("none")

    # --- construction ---------------------------------------------------------------------------------------------
    def _build_actions(self) -> None:
        window = self.window
        self.undo_action = QAction("&Undo", window)
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = QAction("&Redo", window)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")])
        for action, slot in ((self.undo_action, self.undo), (self.redo_action, self.redo)):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda _c=False, slot=slot: slot())
            window.addAction(action)
        menu = QMenu("&Edit", window.menuBar())
        menu.addAction(self.undo_action)
        menu.addAction(self.redo_action)
        menu.addSeparator()
        menu.addAction(self.dock.toggleViewAction())
        self.dock.toggleViewAction().setText("Segment &Editor")
        menus = [a for a in window.menuBar().actions() if a.menu() is not None]
        if len(menus) > 1:
            window.menuBar().insertMenu(menus[1], menu)
        else:
            window.menuBar().addMenu(menu)
        self.edit_menu = menu
        self.panel.undo_button.clicked.connect(self.undo)
        self.panel.redo_button.clicked.connect(self.redo)
        self.stack.changed.connect(self._update_undo_state)
        self._update_undo_state()

    def _connect_panel(self) -> None:
        p = self.panel
        for key, button in p.tool_buttons.items():
            button.clicked.connect(lambda _c=False, key=key: self.set_tool(key))
        p.segmentation_combo.activated.connect(self._on_segmentation_chosen)
        p.segment_list.currentItemChanged.connect(self._on_current_segment)
        p.segment_list.itemChanged.connect(self._on_segment_item_changed)
        p.segment_list.itemDoubleClicked.connect(self._on_segment_double_clicked)
        p.remove_button.clicked.connect(self.remove_selected_segment)
        p.colour_button.clicked.connect(self.choose_colour)
        self._fill_add_menu()
        # Threshold
        p.preset_combo.activated.connect(self._on_threshold_preset)
        p.lower_spin.valueChanged.connect(lambda v: self._on_threshold_spin(p.lower_slider, v))
        p.upper_spin.valueChanged.connect(lambda v: self._on_threshold_spin(p.upper_slider, v))
        p.lower_slider.valueChanged.connect(lambda v: self._on_threshold_slider(p.lower_spin, p.upper_spin, v, True))
        p.upper_slider.valueChanged.connect(lambda v: self._on_threshold_slider(p.upper_spin, p.lower_spin, v, False))
        p.preview_check.toggled.connect(lambda _v: self._schedule_preview())
        p.threshold_apply.clicked.connect(self.apply_threshold)
        # Brush
        p.radius_spin.valueChanged.connect(lambda v: self._sync_radius_slider(v))
        p.radius_slider.valueChanged.connect(lambda v: p.radius_spin.setValue(v / 5.0))
        self._sync_radius_slider(p.radius_spin.value())
        # Other tools
        p.keep_largest_button.clicked.connect(self.keep_largest_island)
        p.remove_small_button.clicked.connect(self.remove_small_islands)
        p.margin_apply.clicked.connect(self.apply_margin)
        p.hollow_apply.clicked.connect(self.apply_hollow)
        p.logical_apply.clicked.connect(self.apply_logical)
        p.smooth_apply.clicked.connect(self.apply_smoothing)
        p.fill_apply.clicked.connect(self.apply_fill_between)
        p.new_segmentation_button.clicked.connect(self.new_segmentation)
        p.model_button.clicked.connect(self.create_model)
        p.editable_combo.activated.connect(lambda _i: None)

    def _fill_add_menu(self) -> None:
        menu = self.panel.add_menu
        menu.clear()
        entries = list(load_terminology().values())
        action = menu.addAction("Generic segment")
        action.triggered.connect(lambda _c=False: self.add_segment(None))
        by_category: dict[str, list] = {}
        for entry in entries:
            by_category.setdefault(entry.category, []).append(entry)
        menu.addSeparator()
        for category in sorted(by_category):
            sub = menu.addMenu(category.capitalize())
            for entry in sorted(by_category[category], key=lambda e: e.name):
                act = sub.addAction(_swatch(entry.color), entry.name)
                act.triggered.connect(lambda _c=False, key=entry.key: self.add_segment(key))

    # --- case binding ---------------------------------------------------------------------------------------------
    def sync_case(self) -> None:
        """Follow the window's current case (call after the window replaced it)."""
        case = self.window.case
        if case is self.case:
            return
        switch_node_handlers(self.case, case, added=self._on_node_event, removed=self._on_node_event,
                             changed=self._on_node_changed)
        if self.case is not None:
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                self.case.modified_changed.disconnect(self._on_modified_changed)
        self.case = case
        self.stack.clear()
        self._segmentation = None
        self._label_value = None
        self._range_cache = None
        self._stroke = None
        if case is not None:
            case.modified_changed.connect(self._on_modified_changed)
        self.refresh()
        self._init_threshold_range()
        self._schedule_preview()

    def _on_modified_changed(self, modified: bool) -> None:
        if not modified:
            self.stack.set_clean()

    def _on_node_event(self, node: Node) -> None:
        if isinstance(node, SegmentationNode | VolumeNode):
            self.refresh()

    def _on_node_changed(self, node: Node, what: str) -> None:
        if node is self._segmentation and what in ("data", "name", "display"):
            self._fill_segments()
        elif isinstance(node, SegmentationNode) and what == "name":
            self._fill_segmentations()

    @property
    def volume_node(self) -> VolumeNode | None:
        """The volume shown in the slice views (the image the tools read)."""
        controller = self.window.controller
        node = controller.displayed_volume if controller is not None else None
        if node is None and self.case is not None and self.case.volumes:
            node = self.case.volumes[0]
        return node

    @property
    def volume(self) -> Volume | None:
        """The image of :attr:`volume_node`."""
        node = self.volume_node
        return node.volume if node is not None else None

    def _candidates(self) -> list[SegmentationNode]:
        if self.case is None:
            return []
        volume = self.volume_node
        if volume is None:
            return list(self.case.segmentations)
        shape = volume.volume.array.shape
        return [s for s in self.case.segmentations if s.labelmap.array.shape == shape]

    @property
    def segmentation(self) -> SegmentationNode | None:
        """The segmentation being edited."""
        if self._segmentation is not None and self.case is not None and self._segmentation in self.case:
            return self._segmentation
        candidates = self._candidates()
        volume = self.volume_node
        preferred = [s for s in candidates if volume is not None and s.reference_volume_id == volume.id]
        self._segmentation = (preferred or candidates or [None])[0]
        return self._segmentation

    def new_segmentation(self) -> SegmentationNode | None:
        """Add an empty segmentation layer on the displayed volume and edit it (its segments may overlap others)."""
        if self.case is None or self.volume_node is None:
            self._say("Open an image first.")
            return None
        number = len(self.case.segmentations) + 1
        node = self.case.add(SegmentationNode.empty_like(self.volume_node, f"Segmentation {number}"))
        self.set_segmentation(node)
        self._say(f"New layer “{node.name}”: add segments to it; they can overlap the other layers.")
        return node

    def set_segmentation(self, node: SegmentationNode | None) -> None:
        """Edit ``node``."""
        self._segmentation = node
        self._label_value = None
        self.refresh()

    @property
    def label_value(self) -> int | None:
        """Label value of the selected segment."""
        node = self.segmentation
        if node is None:
            return None
        values = [s.label_value for s in node.segments]
        if self._label_value not in values:
            self._label_value = values[0] if values else None
        return self._label_value

    def select_segment(self, label_value: int) -> None:
        """Make ``label_value`` the segment the tools edit."""
        self._label_value = int(label_value)
        self._fill_segments()
        self._schedule_preview()

    def refresh(self) -> None:
        """Refill the segmentation combo and the segment list."""
        self._fill_segmentations()
        self._fill_segments()
        has_volume = self.volume_node is not None
        for button in (self.panel.add_button, self.panel.model_button):
            button.setEnabled(has_volume)

    def _fill_segmentations(self) -> None:
        combo = self.panel.segmentation_combo
        combo.blockSignals(True)
        combo.clear()
        current = self.segmentation
        for node in self._candidates():
            combo.addItem(node.name, node.id)
            if node is current:
                combo.setCurrentIndex(combo.count() - 1)
        if not combo.count():
            combo.addItem("(none: adding a segment creates one)", None)
        combo.blockSignals(False)

    def _fill_segments(self) -> None:
        tree = self.panel.segment_list
        self._filling = True
        tree.blockSignals(True)
        try:
            tree.clear()
            node = self.segmentation
            current_value = self.label_value
            if node is None:
                return
            for segment in node.segments:
                item = QTreeWidgetItem([segment.name, "", ""])
                item.setData(NAME_COLUMN, VALUE_ROLE, segment.label_value)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(NAME_COLUMN, Qt.CheckState.Checked if segment.visible else Qt.CheckState.Unchecked)
                item.setIcon(COLOUR_COLUMN, _swatch(segment.color))
                locked = is_segment_locked(node, segment.label_value)
                item.setCheckState(LOCK_COLUMN, Qt.CheckState.Checked if locked else Qt.CheckState.Unchecked)
                item.setToolTip(NAME_COLUMN, f"{segment.name}: label {segment.label_value}, "
                                f"{node.volume_ml(segment.label_value):.1f} ml" + (" (locked)" if locked else ""))
                tree.addTopLevelItem(item)
                if segment.label_value == current_value:
                    tree.setCurrentItem(item)
            self._fill_other_combo()
            self._fill_editable_combo(node)
        finally:
            tree.blockSignals(False)
            self._filling = False
            has = self.label_value is not None
            for button in (self.panel.remove_button, self.panel.colour_button, self.panel.model_button):
                button.setEnabled(has)

    def _fill_other_combo(self) -> None:
        other = self.panel.logical_other
        previous = other.currentData()
        other.clear()
        node, current = self.segmentation, self.label_value
        for segment in node.segments if node is not None else ():
            if segment.label_value != current:
                other.addItem(_swatch(segment.color), segment.name, segment.label_value)
        index = other.findData(previous)
        if index >= 0:
            other.setCurrentIndex(index)

    def _fill_editable_combo(self, node: SegmentationNode) -> None:
        combo = self.panel.editable_combo
        previous = combo.currentData()
        combo.clear()
        combo.addItem("Everywhere", ("all", None))
        combo.addItem("Empty voxels only", ("inside", 0))
        for segment in node.segments:
            combo.addItem(_swatch(segment.color), f"Inside {segment.name}", ("inside", segment.label_value))
        index = combo.findData(previous) if previous is not None else 0
        combo.setCurrentIndex(max(index, 0))

    # --- segment list actions -------------------------------------------------------------------------------------
    def _on_segmentation_chosen(self, index: int) -> None:
        node_id = self.panel.segmentation_combo.itemData(index)
        if node_id is not None and self.case is not None:
            self.set_segmentation(self.case.get(node_id))

    def _on_current_segment(self, item: QTreeWidgetItem | None, _previous) -> None:
        if item is not None and not self._filling:
            self._label_value = int(item.data(NAME_COLUMN, VALUE_ROLE))
            self._fill_other_combo()
            self._schedule_preview()

    def _on_segment_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        node = self.segmentation
        if self._filling or node is None:
            return
        value = int(item.data(NAME_COLUMN, VALUE_ROLE))
        if column == NAME_COLUMN:
            visible = item.checkState(NAME_COLUMN) == Qt.CheckState.Checked
            if node.segment(value).visible != visible:
                node.set_segment_visible(value, visible)
            name = item.text(NAME_COLUMN).strip()
            if name and name != node.segment(value).name:
                rename_segment(node, value, name)
        elif column == LOCK_COLUMN:
            set_segment_locked(node, value, item.checkState(LOCK_COLUMN) == Qt.CheckState.Checked)

    def _on_segment_double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        if column == COLOUR_COLUMN:
            self._label_value = int(item.data(NAME_COLUMN, VALUE_ROLE))
            self.choose_colour()

    def choose_colour(self) -> None:
        """Ask for a new colour of the selected segment."""
        node, value = self.segmentation, self.label_value
        if node is None or value is None:
            return
        colour = QColorDialog.getColor(QColor.fromRgbF(*node.segment(value).color), self.panel, "Segment colour")
        if colour.isValid():
            node.set_segment_color(value, (colour.redF(), colour.greenF(), colour.blueF()))

    def _ensure_segmentation(self) -> SegmentationNode | None:
        node = self.segmentation
        if node is None and self.case is not None and self.volume_node is not None:
            node = self.case.add(SegmentationNode.empty_like(self.volume_node, "Segmentation"))
            self._segmentation = node
        return node

    def add_segment(self, terminology_key: str | None) -> int | None:
        """Add a segment named and coloured from the terminology (None: a generic one); returns its label value."""
        node = self._ensure_segmentation()
        if node is None:
            return None
        if terminology_key is None:
            name, colour = f"Segment {len(node.segments) + 1}", (0.5, 0.7, 0.95)
        else:
            entry = load_terminology()[terminology_key]
            name, colour = entry.name, entry.color
        existing = {s.name for s in node.segments}
        base, n = name, 2
        while name in existing:
            name, n = f"{base} {n}", n + 1
        segment = node.add_segment(name, colour)
        self.stack.push(AddSegmentCommand(node, segment, f"Add segment {name}"))
        self.select_segment(segment.label_value)
        self.refresh()
        return segment.label_value

    def remove_selected_segment(self) -> None:
        """Remove the selected segment and its voxels (undoable)."""
        node, value = self.segmentation, self.label_value
        if node is None or value is None:
            return
        segment, edit = remove_segment(node, value)
        self.stack.push(RemoveSegmentCommand(node, segment, edit, f"Remove segment {segment.name}"))
        self._label_value = None
        self.refresh()

    # --- tools ----------------------------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """Activate a tool by key (``none``, ``threshold``, ``paint``, ``erase``, ``grow``, ``islands``...)."""
        if tool not in self.panel.tool_buttons:
            raise ValueError(f"unknown segment editor tool {tool!r}")
        self.tool = tool
        self.panel.tool_buttons[tool].setChecked(True)
        self.panel.show_page(tool)
        if tool == "grow":
            self._update_grow_range()
        for outline in self.outlines.values():
            outline.hide()
        cursor = Qt.CursorShape.CrossCursor if self.mouse_mode else Qt.CursorShape.ArrowCursor
        for widget in self._widgets:
            widget.setCursor(cursor)
        self._schedule_preview()

    @property
    def mouse_mode(self) -> str | None:
        """How the active tool uses the mouse in the views (None: it does not)."""
        return next((mouse for key, _l, _t, mouse in TOOLS if key == self.tool), None)

    def edit_mask(self) -> EditMask | None:
        """The masking options as an :class:`EditMask` (locked segments are added by the commands)."""
        kind, value = self.panel.editable_combo.currentData() or ("all", None)
        inside = value if kind == "inside" else None
        intensity_range = None
        volume = self.volume
        if self.panel.intensity_check.isChecked() and volume is not None:
            lo, hi = self.panel.intensity_low.value(), self.panel.intensity_high.value()
            intensity_range = (min(lo, hi), max(lo, hi))
        if inside is None and intensity_range is None:
            return None
        return EditMask(inside=inside, intensity=volume.array if intensity_range else None,
                        intensity_range=intensity_range)

    def _target(self) -> tuple[SegmentationNode, int] | None:
        node, value = self.segmentation, self.label_value
        if node is None or value is None:
            self._say("Add or select a segment first.")
            return None
        if is_segment_locked(node, value):
            self._say(f"“{node.segment(value).name}” is locked: unlock it to edit.")
            return None
        return node, value

    def _say(self, text: str) -> None:
        self.panel.status.setText(text)
        with contextlib.suppress(AttributeError):
            self.window.status_label.setText(text)

    def _record(self, node: SegmentationNode, edit, description: str, merge_key: object = None) -> None:
        if edit.is_empty:
            return
        self.stack.push(LabelMapCommand(node, edit, description, merge_key))

    # --- threshold ------------------------------------------------------------------------------------------------
    def _volume_range(self) -> tuple[float, float]:
        volume = self.volume
        if volume is None:
            return (-1024.0, 3071.0)
        if self._range_cache is None or self._range_cache[0] != id(volume.array):
            array = volume.array
            self._range_cache = (id(array), (float(array.min()), float(array.max())))
        return self._range_cache[1]

    def _init_threshold_range(self) -> None:
        lo, hi = self._volume_range()
        p = self.panel
        for slider in (p.lower_slider, p.upper_slider):
            slider.blockSignals(True)
            slider.setRange(int(np.floor(lo)), int(np.ceil(hi)))
            slider.blockSignals(False)
        self.set_threshold(p.lower_spin.value(), p.upper_spin.value())

    @property
    def threshold_range(self) -> tuple[float, float]:
        """``(lower, upper)`` of the threshold tool (also used by region growing)."""
        return (self.panel.lower_spin.value(), self.panel.upper_spin.value())

    def set_threshold(self, lower: float, upper: float) -> None:
        """Set the threshold range (the preview follows)."""
        p = self.panel
        for spin, slider, value in ((p.lower_spin, p.lower_slider, lower), (p.upper_spin, p.upper_slider, upper)):
            spin.blockSignals(True)
            slider.blockSignals(True)
            spin.setValue(float(value))
            slider.setValue(round(value))
            spin.blockSignals(False)
            slider.blockSignals(False)
        self._update_grow_range()
        self._schedule_preview()

    def _on_threshold_preset(self, index: int) -> None:
        key = self.panel.preset_combo.itemData(index)
        if key is not None:
            preset = load_threshold_presets()[key]
            self.set_threshold(preset.lower, preset.upper)

    def _on_threshold_spin(self, slider: QSlider, value: float) -> None:
        slider.blockSignals(True)
        slider.setValue(round(value))
        slider.blockSignals(False)
        self.panel.preset_combo.setCurrentIndex(0)
        self._update_grow_range()
        self._schedule_preview()

    def _on_threshold_slider(self, spin: QDoubleSpinBox, other: QDoubleSpinBox, value: int, is_lower: bool) -> None:
        spin.blockSignals(True)
        spin.setValue(float(value))
        spin.blockSignals(False)
        if (is_lower and value > other.value()) or (not is_lower and value < other.value()):
            other.setValue(float(value))
        self.panel.preset_combo.setCurrentIndex(0)
        self._update_grow_range()
        self._schedule_preview()

    def _update_grow_range(self) -> None:
        lo, hi = self.threshold_range
        self.panel.grow_range.setText(f"{lo:g} … {hi:g}  (set with the Threshold tool)")

    def _schedule_preview(self) -> None:
        self._preview_timer.start()

    def _update_preview(self) -> None:
        """Show or hide the threshold preview (recomputed per view, on the shown slice only, at render time)."""
        volume = self.volume
        show = (self.tool == "threshold" and self.panel.preview_check.isChecked() and volume is not None
                and self.segmentation is not None and self.label_value is not None)
        if show:
            lo, hi = self.threshold_range
            colour = self.segmentation.segment(self.label_value).color
            fn = threshold_plane_function(volume, min(lo, hi), max(lo, hi))
            for layer in self.previews.values():
                layer.set_source(volume, fn, colour, 0.85)
        else:
            for layer in self.previews.values():
                layer.clear()
        self.window.request_render()

    def apply_threshold(self) -> None:
        """Fill the selected segment with the threshold mask (computed in the background)."""
        target, volume = self._target(), self.volume
        if target is None or volume is None:
            return
        lo, hi = self.threshold_range
        lo, hi = min(lo, hi), max(lo, hi)

        def compute(progress, cancel):
            progress(0.2, "Thresholding")
            return threshold_mask(volume, lo, hi)

        self._run(compute, lambda mask: self._paint_full(target, mask, f"Threshold {lo:g}…{hi:g}"), "Threshold")

    def _paint_full(self, target: tuple[SegmentationNode, int], mask: np.ndarray, description: str) -> None:
        node, value = target
        edit = apply_label_edit(node, mask, value, allowed=self.edit_mask(), description=description)
        self._record(node, edit, description)
        self._say(f"{description}: {edit.changed_voxels} voxels changed.")

    # --- background work -----------------------------------------------------------------------------------------
    def _run(self, compute: Callable, apply: Callable[[Any], None], description: str) -> None:
        token = next(self._tokens)
        self._pending = {token: apply}

        def work(progress, cancel):
            return _EditorResult(token, compute(progress, cancel))

        self.window.tasks.start(work, description)

    @property
    def busy(self) -> bool:
        """True while an editor computation runs."""
        return bool(self._pending)

    def _on_task_finished(self, result: object) -> None:
        if not isinstance(result, _EditorResult):
            return
        apply = self._pending.pop(result.token, None)
        if apply is None:
            return
        try:
            apply(result.value)
        except ValueError as exc:
            self._say(str(exc))
        finally:
            self.window.status_label.setText(self.panel.status.text() or "Done")

    def _run_on_segment(self, description: str, fn: Callable[[np.ndarray, Any], np.ndarray]) -> None:
        """Replace the selected segment by ``fn(mask, geometry)`` computed in the background (one undo step)."""
        target = self._target()
        if target is None:
            return
        node, value = target
        mask = node.labelmap.array == value
        geometry = node.labelmap.geometry
        if not mask.any() and description not in ("Logical",):
            self._say(f"“{node.segment(value).name}” is empty.")
            return
        allowed = self.edit_mask()

        def apply(new_mask):
            edit = set_segment_mask(node, value, new_mask, allowed=allowed, description=description)
            self._record(node, edit, description)
            self._say(f"{description}: {edit.changed_voxels} voxels changed.")

        self._run(lambda progress, cancel: fn(mask, geometry), apply, description)

    # --- islands, margin, hollow, logical, smoothing, fill ------------------------------------------------------
    def keep_largest_island(self) -> None:
        """Keep only the largest island of the selected segment."""
        self._run_on_segment("Keep largest island", lambda m, g: keep_largest_island(m))

    def remove_small_islands(self) -> None:
        """Remove islands smaller than the size in the Islands options."""
        size = self.panel.min_island.value()
        self._run_on_segment(f"Remove islands < {size:g} mm³", lambda m, g: remove_small_islands(m, g, size))

    def keep_island_at(self, point_lps: np.ndarray) -> None:
        """Keep the island under ``point_lps``."""
        self._run_on_segment("Keep selected island", lambda m, g: keep_islands_with_seeds(m, g, [point_lps]))

    def apply_margin(self) -> None:
        """Grow (positive) or shrink (negative) the segment."""
        mm = self.panel.margin_spin.value()
        if mm:
            self._run_on_segment(f"Margin {mm:+g} mm", lambda m, g: margin(m, g, mm))

    def apply_hollow(self) -> None:
        """Replace the segment by a shell."""
        mm, side = self.panel.hollow_spin.value(), self.panel.hollow_side.currentData()
        self._run_on_segment(f"Hollow {mm:g} mm", lambda m, g: hollow(m, g, mm, side=side))

    def apply_logical(self) -> None:
        """Union, subtract or intersect with the other segment chosen in the Logical options."""
        node, other = self.segmentation, self.panel.logical_other.currentData()
        if node is None or other is None:
            self._say("Choose the other segment.")
            return
        op = self.panel.logical_op.currentData()
        b = node.labelmap.array == int(other)
        fn = {"union": union, "subtract": subtract, "intersect": intersect}[op]
        self._run_on_segment("Logical", lambda m, g: fn(m, b))

    def apply_smoothing(self) -> None:
        """Median, opening or closing of the segment, or joint smoothing of every unlocked segment."""
        method, size = self.panel.smooth_method.currentData(), self.panel.smooth_size.value()
        if method == "joint":
            self.apply_joint_smoothing(size)
            return
        fn = {"median": median_smooth, "opening": opening, "closing": closing}[method]
        self._run_on_segment(f"Smoothing ({method}, {size:g} mm)", lambda m, g: fn(m, g, size))

    def apply_joint_smoothing(self, kernel_mm: float) -> None:
        """Smooth all unlocked segments of the segmentation together (one undo step); neighbours stay adjacent."""
        node = self.segmentation
        if node is None or not node.segments:
            self._say("Add segments first.")
            return
        labels = [s.label_value for s in node.segments if not s.locked]
        if not labels:
            self._say("Every segment is locked: nothing to smooth.")
            return
        before = node.labelmap.array.copy()
        geometry = node.labelmap.geometry
        description = f"Joint smoothing ({kernel_mm:g} mm)"

        def apply(after: np.ndarray) -> None:
            box = bounding_box(after != before)
            if box is None:
                self._say(f"{description}: nothing changed.")
                return
            (lo, hi), region = box, tuple(slice(a, b) for a, b in zip(*box, strict=True))
            edit = LabelEdit(tuple(lo), tuple(hi), before[region].copy(), after[region].copy(), description)
            edit.apply(node.labelmap.array)
            self._record(node, edit, description)
            node.changed.emit("data")
            self._say(f"{description}: {edit.changed_voxels:,} voxels changed.")

        # The kernel (as for median/opening/closing) is a diameter; the Gaussian's sigma is half of it.
        self._run(lambda progress, cancel: joint_smooth(before, geometry, kernel_mm / 2.0, labels), apply,
                  description)

    def apply_fill_between(self) -> None:
        """Interpolate the segment between its drawn slices."""
        axis = int(self.panel.fill_axis.currentData())
        self._run_on_segment("Fill between slices", lambda m, g: fill_between_slices(m, g, axis))

    def grow_from_seed(self, point_lps: np.ndarray) -> None:
        """Region growing from ``point_lps`` into the selected segment."""
        target, volume = self._target(), self.volume
        if target is None or volume is None:
            return
        method = self.panel.grow_method.currentData()
        lo, hi = self.threshold_range
        multiplier = self.panel.grow_multiplier.value()
        seed = [tuple(float(v) for v in point_lps)]

        def compute(progress, cancel):
            progress(0.2, "Region growing")
            if method == "confidence":
                return confidence_connected(volume, seed, multiplier=multiplier)
            return connected_threshold(volume, seed, min(lo, hi), max(lo, hi))

        self._run(compute, lambda mask: self._paint_full(target, mask, "Grow from seed"), "Region growing")

    # --- 3-D model ------------------------------------------------------------------------------------------------
    def create_model(self) -> None:
        """Mesh the selected segment in the background and add or update its model."""
        node, value = self.segmentation, self.label_value
        if node is None or value is None or self.case is None:
            return
        mask = node.labelmap.array == value
        if not mask.any():
            self._say("The segment is empty: nothing to mesh.")
            return
        geometry = node.labelmap.geometry
        case = self.case

        def compute(progress, cancel):
            from imaging.meshing import mesh_from_mask

            return mesh_from_mask(mask, geometry, progress=progress)

        def apply(mesh):
            segment = node.segment(value)
            existing = next((m for m in case.meshes if m.segmentation_id == node.id and m.label_value == value), None)
            if existing is not None:
                existing.mesh = mesh
                existing.color = segment.color
            else:
                case.add(MeshNode(mesh, segment.name, color=segment.color, segmentation_id=node.id,
                                  label_value=value))
            self._say(f"Model of “{segment.name}”: {mesh.n_faces} triangles.")

        self._run(compute, apply, "Creating the 3D model")

    # --- undo -----------------------------------------------------------------------------------------------------
    def undo(self) -> None:
        """Undo the last edit."""
        if self._stroke is None and (command := self.stack.undo()) is not None:
            self._say(f"Undid {command.description or 'edit'}.")

    def redo(self) -> None:
        """Redo the last undone edit."""
        if self._stroke is None and (command := self.stack.redo()) is not None:
            self._say(f"Redid {command.description or 'edit'}.")

    def _update_undo_state(self) -> None:
        self.undo_action.setEnabled(self.stack.can_undo)
        self.redo_action.setEnabled(self.stack.can_redo)
        self.undo_action.setText(f"&Undo {self.stack.undo_text}".rstrip())
        self.redo_action.setText(f"&Redo {self.stack.redo_text}".rstrip())
        self.panel.undo_button.setEnabled(self.stack.can_undo)
        self.panel.redo_button.setEnabled(self.stack.can_redo)
        self.panel.undo_button.setToolTip(f"Undo {self.stack.undo_text} (Ctrl+Z)")
        self.panel.redo_button.setToolTip(f"Redo {self.stack.redo_text} (Ctrl+Y)")

    # --- mouse ----------------------------------------------------------------------------------------------------
    def _sync_radius_slider(self, value: float) -> None:
        self.panel.radius_slider.blockSignals(True)
        self.panel.radius_slider.setValue(round(value * 5))
        self.panel.radius_slider.blockSignals(False)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Take left-button input in the slice views while a painting or seeding tool is active."""
        mode = self.mouse_mode
        if mode == "scissors" and obj in self._lasso_panels:
            return self._scissors_event(self._lasso_panels[obj], obj, event)
        panel = self._widgets.get(obj)
        if panel is None or mode is None or panel.view.volume is None:
            return False
        if mode == "box":
            return self.ai_tool.box_event(panel, event)
        kind = event.type()
        if kind == QEvent.Type.Leave:
            self.outlines[panel].hide()
            self.window.request_render()
            return False
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease):
            return False
        assert isinstance(event, QMouseEvent)
        pos = event.position().toPoint()
        if kind == QEvent.Type.MouseMove:
            if mode == "paint":
                self._show_outline(panel, pos)
            if self._stroke is not None and self._stroke["panel"] is panel:
                self._continue_stroke(pos)
                return True
            return False
        if event.button() != Qt.MouseButton.LeftButton or event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            return False
        if kind == QEvent.Type.MouseButtonPress:
            panel.vtk_widget.setFocus()
            panel.activated.emit()
            point = panel.pick(pos)
            if mode == "paint":
                erase = self.tool == "erase" or bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
                self._start_stroke(panel, pos, erase)
            elif self.tool == "grow":
                self.grow_from_seed(point)
            elif self.tool == "islands":
                self.keep_island_at(point)
            return True
        if self._stroke is not None:
            self._end_stroke()
        return True

    def _scissors_event(self, panel, widget, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease):
            return False
        assert isinstance(event, QMouseEvent)
        if kind == QEvent.Type.MouseButtonPress:
            if event.button() != Qt.MouseButton.LeftButton:
                return False
            self._outline = {"panel": panel, "widget": widget, "points": [event.position()]}
            return True
        if self._outline is None or self._outline["panel"] is not panel:
            return False
        self._outline["points"].append(event.position())
        ratio = widget.devicePixelRatioF()
        height = widget.height()
        display = [(p.x() * ratio, (height - p.y()) * ratio) for p in self._outline["points"]]
        lasso = self.lassos[panel]
        if kind == QEvent.Type.MouseMove:
            lasso.set_points(display)
            panel.render() if hasattr(panel, "render") else self.window.request_render()
            return True
        outline, self._outline = self._outline, None
        lasso.clear()
        self.cut_with_outline(panel, [(p.x(), p.y()) for p in outline["points"]], (widget.width(), height))
        return True

    def cut_with_outline(self, panel, points_px, size_px) -> None:
        """Cut the selected segment with an outline drawn on ``panel`` (Qt pixels, origin top-left)."""
        target = self._target()
        if target is None or len(points_px) < 3:
            return
        node, value = target
        width, height = size_px
        xy = np.asarray(points_px, dtype=np.float64)
        ndc = np.column_stack([2.0 * xy[:, 0] / width - 1.0, 1.0 - 2.0 * xy[:, 1] / height])
        renderer = _panel_renderer(panel)
        camera = renderer.GetActiveCamera()
        matrix = camera.GetCompositeProjectionTransformMatrix(renderer.GetTiledAspectRatio(), -1.0, 1.0)
        projection = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
        inside = bool(self.panel.scissors_mode.currentData())
        edit = scissors(node.labelmap.array, node.labelmap.geometry, value, ndc, projection, inside=inside,
                        allowed=self.edit_mask(), locked=locked_labels(node))
        if edit.is_empty:
            self._say("The outline does not cut the selected segment.")
            return
        self._record(node, edit, "Scissors")
        node.changed.emit("data")
        self._say(f"Scissors: {edit.changed_voxels:,} voxels cut.")

    def _show_outline(self, panel, pos: QPoint) -> None:
        point = panel.pick(pos)
        outline = self.outlines[panel]
        node, value = self.segmentation, self.label_value
        if node is not None and value is not None:
            outline.set_colour(node.segment(value).color if self.tool == "paint" else (1.0, 1.0, 1.0))
        outline.show_at(point, self.panel.radius_spin.value())
        panel.render()

    def _start_stroke(self, panel, pos: QPoint, erase: bool) -> None:
        target = self._target()
        if target is None:
            return
        node, value = target
        self._stroke = {"panel": panel, "node": node, "value": value, "erase": erase, "key": object(),
                        "last": panel.pick(pos), "allowed": self.edit_mask(), "changed": False}
        self._dab(self._stroke["last"])

    def _continue_stroke(self, pos: QPoint) -> None:
        stroke = self._stroke
        assert stroke is not None
        point = stroke["panel"].pick(pos)
        last = stroke["last"]
        radius = self.panel.radius_spin.value()
        step = max(radius / 2.0, 0.5)
        count = max(int(np.ceil(np.linalg.norm(point - last) / step)), 1)
        for t in np.linspace(0.0, 1.0, count + 1)[1:]:
            self._dab(last + t * (point - last))
        stroke["last"] = point

    def _dab(self, point: np.ndarray) -> None:
        stroke = self._stroke
        assert stroke is not None
        node, value, panel = stroke["node"], stroke["value"], stroke["panel"]
        geometry = node.labelmap.geometry
        radius = self.panel.radius_spin.value()
        if self.panel.sphere_check.isChecked():
            mask, offset = sphere_brush(geometry, point, radius)
        else:
            mask, offset = disc_brush(geometry, point, radius, panel.view.orientation.axes.normal)
        if not mask.size:
            return
        description = "Erase" if stroke["erase"] else "Paint"
        edit = apply_label_edit(node, mask, value, mode="erase" if stroke["erase"] else "paint", offset=offset,
                                allowed=stroke["allowed"], description=description, emit=False)
        if edit.is_empty:
            return
        stroke["changed"] = True
        self._record(node, edit, description, merge_key=stroke["key"])
        for p in self.window.slice_panels:  # the overlay shares the label map's voxels: just redraw
            refresh_labelmap_overlay(p.view)
        self.window.request_render()

    def _end_stroke(self) -> None:
        stroke, self._stroke = self._stroke, None
        self.stack.end_merge()
        if stroke is not None and stroke["changed"]:
            stroke["node"].changed.emit("data")  # one model event per stroke: the case is modified, views refresh


def _panel_renderer(panel):
    view = getattr(panel, "view", None) or getattr(panel, "scene", None)
    return view.renderer




def _form_page() -> tuple[QWidget, QFormLayout]:
    """An options page: a widget with a margin-less form layout."""
    page = QWidget()
    form = QFormLayout(page)
    form.setContentsMargins(0, 0, 0, 0)
    return page, form


def _primary_button(text: str) -> QPushButton:
    """The page's main action, styled as such."""
    button = QPushButton(text)
    button.setObjectName("Primary")
    return button


def _choices(items) -> QComboBox:
    """A combo box of ``(label, data)`` pairs."""
    combo = QComboBox()
    for text, data in items:
        combo.addItem(text, data)
    return combo


def install_segment_editor(window) -> SegmentEditor:
    """Add the Segment Editor dock, Edit menu and slice-view mouse tools to ``window`` (a MainWindow)."""
    from app.ui.ai_tool import install_ai_tool

    return install_once(window, "segment_editor", SegmentEditor, then=install_ai_tool)
