"""The study/series browser: scan in the background, rows by patient and study, thumbnails, options, loading."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.ui.series_browser import (
    IMAGES_COLUMN,
    MODALITY_COLUMN,
    SIZE_COLUMN,
    WARNINGS_COLUMN,
    SeriesBrowserDialog,
    install_series_browser,
    open_series,
    skipped_summary,
)
from imaging.dicom.study_info import StudyIdentity, format_person_name
from tests.conftest import require_data

pytestmark = pytest.mark.gui

TIMEOUT_MS = 30000


@pytest.fixture(scope="module")
def exam_folder(tmp_path_factory) -> Path:
    """Two phantom series (two patients), a two-image non-volume, a text file and a gzip file."""
    from imaging.phantom import write_phantom_series

    root = tmp_path_factory.mktemp("exam")
    write_phantom_series(root / "a", (48, 48, 24), seed=1)
    write_phantom_series(root / "b", (40, 40, 30), seed=2)
    first = sorted((root / "a").iterdir())[0]
    series_uid = generate_uid()
    (root / "c").mkdir()
    for i in range(2):
        ds = pydicom.dcmread(first)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = 7
        ds.SeriesDescription = "Repeated scout"
        ds.InstanceNumber = i + 1
        ds.save_as(root / "c" / f"img{i}.dcm")
    (root / "notes.txt").write_text("not an image\n")
    with gzip.open(root / "archive.dcm.gz", "wb") as f:
        f.write(first.read_bytes())
    return root


def _open_dialog(qtbot, folder: Path, parent=None) -> SeriesBrowserDialog:
    dialog = SeriesBrowserDialog(folder, parent)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.scan is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(dialog.thumbnails_done, timeout=TIMEOUT_MS)
    qtbot.wait(50)  # let the last queued thumbnail signal arrive
    return dialog


def _by_description(dialog: SeriesBrowserDialog, text: str):
    return next(s for s in dialog.series if s.description == text)


def _pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    ptr = image.constBits()
    return np.frombuffer(ptr, np.uint8, image.bytesPerLine() * image.height()).reshape(image.height(), -1)


def test_browser_lists_series_and_loads_the_chosen_one(qtbot, window, exam_folder):
    dialog = _open_dialog(qtbot, exam_folder, window)
    series = dialog.series
    assert len(series) == 3
    non_volume = _by_description(dialog, "Repeated scout")
    volumes = [s for s in series if s.is_volume]
    small = next(s for s in volumes if s.geometry.size_xyz == (48, 48, 24))
    large = next(s for s in volumes if s.geometry.size_xyz == (40, 40, 30))

    # Rows: modality, image count, size; grouped under patient -> study.
    for s, size in ((small, "48×48×24"), (large, "40×40×30")):
        item = dialog.item_for(s)
        assert item.text(MODALITY_COLUMN) == "CT"
        assert item.text(IMAGES_COLUMN) == str(s.n_images)
        assert item.text(SIZE_COLUMN) == size
        assert item.flags() & Qt.ItemFlag.ItemIsEnabled
        assert item.parent() is not None
        assert item.parent().parent() is not None
        assert "PHANTOM" in item.parent().parent().text(0)
    assert dialog.tree.topLevelItemCount() == 2  # two phantom patients (seed 1 and 2)

    # The non-volume row is greyed out with its reason; it cannot be loaded.
    item = dialog.item_for(non_volume)
    assert not item.flags() & Qt.ItemFlag.ItemIsEnabled
    assert item.text(WARNINGS_COLUMN).startswith("Not a volume")
    assert "same position" in item.toolTip(WARNINGS_COLUMN)
    assert item.text(IMAGES_COLUMN) == "2"

    # Skipped files summarised, details in the tooltip and the expandable list.
    assert dialog.skipped_label.text() == "2 files skipped: 1 gzip, 1 not DICOM"
    assert "notes.txt" in dialog.skipped_label.toolTip()
    assert dialog.skipped_list.count() == 2

    # The largest volume is pre-selected; regular volumes offer no regridding.
    assert dialog.selected_series() is large
    assert dialog.load_button.isEnabled()
    assert not dialog.tilt_check.isEnabled()
    assert not dialog.resample_check.isEnabled()

    # Thumbnails: decoded, not uniform (the phantom's anatomy shows in the soft-tissue window).
    for s in series:
        pixmap = dialog.thumbnail(s)
        assert not pixmap.isNull()
        values = _pixels(pixmap.toImage())
        assert values.std() > 10, s.description

    # Choose the other volume with the keyboard and load it (Enter = Load) through the window's runner.
    dialog.load_requested.connect(lambda s, tilt, resample: open_series(
        window, s, tilt_correct=tilt, resample_uniform=resample, folder=exam_folder))
    dialog.select_series(small)
    assert dialog.selected_series() is small
    qtbot.keyClick(dialog.tree, Qt.Key.Key_Return)
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: len(window.case.volumes) == 1 and not window.tasks.busy, timeout=TIMEOUT_MS)
    volume = window.case.volumes[0].volume
    assert volume.geometry == small.geometry
    assert window.case.name == small.description
    assert not window.case.modified


def test_window_routes_multi_series_folders_through_the_browser(qtbot, window, exam_folder):
    install_series_browser(window)
    window.open_path(exam_folder)
    qtbot.waitUntil(lambda: window.series_browser is not None, timeout=TIMEOUT_MS)
    dialog = window.series_browser
    qtbot.waitExposed(dialog)
    assert dialog.isModal()
    assert len(dialog.series) == 3
    qtbot.waitUntil(dialog.thumbnails_done, timeout=TIMEOUT_MS)
    target = next(s for s in dialog.series if s.is_volume and s.geometry.size_xyz == (48, 48, 24))
    dialog.tree.scrollToItem(dialog.item_for(target))
    centre = dialog.tree.visualItemRect(dialog.item_for(target)).center()
    qtbot.mouseClick(dialog.tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)  # the view needs the press
    assert dialog.selected_series() is target
    qtbot.mouseDClick(dialog.tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.waitUntil(lambda: len(window.case.volumes) == 1 and not window.tasks.busy, timeout=TIMEOUT_MS)
    assert window.case.volumes[0].volume.geometry == target.geometry
    assert window.recent_files() == [str(exam_folder.absolute())]


def test_single_series_folder_loads_directly(qtbot, window, exam_folder):
    install_series_browser(window)
    window.open_path(exam_folder / "b")
    qtbot.waitUntil(lambda: len(window.case.volumes) == 1 and not window.tasks.busy, timeout=TIMEOUT_MS)
    assert window.series_browser is None
    assert window.case.volumes[0].volume.geometry.size_xyz == (40, 40, 30)


def test_folder_without_images_reports_an_error(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: warnings.append(text))
    install_series_browser(window)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not DICOM")
    window.open_path(empty)
    qtbot.waitUntil(lambda: bool(warnings), timeout=TIMEOUT_MS)
    assert "no DICOM image" in warnings[0]
    assert window.series_browser is None
    assert len(window.case) == 0


def test_odd_cases_show_tilt_and_missing_slices(qtbot):
    folder = require_data("ct-odd-cases-dicom2nifti")
    dialog = _open_dialog(qtbot, folder)
    rows = {s.files[0].parent.parent.name: s for s in dialog.series}
    tilt, gap = rows["gantry-tilt-siemens"], rows["missing-slice-ge"]
    both, flat = rows["tilt-and-missing-slice-siemens"], rows["not-a-volume-siemens"]
    assert dialog.item_for(tilt).text(WARNINGS_COLUMN).startswith("Gantry tilt 14")
    assert dialog.item_for(gap).text(WARNINGS_COLUMN) == "Missing slice(s)"
    assert "gantry tilt" in dialog.item_for(tilt).toolTip(WARNINGS_COLUMN)
    assert not dialog.item_for(flat).flags() & Qt.ItemFlag.ItemIsEnabled

    dialog.select_series(tilt)
    assert dialog.tilt_check.isEnabled()
    assert not dialog.resample_check.isEnabled()
    dialog.select_series(gap)
    assert dialog.resample_check.isEnabled()
    assert not dialog.tilt_check.isEnabled()
    dialog.select_series(both)
    assert dialog.tilt_check.isEnabled()
    assert dialog.resample_check.isEnabled()
    assert dialog.options() == {"tilt_correct": True, "resample_uniform": True}
    dialog.tilt_check.setChecked(False)
    assert dialog.options() == {"tilt_correct": False, "resample_uniform": True}
    assert dialog.skipped_label.text().startswith(f"{len(dialog.scan.result.skipped)} files skipped:")
    assert all(not dialog.thumbnail(s).isNull() for s in dialog.series)


def test_identity_is_display_only():
    identity = StudyIdentity(patient_name="DOE, John", patient_id="123")
    assert "DOE" not in repr(identity)
    assert "123" not in str(identity)
    assert format_person_name("Doe^John^Q") == "DOE, John Q"
    assert skipped_summary([]) == ""
    assert skipped_summary([(Path("x"), "DICOMDIR index file (lists images, holds none)")]) == \
        "1 file skipped: 1 DICOMDIR"


def test_cancel_stops_the_scan(qtbot, exam_folder):
    dialog = SeriesBrowserDialog(exam_folder)
    qtbot.addWidget(dialog)
    dialog.reject()
    assert not dialog.runner.busy
