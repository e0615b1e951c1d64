"""The workstation's dark, low-glare look (reading rooms and operating theatres are dim)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["ACCENT", "QSS", "apply_style"]

ACCENT = "#e0a84a"

QSS = f"""
QMainWindow, QDialog {{ background: #1c1f24; }}
QWidget {{ color: #dde1e6; font-size: 10pt; }}
QToolTip {{ color: #f0f0f0; background: #2b3038; border: 1px solid #4a515c; padding: 4px; }}
QMenuBar {{ background: #23272e; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: #3a4250; }}
QMenu {{ background: #23272e; border: 1px solid #3a404a; }}
QMenu::separator {{ height: 1px; background: #3a404a; margin: 4px 8px; }}
QToolBar {{ background: #23272e; border: none; spacing: 4px; padding: 2px 4px; }}
QToolBar QToolButton {{ padding: 3px 8px; border-radius: 3px; }}
QToolBar QToolButton:hover {{ background: #3a4250; }}
QToolBar QToolButton:checked {{ background: #46506a; }}
QDockWidget {{ titlebar-close-icon: none; }}
QDockWidget::title {{ background: #23272e; padding: 5px 8px; font-weight: bold; }}
QTreeWidget {{ background: #191c21; alternate-background-color: #1e2228; border: none; }}
QTreeWidget::item {{ padding: 2px 0; }}
QTreeWidget::item:selected {{ background: #3a4250; }}
QHeaderView::section {{ background: #23272e; border: none; padding: 4px; }}
QStatusBar {{ background: #23272e; }}
QStatusBar QLabel {{ padding: 0 6px; }}
QProgressBar {{ border: 1px solid #3a404a; border-radius: 3px; background: #191c21; text-align: center;
               max-height: 14px; min-width: 180px; }}
QProgressBar::chunk {{ background: {ACCENT}; }}
QPushButton, QComboBox {{ background: #2f3540; border: 1px solid #444c58; border-radius: 3px; padding: 3px 10px; }}
QPushButton:hover, QComboBox:hover {{ background: #3a4250; }}
QComboBox QAbstractItemView {{ background: #23272e; selection-background-color: #3a4250; }}
QFrame#ViewPanel {{ background: #000000; border: 1px solid #2c3139; }}
QFrame#ViewPanel[active="true"] {{ border: 1px solid {ACCENT}; }}
QSlider::groove:vertical {{ background: #2b3038; width: 4px; border-radius: 2px; }}
QSlider::handle:vertical {{ background: {ACCENT}; height: 14px; margin: 0 -5px; border-radius: 3px; }}
QSlider {{ background: #111317; }}
"""


def apply_style(app: QApplication) -> None:
    """Give ``app`` the Fusion style, a dark palette and the SurgiTwin style sheet."""
    app.setStyle("Fusion")
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#1c1f24",
        QPalette.ColorRole.WindowText: "#dde1e6",
        QPalette.ColorRole.Base: "#191c21",
        QPalette.ColorRole.AlternateBase: "#1e2228",
        QPalette.ColorRole.ToolTipBase: "#2b3038",
        QPalette.ColorRole.ToolTipText: "#f0f0f0",
        QPalette.ColorRole.Text: "#dde1e6",
        QPalette.ColorRole.Button: "#2f3540",
        QPalette.ColorRole.ButtonText: "#dde1e6",
        QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Highlight: "#46506a",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: ACCENT,
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6b717a"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6b717a"))
    app.setPalette(palette)
    app.setStyleSheet(QSS)
