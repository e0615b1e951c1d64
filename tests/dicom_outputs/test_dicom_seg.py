"""DICOM SEG written by SurgiTwin: read back by highdicom, dcmtk and our importer with segments and geometry intact."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from imaging.dicom_outputs import (
    Deidentify,
    DicomImportError,
    DicomOutputError,
    OutputOptions,
    SegmentInfo,
    read_segmentation,
    read_source_series,
    write_segmentation,
)
from imaging.volume import Volume, VolumeGeometry
from tests.dicom_outputs.dicom_tools import PhantomSeries, dciodvfy_errors, dcmdump_ok


def _phantom_segments(series: PhantomSeries) -> list[SegmentInfo]:
    from imaging.segmentation.terminology import find_terminology

    infos = []
    for value in sorted(int(v) for v in np.unique(series.labels) if v):
        name = series.names[value]
        entry = find_terminology(name)
        infos.append(SegmentInfo(value, name, entry.color if entry else (0.5, 0.5, 0.5), "phantom ground truth"))
    return infos


def _highdicom_on_our_grid(seg: hd.seg.Segmentation, geometry: VolumeGeometry) -> np.ndarray:
    """highdicom's own reconstruction of the SEG as a volume, resampled by index onto our grid via both affines."""
    volume = seg.get_volume(combine_segments=True)
    # highdicom index (slice, row, column) -> LPS -> our continuous index (i, j, k): one 4x4 affine.
    to_ours = np.linalg.inv(geometry.index_to_lps) @ np.asarray(volume.affine)
    grids = np.indices(volume.array.shape).astype(np.float64)
    ours = [sum(to_ours[r, c] * grids[c] for c in range(3)) + to_ours[r, 3] for r in range(3)]  # elementwise
    rounded = [np.rint(o).astype(int) for o in ours]
    assert max(float(np.abs(o - r).max()) for o, r in zip(ours, rounded, strict=True)) < 1e-3, \
        "highdicom's voxel centres are not ours"
    out = np.zeros(geometry.shape, dtype=np.int32)
    out[rounded[2], rounded[1], rounded[0]] = volume.array
    return out


@pytest.mark.parametrize("kind", ["binary", "labelmap"])
def test_phantom_seg_reads_back_in_highdicom_dcmtk_and_surgitwin(phantom_series: PhantomSeries, tmp_path: Path,
                                                                 kind: str) -> None:
    source = read_source_series(phantom_series.folder)
    labels = phantom_series.volume.with_array(phantom_series.labels)
    segments = _phantom_segments(phantom_series)
    path = write_segmentation(labels, segments, source, tmp_path / f"{kind}.dcm", kind=kind)

    # highdicom: the segment descriptions and the masks, placed by its own reading of the geometry.
    seg = hd.seg.segread(path)
    assert seg.StudyInstanceUID == source.study_instance_uid
    assert seg.FrameOfReferenceUID == source.frame_of_reference_uid
    numbers = list(seg.segment_numbers)
    assert numbers == list(range(1, len(segments) + 1))
    for number, info in zip(numbers, segments, strict=True):
        description = seg.get_segment_description(number)
        assert description.segment_label == info.name
        lab = hd.color.CIELabColor.from_dicom_value(tuple(description.RecommendedDisplayCIELabValue))
        rgb = np.asarray(lab.to_rgb(), float) / 255.0
        assert np.abs(rgb - np.asarray(info.color)).max() <= 1.5 / 255.0
    assert seg.get_segment_description(numbers[segments.index(next(s for s in segments if s.name == "liver"))]) \
        .segmented_property_type.value == "10200004"  # SNOMED CT liver
    expected = np.zeros_like(phantom_series.labels, dtype=np.int32)
    for number, info in zip(numbers, segments, strict=True):
        expected[phantom_series.labels == info.label_value] = number
    assert np.array_equal(_highdicom_on_our_grid(seg, source.geometry), expected)
    referenced = {item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {str(ds.SOPInstanceUID) for ds in source.datasets}

    # dcmtk parses it cleanly; dicom3tools knows the binary SEG IOD (its 2022 tables predate label-map SEG).
    dump = dcmdump_ok(path)
    assert "SegmentSequence" in dump
    if kind == "binary":
        assert dciodvfy_errors(path) == []

    # Our importer: the identical label map, back on the image grid.
    imported = read_segmentation(path, source.geometry, frame_of_reference_uid=source.frame_of_reference_uid)
    assert imported.warnings == []
    assert [s.name for s in imported.segments] == [s.name for s in segments]
    assert np.array_equal(imported.labelmap.array, expected)


@pytest.mark.filterwarnings("ignore:The string .* person name:UserWarning")  # highdicom on the sample's PatientName
def test_seg_of_a_real_ct_series_round_trips(head_ct_dir: Path, tmp_path: Path) -> None:
    from imaging.segmentation import keep_largest_island, load_threshold_presets, threshold_mask

    source = read_source_series(head_ct_dir)
    volume = source.load_volume()
    presets = load_threshold_presets()
    bone = keep_largest_island(threshold_mask(volume, presets["bone"].lower, presets["bone"].upper))
    soft = threshold_mask(volume, presets["soft_tissue"].lower, presets["soft_tissue"].upper) & ~bone
    labels = np.zeros(volume.array.shape, np.uint8)
    labels[soft], labels[bone] = 1, 2
    assert bone.sum() > 1000
    assert soft.sum() > 1000
    segments = [SegmentInfo(1, "Soft tissue", presets["soft_tissue"].color, "threshold"),
                SegmentInfo(2, "Bone", presets["bone"].color, "threshold")]
    path = write_segmentation(volume.with_array(labels), segments, source, tmp_path / "head-seg.dcm")

    seg = hd.seg.segread(path)
    assert np.array_equal(_highdicom_on_our_grid(seg, source.geometry), labels)
    # Positions match: each frame's plane position is the position of the source slice it was derived from.
    ipp_of = {str(ds.SOPInstanceUID): np.asarray(ds.ImagePositionPatient, float) for ds in source.datasets}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        position = np.asarray(frame.PlanePositionSequence[0].ImagePositionPatient, float)
        assert np.abs(position - ipp_of[uid]).max() < 1e-4
    assert seg.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient == \
        source.first.ImageOrientationPatient
    dcmdump_ok(path)
    assert dciodvfy_errors(path) == []
    imported = read_segmentation(path, source.geometry, frame_of_reference_uid=source.frame_of_reference_uid)
    assert np.array_equal(imported.labelmap.array, labels)


def test_deidentification_hook_keeps_references_to_the_deidentified_series(
    phantom_series: PhantomSeries, tmp_path: Path
) -> None:
    from imaging.dicom.deidentify import UIDMap, deidentify_series

    source = read_source_series(phantom_series.folder)
    salt = b"the same secret for the series and its segmentation"
    deidentify_series(sorted(phantom_series.folder.glob("*.dcm")), tmp_path / "deid", uid_map=UIDMap(salt))
    deid_source = read_source_series(tmp_path / "deid")
    labels = phantom_series.volume.with_array((phantom_series.labels == 5).astype(np.uint8))
    options = OutputOptions(deidentify=Deidentify(UIDMap(salt)), content_datetime=dt.datetime(2025, 1, 2, 3, 4, 5))
    path = write_segmentation(labels, [SegmentInfo(1, "Liver")], source, tmp_path / "seg.dcm", options=options)

    ds = pydicom.dcmread(path)
    assert str(ds.PatientName) == ""
    assert ds.PatientID == ""
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.StudyInstanceUID == deid_source.study_instance_uid != source.study_instance_uid
    assert ds.FrameOfReferenceUID == deid_source.frame_of_reference_uid
    referenced = {i.ReferencedSOPInstanceUID for i in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {str(d.SOPInstanceUID) for d in deid_source.datasets}
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == deid_source.first.SeriesInstanceUID
    assert dciodvfy_errors(path) == []  # Type 1 content date/time got the profile's dummy values
    imported = read_segmentation(path, deid_source.geometry, frame_of_reference_uid=deid_source.frame_of_reference_uid)
    assert imported.warnings == []
    assert np.array_equal(imported.labelmap.array, labels.array)


def test_reproducible_uids_give_byte_identical_files(phantom_series: PhantomSeries, tmp_path: Path) -> None:
    source = read_source_series(phantom_series.folder)
    labels = phantom_series.volume.with_array((phantom_series.labels == 4).astype(np.uint8))
    options = OutputOptions(uid_seed="item-hash", content_datetime=dt.datetime(2025, 1, 1))
    a = write_segmentation(labels, [SegmentInfo(1, "Bone")], source, tmp_path / "a.dcm", options=options)
    b = write_segmentation(labels, [SegmentInfo(1, "Bone")], source, tmp_path / "b.dcm", options=options)
    c = write_segmentation(labels, [SegmentInfo(1, "Bone")], source, tmp_path / "c.dcm")
    assert a.read_bytes() == b.read_bytes()
    assert pydicom.dcmread(c).SOPInstanceUID != pydicom.dcmread(a).SOPInstanceUID


def test_bad_inputs_give_clear_errors(phantom_series: PhantomSeries, tmp_path: Path) -> None:
    source = read_source_series(phantom_series.folder)
    labels = phantom_series.volume.with_array(phantom_series.labels)
    with pytest.raises(DicomOutputError, match="no segment describes"):
        write_segmentation(labels, [SegmentInfo(5, "Liver")], source, tmp_path / "x.dcm")
    shifted = Volume(phantom_series.labels, labels.spacing, tuple(np.add(labels.origin, (0, 0, 2.0))),
                     labels.direction)
    with pytest.raises(DicomOutputError, match="does not lie on the source series' grid"):
        write_segmentation(shifted, [SegmentInfo(v, f"s{v}") for v in range(1, 18)], source, tmp_path / "x.dcm")
    with pytest.raises(DicomOutputError, match="kind"):
        write_segmentation(labels, [SegmentInfo(1, "x")], source, tmp_path / "x.dcm", kind="fractional")
    assert not (tmp_path / "x.dcm").exists()

    good = write_segmentation(labels.with_array((phantom_series.labels == 5).astype(np.uint8)),
                              [SegmentInfo(1, "Liver")], source, tmp_path / "seg.dcm")
    half_slice = VolumeGeometry(source.geometry.shape, source.geometry.spacing,
                                tuple(np.add(source.geometry.origin, (0, 0, source.geometry.spacing[2] / 2))),
                                source.geometry.direction)
    with pytest.raises(DicomImportError, match="between image slices"):
        read_segmentation(good, half_slice)
    with pytest.raises(DicomImportError, match="not a DICOM Segmentation"):
        read_segmentation(next(phantom_series.folder.glob("*.dcm")), source.geometry)


def test_seg_of_an_enhanced_multiframe_ct(tmp_path: Path) -> None:
    from tests.conftest import require_data

    folder = require_data("multiframe-enhanced/enhanced-ct-dicom-supplement-sample/dicom")
    source = read_source_series(folder)
    assert len(source.datasets) == 1
    assert source.frame_of_slice is not None  # one file, frames stored in another order than our slices
    volume = source.load_volume()
    labels = (volume.array > np.percentile(volume.array, 80)).astype(np.uint8)
    path = write_segmentation(volume.with_array(labels), [SegmentInfo(1, "Tissue")], source, tmp_path / "mf.dcm")
    assert np.array_equal(_highdicom_on_our_grid(hd.seg.segread(path), source.geometry), labels)
    assert np.array_equal(read_segmentation(path, source.geometry).labelmap.array, labels)
    assert dciodvfy_errors(path) == []
