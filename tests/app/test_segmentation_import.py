"""File > Import DICOM SEG / RTSTRUCT: a SEG written for a DICOM series comes back, in the window, as an editable
segmentation of the open image (names, colours, every voxel); bad files and a missing image give plain messages."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

pytestmark = pytest.mark.gui


@pytest.fixture
def seg_of_open_series(window, qtbot, tmp_path):
    """The window with a small phantom DICOM series open, and a DICOM SEG of its liver and spleen."""
    from app.case import SegmentationNode
    from app.case.dicom_import import segment_infos
    from imaging.dicom_outputs import read_source_series, write_segmentation
    from imaging.phantom import write_phantom_series

    folder = tmp_path / "ct"
    phantom = write_phantom_series(folder, (40, 40, 24), seed=3)
    window.open_path(folder)
    qtbot.waitUntil(lambda: bool(window.case.volumes) and not window.tasks.busy, timeout=60000)
    volume = window.case.volumes[0]
    original = SegmentationNode.empty_like(volume, "Organs")
    original.add_segment("Liver", (0.87, 0.51, 0.4), phantom.labels == 5)
    original.add_segment("Spleen", (0.62, 0.0, 0.0), phantom.labels == 10)
    path = write_segmentation(original.labelmap, segment_infos(original), read_source_series(folder),
                              tmp_path / "organs.dcm")
    return window, path, original


def test_opening_a_seg_adds_it_to_the_open_image(seg_of_open_series, qtbot):
    window, path, original = seg_of_open_series
    volume = window.case.volumes[0]
    before = len(window.case.segmentations)
    window.open_path(path)  # File > Open, a recent file or a drop: imported, not opened as a new case
    qtbot.waitUntil(lambda: len(window.case.segmentations) == before + 1 and not window.tasks.busy, timeout=30000)
    assert window.case.volumes[0] is volume  # the case was kept
    node = window.case.segmentations[-1]
    assert node.reference_volume_id == volume.id
    assert [s.name for s in node.segments] == ["Liver", "Spleen"]
    assert np.array_equal(node.labelmap.array, original.labelmap.array)
    assert node.labelmap.geometry.is_close(volume.volume.geometry)
    assert "2 segment(s)" in window.status_label.text()
    action = window.segmentation_import.action
    assert action in window.menuBar().actions()[0].menu().actions()  # File > Import DICOM SEG / RTSTRUCT…


def test_bad_files_and_no_image_give_a_message_and_change_nothing(window, qtbot, tmp_path, monkeypatch):
    messages: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: messages.append(text))
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"DICM" * 100)
    assert window.segmentation_import.import_file(junk) is False  # no image open yet
    assert "open the image this segmentation belongs to first" in messages[-1]
    window.load_demo((32, 32, 24))
    qtbot.waitUntil(lambda: bool(window.case.volumes) and not window.tasks.busy, timeout=60000)
    before = list(window.case)
    assert window.segmentation_import.import_file(junk)
    qtbot.waitUntil(lambda: not window.tasks.busy, timeout=30000)
    assert "junk.dcm" in messages[-1]
    assert "cannot be read as DICOM" in messages[-1] or "neither a DICOM SEG" in messages[-1]
    assert list(window.case) == before
