"""A DICOM SEG imported into a case becomes a segmentation node of the volume, with names and colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.case import Case, VolumeNode
from app.case.dicom_import import import_dicom_segmentation_node, segment_infos
from imaging.dicom_outputs import read_source_series, write_segmentation
from tests.dicom_outputs.dicom_tools import PhantomSeries


def test_seg_round_trips_through_a_case(phantom_series: PhantomSeries, tmp_path: Path) -> None:
    from app.case import SegmentationNode

    case = Case("import")
    volume_node = case.add(VolumeNode(phantom_series.volume, "CT"))
    original = case.add(SegmentationNode.empty_like(volume_node, "Organs"))
    original.add_segment("Liver", (0.87, 0.51, 0.4), phantom_series.labels == 5)
    original.add_segment("Spleen", (0.62, 0.0, 0.0), phantom_series.labels == 10)
    source = read_source_series(phantom_series.folder)
    path = write_segmentation(original.labelmap, segment_infos(original), source, tmp_path / "organs.dcm")

    node, warnings = import_dicom_segmentation_node(case, volume_node, path)
    assert warnings == []
    assert node in case
    assert node.reference_volume_id == volume_node.id
    assert [s.name for s in node.segments] == ["Liver", "Spleen"]
    for mine, theirs in zip(original.segments, node.segments, strict=True):
        assert np.abs(np.subtract(mine.color, theirs.color)).max() <= 1.5 / 255
        assert node.voxel_count(theirs.label_value) == original.voxel_count(mine.label_value) > 0
    assert np.array_equal(node.labelmap.array, original.labelmap.array)
    assert node.labelmap.geometry.is_close(volume_node.volume.geometry)
