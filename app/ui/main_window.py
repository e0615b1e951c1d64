"""The workstation window: four views, the data panel, menus, and background loading."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from app.case import Case, CaseBundleError, MeshNode, VolumeNode, load_case, save_case
from app.ui.autosave import install_autosave
from app.ui.case_controller import CaseController
from app.ui.data_panel import DataPanel
from app.ui.exports import install_exports
from app.ui.flow_panel import install_flow_panel
from app.ui.markup_drag import install_markup_dragger
from app.ui.markup_tools import install_markup_tools
from app.ui.markups_table import install_markups_table
from app.ui.pacs_browser import install_pacs_browser
from app.ui.planning_panel import install_planning_panel
from app.ui.preferences import install_preferences
from app.ui.ruler_tool import install_ruler_tool
from app.ui.segment_editor import install_segment_editor
from app.ui.segmentation_import import install_segmentation_import
from app.ui.series_browser import case_from_volume, install_series_browser, volume_case_name
from app.ui.tasks import TaskRunner
from app.ui.tissue_panel import install_tissue_panel
from app.ui.views import SlicePanel, ThreeDPanel, ViewPanel
from app.ui.volume_panel import install_volume_panel
from app.ui.vr_session import install_vr_action
from imaging.dicom_outputs import is_dicom_segmentation
from imaging.mesh import SurfaceMesh
from rendering.orientation import SliceOrientation
from rendering.scene3d import CAMERA_VIEWS

__all__ = ["IMAGE_SUFFIXES", "MainWindow", "build_demo", "load_path", "window_level_presets"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
MODEL_SUFFIXES = (".stl", ".obj", ".ply", ".vtp")
MAX_RECENT = 10
APP_TITLE = "SurgiTwin"


def app_version() -> str:
    """Installed SurgiTwin version."""
    try:
        return version("surgitwin")
    except PackageNotFoundError:
        return "0+unknown"


def window_level_presets() -> list[dict]:
    """The shipped window/level presets (``name``, ``width``, ``level``)."""
    text = resources.files("resources").joinpath("presets/window_levels.json").read_text(encoding="utf-8")
    return list(json.loads(text)["presets"])


# --- worker functions (run off the GUI thread: no Qt, no VTK) ----------------------------------------------------
def build_demo(size: tuple[int, int, int], progress, cancel) -> Case:
    """The demo case (phantom CT, bone and vessels segmented and meshed)."""
    from app.pipelines.demo_case import build_demo_case

    case = build_demo_case(tuple(size), progress=progress, cancel=cancel)
    case.mark_saved(None)
    return case


@dataclass(frozen=True)
class ImportedModel:
    """A surface read in the background, to be added to the current case."""

    mesh: SurfaceMesh
    name: str
    read_as: str


def read_model(path: Path, progress, cancel) -> ImportedModel:
    """Read a surface file (STL/OBJ/PLY/VTP) into LPS millimetres (RAS when the file says so)."""
    from imaging.mesh_io import read_mesh_lps

    progress(0.1, f"Reading {path.name}")
    mesh, space = read_mesh_lps(path)
    if cancel.is_set():
        raise InterruptedError("cancelled")
    return ImportedModel(mesh, path.stem, space)


def cursor_readout(volume, point_lps: np.ndarray) -> str:
    """``"R 12.3  A 4.5  S 30.0 mm   HU 45"``: position in patient directions and the nearest voxel's value."""
    x, y, z = (float(v) for v in point_lps)
    position = f"{'L' if x >= 0 else 'R'} {abs(x):.1f}  {'P' if y >= 0 else 'A'} {abs(y):.1f}  " \
               f"{'S' if z >= 0 else 'I'} {abs(z):.1f} mm"
    i, j, k = np.rint(volume.geometry.point_to_index(point_lps)).astype(int)
    nz, ny, nx = volume.array.shape
    if not (0 <= i < nx and 0 <= j < ny and 0 <= k < nz):
        return position
    value = volume.array[k, j, i]
    unit = "HU" if str(volume.metadata.get("modality", "")).upper() == "CT" else "value"
    shown = f"{int(value)}" if np.issubdtype(volume.array.dtype, np.integer) else f"{float(value):.4g}"
    return f"{position}   {unit} {shown}"


def _is_image_file(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(suffix) for suffix in IMAGE_SUFFIXES)


def load_path(path: Path, progress, cancel) -> Case:
    """Read a case bundle (folder with ``manifest.json`` or ``.zip``), an image file or a DICOM folder as a case."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if (path.is_dir() and (path / "manifest.json").is_file()) or path.suffix.lower() == ".zip":
        progress(0.1, f"Opening case {path.name}")
        return load_case(path)
    if path.is_file() and _is_image_file(path):
        from imaging.image_io import read_image

        progress(0.1, f"Reading {path.name}")
        volume = read_image(path)
        name = path.name.split(".")[0]
    else:
        from imaging.dicom import read_dicom_volume

        folder = path if path.is_dir() else path.parent
        volume = read_dicom_volume(folder, progress=progress, cancel=cancel)
        name = volume_case_name(volume, folder.name)
    if cancel.is_set():
        raise InterruptedError("cancelled")
    return case_from_volume(volume, name)


class MainWindow(QMainWindow):
    """The SurgiTwin workstation window.

    Parameters
    ----------
    settings : QSettings, optional
        Where recent files are kept (default: the application's settings).
    """

    VIEW_NAMES = ("axial", "3d", "coronal", "sagittal")
    case_changed = Signal(object)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings or QSettings()
        self.ask_before_discard = True
        self.case = Case()
        self.controller: CaseController | None = None
        self._maximised: int | None = None
        self._render_pending = False
        self._last_load: str = ""
        self.active_panel: ViewPanel | None = None  # the view the user last worked in (screenshots)
        self.setWindowTitle(APP_TITLE)
        self.resize(1400, 900)
        self.setAcceptDrops(True)

        self.axial = SlicePanel(SliceOrientation.AXIAL)
        self.coronal = SlicePanel(SliceOrientation.CORONAL)
        self.sagittal = SlicePanel(SliceOrientation.SAGITTAL)
        self.three_d = ThreeDPanel()
        self.slice_panels = [self.axial, self.coronal, self.sagittal]
        self.panels: list[ViewPanel] = [self.axial, self.three_d, self.coronal, self.sagittal]
        central = QWidget(self)
        grid = QGridLayout(central)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.setSpacing(2)
        for i, panel in enumerate(self.panels):
            grid.addWidget(panel, i // 2, i % 2)
            panel.maximise_requested.connect(lambda i=i: self.toggle_maximise(i))
            panel.activated.connect(lambda p=panel: self._set_active(p))
        for panel in self.slice_panels:
            panel.point_picked.connect(self.set_crosshair)
            panel.hovered.connect(self.show_cursor_readout)
            panel.window_level_dragged.connect(self._on_window_level_dragged)
        self.setCentralWidget(central)

        self.data_panel = DataPanel(self)
        dock = QDockWidget("Data", self)
        dock.setObjectName("DataDock")
        dock.setWidget(self.data_panel)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        dock.setMinimumWidth(280)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.data_dock = dock
        self.data_panel.node_activated.connect(self._on_node_activated)

        self.tasks = TaskRunner(self)
        self.tasks.started.connect(self._on_task_started)
        self.tasks.progress.connect(self._on_task_progress)
        self.tasks.finished.connect(self._on_task_finished)
        self.tasks.failed.connect(self._on_task_failed)
        self.tasks.cancelled.connect(self._on_task_cancelled)

        self._build_status_bar()
        self._build_actions()
        self._build_menus_and_toolbars()
        self.set_case(self.case)
        install_series_browser(self)
        self.segment_editor = install_segment_editor(self)
        self.ruler_tool = install_ruler_tool(self)
        self.markup_tools = install_markup_tools(self)
        install_markup_dragger(self)  # placed points can be dragged on the slices
        self.markups_table = install_markups_table(self)
        self.planning_tool = install_planning_panel(self)
        install_tissue_panel(self)
        self.flow_panel = install_flow_panel(self)
        self.volume_panel = install_volume_panel(self)
        self.autosaver = install_autosave(self)
        self.preferences = install_preferences(self)
        self.exports = install_exports(self)
        install_pacs_browser(self)  # File > Query/Retrieve from PACS…
        install_segmentation_import(self)  # File > Import DICOM SEG / RTSTRUCT…
        install_vr_action(self)  # View > Enter VR

    # --- construction ---------------------------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_label = QLabel("Ready. Open a DICOM folder, an image or a case (Ctrl+O), or drop it here.")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop loading (Esc); the current case stays open")
        self.cancel_button.clicked.connect(self.cancel_task)
        self.cursor_label = QLabel("")
        self.cursor_label.setToolTip("Patient position (LPS, mm) and image value under the cursor")
        bar.addWidget(self.status_label, 1)
        bar.addPermanentWidget(self.cursor_label)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)
        self.progress_bar.hide()
        self.cancel_button.hide()

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.open_dicom_action = self._action("Open &DICOM folder…", self.open_dicom_dialog,
                                              QKeySequence.StandardKey.Open, "Open a folder of DICOM files (Ctrl+O)")
        self.open_file_action = self._action("Open &image or case…", self.open_file_dialog, "Ctrl+Shift+O",
                                             "Open an NRRD/NIfTI/MHA image or a saved SurgiTwin case (Ctrl+Shift+O)")
        self.save_action = self._action("&Save case", self.save, QKeySequence.StandardKey.Save,
                                        "Save the case (Ctrl+S)")
        self.save_as_action = self._action("Save case &as…", self.save_as, QKeySequence.StandardKey.SaveAs,
                                           "Save the case under a new name, as a folder or a .zip (Ctrl+Shift+S)")
        self.demo_action = self._action("Open &demo case", lambda: self.load_demo(), None,
                                        "Phantom abdomen CT with bone and vessels segmented and meshed")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.reset_action = self._action("&Reset views", self.reset_views, "R",
                                         "Fit every view and go back to the point of interest (R)")
        self.four_up_action = self._action("&Four views", lambda: self.toggle_maximise(None), "0",
                                           "Show all four views (0)")
        self.maximise_actions = []
        for i, name in enumerate(("Axial", "3D", "Coronal", "Sagittal")):
            tip = f"Show only the {name} view; again to go back ({i + 1})"
            self.maximise_actions.append(self._action(f"Maximise {name}", lambda i=i: self.toggle_maximise(i),
                                                      str(i + 1), tip))
        self.camera_actions = {}
        letters = {"anterior": "A", "posterior": "P", "left": "L", "right": "R", "superior": "S", "inferior": "I"}
        for view in CAMERA_VIEWS:
            action = self._action(letters[view], lambda v=view: self.show_3d_view(v), f"Ctrl+{letters[view]}"
                                  if view not in ("superior",) else "Ctrl+U", f"3D view from {view}")
            self.camera_actions[view] = action
        self.cancel_action = self._action("Cancel", self.cancel_task, "Esc")
        self.about_action = self._action("&About SurgiTwin", self.show_about)
        self.help_action = self._action("&Mouse and keys", self.show_controls, "F1")

    def _build_menus_and_toolbars(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.open_dicom_action)
        menu.addAction(self.open_file_action)
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        menu.addAction(self.demo_action)
        menu.addSeparator()
        menu.addAction(self.save_action)
        menu.addAction(self.save_as_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        self._fill_recent_menu()

        view_menu = self.view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.reset_action)
        view_menu.addAction(self.four_up_action)
        for action in self.maximise_actions:
            view_menu.addAction(action)
        camera_menu = view_menu.addMenu("3D &camera")
        for view, action in self.camera_actions.items():
            camera_menu.addAction(action)
            action.setText(view.capitalize())
        view_menu.addSeparator()
        view_menu.addAction(self.data_dock.toggleViewAction())

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self.help_action)
        help_menu.addAction(self.about_action)

        bar = self.main_toolbar = self.addToolBar("Main")
        bar.setObjectName("MainToolBar")
        bar.setMovable(False)
        open_action = QAction("Open", self)
        open_action.setToolTip("Open a DICOM folder (Ctrl+O); Ctrl+Shift+O for an image or case")
        open_action.triggered.connect(self.open_dicom_dialog)
        bar.addAction(open_action)
        save_action = QAction("Save", self)
        save_action.setToolTip("Save the case (Ctrl+S)")
        save_action.triggered.connect(self.save)
        bar.addAction(save_action)
        bar.addSeparator()
        bar.addWidget(QLabel(" Window: "))
        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip("Window/level preset for the slice views (right-drag in a view to adjust)")
        self.preset_combo.addItem("Custom", None)
        for preset in window_level_presets():
            label = f"{preset['name']}  ({preset['width']:g}/{preset['level']:g})"
            self.preset_combo.addItem(label, (float(preset["width"]), float(preset["level"])))
        self.preset_combo.activated.connect(self._on_preset_chosen)
        bar.addWidget(self.preset_combo)
        bar.addSeparator()
        bar.addAction(self.reset_action)
        self.reset_action.setText("Reset")
        bar.addAction(self.four_up_action)
        self.four_up_action.setText("2×2")

        camera_bar = self.addToolBar("3D camera")
        camera_bar.setObjectName("CameraToolBar")
        camera_bar.setMovable(False)
        camera_bar.addWidget(QLabel(" 3D: "))
        letters = {"anterior": "A", "posterior": "P", "left": "L", "right": "R", "superior": "S", "inferior": "I"}
        for view, action in self.camera_actions.items():
            button_action = QAction(letters[view], self)
            button_action.setToolTip(f"3D view from {view} ({action.shortcut().toString()})")
            button_action.triggered.connect(lambda _c=False, v=view: self.show_3d_view(v))
            camera_bar.addAction(button_action)

    # --- the case -------------------------------------------------------------------------------------------------
    def set_case(self, case: Case) -> None:
        """Show ``case``: rewire the views, the data panel and the title."""
        if self.controller is not None:
            self.controller.detach()
        if self.case is not None:
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                self.case.modified_changed.disconnect(self._update_title)
        self.case = case
        case.modified_changed.connect(self._update_title)
        self.data_panel.set_case(case)
        self.controller = CaseController(case, [p.view for p in self.slice_panels], self.three_d.scene,
                                         self.request_render, on_volume_changed=self._after_volume_changed)
        self._update_title()
        self._sync_preset_combo()
        self.reset_views()
        self.case_changed.emit(case)

    def _update_title(self, *_args) -> None:
        name = self.case.name if self.case is not None else ""
        star = "*" if self.case is not None and self.case.modified else ""
        self.setWindowTitle(f"{name}{star} — {APP_TITLE}" if name else APP_TITLE)

    def _after_volume_changed(self) -> None:
        for panel in self.slice_panels:
            panel.sync_slider()

    def _confirm_discard(self) -> bool:
        if not self.ask_before_discard or not self.case.modified or not len(self.case):
            return True
        answer = QMessageBox.question(
            self, APP_TITLE, f"“{self.case.name}” has unsaved changes. Save them first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # --- rendering and views ------------------------------------------------------------------------------------
    def request_render(self) -> None:
        """Redraw the views soon (repeated requests before the next event-loop turn render once)."""
        if not self._render_pending:
            self._render_pending = True
            QTimer.singleShot(0, self.render_all)

    def render_all(self) -> None:
        """Redraw every visible view now."""
        self._render_pending = False
        for panel in self.panels:
            panel.render()

    def focus(self) -> np.ndarray | None:
        """The point of interest of the case (centroid of the last segment), or None."""
        from app.render_case import focus_point

        try:
            return focus_point(self.case)
        except Exception:
            log.exception("focus point failed")
            return None

    def reset_views(self) -> None:
        """Fit every slice view (through the point of interest) and show the 3-D view from the front."""
        focus = self.focus()
        for panel in self.slice_panels:
            panel.fit(focus)
            panel.view.set_crosshair(focus)
        self.three_d.scene.reset_camera("anterior", zoom=1.1)
        self.request_render()

    def show_3d_view(self, view: str) -> None:
        """Look at the models from a standard direction."""
        self.three_d.show_standard_view(view)

    def set_crosshair(self, point: np.ndarray) -> None:
        """Move every slice view through the LPS ``point``."""
        for panel in self.slice_panels:
            panel.view.set_slice_point(point)
            panel.view.set_crosshair(point)
            panel.sync_slider()
        self.request_render()

    def show_cursor_readout(self, point: np.ndarray) -> None:
        """Show the patient position and the voxel value under the cursor, as radiology viewers do."""
        node = self._displayed_volume()
        if node is None:
            self.cursor_label.setText("")
            return
        self.cursor_label.setText(cursor_readout(node.volume, point))

    def toggle_maximise(self, index: int | None) -> None:
        """Show only view ``index`` (0 axial, 1 3D, 2 coronal, 3 sagittal); again, or None, restores 2×2."""
        if index is None or self._maximised == index:
            self._maximised = None
        else:
            self._maximised = index
        for i, panel in enumerate(self.panels):
            panel.setVisible(self._maximised is None or i == self._maximised)
        self.request_render()

    @property
    def maximised_view(self) -> int | None:
        """Index of the maximised view, or None in the 2×2 layout."""
        return self._maximised

    def _set_active(self, active: ViewPanel) -> None:
        self.active_panel = active
        for panel in self.panels:
            panel.set_active(panel is active)

    def _displayed_volume(self) -> VolumeNode | None:
        return self.controller.displayed_volume if self.controller is not None else None

    def _on_window_level_dragged(self, width: float, centre: float) -> None:
        node = self._displayed_volume()
        if node is not None:
            node.window_level = (width, centre)
            self._sync_preset_combo()

    def _on_preset_chosen(self, index: int) -> None:
        value = self.preset_combo.itemData(index)
        node = self._displayed_volume()
        if value is not None and node is not None:
            node.window_level = value
            self.status_label.setText(f"Window {value[0]:g}, level {value[1]:g}")

    def _sync_preset_combo(self) -> None:
        node = self._displayed_volume()
        index = 0
        if node is not None:
            for i in range(1, self.preset_combo.count()):
                if self.preset_combo.itemData(i) == tuple(node.window_level):
                    index = i
        self.preset_combo.setCurrentIndex(index)

    def _on_node_activated(self, node) -> None:
        self.reset_views()

    def screenshot(self):
        """The whole window as a ``QImage``, VTK views included (``QWidget.grab`` alone misses OpenGL content)."""
        from PySide6.QtGui import QImage, QPainter

        from rendering.offscreen import capture_window

        self.render_all()
        image = self.grab().toImage()
        ratio = self.devicePixelRatioF()
        painter = QPainter(image)
        for panel in self.panels:
            if not panel.isVisible():
                continue
            pixels = np.ascontiguousarray(capture_window(panel.render_window))
            height, width, _ = pixels.shape
            shot = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
            shot.setDevicePixelRatio(ratio)
            painter.drawImage(panel.vtk_widget.mapTo(self, panel.vtk_widget.rect().topLeft()), shot)
        painter.end()
        return image

    # --- loading --------------------------------------------------------------------------------------------------
    def load_demo(self, size: tuple[int, int, int] | None = None) -> None:
        """Build the demo case in the background and show it."""
        if not self._confirm_discard():
            return
        if size is None:
            from app.pipelines.demo_case import DEMO_SIZE

            size = DEMO_SIZE
        self._last_load = ""
        self.tasks.start(lambda progress, cancel: build_demo(size, progress, cancel), "Building the demo case")

    def open_path(self, path: str | Path) -> None:
        """Open a DICOM folder, an image file or a case bundle (folder or .zip) in the background.

        A surface file (STL, OBJ, PLY, VTP) is added to the current case instead of replacing it, and so is a DICOM SEG
        or RTSTRUCT file while an image is open (onto the shown image).
        """
        path = Path(path)
        if not path.exists():
            self._remove_recent(path)
            self.show_error(f"{path}: no such file or folder.")
            return
        if path.is_file() and path.suffix.lower() in MODEL_SUFFIXES:
            self.import_model(path)
            return
        if path.is_file() and self.case.volumes and is_dicom_segmentation(path):
            self.segmentation_import.import_file(path)  # onto the shown image, not a new case
            return
        if not self._confirm_discard():
            return
        self._last_load = str(path)
        self.tasks.start(lambda progress, cancel: load_path(path, progress, cancel), f"Opening {path.name}")

    def import_model(self, path: str | Path) -> None:
        """Read a surface file in the background and add it to the current case as a model."""
        path = Path(path)
        self._last_load = ""
        self.tasks.start(lambda progress, cancel: read_model(path, progress, cancel), f"Importing {path.name}")

    def add_model(self, model: ImportedModel) -> MeshNode:
        """Add an imported surface to the case and show it."""
        node = self.case.add(MeshNode(model.mesh, model.name, color=(0.85, 0.75, 0.55)))
        self.status_label.setText(
            f"Imported model “{model.name}”: {model.mesh.n_faces:,} triangles ({model.read_as} coordinates)"
        )
        if len(self.case.meshes) == 1 and not self.case.volumes:
            self.three_d.scene.reset_camera("anterior")
        self.request_render()
        return node

    def run_task(self, fn, description: str) -> None:
        """Run ``fn(progress, cancel) -> Case`` in the background and show the case it returns."""
        self._last_load = ""
        self.tasks.start(fn, description)

    def cancel_task(self) -> None:
        """Stop the running load; the current case stays."""
        if self.tasks.busy:
            self.tasks.cancel()

    def _on_task_started(self, description: str) -> None:
        self.status_label.setText(f"{description}…")
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self.cancel_button.show()

    def _on_task_progress(self, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(fraction * 1000))
        if message:
            self.status_label.setText(f"{message}…" if fraction < 1 else message)

    def _task_ended(self) -> None:
        if not self.tasks.busy:
            self.progress_bar.hide()
            self.cancel_button.hide()

    def _on_task_finished(self, result: object) -> None:
        self._task_ended()
        if isinstance(result, ImportedModel):
            self.add_model(result)
            return
        if hasattr(result, "apply_to"):  # a result that adds itself to the case (e.g. an imported segmentation)
            result.apply_to(self)
            return
        if not isinstance(result, Case):
            return
        self.set_case(result)
        if self._last_load:
            self._add_recent(self._last_load)
        counts = ", ".join(f"{len(nodes)} {label}" for label, nodes in (
            ("volume(s)", result.volumes), ("segmentation(s)", result.segmentations), ("model(s)", result.meshes))
            if nodes)
        self.status_label.setText(f"Opened “{result.name}”" + (f": {counts}" if counts else ""))

    def _on_task_failed(self, message: str) -> None:
        self._task_ended()
        self.show_error(message)

    def _on_task_cancelled(self) -> None:
        self._task_ended()
        self.status_label.setText("Cancelled; the current case is unchanged.")

    def show_error(self, message: str) -> None:
        """Report an expected error in the status bar and a warning box."""
        self.status_label.setText(f"Error: {message}")
        QMessageBox.warning(self, APP_TITLE, message)

    # --- dialogs --------------------------------------------------------------------------------------------------
    def _start_dir(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def open_dicom_dialog(self) -> None:
        """Ask for a DICOM folder and open it."""
        folder = QFileDialog.getExistingDirectory(self, "Open DICOM folder", self._start_dir())
        if folder:
            self.open_path(folder)

    def open_file_dialog(self) -> None:
        """Ask for an image file or a case (.zip or a case folder's manifest.json) and open it."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image or case", self._start_dir(),
            "Images, models and cases (*.nrrd *.nhdr *.nii *.nii.gz *.mha *.mhd *.stl *.obj *.ply *.vtp *.zip "
            "manifest.json);;All files (*)")
        if path:
            p = Path(path)
            self.open_path(p.parent if p.name == "manifest.json" else p)

    def save(self) -> bool:
        """Save to the case's path, asking for one the first time; True when saved."""
        if self.case.path is None:
            return self.save_as()
        return self.save_to(self.case.path)

    def save_as(self) -> bool:
        """Ask where to save (folder bundle, or a name ending in .zip) and save; True when saved."""
        suggestion = str(Path(self._start_dir()) / (self.case.name.replace(":", "").replace("/", "-") + ".zip"))
        path, _ = QFileDialog.getSaveFileName(self, "Save case as", suggestion,
                                              "Case archive (*.zip);;Case folder (*)")
        return bool(path) and self.save_to(path)

    def save_to(self, path: str | Path) -> bool:
        """Save the case as a bundle at ``path`` (atomic); True on success, False after reporting an error."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            saved = save_case(self.case, path)
        except (CaseBundleError, OSError, ValueError) as exc:
            QApplication.restoreOverrideCursor()
            self.show_error(str(exc))
            return False
        QApplication.restoreOverrideCursor()
        self._add_recent(str(saved))
        self._update_title()
        self.status_label.setText(f"Saved to {saved}")
        return True

    def show_about(self) -> None:
        """The About box."""
        QMessageBox.about(self, f"About {APP_TITLE}",
                          f"<b>{APP_TITLE}</b> {app_version()}<br>Surgical digital twin: DICOM in, segmented 3D "
                          "anatomy out.<br><br>Not for diagnostic use.")

    def show_controls(self) -> None:
        """A summary of mouse and keyboard controls."""
        QMessageBox.information(self, "Mouse and keys", (
            "Slice views: wheel or PageUp/PageDown/arrows scroll; left click sets the crosshair; right drag "
            "(or Shift+left drag) changes window/level; middle drag pans; Ctrl+wheel zooms; Ctrl+left drag tilts "
            "the plane (oblique), O puts it back; Ctrl+Shift+L outlines segments.\n"
            "3D view: left drag rotates, middle drag pans, right drag or wheel zooms; V shows the volume rendering.\n"
            "Double-click or 1-4 maximises a view, 0 shows all four; R resets the views.\n"
            "Measure: M ruler (drag), G angle (three clicks), P point list, C closed curve; Enter finishes, "
            "Backspace removes the last point, Esc cancels; Ctrl+Z undoes.\n"
            "Ctrl+O opens a DICOM folder, Ctrl+Shift+O an image or case, Ctrl+S saves, Esc cancels loading.\n"
            "Ctrl+Shift+P saves a screenshot of the active view, Ctrl+Shift+R the plan report; the case is "
            "autosaved every few minutes and offered back after a crash."))

    # --- recent files ---------------------------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        """Recently opened or saved paths that still exist, newest first."""
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        files = [str(v) for v in (value or []) if v and Path(str(v)).exists()]
        return files[:MAX_RECENT]

    def _store_recent(self, files: list[str]) -> None:
        self.settings.setValue("recent_files", files[:MAX_RECENT])
        self.settings.sync()

    def _add_recent(self, path: str) -> None:
        path = str(Path(path).absolute())
        files = [f for f in self.recent_files() if f != path]
        self._store_recent([path, *files])

    def _remove_recent(self, path: Path) -> None:
        self._store_recent([f for f in self.recent_files() if f != str(Path(path).absolute())])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        self._store_recent(files)  # forget entries that disappeared
        for f in files:
            action = self.recent_menu.addAction(f)
            action.triggered.connect(lambda _c=False, f=f: self.open_path(f))
        self.recent_menu.setEnabled(bool(files))

    # --- drag and drop --------------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept a dragged local file or folder."""
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Open the first dropped local file or folder."""
        paths = [url.toLocalFile() for url in event.mimeData().urls() if isinstance(url, QUrl) and url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    # --- closing --------------------------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """Offer to save, stop background work and release the OpenGL contexts."""
        if not self._confirm_discard():
            event.ignore()
            return
        self.autosaver.shutdown()
        self.preferences.save_layout()
        self.tasks.cancel()
        self.tasks.wait(10000)
        if self.controller is not None:
            self.controller.detach()
            self.controller = None
        self.data_panel.set_case(None)
        for panel in self.panels:
            panel.finalize()
        event.accept()
