"""The Planning dock on the phantom: resection by a dragged plane and by clicked control points, trajectories.

The phantom's shapes are known: the tumour is a sphere (centre and radius in its landmarks), so margins and
clearances are checked against analytic distances. Placement uses real mouse and keyboard events on the slice views.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.case import Case, MeshNode, SegmentationNode, VolumeNode, load_case, save_case
from imaging.meshing import mesh_from_mask
from imaging.phantom.anatomy import generate_abdomen
from tests.app.conftest import widget_position

pytestmark = pytest.mark.gui
NO = Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier
STRUCTURES = [("Liver", 5, (0.70, 0.30, 0.24)), ("Tumour", 6, (0.95, 0.85, 0.30)), ("Aorta", 9, (0.85, 0.12, 0.12)),
              ("Inferior vena cava", 13, (0.25, 0.35, 0.9)), ("Right kidney", 8, (0.8, 0.5, 0.6))]


@pytest.fixture(scope="module")
def phantom():
    return generate_abdomen((128, 128, 96), seed=0)


@pytest.fixture
def planning_window(window, qtbot, phantom):
    case = Case("Phantom planning")
    volume = case.add(VolumeNode(phantom.ct, "Abdomen CT"))
    segmentation = case.add(SegmentationNode.empty_like(volume, "Phantom labels"))
    for name, label, colour in STRUCTURES:
        segment = segmentation.add_segment(name, colour, phantom.labels == label)
        if name in ("Liver", "Tumour"):
            case.add(MeshNode(mesh_from_mask(phantom.labels == label, phantom.ct.geometry), name, color=colour,
                              segmentation_id=segmentation.id, label_value=segment.label_value))
    case.mark_saved(None)
    window.set_case(case)
    window.planning_tool.dock.raise_()
    window.render_all()
    return window


def _pos(panel, point_lps) -> QPoint:
    return widget_position(panel.view.renderer, panel.vtk_widget, point_lps)


def _key(window, widget, key, modifier=NO) -> None:
    if not window.isActiveWindow():
        window.activateWindow()
        QTest.qWaitForWindowActive(window, 2000)
    widget.setFocus()
    QTest.keyClick(widget, key, modifier)


def _to_slice(window, panel, point) -> None:
    panel.view.set_slice_point(point)
    panel.sync_slider()
    panel.render()


def _tumour(phantom):
    return np.asarray(phantom.landmarks["tumour_centre"]), phantom.tumour_radius_mm


def _plans(window, kind):
    return [n for n in window.case.plans if n.plan_type == kind]


def _segment_distance(p, a, b) -> float:
    t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0.0, 1.0)
    return float(np.linalg.norm(p - (a + t * (b - a))))


def test_a_dragged_plane_resects_the_liver_with_volumes_that_add_up_and_the_analytic_margin(planning_window, phantom,
                                                                                            qtbot, tmp_path):
    window = planning_window
    tool = window.planning_tool
    assert tool.panel.organ_combo.currentText() == "Liver"
    assert tool.panel.target_combo.currentText() == "Tumour"
    centre, radius = _tumour(phantom)
    panel = window.axial
    panel.zoom(2.0)
    _to_slice(window, panel, centre)
    # A line 26 mm medial of the tumour centre, antero-posterior across the liver.
    a, b = centre + np.array([26.0, -110.0, 0.0]), centre + np.array([26.0, 110.0, 0.0])
    QTest.mouseClick(tool.panel.plane_button, Qt.MouseButton.LeftButton)
    widget = panel.vtk_widget
    start, end = _pos(panel, a), _pos(panel, b)
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, NO, start)
    QTest.mouseMove(widget, (start + end) / 2)
    QTest.mouseMove(widget, end)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, NO, end)
    qtbot.waitUntil(lambda: not tool.busy, timeout=30000)  # computed in the background
    (plan,) = _plans(window, "resection")
    r = plan.data["result"]
    liver_ml = float((phantom.labels == 5).sum()) * 3.125**3 / 1000
    assert r["resected_ml"] + r["remnant_ml"] == pytest.approx(r["total_ml"], rel=1e-12)
    assert r["total_ml"] == pytest.approx(liver_ml, rel=1e-12)
    assert abs(r["mesh_resected_ml"] + r["mesh_remnant_ml"] - r["mesh_total_ml"]) <= 0.005 * r["mesh_total_ml"]
    assert r["mesh_resected_ml"] == pytest.approx(r["resected_ml"], rel=0.03)
    assert r["remnant_percent"] == pytest.approx(100 * r["remnant_ml"] / r["total_ml"])
    # Margin: distance from the tumour sphere to the plane as placed, analytically.
    point, normal = np.asarray(plan.data["cut"]["point"]), np.asarray(plan.data["cut"]["normal"])
    analytic = abs(float(np.dot(centre - point, normal))) - radius
    assert analytic == pytest.approx(26.0 - radius, abs=1.5)  # the line landed where it was dragged
    assert r["min_margin_mm"] == pytest.approx(analytic, abs=1.0)
    assert float(np.dot(centre - point, normal)) > 0  # the tumour's side is the resected one
    assert "Remnant" in tool.panel.resection_label.text()
    # Shown: the cut in 3-D and as a line on the slice, the margin line, the split models; the organ model hidden.
    display = window.markup_display
    assert display.layer_3d.is_visible(f"{plan.id}/cut")
    assert display.slice_layers[panel].is_visible(f"{plan.id}/cut")
    assert display.slice_layers[panel].is_visible(f"{plan.id}/band")  # the safety band around the tumour
    liver_model = next(m for m in window.case.meshes if m.name == "Liver")
    assert not liver_model.visible
    assert {m.name for m in window.case.meshes} >= {"Liver resected", "Liver remnant"}
    # Ctrl+Z takes the whole resection back; Ctrl+Y redoes it.
    _key(window, widget, Qt.Key.Key_Z, CTRL)
    assert not _plans(window, "resection")
    assert liver_model.visible
    assert "Liver resected" not in {m.name for m in window.case.meshes}
    assert f"{plan.id}/cut" not in display.layer_3d
    _key(window, widget, Qt.Key.Key_Y, CTRL)
    assert _plans(window, "resection") == [plan]
    # Saved with the case.
    window.set_case(load_case(save_case(window.case, tmp_path / "resection")))
    (reopened,) = _plans(window, "resection")
    assert reopened.data["result"]["remnant_ml"] == pytest.approx(r["remnant_ml"])
    assert window.markup_display.layer_3d.is_visible(f"{reopened.id}/cut")


def test_a_curved_surface_through_clicked_points_resects_the_liver(planning_window, phantom, qtbot):
    window = planning_window
    tool = window.planning_tool
    centre, _ = _tumour(phantom)
    panel = window.axial
    panel.zoom(2.0)
    QTest.mouseClick(tool.panel.curved_button, Qt.MouseButton.LeftButton)
    for dz in (-40.0, 0.0, 40.0):
        _to_slice(window, panel, centre + np.array([0.0, 0.0, dz]))
        for dy in (-70.0, 0.0, 70.0):
            bulge = 0.004 * (dy**2 + dz**2)  # bowl-shaped: a curved cut
            QTest.mouseClick(panel.vtk_widget, Qt.MouseButton.LeftButton, NO,
                             _pos(panel, centre + np.array([24.0 + bulge, dy, dz])))
    assert len(window.placement.points) == 9
    _key(window, panel.vtk_widget, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not tool.busy, timeout=30000)
    (plan,) = _plans(window, "resection")
    assert plan.data["mode"] == "curved"
    r = plan.data["result"]
    assert r["resected_ml"] + r["remnant_ml"] == pytest.approx(r["total_ml"], rel=1e-12)
    assert abs(r["mesh_resected_ml"] + r["mesh_remnant_ml"] - r["mesh_total_ml"]) <= 0.005 * r["mesh_total_ml"]
    assert r["mesh_resected_ml"] == pytest.approx(r["resected_ml"], rel=0.03)
    assert r["min_margin_mm"] > 0
    from app.ui.planning_panel import cut_from_data

    cut = cut_from_data(plan.data["cut"])
    assert np.abs(cut.side(plan.data["cut"]["control_points"])).max() < 1e-6  # through the clicked points
    assert window.markup_display.layer_3d.is_visible(f"{plan.id}/control")
    _key(window, panel.vtk_widget, Qt.Key.Key_Z, CTRL)
    assert not _plans(window, "resection")
    # A plane that misses the liver is refused with a reason, and adds nothing.
    far = centre + np.array([150.0, 0.0, 0.0])
    QTest.mouseClick(tool.panel.plane_button, Qt.MouseButton.LeftButton)
    start, end = _pos(panel, far + np.array([0.0, -40.0, 0.0])), _pos(panel, far + np.array([0.0, 40.0, 0.0]))
    QTest.mousePress(panel.vtk_widget, Qt.MouseButton.LeftButton, NO, start)
    QTest.mouseMove(panel.vtk_widget, end)
    QTest.mouseRelease(panel.vtk_widget, Qt.MouseButton.LeftButton, NO, end)
    qtbot.waitUntil(lambda: not tool.busy, timeout=30000)
    assert not _plans(window, "resection")
    assert "does not pass through the organ" in tool.panel.resection_label.text()


def test_a_trajectory_reports_analytic_clearances_and_flags_a_critical_collision(planning_window, phantom):
    window = planning_window
    tool = window.planning_tool
    assert {"Aorta", "Inferior vena cava"} <= tool.critical_names()
    assert "Tumour" not in tool.critical_names()
    centre, radius = _tumour(phantom)
    panel = window.axial
    panel.zoom(2.0)
    _to_slice(window, panel, centre)
    # Path 1: in the tumour's axial slice, 12 mm anterior of the tumour's surface, left to right.
    offset = radius + 12.0
    entry, target = centre + np.array([-60.0, -offset, 0.0]), centre + np.array([45.0, -offset, 0.0])
    QTest.mouseClick(tool.panel.path_button, Qt.MouseButton.LeftButton)
    QTest.mouseClick(panel.vtk_widget, Qt.MouseButton.LeftButton, NO, _pos(panel, entry))
    QTest.mouseClick(panel.vtk_widget, Qt.MouseButton.LeftButton, NO, _pos(panel, target))
    (path,) = _plans(window, "trajectory")
    d = path.data
    placed_entry, placed_target = np.asarray(d["entry_lps"]), np.asarray(d["target_lps"])
    rows = {c["structure"]: c for c in d["clearances"]}
    analytic = _segment_distance(centre, placed_entry, placed_target) - radius - d["radius_mm"]
    assert analytic == pytest.approx(12.0 - 1.0, abs=1.5)
    assert rows["Tumour"]["min_distance_mm"] == pytest.approx(analytic, abs=1.0)
    assert rows["Liver"]["min_distance_mm"] < 0  # it runs through the liver (not critical: no collision)
    assert not any(c["collision"] for c in d["clearances"])
    assert tool.panel.clearance_table.rowCount() == len(d["clearances"])
    # A thicker tool (typed into the radius box) comes 2.5 mm closer; Ctrl+Z gives the old radius back.
    spin = tool.panel.radius_spin
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, "3.5")
    QTest.keyClick(spin, Qt.Key.Key_Return)
    QApplication.processEvents()
    assert path.data["radius_mm"] == pytest.approx(3.5)
    thick = {c["structure"]: c for c in path.data["clearances"]}
    assert thick["Tumour"]["min_distance_mm"] == pytest.approx(rows["Tumour"]["min_distance_mm"] - 2.5, abs=1e-6)
    _key(window, panel.vtk_widget, Qt.Key.Key_Z, CTRL)
    assert path.data["radius_mm"] == pytest.approx(1.0)
    # Path 2: from the front into the aorta (critical): a collision is flagged.
    aorta_slice = phantom.labels[panel.view.slice_index] == 9
    jj, ii = np.nonzero(aorta_slice)
    aorta_centre = phantom.ct.geometry.index_to_point([ii.mean(), jj.mean(), panel.view.slice_index])
    QTest.mouseClick(tool.panel.path_button, Qt.MouseButton.LeftButton)
    QTest.mouseClick(panel.vtk_widget, Qt.MouseButton.LeftButton, NO,
                     _pos(panel, aorta_centre + np.array([0.0, -70.0, 0.0])))
    QTest.mouseClick(panel.vtk_widget, Qt.MouseButton.LeftButton, NO, _pos(panel, aorta_centre))
    second = _plans(window, "trajectory")[1]
    hits = {c["structure"]: c for c in second.data["clearances"]}
    assert hits["Aorta"]["collision"]
    assert hits["Aorta"]["min_distance_mm"] < -5.0  # the tip is inside the lumen
    assert "Collides with Aorta" in tool.panel.trajectory_label.text()
    assert "COLLISION" in window.markups_table.table.item(1, 2).text()
    assert window.markup_display.layer_3d.is_visible(f"{second.id}/tube")
    # Unticking the aorta clears the flag (one undo step), Ctrl+Z ticks it again.
    tool.set_critical("Aorta", False)
    assert not any(c["collision"] for c in second.data["clearances"])
    _key(window, panel.vtk_widget, Qt.Key.Key_Z, CTRL)
    assert {c["structure"]: c for c in second.data["clearances"]}["Aorta"]["collision"]
    _key(window, panel.vtk_widget, Qt.Key.Key_Z, CTRL)
    assert len(_plans(window, "trajectory")) == 1
