"""Preferences: the theme menu restyles the running application and persists; the layout comes back."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from app.ui.style import DEFAULT_THEME, THEMES, apply_style, style_sheet

pytestmark = pytest.mark.gui


@pytest.fixture
def restore_theme(qapp):
    apply_style(qapp, DEFAULT_THEME)  # as the application starts
    yield
    apply_style(qapp, DEFAULT_THEME)


def luminance(colour) -> float:
    return 0.2126 * colour.redF() + 0.7152 * colour.greenF() + 0.0722 * colour.blueF()


def test_each_theme_has_a_complete_style_sheet() -> None:
    for theme in THEMES:
        sheet = style_sheet(theme)
        assert "$" not in sheet
        assert THEMES[theme]["window"] in sheet
    with pytest.raises(ValueError, match="unknown theme 'sepia'"):
        apply_style(QApplication.instance(), "sepia")


def test_theme_menu_switches_and_is_remembered(window, qtbot, tmp_path: Path, restore_theme) -> None:
    app = QApplication.instance()
    assert luminance(app.palette().color(QPalette.ColorRole.Window)) < 0.2  # dark by default
    window.preferences.theme_actions["light"].trigger()
    assert window.preferences.theme == "light"
    assert luminance(app.palette().color(QPalette.ColorRole.Window)) > 0.9
    assert luminance(window.menuBar().palette().color(QPalette.ColorRole.WindowText)) < 0.2  # readable text
    shot = window.grab().toImage()
    assert luminance(shot.pixelColor(5, window.menuBar().height() // 2)) > 0.8  # the menu bar is light now
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert settings.value("appearance/theme") == "light"

    from app.ui.main_window import MainWindow

    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    assert second.preferences.theme_actions["light"].isChecked()


def test_layout_and_autosave_interval_survive_a_restart(window, qtbot, tmp_path: Path) -> None:
    window.data_dock.hide()
    window.preferences.set_autosave_minutes(7.5)
    window.ask_before_discard = False
    window.close()
    assert window.preferences.settings.value("window/state") is not None

    from app.ui.main_window import MainWindow

    second = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    assert second.preferences.restore_layout()
    second.show()
    qtbot.waitExposed(second)
    assert not second.data_dock.isVisible()
    assert second.autosaver.minutes == pytest.approx(7.5)
    assert second.dockWidgetArea(second.data_dock) == Qt.DockWidgetArea.LeftDockWidgetArea


def test_segment_drawing_menu_outlines_and_fades_the_overlay(demo_window, qtbot, tmp_path: Path) -> None:
    from rendering.offscreen import capture_window

    window = demo_window
    panel = window.coronal

    def overlay_pixels() -> int:
        window.render_all()
        image = capture_window(panel.render_window).astype(int)
        return int(((image[..., 0] - image[..., 1]) > 60).sum())  # reddish: the vessel segment over grey CT

    filled = overlay_pixels()
    window.preferences.outline_action.trigger()  # fill + outline
    window.preferences.fill_action.trigger()  # outline only
    assert panel.view.overlay_style == (False, True)
    outlined = overlay_pixels()
    assert 0 < outlined < filled
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert settings.value("display/segments_outlined") in (True, "true")

    window.preferences.fill_action.trigger()
    window.preferences.outline_action.trigger()  # back to filled only
    segmentation = window.case.segmentations[0]
    window.preferences._sync_opacity()
    slider = window.preferences.opacity_slider
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Home)  # real key presses on the slider: fully transparent
    assert segmentation.opacity == 0.0
    assert overlay_pixels() < 0.05 * filled
    qtbot.keyClick(slider, Qt.Key.Key_End)
    assert segmentation.opacity == 1.0
