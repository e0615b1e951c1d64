"""Preferences kept between sessions (QSettings): theme, window layout, autosave interval.

Each preference is applied the moment it is chosen and written at once, so a crash never loses a choice.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QApplication, QHBoxLayout, QInputDialog, QLabel, QSlider, QWidget, QWidgetAction

from app.ui.style import DEFAULT_THEME, THEMES, apply_style, current_theme

__all__ = ["THEME_KEY", "Preferences", "install_preferences", "saved_theme"]

THEME_KEY = "appearance/theme"
GEOMETRY_KEY = "window/geometry"
STATE_KEY = "window/state"
FILL_KEY = "display/segments_filled"
OUTLINE_KEY = "display/segments_outlined"
# Bumped when docks or toolbars change so much that an old saved layout would misplace them.
LAYOUT_VERSION = 1


def _as_bool(value) -> bool:
    """A QSettings value as bool (INI files give the strings "true"/"false")."""
    return value.lower() == "true" if isinstance(value, str) else bool(value)


def saved_theme(settings) -> str:
    """The theme stored in ``settings`` (the default when missing or unknown)."""
    value = str(settings.value(THEME_KEY, DEFAULT_THEME))
    return value if value in THEMES else DEFAULT_THEME


class Preferences:
    """The View menu's theme, segment drawing (filled, outlined, opacity) and autosave interval, and the window
    layout saved on close."""

    def __init__(self, window) -> None:
        self.window = window
        self.settings = window.settings
        menu = window.view_menu.addMenu("&Theme")
        self.theme_actions: dict[str, QAction] = {}
        group = QActionGroup(window)
        group.setExclusive(True)
        active = saved_theme(self.settings)
        for name in THEMES:
            action = QAction(name.capitalize(), window, checkable=True)
            action.setChecked(name == active)
            action.triggered.connect(lambda _c=False, n=name: self.set_theme(n))
            group.addAction(action)
            menu.addAction(action)
            self.theme_actions[name] = action
        overlay = window.view_menu.addMenu("&Segments on slices")
        self.fill_action = QAction("&Filled", window, checkable=True)
        self.outline_action = QAction("&Outlined", window, checkable=True)
        self.outline_action.setShortcut("Ctrl+Shift+L")
        for action, key, default in ((self.fill_action, FILL_KEY, True), (self.outline_action, OUTLINE_KEY, False)):
            action.setChecked(_as_bool(self.settings.value(key, default)))
            action.toggled.connect(self._apply_overlay_style)
            overlay.addAction(action)
            window.addAction(action)
        self._apply_overlay_style()
        overlay.addSeparator()
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setToolTip("Opacity of filled segments on the slices")
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(24, 2, 8, 2)
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.opacity_slider)
        slider_action = QWidgetAction(window)
        slider_action.setDefaultWidget(holder)
        overlay.addAction(slider_action)
        overlay.aboutToShow.connect(self._sync_opacity)
        self.autosave_action = QAction("Autosave &interval…", window)
        self.autosave_action.triggered.connect(self.ask_autosave_interval)
        window.view_menu.addAction(self.autosave_action)

    def set_overlay_style(self, *, fill: bool, outline: bool) -> None:
        """Draw segments on the slice views filled, outlined, both or neither; remembered for later sessions."""
        self.fill_action.setChecked(fill)
        self.outline_action.setChecked(outline)
        self._apply_overlay_style()

    def _apply_overlay_style(self, *_args) -> None:
        fill, outline = self.fill_action.isChecked(), self.outline_action.isChecked()
        for panel in self.window.slice_panels:
            panel.view.set_overlay_style(fill=fill, outline=outline)
        self.settings.setValue(FILL_KEY, fill)
        self.settings.setValue(OUTLINE_KEY, outline)
        self.window.request_render()

    def _sync_opacity(self) -> None:
        segmentations = self.window.case.segmentations
        self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(round(100 * segmentations[0].opacity) if segmentations else 50)
        self.opacity_slider.setEnabled(bool(segmentations))
        self.opacity_slider.blockSignals(False)

    def _on_opacity(self, value: int) -> None:
        for segmentation in self.window.case.segmentations:
            segmentation.opacity = value / 100.0

    def set_theme(self, theme: str) -> None:
        """Switch the whole application to ``theme`` and remember it."""
        app = QApplication.instance()
        apply_style(app, theme)
        self.theme_actions[theme].setChecked(True)
        self.settings.setValue(THEME_KEY, theme)
        self.settings.sync()

    @property
    def theme(self) -> str:
        """The theme in use."""
        return current_theme(QApplication.instance())

    def set_autosave_minutes(self, minutes: float) -> None:
        """Autosave every ``minutes`` (0: off) from now on and in later sessions."""
        self.window.autosaver.set_interval(minutes)
        self.settings.setValue("autosave/minutes", float(minutes))
        self.settings.sync()

    def ask_autosave_interval(self) -> None:
        """Ask for the autosave interval in minutes."""
        current = self.window.autosaver.minutes
        minutes, ok = QInputDialog.getDouble(self.window, "Autosave", "Autosave every (minutes, 0 = off):",
                                             current, 0.0, 120.0, 1)
        if ok:
            self.set_autosave_minutes(minutes)

    def save_layout(self) -> None:
        """Remember the window's size, position, docks and toolbars."""
        self.settings.setValue(GEOMETRY_KEY, self.window.saveGeometry())
        self.settings.setValue(STATE_KEY, self.window.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def restore_layout(self) -> bool:
        """Put the window back as it was last closed; False when nothing (usable) was saved."""
        geometry, state = self.settings.value(GEOMETRY_KEY), self.settings.value(STATE_KEY)
        if geometry is None or state is None:
            return False
        return bool(self.window.restoreGeometry(geometry)) and bool(self.window.restoreState(state, LAYOUT_VERSION))


def install_preferences(window) -> Preferences:
    """Add the preference menus to ``window``."""
    return Preferences(window)
