"""Oblique slices from the mouse: Ctrl+left drag tilts a slice view's plane; O puts it back."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.ui.views import TILT_DEGREES_PER_PIXEL

pytestmark = pytest.mark.gui


def test_ctrl_drag_tilts_the_plane_about_the_crosshair_and_o_resets_it(demo_window, qtbot) -> None:
    panel = demo_window.axial
    widget = panel.vtk_widget
    centre = QPoint(widget.width() // 2, widget.height() // 2)
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)  # crosshair here
    pivot = panel.view.crosshair_point
    standard = np.asarray(panel.view.axes.normal)
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, centre)
    for step in range(1, 6):
        QTest.mouseMove(widget, centre + QPoint(0, 10 * step))
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, centre + QPoint(0, 50))
    tilted = np.asarray(panel.view.axes.normal)
    angle = np.degrees(np.arccos(np.clip(tilted @ standard, -1, 1)))
    assert angle == pytest.approx(50 * TILT_DEGREES_PER_PIXEL, abs=0.01)
    assert panel.view.oblique
    assert "oblique" in panel.view._title.GetInput()
    focal = np.asarray(panel.view.renderer.GetActiveCamera().GetFocalPoint())
    assert (pivot - focal) @ tilted == pytest.approx(0.0, abs=1e-6)  # the plane still passes through the crosshair
    assert panel.slider.maximum() + 1 == panel.view.slice_count

    QTest.keyClick(widget, Qt.Key.Key_O)
    assert not panel.view.oblique
    assert np.allclose(panel.view.axes.normal, standard)
