"""Start the workstation: the Qt application, its look, the main window and the first case."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["create_application", "run_gui"]

log = logging.getLogger(__name__)


def create_application(argv: list[str] | None = None):
    """The ``QApplication`` (created once), named and styled for SurgiTwin."""
    from PySide6.QtGui import QSurfaceFormat
    from PySide6.QtWidgets import QApplication
    from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

    import rendering.vtk_init  # noqa: F401
    from app.ui.style import apply_style

    app = QApplication.instance()
    if app is None:
        default_format = getattr(QVTKRenderWindowInteractor, "defaultFormat", None)
        if callable(default_format):  # only the QOpenGLWidget flavour needs it, and before the application exists
            QSurfaceFormat.setDefaultFormat(default_format())
        QApplication.setApplicationName("SurgiTwin")
        QApplication.setOrganizationName("SurgiTwin")
        QApplication.setOrganizationDomain("surgitwin.org")
        QApplication.setApplicationDisplayName("SurgiTwin")
        app = QApplication(argv if argv is not None else sys.argv[:1])
    from PySide6.QtCore import QSettings

    from app.ui.preferences import saved_theme

    apply_style(app, saved_theme(QSettings()))
    return app


def run_gui(open_path: Path | str | None = None, demo_size: tuple[int, int, int] | None = None) -> int:
    """Open the workstation window and run until it is closed.

    Parameters
    ----------
    open_path : Path, optional
        DICOM folder, image file, or case bundle (folder or ``.zip``) to open at start.
    demo_size : tuple of int, optional
        Open the demo case with a phantom of this ``(x, y, z)`` size.

    Returns
    -------
    int
        The event loop's exit status.
    """
    from PySide6.QtCore import QTimer

    from app.ui.main_window import MainWindow

    app = create_application()
    window = MainWindow()
    screen = app.primaryScreen()
    if window.preferences.restore_layout():
        window.show()
    elif screen is not None:
        available = screen.availableGeometry()
        width, height = min(1400, available.width()), min(900, available.height())
        window.resize(width, height)
        window.move(available.center() - window.rect().center())
        if available.width() < 1500 or available.height() < 950:
            window.showMaximized()
        else:
            window.show()
    else:
        window.show()

    def first_case() -> None:
        # Work a crash left behind comes first: opening something else now would bury it.
        if window.autosaver.offer_recovery() is not None:
            return
        if open_path is not None:
            window.open_path(Path(open_path))
        elif demo_size is not None:
            window.load_demo(tuple(demo_size))

    QTimer.singleShot(0, first_case)
    return int(app.exec())
