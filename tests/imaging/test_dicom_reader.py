"""Tests of imaging.dicom: synthetic series written with pydicom, plus the real CT series of the shared data folder."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEGLosslessSV1, generate_uid

from imaging.dicom import (
    DicomError,
    DicomPathNotFoundError,
    DicomReadCancelled,
    NoDicomFoundError,
    SeriesGeometryError,
    load_series,
    read_dicom_volume,
    scan_folder,
)
from imaging.dicom.metadata import FORBIDDEN_KEYWORDS

REPO_ROOT = Path(__file__).resolve().parents[2]
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
PHI_NAME = "SECRET^PATIENT"
PHI_ID = "PHI-123456"


# --- synthetic data -------------------------------------------------------------------------------------------------
def write_slice(
    path: Path,
    *,
    series_uid: str,
    study_uid: str = "1.2.826.0.1.3680043.8.498.1",
    series_number: int = 1,
    instance: int = 1,
    ipp: Sequence[float] = (0.0, 0.0, 0.0),
    iop: Sequence[float] = AXIAL,
    pixels: np.ndarray | None = None,
    rows: int = 6,
    columns: int = 5,
    pixel_spacing: tuple[float, float] = (0.8, 0.6),
    slope: float = 1.0,
    intercept: float = -1024.0,
    echo: int | None = None,
    syntax: str = ExplicitVRLittleEndian,
) -> Path:
    """Write one single-frame CT slice (int16 stored values) with a little fake patient identity."""
    if pixels is None:
        pixels = (np.arange(rows * columns).reshape(rows, columns) + 100 * instance).astype(np.int16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = PHI_NAME
    ds.PatientID = PHI_ID
    ds.PatientBirthDate = "19010101"
    ds.AccessionNumber = "ACC999"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = study_uid + ".9"
    ds.StudyDate = "20240101"
    ds.Modality = "CT"
    ds.Manufacturer = "Synthetic"
    ds.SeriesDescription = f"synthetic {series_number}"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in iop]
    ds.PixelSpacing = list(pixel_spacing)
    ds.SliceThickness = 1.0
    if echo is not None:
        ds.EchoNumbers = echo
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = f"{intercept:g}"
    if syntax == ExplicitVRLittleEndian:
        ds.PixelData = pixels.astype("<i2").tobytes()
    else:  # encapsulated garbage: enough to exercise the "no decoder" path
        ds.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8not really jpeg\xff\xd9"])
        ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def write_series(
    folder: Path,
    positions: Sequence[Sequence[float]],
    *,
    iop: Sequence[float] = AXIAL,
    instances: Sequence[int] | None = None,
    series_uid: str | None = None,
    prefix: str = "IM",
    **kwargs,
) -> str:
    """Write one slice per position (file names follow the instance numbers) and return the series UID."""
    folder.mkdir(parents=True, exist_ok=True)
    uid = series_uid or generate_uid()
    instances = list(instances) if instances is not None else list(range(1, len(positions) + 1))
    for pos, inst in zip(positions, instances, strict=True):
        write_slice(folder / f"{prefix}{inst:04d}.dcm", series_uid=uid, instance=inst, ipp=pos, iop=iop, **kwargs)
    return uid


def axial_positions(n: int, step: float = 2.5, z0: float = 10.0) -> list[tuple[float, float, float]]:
    return [(-20.0, -30.0, z0 + k * step) for k in range(n)]


def expected_slice(instance: int, rows: int = 6, columns: int = 5, intercept: int = -1024) -> np.ndarray:
    return np.arange(rows * columns).reshape(rows, columns) + 100 * instance + intercept


# --- synthetic series -----------------------------------------------------------------------------------------------
def test_axial_series_with_shuffled_instance_numbers(tmp_path: Path) -> None:
    positions = axial_positions(5)
    instances = [3, 5, 1, 4, 2]  # InstanceNumber deliberately unrelated to position
    write_series(tmp_path, positions, instances=instances)
    result = scan_folder(tmp_path)
    assert result.skipped == []
    (series,) = result.series
    assert series.is_volume
    assert series.warnings == []
    geometry = series.geometry
    assert geometry is not None
    assert geometry.size_xyz == (5, 6, 5)
    assert geometry.spacing == pytest.approx((0.6, 0.8, 2.5))
    assert geometry.origin == pytest.approx((-20.0, -30.0, 10.0))
    np.testing.assert_allclose(geometry.direction, np.eye(3))
    assert [p.name for p in series.files] == [f"IM{i:04d}.dcm" for i in instances]

    volume = load_series(series)
    assert volume.array.dtype == np.int16
    for k, inst in enumerate(instances):
        np.testing.assert_array_equal(volume.array[k], expected_slice(inst))
    d = series.to_dict()
    assert d["size"] == [5, 6, 5]
    assert d["n_files"] == 5
    assert len(d["direction"]) == 9
    json.dumps(d)


def test_matches_simpleitk_series_reader(tmp_path: Path) -> None:
    sitk = pytest.importorskip("SimpleITK")
    write_series(tmp_path, axial_positions(4, step=1.25), instances=[4, 2, 3, 1])
    (series,) = scan_folder(tmp_path).series
    ours = load_series(series)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    theirs = reader.Execute()
    np.testing.assert_allclose(theirs.GetSpacing(), ours.spacing, atol=1e-6)
    np.testing.assert_allclose(theirs.GetOrigin(), ours.origin, atol=1e-6)
    np.testing.assert_allclose(np.reshape(theirs.GetDirection(), (3, 3)), ours.direction, atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(theirs), ours.array)


def test_oblique_series_keeps_its_direction(tmp_path: Path) -> None:
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_euler("xyz", [20, -35, 10], degrees=True).as_matrix()
    r, c, n = rot[:, 0], rot[:, 1], rot[:, 2]
    origin = np.array([5.0, -12.0, 40.0])
    positions = [tuple(origin + k * 2.0 * n) for k in range(4)]
    write_series(tmp_path, positions[::-1], iop=(*r, *c))  # written top-down: order must come from positions
    (series,) = scan_folder(tmp_path).series
    assert series.is_volume, series.warnings
    assert series.warnings == []
    assert series.geometry is not None
    np.testing.assert_allclose(series.geometry.direction, rot, atol=1e-6)
    assert series.geometry.spacing[2] == pytest.approx(2.0, abs=1e-5)
    np.testing.assert_allclose(series.geometry.origin, origin, atol=1e-5)
    volume = load_series(series)
    np.testing.assert_allclose(volume.geometry.index_to_point([0, 0, 3]), positions[3], atol=1e-4)


def test_missing_slice_is_reported(tmp_path: Path) -> None:
    write_series(tmp_path, [(0.0, 0.0, z) for z in (0.0, 3.0, 6.0, 12.0, 15.0)])
    (series,) = scan_folder(tmp_path).series
    assert series.is_volume
    assert series.geometry is not None
    assert series.geometry.spacing[2] == pytest.approx(3.0)
    (warning,) = series.warnings
    assert "missing slice(s) between positions 6 and 12 mm" in warning


def test_non_uniform_spacing_is_reported(tmp_path: Path) -> None:
    write_series(tmp_path, [(0.0, 0.0, z) for z in (0.0, 3.0, 6.0, 10.0, 13.0)])
    (series,) = scan_folder(tmp_path).series
    assert any("non-uniform slice spacing" in w and "4 mm" in w for w in series.warnings)


def test_gantry_tilt_detected_without_tilt_tag(tmp_path: Path) -> None:
    tilt = np.radians(15.0)
    positions = [(0.0, -k * 3.0 * np.tan(tilt), k * 3.0) for k in range(4)]
    write_series(tmp_path, positions)
    (series,) = scan_folder(tmp_path).series
    assert series.is_volume
    (warning,) = series.warnings
    assert "gantry tilt" in warning
    assert "15.0°" in warning
    assert "tag absent" in warning
    geometry = series.geometry
    assert geometry is not None
    # Uncorrected, the grid keeps every slice where the scanner put it: a sheared grid whose slice axis follows
    # the positions (the table), not the normal; rows and columns keep their directions.
    np.testing.assert_allclose(geometry.direction[:, :2], np.eye(3)[:, :2], atol=1e-9)
    np.testing.assert_allclose(geometry.direction[:, 2], [0.0, -np.sin(tilt), np.cos(tilt)], atol=1e-9)
    assert geometry.spacing[2] == pytest.approx(3.0 / np.cos(tilt))
    origins = geometry.index_to_point(np.array([[0.0, 0.0, k] for k in range(4)]))
    np.testing.assert_allclose(origins, positions, atol=1e-5)  # DS text precision


def test_two_series_mixed_with_junk(tmp_path: Path) -> None:
    uid_b = write_series(tmp_path, axial_positions(3), series_number=7, prefix="B")
    uid_a = write_series(tmp_path, axial_positions(4, step=1.0), series_number=2, prefix="A", rows=4, columns=4)
    (tmp_path / "notes.txt").write_text("not a DICOM file\n")
    truncated = tmp_path / "B9999.dcm"
    write_slice(truncated, series_uid=uid_b, instance=9, ipp=(-20.0, -30.0, 30.0))
    truncated.write_bytes(truncated.read_bytes()[:-20])
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "archive.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(200))

    result = scan_folder(tmp_path)
    assert [s.series_uid for s in result.series] == [uid_a, uid_b]  # ordered by series number
    assert [s.n_files for s in result.series] == [4, 3]
    reasons = {p.name: why for p, why in result.skipped}
    assert set(reasons) == {"notes.txt", "B9999.dcm", "archive.gz"}
    assert "not DICOM" in reasons["notes.txt"]
    assert "truncated" in reasons["B9999.dcm"]
    assert "gzip" in reasons["archive.gz"]
    volume = read_dicom_volume(tmp_path)  # the largest volume
    assert volume.metadata["series_instance_uid"] == uid_a
    assert volume.array.shape == (4, 4, 4)


def test_two_images_at_the_same_position_are_not_a_volume(tmp_path: Path) -> None:
    write_series(tmp_path, [(0.0, 0.0, 0.0), (0.0, 0.0, 2.0), (0.0, 0.0, 2.0), (0.0, 0.0, 4.0)])
    (series,) = scan_folder(tmp_path).series
    assert not series.is_volume
    assert series.geometry is None
    assert any("2 images at the same position: not a volume" in w for w in series.warnings)
    assert series.to_dict()["spacing"] is None
    with pytest.raises(SeriesGeometryError, match="not a volume"):
        load_series(series)
    with pytest.raises(NoDicomFoundError, match="forms a 3-D volume"):
        read_dicom_volume(tmp_path)


def test_single_image_is_not_a_volume(tmp_path: Path) -> None:
    write_series(tmp_path, [(0.0, 0.0, 0.0)])
    (series,) = scan_folder(tmp_path / "IM0001.dcm").series  # a single file path works too
    assert not series.is_volume
    assert any("single image" in w for w in series.warnings)


def test_split_by_orientation_and_echo(tmp_path: Path) -> None:
    uid = generate_uid()
    write_series(tmp_path, axial_positions(3), series_uid=uid, prefix="AX")
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    write_series(
        tmp_path,
        [(x, 0.0, 0.0) for x in (0.0, 1.0, 2.0)],
        iop=sagittal,
        series_uid=uid,
        prefix="SA",
        instances=[11, 12, 13],
    )
    result = scan_folder(tmp_path)
    assert [s.series_uid for s in result.series] == [f"{uid}.1", f"{uid}.2"]
    assert all(s.is_volume for s in result.series)
    assert all("image orientation" in s.warnings[0] for s in result.series)
    assert result.series[1].geometry is not None
    np.testing.assert_allclose(result.series[1].geometry.direction[:, 2], [-1.0, 0.0, 0.0], atol=1e-9)

    echo_dir = tmp_path / "echo"
    uid2 = generate_uid()
    write_series(echo_dir, axial_positions(3), series_uid=uid2, prefix="E1", echo=1)
    write_series(echo_dir, axial_positions(3), series_uid=uid2, prefix="E2", echo=2, instances=[4, 5, 6])
    series = scan_folder(echo_dir).series
    assert [s.series_uid for s in series] == [f"{uid2}.1", f"{uid2}.2"]
    assert all(s.is_volume and "echo number" in s.warnings[0] for s in series)


def test_rescale_slope_gives_float32(tmp_path: Path) -> None:
    write_series(tmp_path, axial_positions(3), slope=0.5, intercept=-10.0)
    volume = read_dicom_volume(tmp_path)
    assert volume.array.dtype == np.float32
    np.testing.assert_allclose(volume.array[0], expected_slice(1, intercept=0) * 0.5 - 10.0)
    assert load_series(scan_folder(tmp_path).series[0], dtype=np.float64).array.dtype == np.float64


def test_no_patient_identity_leaves_the_reader(tmp_path: Path) -> None:
    write_series(tmp_path, axial_positions(3))
    (series,) = scan_folder(tmp_path).series
    volume = load_series(series)
    for blob in (json.dumps(series.metadata), json.dumps(series.to_dict()), repr(volume.metadata)):
        assert PHI_NAME not in blob
        assert PHI_ID not in blob
        assert "19010101" not in blob
        assert "ACC999" not in blob
    assert series.metadata["modality"] == "CT"
    assert series.metadata["study_date"] == "20240101"
    assert not {"patient_name", "patient_id", "PatientName"} & set(volume.metadata)
    assert "PatientName" in FORBIDDEN_KEYWORDS


def test_file_truncated_after_scan_names_the_file(tmp_path: Path) -> None:
    write_series(tmp_path, axial_positions(3))
    (series,) = scan_folder(tmp_path).series
    victim = series.files[1]
    victim.write_bytes(victim.read_bytes()[:-25])
    with pytest.raises(DicomError, match=victim.name):
        load_series(series)


def test_compressed_without_codec_names_transfer_syntax(tmp_path: Path) -> None:
    write_series(tmp_path, axial_positions(2), syntax=JPEGLosslessSV1)
    (series,) = scan_folder(tmp_path).series
    with pytest.raises(DicomError, match=r"JPEG Lossless.*install"):
        load_series(series)


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(DicomPathNotFoundError, match="does not exist"):
        scan_folder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):
        read_dicom_volume(tmp_path / "nowhere")
    (tmp_path / "readme.txt").write_text("hello")
    assert scan_folder(tmp_path).series == []
    with pytest.raises(NoDicomFoundError, match="no DICOM image"):
        read_dicom_volume(tmp_path)


def test_progress_and_cancel(tmp_path: Path) -> None:
    write_series(tmp_path, axial_positions(4))
    reports: list[tuple[float, str]] = []
    read_dicom_volume(tmp_path, progress=lambda f, m: reports.append((f, m)))
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DicomReadCancelled):
        scan_folder(tmp_path, cancel=cancel)
    with pytest.raises(DicomReadCancelled):
        load_series(scan_folder(tmp_path).series[0], cancel=cancel)


# --- real data ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_dir() -> Path:
    return Path(os.environ.get("SURGITWIN_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))


def require(path: Path) -> Path:
    """Skip (or fail on CI, where the data must be present) when ``path`` is missing."""
    if not path.exists():
        message = f"test data not found at {path} (set SURGITWIN_TEST_DATA to the shared data folder)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def as_reference_orientation(volume, reference):
    """Flip ``reference`` axes (array + geometry) so its index axes point the same way as ``volume``'s."""
    array = reference.array
    origin = np.asarray(reference.origin, dtype=float)
    direction = np.array(reference.direction, dtype=float)
    for axis in range(3):  # x, y, z index axes -> array axes 2, 1, 0
        if np.dot(direction[:, axis], volume.direction[:, axis]) < 0:
            array = np.flip(array, axis=2 - axis)
            origin = origin + direction[:, axis] * reference.spacing[axis] * (array.shape[2 - axis] - 1)
            direction[:, axis] *= -1
    return array, origin, direction


def test_real_philips_ct_head(data_dir: Path) -> None:
    folder = require(data_dir / "ct-head-phantom-philips" / "dicom")
    result = scan_folder(folder)
    assert [(p.name, "DICOMDIR" in why) for p, why in result.skipped] == [("DIRFILE", True)]
    (series,) = result.series
    assert series.is_volume, series.warnings
    assert series.warnings == []
    volume = load_series(series)
    assert volume.geometry.size_xyz == (512, 512, 28)
    assert volume.spacing == pytest.approx((0.451171875, 0.451171875, 5.0))
    assert volume.origin == pytest.approx((-115.5, -1.85, 696.21), abs=1e-3)
    np.testing.assert_allclose(volume.direction, np.eye(3), atol=1e-6)
    assert volume.array.dtype == np.int16
    assert (int(volume.array.min()), int(volume.array.max())) == (-1024, 782)
    assert volume.metadata["modality"] == "CT"
    assert volume.metadata["manufacturer"] == "Philips"

    sitk = pytest.importorskip("SimpleITK")
    from imaging.volume import Volume

    references = sorted((folder.parent / "reference").glob("dcm2niix*/*.nii.gz"))
    if not references:
        pytest.skip("reference NIfTI missing")
    reference = Volume.from_simpleitk(sitk.ReadImage(str(references[0])))
    array, origin, direction = as_reference_orientation(volume, reference)
    np.testing.assert_allclose(direction, volume.direction, atol=1e-4)
    np.testing.assert_allclose(origin, volume.origin, atol=1e-2)
    np.testing.assert_allclose(reference.spacing, volume.spacing, atol=1e-5)
    np.testing.assert_array_equal(array, volume.array)


def odd_case(data_dir: Path, name: str):
    folder = require(data_dir / "ct-odd-cases-dicom2nifti") / name / "dicom"
    if not folder.is_dir():
        pytest.skip(f"{folder} not in the expected layout")
    series = scan_folder(folder).series
    if len(series) != 1:
        pytest.skip(f"{folder}: expected one series, found {len(series)}")
    return series[0]


def test_real_gantry_tilt_is_reported(data_dir: Path) -> None:
    series = odd_case(data_dir, "gantry-tilt-siemens")
    assert series.is_volume
    assert any("gantry tilt" in w and "14.0°" in w and "tag absent" in w for w in series.warnings)
    assert series.geometry is not None
    # The slices step 5 mm along the table (their normal step is 4.8515 mm, which dcm2niix's uncorrected output
    # uses); the sheared grid puts every voxel at its ImagePositionPatient.
    assert series.geometry.spacing[2] == pytest.approx(5.0, abs=1e-6)
    positions = np.array([h.ipp for h in series.slices])
    origins = series.geometry.index_to_point(np.array([[0.0, 0.0, k] for k in range(len(positions))]))
    np.testing.assert_allclose(origins, positions, atol=1e-6)


def test_real_missing_slice_is_reported(data_dir: Path) -> None:
    series = odd_case(data_dir, "missing-slice-ge")
    assert series.is_volume
    assert any("missing slice(s) between positions 28.11 and 38.11 mm" in w for w in series.warnings)


def test_real_tilt_and_missing_slice_are_reported(data_dir: Path) -> None:
    series = odd_case(data_dir, "tilt-and-missing-slice-siemens")
    assert any("gantry tilt" in w for w in series.warnings)
    assert any("missing slice" in w for w in series.warnings)


def test_real_not_a_volume_is_reported(data_dir: Path) -> None:
    series = odd_case(data_dir, "not-a-volume-siemens")
    assert not series.is_volume
    assert any("4 images at the same position: not a volume" in w for w in series.warnings)
    with pytest.raises(SeriesGeometryError):
        load_series(series)


def test_split_by_image_type(tmp_path: Path) -> None:
    """Original slices and derived reformats sharing a SeriesInstanceUID are two volumes, not one stack."""
    import pydicom

    uid = generate_uid()
    write_series(tmp_path, axial_positions(3), series_uid=uid, prefix="OR")
    write_series(tmp_path, axial_positions(3), series_uid=uid, prefix="DE", instances=[4, 5, 6])
    for path in sorted(tmp_path.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.ImageType = ["DERIVED", "SECONDARY", "MPR"] if path.name.startswith("DE") else ["ORIGINAL", "PRIMARY"]
        ds.save_as(path)
    series = scan_folder(tmp_path, cache=None).series
    assert [s.series_uid for s in series] == [f"{uid}.1", f"{uid}.2"]
    assert all(s.is_volume for s in series)
    assert "image type" in series[0].warnings[0]
    assert "ORIGINAL/PRIMARY" in series[0].warnings[0]
    assert "DERIVED/SECONDARY" in series[1].warnings[0]
