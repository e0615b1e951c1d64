"""The fast header reader: identical values to pydicom on real and synthetic files, and safe on hostile bytes."""

from __future__ import annotations

import contextlib
import os
import struct
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from imaging.dicom.fast_header import (
    FIELDS,
    PHI_KEYWORDS,
    HeaderParseError,
    HeaderRecord,
    read_header_fast,
    read_headers_fast,
    to_slice_header,
)
from imaging.dicom.headers import SkipFile, read_header
from tests import conftest

_DATA_KEYWORDS = [k for k in FIELDS if not k.startswith(("MediaStorage", "TransferSyntax"))]


def _norm(value: Any) -> Any:
    """pydicom value -> plain comparable Python (independent of the module under test)."""
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        items = tuple(_norm(v) for v in value if str(v).strip() != "" or not isinstance(v, str))
        return items[0] if len(items) == 1 else items
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    text = str(value).strip("\x00 ")
    return text or None


def _pydicom_attrs(path: Path, include_phi: bool = True) -> dict[str, Any]:
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    out = {}
    for keyword in _DATA_KEYWORDS:
        if keyword in PHI_KEYWORDS and not include_phi:
            continue
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        norm = _norm(value)
        if norm not in (None, ()):
            out[keyword] = norm
    return out


def _ours(record: HeaderRecord) -> dict[str, Any]:
    values = {**record.attrs, **(record.phi or {})}
    values.pop("MediaStorageSOPClassUID", None)
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}


def _same_outcome(path: Path) -> None:
    try:
        expected: Any = read_header(path)
    except SkipFile as exc:
        expected = str(exc)
    try:
        # The pixel-data span is extra knowledge of the fast parser (pydicom does not report it).
        got: Any = replace(to_slice_header(read_header_fast(path)), pixel_data_offset=None, pixel_data_length=None)
    except HeaderParseError as exc:
        got = str(exc)
    assert got == expected, path
    if not isinstance(expected, str):
        assert got.metadata == expected.metadata, path


def _real_files() -> list[Path]:
    root = conftest.test_data_root()
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".gz"))


def _is_dicom(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(132)[128:132] == b"DICM"


def test_real_data_matches_pydicom_and_read_header() -> None:
    files = _real_files()
    if not files:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"real test data not found under {conftest.test_data_root()}")
        pytest.skip(f"real test data not found under {conftest.test_data_root()} (set SURGITWIN_TEST_DATA)")
    n_dicom = 0
    for path in files:
        _same_outcome(path)
        if _is_dicom(path):
            n_dicom += 1
            record = read_header_fast(path, include_phi=True)
            assert _ours(record) == _pydicom_attrs(path), path
    assert n_dicom >= 50


def test_phantom_matches_pydicom(small_phantom_dir: Path) -> None:
    for path in sorted(small_phantom_dir.iterdir()):
        record = read_header_fast(path, include_phi=True)
        assert record.source == "fast"
        assert _ours(record) == _pydicom_attrs(path)
        _same_outcome(path)
        # the pixel data element is where pydicom stops
        with path.open("rb") as fh:
            pydicom.dcmread(fh, stop_before_pixels=True)
            assert record.pixel_offset == fh.tell()


# ------------------------------------------------------------------------------------------------ synthetic files
def _dataset(**extra: Any) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = "20250102"
    ds.Modality = "CT"
    ds.SeriesDescription = "Thorax 1.0 B31f"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "12345"
    ds.PatientBirthDate = "19700101"
    ds.SliceThickness = "1.25"
    ds.GantryDetectorTilt = "-12.5"
    ds.EchoNumbers = "2"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 7
    ds.AcquisitionNumber = 3
    ds.InstanceNumber = 42
    ds.ImagePositionPatient = ["-100.5", "20", "3.75"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "0.9762960", "-0.2164396"]
    ds.TemporalPositionIdentifier = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 4
    ds.Columns = 3
    ds.PixelSpacing = ["0.7", "0.8"]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    for k, v in extra.items():
        setattr(ds, k, v)
    ds.PixelData = np.arange(12, dtype="<i2").tobytes()
    return ds


def _write(path: Path, ds: Dataset, syntax: str = ExplicitVRLittleEndian) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)
    return path


def _check_synthetic(path: Path, source: str = "fast") -> HeaderRecord:
    record = read_header_fast(path, include_phi=True)
    assert record.source == source
    assert _ours(record) == _pydicom_attrs(path)
    _same_outcome(path)
    return record


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_explicit_and_implicit_vr(tmp_path: Path, syntax: str) -> None:
    record = _check_synthetic(_write(tmp_path / "a.dcm", _dataset(), syntax))
    assert record.transfer_syntax == syntax
    assert record.attrs["ImageOrientationPatient"] == (1.0, 0.0, 0.0, 0.0, 0.976296, -0.2164396)
    assert record.attrs["ImageType"] == ("ORIGINAL", "PRIMARY", "AXIAL")
    assert record.phi == {"PatientName": "Doe^Jane", "PatientID": "12345", "PatientBirthDate": "19700101"}


def test_phi_is_read_only_on_request_and_never_reaches_slice_header(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.dcm", _dataset())
    record = read_header_fast(path)
    assert record.phi is None
    assert not PHI_KEYWORDS & record.attrs.keys()
    header = to_slice_header(read_header_fast(path, include_phi=True))
    assert "Doe" not in repr(header) + repr(header.metadata)
    assert "12345" not in repr(header.metadata)


def _item(**kw: Any) -> Dataset:
    item = Dataset()
    for k, v in kw.items():
        setattr(item, k, v)
    return item


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_sequences_private_tags_before_wanted_tags(tmp_path: Path, syntax: str) -> None:
    ds = _dataset()
    # a nested sequence in group 0008 (before most wanted tags), private tags, a sequence in group 0018
    inner = _item(CodeValue="X", CodingSchemeDesignator="99", CodeMeaning="inner")
    ds.ProcedureCodeSequence = Sequence([_item(CodeValue="A", ConceptCodeSequence=Sequence([inner])), _item()])
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "OB", b"\x00\x01" * 500)
    ds.add_new(0x00091002, "LO", "secret\\values")
    ds.CTDIPhantomTypeCodeSequence = Sequence([_item(CodeValue="113691")])
    path = _write(tmp_path / "a.dcm", ds, syntax)
    _check_synthetic(path)
    # undefined lengths: pydicom writes sequences with defined lengths; flip them to undefined
    ds2 = pydicom.dcmread(path)
    for kw in ("ProcedureCodeSequence", "CTDIPhantomTypeCodeSequence"):
        ds2[kw].is_undefined_length = True
        for it in ds2[kw].value:
            it.is_undefined_length_sequence_item = True
    ds2["ProcedureCodeSequence"].value[0]["ConceptCodeSequence"].is_undefined_length = True
    ds2.save_as(tmp_path / "b.dcm")
    raw = (tmp_path / "b.dcm").read_bytes()
    assert b"\xfe\xff\xdd\xe0" in raw  # the sequence delimiter is really there
    _check_synthetic(tmp_path / "b.dcm")


def test_odd_lengths_and_big_endian_fall_back_to_pydicom(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.dcm", _dataset(), ExplicitVRLittleEndian)
    raw = bytearray(path.read_bytes())
    # make the (even, padded) Modality value "CT" odd-length "C" + shift: simplest is to edit the length of a
    # private element we insert; instead rewrite Modality length 2 -> 1 and drop one byte
    i = raw.index(b"\x08\x00\x60\x00CS\x02\x00CT")
    raw[i + 6 : i + 10] = b"\x01\x00C"
    path.write_bytes(bytes(raw))
    record = read_header_fast(path, include_phi=True)
    assert record.source == "pydicom"
    assert record.attrs["Modality"] == "C"
    assert _ours(record) == _pydicom_attrs(path)
    big = _write(tmp_path / "big.dcm", _dataset(), ExplicitVRBigEndian)
    _check_synthetic(big, source="pydicom")


def test_raw_dataset_without_preamble_falls_back(tmp_path: Path) -> None:
    ds = _dataset()
    path = tmp_path / "raw.dcm"
    pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True)  # no preamble, no meta
    assert path.read_bytes()[:2] == b"\x08\x00"
    record = read_header_fast(path, include_phi=True)
    assert record.source == "pydicom"
    assert record.transfer_syntax == ""
    _same_outcome(path)


@pytest.mark.parametrize(("charset", "text"), [("ISO_IR 100", "Schädel nativ"), ("ISO_IR 192", "頭部 CT")])
def test_non_ascii_text(tmp_path: Path, charset: str, text: str) -> None:
    ds = _dataset(SpecificCharacterSet=charset, SeriesDescription=text, PatientName="Müller^Jörg")
    record = _check_synthetic(_write(tmp_path / "a.dcm", ds))
    assert record.attrs["SeriesDescription"] == text
    assert record.phi["PatientName"] == "Müller^Jörg"


def test_odd_values(tmp_path: Path) -> None:
    # IS written as '5.0', DS with padding/exponent, a malformed DS, a backslash inside a description
    ds = _dataset(InstanceNumber="5.0", SliceThickness="1E+00", SeriesDescription="A\\B")
    path = _write(tmp_path / "a.dcm", ds)
    record = read_header_fast(path)
    assert record.attrs["InstanceNumber"] == 5
    assert record.attrs["SliceThickness"] == 1.0
    _same_outcome(path)


def test_truncated_pixel_data_and_non_images_are_skipped_like_read_header(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.dcm", _dataset())
    (tmp_path / "cut.dcm").write_bytes(path.read_bytes()[:-6])
    _same_outcome(tmp_path / "cut.dcm")
    with pytest.raises(HeaderParseError, match="truncated"):
        to_slice_header(read_header_fast(tmp_path / "cut.dcm"))
    sr = _dataset()
    del sr.Rows, sr.Columns, sr.PixelData
    _same_outcome(_write(tmp_path / "sr.dcm", sr))
    (tmp_path / "DICOMDIR").write_bytes(path.read_bytes())
    _same_outcome(tmp_path / "DICOMDIR")


# ------------------------------------------------------------------------------------------------ hostile inputs
def _only_documented(path: Path) -> None:
    try:
        record = read_header_fast(path, include_phi=True)
    except HeaderParseError as exc:
        reason = str(exc)
        assert reason
        return
    with contextlib.suppress(HeaderParseError):
        to_slice_header(record)


def test_empty_gzip_random_and_directory(tmp_path: Path, rng: np.random.Generator) -> None:
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(HeaderParseError, match="empty"):
        read_header_fast(tmp_path / "empty")
    (tmp_path / "gz").write_bytes(b"\x1f\x8b\x08" + bytes(100))
    with pytest.raises(HeaderParseError, match="gzip"):
        read_header_fast(tmp_path / "gz")
    with pytest.raises(HeaderParseError, match="cannot be opened"):
        read_header_fast(tmp_path / "missing")
    with pytest.raises(HeaderParseError):
        read_header_fast(tmp_path)
    for i in range(200):
        body = rng.integers(0, 256, int(rng.integers(1, 3000)), dtype=np.uint8).tobytes()
        if i % 2:
            body = bytes(128) + b"DICM" + body
        (tmp_path / f"r{i}").write_bytes(body)
        _only_documented(tmp_path / f"r{i}")


def test_truncated_at_every_offset(tmp_path: Path) -> None:
    for syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        ds = _dataset()
        ds.ProcedureCodeSequence = Sequence([_item(CodeValue="A")])
        full = _write(tmp_path / "full.dcm", ds, syntax).read_bytes()
        cut = tmp_path / "cut.dcm"
        start = time.perf_counter()
        for n in range(len(full)):
            cut.write_bytes(full[:n])
            _only_documented(cut)
        assert time.perf_counter() - start < 60


def _element(tag: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
    n = len(value) if length is None else length
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr, 0, n) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, n) + value


def _file(body: bytes) -> bytes:
    syntax = ExplicitVRLittleEndian.encode() + b"\x00"
    meta = _element(0x00020010, b"UI", syntax)
    return bytes(128) + b"DICM" + _element(0x00020000, b"UL", struct.pack("<L", len(meta))) + meta + body


@pytest.mark.parametrize(
    "body",
    [
        _element(0x00080060, b"CS", b"CT", length=0xFFFE),  # declared far past the end
        _element(0x00091001, b"OB", b"", length=0xFFFFFFF0),  # huge skip
        _element(0x00080060, b"UT", b"", length=0x7FFFFFF0),  # huge wanted value
        _element(0x00081140, b"SQ", b"", length=0xFFFFFFFF) + b"\xfe\xff\x00\xe0\xff\xff\xff\xff" * 5000,  # deep
        _element(0x00081140, b"SQ", b"", length=0xFFFFFFFF) + b"\xfe\xff\x00\xe0\x00\x00\x00\x00" * 20000,  # no end
        _element(0x00080060, b"ZZ", b"CT"),  # not a VR
        _element(0x0020000E, b"UI", b"1.2") + _element(0x00080060, b"CS", b"CT"),  # out of order
        _element(0xFFFEE000, b"OB", b""),  # item at the top level
        _element(0x00280010, b"US", b"\x01"),  # odd US
    ],
)
def test_hostile_lengths(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "h.dcm"
    path.write_bytes(_file(body))
    start = time.perf_counter()
    _only_documented(path)
    assert time.perf_counter() - start < 5


# ------------------------------------------------------------------------------------------------ batch
def test_read_headers_fast_in_order_with_skip_reasons(tmp_path: Path, small_phantom_dir: Path) -> None:
    files = sorted(small_phantom_dir.iterdir())[:5]
    (tmp_path / "notes.txt").write_text("not dicom")
    paths = [*files, tmp_path / "notes.txt", tmp_path / "missing.dcm"]
    out = read_headers_fast(paths)
    assert [isinstance(r, HeaderRecord) for r in out] == [True] * 5 + [False, False]
    assert out[5] == "not DICOM (no DICM preamble)"
    assert out[6].startswith("cannot be opened")
    assert [r.attrs["InstanceNumber"] for r in out[:5]] == [read_header(f).instance_number for f in files]


@pytest.mark.slow
def test_process_pool_gives_the_same_records(small_phantom_dir: Path) -> None:
    files = sorted(small_phantom_dir.iterdir())
    assert read_headers_fast(files * 8, workers=2) == read_headers_fast(files * 8, workers=1)
