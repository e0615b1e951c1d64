"""The workstation's look: a dark, low-glare theme (reading rooms and theatres are dim) and a light one (offices,
printed screenshots). Both use the same accent, so the active view and progress read the same in either."""

from __future__ import annotations

from string import Template

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["ACCENT", "DEFAULT_THEME", "QSS", "THEMES", "apply_style", "current_theme", "style_sheet"]

ACCENT = "#e0a84a"
DEFAULT_THEME = "dark"

# Colour roles per theme: window, panel (bars, docks' titles), base (lists), alternate rows, text, dim text,
# button, button hover, selection, border; then the tool docks' (Segment Editor, Soft tissue) tool buttons, checked
# tool, hints, inset boxes, primary button and section titles.
THEMES: dict[str, dict[str, str]] = {
    "dark": {
        "window": "#1c1f24", "panel": "#23272e", "base": "#191c21", "alternate": "#1e2228", "text": "#dde1e6",
        "dim": "#6b717a", "button": "#2f3540", "hover": "#3a4250", "selection": "#46506a", "border": "#3a404a",
        "tooltip": "#2b3038", "slider": "#111317",
        "tool": "#2a2f38", "tool_border": "#3d4450", "tool_hover": "#364050", "checked": "#4a3c22",
        "checked_text": "#ffe2b0", "hint": "#9aa3ad", "inset": "#20242b", "inset_border": "#333a44",
        "primary": "#5a4522", "primary_hover": "#6d5429", "accent_text": "#e0a84a",
    },
    "light": {
        "window": "#f3f4f6", "panel": "#e4e7eb", "base": "#ffffff", "alternate": "#f1f3f5", "text": "#1d2228",
        "dim": "#8a9098", "button": "#ffffff", "hover": "#d7dde6", "selection": "#c4d3ea", "border": "#b9c0ca",
        "tooltip": "#ffffe8", "slider": "#d9dde3",
        "tool": "#ffffff", "tool_border": "#b9c0ca", "tool_hover": "#d7dde6", "checked": "#f6e3bd",
        "checked_text": "#5a3d00", "hint": "#5f666f", "inset": "#eef0f3", "inset_border": "#c9ced6",
        "primary": "#f0d29c", "primary_hover": "#e8c27f", "accent_text": "#95600c",
    },
}

_QSS = Template("""
QMainWindow, QDialog { background: $window; }
QWidget { color: $text; font-size: 10pt; }
QToolTip { color: $text; background: $tooltip; border: 1px solid $border; padding: 4px; }
QMenuBar { background: $panel; }
QMenuBar::item:selected, QMenu::item:selected { background: $hover; }
QMenu { background: $panel; border: 1px solid $border; }
QMenu::separator { height: 1px; background: $border; margin: 4px 8px; }
QToolBar { background: $panel; border: none; spacing: 4px; padding: 2px 4px; }
QToolBar QToolButton { padding: 3px 8px; border-radius: 3px; }
QToolBar QToolButton:hover { background: $hover; }
QToolBar QToolButton:checked { background: $selection; }
QDockWidget { titlebar-close-icon: none; }
QDockWidget::title { background: $panel; padding: 5px 8px; font-weight: bold; }
QTreeWidget { background: $base; alternate-background-color: $alternate; border: none; }
QTreeWidget::item { padding: 2px 0; }
QTreeWidget::item:selected { background: $selection; }
QHeaderView::section { background: $panel; border: none; padding: 4px; }
QStatusBar { background: $panel; }
QStatusBar QLabel { padding: 0 6px; }
QProgressBar { border: 1px solid $border; border-radius: 3px; background: $base; text-align: center;
               max-height: 14px; min-width: 180px; }
QProgressBar::chunk { background: $accent; }
QPushButton, QComboBox { background: $button; border: 1px solid $border; border-radius: 3px; padding: 3px 10px; }
QPushButton:hover, QComboBox:hover { background: $hover; }
QComboBox QAbstractItemView { background: $panel; selection-background-color: $hover; }
QFrame#ViewPanel { background: #000000; border: 1px solid $border; }
QFrame#ViewPanel[active="true"] { border: 1px solid $accent; }
QSlider::groove:vertical { background: $border; width: 4px; border-radius: 2px; }
QSlider::handle:vertical { background: $accent; height: 14px; margin: 0 -5px; border-radius: 3px; }
QSlider { background: $slider; }
QWidget#SegmentEditorPanel QToolButton, QWidget#TissuePanel QToolButton { background: $tool;
    border: 1px solid $tool_border; border-radius: 4px; padding: 5px 4px; min-height: 18px; }
QWidget#SegmentEditorPanel QToolButton:hover, QWidget#TissuePanel QToolButton:hover { background: $tool_hover; }
QWidget#SegmentEditorPanel QToolButton:checked, QWidget#TissuePanel QToolButton:checked { background: $checked;
    border: 1px solid $accent; color: $checked_text; font-weight: bold; }
QWidget#SegmentEditorPanel QLabel[role="section"], QWidget#TissuePanel QLabel[role="section"] { color: $accent_text;
    font-weight: bold; padding-top: 6px; }
QWidget#SegmentEditorPanel QLabel[role="hint"], QWidget#TissuePanel QLabel[role="hint"] { color: $hint;
    font-style: italic; }
QWidget#SegmentEditorPanel QFrame#ToolOptions, QWidget#TissuePanel QLabel#Report { background: $inset; color: $text;
    border: 1px solid $inset_border; border-radius: 4px; }
QWidget#TissuePanel QLabel#Report { padding: 6px; }
QWidget#SegmentEditorPanel QPushButton#Primary, QWidget#TissuePanel QPushButton#Primary { background: $primary;
    border: 1px solid $accent; }
QWidget#SegmentEditorPanel QPushButton#Primary:hover, QWidget#TissuePanel QPushButton#Primary:hover {
    background: $primary_hover; }
QWidget#SegmentEditorPanel QSlider::groove:horizontal { background: $tool_border; height: 4px; border-radius: 2px; }
QWidget#SegmentEditorPanel QSlider::handle:horizontal { background: $accent; width: 12px; margin: -5px 0;
    border-radius: 3px; }
QWidget#SegmentEditorPanel QDoubleSpinBox { background: $base; border: 1px solid $tool_border; border-radius: 3px;
    padding: 2px 4px; }
""")


def style_sheet(theme: str = DEFAULT_THEME) -> str:
    """The Qt style sheet of ``theme`` (``dark`` or ``light``)."""
    return _QSS.substitute(THEMES[theme], accent=ACCENT)


QSS = style_sheet(DEFAULT_THEME)


def apply_style(app: QApplication, theme: str = DEFAULT_THEME) -> None:
    """Give ``app`` the Fusion style, the palette and the style sheet of ``theme``.

    Raises
    ------
    ValueError
        ``theme`` is not one of :data:`THEMES`.
    """
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}; choose one of {', '.join(THEMES)}")
    colours = THEMES[theme]
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: colours["window"],
        QPalette.ColorRole.WindowText: colours["text"],
        QPalette.ColorRole.Base: colours["base"],
        QPalette.ColorRole.AlternateBase: colours["alternate"],
        QPalette.ColorRole.ToolTipBase: colours["tooltip"],
        QPalette.ColorRole.ToolTipText: colours["text"],
        QPalette.ColorRole.Text: colours["text"],
        QPalette.ColorRole.Button: colours["button"],
        QPalette.ColorRole.ButtonText: colours["text"],
        QPalette.ColorRole.BrightText: "#d43c3c",
        QPalette.ColorRole.Highlight: colours["selection"],
        QPalette.ColorRole.HighlightedText: colours["text"],
        QPalette.ColorRole.Link: ACCENT,
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(colours["dim"]))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(colours["dim"]))
    app.setPalette(palette)
    app.setStyleSheet(style_sheet(theme))
    app.setProperty("surgitwin_theme", theme)


def current_theme(app: QApplication) -> str:
    """The theme last applied to ``app`` (the default before any)."""
    value = app.property("surgitwin_theme")
    return str(value) if value in THEMES else DEFAULT_THEME
