"""Angle, point list and closed curve tools driven with real mouse and keyboard events on the slice views."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.case import load_case, save_case
from tests.app.conftest import widget_position

pytestmark = pytest.mark.gui
NO = Qt.KeyboardModifier.NoModifier


def _pos(panel, point_lps) -> QPoint:
    return widget_position(panel.view.renderer, panel.vtk_widget, point_lps)


def _click(panel, point_lps) -> QPoint:
    pos = _pos(panel, point_lps)
    QTest.mouseClick(panel.vtk_widget, Qt.MouseButton.LeftButton, NO, pos)
    return pos


def _press_key(window, widget, key, modifier=NO) -> None:
    """A key press as the user makes it: to the focused view of the active window, through Qt's shortcut map."""
    if not window.isActiveWindow():
        window.activateWindow()
        QTest.qWaitForWindowActive(window, 2000)
    widget.setFocus()
    QTest.keyClick(widget, key, modifier)


def _plans(window, kind):
    return [n for n in window.case.plans if n.plan_type == kind]


def _centre(panel) -> np.ndarray:
    return np.asarray(panel.view.renderer.GetActiveCamera().GetFocalPoint())


def test_an_angle_between_three_clicked_points_is_measured_and_undone_with_ctrl_z(demo_window, qtbot):
    window = demo_window
    panel = window.axial
    panel.zoom(2.0)
    c = _centre(panel)
    # Vertex at the centre; arms to the patient's left and 35 degrees from it towards posterior (LPS x, y).
    a = c + np.array([60.0, 0.0, 0.0])
    b = c + 60.0 * np.array([np.cos(np.radians(35.0)), np.sin(np.radians(35.0)), 0.0])
    _press_key(window, panel.vtk_widget, Qt.Key.Key_G)
    assert window.markup_tools.tool == "angle"
    for p in (a, c, b):
        _click(panel, p)
    angles = _plans(window, "angle")
    assert len(angles) == 1
    placed = np.asarray(angles[0].data["points_lps"])
    truth = np.degrees(np.arccos(np.dot(placed[0] - placed[1], placed[2] - placed[1])
                                 / np.linalg.norm(placed[0] - placed[1]) / np.linalg.norm(placed[2] - placed[1])))
    assert angles[0].data["angle_deg"] == pytest.approx(35.0, abs=0.5)
    assert angles[0].data["angle_deg"] == pytest.approx(truth, abs=1e-9)
    layer = window.markup_display.slice_layers[panel]
    assert layer.is_visible(angles[0].id)
    assert layer.text(angles[0].id) == [f"{angles[0].data['angle_deg']:.1f}°"]
    # The arms are really drawn on screen (not hidden behind the image or the label overlay).
    from rendering.offscreen import capture_window

    pixels = capture_window(panel.render_window).astype(int)
    for arm_end in (a, b):
        mid = _pos(panel, (c + arm_end) / 2)
        patch = pixels[mid.y() - 2:mid.y() + 3, mid.x() - 2:mid.x() + 3]
        assert ((patch[..., 0] > 200) & (patch[..., 1] > 160) & (patch[..., 2] < 110)).any()  # the angle's yellow
    table = window.markups_table
    assert table.table.rowCount() == 1
    assert table.table.item(0, 2).text().endswith("°")
    panel.move_slice(3)  # a measurement belongs to its slice
    assert not layer.is_visible(angles[0].id)
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not _plans(window, "angle")
    assert table.table.rowCount() == 0
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert len(_plans(window, "angle")) == 1
    # Delete from the table with the Delete key; Ctrl+Z brings it back.
    window.markups_dock.raise_()
    table.table.selectRow(0)
    _press_key(window, table.table, Qt.Key.Key_Delete)
    assert not _plans(window, "angle")
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(_plans(window, "angle")) == 1


def test_a_closed_curve_encloses_the_analytic_area_and_escape_cancels_a_curve(demo_window, qtbot):
    window = demo_window
    panel = window.coronal
    panel.zoom(4.0)  # as a user zooms in to outline (a pixel is then about 0.4 mm)
    c = _centre(panel)
    _press_key(window, panel.vtk_widget, Qt.Key.Key_C)
    assert window.markup_tools.tool == "closed_curve"
    # Twelve points on a circle of radius 50 mm in the coronal plane (LPS x and z).
    th = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    for t in th:
        _click(panel, c + np.array([50.0 * np.cos(t), 0.0, 50.0 * np.sin(t)]))
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Return)
    curves = _plans(window, "closed_curve")
    assert len(curves) == 1
    assert curves[0].data["area_mm2"] == pytest.approx(np.pi * 50.0**2, rel=0.01)
    # Against the circle through the points as placed (clicks land on whole pixels): within the spline's 0.3 %.
    placed = np.asarray(curves[0].data["points_lps"])
    radius = float(np.linalg.norm(placed - c, axis=1).mean())
    assert curves[0].data["area_mm2"] == pytest.approx(np.pi * radius**2, rel=0.003)
    assert curves[0].data["perimeter_mm"] == pytest.approx(2 * np.pi * 50.0, rel=0.01)
    # The tool stays armed: a second curve begun, then cancelled with Esc, leaves nothing behind.
    for t in th[:3]:
        _click(panel, c + np.array([20.0 * np.cos(t), 0.0, 20.0 * np.sin(t)]))
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Escape)
    assert len(_plans(window, "closed_curve")) == 1
    assert "_curve" not in window.markup_display.slice_layers[panel]
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not _plans(window, "closed_curve")


def test_points_with_labels_are_renamed_in_the_table_saved_and_reloaded(demo_window, qtbot, tmp_path):
    window = demo_window
    panel = window.axial
    c = _centre(panel)
    targets = [c + np.array([-40.0, 10.0, 0.0]), c + np.array([0.0, -30.0, 0.0]), c + np.array([35.0, 25.0, 0.0])]
    _press_key(window, panel.vtk_widget, Qt.Key.Key_P)
    for p in targets:
        _click(panel, p)
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Return)
    assert window.markup_tools.tool is None
    (points_node,) = _plans(window, "point_list")
    points = points_node.data["points"]
    assert [p["label"] for p in points] == ["P-1", "P-2", "P-3"]
    pixel_mm = 2 * panel.view.renderer.GetActiveCamera().GetParallelScale() / panel.vtk_widget.height()
    for placed, target in zip(points, targets, strict=True):
        assert np.linalg.norm(np.asarray(placed["lps"]) - target) < 1.5 * pixel_mm
    # Rename the second point in the table with the keyboard.
    table = window.markups_table
    window.markups_dock.show()
    table.select(points_node)
    assert table.points_table.rowCount() == 3
    # Select the label cell and edit it with the keyboard, as a user does: F2, type, Enter.
    table.points_table.setCurrentCell(1, 0)
    table.points_table.setFocus()
    QTest.keyClick(table.points_table, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert editor is not table.points_table  # the cell editor opened
    QTest.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(editor, "Portal vein")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    QApplication.processEvents()  # the delegate commits the edit from a queued call
    assert [p["label"] for p in points_node.data["points"]] == ["P-1", "Portal vein", "P-3"]
    assert "Portal vein" in window.markup_display.slice_layers[panel].text(points_node.id)[1]
    # Ctrl+Z undoes the rename, Ctrl+Y redoes it.
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert points_node.data["points"][1]["label"] == "P-2"
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert points_node.data["points"][1]["label"] == "Portal vein"
    # Saved with the case and shown again when it is reopened.
    path = save_case(window.case, tmp_path / "with-points")
    window.set_case(load_case(path))
    (reopened,) = _plans(window, "point_list")
    assert [p["label"] for p in reopened.data["points"]] == ["P-1", "Portal vein", "P-3"]
    np.testing.assert_allclose([p["lps"] for p in reopened.data["points"]], [p["lps"] for p in points])
    assert window.markup_display.slice_layers[panel].is_visible(reopened.id)
    assert window.markups_table.table.rowCount() == 1


def test_points_are_placed_on_the_models_in_the_3d_view(demo_window):
    window = demo_window
    window.three_d.show_standard_view("anterior")
    window.render_all()
    # The most anterior vertex of all models: nothing lies in front of it seen from the front.
    vertices = np.concatenate([m.mesh.points for m in window.case.meshes])
    front = vertices[np.argmin(vertices[:, 1])]
    widget = window.three_d.vtk_widget
    pos = widget_position(window.three_d.scene.renderer, widget, front)
    _press_key(window, window.axial.vtk_widget, Qt.Key.Key_P)
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, NO, pos)
    # A click beside every model still rotates the camera instead of placing a point.
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, NO, QPoint(5, 5))
    _press_key(window, widget, Qt.Key.Key_Return)
    (points_node,) = _plans(window, "point_list")
    (placed,) = points_node.data["points"]
    pixel_mm = 2 * window.three_d.scene.renderer.GetActiveCamera().GetParallelScale() / widget.height() \
        if window.three_d.scene.renderer.GetActiveCamera().GetParallelProjection() else 2.0
    assert np.linalg.norm(vertices - placed["lps"], axis=1).min() < max(1.5, pixel_mm)  # on a model's surface
    assert abs(placed["lps"][1] - front[1]) < max(1.5, pixel_mm)
    assert window.markup_display.layer_3d.is_visible(points_node.id)


def test_segment_volumes_are_listed_and_follow_edits(demo_window, qtbot):
    window = demo_window
    segmentation = window.case.segmentations[0]
    table = window.markups_table
    window.markups_dock.raise_()
    for segment in segmentation.segments:
        shown = float(table.segment_volume_text(segment.name))
        assert shown == pytest.approx(segmentation.volume_ml(segment.label_value), abs=0.01)
    # A new segment painted in shows its volume shortly after.
    mask = np.zeros(segmentation.labelmap.array.shape, bool)
    mask[10:14, 20:30, 20:30] = True
    segment = segmentation.add_segment("Block", (0.2, 0.8, 0.2), mask)
    expected = 4 * 10 * 10 * float(np.prod(segmentation.labelmap.spacing)) / 1000
    qtbot.waitUntil(lambda: table.segment_volume_text(segment.name) is not None, timeout=3000)
    assert float(table.segment_volume_text(segment.name)) == pytest.approx(expected, abs=0.01)


def test_a_ruler_shows_in_3d_and_is_undone_with_ctrl_z(demo_window):
    window = demo_window
    panel = window.axial
    c = _centre(panel)
    _press_key(window, panel.vtk_widget, Qt.Key.Key_M)
    assert window.ruler_tool.active
    start, end = _pos(panel, c + np.array([-30.0, 0.0, 0.0])), _pos(panel, c + np.array([30.0, 0.0, 0.0]))
    QTest.mousePress(panel.vtk_widget, Qt.MouseButton.LeftButton, NO, start)
    QTest.mouseMove(panel.vtk_widget, end)
    QTest.mouseRelease(panel.vtk_widget, Qt.MouseButton.LeftButton, NO, end)
    (ruler,) = _plans(window, "ruler")
    assert ruler.data["length_mm"] == pytest.approx(60.0, abs=2.0)
    assert window.markup_display.layer_3d.is_visible(ruler.id)
    assert window.markups_table.table.item(0, 1).text() == "Ruler"
    # Another tool takes over the left button from the ruler.
    _press_key(window, panel.vtk_widget, Qt.Key.Key_G)
    assert not window.ruler_tool.active
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not _plans(window, "ruler")
    assert ruler.id not in window.markup_display.layer_3d


def test_placed_points_are_dragged_on_the_slice_and_the_move_is_one_undo_step(demo_window, qtbot):
    window = demo_window
    panel = window.axial
    panel.zoom(2.0)
    c = _centre(panel)
    a, b = c + np.array([60.0, 0.0, 0.0]), c + np.array([0.0, 60.0, 0.0])
    _press_key(window, panel.vtk_widget, Qt.Key.Key_G)
    for p in (a, c, b):
        _click(panel, p)
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Escape)  # the tool off: plain clicks again
    window.markup_tools.set_tool(None)
    angle = _plans(window, "angle")[0]
    assert angle.data["angle_deg"] == pytest.approx(90.0, abs=0.5)
    crosshair_before = np.asarray(panel.view.renderer.GetActiveCamera().GetFocalPoint())
    # Drag the arm's end at b round to 45 degrees from the other arm: the angle follows while the button is held.
    target = c + 60.0 * np.array([np.cos(np.radians(45.0)), np.sin(np.radians(45.0)), 0.0])
    start, end = _pos(panel, angle.data["points_lps"][2]), _pos(panel, target)
    widget = panel.vtk_widget
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, NO, start + QPoint(3, -2))  # near the point is enough
    for k in range(1, 6):
        QTest.mouseMove(widget, start + (end - start) * (k / 5))
    assert angle.data["angle_deg"] == pytest.approx(45.0, abs=1.0)  # live
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, NO, end)
    assert angle.data["angle_deg"] == pytest.approx(45.0, abs=1.0)
    assert np.allclose(angle.data["points_lps"][1], _plans(window, "angle")[0].data["points_lps"][1])  # vertex kept
    assert np.allclose(np.asarray(panel.view.renderer.GetActiveCamera().GetFocalPoint()), crosshair_before)
    assert window.markups_table.table.item(0, 2).text() == f"{angle.data['angle_deg']:.1f}°"
    # A click away from every point still moves the crosshair, not a point.
    before = angle.data
    _click(panel, c + np.array([-40.0, -40.0, 0.0]))
    assert angle.data == before
    # Ctrl+Z puts the point back where it was placed, in one step; Ctrl+Y moves it again.
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert angle.data["angle_deg"] == pytest.approx(90.0, abs=0.5)
    _press_key(window, panel.vtk_widget, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert angle.data["angle_deg"] == pytest.approx(45.0, abs=1.0)
    # A ruler's end is dragged the same way and its length follows.
    ruler = window.ruler_tool.add_ruler(c, c + np.array([50.0, 0.0, 0.0]))
    start, end = _pos(panel, ruler.data["p2_lps"]), _pos(panel, c + np.array([30.0, 0.0, 0.0]))
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, NO, start)
    QTest.mouseMove(widget, end)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, NO, end)
    assert ruler.data["length_mm"] == pytest.approx(30.0, abs=1.0)


def test_hovering_a_point_shows_a_hand_and_leaves_other_tools_cursors_alone(demo_window, qtbot):
    window = demo_window
    panel = window.axial
    c = _centre(panel)
    ruler = window.ruler_tool.add_ruler(c, c + np.array([40.0, 0.0, 0.0]))
    widget = panel.vtk_widget
    QTest.mouseMove(widget, _pos(panel, ruler.data["p2_lps"]))
    assert widget.cursor().shape() == Qt.CursorShape.OpenHandCursor
    QTest.mouseMove(widget, _pos(panel, c + np.array([-30.0, -30.0, 0.0])))
    assert widget.cursor().shape() == Qt.CursorShape.ArrowCursor
    _press_key(window, widget, Qt.Key.Key_G)  # the angle tool sets its own cursor
    tool_cursor = widget.cursor().shape()
    assert tool_cursor != Qt.CursorShape.ArrowCursor
    QTest.mouseMove(widget, _pos(panel, ruler.data["p2_lps"]))
    QTest.mouseMove(widget, _pos(panel, c + np.array([-30.0, -30.0, 0.0])))
    assert widget.cursor().shape() == tool_cursor
