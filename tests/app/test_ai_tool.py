"""The AI box tool on the workstation: a real mouse drag on a slice view segments a phantom kidney with LiteMedSAM,
Propagate extends it through the neighbouring slices, and each step is one undoable command."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.ui.segment_editor import install_segment_editor
from imaging.phantom import generate_abdomen
from tests.app.conftest import DEMO_SIZE, widget_position
from tests.conftest import require_data

pytestmark = pytest.mark.gui

TIMEOUT_MS = 180_000
KIDNEY_RIGHT = 8


def _widget_position(panel, point_lps) -> QPoint:
    return widget_position(panel.view.renderer, panel.vtk_widget, point_lps)


def _drag(widget, start: QPoint, end: QPoint) -> None:
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(widget, (start + end) / 2)
    QTest.mouseMove(widget, end)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / max(np.count_nonzero(a) + np.count_nonzero(b), 1)


def test_box_drag_segments_the_kidney_and_propagation_is_one_undo_step(demo_window, qtbot):
    require_data("models/litemedsam.json")
    window = demo_window
    editor = install_segment_editor(window)
    truth = generate_abdomen(DEMO_SIZE, seed=0).labels == KIDNEY_RIGHT
    geometry = window.case.volumes[0].volume.geometry
    k = int(np.argmax(truth.sum(axis=(1, 2))))
    rows, cols = np.nonzero(truth[k])
    # Box corners two voxels outside the kidney, as a user would drag them.
    corner_a = geometry.index_to_point([cols.min() - 2, rows.min() - 2, k])
    corner_b = geometry.index_to_point([cols.max() + 2, rows.max() + 2, k])
    panel = window.axial
    panel.view.set_slice_point(geometry.index_to_point([cols.mean(), rows.mean(), k]))
    window.render_all()
    value = editor.add_segment(None)
    editor.set_tool("ai")
    assert editor.panel.pages.currentWidget() is editor.ai_tool.page
    commands = len(editor.stack)
    _drag(panel.vtk_widget, _widget_position(panel, corner_a), _widget_position(panel, corner_b))
    qtbot.waitUntil(lambda: editor.ai_tool.last_box is not None and not editor.busy, timeout=TIMEOUT_MS)
    node = editor.segmentation
    mask = node.labelmap.array == value
    assert editor.ai_tool.last_box.axis == "axial"
    assert editor.ai_tool.last_box.index == k
    assert set(np.unique(np.nonzero(mask)[0])) == {k}  # that slice only
    assert _dice(mask[k], truth[k]) >= 0.8
    assert len(editor.stack) == commands + 1
    # Embeddings of the neighbouring slices are computed ahead in the background.
    model = editor.ai_tool.model()
    volume = editor.volume
    qtbot.waitUntil(lambda: model.has_embedding(volume, "axial", k + 1) and model.has_embedding(volume, "axial", k - 1),
                    timeout=TIMEOUT_MS)

    editor.ai_tool.propagate_button.click()
    qtbot.waitUntil(lambda: not editor.busy and not window.tasks.busy, timeout=TIMEOUT_MS)
    propagated = node.labelmap.array == value
    assert len(np.unique(np.nonzero(propagated)[0])) >= 3
    assert _dice(propagated, truth) > _dice(mask, truth)
    assert len(editor.stack) == commands + 2
    if os.environ.get("SURGITWIN_SCREENSHOTS"):  # for looking at the tool by eye
        window.render_all()
        window.grab().save(str(Path(os.environ["SURGITWIN_SCREENSHOTS"]) / "ai-box-propagated.png"))
    editor.undo()  # the whole propagation goes in one step
    np.testing.assert_array_equal(node.labelmap.array == value, mask)


def test_a_box_outside_the_image_or_without_area_changes_nothing(demo_window, qtbot):
    require_data("models/litemedsam.json")
    window = demo_window
    editor = install_segment_editor(window)
    value = editor.add_segment(None)
    editor.set_tool("ai")
    node = editor.segmentation
    before = node.labelmap.array.copy()
    commands = len(editor.stack)
    centre = np.asarray(window.axial.view.renderer.GetActiveCamera().GetFocalPoint())
    shift = np.array([20.0, 20.0, 0.0])
    normal = window.axial.view.orientation.axes.normal
    editor.ai_tool.segment_box(centre, centre.copy(), normal)
    assert "no area" in editor.panel.status.text()
    far = centre + 250 * shift
    editor.ai_tool.segment_box(far, far + shift, normal)
    assert "no area" in editor.panel.status.text() or "outside" in editor.panel.status.text()
    qtbot.wait(50)
    assert not editor.busy
    np.testing.assert_array_equal(node.labelmap.array, before)
    assert len(editor.stack) == commands
    assert value in [s.label_value for s in node.segments]


def test_brain_models_refuse_a_ct_with_a_plain_message(demo_window):
    require_data("models/meshnet_model5_gw_ae.json")
    editor = install_segment_editor(demo_window)
    layers = len(demo_window.case.segmentations)
    editor.ai_tool.run_brain_model("brain-tissue")
    assert "T1" in editor.panel.status.text()
    assert "CT" in editor.panel.status.text()
    assert not editor.busy
    assert len(demo_window.case.segmentations) == layers
