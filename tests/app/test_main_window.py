"""The workstation window: layout, background loading, the data panel, errors, save/load and the title."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox

from app.case import Case, MeshNode, SegmentationNode, VolumeNode
from app.ui.data_panel import COLOUR_COLUMN, NAME_COLUMN
from rendering.offscreen import capture_window
from tests.app.conftest import LOAD_TIMEOUT_MS

pytestmark = pytest.mark.gui



@pytest.fixture
def warnings(monkeypatch):
    """Record QMessageBox.warning calls instead of blocking."""
    calls: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: calls.append(text))
    return calls


def _image(panel) -> np.ndarray:
    return capture_window(panel.render_window)


def test_window_opens_with_four_views(window):
    assert [p.title for p in window.panels] == ["Axial", "3D", "Coronal", "Sagittal"]
    grid = window.centralWidget().layout()
    assert grid.itemAtPosition(0, 0).widget() is window.axial
    assert grid.itemAtPosition(0, 1).widget() is window.three_d
    assert grid.itemAtPosition(1, 0).widget() is window.coronal
    assert grid.itemAtPosition(1, 1).widget() is window.sagittal
    assert all(p.vtk_widget.isVisible() for p in window.panels)
    assert window.windowTitle().endswith("SurgiTwin")
    assert window.preset_combo.count() > 3
    assert not window.progress_bar.isVisible()


def test_demo_loads_in_the_background_and_renders(demo_window):
    window = demo_window
    case = window.case
    assert len(case.volumes) == 1
    assert len(case.segmentations) == 1
    assert len(case.segmentations[0].segments) == 2
    assert len(case.meshes) == 2
    assert not window.progress_bar.isVisible()
    assert "*" not in window.windowTitle()
    # Data panel: one item per node, segments as children, swatches.
    panel = window.data_panel
    for node in case:
        assert panel.item_for(node) is not None
    seg_item = panel.item_for(case.segmentations[0])
    assert seg_item.childCount() == 2
    # Views: demo window 400/40, slices through the focus point, every view drawn.
    for p in window.slice_panels:
        assert p.view.window_level == (400.0, 40.0)
        assert p.view.volume is not None
        assert p.slider.maximum() == p.view.slice_count - 1
    for p in window.panels:
        pixels = _image(p)
        assert pixels.std() > 10, p.title
    pixels = _image(window.three_d).reshape(-1, 3).astype(int)
    for mesh in case.meshes:
        shade = np.asarray(mesh.color) / max(mesh.color)
        # Some pixel has the mesh's hue: lit shading scales the colour, so compare normalised RGB.
        norm = pixels / np.maximum(pixels.max(axis=1, keepdims=True), 1)
        close = np.abs(norm - shade).max(axis=1) < 0.08
        assert np.count_nonzero(close & (pixels.max(axis=1) > 80)) > 50, mesh.name
    assert len(list(window.three_d.scene.keys())) == 2


def test_panel_checkbox_hides_the_mesh_actor(demo_window):
    window = demo_window
    mesh = window.case.meshes[0]
    item = window.data_panel.item_for(mesh)
    item.setCheckState(NAME_COLUMN, Qt.CheckState.Unchecked)
    assert mesh.visible is False
    assert window.three_d.scene.actor(mesh.id).GetVisibility() == 0
    item.setCheckState(NAME_COLUMN, Qt.CheckState.Checked)
    assert window.three_d.scene.actor(mesh.id).GetVisibility() == 1
    # A segment's checkbox hides it in the overlay.
    segmentation = window.case.segmentations[0]
    child = window.data_panel.item_for(segmentation).child(0)
    child.setCheckState(NAME_COLUMN, Qt.CheckState.Unchecked)
    assert segmentation.segments[0].visible is False


def test_model_changes_update_the_panel(demo_window):
    window = demo_window
    mesh = window.case.meshes[1]
    mesh.color = (0.1, 0.2, 0.9)
    swatch = window.data_panel.item_for(mesh).data(COLOUR_COLUMN, Qt.ItemDataRole.DecorationRole)
    assert (swatch.red(), swatch.green(), swatch.blue()) == (26, 51, 230)
    assert window.three_d.scene.actor(mesh.id).GetProperty().GetColor() == pytest.approx((0.1, 0.2, 0.9))
    mesh.visible = False
    assert window.data_panel.item_for(mesh).checkState(NAME_COLUMN) == Qt.CheckState.Unchecked
    window.case.remove(mesh)
    assert window.data_panel.item_for(mesh) is None
    assert mesh.id not in window.three_d.scene


def test_title_shows_unsaved_changes(demo_window):
    window = demo_window
    assert "*" not in window.windowTitle()
    assert window.case.name in window.windowTitle()
    window.case.meshes[0].name = "Pelvis"
    assert "*" in window.windowTitle()


def test_cancelling_a_load_keeps_the_current_case(window, qtbot):
    previous = window.case
    started = threading.Event()

    def slow(progress, cancel):
        started.set()
        while not cancel.wait(0.01):
            progress(0.5, "Waiting")
        raise InterruptedError("cancelled")

    window.run_task(slow, "Slow load")
    assert window.cancel_button.isVisible()
    assert started.wait(5)
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.tasks.busy and not window.cancel_button.isVisible(), timeout=5000)
    assert window.case is previous
    assert "Cancelled" in window.status_label.text()


def test_a_late_result_of_a_cancelled_load_is_ignored(window, qtbot):
    previous = window.case
    release = threading.Event()

    def late(progress, cancel):
        release.wait(5)
        return Case("Too late")

    window.run_task(late, "Late load")
    window.cancel_task()
    release.set()
    assert window.tasks.wait(5000)
    qtbot.wait(50)
    assert window.case is previous


def test_open_errors_are_reported_without_crashing(window, qtbot, tmp_path, warnings):
    window.open_path(tmp_path / "does-not-exist")
    assert warnings
    assert "no such file" in warnings[-1]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not DICOM")
    window.open_path(empty)
    qtbot.waitUntil(lambda: len(warnings) == 2, timeout=LOAD_TIMEOUT_MS)
    assert not window.tasks.busy
    assert window.status_label.text().startswith("Error")
    assert len(window.case) == 0


def test_save_and_reopen_round_trips(demo_window, qtbot, tmp_path, warnings):
    window = demo_window
    window.case.meshes[0].color = (0.2, 0.6, 0.3)
    window.case.volumes[0].name = "Renamed CT"
    assert "*" in window.windowTitle()
    target = tmp_path / "case.zip"
    assert window.save_to(target)
    assert target.is_file()
    assert "*" not in window.windowTitle()
    assert window.recent_files()[0] == str(target.absolute())
    window.open_path(target)
    qtbot.waitUntil(lambda: window.case.path is not None and window.case.path.name == "case.zip"
                    and not window.tasks.busy, timeout=LOAD_TIMEOUT_MS)
    case = window.case
    assert [v.name for v in case.volumes] == ["Renamed CT"]
    assert case.meshes[0].color == pytest.approx((0.2, 0.6, 0.3))
    assert [s.name for s in case.segmentations[0].segments] == ["Bone", "Vessels"]
    assert window.data_panel.item_for(case.meshes[0]) is not None
    assert not warnings


def test_slice_navigation_crosshair_and_layout(demo_window, qtbot):
    window = demo_window
    axial, coronal, sagittal = window.slice_panels
    start = axial.view.slice_index
    qtbot.keyClick(axial.vtk_widget, Qt.Key.Key_Up)
    assert axial.view.slice_index == start + 1
    assert axial.slider.value() == start + 1
    axial.slider.setValue(3)
    assert axial.view.slice_index == 3
    # Left click in the axial view moves coronal and sagittal to the clicked point.
    before = (coronal.view.slice_index, sagittal.view.slice_index)
    corner = QPoint(axial.vtk_widget.width() // 3, axial.vtk_widget.height() // 3)
    qtbot.mouseClick(axial.vtk_widget, Qt.MouseButton.LeftButton, pos=corner)
    point = axial.pick(corner)
    for view in (coronal.view, sagittal.view):  # each now shows the slice nearest the clicked point
        wanted = float(np.dot(point - window.case.volumes[0].volume.geometry.center_lps(), view._normal))
        assert abs(view.slice_offset_mm - wanted) <= view.slice_step_mm / 2 + 1e-6
    assert (coronal.view.slice_index, sagittal.view.slice_index) != before
    # Double-click maximises, again restores; number keys do the same.
    qtbot.mouseDClick(coronal.vtk_widget, Qt.MouseButton.LeftButton)
    assert window.maximised_view == 2
    assert not axial.isVisible()
    window.toggle_maximise(2)
    assert window.maximised_view is None
    assert axial.isVisible()
    # Window/level preset applies to the volume node and every slice view.
    index = next(i for i in range(window.preset_combo.count()) if window.preset_combo.itemData(i) == (1800.0, 400.0))
    window.preset_combo.activated.emit(index)
    assert window.case.volumes[0].window_level == (1800.0, 400.0)
    assert all(p.view.window_level == (1800.0, 400.0) for p in window.slice_panels)


def test_screenshot(demo_window):
    window = demo_window
    window.resize(1400, 900)
    image = window.screenshot()
    path = Path("/tmp/gui_test_window.png")
    assert image.save(str(path))
    assert path.stat().st_size > 10000


def test_nodes_added_later_appear(window, make_synthetic_case):
    case = window.case
    source = make_synthetic_case((32, 32, 24))
    volume = source.volumes[0]
    source.remove(volume)
    case.add(VolumeNode(volume.volume, "Late CT"))
    assert window.axial.view.volume is not None
    assert window.data_panel.group_item(VolumeNode).childCount() == 1
    mesh = source.meshes[0]
    source.remove(mesh)
    case.add(MeshNode(mesh.mesh, "Late model"))
    assert len(list(window.three_d.scene.keys())) == 1
    assert window.data_panel.group_item(SegmentationNode).isHidden()
    assert not window.data_panel.group_item(MeshNode).isHidden()


def test_opening_a_surface_file_adds_a_model_to_the_current_case(demo_window, qtbot, tmp_path):
    from imaging.mesh_io import write_mesh

    case = demo_window.case
    vessels = next(m for m in case.meshes if m.name == "Vessels")
    path = write_mesh(vessels.mesh, tmp_path / "exported_in_ras.stl", coordinates="RAS")
    demo_window.open_path(path)
    qtbot.waitUntil(lambda: len(case.meshes) == 3, timeout=20000)
    assert demo_window.case is case, "a model joins the open case instead of replacing it"
    imported = case.meshes[-1]
    assert imported.name == "exported_in_ras"
    # The file says SPACE=RAS: the model lands back exactly on the LPS vessels it came from (STL stores float32).
    from scipy.spatial import cKDTree

    assert imported.mesh.n_faces == vessels.mesh.n_faces
    gaps, _ = cKDTree(vessels.mesh.points).query(imported.mesh.points)
    assert gaps.max() < 1e-3
    assert imported.id in demo_window.three_d.scene
    assert "RAS" in demo_window.status_label.text()


def test_cursor_readout_shows_position_and_hounsfield_units(demo_window, qtbot):
    from PySide6.QtTest import QTest

    panel = demo_window.axial
    widget = panel.vtk_widget
    centre = QPoint(widget.width() // 2, widget.height() // 2)
    QTest.mouseMove(widget, centre)
    qtbot.waitUntil(lambda: "HU" in demo_window.cursor_label.text(), timeout=5000)
    point = panel.pick(centre)
    volume = demo_window.case.volumes[0].volume
    i, j, k = np.rint(volume.geometry.point_to_index(point)).astype(int)
    text = demo_window.cursor_label.text()
    assert text.endswith(f"HU {int(volume.array[k, j, i])}")
    assert f"{abs(point[2]):.1f}" in text
