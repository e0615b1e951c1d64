"""File > Import DICOM SEG / RTSTRUCT: a segmentation made elsewhere (a PACS, a planning system, TotalSegmentator's
DICOM output) placed on the image it belongs to, as an ordinary, editable segmentation.

The file is read in the background; the segmentation is added to the case on the GUI thread.  Opening such a file
(File > Open, drag and drop, recent files) imports it onto the shown image instead of replacing the case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from app.case import Segment, SegmentationNode, VolumeNode
from app.ui.installing import install_once

__all__ = ["ImportedDicomSegmentation", "SegmentationImport", "install_segmentation_import"]


@dataclass
class ImportedDicomSegmentation:
    """A background import's result, added to the window's case by :meth:`apply_to`."""

    volume_id: str
    name: str
    result: Any = field(repr=False)  # imaging.dicom_outputs.ImportedSegmentation

    def apply_to(self, window) -> SegmentationNode | None:
        """Add the segmentation to ``window``'s case on its image (None when the image went meanwhile)."""
        try:
            volume = window.case.get(self.volume_id)
        except KeyError:
            volume = None
        if not isinstance(volume, VolumeNode):
            window.show_error(f"The image “{self.name}” belongs to was closed; nothing was imported.")
            return None
        segments = [Segment(s.name, s.color, s.label_value) for s in self.result.segments]
        node = window.case.add(SegmentationNode(self.result.labelmap, segments, self.name,
                                                reference_volume_id=volume.id))
        note = f"; {'; '.join(self.result.warnings)}" if self.result.warnings else ""
        window.status_label.setText(f"Imported “{self.name}”: {len(segments)} segment(s) on “{volume.name}”{note}")
        window.request_render()
        return node


class SegmentationImport:
    """The import action and its background reading for one main window."""

    def __init__(self, window) -> None:
        self.window = window
        self.action = QAction("Import DICOM &SEG / RTSTRUCT…", window)
        self.action.setToolTip("Add a DICOM segmentation or RT structure set to the shown image")
        self.action.triggered.connect(self.import_dialog)

    def target_volume(self) -> VolumeNode | None:
        """The image a segmentation goes onto: the one shown in the slice views, else the case's first."""
        controller = getattr(self.window, "controller", None)
        shown = controller.displayed_volume if controller is not None else None
        return shown or (self.window.case.volumes[0] if self.window.case.volumes else None)

    def import_dialog(self) -> None:
        """Ask for a SEG or RTSTRUCT file and import it."""
        path, _ = QFileDialog.getOpenFileName(self.window, "Import DICOM SEG or RTSTRUCT", self.window._start_dir(),
                                              "DICOM (*.dcm *.DCM *);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path: str | Path) -> bool:
        """Read ``path`` in the background onto :meth:`target_volume`; False (with a message) when there is none."""
        path = Path(path)
        volume = self.target_volume()
        if volume is None:
            self.window.show_error(f"{path.name}: open the image this segmentation belongs to first, then import it.")
            return False
        geometry = volume.volume.geometry
        frame_of_reference = volume.volume.metadata.get("frame_of_reference_uid")
        volume_id, name = volume.id, path.stem

        def work(progress, _cancel) -> ImportedDicomSegmentation:
            from imaging.dicom_outputs import import_dicom_segmentation

            progress(0.1, f"Reading {path.name}")
            result = import_dicom_segmentation(path, geometry, frame_of_reference_uid=frame_of_reference)
            return ImportedDicomSegmentation(volume_id, name, result)

        self.window.run_task(work, f"Importing {path.name}")
        return True


def install_segmentation_import(window) -> SegmentationImport:
    """Add File > Import DICOM SEG / RTSTRUCT to ``window`` (once), after File > Open."""
    def add_to_file_menu(importer: SegmentationImport) -> None:
        window.menuBar().actions()[0].menu().insertAction(window.demo_action, importer.action)

    return install_once(window, "segmentation_import", SegmentationImport, then=add_to_file_menu)
