"""The ruler on the workstation: a real mouse drag between two known phantom points measures their distance."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.case import load_case, save_case
from tests.app.conftest import widget_position

pytestmark = pytest.mark.gui


def _widget_position(panel, point_lps) -> QPoint:
    return widget_position(panel.view.renderer, panel.vtk_widget, point_lps)


def test_a_dragged_ruler_measures_the_distance_between_two_known_points(demo_window, qtbot, tmp_path):
    window = demo_window
    panel = window.axial
    centre = np.asarray(panel.view.renderer.GetActiveCamera().GetFocalPoint())
    # Two points 80 mm apart on the current axial slice (left-right and antero-posterior components).
    a, b = centre + np.array([-40.0, -24.0, 0.0]), centre + np.array([24.0, 24.0, 0.0])
    true_mm = float(np.linalg.norm(b - a))
    window.ruler_tool.action.setChecked(True)
    widget = panel.vtk_widget
    start, end = _widget_position(panel, a), _widget_position(panel, b)
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(widget, (start + end) / 2)
    QTest.mouseMove(widget, end)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    rulers = [n for n in window.case.plans if n.plan_type == "ruler"]
    assert len(rulers) == 1
    assert rulers[0].data["length_mm"] == pytest.approx(true_mm, abs=0.5)
    assert panel.view.ruler_visible(rulers[0].id)
    panel.move_slice(5)  # a measurement belongs to its slice
    assert not panel.view.ruler_visible(rulers[0].id)
    # Saved with the case, shown again when the case is reopened.
    path = save_case(window.case, tmp_path / "with-ruler")
    window.set_case(load_case(path))
    reopened = [n for n in window.case.plans if n.plan_type == "ruler"]
    assert reopened[0].data["length_mm"] == pytest.approx(true_mm, abs=0.5)
    window.case.remove(reopened[0])
    assert reopened[0].id not in panel.view._rulers
