"""The "Blood flow" dock: rehearse a vascular procedure on a flow model and compare it with the baseline.

A model comes from a file (openBF ``.yaml``, 1-D; svZeroDSolver ``.json``, 0-D) or is built from the case's vessel
segmentation (centrelines and network by :mod:`imaging.vessels`, periphery by
:func:`simulation.flow.network_model.model_from_network_vessels`). A scenario (clamp, stenosis, stent, bypass,
resection of a chosen vessel) runs with its baseline in the window's :class:`~app.ui.tasks.TaskRunner` (progress
and Cancel in the dock and the status bar). Results: a table per vessel (mean pressure, peak flow, flow split,
baseline -> scenario and change), pressure and flow waveforms of the selected vessel, and, for a network built from
the segmentation, the vessel mesh in the 3-D view coloured by the change in mean pressure.

Installed with :func:`install_flow_panel` (one line in the main window). Errors in the input are shown in the
dock's message line, never as a traceback.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.docks import add_right_dock

__all__ = ["FlowPanel", "WaveformPlot", "install_flow_panel", "vessel_segments"]

KINDS = (("Clamp (occlude)", "clamp"), ("Stenosis", "stenosis"), ("Stent", "stent"), ("Bypass graft", "bypass"),
         ("Resection", "resect"))
VESSEL_WORDS = ("vessel", "arter", "aort", "iliac", "lumen", "carotid", "femoral", "renal")
BASE_COLOUR = QColor(70, 130, 200)
SCEN_COLOUR = QColor(230, 90, 30)
COLUMNS = ("Vessel", "Mean P\n(mmHg)", "Δ mean P\n(mmHg)", "Peak flow\n(mL/s)", "Δ peak\nflow", "Flow\nsplit (%)")


def vessel_segments(case) -> list[tuple[Any, Any]]:
    """(segmentation node, segment) pairs whose name looks like a vessel, across the case's segmentations."""
    out = []
    for seg_node in getattr(case, "segmentations", []):
        for segment in seg_node.segments:
            if any(w in segment.name.lower() for w in VESSEL_WORDS):
                out.append((seg_node, segment))
    return out


@dataclass
class _FlowJob:
    token: int
    kind: str   # "network", "comparison" or "error"
    value: Any


@dataclass
class _Geometry:
    """Where the model's vessels lie: centreline points and radii (mm) per vessel label, the vessel mesh."""

    paths: dict[str, np.ndarray]
    radii: dict[str, np.ndarray]
    mesh_node_id: str | None


def _name_vessels(net, vessels: list[dict]) -> None:
    """Readable labels for a segmented network: the inlet trunk, left/right branches (LPS: +x is the patient's
    left), other segments by number."""
    inlet_x = float(net.nodes[net.inlet][0])
    outlets = set(net.outlets)
    counts: dict[str, itertools.count] = {}
    for k, (v, s) in enumerate(zip(vessels, net.segments, strict=True)):
        if s.start == net.inlet:
            base = "trunk"
        elif s.end in outlets:
            base = "left branch" if float(net.nodes[s.end][0]) > inlet_x else "right branch"
        else:
            base = f"segment {k + 1}"
        n = next(counts.setdefault(base, itertools.count(1)))
        v["label"] = base if n == 1 else f"{base} {n}"
        s.name = v["label"]


def build_network_model(mask: np.ndarray, geometry, progress, cancel):
    """Background work: centrelines, network and a runnable 1-D model of a vessel mask."""
    from imaging.vessels.centreline import extract_centrelines
    from imaging.vessels.network import network_from_centrelines
    from simulation.flow.network_model import model_from_network_vessels

    progress(0.1, "Blood flow: centrelines of the vessel segment")
    c = extract_centrelines(mask, geometry.spacing, geometry.origin, geometry.direction)
    if cancel.is_set():
        raise InterruptedError("cancelled")
    progress(0.7, "Blood flow: vessel network")
    net = network_from_centrelines(c)
    vessels = net.to_openbf()
    _name_vessels(net, vessels)
    model = model_from_network_vessels(vessels, "segmented vessels")
    paths = {s.name: s.points for s in net.segments}
    radii = {s.name: s.radii for s in net.segments}
    return model, paths, radii


class WaveformPlot(QWidget):
    """Pressure and flow over one cardiac cycle of one vessel, baseline and scenario, drawn with QPainter."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(260)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.title = ""
        self.series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @property
    def has_data(self) -> bool:
        """Whether any waveform is shown."""
        return bool(self.series)

    def set_data(self, title: str, baseline: tuple | None, scenario: tuple | None) -> None:
        """Show (t, pressure mmHg, flow mL/s) of the baseline and the scenario (either may be None)."""
        self.title = title
        self.series = {k: tuple(np.asarray(a, dtype=float) for a in v)
                       for k, v in (("Baseline", baseline), ("Scenario", scenario)) if v is not None}
        self.update()

    def clear(self) -> None:
        """Show nothing."""
        self.title, self.series = "", {}
        self.update()

    def paintEvent(self, _event) -> None:
        """Two stacked charts: pressure, then flow."""
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(250, 250, 250))
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF()))
        p.setFont(font)
        fm = p.fontMetrics()
        if not self.series:
            p.setPen(QColor(120, 120, 120))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Run a scenario to see waveforms")
            p.end()
            return
        head = fm.height() + 6
        p.setPen(QColor(30, 30, 30))
        bold = QFont(font)
        bold.setBold(True)
        p.setFont(bold)
        p.drawText(QRectF(6, 2, self.width() - 12, head), Qt.AlignmentFlag.AlignLeft, self.title)
        p.setFont(font)
        x = self.width() - 12
        for name, colour in (("Scenario", SCEN_COLOUR), ("Baseline", BASE_COLOUR)):
            if name not in self.series:
                continue
            w = fm.horizontalAdvance(name)
            x -= w
            p.setPen(QColor(30, 30, 30))
            p.drawText(QPointF(x, head - 8), name)
            x -= 26
            p.setPen(QPen(colour, 3))
            p.drawLine(QPointF(x, head - 8 - fm.ascent() / 3), QPointF(x + 20, head - 8 - fm.ascent() / 3))
            x -= 14
        left = fm.horizontalAdvance("0000.0") + 14
        area_h = (self.height() - head - 3 * fm.height() - 16) / 2
        for i, (label, idx) in enumerate((("Pressure (mmHg)", 1), ("Flow (mL/s)", 2))):
            top = head + 4 + i * (area_h + fm.height() + 8)
            rect = QRectF(left, top, self.width() - left - 10, area_h)
            self._chart(p, rect, label, idx, last=i == 1)
        p.end()

    def _chart(self, p: QPainter, rect: QRectF, label: str, idx: int, last: bool) -> None:
        fm = p.fontMetrics()
        ts = [s[0] for s in self.series.values()]
        finite = np.concatenate([s[idx][np.isfinite(s[idx])] for s in self.series.values()])
        t1 = max(float(np.max(t)) for t in ts) or 1.0
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi - lo < 1e-9:
            lo, hi = lo - max(abs(lo), 1.0) * 0.1, hi + max(abs(hi), 1.0) * 0.1
        step = _nice_step((hi - lo) / 4)
        lo, hi = np.floor(lo / step) * step, np.ceil(hi / step) * step
        ticks = np.arange(lo, hi + 0.5 * step, step)
        p.fillRect(rect, QColor(255, 255, 255))
        p.setPen(QPen(QColor(225, 225, 225), 1))
        for value in ticks:
            y = rect.bottom() - (value - lo) / (hi - lo) * rect.height()
            p.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            p.setPen(QColor(60, 60, 60))
            text = f"{value:.0f}" if step >= 1 else f"{value:.1f}"
            p.drawText(QRectF(0, y - fm.height() / 2, rect.left() - 6, fm.height()),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
            p.setPen(QPen(QColor(225, 225, 225), 1))
        p.setPen(QPen(QColor(150, 150, 150), 1))
        p.drawRect(rect)
        p.setPen(QColor(40, 40, 40))
        p.drawText(QRectF(rect.left() + 6, rect.top() + 2, rect.width(), fm.height()), Qt.AlignmentFlag.AlignLeft,
                   label)
        if last:
            t_step = _nice_step(t1 / 4)
            for tick in np.arange(0.0, t1 + 1e-9, t_step):
                x = rect.left() + tick / t1 * rect.width()
                p.drawText(QRectF(x - 30, rect.bottom() + 2, 60, fm.height()), Qt.AlignmentFlag.AlignHCenter,
                           f"{tick:g}")
            p.drawText(QRectF(rect.left(), rect.bottom() + 2 + fm.height(), rect.width(), fm.height()),
                       Qt.AlignmentFlag.AlignHCenter, "time in the cardiac cycle (s)")
        for name, (t, *vals) in self.series.items():
            y = vals[idx - 1]
            path = QPainterPath()
            pen_down = False
            for tt, yy in zip(t, y, strict=True):
                if not np.isfinite(yy):
                    pen_down = False
                    continue
                pt = QPointF(rect.left() + tt / t1 * rect.width(),
                             rect.bottom() - (yy - lo) / (hi - lo) * rect.height())
                path.lineTo(pt) if pen_down else path.moveTo(pt)
                pen_down = True
            p.setPen(QPen(SCEN_COLOUR if name == "Scenario" else BASE_COLOUR, 2.4 if name == "Scenario" else 2.0))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)


class FlowPanel(QWidget):
    """The dock's contents; ``window`` is the main window (its case, task runner, 3-D view and status bar)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.model = None
        self.model_name = ""
        self.geometry: _Geometry | None = None
        self.comparison = None
        self._baseline = None
        self._tokens = itertools.count(1)
        self._pending: int | None = None
        self._hidden_mesh: str | None = None
        from rendering.flow_colouring import FlowOverlay

        self.overlay = FlowOverlay(window.three_d.scene.renderer)
        self._build()
        window.tasks.finished.connect(self._on_finished)
        window.tasks.failed.connect(self._on_failed)
        window.tasks.cancelled.connect(self._on_cancelled)
        window.tasks.progress.connect(self._on_progress)
        window.case_changed.connect(self._on_case_changed)
        self._on_case_changed(window.case)
        self._update_enabled()

    # --- layout ---------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        source = QGroupBox("Model")
        form = QVBoxLayout(source)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open model…")
        self.open_button.setToolTip("An openBF model (.yaml, 1-D) or a svZeroDSolver model (.json, 0-D)")
        self.open_button.clicked.connect(self._open_dialog)
        self.build_button = QPushButton("From segmentation")
        self.build_button.setToolTip("Centrelines and vessel network of the chosen vessel segment, with a "
                                     "standard inflow and outlet resistances")
        self.build_button.clicked.connect(self.build_from_segmentation)
        row.addWidget(self.open_button)
        row.addWidget(self.build_button)
        form.addLayout(row)
        self.segment_combo = QComboBox()
        self.segment_combo.setToolTip("Vessel segment to build the network from")
        form.addWidget(self.segment_combo)
        self.model_label = QLabel("No model. Open one or build it from a vessel segmentation.")
        self.model_label.setWordWrap(True)
        form.addWidget(self.model_label)
        layout.addWidget(source)

        scen = QGroupBox("Scenario")
        f = QFormLayout(scen)
        self.kind_combo = QComboBox()
        for text, kind in KINDS:
            self.kind_combo.addItem(text, kind)
        self.kind_combo.currentIndexChanged.connect(self._update_enabled)
        self.vessel_combo = QComboBox()
        self.target_combo = QComboBox()
        self.percent_spin = QSpinBox()
        self.percent_spin.setRange(5, 95)
        self.percent_spin.setValue(70)
        self.percent_spin.setSuffix(" % diameter")
        self.length_spin = QDoubleSpinBox()
        self.length_spin.setRange(0.0, 500.0)
        self.length_spin.setDecimals(0)
        self.length_spin.setSuffix(" mm")
        self.length_spin.setSpecialValueText("a third of the vessel")
        self.radius_spin = QDoubleSpinBox()
        self.radius_spin.setRange(0.5, 20.0)
        self.radius_spin.setValue(3.0)
        self.radius_spin.setSuffix(" mm radius")
        f.addRow("Procedure", self.kind_combo)
        f.addRow("Vessel", self.vessel_combo)
        f.addRow("To vessel", self.target_combo)
        f.addRow("Narrowing", self.percent_spin)
        f.addRow("Length", self.length_spin)
        f.addRow("Graft", self.radius_spin)
        self._form = f
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Simulate the baseline and the scenario in the background")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        f.addRow(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(10)
        self.progress.hide()
        f.addRow(self.progress)
        layout.addWidget(scen)

        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._show_selected)
        layout.addWidget(self.table, 1)
        self.plot = WaveformPlot()
        layout.addWidget(self.plot, 1)
        self.clear_colour_button = QPushButton("Clear 3D colours")
        self.clear_colour_button.clicked.connect(self.clear_colours)
        layout.addWidget(self.clear_colour_button)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b00020; font-weight: bold;" if error else "")
        with contextlib.suppress(AttributeError, RuntimeError):
            self.window.status_label.setText(("Blood flow: " + text) if error else text)

    def _update_enabled(self, *_args) -> None:
        kind = self.kind_combo.currentData()
        busy = self._pending is not None
        shown = {"To vessel": kind == "bypass", "Narrowing": kind == "stenosis",
                 "Length": kind in ("stenosis", "bypass"), "Graft": kind == "bypass"}
        for row in range(self._form.rowCount()):
            label = self._form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = self._form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if label is None or field is None or label.widget() is None:
                continue
            visible = shown.get(label.widget().text(), True)
            label.widget().setVisible(visible)
            field.widget().setVisible(visible)
        self.length_spin.setSpecialValueText("a third of the vessel" if kind == "stenosis" else "straight line")
        self.run_button.setEnabled(self.model is not None and not busy)
        self.cancel_button.setEnabled(busy)
        self.open_button.setEnabled(not busy)
        self.build_button.setEnabled(not busy and self.segment_combo.count() > 0)
        self.segment_combo.setEnabled(self.segment_combo.count() > 0)
        self.clear_colour_button.setEnabled(self.overlay.shown)

    # --- the case -------------------------------------------------------------------------------------------------
    def _on_case_changed(self, case) -> None:
        self.clear_colours()
        self._refresh_segments(case)
        with contextlib.suppress(AttributeError, RuntimeError):
            case.node_added.connect(lambda *_: self._refresh_segments(self.window.case))
            case.node_removed.connect(lambda *_: self._refresh_segments(self.window.case))
        if self.geometry is not None:
            self._set_model(None, "")

    def _refresh_segments(self, case) -> None:
        self.segment_combo.clear()
        for seg_node, segment in vessel_segments(case):
            self.segment_combo.addItem(f"{segment.name} ({seg_node.name})", (seg_node.id, segment.label_value))
        self._update_enabled()

    # --- models ---------------------------------------------------------------------------------------------------
    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a blood-flow model", "",
                                              "Flow models (*.yaml *.yml *.json);;All files (*)")
        if path:
            self.open_model(path)

    def open_model(self, path: str | Path) -> bool:
        """Read a model file; a bad one is reported in the dock. Returns whether it was read."""
        from simulation.flow.compare import load_model

        try:
            model = load_model(path)
        except (ValueError, OSError) as exc:
            self._say(str(exc), error=True)
            return False
        self.geometry = None
        self.clear_colours()
        self._set_model(model, Path(path).name)
        return True

    def _set_model(self, model, name: str) -> None:
        self.model, self.model_name, self._baseline, self.comparison = model, name, None, None
        self.vessel_combo.clear()
        self.target_combo.clear()
        self.table.setRowCount(0)
        self.plot.clear()
        if model is None:
            self.model_label.setText("No model. Open one or build it from a vessel segmentation.")
        else:
            names = self._vessel_names(model)
            for n in names:
                self.vessel_combo.addItem(n)
                self.target_combo.addItem(n)
            kind = "0-D (lumped)" if hasattr(model, "junctions") else "1-D"
            self.model_label.setText(f"<b>{name}</b>: {kind}, {len(names)} vessels")
            self._say("Choose a procedure and a vessel, then Run.")
        self._update_enabled()
        with contextlib.suppress(AttributeError, RuntimeError):
            self.window.flow_dock.raise_()

    @staticmethod
    def _vessel_names(model) -> list[str]:
        return [v.name if hasattr(v, "name") else v["label"] for v in model.vessels]

    def build_from_segmentation(self) -> None:
        """Build the network model of the chosen vessel segment in the background."""
        data = self.segment_combo.currentData()
        if data is None:
            self._say("The case has no vessel segment to build a network from.", error=True)
            return
        seg_id, label = data
        seg_node = self.window.case.get(seg_id)
        labelmap = seg_node.labelmap
        mask = np.asarray(labelmap.array) == label
        if not mask.any():
            self._say("The vessel segment is empty.", error=True)
            return
        mesh_id = next((m.id for m in self.window.case.meshes
                        if getattr(m, "segmentation_id", None) == seg_id and m.label_value == label), None)
        geometry = labelmap

        def compute(progress, cancel):
            model, paths, radii = build_network_model(mask, geometry, progress, cancel)
            return model, _Geometry(paths, radii, mesh_id)

        self._start(compute, "network", "Building the vessel network")

    # --- running --------------------------------------------------------------------------------------------------
    def scenario(self):
        """The :class:`~simulation.flow.scenarios.Scenario` the controls describe."""
        from simulation.flow.scenarios import Scenario

        kind = self.kind_combo.currentData()
        vessel = self.vessel_combo.currentText()
        length = self.length_spin.value() or None
        if kind == "stenosis":
            return Scenario(kind, vessel, percent=float(self.percent_spin.value()), length_mm=length)
        if kind == "bypass":
            return Scenario(kind, vessel, target=self.target_combo.currentText(), radius_mm=self.radius_spin.value(),
                            length_mm=length)
        return Scenario(kind, vessel)

    def run(self) -> None:
        """Simulate baseline and scenario in the background."""
        if self.model is None:
            self._say("Open a model or build one from the segmentation first.", error=True)
            return
        from simulation.flow.compare import Comparison, run_any, summarise
        from simulation.flow.scenarios import apply_scenario

        model, sc, cached = self.model, self.scenario(), self._baseline

        def compute(progress, cancel):
            edited, notes = apply_scenario(model, sc)  # a bad scenario fails before any simulation
            base = cached
            if base is None:
                base = run_any(model, on_cycle=lambda d, n: progress(0.5 * d / n, f"Baseline: cycle {d}"))
            progress(0.5, "Scenario")
            mod = run_any(edited, on_cycle=lambda d, n: progress(0.5 + 0.5 * d / n, f"Scenario: cycle {d}"))
            return Comparison(str(sc), summarise(base), summarise(mod), notes, base, mod)

        self._start(compute, "comparison", f"Simulating {sc}")

    def _start(self, compute, kind: str, description: str) -> None:
        token = next(self._tokens)
        self._pending = token

        def work(progress, cancel):
            try:
                return _FlowJob(token, kind, compute(progress, cancel))
            except (ValueError, ArithmeticError) as exc:  # FlowModelError is a ValueError
                return _FlowJob(token, "error", str(exc) or type(exc).__name__)

        self.progress.setValue(0)
        self.progress.show()
        self._say(f"{description}…")
        self._update_enabled()
        self.window.tasks.start(work, description)

    def cancel(self) -> None:
        """Stop the running simulation."""
        if self._pending is not None:
            self.window.cancel_task()

    @property
    def busy(self) -> bool:
        """True while a flow computation runs."""
        return self._pending is not None

    def _done(self) -> None:
        self._pending = None
        self.progress.hide()
        self._update_enabled()

    def _on_progress(self, fraction: float, _message: str) -> None:
        if self._pending is not None:
            self.progress.setValue(int(fraction * 1000))

    def _on_failed(self, message: str) -> None:
        if self._pending is not None:
            self._done()
            self._say(message, error=True)

    def _on_cancelled(self) -> None:
        if self._pending is not None:
            self._done()
            self._say("Cancelled.")

    def _on_finished(self, result: object) -> None:
        if not isinstance(result, _FlowJob) or result.token != self._pending:
            if self._pending is not None and not self.window.tasks.busy:
                self._done()  # another task replaced ours
            return
        self._done()
        if result.kind == "error":
            self._say(result.value, error=True)
        elif result.kind == "network":
            model, geometry = result.value
            self.clear_colours()
            self._set_model(model, "network from the segmentation")
            self.geometry = geometry
            self._say(f"Vessel network: {', '.join(geometry.paths)}. Choose a procedure, then Run.")
        else:
            self.show_comparison(result.value)

    # --- results --------------------------------------------------------------------------------------------------
    def show_comparison(self, comparison) -> None:
        """Fill the table, plot the first affected vessel and colour the 3-D vessels."""
        self.comparison = comparison
        self._baseline = comparison.baseline_result
        rows = comparison.rows()
        self.table.setRowCount(len(rows))
        big = max([abs(r["mean_pressure_change"]) for r in rows if np.isfinite(r["mean_pressure_change"])] + [1.0])
        for i, r in enumerate(rows):
            dp, rel_p = r["mean_pressure_change"], _pct(r["mean_pressure_change"], r["mean_pressure_baseline"])
            cells = [r["vessel"] + (f" ({r['note']})" if r["note"] else ""),
                     f"{_fmt(r['mean_pressure_baseline'])}→{_fmt(r['mean_pressure_scenario'])}",
                     (f"{dp:+.0f}" if abs(dp) >= 10 else f"{dp:+.1f}") + f" ({rel_p})" if np.isfinite(dp) else "—",
                     f"{_fmt(r['peak_flow_baseline'])}→{_fmt(r['peak_flow_scenario'])}",
                     _pct(r["peak_flow_change"], r["peak_flow_baseline"]),
                     f"{_fmt(100 * r['split_baseline'])}→{_fmt(100 * r['split_scenario'], ' %')}"]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{r['vessel']}: {r['note']}" if r["note"] else r["vessel"])
                if j == 2 and np.isfinite(dp):
                    s = min(abs(dp) / big, 1.0)
                    item.setBackground(QBrush(QColor(255, int(255 - 130 * s), int(255 - 130 * s)) if dp > 0
                                              else QColor(int(255 - 130 * s), int(255 - 80 * s), 255)))
                if j == 0:
                    item.setData(Qt.ItemDataRole.UserRole, r["vessel"])
                self.table.setItem(i, j, item)
        scen = comparison.scenario
        self._say(f"{scen}: mean pressure {'rises' if _upstream_change(rows) > 0 else 'falls'} upstream by "
                  f"{abs(_upstream_change(rows)):.1f} mmHg. Select a vessel for its waveforms.")
        # show the waveforms of the vessel whose mean pressure changes most (baseline and scenario both present)
        changes = [abs(r["mean_pressure_change"]) if np.isfinite(r["mean_pressure_change"]) else -1.0 for r in rows]
        target = int(np.argmax(changes)) if rows else 0
        self.table.selectRow(target)
        self._show_selected()
        self._colour_3d(rows)

    def _show_selected(self) -> None:
        from simulation.flow.compare import waveform

        items = self.table.selectedItems()
        if not items or self.comparison is None:
            return
        name = self.table.item(items[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        c = self.comparison
        base = _safe_waveform(waveform, c.baseline_result, name)
        scen = _safe_waveform(waveform, c.scenario_result, name)
        note = c.notes.get(name, "")
        if scen is None and base is not None and note == "clamped":
            scen = (base[0], np.full_like(base[1], np.nan), np.zeros_like(base[2]))
        self.plot.set_data(f"{name}" + (f" — {note}" if note else ""), base, scen)

    def _colour_3d(self, rows: list[dict]) -> None:
        if self.geometry is None:
            return
        g = self.geometry
        by_name = {r["vessel"]: r["mean_pressure_change"] for r in rows}
        names = [n for n in g.paths if n in by_name]
        if not names:
            return
        scene = self.window.three_d.scene
        mesh = None
        if g.mesh_node_id is not None and g.mesh_node_id in scene:
            with contextlib.suppress(KeyError):
                mesh = self.window.case.get(g.mesh_node_id).mesh
        self.overlay.show([g.paths[n] for n in names], [g.radii[n] for n in names], [by_name[n] for n in names],
                          "ΔP (mmHg)", mesh=mesh)
        if mesh is not None:
            scene.set_display(g.mesh_node_id, visible=False)
            self._hidden_mesh = g.mesh_node_id
        self._update_enabled()
        self.window.request_render()

    def clear_colours(self) -> None:
        """Remove the flow colouring from the 3-D view and show the vessel mesh again."""
        self.overlay.clear()
        if self._hidden_mesh is not None:
            with contextlib.suppress(KeyError):
                self.window.three_d.scene.set_display(self._hidden_mesh, visible=True)
            self._hidden_mesh = None
        with contextlib.suppress(AttributeError):
            self._update_enabled()
        self.window.request_render()


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw``."""
    if not raw > 0:
        return 1.0
    power = 10.0 ** np.floor(np.log10(raw))
    return float(next(m for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw * 0.999) * power)


def _fmt(value: float, unit: str = "") -> str:
    return f"{value:.0f}{unit}" if np.isfinite(value) else "—"


def _pct(change: float, base: float) -> str:
    if not (np.isfinite(change) and np.isfinite(base)) or base == 0:
        return "—"
    return f"{100.0 * change / abs(base):+.0f} %"


def _upstream_change(rows: list[dict]) -> float:
    """Mean-pressure change of the first vessel with a finite one (the inlet vessel comes first)."""
    return next((r["mean_pressure_change"] for r in rows if np.isfinite(r["mean_pressure_change"])), 0.0)


def _safe_waveform(fn, result, name: str):
    try:
        return fn(result, name)
    except (KeyError, ValueError, IndexError):
        return None


def install_flow_panel(window) -> FlowPanel:
    """Add the "Blood flow" dock (right side) to ``window`` and a View-menu entry for it; returns the panel."""
    panel = FlowPanel(window)
    window.flow_dock = add_right_dock(window, panel, "Blood flow", "BloodFlowDock", 460)  # shown when a model opens
    return panel
