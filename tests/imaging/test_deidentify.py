"""De-identification (PS3.15 basic profile) and PHI-free logging."""

from __future__ import annotations

import ast
import copy
import datetime as dt
import io
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from imaging.dicom import read_dicom_volume, scan_folder
from imaging.dicom.deidentify import (
    BASIC_PROFILE,
    Action,
    BurnedInAnnotationRiskError,
    DateMode,
    DeidentifyOptions,
    UIDMap,
    deidentify_dataset,
    deidentify_series,
)
from imaging.logging_safety import REDACTED, PHIRedactingFilter, install_phi_filter
from tests.conftest import REPO_ROOT, require_data

STUDY_UID = "1.2.826.0.1.3680043.8.498.777.1"
SERIES_UID = "1.2.826.0.1.3680043.8.498.777.2"
FRAME_UID = "1.2.826.0.1.3680043.8.498.777.3"
SOP_ROOT = "1.2.826.0.1.3680043.8.498.777.4."
STUDY_DATE = "20230315"
BIRTH_DATE = "19610203"

#: Every string planted below; none may survive de-identification (checked on the written bytes).
PHI = [
    "Doe^Jane^Quincy",
    "Quincy",
    "MRN-778899",
    "ALT-445566",
    "Secret Lane",
    "ACC-990011",
    "Secretus Hospital",
    "Radiology Dept Nine",
    "Refer^Doctor",
    "Tech^Operator",
    "Perform^Physician",
    "Reader^Physician",
    "SN-5551234",
    "CTSTATION9",
    "REQ-31337",
    "Requesting^Physician",
    "Nested^Person",
    "PRIVATE-PHI-424242",
    "OVERLAY-PHI-777",
    "CURVE-PHI-888",
    "Comment about Jane",
    "HISTORY-PHI-1",
    "Admit^Diagnosis",
    "ADMISSION-5150",
    BIRTH_DATE,
    STUDY_DATE,
    "20230316",
    STUDY_UID,
    SERIES_UID,
    FRAME_UID,
    SOP_ROOT,
]


def _phi_slice(k: int, n: int, *, rows: int = 8, columns: int = 6) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = f"{SOP_ROOT}{k + 1}"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Modality = "CT"
    ds.PatientName = "Doe^Jane^Quincy"
    ds.PatientID = "MRN-778899"
    ds.PatientBirthDate = BIRTH_DATE
    ds.PatientSex = "F"
    ds.PatientAge = "062Y"
    ds.PatientWeight = "71.5"
    ds.PatientAddress = "12 Secret Lane, Springfield"
    ds.OtherPatientIDs = "ALT-445566"
    ds.PatientComments = "Comment about Jane"
    ds.AdditionalPatientHistory = "HISTORY-PHI-1"
    ds.AdmittingDiagnosesDescription = "Admit^Diagnosis"
    ds.AdmissionID = "ADMISSION-5150"
    ds.AccessionNumber = "ACC-990011"
    ds.InstitutionName = "St Secretus Hospital"
    ds.InstitutionAddress = "1 Secret Lane"
    ds.InstitutionalDepartmentName = "Radiology Dept Nine"
    ds.ReferringPhysicianName = "Refer^Doctor"
    ds.OperatorsName = "Tech^Operator"
    ds.PerformingPhysicianName = "Perform^Physician"
    ds.NameOfPhysiciansReadingStudy = "Reader^Physician"
    ds.DeviceSerialNumber = "SN-5551234"
    ds.StationName = "CTSTATION9"
    ds.StudyDescription = "Head CT for Doe^Jane^Quincy"
    ds.SeriesDescription = "MRN-778899 axial brain"
    ds.ProtocolName = "HEAD ACC-990011"
    ds.ImageComments = "Comment about Jane"
    ds.StudyDate = STUDY_DATE
    ds.SeriesDate = STUDY_DATE
    ds.AcquisitionDate = "20230316"  # one day after the study: the interval must survive shifting
    ds.ContentDate = "20230316"
    ds.StudyTime = "101500"
    ds.AcquisitionTime = f"1016{k:02d}"
    ds.AcquisitionDateTime = f"20230316101{k % 10}00"
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
    ds.FrameOfReferenceUID = FRAME_UID
    ds.StudyID = "STUDY-42"
    ds.SeriesNumber = 3
    ds.InstanceNumber = k + 1
    # Nested PHI: request attributes (X), an image reference (U, kept with a remapped UID) holding a person name.
    request = Dataset()
    request.RequestedProcedureID = "REQ-31337"
    request.RequestingPhysician = "Requesting^Physician"
    ds.RequestAttributesSequence = DicomSequence([request])
    if k > 0:
        ref = Dataset()
        ref.ReferencedSOPClassUID = CTImageStorage
        ref.ReferencedSOPInstanceUID = f"{SOP_ROOT}1"
        ref.PersonName = "Nested^Person"
        ref.OperatorsName = "Nested^Person"
        ds.ReferencedImageSequence = DicomSequence([ref])
    # An unlisted sequence holding PHI: the PN and free-text safety nets must catch it.
    code = Dataset()
    code.CodeValue = "T-A0100"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "Brain"
    code.NamesOfIntendedRecipientsOfResults = "Perform^Physician"
    ds.AnatomicRegionSequence = DicomSequence([code])
    # Private block, overlay and curve (repeating groups).
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "LO", "PRIVATE-PHI-424242")
    ds.add_new(0x60000022, "LO", "OVERLAY-PHI-777")
    ds.add_new(0x50002500, "LO", "CURVE-PHI-888")
    ds.ImagePositionPatient = [-10.0, -12.0, 5.0 * k]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.6]
    ds.SliceThickness = 5
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.BurnedInAnnotation = "NO"
    pixels = (np.arange(rows * columns).reshape(rows, columns) * 7 + 100 * k).astype(np.int16)
    ds.PixelData = pixels.tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = "CTSTATION9"
    ds.file_meta = meta
    return ds


def write_phi_series(folder: Path, n: int = 4) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        path = folder / f"Doe_Jane_{k}.dcm"  # identifying file names, as exported by some viewers
        _phi_slice(k, n).save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def assert_no_phi(paths: list[Path], phi: list[str]) -> None:
    for path in paths:
        assert not any(s in path.name for s in ("Doe", "Jane")), path.name
        blob = path.read_bytes()
        for secret in phi:
            for encoded in {secret.encode("latin-1"), secret.upper().encode("latin-1")}:
                assert encoded not in blob, f"{secret!r} left in {path.name}"


@pytest.fixture
def phi_series(tmp_path: Path) -> list[Path]:
    return write_phi_series(tmp_path / "in")


# --- the profile ----------------------------------------------------------------------------------------------------
def test_profile_table_is_data_with_valid_keywords_and_actions() -> None:
    for keyword, action in BASIC_PROFILE.items():
        assert pydicom.datadict.tag_for_keyword(keyword) is not None, keyword
        assert isinstance(action, Action)
    for keyword in ("PatientName", "PatientID", "AccessionNumber", "InstitutionName", "OperatorsName", "StudyDate",
                    "OtherPatientIDs", "DeviceSerialNumber", "ImageComments", "RequestAttributesSequence"):
        assert BASIC_PROFILE[keyword] in (Action.X, Action.Z, Action.D)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
                    "ReferencedSOPInstanceUID"):
        assert BASIC_PROFILE[keyword] is Action.U


def test_no_planted_phi_survives_in_written_bytes(phi_series: list[Path], tmp_path: Path) -> None:
    report = deidentify_series(phi_series, tmp_path / "out", uid_map=UIDMap(b"salt"))
    assert len(report.files) == len(phi_series)
    assert_no_phi(report.files, PHI)
    for path in report.files:
        ds = pydicom.dcmread(path)  # valid Part 10 file: no force needed
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.LongitudinalTemporalInformationModified == "REMOVED"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.PatientName == ""
        assert ds.PatientID == ""
        assert ds.StudyDate == ""
        assert "AcquisitionDate" not in ds
        assert "InstitutionName" not in ds
        assert not any(elem.tag.is_private for elem in ds)
        assert not any(0x5000 <= elem.tag.group <= 0x60FF for elem in ds)
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert "SourceApplicationEntityTitle" not in ds.file_meta
    # The record counts actions and names attributes, never values.
    text = repr(report)
    assert not any(secret in text for secret in PHI)
    assert report.actions["X"] > 0
    assert report.actions["U"] > 0
    assert report.actions["Z"] > 0
    assert report.private_removed == len(phi_series) * 2
    assert report.attributes["PatientName"] == "Z"


def test_uids_remapped_consistently_across_the_series(phi_series: list[Path], tmp_path: Path) -> None:
    uid_map = UIDMap(b"secret salt")
    report = deidentify_series(phi_series, tmp_path / "out", uid_map=uid_map)
    out = [pydicom.dcmread(p) for p in report.files]
    assert len({ds.StudyInstanceUID for ds in out}) == 1
    assert len({ds.SeriesInstanceUID for ds in out}) == 1
    assert len({ds.FrameOfReferenceUID for ds in out}) == 1
    assert len({ds.SOPInstanceUID for ds in out}) == len(out)
    assert out[0].StudyInstanceUID not in (STUDY_UID, SERIES_UID)
    assert out[0].StudyInstanceUID.startswith("2.25.")
    assert all(len(ds.SOPInstanceUID) <= 64 and ds.SOPClassUID == CTImageStorage for ds in out)
    # References inside sequences follow the same mapping.
    for ds in out[1:]:
        ref = ds.ReferencedImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == out[0].SOPInstanceUID
        assert ref.ReferencedSOPClassUID == CTImageStorage
    # Same salt -> same UIDs; another salt -> others.
    assert UIDMap(b"secret salt").remap(STUDY_UID) == out[0].StudyInstanceUID
    assert UIDMap(b"other salt").remap(STUDY_UID) != out[0].StudyInstanceUID
    assert UIDMap().remap(CTImageStorage) == CTImageStorage


def test_deidentified_series_loads_with_identical_geometry_and_pixels(phi_series: list[Path], tmp_path: Path) -> None:
    original = read_dicom_volume(phi_series[0].parent)
    deidentify_series(phi_series, tmp_path / "out")
    result = read_dicom_volume(tmp_path / "out")
    assert result.geometry.is_close(original.geometry)
    np.testing.assert_array_equal(result.array, original.array)
    assert result.array.dtype == original.array.dtype


def test_dates_shifted_consistently_with_intervals_preserved(phi_series: list[Path], tmp_path: Path) -> None:
    options = DeidentifyOptions(date_mode=DateMode.SHIFT)
    report = deidentify_series(phi_series, tmp_path / "out", options=options, uid_map=UIDMap(b"s"))
    assert_no_phi(report.files, [s for s in PHI if not s.isdigit()] + [STUDY_DATE, "20230316", BIRTH_DATE])
    out = [pydicom.dcmread(p) for p in report.files]

    def day(text: str) -> dt.date:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date()

    offset = day(out[0].StudyDate) - day(STUDY_DATE)
    assert offset.days != 0
    for k, ds in enumerate(out):
        assert day(ds.StudyDate) - day(STUDY_DATE) == offset
        assert day(ds.AcquisitionDate) - day(ds.StudyDate) == dt.timedelta(days=1)
        assert day(ds.PatientBirthDate) - day(BIRTH_DATE) == offset  # age at the study is preserved
        assert ds.AcquisitionDateTime[8:] == f"101{k}00"  # time of day kept
        assert ds.StudyTime == "101500"
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
        assert "113107" in {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
    # Another patient gets another offset; the same patient the same one.
    uid_map = UIDMap(b"s")
    assert uid_map.date_offset_days("A") == uid_map.date_offset_days("A") != uid_map.date_offset_days("B")


def test_dates_removed_by_default() -> None:
    ds = _phi_slice(1, 2)
    deidentify_dataset(ds)
    assert ds.StudyDate == ""
    assert ds.ContentDate == ""
    assert ds.PatientBirthDate == ""
    for keyword in ("SeriesDate", "AcquisitionDate", "AcquisitionDateTime", "AcquisitionTime", "SeriesTime"):
        assert keyword not in ds


def test_retain_options_keep_what_they_name() -> None:
    ds = _phi_slice(0, 1)
    options = DeidentifyOptions(
        retain_descriptors=True, retain_patient_characteristics=True, retain_device_identity=True,
        pseudonym="SUBJ-001",
    )
    deidentify_dataset(ds, options=options)
    assert ds.SeriesDescription.strip() == "axial brain"  # kept, cleaned of the patient ID
    assert "Doe" not in ds.StudyDescription
    assert "Head CT" in ds.StudyDescription
    assert "ACC-990011" not in ds.ProtocolName
    assert ds.PatientSex == "F"
    assert ds.PatientAge == "062Y"
    assert ds.DeviceSerialNumber == "SN-5551234"
    assert ds.PatientName == "SUBJ-001"
    assert ds.PatientID == "SUBJ-001"
    codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
    assert {"113100", "113105", "113108", "113109"} <= codes


def test_safe_private_attributes_kept_only_with_the_option() -> None:
    ds = _phi_slice(0, 1)
    ds.add_new(0x00190010, "LO", "SIEMENS MR HEADER")
    ds.add_new(0x0019100C, "IS", "1000")
    ds.add_new(0x0019100D, "LO", "PRIVATE-PHI-424242")
    kept = copy.deepcopy(ds)
    deidentify_dataset(ds)
    assert not any(elem.tag.is_private for elem in ds)
    deidentify_dataset(kept, options=DeidentifyOptions(retain_safe_private=True))
    private = {elem.tag: elem.value for elem in kept if elem.tag.is_private}
    assert set(private) == {0x00190010, 0x0019100C}


def test_in_place_and_sequences_recursed() -> None:
    ds = _phi_slice(2, 3)
    report = deidentify_dataset(ds, uid_map=UIDMap(b"x"))
    assert "RequestAttributesSequence" not in ds
    ref = ds.ReferencedImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == UIDMap(b"x").remap(f"{SOP_ROOT}1")
    assert ref.PersonName == "ANONYMIZED"
    assert "OperatorsName" not in ref
    # PN safety net inside an unlisted sequence:
    assert ds.AnatomicRegionSequence[0].NamesOfIntendedRecipientsOfResults == ""
    assert ds.AnatomicRegionSequence[0].CodeMeaning == "Brain"
    assert not report.burned_in_annotation_risk


# --- burned-in annotation -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"BurnedInAnnotation": "YES"}, "BurnedInAnnotation"),
        ({"Modality": "US", "BurnedInAnnotation": None}, "modality US"),
        ({"SOPClassUID": SecondaryCaptureImageStorage, "BurnedInAnnotation": None}, "secondary capture"),
    ],
)
def test_burned_in_annotation_flagged_and_export_refused(
    tmp_path: Path, change: dict[str, str | None], reason: str
) -> None:
    paths = []
    for k in range(2):
        ds = _phi_slice(k, 2)
        for keyword, value in change.items():
            if value is None:
                del ds[keyword]
            else:
                setattr(ds, keyword, value)
        path = tmp_path / "in" / f"{k}.dcm"
        path.parent.mkdir(exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    report = deidentify_dataset(pydicom.dcmread(paths[0]))
    assert report.burned_in_annotation_risk
    assert any(reason in r for r in report.burned_in_reasons)
    with pytest.raises(BurnedInAnnotationRiskError, match="burned into the pixels"):
        deidentify_series(paths, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    accepted = deidentify_series(paths, tmp_path / "out", accept_burned_in_risk=True)
    assert accepted.burned_in_annotation_risk
    assert len(accepted.files) == 2


# --- real data ------------------------------------------------------------------------------------------------------
def test_real_ct_series_deidentified_loads_identically(tmp_path: Path) -> None:
    folder = require_data("ct-head-phantom-philips/dicom")
    series = max(scan_folder(folder).volumes, key=lambda s: s.n_files)
    first = pydicom.dcmread(series.files[0], stop_before_pixels=True)
    identity = [
        str(first.get(k, "")).strip()
        for k in ("PatientName", "PatientID", "InstitutionName", "StationName", "DeviceSerialNumber",
                  "StudyInstanceUID", "SeriesInstanceUID", "AccessionNumber", "OperatorsName")
    ]
    identity = [s for s in identity if len(s) >= 4]
    assert identity, "the real series should carry some identifying attributes to remove"
    report = deidentify_series(series.files, tmp_path / "out", options=DeidentifyOptions(date_mode=DateMode.SHIFT))
    assert len(report.files) == series.n_files
    assert_no_phi(report.files, identity)
    original = read_dicom_volume(folder)
    result = read_dicom_volume(tmp_path / "out")
    assert result.geometry.is_close(original.geometry)
    np.testing.assert_array_equal(result.array, original.array)
    for path in report.files[:3]:
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        assert not any(elem.tag.is_private for elem in ds)


@pytest.mark.skipif(shutil.which("dcmdump") is None, reason="dcmtk's dcmdump is not installed")
def test_output_parses_in_dcmdump(phi_series: list[Path], tmp_path: Path) -> None:
    report = deidentify_series(phi_series, tmp_path / "out")
    run = subprocess.run(["dcmdump", "-E", str(report.files[0])], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


# --- logging --------------------------------------------------------------------------------------------------------
@pytest.fixture
def captured_log() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger("phi_test_root")
    root.propagate = False
    root.setLevel(logging.DEBUG)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s|%(patient_name)s"))
    root.addHandler(handler)
    install_phi_filter(root, known=["MRN-778899"])
    yield root, stream
    root.removeHandler(handler)
    root.filters.clear()


def test_log_filter_redacts_person_names_extra_and_known_values(captured_log) -> None:
    _root, stream = captured_log
    child = logging.getLogger("phi_test_root.child")  # propagated records are filtered by the handler
    child.info("opened %s for patient %s", "case.zip", "Doe^Jane^Quincy", extra={"patient_name": "Ann Other"})
    child.warning("id MRN-778899, doctor Ann Other", extra={"patient_name": "Ann Other"})
    child.error("no names here: series 3 'AXIAL 5mm'", extra={"patient_name": None})
    text = stream.getvalue()
    for secret in ("Doe^Jane", "Quincy", "MRN-778899", "Ann Other"):
        assert secret not in text
    assert REDACTED in text
    assert "case.zip" in text
    assert "series 3 'AXIAL 5mm'" in text


def test_log_filter_redacts_exception_text() -> None:
    phi_filter = PHIRedactingFilter()
    try:
        raise ValueError("bad value Doe^Jane")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info())
    phi_filter.filter(record)
    assert "Doe^Jane" not in record.exc_text


def test_imaging_package_never_logs_patient_attributes() -> None:
    """Static check: no logging/print call in imaging/ mentions a patient attribute."""
    offenders = []
    log_methods = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "print"}
    for path in (REPO_ROOT / "imaging").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in log_methods:
                segment = ast.get_source_segment(source, node) or ""
                if "Patient" in segment or "patient_" in segment or "PersonName" in segment:
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert not offenders
