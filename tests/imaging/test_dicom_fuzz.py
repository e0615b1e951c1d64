"""Fuzz the DICOM reader: damaged headers and pixel data must give a result or a :class:`DicomError`, nothing else.

Deterministic (``derandomize=True``): the same examples run every time, so a failure is reproducible from the
printed falsifying example.  Each example writes a small series (a tiny phantom volume, or pydicom's ``CT_small.dcm``
made into a 3-slice series), damages it at the byte level (flip / insert / delete / overwrite / truncate) or at the
element level (odd values planted in geometry and pixel-format attributes), then runs :func:`scan_folder` and
:func:`read_dicom_volume` under a per-example wall-clock guard.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from imaging.dicom import DicomError, read_dicom_volume, scan_folder
from imaging.phantom import write_ct_series
from imaging.volume import Volume

# pydicom warns (UserWarning) about every invalid value it reads: expected here, by construction.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: Crashes found by this fuzzing, still open in the reader (see the reproducers at the end of this file).
RESCALE_CRASH = (
    "imaging/dicom/pixels.py converts RescaleSlope/RescaleIntercept with bare float(): a multi-valued or non-numeric "
    "value raises TypeError/ValueError instead of DicomError (headers.py tolerates the same value, so the scan "
    "accepts the series)"
)
SPACING_CRASH = (
    "imaging/dicom/geometry.py builds VolumeGeometry from a PixelSpacing that is zero, negative, NaN or infinite, "
    "or from non-finite ImagePositionPatient values (NaN slice step): scan_folder raises "
    "imaging.volume.GeometryError (a ValueError) instead of reporting the series as 'not a volume'"
)

EXAMPLE_TIMEOUT_S = 20.0
FUZZ_SETTINGS = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


class ExampleHang(Exception):
    """A reader call ran past :data:`EXAMPLE_TIMEOUT_S`."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`ExampleHang` in the main thread after ``seconds`` (SIGALRM; Unix main thread only)."""

    def on_alarm(signum: int, frame: object) -> None:
        raise ExampleHang(f"reader did not return within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- seed series ----------------------------------------------------------------------------------------------------
def _phantom_series() -> list[bytes]:
    rng = np.random.default_rng(7)
    array = rng.integers(-1000, 1500, size=(3, 12, 10)).astype(np.int16)
    volume = Volume(array, (0.7, 0.8, 2.5), (-3.5, -4.0, 10.0), np.eye(3), {"modality": "CT"})
    with tempfile.TemporaryDirectory() as tmp:
        files = write_ct_series(volume, Path(tmp) / "s", seed=11)
        return [f.read_bytes() for f in files]


def _ct_small_series() -> list[bytes]:
    """``CT_small.dcm`` as three slices 5 mm apart (new SOP instance UIDs, same series)."""
    out = []
    for k in range(3):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{ds.SOPInstanceUID}.{k + 1}"
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 5.0 * k]
        ds.InstanceNumber = k + 1
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.dcm"
            ds.save_as(path)
            out.append(path.read_bytes())
    return out


SEEDS: dict[str, list[bytes]] = {}


def seed_series(name: str) -> list[bytes]:
    if not SEEDS:
        SEEDS["phantom"] = _phantom_series()
        SEEDS["ct_small"] = _ct_small_series()
    return SEEDS[name]


# --- checking -------------------------------------------------------------------------------------------------------
def check_reader(folder: Path) -> None:
    """Run the scanner and the one-call reader; only success or DicomError is acceptable."""
    with time_limit(EXAMPLE_TIMEOUT_S):
        try:
            result = scan_folder(folder)
        except DicomError:
            return
        assert len(result.skipped) + sum(s.n_files for s in result.series) >= 1
        try:
            volume = read_dicom_volume(folder)
        except DicomError:
            return
        assert volume.array.ndim == 3


def write_series(folder: Path, blobs: list[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, blob in enumerate(blobs):
        (folder / f"IM{k:03d}.dcm").write_bytes(blob)


# --- byte-level mutations -------------------------------------------------------------------------------------------
def apply_op(data: bytearray, op: tuple[str, float, int, bytes]) -> bytearray:
    kind, where, count, payload = op
    if not data:
        return data
    # Half of the positions fall into the first 1.5 kB (file meta and header), where damage is most interesting.
    pos = int(where * (min(len(data), 1536) if count % 2 else len(data))) % len(data)
    if kind == "flip":
        data[pos] ^= 1 << (count % 8)
    elif kind == "set":
        data[pos : pos + len(payload)] = payload
    elif kind == "insert":
        data[pos:pos] = payload
    elif kind == "delete":
        del data[pos : pos + count]
    elif kind == "truncate":
        del data[pos:]
    return data


byte_ops = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
    st.floats(0.0, 1.0, allow_nan=False),
    st.integers(1, 64),
    st.one_of(
        st.binary(min_size=1, max_size=8),
        st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xfe\xff\x00\xe0", b"\x10\x00\x10\x00", b"SQ"]),
    ),
)


@pytest.mark.slow
@FUZZ_SETTINGS
@given(
    seed=st.sampled_from(["phantom", "ct_small"]),
    victims=st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),
    ops=st.lists(byte_ops, min_size=1, max_size=4),
)
def test_byte_mutations_give_a_volume_or_dicom_error(seed: str, victims: list[int], ops: list) -> None:
    blobs = list(seed_series(seed))
    for v in victims:
        data = bytearray(blobs[v])
        for op in ops:
            data = apply_op(data, op)
        blobs[v] = bytes(data)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "series"
        write_series(folder, blobs)
        check_reader(folder)


# --- element-level mutations ----------------------------------------------------------------------------------------
ODD_TEXT = ["", " ", "nan", "inf", "-inf", "1e309", "abc", "\\", "1\\2", "0", "-1", "1e-300", "99999999999999", "\x00"]
ODD_INTS = [0, 1, 2, 3, 7, 8, 15, 16, 17, 32, 33, 64, 65535]
ELEMENTS = {
    # keyword: VR
    "ImagePositionPatient": "DS",
    "ImageOrientationPatient": "DS",
    "PixelSpacing": "DS",
    "SliceThickness": "DS",
    "RescaleSlope": "DS",
    "RescaleIntercept": "DS",
    "GantryDetectorTilt": "DS",
    "InstanceNumber": "IS",
    "NumberOfFrames": "IS",
    "EchoNumbers": "IS",
    "SeriesNumber": "IS",
    "TemporalPositionIdentifier": "IS",
    "Rows": "US",
    "Columns": "US",
    "BitsAllocated": "US",
    "BitsStored": "US",
    "HighBit": "US",
    "PixelRepresentation": "US",
    "SamplesPerPixel": "US",
    "PhotometricInterpretation": "CS",
    "SeriesInstanceUID": "UI",
    "Modality": "CS",
    "StudyDate": "DA",
}

element_edit = st.tuples(
    st.sampled_from(sorted(ELEMENTS)),
    st.one_of(
        st.just(None),  # delete the element
        st.lists(st.sampled_from(ODD_TEXT), min_size=1, max_size=7),
        st.integers(0, len(ODD_INTS) - 1),
        st.binary(max_size=12),  # raw bytes as the value (invalid for most VRs)
    ),
)


def edit_dataset(blob: bytes, edits: list) -> bytes:
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(blob))
    for keyword, value in edits:
        vr = ELEMENTS[keyword]
        tag = pydicom.datadict.tag_for_keyword(keyword)
        if value is None:
            if tag in ds:
                del ds[tag]
            continue
        if isinstance(value, bytes):
            raw = value
        elif isinstance(value, int):
            number = ODD_INTS[value]
            raw = number.to_bytes(2, "little") if vr == "US" else str(number).encode()
        else:
            raw = "\\".join(value).encode("latin-1")
        if vr in ("DS", "IS", "CS", "UI", "DA") and len(raw) % 2:
            raw += b" "
        if vr == "US" and len(raw) % 2:
            raw += b"\x00"
        # A raw element bypasses pydicom's value validation, as a badly written file would.
        ds[tag] = pydicom.dataelem.RawDataElement(tag, vr, len(raw), raw, 0, False, True)
    buf = pydicom.filebase.DicomBytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


@pytest.mark.slow
@FUZZ_SETTINGS
@given(
    seed=st.sampled_from(["phantom", "ct_small"]),
    victims=st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),
    edits=st.lists(element_edit, min_size=1, max_size=4),
)
def test_element_mutations_give_a_volume_or_dicom_error(seed: str, victims: list[int], edits: list) -> None:
    blobs = list(seed_series(seed))
    for v in victims:
        try:
            blobs[v] = edit_dataset(blobs[v], edits)
        except Exception:  # pydicom refused to *write* the odd value: nothing to test for this example
            return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "series"
        write_series(folder, blobs)
        check_reader(folder)


def test_seed_series_are_readable() -> None:
    """The unmutated seeds load, so the fuzz tests start from valid files."""
    for name in ("phantom", "ct_small"):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / name
            write_series(folder, seed_series(name))
            volume = read_dicom_volume(folder)
            assert volume.array.shape[0] == 3


# --- minimal reproducers of the crashes found -----------------------------------------------------------------------
def _series_with(tmp_path: Path, edits: list, victims: tuple[int, ...] = (0,)) -> Path:
    blobs = list(seed_series("phantom"))
    for v in victims:
        blobs[v] = edit_dataset(blobs[v], edits)
    folder = tmp_path / "series"
    write_series(folder, blobs)
    return folder


@pytest.mark.parametrize("value", [["1", "2"], b"ab"], ids=["multi-valued", "not-a-number"])
@pytest.mark.parametrize("keyword", ["RescaleSlope", "RescaleIntercept"])
def test_reproducer_malformed_rescale_gives_dicom_error_or_default(tmp_path: Path, keyword: str, value) -> None:
    check_reader(_series_with(tmp_path, [(keyword, value)]))


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("PixelSpacing", ["1e309", "1e309"]),
        ("PixelSpacing", ["0", "0"]),
        ("PixelSpacing", ["-1", "-1"]),
        ("PixelSpacing", ["nan", "nan"]),
        ("ImagePositionPatient", ["nan", "0", "0"]),
        ("ImagePositionPatient", ["inf", "0", "0"]),
    ],
)
def test_reproducer_bad_spacing_or_position_is_not_a_volume(tmp_path: Path, keyword: str, value: list) -> None:
    check_reader(_series_with(tmp_path, [(keyword, value)], victims=(0, 1, 2)))
