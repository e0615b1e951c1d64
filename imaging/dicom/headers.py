"""Read the header of one file into a :class:`SliceHeader`, or say in a few words why the file is skipped."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .metadata import SAFE_TAGS, safe_metadata
from .transfer_syntax import is_compressed

__all__ = ["HEADER_KEYWORDS", "SkipFile", "SliceHeader", "build_slice_header", "read_header", "read_headers"]

_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
_GZIP_MAGIC = b"\x1f\x8b"
# A DICOM stream without the 128-byte preamble (old ACR-NEMA style) starts with group 0002 or 0008 (little endian);
# checking that first avoids force-parsing arbitrary binary files, which is slow and can yield nonsense datasets.
_RAW_DATASET_STARTS = (b"\x02\x00", b"\x08\x00")

#: Attributes read at scan time (``specific_tags``): geometry, grouping, pixel format and the metadata allow-list.
HEADER_KEYWORDS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            "SOPClassUID",
            "SeriesInstanceUID",
            "StudyInstanceUID",
            "SeriesNumber",
            "SeriesDescription",
            "Modality",
            "InstanceNumber",
            "Rows",
            "Columns",
            "ImageOrientationPatient",
            "ImagePositionPatient",
            "PixelSpacing",
            "EchoNumbers",
            "TemporalPositionIdentifier",
            "NumberOfFrames",
            "GantryDetectorTilt",
            "RescaleSlope",
            "RescaleIntercept",
            "BitsAllocated",
            "BitsStored",
            "PixelRepresentation",
            "SamplesPerPixel",
            *SAFE_TAGS.keys(),
        ]
    )
)
#: Read as well, only present in enhanced multi-frame objects: per-frame geometry and rescale live there.
MULTIFRAME_KEYWORDS: tuple[str, ...] = ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")


@functools.cache
def _header_tags() -> list[Any]:
    from pydicom.tag import Tag

    return [Tag(k) for k in (*HEADER_KEYWORDS, *MULTIFRAME_KEYWORDS)]


class SkipFile(Exception):
    """Raised by :func:`read_header` for files that are not DICOM images; ``str()`` is the short reason."""


@dataclass(frozen=True)
class SliceHeader:
    """What the reader needs to know about one image file (no pixel data, no patient identity)."""

    path: Path
    series_uid: str
    study_uid: str
    series_number: int | None
    description: str
    modality: str
    rows: int
    columns: int
    instance_number: int | None
    iop: tuple[float, ...] | None
    ipp: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    echo: tuple[int, ...] | None
    temporal_position: int | None
    frames: int
    gantry_tilt: float | None
    slope: float
    intercept: float
    bits_stored: int
    pixel_representation: int
    samples_per_pixel: int
    transfer_syntax: str
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: 0-based frame index inside a multi-frame file (one header per frame), None for a single-frame image.
    frame: int | None = None
    photometric: str = "MONOCHROME2"
    #: Extra grouping key of a multi-frame frame (stack, frame type, echo time, temporal index): frames that differ
    #: in it belong to different candidate volumes.
    split_extra: tuple[Any, ...] = ()
    #: Where the native (uncompressed) pixel values start in the file and how many bytes they take, when the header
    #: reader knows; the loader then reads them straight into the volume without decoding the file again.
    pixel_data_offset: int | None = None
    pixel_data_length: int | None = None
    bits_allocated: int = 16


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    """``n`` floats from a multi-valued DS element, or None when absent or malformed."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        value = [value]
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        return None
    if len(values) != n or not all(np.isfinite(values)):  # NaN/inf positions or spacings cannot place an image
        return None
    return values


def _text(value: Any) -> str:
    """Text of an element; a multi-valued one as pydicom prints it (``['A', 'B']``)."""
    if isinstance(value, list | tuple) or (hasattr(value, "__iter__") and not isinstance(value, str | bytes)):
        return str(list(value)).strip()
    return str(value if value is not None else "").strip()


_IMPLICIT_LE = "1.2.840.10008.1.2"


def build_slice_header(
    get: Callable[[str], Any],
    *,
    path: Path,
    size: int,
    pixel_offset: int,
    sop_class: str,
    syntax: str,
    metadata: Callable[[], dict[str, Any]],
    error: type[SkipFile] = SkipFile,
    **extra: Any,
) -> SliceHeader:
    """The :class:`SliceHeader` of one file from its attributes, whichever parser read them.

    Parameters
    ----------
    get : callable
        ``get(keyword)`` -> the attribute's value or None (a pydicom ``Dataset.get`` or a dict's ``get``).
    path, size : Path, int
        The file and its size on disk.
    pixel_offset : int
        File offset of the Pixel Data element (the size when it has none).
    sop_class, syntax : str
        SOP Class UID and transfer syntax UID ('' when the file has no meta header: implicit VR little endian).
    metadata : callable
        Builds the allow-listed series metadata (only called for images).
    error : type
        Exception raised for a file that is no image (a :class:`SkipFile` subclass; its text is the reason).
    **extra
        Further :class:`SliceHeader` fields the parser knows (e.g. the native pixel data span).
    """
    if sop_class == _DICOMDIR_SOP_CLASS:
        raise error("DICOMDIR index file (lists images, holds none)")
    rows, columns = _int(get("Rows")), _int(get("Columns"))
    if not rows or not columns:
        from pydicom.uid import UID

        kind = UID(sop_class).name if sop_class else "unknown SOP class"
        raise error(f"no image in this DICOM object ({kind})")
    series_uid = _text(get("SeriesInstanceUID"))
    if not series_uid:
        raise error("DICOM image without SeriesInstanceUID: cannot be assigned to a series")
    syntax = syntax or _IMPLICIT_LE  # no file meta (raw dataset): DICOM's default
    frames = _int(get("NumberOfFrames"), 1) or 1
    samples = _int(get("SamplesPerPixel"), 1) or 1
    bits_allocated = _int(get("BitsAllocated"), 16) or 16
    if not is_compressed(syntax):
        # Uncompressed pixel data has a known size: a file smaller than that was cut short (copy interrupted).
        # The element header before the value is 8 (implicit VR) or 12 (explicit VR OB/OW) bytes long.
        needed = (
            pixel_offset
            + (8 if syntax == _IMPLICIT_LE else 12)
            + rows * columns * frames * samples * (bits_allocated // 8 or 1)
        )
        if size < needed:
            raise error(f"truncated: {size} bytes on disk, {needed} or more expected")
    echo_value = get("EchoNumbers")
    echo = None
    if echo_value is not None and echo_value != "":
        values = echo_value if hasattr(echo_value, "__iter__") and not isinstance(echo_value, str) else [echo_value]
        echo = tuple(v for v in (_int(x) for x in values) if v is not None) or None
    spacing = _floats(get("PixelSpacing"), 2)
    return SliceHeader(
        path=Path(path),
        series_uid=series_uid,
        study_uid=_text(get("StudyInstanceUID")),
        series_number=_int(get("SeriesNumber")),
        description=_text(get("SeriesDescription")),
        modality=_text(get("Modality")),
        rows=rows,
        columns=columns,
        instance_number=_int(get("InstanceNumber")),
        iop=_floats(get("ImageOrientationPatient"), 6),
        ipp=_floats(get("ImagePositionPatient"), 3),
        pixel_spacing=(spacing[0], spacing[1]) if spacing else None,
        echo=echo,
        temporal_position=_int(get("TemporalPositionIdentifier")),
        frames=frames,
        gantry_tilt=_float(get("GantryDetectorTilt")),
        slope=_float(get("RescaleSlope"), 1.0) or 1.0,
        intercept=_float(get("RescaleIntercept"), 0.0) or 0.0,
        bits_stored=_int(get("BitsStored"), bits_allocated) or bits_allocated,
        pixel_representation=_int(get("PixelRepresentation"), 0) or 0,
        samples_per_pixel=samples,
        transfer_syntax=syntax,
        metadata=metadata(),
        photometric=_text(get("PhotometricInterpretation")).upper() or "MONOCHROME2",
        bits_allocated=bits_allocated,
        **extra,
    )


def _int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(float(value))  # IS values written as '5.0' by some vendors
    except (TypeError, ValueError, OverflowError):
        return default


def _float(value: Any, default: float | None = None) -> float | None:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return default


def read_header(path: Path) -> SliceHeader:
    """Read the header of ``path`` (no pixel data); a multi-frame file gives one header for the whole file.

    Parameters
    ----------
    path : pathlib.Path
        File to inspect.

    Returns
    -------
    SliceHeader

    Raises
    ------
    SkipFile
        When the file is not a DICOM image; the message is a short reason for ``ScanResult.skipped``.
    """
    return _read(path)[0]


def read_headers(path: Path) -> list[SliceHeader]:
    """Headers of the images in ``path``: one for a single-frame file, one per frame for a multi-frame file.

    Frames of an enhanced multi-frame object take their position, orientation, pixel spacing and rescale from the
    per-frame or shared functional groups.

    Raises
    ------
    SkipFile
        As :func:`read_header`.
    """
    header, ds = _read(path)
    if header.frames > 1:
        from .multiframe import frame_headers

        return frame_headers(header, ds)
    return [header]


def _read(path: Path) -> tuple[SliceHeader, Any]:
    try:
        size = path.stat().st_size
        fh = path.open("rb")
    except OSError as exc:
        raise SkipFile(f"cannot be opened ({exc.strerror or type(exc).__name__})") from exc
    with fh:
        head = fh.read(132)
        if size == 0:
            raise SkipFile("empty file")
        if head.startswith(_GZIP_MAGIC):
            raise SkipFile("gzip-compressed file: decompress it to read the DICOM inside")
        has_preamble = head[128:132] == b"DICM"
        if not has_preamble and head[:2] not in _RAW_DATASET_STARTS:
            raise SkipFile("not DICOM (no DICM preamble)")
        if path.name.upper() == "DICOMDIR":
            raise SkipFile("DICOMDIR index file (lists images, holds none)")
        fh.seek(0)
        import pydicom
        from pydicom.errors import InvalidDicomError

        try:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, specific_tags=_header_tags(), force=not has_preamble)
        except InvalidDicomError as exc:
            raise SkipFile("not DICOM (no DICM preamble and not parseable)") from exc
        except Exception as exc:  # pydicom raises many types (EOFError, ValueError, struct.error...) on bad headers
            raise SkipFile(f"unreadable DICOM header ({type(exc).__name__}): file truncated or corrupt") from exc
        # stop_before_pixels leaves the file at the Pixel Data element: its offset lets us check the file's length.
        pixel_offset = fh.tell()

    meta = getattr(ds, "file_meta", None)
    sop_class = str(ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta is not None else "") or "")
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    header = build_slice_header(
        ds.get,
        path=path,
        size=size,
        pixel_offset=pixel_offset,
        sop_class=sop_class,
        syntax=syntax,
        metadata=lambda: safe_metadata(ds),
    )
    return header, ds
