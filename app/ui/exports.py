"""File > Export: a screenshot of any view, a turntable movie of the 3-D view, and the plan report (PDF or HTML).

Rendering must happen on the GUI thread (the views' OpenGL contexts live there), so the movie is made frame by
frame under a progress dialog whose Cancel stops it between frames and leaves no partial file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QProgressDialog

from app.report import Figure, build_report_content
from rendering.offscreen import capture_window
from rendering.turntable import MovieError, turntable_frames, write_movie

__all__ = ["Exports", "install_exports", "png_bytes"]

TURNTABLE_FRAMES = 72
TURNTABLE_FPS = 24


def png_bytes(pixels: np.ndarray) -> bytes:
    """``(height, width, 3)`` uint8 RGB as PNG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


class Exports:
    """The export actions of a workstation window."""

    def __init__(self, window) -> None:
        self.window = window
        menu = window.menuBar().actions()[0].menu()  # File
        export_menu = menu.addMenu("&Export")
        menu.insertMenu(window.quit_action, export_menu)
        menu.insertSeparator(window.quit_action)
        self.screenshot_action = QAction("&Screenshot of the active view…", window)
        self.screenshot_action.setShortcut(QKeySequence("Ctrl+Shift+P"))
        self.screenshot_action.triggered.connect(self.ask_screenshot)
        self.movie_action = QAction("&Turntable movie of the 3D view…", window)
        self.movie_action.triggered.connect(self.ask_movie)
        self.report_action = QAction("Plan &report (PDF or HTML)…", window)
        self.report_action.setShortcut(QKeySequence("Ctrl+Shift+R"))
        self.report_action.triggered.connect(self.ask_report)
        for action in (self.screenshot_action, self.movie_action, self.report_action):
            export_menu.addAction(action)
            window.addAction(action)

    # --- screenshots ----------------------------------------------------------------------------------------------
    @property
    def active_panel(self):
        """The view the user last clicked in (the 3-D view until then)."""
        return self.window.active_panel or self.window.three_d

    def view_pixels(self, panel) -> np.ndarray:
        """The current image of one view panel as RGB pixels."""
        self.window.render_all()
        return capture_window(panel.render_window)

    def save_screenshot(self, path: str | Path, panel=None) -> Path:
        """Save the view ``panel`` (default: the active view) as a PNG."""
        panel = panel or self.active_panel
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        Image.fromarray(self.view_pixels(panel)).save(path)
        self.window.status_label.setText(f"Saved a screenshot of the {panel.title} view to {path}")
        return path

    def ask_screenshot(self) -> None:
        """Ask where, then save the active view."""
        panel = self.active_panel
        suggestion = str(Path(self.window._start_dir()) / f"{self.window.case.name}-{panel.title}.png")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save screenshot", suggestion, "PNG image (*.png)")
        if path:
            try:
                self.save_screenshot(path, panel)
            except OSError as exc:
                self.window.show_error(f"Could not save the screenshot: {exc}")

    # --- turntable ------------------------------------------------------------------------------------------------
    def save_turntable(
        self, path: str | Path, frames: int = TURNTABLE_FRAMES, fps: float = TURNTABLE_FPS
    ) -> Path | None:
        """Turn the 3-D view's camera once around the anatomy and save the movie (``.mp4`` or animated ``.png``).

        Returns
        -------
        Path or None
            The movie, or None when cancelled (no file is left).

        Raises
        ------
        MovieError
            Unknown format or the encoder failed.
        """
        three_d = self.window.three_d
        self.window.render_all()
        dialog = QProgressDialog("Recording the turntable movie…", "Cancel", 0, frames, self.window)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)

        def progress(count: int) -> None:
            dialog.setValue(count)
            QApplication.processEvents()
            if dialog.wasCanceled():
                raise InterruptedError("cancelled")

        try:
            movie = write_movie(turntable_frames(three_d.scene.renderer, three_d.render_window, frames), path, fps,
                                progress)
        except InterruptedError:
            self.window.status_label.setText("Turntable movie cancelled")
            return None
        finally:
            dialog.close()
            self.window.render_all()
        self.window.status_label.setText(f"Saved the turntable movie to {movie}")
        return movie

    def ask_movie(self) -> None:
        """Ask where, then record the turntable movie."""
        suggestion = str(Path(self.window._start_dir()) / f"{self.window.case.name}-turntable.mp4")
        path, chosen = QFileDialog.getSaveFileName(self.window, "Save turntable movie", suggestion,
                                                   "MP4 video (*.mp4);;Animated PNG (*.png)")
        if not path:
            return
        if Path(path).suffix.lower() not in (".mp4", ".png", ".apng"):
            path += ".png" if "PNG" in chosen else ".mp4"
        try:
            self.save_turntable(path)
        except (MovieError, OSError) as exc:
            self.window.show_error(f"Could not save the movie: {exc}")

    # --- report ---------------------------------------------------------------------------------------------------
    def report_figures(self) -> list[Figure]:
        """A picture of each visible view, the 3-D view first."""
        window = self.window
        order = [window.three_d, *window.slice_panels]
        figures = []
        for panel in order:
            if panel.isVisible():
                figures.append(Figure(png_bytes(self.view_pixels(panel)), f"{panel.title} view"))
        return figures

    def save_report(self, path: str | Path) -> Path:
        """Write the plan report: PDF for ``.pdf``, self-contained HTML for ``.html``/``.htm``.

        Raises
        ------
        ValueError
            Another extension.
        ReportError, OSError
            The file could not be written.
        """
        from app.report.html_report import write_html
        from app.report.pdf_report import write_pdf
        from app.ui.main_window import APP_TITLE, app_version
        from app.ui.markup_tools import markup_summary

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".pdf", ".html", ".htm"):
            raise ValueError(f"{path.name}: a report is .pdf or .html")
        content = build_report_content(self.window.case, self.report_figures(), summary=markup_summary,
                                       software=f"{APP_TITLE} {app_version()}")
        written = write_pdf(content, path) if suffix == ".pdf" else write_html(content, path)
        self.window.status_label.setText(f"Saved the plan report to {written}")
        return written

    def ask_report(self) -> None:
        """Ask where, then write the plan report."""
        from app.report.pdf_report import ReportError

        suggestion = str(Path(self.window._start_dir()) / f"{self.window.case.name}-plan.pdf")
        path, chosen = QFileDialog.getSaveFileName(self.window, "Save plan report", suggestion,
                                                   "PDF document (*.pdf);;Web page (*.html)")
        if not path:
            return
        if Path(path).suffix.lower() not in (".pdf", ".html", ".htm"):
            path += ".html" if "html" in chosen else ".pdf"
        try:
            self.save_report(path)
        except (ReportError, OSError, ValueError) as exc:
            self.window.show_error(f"Could not save the report: {exc}")


def install_exports(window) -> Exports:
    """Add File > Export to ``window``."""
    return Exports(window)
