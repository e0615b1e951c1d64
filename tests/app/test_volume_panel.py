"""The Volume rendering dock and the 3-D view driven with real mouse events: curve editor, presets, shift,
volume on/off, clipping box and planes, level of detail while rotating."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QHBoxLayout, QWidget

from app.ui.views import ThreeDPanel
from app.ui.volume_panel import VolumePanel
from imaging.meshing import mesh_from_mask
from imaging.phantom import generate_abdomen
from rendering.offscreen import capture_window
from tests.app.conftest import widget_position

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def phantom_ct():
    return generate_abdomen((64, 64, 48), seed=0).ct


@pytest.fixture(scope="module")
def aorta_mesh():
    phantom = generate_abdomen((64, 64, 48), seed=0)
    return mesh_from_mask(phantom.labels == 9, phantom.ct.geometry)


@pytest.fixture
def panel(qtbot, phantom_ct):
    """A 3-D view beside its volume panel, the phantom CT loaded, volume rendering off."""
    host = QWidget()
    layout = QHBoxLayout(host)
    three_d = ThreeDPanel()
    volume_panel = VolumePanel(three_d)
    layout.addWidget(three_d, 1)
    layout.addWidget(volume_panel)
    qtbot.addWidget(host)
    host.resize(640, 420)
    host.show()
    qtbot.waitExposed(host)
    volume_panel.set_volume(phantom_ct)
    yield volume_panel
    three_d.finalize()


def _point(editor, index: int) -> QPoint:
    return editor.opacity_point_position(index).toPoint()


def _drag(qtbot, widget, start: QPoint, end: QPoint, steps: int = 4) -> None:
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    for i in range(1, steps + 1):
        qtbot.mouseMove(widget, start + (end - start) * (i / steps))
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=end)


def test_dragging_a_curve_point_changes_the_rendered_transfer_function(panel, qtbot):
    qtbot.mouseClick(panel.show_check, Qt.MouseButton.LeftButton)
    vr = panel.scene.volume_rendering
    assert vr.visible
    assert vr.volume is panel.volume
    editor = panel.editor
    before = panel.transfer_function
    assert before.name == "CT angio"
    x, opacity = before.scalar_opacity[2]  # 166 HU, 0.69
    start = _point(editor, 2)
    end = QPoint(start.x() + 10, start.y() + (editor.opacity_to_y(0.2) - editor.opacity_to_y(opacity)))
    _drag(qtbot, editor, start, end)
    after = panel.transfer_function
    new_x, new_opacity = after.scalar_opacity[2]
    assert new_x == pytest.approx(editor.x_to_value(end.x()), abs=1.0)
    assert new_x > x + 5
    assert new_opacity == pytest.approx(0.2, abs=0.02)
    assert after.name == "Custom"
    assert panel.preset_combo.currentText() == "Custom"
    # What VTK renders follows the curve.
    vtk_opacity = vr.property.GetScalarOpacity()
    assert vtk_opacity.GetValue(new_x) == pytest.approx(new_opacity, abs=1e-3)
    assert vtk_opacity.GetValue(new_x) < before.opacity_at(new_x) - 0.3


def test_click_adds_a_point_and_right_click_removes_it(panel, qtbot):
    editor = panel.editor
    count = len(panel.transfer_function.scalar_opacity)
    plot = editor.plot_rect()
    spot = QPoint(int(plot.left() + 0.1 * plot.width()), int(plot.top() + 0.5 * plot.height()))
    qtbot.mouseClick(editor, Qt.MouseButton.LeftButton, pos=spot)
    tf = panel.transfer_function
    assert len(tf.scalar_opacity) == count + 1
    added = min(range(len(tf.scalar_opacity)), key=lambda i: abs(tf.scalar_opacity[i][0] - editor.x_to_value(spot.x())))
    assert tf.scalar_opacity[added][1] == pytest.approx(0.5, abs=0.03)
    qtbot.mouseClick(editor, Qt.MouseButton.RightButton, pos=_point(editor, added))
    assert len(panel.transfer_function.scalar_opacity) == count


def test_colour_strip_point_drags_sideways(panel, qtbot):
    qtbot.mouseClick(panel.show_check, Qt.MouseButton.LeftButton)
    editor = panel.editor
    before = panel.transfer_function.color[3]  # 214 HU, white
    start = editor.color_point_position(3).toPoint()
    _drag(qtbot, editor, start, QPoint(start.x() + 30, start.y()))
    after = panel.transfer_function.color[3]
    assert after[0] > before[0] + 10
    assert after[1:] == before[1:]
    assert panel.scene.volume_rendering.property.GetRGBTransferFunction().GetColor(after[0]) == pytest.approx(
        after[1:], abs=1e-3)


def test_presets_and_shift(panel, qtbot):
    qtbot.mouseClick(panel.show_check, Qt.MouseButton.LeftButton)
    combo = panel.preset_combo
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Home)  # a combo box changes its item on Home and emits `activated`
    assert combo.currentText() == "CT bone"
    prop = panel.scene.volume_rendering.property
    assert prop.GetScalarOpacity().GetValue(641.385) == pytest.approx(0.715686, abs=1e-4)
    panel.shift_slider.setFocus()
    qtbot.keyClick(panel.shift_slider, Qt.Key.Key_PageUp)  # one page = 10 HU
    shift = panel.shift_slider.value()
    assert shift != 0
    assert panel.transfer_function.scalar_opacity[2][0] == pytest.approx(641.385 + shift)
    assert prop.GetScalarOpacity().GetValue(641.385 + shift) == pytest.approx(0.715686, abs=1e-4)
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText() == "CT angio"
    assert panel.shift_slider.value() == 0


def test_volume_on_off_changes_the_3d_view(panel, qtbot):
    three_d = panel.three_d
    three_d.show_standard_view("anterior")
    off = capture_window(three_d.render_window).astype(int)
    qtbot.mouseClick(panel.show_check, Qt.MouseButton.LeftButton)
    three_d.show_standard_view("anterior")
    on = capture_window(three_d.render_window).astype(int)
    assert np.abs(on - off).max(axis=2).__gt__(40).mean() > 0.05, "the volume should cover part of the view"
    qtbot.mouseClick(panel.show_check, Qt.MouseButton.LeftButton)
    assert not panel.scene.volume_rendering.visible


def test_clipping_box_face_dragged_in_the_3d_view(panel, qtbot, aorta_mesh):
    panel.scene.set_mesh("aorta", aorta_mesh)
    qtbot.mouseClick(panel.show_check, Qt.MouseButton.LeftButton)
    three_d = panel.three_d
    three_d.show_standard_view("anterior")
    qtbot.mouseClick(panel.box_check, Qt.MouseButton.LeftButton)
    mapper = panel.scene.volume_rendering.mapper
    assert mapper.GetClippingPlanes().GetNumberOfItems() == 6
    before = three_d.clip_box.bounds.copy()
    # The handle in the middle of the box's top (superior) face; drag it halfway down.
    top_centre = [(before[0, 0] + before[1, 0]) / 2, (before[0, 1] + before[1, 1]) / 2, before[1, 2]]
    widget = three_d.vtk_widget
    start = widget_position(panel.scene.renderer, widget, top_centre)
    centre = widget_position(panel.scene.renderer, widget, (before[0] + before[1]) / 2)
    _drag(qtbot, widget, start, QPoint(start.x(), (start.y() + centre.y()) // 2), steps=6)
    after = three_d.clip_box.bounds
    assert after[1, 2] < before[1, 2] - 20, (before, after)
    assert after[0] == pytest.approx(before[0])
    planes = mapper.GetClippingPlanes()
    tops = [planes.GetItem(i) for i in range(6) if planes.GetItem(i).GetNormal()[2] < -0.5]
    assert tops[0].GetOrigin()[2] == pytest.approx(after[1, 2])
    # an axial plane on top of the box still needs 6 planes: it narrows the box
    qtbot.mouseClick(panel.plane_checks["axial"], Qt.MouseButton.LeftButton)
    assert mapper.GetClippingPlanes().GetNumberOfItems() == 6
    assert panel.scene.actor("aorta").GetMapper().GetClippingPlanes().GetNumberOfItems() == 6
    qtbot.mouseClick(panel.box_check, Qt.MouseButton.LeftButton)
    assert mapper.GetClippingPlanes().GetNumberOfItems() == 1
    qtbot.mouseClick(panel.plane_checks["axial"], Qt.MouseButton.LeftButton)
    assert mapper.GetClippingPlanes() is None or mapper.GetClippingPlanes().GetNumberOfItems() == 0


def test_rotating_uses_the_coarse_level_of_detail_then_refines(panel, qtbot):
    qtbot.mouseClick(panel.show_check, Qt.MouseButton.LeftButton)
    three_d = panel.three_d
    three_d.show_standard_view("anterior")
    scene, widget = panel.scene, three_d.vtk_widget
    camera = scene.renderer.GetActiveCamera()
    direction = np.array(camera.GetDirectionOfProjection())
    centre = QPoint(widget.width() // 2, widget.height() // 2)
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(widget, centre + QPoint(40, 0))
    qtbot.mouseMove(widget, centre + QPoint(80, 0))
    assert scene.interacting
    assert scene.volume_rendering.mapper.GetImageSampleDistance() >= 2.0
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=centre + QPoint(80, 0))
    assert np.dot(direction, camera.GetDirectionOfProjection()) < 0.99, "the drag should rotate the camera"
    qtbot.waitUntil(lambda: not scene.interacting, timeout=3000)
    assert scene.volume_rendering.mapper.GetImageSampleDistance() == 1.0


def test_the_window_dock_follows_the_demo_volume_and_v_toggles_it(demo_window, qtbot):
    panel = demo_window.volume_panel
    assert panel.volume is demo_window.case.volumes[0].volume
    assert panel.show_check.isEnabled()
    assert demo_window.volume_dock.toggleViewAction() in demo_window.view_menu.actions()
    demo_window.activateWindow()  # window shortcuts need the active window, as for the user
    QTest.qWaitForWindowActive(demo_window, 2000)
    demo_window.three_d.vtk_widget.setFocus()
    qtbot.keyClick(demo_window.three_d.vtk_widget, Qt.Key.Key_V)
    assert panel.show_check.isChecked()
    assert panel.scene.volume_rendering.visible
    assert panel.scene.volume_rendering.volume is panel.volume
    qtbot.keyClick(demo_window.three_d.vtk_widget, Qt.Key.Key_V)
    assert not panel.scene.volume_rendering.visible
    assert not demo_window.volume_action.isChecked()


def test_volume_rendering_settings_are_saved_with_the_case(demo_window, qtbot, tmp_path):
    window = demo_window
    panel = window.volume_panel
    node = window.case.volumes[0]
    assert node.volume_rendering is None  # nothing chosen yet: nothing written into the case
    panel.set_volume_visible(True)
    panel.apply_preset("ct_bone")
    panel.set_shift(120.0)
    saved = node.volume_rendering
    assert saved["visible"] is True
    assert saved["shift"] == 120.0
    assert saved["transfer_function"]["name"] == panel._base.name
    bundle = tmp_path / "case"
    assert window.save_to(bundle)
    panel.apply_preset("ct_angio")  # what the window shows now differs from the saved case
    panel.set_volume_visible(False)
    window.open_path(bundle)
    qtbot.waitUntil(lambda: not window.tasks.busy and window.case.volumes
                    and window.case.volumes[0] is not node, timeout=30000)
    qtbot.waitUntil(lambda: panel.node is window.case.volumes[0], timeout=5000)
    assert panel.show_check.isChecked()
    assert panel.scene.volume_rendering.visible
    assert panel.scene.volume_rendering.volume is window.case.volumes[0].volume
    assert panel._base.name == saved["transfer_function"]["name"]
    assert panel.transfer_function == panel._base.shifted(120.0)
    assert panel.shift_slider.value() == 120
    assert window.case.volumes[0].volume_rendering == saved


def test_a_curve_drag_is_kept_in_the_case_once_when_it_ends(demo_window, qtbot):
    panel = demo_window.volume_panel
    node = demo_window.case.volumes[0]
    panel.set_volume_visible(True)
    changes: list[str] = []
    node.changed.connect(changes.append)
    editor = panel.editor
    start = _point(editor, 2)
    end = QPoint(start.x() + 12, start.y() + 20)
    qtbot.mousePress(editor, Qt.MouseButton.LeftButton, pos=start)
    for i in range(1, 6):
        qtbot.mouseMove(editor, start + (end - start) * (i / 5))
    assert changes == []  # the case is not edited on every mouse move of the drag ...
    qtbot.mouseRelease(editor, Qt.MouseButton.LeftButton, pos=end)
    assert changes == ["display"]  # ... but once, with the curve where it was dropped
    assert node.volume_rendering["transfer_function"] == panel._base.to_dict()
