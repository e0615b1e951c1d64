"""The "Blood flow" dock: real clicks run a clamp on an openBF model and on the demo case's segmented vessels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.conftest import require_data

pytestmark = pytest.mark.gui

SHOTS = Path(os.environ.get("SURGITWIN_SHOTS", "")) if os.environ.get("SURGITWIN_SHOTS") else None
RUN_TIMEOUT_MS = 30000


def _row(panel, vessel: str) -> list[str]:
    table = panel.table
    for i in range(table.rowCount()):
        if table.item(i, 0).data(Qt.ItemDataRole.UserRole) == vessel:
            return [table.item(i, j).text() for j in range(table.columnCount())]
    raise AssertionError(f"{vessel} not in the table")


def _run(panel, qtbot, kind: str, vessel: str) -> None:
    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData(kind))
    panel.vessel_combo.setCurrentText(vessel)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.busy
    qtbot.waitUntil(lambda: not panel.busy, timeout=RUN_TIMEOUT_MS)


def test_clamping_a_daughter_artery_of_an_openbf_model(window, qtbot, tmp_path):
    model = require_data("haemo-1d-openbf-boileau2015") / "boileau2015/ibif/ibif.yaml"
    panel = window.flow_panel
    assert window.flow_dock.windowTitle() == "Blood flow"
    assert not panel.run_button.isEnabled()
    assert panel.open_model(model)
    assert [panel.vessel_combo.itemText(i) for i in range(panel.vessel_combo.count())] == ["parent", "d1", "d2"]
    _run(panel, qtbot, "clamp", "d2")
    assert panel.comparison is not None, panel.message.text()
    parent, d1, d2 = _row(panel, "parent"), _row(panel, "d1"), _row(panel, "d2")
    # the parent now drains through one Windkessel instead of two equal ones: its mean pressure about doubles
    rows = {r["vessel"]: r for r in panel.comparison.rows()}
    assert rows["parent"]["mean_pressure_scenario"] / rows["parent"]["mean_pressure_baseline"] == \
        pytest.approx(2.0, rel=0.05)
    assert parent[2].startswith("+")
    assert d1[5] in ("50→99 %", "50→98 %")   # the open daughter takes all the flow
    assert d2[0] == "d2 (clamped)"
    assert d2[3] == "28→0"
    assert "rises" in panel.message.text()
    assert panel.plot.has_data
    assert panel.plot.title in ("parent", "d1")
    panel.table.selectRow(2)
    assert panel.plot.title == "d2 — clamped"
    assert not panel.overlay.shown  # a model from a file has no place in the 3-D view
    if SHOTS:
        window.grab().save(str(SHOTS / "flow_panel_ibif.png"))
        window.flow_dock.grab().save(str(SHOTS / "flow_dock_ibif.png"))
    # the baseline is kept: a second scenario on the same model runs the scenario only
    _run(panel, qtbot, "stenosis", "d1")
    assert any("70% stenosis" in r["note"] for r in panel.comparison.rows())
    # cancel
    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData("clamp"))
    panel._baseline = None
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.busy, timeout=RUN_TIMEOUT_MS)
    assert panel.message.text() == "Cancelled."


def test_bad_input_is_one_message_in_the_dock(window, qtbot, tmp_path):
    panel = window.flow_panel
    bad = tmp_path / "bad.json"
    bad.write_text('{"vessels": [')
    assert not panel.open_model(bad)
    assert "not valid JSON" in panel.message.text()
    assert panel.model is None
    case = require_data("haemo-0d-svzerodsolver") / "cases/closedLoopHeart_withCoronaries.json"
    assert panel.open_model(case)
    # a 0-D vessel has no length: a stenosis with one is refused in the dock, not with a traceback
    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData("stenosis"))
    panel.length_spin.setValue(20)
    _run(panel, qtbot, "stenosis", "branch2_seg0")
    assert "no length" in panel.message.text()
    assert panel.comparison is None
    # the closed loop with its heart runs from the dock too
    panel.length_spin.setValue(0)
    _run(panel, qtbot, "clamp", "branch1_seg0")
    rows = {r["vessel"]: r for r in panel.comparison.rows()}
    assert rows["branch0_seg0"]["mean_pressure_change"] > 3.0
    doc = json.loads(case.read_text())
    assert len(doc["vessels"]) == panel.table.rowCount()


def test_network_from_the_demo_segmentation_coloured_in_3d(demo_window, qtbot):
    window = demo_window
    panel = window.flow_panel
    assert panel.segment_combo.count() >= 1
    assert "Vessels" in panel.segment_combo.currentText()
    qtbot.mouseClick(panel.build_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.busy, timeout=RUN_TIMEOUT_MS)
    names = [panel.vessel_combo.itemText(i) for i in range(panel.vessel_combo.count())]
    assert names[0] == "trunk", panel.message.text()
    assert {"left branch", "right branch"} <= set(names)
    _run(panel, qtbot, "clamp", "left branch")
    rows = {r["vessel"]: r for r in panel.comparison.rows()}
    assert rows["trunk"]["mean_pressure_change"] > 0
    assert rows["right branch"]["split_scenario"] == pytest.approx(1.0, abs=0.03)
    # the vessel mesh is coloured by the change in mean pressure, with a scale; the plain mesh is hidden
    assert panel.overlay.shown
    assert np.nanmax(panel.overlay.values) > 10.0
    mesh_id = panel.geometry.mesh_node_id
    assert mesh_id is not None
    assert not window.three_d.scene.actor(mesh_id).GetVisibility()
    window.render_all()
    from rendering.offscreen import capture_window

    image = capture_window(window.three_d.render_window)
    reds = np.count_nonzero((image[..., 0] > 200) & (image[..., 1] < 150) & (image[..., 2] < 150))
    assert reds > 50  # the upstream vessels turned red (pressure rise)
    if SHOTS:
        window.grab().save(str(SHOTS / "flow_panel_demo.png"))
        from PySide6.QtGui import QImage

        h, w, _ = image.shape
        QImage(np.ascontiguousarray(image).data, w, h, 3 * w, QImage.Format.Format_RGB888).save(
            str(SHOTS / "flow_3d_demo.png"))
    qtbot.mouseClick(panel.clear_colour_button, Qt.MouseButton.LeftButton)
    assert not panel.overlay.shown
    assert window.three_d.scene.actor(mesh_id).GetVisibility()
