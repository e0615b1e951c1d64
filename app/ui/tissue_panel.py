"""The "Soft tissue" dock: pick an organ, simulate it, grab and drag it with the mouse in the 3-D view, cut it.

:func:`install_tissue_panel` adds it to a :class:`~app.ui.main_window.MainWindow` like the other tools (a dock on the
right, an event filter on the 3-D view's render widget; the window's code is not changed).

* **Simulate** tet-meshes the chosen organ (a segment of the case's segmentations, or a surface model) in the
  window's task runner, with progress and Cancel, and builds a :class:`~simulation.tissue.TissueSimulation`; the
  fine segmentation surface is embedded in the coarse tetrahedra and drawn in place of the organ's static model.
* **Grab**: a left drag that starts on the organ grasps the nearest tissue and pulls it along the plane through the
  grasp point facing the camera; releasing lets go, unless *Hold* keeps the retraction.  A drag that starts beside
  the organ rotates the camera as usual.
* **Cut**: a left drag draws a line; on release the organ is cut along the plane that contains the line and the
  viewing direction, and the remnant and resected volumes are reported in the panel.

The simulation steps on the GUI thread from a ~60 Hz timer, one step of ``dt = 1/60`` s per frame, and sleeps while
the tissue is at rest.  Measured on the phantom liver (3,251 tetrahedra, 6,068 display triangles; 2-core VM, Xvfb
with software OpenGL): 6.5 ms per step; a whole frame (step, surfaces moved, 3-D view redrawn) 24 ms in the 2x2
layout and 45-50 ms with the 3-D view maximised, the rendering taking the rest (``frame_stats``).
"""

from __future__ import annotations

import contextlib
import html
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.case import Case, MeshNode, SegmentationNode, switch_node_handlers
from app.ui.installing import install_once
from imaging.mesh import SurfaceMesh
from rendering.lasso import LassoOverlay
from rendering.tissue_actor import TissueActors, blade_through_stroke, cut_plane_through_line, drag_target
from simulation.tissue import (
    PRESETS,
    CutReport,
    TissueInputError,
    TissueSimulation,
    carry_over,
    carry_over_split,
    torn_faces,
)

__all__ = [
    "FIXED_CHOICES",
    "OrganSource",
    "TissuePanel",
    "TissueTool",
    "cut_caps",
    "install_tissue_panel",
    "prepare_simulation",
    "spine_side_mask",
    "split_surface",
]

log = logging.getLogger(__name__)

FRAME_MS = 16  # ~60 Hz timer; one solver step of 1/60 s per frame
SUPINE_GRAVITY = (0.0, 9.81, 0.0)  # LPS: a supine patient's weight pulls posterior (+y)
REST_SPEED_MM_S = 0.05  # below this (every node) for REST_FRAMES frames the simulation sleeps
REST_FRAMES = 20
MIN_CUT_PIXELS = 6.0
STROKE_STEP_PIXELS = 4.0  # scalpel stroke samples: dense enough to follow a curve, few enough to cut fast
GRASP_NODES = 6
# key, label; the axis selections use the CLI's grammar (simulation.tissue.selection) with the chosen share
FIXED_CHOICES: list[tuple[str, str]] = [
    ("spine", "Side toward the spine"),
    ("y>", "Posterior side"),
    ("y<", "Anterior side"),
    ("x<", "Right side"),
    ("x>", "Left side"),
    ("z>", "Superior side"),
    ("z<", "Inferior side"),
    ("free", "Nothing (floats freely)"),
    ("custom", "Custom selection"),
]


# --- worker side (no Qt, no VTK) ------------------------------------------------------------------------------------
@dataclass
class OrganSource:
    """What to simulate: a label of a label map, or a closed surface, plus where the spine is (for attachments).

    Attributes
    ----------
    name : str
        Shown in messages.
    labels, label_value, geometry :
        Label map array ``(z, y, x)``, the organ's value and the grid (segment organs).
    surface : SurfaceMesh, optional
        Closed surface (model organs).
    spine_lps : numpy.ndarray, optional
        A point on the spine, for the "side toward the spine" attachment; or
    spine_labels : (array, value, geometry), optional
        a bone segment whose centroid is taken for it (computed in the worker).
    """

    name: str
    labels: npt.NDArray[np.integer] | None = None
    label_value: int = 0
    geometry: Any = None
    surface: SurfaceMesh | None = None
    spine_lps: npt.NDArray[np.float64] | None = None
    spine_labels: tuple[npt.NDArray[np.integer], int, Any] | None = None

    def spine_point(self) -> npt.NDArray[np.float64] | None:
        """:attr:`spine_lps`, or the centroid of :attr:`spine_labels` (LPS mm), or None."""
        if self.spine_lps is not None or self.spine_labels is None:
            return self.spine_lps
        from scipy import ndimage

        labels, value, geometry = self.spine_labels
        mask = np.asarray(labels) == value
        if not mask.any():
            return None
        k, j, i = ndimage.center_of_mass(mask)
        return np.asarray(geometry.index_to_point(np.array([i, j, k])), np.float64)


@dataclass
class _Prepared:
    """A finished Simulate task (the window's runner passes through results that are not cases)."""

    token: int
    sim: TissueSimulation | None = None
    error: str = ""
    info: dict[str, Any] = field(default_factory=dict)


def spine_side_mask(points: npt.NDArray[np.float64], spine_lps: npt.ArrayLike | None,
                    fraction: float) -> npt.NDArray[np.bool_]:
    """Nodes in the ``fraction`` of the organ's extent nearest the spine (posterior when no spine is known).

    For the liver this is its posteromedial side, the bare area where the vena cava and the coronary ligament hold it.
    """
    pts = np.asarray(points, np.float64)
    centre = pts.mean(axis=0)
    direction = np.array([0.0, 1.0, 0.0]) if spine_lps is None else np.asarray(spine_lps, np.float64) - centre
    direction[2] = 0.0  # the spine runs head to foot: its nearest side is the one facing it in the axial plane
    norm = float(np.linalg.norm(direction))
    direction = direction / norm if norm > 0 else np.array([0.0, 1.0, 0.0])
    proj = pts @ direction
    return proj >= proj.max() - fraction * (proj.max() - proj.min())


def fixed_mask(choice: str, points: npt.NDArray[np.float64], *, fraction: float, custom: str = "",
               spine_lps: npt.ArrayLike | None = None) -> npt.NDArray[np.bool_]:
    """The attached nodes for a :data:`FIXED_CHOICES` key (``custom`` is a selection in the CLI grammar)."""
    from simulation.tissue import select_nodes

    if choice == "free":
        return np.zeros(len(points), bool)
    if choice == "spine":
        return spine_side_mask(points, spine_lps, fraction)
    if choice == "custom":
        if not custom.strip():
            raise TissueInputError("type a custom selection, e.g. z<10% or sphere:X,Y,Z,R")
        return select_nodes(custom, points)
    percent = 100.0 * fraction if choice[1] == "<" else 100.0 * (1.0 - fraction)
    return select_nodes(f"{choice}{percent:g}%", points)


def prepare_simulation(source: OrganSource, material_name: str, *, target_tets: int, fixed_choice: str,
                       fixed_fraction: float, custom: str = "", gravity: tuple[float, float, float] = (0, 0, 0),
                       progress=None, cancel=None) -> tuple[TissueSimulation, dict[str, Any]]:
    """Mesh the organ and build its simulation (runs in a worker thread).

    Raises
    ------
    TissueInputError
        Empty organ, open surface, meshing failure, bad selection.
    """
    from simulation.tissue import material, meshing, quality_report

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)
        if cancel is not None and cancel.is_set():
            raise InterruptedError("cancelled")

    started = time.perf_counter()
    report(0.05, f"Meshing {source.name}")
    if source.surface is not None:
        coarse = source.surface.n_faces > target_tets // 4
        mesh = meshing.tetrahedralize(source.surface, target_tets=target_tets, coarse=coarse)
        display = source.surface
    else:
        assert source.labels is not None
        mesh, display = meshing.mesh_label(source.labels, source.geometry, source.label_value,
                                           target_tets=target_tets)
    meshed = time.perf_counter()
    report(0.7, "Attaching and preparing the solver")
    spine = source.spine_point() if fixed_choice == "spine" else None
    fixed = fixed_mask(fixed_choice, mesh.points, fraction=fixed_fraction, custom=custom, spine_lps=spine)
    if fixed.all():
        raise TissueInputError("the attachment covers the whole organ: nothing could move")
    sim = TissueSimulation(mesh, material(material_name), fixed=fixed, display=display, gravity=gravity)
    report(1.0, f"{source.name}: {mesh.n_tets:,} tetrahedra")
    info = {"name": source.name, "n_tets": mesh.n_tets, "n_nodes": mesh.n_points, "fixed_nodes": int(fixed.sum()),
            "display_faces": display.n_faces, "meshing_s": meshed - started,
            "setup_s": time.perf_counter() - meshed, "quality": quality_report(mesh).as_dict(),
            "volume_ml": mesh.volume() / 1000.0}
    return sim, info


def split_surface(rest: npt.NDArray[np.float64], deformed: npt.NDArray[np.float64], faces: npt.NDArray[np.int64],
                  point: npt.ArrayLike, normal: npt.ArrayLike, eps_mm: float = 1e-3,
                  ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int8],
                             npt.NDArray[np.float64]]:
    """Split a display surface along a cut plane given in its deformed shape, opening it there.

    Triangles the plane crosses are split at the plane (a triangle and a quadrilateral, two triangles, winding
    kept); each new vertex is made twice, one per side, so the two sides come apart.  New vertices are placed in the
    rest shape at the same edge fraction as in the deformed one.

    Returns
    -------
    (rest points, faces, side, deformed points)
        ``side`` is +1 for vertices on the side ``normal`` points to, -1 on the other; the new vertices (after the
        given ones) lie on the plane in the deformed points.
    """
    rest = np.asarray(rest, np.float64)
    dist = (np.asarray(deformed, np.float64) - np.asarray(point, np.float64)) @ np.asarray(normal, np.float64)
    dist[np.abs(dist) < eps_mm] = eps_mm  # as the tetrahedral cut does: no zero-length edge pieces
    positive = dist > 0
    on_side = positive[faces]
    count = on_side.sum(axis=1)
    crossed = (count == 1) | (count == 2)
    tri = faces[crossed]
    lonely = np.where(count[crossed] == 1, np.argmax(on_side[crossed], axis=1), np.argmin(on_side[crossed], axis=1))
    tri = np.take_along_axis(tri, (lonely[:, None] + np.arange(3)) % 3, axis=1)  # cyclic: the winding is kept
    a, b, c = tri.T
    m = len(tri)
    edges, inverse = np.unique(np.sort(np.concatenate([np.stack([a, b], 1), np.stack([a, c], 1)]), axis=1),
                               axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    u, v = edges.T
    t = (dist[u] / (dist[u] - dist[v]))[:, None]
    new = rest[u] + t * (rest[v] - rest[u])
    shape = np.asarray(deformed, np.float64)
    new_deformed = shape[u] + t * (shape[v] - shape[u])
    n, k = len(rest), len(edges)
    points = np.concatenate([rest, new, new])
    side = np.concatenate([np.where(positive, 1, -1), np.ones(k), -np.ones(k)]).astype(np.int8)
    lonely_positive = positive[a]
    own = np.where(lonely_positive, n, n + k)  # the copies on the lonely vertex's side, and on the other
    other = np.where(lonely_positive, n + k, n)
    ab, ac = inverse[:m], inverse[m:]
    faces_out = np.concatenate([faces[~crossed], np.stack([a, ab + own, ac + own], 1),
                                np.stack([ab + other, b, c], 1), np.stack([ab + other, c, ac + other], 1)])
    return points, faces_out.astype(np.int64), side, np.concatenate([shape, new_deformed, new_deformed])


def cut_caps(points: npt.NDArray[np.float64], faces: npt.NDArray[np.int64], side: npt.NDArray[np.int8],
             first_new: int, normal: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Triangles closing each side of a :func:`split_surface` cut, on the vertices the split made (``>= first_new``),
    wound to face out of their side (``-normal`` for the positive side)."""
    from rendering.tissue_actor import triangulate_loops

    edges = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    _, inverse, counts = np.unique(np.sort(edges, axis=1), axis=0, return_inverse=True, return_counts=True)
    boundary = edges[counts[inverse.reshape(-1)] == 1]
    boundary = boundary[(boundary >= first_new).all(axis=1)]
    caps = []
    for s in (1, -1):
        tri = triangulate_loops(points, boundary[side[boundary[:, 0]] == s])
        if len(tri):
            a, b, c = (points[tri[:, i]] for i in range(3))
            flip = np.cross(b - a, c - a) @ (-s * np.asarray(normal, np.float64)) < 0
            tri[flip] = tri[flip][:, [0, 2, 1]]
            caps.append(tri)
    return np.concatenate(caps) if caps else np.zeros((0, 3), np.int64)


# --- the widgets ----------------------------------------------------------------------------------------------------
def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "section")
    return label


def _hint(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "hint")
    label.setWordWrap(True)
    return label


class TissuePanel(QWidget):
    """The widgets of the Soft tissue dock; :class:`TissueTool` wires them to the case and the 3-D view."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("TissuePanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.setSpacing(4)

        layout.addWidget(_section("Organ"))
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        self.organ_combo = QComboBox()
        self.organ_combo.setToolTip("A segment of the case's segmentations, or a surface model")
        form.addRow("Organ:", self.organ_combo)
        self.material_combo = QComboBox()
        for key, mat in PRESETS.items():
            self.material_combo.addItem(f"{key.replace('_', ' ').capitalize()}  (E {mat.young_pa / 1000:g} kPa, "
                                        f"ν {mat.poisson:g})", key)
        self.material_combo.setToolTip("Tissue parameters from the literature (simulation/tissue/materials.py)")
        form.addRow("Material:", self.material_combo)
        fixed_row = QHBoxLayout()
        self.fixed_combo = QComboBox()
        for key, label in FIXED_CHOICES:
            self.fixed_combo.addItem(label, key)
        self.fixed_combo.setToolTip("Where the organ is attached (ligaments, vessels, neighbouring organs)")
        self.fixed_share = QSpinBox()
        self.fixed_share.setRange(2, 60)
        self.fixed_share.setValue(15)
        self.fixed_share.setSuffix(" %")
        self.fixed_share.setToolTip("How deep the attached region reaches, as a share of the organ's extent")
        fixed_row.addWidget(self.fixed_combo, 1)
        fixed_row.addWidget(self.fixed_share)
        form.addRow("Attached:", fixed_row)
        self.custom_edit = QLineEdit()
        self.custom_edit.setPlaceholderText("z<10%  x>120  box:X0,Y0,Z0,X1,Y1,Z1  sphere:X,Y,Z,R")
        self.custom_edit.setToolTip("Attached nodes, LPS mm (as `surgitwin tissue --fix`)")
        self.custom_edit.setEnabled(False)
        form.addRow("Selection:", self.custom_edit)
        self.tets_spin = QSpinBox()
        self.tets_spin.setRange(500, 20000)
        self.tets_spin.setSingleStep(500)
        self.tets_spin.setValue(3000)
        self.tets_spin.setToolTip("Tetrahedra of the simulation mesh (the display keeps the fine surface); "
                                  "a few thousand stay real time")
        form.addRow("Elements:", self.tets_spin)
        self.gravity_check = QCheckBox("Gravity (patient supine)")
        self.gravity_check.setToolTip("Weight pulls posterior; nothing but the attachment holds the organ (no "
                                      "neighbouring organs), so a soft organ hangs far from it")
        form.addRow("", self.gravity_check)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        self.simulate_button = QPushButton("Simulate")
        self.simulate_button.setObjectName("Primary")
        self.simulate_button.setToolTip("Build the tissue model of the organ and start the simulation")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End the simulation and show the organ's model again")
        buttons.addWidget(self.simulate_button, 1)
        buttons.addWidget(self.stop_button)
        layout.addLayout(buttons)

        layout.addWidget(_section("Interact in the 3D view"))
        modes = QHBoxLayout()
        self.mode_group = QButtonGroup(self)
        self.mode_group.setExclusive(True)
        self.mode_buttons: dict[str, QToolButton] = {}
        for key, label, tip in (("navigate", "Navigate", "Left drag rotates the camera"),
                                ("grab", "Grab", "Left drag on the organ grasps and pulls the tissue"),
                                ("scalpel", "Scalpel", "Left drag draws an incision: the blade goes straight into the "
                                 "view under the stroke and cuts only where you drew"),
                                ("cut", "Cut", "Left drag a line: the organ is cut along the whole plane through it, "
                                 "into the view")):
            button = QToolButton()
            button.setText(label)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setSizePolicy(button.sizePolicy().Policy.Expanding, button.sizePolicy().Policy.Fixed)
            self.mode_group.addButton(button)
            self.mode_buttons[key] = button
            modes.addWidget(button)
        self.mode_buttons["grab"].setChecked(True)
        layout.addLayout(modes)
        hold = QHBoxLayout()
        self.hold_check = QCheckBox("Hold (retract)")
        self.hold_check.setToolTip("Keep the grasp when the mouse button is released")
        self.release_button = QPushButton("Let go")
        self.release_button.setToolTip("Release a held grasp")
        hold.addWidget(self.hold_check, 1)
        hold.addWidget(self.release_button)
        layout.addLayout(hold)

        self.report = QLabel("No simulation.")
        self.report.setObjectName("Report")
        self.report.setWordWrap(True)
        self.report.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.report)
        self.status = _hint()
        layout.addWidget(self.status)
        self.stats = _hint()
        layout.addWidget(self.stats)
        layout.addStretch(1)


# --- the controller -------------------------------------------------------------------------------------------------
class TissueTool(QObject):
    """Wires a :class:`TissuePanel` to a main window: its case, its 3-D view, its task runner.

    Attributes
    ----------
    sim : TissueSimulation or None
        The running simulation.
    actors : TissueActors or None
        Its surfaces in the 3-D view.
    last_cut : CutReport or None
        The latest cut.
    """

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.panel = TissuePanel()
        self.dock = QDockWidget("Soft tissue", window)
        self.dock.setObjectName("SoftTissueDock")
        self.dock.setWidget(self.panel)
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                              | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                              | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.dock.setMinimumWidth(300)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        editor = getattr(window, "segment_editor", None)
        if editor is not None and getattr(editor, "dock", None) is not None:
            window.tabifyDockWidget(editor.dock, self.dock)
            editor.dock.raise_()
        with contextlib.suppress(AttributeError):
            window.view_menu.addAction(self.dock.toggleViewAction())

        self.case: Case | None = None
        self.sim: TissueSimulation | None = None
        self.actors: TissueActors | None = None
        self.info: dict[str, Any] = {}
        self.last_cut: CutReport | None = None
        self._pending_look: tuple | None = None
        self._hidden_models: list[str] = []
        self._display_faces = np.zeros((0, 3), np.int64)
        self._display_rest = np.zeros((0, 3))
        self._embedding: Any = None
        self._cap_faces = np.zeros((0, 3), np.int64)
        self._cut_nodes = np.zeros(0, np.int64)
        self._grasp: dict[str, Any] | None = None
        self._cut_line: dict[str, Any] | None = None
        self._stroke: list[tuple[float, float]] | None = None
        self._rest_frames = 0
        self._tokens = itertools.count(1)
        self._pending: int | None = None
        self.step_ms: deque[float] = deque(maxlen=600)
        self.frame_ms: deque[float] = deque(maxlen=600)
        self._widget = window.three_d.vtk_widget
        self._renderer = window.three_d.scene.renderer
        self._widget.installEventFilter(self)
        self.cut_overlay = LassoOverlay(self._renderer, colour=(1.0, 0.35, 0.25))
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self.advance)

        p = self.panel
        p.simulate_button.clicked.connect(self.simulate)
        p.stop_button.clicked.connect(self.stop)
        p.release_button.clicked.connect(self.release)
        p.organ_combo.currentIndexChanged.connect(self._on_organ_chosen)
        p.fixed_combo.currentIndexChanged.connect(
            lambda _i: p.custom_edit.setEnabled(p.fixed_combo.currentData() == "custom"))
        p.gravity_check.toggled.connect(self._on_gravity)
        p.mode_group.buttonToggled.connect(lambda _b, _on: self._on_mode())
        window.tasks.finished.connect(self._on_task_finished)
        window.tasks.failed.connect(self._on_task_failed)
        window.tasks.cancelled.connect(self._on_task_cancelled)
        window.case_changed.connect(self.set_case)
        self.set_case(window.case)
        self._update_buttons()

    # --- state ----------------------------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """``navigate``, ``grab`` or ``cut``."""
        return next((k for k, b in self.panel.mode_buttons.items() if b.isChecked()), "navigate")

    def set_mode(self, mode: str) -> None:
        """Choose what a left drag in the 3-D view does."""
        self.panel.mode_buttons[mode].setChecked(True)

    @property
    def busy(self) -> bool:
        """True while an organ is being meshed."""
        return self._pending is not None

    def _say(self, text: str) -> None:
        self.panel.status.setText(text)
        self.window.status_label.setText(text)

    def _update_buttons(self) -> None:
        running = self.sim is not None
        self.panel.stop_button.setEnabled(running)
        self.panel.release_button.setEnabled(running)
        self.panel.simulate_button.setEnabled(not self.busy)

    # --- the case and the organ list -------------------------------------------------------------------------------
    def set_case(self, case: Case) -> None:
        """Follow ``case`` (a new case ends the simulation)."""
        switch_node_handlers(self.case, case, added=self._on_case_event, removed=self._on_case_event,
                             changed=self._on_node_changed)
        self.stop()
        self.case = case
        self.refresh_organs()

    def _on_case_event(self, _node) -> None:
        self.refresh_organs()

    def _on_node_changed(self, node, what: str) -> None:
        if what in ("data", "name") and isinstance(node, SegmentationNode | MeshNode):
            self.refresh_organs()

    def organs(self) -> list[tuple[str, tuple]]:
        """``(label, key)`` of every organ the case offers: ``("segment", node id, label value)`` or
        ``("mesh", node id)`` for models not made from a segment."""
        if self.case is None:
            return []
        items: list[tuple[str, tuple]] = []
        many = len(self.case.segmentations) > 1
        for node in self.case.segmentations:
            for segment in node.segments:
                label = f"{segment.name} ({node.name})" if many else segment.name
                items.append((label, ("segment", node.id, segment.label_value)))
        for mesh in self.case.meshes:
            if mesh.segmentation_id is None:
                items.append((f"{mesh.name} (model)", ("mesh", mesh.id)))
        return items

    def refresh_organs(self) -> None:
        """Refill the organ list, keeping the choice."""
        combo = self.panel.organ_combo
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        for label, key in self.organs():
            combo.addItem(label, key)
        index = combo.findData(current) if current is not None else -1
        if index < 0:  # prefer an organ the presets know over bone and vessels
            names = [combo.itemText(i).lower() for i in range(combo.count())]
            index = next((i for i, n in enumerate(names) if self._preset_for(n)), 0 if names else -1)
        combo.setCurrentIndex(index)
        combo.blockSignals(False)
        if combo.currentData() != current:  # a new choice: suggest its material (keep the user's otherwise)
            self._on_organ_chosen(index)

    @staticmethod
    def _preset_for(name: str) -> str | None:
        name = name.lower()
        for key in PRESETS:
            if key.split("_")[0] in name:
                return key
        return None

    def select_organ(self, name: str) -> None:
        """Choose the organ whose label starts with ``name``."""
        combo = self.panel.organ_combo
        for i in range(combo.count()):
            if combo.itemText(i).lower().startswith(name.lower()):
                combo.setCurrentIndex(i)
                return
        raise KeyError(f"no organ called {name!r}")

    def _on_organ_chosen(self, index: int) -> None:
        if index < 0:
            return
        preset = self._preset_for(self.panel.organ_combo.itemText(index))
        if preset is not None:
            self.panel.material_combo.setCurrentIndex(self.panel.material_combo.findData(preset))

    def _organ_source(self) -> tuple[OrganSource, tuple[float, float, float], list[str]] | str:
        """The chosen organ as a worker input, its colour and the models it replaces; or a message why not."""
        key = self.panel.organ_combo.currentData()
        if key is None or self.case is None:
            return "No organ to simulate: segment one first (Segment Editor) or open a surface model."
        spine = self._spine_segment()
        if key[0] == "segment":
            node = next((s for s in self.case.segmentations if s.id == key[1]), None)
            if node is None:
                return "That segmentation is no longer in the case."
            segment = node.segment(key[2])
            labels = node.labelmap.array
            if not np.any(labels == segment.label_value):
                return f"“{segment.name}” is empty: paint or threshold it first."
            models = [m.id for m in self.case.meshes if m.segmentation_id == node.id and m.label_value == key[2]]
            source = OrganSource(segment.name, labels.copy(), segment.label_value, node.labelmap.geometry,
                                 spine_labels=spine)
            return source, tuple(segment.color), models
        mesh = next((m for m in self.case.meshes if m.id == key[1]), None)
        if mesh is None:
            return "That model is no longer in the case."
        if mesh.mesh.n_faces == 0:
            return f"“{mesh.name}” has no triangles."
        return OrganSource(mesh.name, surface=mesh.mesh, spine_labels=spine), tuple(mesh.color), [mesh.id]

    def _spine_segment(self) -> tuple[np.ndarray, int, Any] | None:
        """The first bone/spine segment as ``(label array, value, geometry)`` (its centroid is found in the worker)."""
        assert self.case is not None
        for node in self.case.segmentations:
            for segment in node.segments:
                if any(w in segment.name.lower() for w in ("spine", "vertebra", "bone", "skeleton")):
                    return node.labelmap.array, segment.label_value, node.labelmap.geometry
        return None

    # --- simulate ---------------------------------------------------------------------------------------------------
    def simulate(self) -> None:
        """Mesh the chosen organ in the background and start simulating it."""
        if self.busy:
            return
        source = self._organ_source()
        if isinstance(source, str):
            self._say(source)
            return
        organ, colour, models = source
        p = self.panel
        if p.fixed_combo.currentData() == "custom" and not p.custom_edit.text().strip():
            self._say("Type the custom selection of attached nodes, e.g. z<10% or sphere:X,Y,Z,R.")
            return
        material_name = p.material_combo.currentData()
        options = {"target_tets": p.tets_spin.value(), "fixed_choice": p.fixed_combo.currentData(),
                   "fixed_fraction": p.fixed_share.value() / 100.0, "custom": p.custom_edit.text(),
                   "gravity": SUPINE_GRAVITY if p.gravity_check.isChecked() else (0.0, 0.0, 0.0)}
        token = next(self._tokens)
        self._pending_look = (colour, models)

        def work(progress, cancel) -> _Prepared:
            try:
                sim, info = prepare_simulation(organ, material_name, progress=progress, cancel=cancel, **options)
            except InterruptedError:
                raise
            except Exception as exc:  # reported in the panel, never as a traceback (the case stays as it was)
                if not isinstance(exc, ValueError):
                    log.exception("tissue model failed")
                return _Prepared(token, error=f"Could not build the tissue model of “{organ.name}”: {exc}")
            return _Prepared(token, sim, info=info)

        self._say(f"Meshing {organ.name}…")
        self.window.tasks.start(work, f"Building the tissue model of {organ.name}")
        self._pending = token  # after start(): starting cancels the previous task, whose signal must not clear it
        self._update_buttons()

    def _on_task_finished(self, result: object) -> None:
        if not isinstance(result, _Prepared) or result.token != self._pending:
            return
        self._pending = None
        self._update_buttons()
        if result.sim is None:
            self._say(result.error)
            return
        colour, models = self._pending_look or ((0.75, 0.35, 0.3), [])
        self.start(result.sim, colour, models, result.info)

    def _on_task_failed(self, _message: str) -> None:
        if self._pending is not None:
            self._pending = None
            self._update_buttons()

    def _on_task_cancelled(self) -> None:
        if self._pending is not None:
            self._pending = None
            self._update_buttons()
            self._say("Cancelled; nothing changed.")

    def start(self, sim: TissueSimulation, colour: tuple[float, float, float], hidden_models: list[str],
              info: dict[str, Any] | None = None) -> None:
        """Show ``sim`` in the 3-D view (in place of ``hidden_models``) and start stepping it."""
        self.stop()
        self.sim = sim
        self.info = dict(info or {})
        self.last_cut = None
        scene = self.window.three_d.scene
        self._hidden_models = [k for k in hidden_models if k in scene and scene.actor(k).GetVisibility()]
        for key in self._hidden_models:
            scene.set_display(key, visible=False)
        edge = sim.mesh.mean_edge_length()
        self.info["grasp_radius_mm"] = 0.6 * edge
        self.actors = TissueActors(self._renderer, colour, instrument_radius_mm=max(1.5, 0.3 * edge))
        from simulation.tissue import embed_points

        if sim.display is not None and sim.display_embedding is not None:
            # the simulation's own embedding: after incisions (e.g. made in VR) each vertex keeps its side, and the
            # triangles the blade tore stay out
            self._display_rest, self._embedding = sim.display.points, sim.display_embedding
            self._display_faces = sim.display_surface().faces
        else:
            surface = sim.surface()
            self._display_rest, self._display_faces = surface.points, surface.faces
            self._embedding = embed_points(sim.mesh, surface.points)
        self.actors.organ.set_surface(self._embedding.apply(sim.positions_mm), self._display_faces)
        self._cut_nodes = np.zeros(0, np.int64)
        self._cap_faces = np.zeros((0, 3), np.int64)
        self._plane_cut_faces: np.ndarray | None = None
        if len(sim.incision_faces()):
            self._refresh_cut_actor()
        self.step_ms.clear()
        self.frame_ms.clear()
        self._rest_frames = 0
        self._update_buttons()
        self._report()
        fixed = self.info.get("fixed_nodes", int(sim.solver.fixed.sum()))
        self._say(f"Simulating {self.info.get('name', 'the organ')}: {sim.mesh.n_tets:,} tetrahedra, {fixed} attached "
                  "nodes. Grab: left drag on the organ; Cut: draw a line.")
        self._update_cursor()
        self.frame_organ()
        self.timer.start()
        self.window.three_d.render()

    def frame_organ(self) -> None:
        """Point the 3-D camera at the simulated organ (same viewing direction), filling most of the view."""
        if self.actors is None:
            return
        bounds = np.asarray(self.actors.organ.actor.GetBounds(), np.float64)
        self._renderer.ResetCamera(*bounds)
        self._renderer.GetActiveCamera().Zoom(1.05)  # room to pull the tissue out of its rest outline
        self._renderer.ResetCameraClippingRange()

    def stop(self) -> None:
        """End the simulation: remove its actors and show the organ's model again."""
        self.timer.stop()
        self._grasp = None
        self._cut_line = None
        self._stroke = None
        self.cut_overlay.clear()
        if self.actors is not None:
            self.actors.remove()
            self.actors = None
        scene = self.window.three_d.scene
        for key in self._hidden_models:
            if key in scene:
                scene.set_display(key, visible=True)
        self._hidden_models = []
        had = self.sim is not None
        self.sim = None
        self._update_buttons()
        self._update_cursor()
        if had:
            self.panel.report.setText("No simulation.")
            self.window.request_render()

    # --- stepping ---------------------------------------------------------------------------------------------------
    def _wake(self) -> None:
        self._rest_frames = 0

    def _on_gravity(self, on: bool) -> None:
        if self.sim is not None:
            self.sim.solver.gravity = np.asarray(SUPINE_GRAVITY if on else (0.0, 0.0, 0.0), np.float64)
            self._wake()

    def advance(self) -> None:
        """One frame: a solver step, the surfaces moved in place, the 3-D view redrawn (skipped while at rest)."""
        sim = self.sim
        if sim is None or self.actors is None or self._rest_frames >= REST_FRAMES or not self.window.isVisible():
            return
        t0 = time.perf_counter()
        try:
            sim.step()
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            self.stop()
            self._say(f"The simulation stopped: {exc}")
            return
        t1 = time.perf_counter()
        self._show_state()
        self.window.three_d.render()
        t2 = time.perf_counter()
        self.step_ms.append(1000.0 * (t1 - t0))
        self.frame_ms.append(1000.0 * (t2 - t0))
        speed = float(np.abs(sim.solver.velocities_mm_s).max()) if sim.mesh.n_points else 0.0
        moving = self._grasp is not None and self._grasp.get("dragging", False)
        self._rest_frames = 0 if (speed > REST_SPEED_MM_S or moving) else self._rest_frames + 1
        if len(self.frame_ms) % 30 == 0:
            stats = self.frame_stats()
            self.panel.stats.setText(f"Step {stats['step_ms']:.1f} ms, frame {stats['frame_ms']:.1f} ms "
                                     f"({sim.mesh.n_tets:,} tetrahedra)")

    def frame_stats(self) -> dict[str, float]:
        """Median solver step and whole frame (step + surface update + render) times in ms, and frames counted."""
        if not self.frame_ms:
            return {"step_ms": float("nan"), "frame_ms": float("nan"), "frames": 0}
        return {"step_ms": float(np.median(self.step_ms)), "frame_ms": float(np.median(self.frame_ms)),
                "frames": len(self.frame_ms)}

    def _show_state(self) -> None:
        sim, actors = self.sim, self.actors
        assert sim is not None
        assert actors is not None
        shown = self._embedding.apply(sim.positions_mm)
        actors.organ.update_points(shown)
        if len(self._cut_nodes) or len(self._cap_faces):
            actors.cut.update_points(np.concatenate([shown, sim.positions_mm[self._cut_nodes]]))
        if self._grasp is not None:
            grasp_point = sim.positions_mm[self._grasp["nodes"]].mean(axis=0)
            actors.instrument.show(self._grasp["target"], grasp_point)
        else:
            actors.instrument.hide()

    # --- mouse ------------------------------------------------------------------------------------------------------
    def _display_xy(self, event: QMouseEvent) -> tuple[float, float]:
        pos = event.position()
        ratio = self._widget.devicePixelRatioF()
        return pos.x() * ratio, (self._widget.height() - pos.y() - 1) * ratio

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Left drags in the 3-D view grab or cut while a simulation runs (other buttons keep the camera)."""
        if obj is not self._widget or self.sim is None or self.mode == "navigate":
            return False
        kind = event.type()
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease,
                        QEvent.Type.MouseButtonDblClick):
            return False
        assert isinstance(event, QMouseEvent)
        xy = self._display_xy(event)
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
            if event.button() != Qt.MouseButton.LeftButton:
                return False
            if self.mode == "cut":
                self._cut_line = {"start": xy, "end": xy}
                return True
            if self.mode == "scalpel":
                self._stroke = [xy]
                return True
            return self.begin_grasp(xy)
        if kind == QEvent.Type.MouseMove:
            if self._stroke is not None:
                if np.hypot(xy[0] - self._stroke[-1][0], xy[1] - self._stroke[-1][1]) >= STROKE_STEP_PIXELS:
                    self._stroke.append(xy)
                    self.cut_overlay.set_points(self._stroke, closed=False)
                    self.window.three_d.render()
                return True
            if self._cut_line is not None:
                self._cut_line["end"] = xy
                self.cut_overlay.set_points([self._cut_line["start"], xy])
                self.window.three_d.render()
                return True
            if self._grasp is not None and self._grasp.get("dragging"):
                self.drag_to(xy)
                return True
            return False
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        if self._cut_line is not None:
            line, self._cut_line = self._cut_line, None
            self.cut_overlay.clear()
            self.cut_along(line["start"], xy)
            return True
        if self._stroke is not None:
            stroke, self._stroke = [*self._stroke, xy], None
            self.cut_overlay.clear()
            self.incise(stroke)
            return True
        if self._grasp is not None and self._grasp.get("dragging"):
            self.end_drag()
            return True
        return False

    def begin_grasp(self, xy: tuple[float, float]) -> bool:
        """Grasp the tissue under display pixel ``xy``; False (the camera takes the drag) when it misses the organ."""
        assert self.sim is not None
        assert self.actors is not None
        point = self.actors.pick(*xy)
        if point is None:
            return False
        try:
            nodes = self.sim.grab(point, radius_mm=self._grasp_radius(point))
        except TissueInputError as exc:
            self._say(f"{exc}: grasp the free part of the organ.")
            return True
        self._grasp = {"nodes": nodes, "point": point, "target": point.copy(), "dragging": True}
        self._wake()
        self._show_state()
        self.window.three_d.render()
        self._say(f"Grasped {len(nodes)} nodes at ({point[0]:.0f}, {point[1]:.0f}, {point[2]:.0f}) mm; drag to pull.")
        return True

    def _grasp_radius(self, point: np.ndarray) -> float:
        """Jaws about one element wide, holding at least :data:`GRASP_NODES` nodes (one node alone pulls a spike)."""
        assert self.sim is not None
        pos = self.sim.positions_mm
        free = ~self.sim.solver.fixed
        nearest = pos[free][np.argmin(np.linalg.norm(pos[free] - point, axis=1))]
        d = np.sort(np.linalg.norm(pos[free] - nearest, axis=1))
        return float(max(self.info["grasp_radius_mm"], d[min(GRASP_NODES, len(d)) - 1] * 1.001))

    def drag_to(self, xy: tuple[float, float]) -> None:
        """Move the instrument under display pixel ``xy`` (on the plane through the grasp point facing the camera)."""
        assert self.sim is not None
        assert self._grasp is not None
        target = drag_target(self._renderer, *xy, self._grasp["point"])
        self._grasp["target"] = target
        self.sim.drag(target)
        self._wake()
        pulled = float(np.linalg.norm(target - self._grasp["point"]))
        force = float(np.linalg.norm(self.sim.instrument_force_n()))
        self.window.status_label.setText(f"Pulling {pulled:.1f} mm, force {force:.2f} N")

    def end_drag(self) -> None:
        """Mouse released: let go, or keep the retraction when *Hold* is ticked."""
        assert self._grasp is not None
        self._grasp["dragging"] = False
        if self.panel.hold_check.isChecked():
            self._say("Holding the retraction; “Let go” releases it.")
        else:
            self.release()

    def release(self) -> None:
        """Let go of the tissue."""
        if self.sim is not None and self._grasp is not None:
            self.sim.release()
            self._say("Released.")
        self._grasp = None
        self._wake()
        if self.actors is not None:
            self.actors.instrument.hide()
            self.window.three_d.render()

    # --- cutting ----------------------------------------------------------------------------------------------------
    def cut_along(self, start_xy: tuple[float, float], end_xy: tuple[float, float]) -> CutReport | None:
        """Cut the organ along the plane through the drawn line and the viewing direction."""
        assert self.sim is not None
        assert self.actors is not None
        if np.hypot(end_xy[0] - start_xy[0], end_xy[1] - start_xy[1]) < MIN_CUT_PIXELS:
            self._say("Draw a longer line to cut.")
            return None
        point, normal = cut_plane_through_line(self._renderer, start_xy, end_xy)
        self._grasp = None
        deformed = self._embedding.apply(self.sim.positions_mm)
        try:
            report = self.sim.cut(point, normal)
        except TissueInputError as exc:
            self._say(f"No cut: {exc}.")
            return None
        self.last_cut = report
        self._on_gravity(self.panel.gravity_check.isChecked())  # the solver was rebuilt with the initial options
        self._after_cut(deformed, point, normal)
        self._wake()
        self._report()
        self._say(f"Cut: {report.split_tets} tetrahedra split into {len(report.part_volumes_mm3)} part(s).")
        return report

    def _after_cut(self, deformed: np.ndarray, point: np.ndarray, normal: np.ndarray) -> None:
        """New topology: the fine surface is split along the cut and re-embedded side by side; the cut faces of the
        tetrahedra close the opening in their own colour."""
        sim, actors = self.sim, self.actors
        assert sim is not None
        assert actors is not None
        first_new = len(self._display_rest)
        rest, faces, side, shape = split_surface(self._display_rest, deformed, self._display_faces, point, normal)
        caps = cut_caps(shape, faces, side, first_new, normal)
        self._display_rest, self._display_faces = rest, faces
        self._cap_faces = np.concatenate([self._cap_faces, caps])
        # Old vertices go to a piece of their element on their side (so they keep the side of any earlier
        # incision too); the vertices the split added on the plane are embedded among their side's elements.
        report = self.last_cut
        assert report is not None
        assert report.tet_parent is not None
        assert report.tet_side is not None
        self._embedding = carry_over_split(self._embedding, sim.mesh, report.tet_parent, report.tet_side, rest, side)
        actors.organ.set_surface(self._embedding.apply(sim.positions_mm), faces)
        # without caps on the fine surface (it missed the plane), the tetrahedra's own cut faces show the cut
        self._plane_cut_faces = self.last_cut.cut_faces if not len(caps) and self.last_cut is not None else None
        self._refresh_cut_actor()
        actors.instrument.hide()
        self.window.three_d.render()

    def incise(self, stroke_xy: list[tuple[float, float]]) -> CutReport | None:
        """A scalpel stroke drawn on the 3-D view: the blade goes straight into the view under the stroke, through
        the organ's depth, and opens the tissue only there (an incision may stop inside the organ)."""
        assert self.sim is not None
        assert self.actors is not None
        xy = np.asarray(stroke_xy, np.float64).reshape(-1, 2)
        if len(xy) < 2 or np.linalg.norm(np.diff(xy, axis=0), axis=1).sum() < MIN_CUT_PIXELS:
            self._say("Draw a longer stroke to cut.")
            return None
        sim = self.sim
        shown = self._embedding.apply(sim.positions_mm)
        margin = 0.05 * float(np.ptp(shown, axis=0).max())
        try:
            starts, ends = blade_through_stroke(self._renderer, xy, shown.min(axis=0) - margin,
                                                shown.max(axis=0) + margin)
            self._grasp = None
            report = sim.cut_swept(starts, ends)
        except (ValueError, TissueInputError) as exc:
            self._say(f"No incision: {exc}.")
            return None
        self.last_cut = report
        self._on_gravity(self.panel.gravity_check.isChecked())  # the solver was rebuilt with the initial options
        # Each fine vertex stays in its element (the two sides of the incision keep their own vertices); the fine
        # triangles the blade tore are dropped, and the incision's walls show through the slit.
        before = self._embedding
        after = carry_over(before, sim.mesh, report.tet_origin, self._display_rest)
        self._display_faces = self._display_faces[~torn_faces(self._display_faces, before, after)]
        if len(self._cap_faces):
            self._cap_faces = self._cap_faces[~torn_faces(self._cap_faces, before, after)]
        self._embedding = after
        self._plane_cut_faces = None
        self.actors.organ.set_surface(after.apply(sim.positions_mm), self._display_faces)
        self._refresh_cut_actor()
        self.actors.instrument.hide()
        self._wake()
        self._report()
        self.window.three_d.render()
        self._say(f"Incision: {report.opened_faces} element faces opened; "
                  f"{'one piece' if len(report.part_volumes_mm3) == 1 else f'{len(report.part_volumes_mm3)} parts'}.")
        return report

    def _refresh_cut_actor(self) -> None:
        """The cut surfaces in their own colour: the caps on the fine surface's plane cuts, the walls of the scalpel
        incisions and, where a plane cut left no cap, the tetrahedra's cut faces (both on the simulation's nodes)."""
        sim, actors = self.sim, self.actors
        assert sim is not None
        assert actors is not None
        coarse = sim.incision_faces()
        if self._plane_cut_faces is not None:
            coarse = np.concatenate([coarse, self._plane_cut_faces])
        self._cut_nodes, inverse = np.unique(coarse, return_inverse=True)
        shown = self._embedding.apply(sim.positions_mm)
        faces = np.concatenate([self._cap_faces, inverse.reshape(-1, 3) + len(shown)]).astype(np.int64)
        actors.cut.set_surface(np.concatenate([shown, sim.positions_mm[self._cut_nodes]]), faces)

    def _report(self) -> None:
        sim = self.sim
        if sim is None:
            return
        lines = [f"<b>{html.escape(str(self.info.get('name', 'Organ')))}</b>: {sim.mesh.n_tets:,} tetrahedra, "
                 f"{sim.mesh.volume() / 1000.0:.1f} mL"]
        quality = self.info.get("quality")
        if quality:
            lines.append(f"min dihedral {quality['min_dihedral_deg']:.1f}°, mean radius ratio "
                         f"{quality['mean_radius_ratio']:.2f}")
        cut = self.last_cut
        if cut is not None:
            parts = cut.part_volumes_mm3
            total = sum(parts)
            lines.append(f"Cut: remnant {parts[0] / 1000.0:.1f} mL, resected {cut.resected_volume_mm3 / 1000.0:.1f} mL"
                         f" ({100.0 * cut.resected_volume_mm3 / total:.1f} %)")
            lines.append(f"parts {total / 1000.0:.2f} mL vs {cut.volume_before_mm3 / 1000.0:.2f} mL before "
                         f"({100.0 * (total / cut.volume_before_mm3 - 1.0):+.3f} %)")
        self.panel.report.setText("<br>".join(lines))

    def _on_mode(self) -> None:
        self._cut_line = None
        self._stroke = None
        self.cut_overlay.clear()
        self._update_cursor()
        if self.sim is not None:
            self.window.three_d.render()

    def _update_cursor(self) -> None:
        shapes = {"grab": Qt.CursorShape.OpenHandCursor, "cut": Qt.CursorShape.CrossCursor,
                  "scalpel": Qt.CursorShape.CrossCursor}
        shape = shapes.get(self.mode) if self.sim is not None else None
        self._widget.setCursor(shape or Qt.CursorShape.ArrowCursor)


def install_tissue_panel(window) -> TissueTool:
    """Add the Soft tissue dock and its 3-D view tools to ``window`` (once)."""
    return install_once(window, "tissue_tool", TissueTool)
