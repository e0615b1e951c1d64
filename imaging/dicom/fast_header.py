"""Fast, bounds-checked reading of the few header attributes the DICOM indexer needs.

:func:`read_header_fast` parses the file meta and the data set of one file with :mod:`struct` from its first few
kilobytes (reading more only when an element reaches past them), for Explicit and Implicit VR Little Endian.  It
decodes only the attributes in :data:`FIELDS` and skips everything else by length, undefined-length sequences
included, until it reaches Pixel Data.  Anything unusual (no preamble, big endian, deflate, odd lengths, a VR that
does not look like one, items at the top level, nesting deeper than 32) is handed to pydicom
(``dcmread(stop_before_pixels=True, specific_tags=...)``), so the results are identical either way; the record says
which parser produced it (``source``).

It never raises anything but :class:`HeaderParseError` (a :class:`~imaging.dicom.headers.SkipFile`, so existing
``except SkipFile`` handlers keep working): every declared length is checked against the file size and a per-value
cap before anything is read, every loop advances by at least eight bytes, and recursion is bounded.

:func:`read_headers_fast` reads many files, with an optional :class:`~imaging.dicom.index_cache.IndexCache`,
and :func:`to_slice_header` turns a record into the :class:`~imaging.dicom.headers.SliceHeader` the scanner
groups, with the same skip reasons as :func:`~imaging.dicom.headers.read_header`.

Patient identity (:data:`PHI_KEYWORDS`) is parsed only on request (``include_phi=True``, for the study browser),
kept apart in ``HeaderRecord.phi`` and never copied into a ``SliceHeader``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .headers import SkipFile

if TYPE_CHECKING:
    from .headers import SliceHeader
    from .index_cache import IndexCache
    from .progress import CancelToken, ProgressCallback

__all__ = [
    "FIELDS",
    "PARSER_VERSION",
    "PHI_KEYWORDS",
    "HeaderParseError",
    "HeaderRecord",
    "read_header_fast",
    "read_headers_fast",
    "to_slice_header",
]

#: Bumped whenever parsing or the record layout changes: cached records of another version are ignored.
PARSER_VERSION = 1


class HeaderParseError(SkipFile):
    """The file is not a readable DICOM object; ``str()`` is a short reason (same wording as ``read_header``)."""


# (group << 16 | element) -> (keyword, VR used when the file is implicit VR, kind)
# kinds: "ui" UID, "cs" code string(s), "text" SH/LO (character set applies), "pn" person name, "ds" decimal
# string(s) -> float, "is" integer string(s) -> int, "us" unsigned short(s).
_META_FIELDS: dict[int, tuple[str, str, str]] = {
    0x00020002: ("MediaStorageSOPClassUID", "UI", "ui"),
    0x00020003: ("MediaStorageSOPInstanceUID", "UI", "ui"),
    0x00020010: ("TransferSyntaxUID", "UI", "ui"),
}
_FIELDS: dict[int, tuple[str, str, str]] = {
    0x00080005: ("SpecificCharacterSet", "CS", "cs"),
    0x00080008: ("ImageType", "CS", "cs"),
    0x00080016: ("SOPClassUID", "UI", "ui"),
    0x00080018: ("SOPInstanceUID", "UI", "ui"),
    0x00080020: ("StudyDate", "DA", "cs"),
    0x00080021: ("SeriesDate", "DA", "cs"),
    0x00080060: ("Modality", "CS", "cs"),
    0x00080070: ("Manufacturer", "LO", "text"),
    0x00081030: ("StudyDescription", "LO", "text"),
    0x0008103E: ("SeriesDescription", "LO", "text"),
    0x00081090: ("ManufacturerModelName", "LO", "text"),
    0x00100010: ("PatientName", "PN", "pn"),
    0x00100020: ("PatientID", "LO", "text"),
    0x00100030: ("PatientBirthDate", "DA", "cs"),
    0x00180010: ("ContrastBolusAgent", "LO", "text"),
    0x00180015: ("BodyPartExamined", "CS", "cs"),
    0x00180050: ("SliceThickness", "DS", "ds"),
    0x00180060: ("KVP", "DS", "ds"),
    0x00180080: ("RepetitionTime", "DS", "ds"),
    0x00180081: ("EchoTime", "DS", "ds"),
    0x00180086: ("EchoNumbers", "IS", "is"),
    0x00180087: ("MagneticFieldStrength", "DS", "ds"),
    0x00180088: ("SpacingBetweenSlices", "DS", "ds"),
    0x00181120: ("GantryDetectorTilt", "DS", "ds"),
    0x00181210: ("ConvolutionKernel", "SH", "text"),
    0x0020000D: ("StudyInstanceUID", "UI", "ui"),
    0x0020000E: ("SeriesInstanceUID", "UI", "ui"),
    0x00200011: ("SeriesNumber", "IS", "is"),
    0x00200012: ("AcquisitionNumber", "IS", "is"),
    0x00200013: ("InstanceNumber", "IS", "is"),
    0x00200032: ("ImagePositionPatient", "DS", "ds"),
    0x00200037: ("ImageOrientationPatient", "DS", "ds"),
    0x00200052: ("FrameOfReferenceUID", "UI", "ui"),
    0x00200100: ("TemporalPositionIdentifier", "IS", "is"),
    0x00280002: ("SamplesPerPixel", "US", "us"),
    0x00280004: ("PhotometricInterpretation", "CS", "cs"),
    0x00280008: ("NumberOfFrames", "IS", "is"),
    0x00280010: ("Rows", "US", "us"),
    0x00280011: ("Columns", "US", "us"),
    0x00280030: ("PixelSpacing", "DS", "ds"),
    0x00280100: ("BitsAllocated", "US", "us"),
    0x00280101: ("BitsStored", "US", "us"),
    0x00280103: ("PixelRepresentation", "US", "us"),
    0x00281052: ("RescaleIntercept", "DS", "ds"),
    0x00281053: ("RescaleSlope", "DS", "ds"),
    0x00281054: ("RescaleType", "LO", "text"),
}
#: Keywords of the attributes a :class:`HeaderRecord` may hold (``attrs``/``phi``), plus the file meta ones.
FIELDS: tuple[str, ...] = tuple(v[0] for v in (*_META_FIELDS.values(), *_FIELDS.values()))
#: Patient identity: parsed only with ``include_phi=True``, stored in ``HeaderRecord.phi``, never in ``attrs``.
PHI_KEYWORDS: frozenset[str] = frozenset({"PatientName", "PatientID", "PatientBirthDate"})
_PHI_TAGS = frozenset(t for t, v in _FIELDS.items() if v[0] in PHI_KEYWORDS)
_WANTED: dict[int, tuple[str, bytes, str, bool]] = {
    t: (k, vr.encode("ascii"), kind, t in _PHI_TAGS) for t, (k, vr, kind) in _FIELDS.items()
}

_PIXEL_DATA = 0x7FE00010
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS"}
    | {b"ST", b"TM", b"UI", b"UL", b"US"}
)
_EXPLICIT_LE, _IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
# Encapsulated (compressed) syntaxes keep the data set in explicit VR little endian; deflate and big endian don't.
_NOT_EXPLICIT_LE = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2", _IMPLICIT_LE})
_GZIP_MAGIC = b"\x1f\x8b"
_RAW_DATASET_STARTS = (b"\x02\x00", b"\x08\x00")
_CHUNK = 8192
_MAX_VALUE = 1 << 20  # a wanted attribute longer than 1 MiB is hostile, not a header
_MAX_DEPTH = 32
_U16x2 = struct.Struct("<HH")
_U32 = struct.Struct("<L")
_U16 = struct.Struct("<H")
_TAG_VR_LEN16 = struct.Struct("<HH2sH")
_TAG_LEN32 = struct.Struct("<HHL")


class _Unusual(Exception):
    """Internal: hand the file to pydicom."""


class _Truncated(Exception):
    """Internal: an element reaches past the end of the file."""


@dataclass(frozen=True, slots=True)
class HeaderRecord:
    """The indexer's view of one DICOM file: a few attributes, no pixels.

    Attributes
    ----------
    path : str
        Absolute path as given.
    size, mtime_ns : int
        ``os.stat`` of the file when it was read (the cache key with ``path``).
    transfer_syntax : str
        From the file meta; empty when the file has none (then the data set is implicit VR little endian).
    attrs : dict
        DICOM keyword -> value for the present, non-PHI attributes of :data:`FIELDS`: ``str`` for UI/CS/DA/SH/LO,
        ``float`` for DS, ``int`` for IS/US, a ``tuple`` of those when multi-valued; a number that does not parse
        is kept as its text.
    pixel_offset : int or None
        File offset of the Pixel Data element (of its tag), None when the file has none before its end.
    pixel_length : int or None
        Its declared value length (0xFFFFFFFF: encapsulated); None when unknown (pydicom fallback) or absent.
    source : str
        ``"fast"`` or ``"pydicom"``.
    phi : dict or None
        Patient name/ID/birth date (``PHI_KEYWORDS``) when read with ``include_phi=True``; None when not read.
    """

    path: str
    size: int
    mtime_ns: int
    transfer_syntax: str
    attrs: dict[str, Any]
    pixel_offset: int | None
    pixel_length: int | None
    source: str = "fast"
    phi: dict[str, Any] | None = field(default=None, compare=False)

    def get(self, keyword: str, default: Any = None) -> Any:
        """``attrs[keyword]`` or ``default``."""
        return self.attrs.get(keyword, default)

    def without_phi(self) -> HeaderRecord:
        """A copy without patient identity (what the index cache stores by default)."""
        return self if self.phi is None else replace(self, phi=None)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists); :meth:`from_json` inverts it."""
        return {
            "v": PARSER_VERSION,
            "ts": self.transfer_syntax,
            "a": self.attrs,
            "po": self.pixel_offset,
            "pl": self.pixel_length,
            "src": self.source,
            "phi": self.phi,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], path: str, size: int, mtime_ns: int) -> HeaderRecord:
        """Inverse of :meth:`to_json`; raises ``KeyError``/``TypeError``/``ValueError`` on malformed input."""
        if data["v"] != PARSER_VERSION:
            raise ValueError("record of another parser version")
        attrs = data["a"]
        if type(attrs) is not dict:
            raise TypeError("attrs must be an object")
        for k in [k for k, v in attrs.items() if type(v) is list]:  # JSON keys are str already
            attrs[k] = tuple(attrs[k])
        phi = data.get("phi")
        return cls(
            path=path,
            size=size,
            mtime_ns=mtime_ns,
            transfer_syntax=str(data["ts"]),
            attrs=attrs,
            pixel_offset=None if data["po"] is None else int(data["po"]),
            pixel_length=None if data["pl"] is None else int(data["pl"]),
            source=str(data["src"]),
            phi=dict(phi) if phi is not None else None,
        )


# ----------------------------------------------------------------------------------------------------------- values
def _decode_text(raw: bytes, charset: Any) -> str:
    if raw.isascii():
        return raw.decode("ascii")
    from pydicom.charset import convert_encodings, decode_bytes  # rare: only for non-ASCII text

    if isinstance(charset, str):
        charset = [charset]
    encodings = convert_encodings(list(charset) if charset else None)
    return decode_bytes(raw, encodings, {0x5C, 0x3D, 0x5E})


def _multi(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else tuple(values)


def _number(text: str, kind: str) -> Any:
    try:
        if kind == "ds":
            return float(text)
        number = float(text) if ("." in text or "e" in text.lower()) else int(text)
        return int(number) if float(number).is_integer() else text
    except ValueError:
        return text


def _decode(kind: str, raw: bytes, charset: Any) -> Any:
    """Value of one wanted element; None for an empty value."""
    if not raw:
        return None
    if kind == "us":
        if len(raw) % 2:
            raise _Unusual
        values = [v for (v,) in _U16.iter_unpack(raw)]
        return _multi(values)
    if kind in ("text", "pn"):
        text = _decode_text(raw, charset)
        parts = [p.rstrip("\x00 ") for p in text.split("\\")]
    else:
        text = raw.decode("latin-1")
        parts = [p.strip("\x00 ") for p in text.split("\\")]
    if kind in ("ds", "is"):
        values = [_number(p, kind) for p in parts if p]
        return _multi(values) if values else None
    value = _multi(parts)
    return None if value == "" else value


_SLOW = object()


def _decode_fast(kind: str, raw: bytes) -> Any:
    """Common single-valued ASCII cases without splitting; ``_SLOW`` when :func:`_decode` must decide."""
    if not raw:
        return None
    try:
        if kind == "us":
            if len(raw) == 2:
                return raw[0] | raw[1] << 8
            return _SLOW
        if b"\\" in raw or not raw.isascii():
            if kind == "ds" and raw.isascii():
                return tuple(float(p) for p in raw.split(b"\\"))
            return _SLOW
        if kind == "ds":
            return float(raw)
        if kind == "is":
            return int(raw)
        if kind == "text" or kind == "pn":
            text = raw.decode("ascii").rstrip("\x00 ")
        else:
            text = raw.decode("ascii").strip("\x00 ")
        return text or None
    except ValueError:
        return _SLOW


# ----------------------------------------------------------------------------------------------------------- parser
class _Source:
    """A window on the open file; offsets are absolute.  Reads only what the parser asks for."""

    __slots__ = ("base", "buf", "fh", "size")

    def __init__(self, fh: Any, size: int, head: bytes) -> None:
        self.fh, self.size, self.buf, self.base = fh, size, head, 0

    def ensure(self, pos: int, n: int) -> int:
        """Offset into ``buf`` of ``n`` bytes at file offset ``pos``; raises _Truncated past the end of the file."""
        off = pos - self.base
        buf = self.buf
        if off >= 0 and off + n <= len(buf):
            return off
        if pos < 0 or pos + n > self.size:
            raise _Truncated
        end = self.base + len(buf)
        if 0 <= off <= len(buf) and len(buf) < 4 * _CHUNK:  # extend the window
            self.fh.seek(end)
            self.buf = buf + self.fh.read(max(pos + n - end, _CHUNK))
        else:  # jump (a large element was skipped)
            self.fh.seek(pos)
            self.buf, self.base = self.fh.read(max(n, _CHUNK)), pos
        off = pos - self.base
        if off + n > len(self.buf):
            raise _Truncated  # the file shrank while we read it
        return off


def _element(src: _Source, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
    """(tag, explicit VR or None, value length, header length) of the element at ``pos``."""
    off = src.ensure(pos, 8)
    buf = src.buf
    group, elem = _U16x2.unpack_from(buf, off)
    tag = group << 16 | elem
    if implicit or group == 0xFFFE:
        return tag, None, _U32.unpack_from(buf, off + 4)[0], 8
    vr = buf[off + 4 : off + 6]
    if vr in _SHORT_VRS:
        return tag, vr, _U16.unpack_from(buf, off + 6)[0], 8
    if vr in _LONG_VRS:
        off = src.ensure(pos, 12)
        return tag, vr, _U32.unpack_from(src.buf, off + 8)[0], 12
    raise _Unusual  # not a VR: wrong transfer syntax in the meta, or garbage


def _skip_sequence(src: _Source, pos: int, implicit: bool, depth: int) -> int:
    """Offset after the sequence delimiter of the undefined-length sequence whose first item starts at ``pos``."""
    if depth > _MAX_DEPTH:
        raise _Unusual
    while True:
        off = src.ensure(pos, 8)
        group, elem, length = _TAG_LEN32.unpack_from(src.buf, off)
        tag = group << 16 | elem
        pos += 8
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise _Unusual
        pos = _skip_item(src, pos, implicit, depth + 1) if length == _UNDEFINED else pos + length


def _skip_item(src: _Source, pos: int, implicit: bool, depth: int) -> int:
    """Offset after the item delimiter of the undefined-length item whose data set starts at ``pos``."""
    if depth > _MAX_DEPTH:
        raise _Unusual
    while True:
        tag, vr, length, hlen = _element(src, pos, implicit)
        if tag == _ITEM_END:
            return pos + 8
        pos += hlen
        if length == _UNDEFINED:
            if vr not in (None, b"SQ", b"UN"):
                raise _Unusual
            pos = _skip_sequence(src, pos, implicit or vr == b"UN", depth + 1)
        else:
            pos += length
        if pos > src.size:
            raise _Truncated


def _parse(fh: Any, size: int, head: bytes, include_phi: bool) -> tuple[str, dict, dict, int | None, int | None]:
    if head[128:132] != b"DICM":
        raise _Unusual  # raw data set without preamble: pydicom guesses the syntax, let it
    src = _Source(fh, size, head)
    meta: dict[str, Any] = {}
    pos = 132
    while True:  # file meta: always explicit VR little endian, group 0002
        if size - pos < 8:
            raise _Truncated
        off = src.ensure(pos, 8)
        if src.buf[off : off + 2] != b"\x02\x00":
            break
        tag, vr, length, hlen = _element(src, pos, False)
        if length == _UNDEFINED or length > _MAX_VALUE or length % 2:
            raise _Unusual
        pos += hlen
        wanted = _META_FIELDS.get(tag)
        if wanted is not None:
            off = src.ensure(pos, length)
            meta[wanted[0]] = _decode(wanted[2], src.buf[off : off + length], None)
        pos += length
    syntax = meta.get("TransferSyntaxUID")
    if not isinstance(syntax, str) or not syntax or (syntax in _NOT_EXPLICIT_LE and syntax != _IMPLICIT_LE):
        raise _Unusual
    implicit = syntax == _IMPLICIT_LE
    if implicit:  # a file whose meta says implicit but whose data set is explicit: pydicom copes, we don't
        off = src.ensure(pos, 8) if size - pos >= 8 else None
        if off is not None and src.buf[off + 4 : off + 6] in _SHORT_VRS | _LONG_VRS:
            raise _Unusual

    attrs: dict[str, Any] = {}
    phi: dict[str, Any] = {}
    pixel_offset = pixel_length = None
    charset: Any = None
    previous = 0
    wanted_fields = _WANTED
    short_vrs, long_vrs = _SHORT_VRS, _LONG_VRS
    unpack_explicit, unpack_implicit, unpack_u32 = _TAG_VR_LEN16.unpack_from, _TAG_LEN32.unpack_from, _U32.unpack_from
    buf, base = src.buf, src.base
    while True:
        off = pos - base
        if off < 0 or off + 12 > len(buf):  # slow path: refill the window (or stop at the end of the file)
            if size - pos < 8:
                break
            off = src.ensure(pos, min(12, size - pos))
            buf, base = src.buf, src.base
        if implicit:
            group, elem, length = unpack_implicit(buf, off)
            vr = None
            hlen = 8
        else:
            group, elem, vr, length = unpack_explicit(buf, off)
            hlen = 8
            if vr not in short_vrs:
                if vr not in long_vrs:
                    raise _Unusual  # not a VR: wrong transfer syntax in the meta, or garbage
                if size - pos < 12:
                    raise _Truncated
                length = unpack_u32(buf, off + 8)[0]
                hlen = 12
        tag = group << 16 | elem
        if tag == _PIXEL_DATA:
            pixel_offset, pixel_length = pos, length
            break
        if tag <= previous or group == 0xFFFE:
            raise _Unusual  # out of order, repeated, or an item at the top level
        previous = tag
        start = pos + hlen
        if length == _UNDEFINED:
            if vr not in (None, b"SQ", b"UN"):
                raise _Unusual
            pos = _skip_sequence(src, start, implicit or vr == b"UN", 1)
            buf, base = src.buf, src.base
            continue
        if length & 1:
            raise _Unusual
        pos = start + length
        wanted = wanted_fields.get(tag)
        if wanted is None:
            continue
        keyword, wanted_vr, kind, is_phi = wanted
        if is_phi and not include_phi:
            continue
        if vr is not None and vr != wanted_vr and vr != b"UN":
            raise _Unusual  # unexpected VR for a standard attribute (US written as SS...): let pydicom decide
        if length > _MAX_VALUE:
            raise _Unusual
        off = start - base
        if off + length > len(buf):
            if pos > size:
                raise _Truncated
            off = src.ensure(start, length)
            buf, base = src.buf, src.base
        raw = buf[off : off + length]
        value = _decode_fast(kind, raw)
        if value is _SLOW:
            value = _decode(kind, raw, charset)
        if tag == 0x00080005:
            charset = value
        if value is None:
            continue
        (phi if is_phi else attrs)[keyword] = value
    for meta_key, key in (("MediaStorageSOPClassUID", "MediaStorageSOPClassUID"),):
        if meta.get(meta_key):
            attrs.setdefault(key, meta[meta_key])
    return syntax, attrs, phi, pixel_offset, pixel_length


_PYDICOM_TAGS: list[Any] | None = None


def _parse_pydicom(fh: Any, has_preamble: bool, include_phi: bool) -> tuple[str, dict, dict, int | None, None]:
    """The same record through pydicom; raises HeaderParseError on failure."""
    global _PYDICOM_TAGS
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.tag import Tag

    if _PYDICOM_TAGS is None:
        _PYDICOM_TAGS = [Tag(t) for t in _FIELDS]
    fh.seek(0)
    try:
        ds = pydicom.dcmread(fh, stop_before_pixels=True, specific_tags=_PYDICOM_TAGS, force=not has_preamble)
        pixel_offset = fh.tell()
        meta = getattr(ds, "file_meta", None)
        syntax = str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""
        attrs: dict[str, Any] = {}
        phi: dict[str, Any] = {}
        charset = None
        for tag, (keyword, _, kind) in _FIELDS.items():
            elem = ds.get(tag)
            if elem is None or elem.value is None or elem.value == "":
                continue
            value = _from_pydicom(elem.value, kind)
            if tag == 0x00080005:
                charset = value
            if value is None or (tag in _PHI_TAGS and not include_phi):
                continue
            (phi if tag in _PHI_TAGS else attrs)[keyword] = value
        del charset
        sop = str(meta.get("MediaStorageSOPClassUID", "") or "") if meta is not None else ""
        if sop:
            attrs.setdefault("MediaStorageSOPClassUID", sop)
    except InvalidDicomError as exc:
        raise HeaderParseError("not DICOM (no DICM preamble and not parseable)") from exc
    except Exception as exc:  # pydicom raises many types (EOFError, ValueError, struct.error...) on bad headers
        raise HeaderParseError(f"unreadable DICOM header ({type(exc).__name__}): file truncated or corrupt") from exc
    return syntax, attrs, phi, pixel_offset, None


def _from_pydicom(value: Any, kind: str) -> Any:
    from pydicom.multival import MultiValue

    if isinstance(value, bytes):
        if kind == "us" and len(value) % 2 == 0:
            return _multi([v for (v,) in _U16.iter_unpack(value)]) if value else None
        return None
    items = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
    out = []
    for v in items:
        if kind == "ds":
            out.append(_number(str(v).strip(), "ds") if not isinstance(v, float) else float(v))
        elif kind in ("is", "us"):
            out.append(int(v) if isinstance(v, int) else _number(str(v).strip(), "is"))
        else:
            out.append(str(v).strip("\x00 ") if kind in ("ui", "cs") else str(v).rstrip("\x00 "))
    if kind in ("ds", "is"):
        out = [v for v in out if v != ""]
    if not out:
        return None
    value = _multi(out)
    return None if value == "" else value


def read_header_fast(path: str | os.PathLike[str], *, include_phi: bool = False) -> HeaderRecord:
    """Read the indexer's attributes of one file (no pixel data).

    Parameters
    ----------
    path : str or path-like
        File to read.
    include_phi : bool
        Also read patient name, ID and birth date into ``record.phi`` (for the study browser only).

    Returns
    -------
    HeaderRecord

    Raises
    ------
    HeaderParseError
        The file cannot be opened, is empty, gzip-compressed, not DICOM, a DICOMDIR, or its header is truncated or
        corrupt; ``str()`` is the reason.  No other exception escapes, whatever the bytes.
    """
    name = os.fspath(path)
    try:
        fh = open(name, "rb")  # noqa: SIM115 - closed below, the fstat must see the same file
    except OSError as exc:
        raise HeaderParseError(f"cannot be opened ({exc.strerror or type(exc).__name__})") from exc
    with fh:
        try:
            st = os.fstat(fh.fileno())
            head = fh.read(_CHUNK)
        except OSError as exc:
            raise HeaderParseError(f"cannot be read ({exc.strerror or type(exc).__name__})") from exc
        size = st.st_size
        if size == 0 or not head:
            raise HeaderParseError("empty file")
        if head.startswith(_GZIP_MAGIC):
            raise HeaderParseError("gzip-compressed file: decompress it to read the DICOM inside")
        has_preamble = head[128:132] == b"DICM"
        if not has_preamble and head[:2] not in _RAW_DATASET_STARTS:
            raise HeaderParseError("not DICOM (no DICM preamble)")
        if os.path.basename(name).upper() == "DICOMDIR":
            raise HeaderParseError("DICOMDIR index file (lists images, holds none)")
        source = "fast"
        try:
            try:
                parsed = _parse(fh, size, head, include_phi)
            except (_Unusual, UnicodeDecodeError, LookupError):
                source = "pydicom"
                parsed = _parse_pydicom(fh, has_preamble, include_phi)
        except _Truncated as exc:
            raise HeaderParseError("unreadable DICOM header (EOFError): file truncated or corrupt") from exc
        except OSError as exc:
            raise HeaderParseError(f"cannot be read ({exc.strerror or type(exc).__name__})") from exc
        except HeaderParseError:
            raise
        except Exception as exc:  # a bug must not abort a scan of thousands of files; say which file kind failed
            raise HeaderParseError(f"unreadable DICOM header ({type(exc).__name__})") from exc
    syntax, attrs, phi, pixel_offset, pixel_length = parsed
    return HeaderRecord(
        path=name,
        size=size,
        mtime_ns=st.st_mtime_ns,
        transfer_syntax=syntax,
        attrs=attrs,
        pixel_offset=pixel_offset,
        pixel_length=pixel_length,
        source=source,
        phi=phi if include_phi else None,
    )


# ----------------------------------------------------------------------------------------------------------- batch
def _read_one(path: str, include_phi: bool) -> HeaderRecord | str:
    try:
        return read_header_fast(path, include_phi=include_phi)
    except HeaderParseError as exc:
        return str(exc)


def _prefetch(paths: list[str]) -> None:
    """Tell the kernel we will read the start of each file soon, so that cold reads overlap (Linux)."""
    if not hasattr(os, "posix_fadvise"):
        return
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 2 * _CHUNK, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def _read_chunk(paths: list[str], include_phi: bool, prefetch: bool = False) -> list[HeaderRecord | str]:
    if prefetch:
        _prefetch(paths)
    return [_read_one(p, include_phi) for p in paths]


def read_headers_fast(
    paths: Sequence[str | os.PathLike[str]],
    *,
    cache: IndexCache | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    include_phi: bool = False,
    processes: bool = False,
) -> list[HeaderRecord | str]:
    """Read the headers of many files, from ``cache`` where the file is unchanged.

    Parameters
    ----------
    paths : sequence of str or path-like
        Files (absolute paths are best: the cache is keyed by the path string).
    cache : IndexCache, optional
        Looked up first (path, size, mtime_ns); new outcomes are written back, skip reasons included.
    workers : int, optional
        Threads (or processes) for the cache misses; default 4 threads when there are more than 64 misses, else 1.
        Parsing holds the GIL, but cold files wait on the disk: 4 threads plus a ``POSIX_FADV_WILLNEED`` hint per
        batch overlap those waits (measured in ``python -m benchmarks dicom``).
    processes : bool
        Use a process pool (forkserver) instead of threads; only worth its start-up (~0.5 s) for tens of
        thousands of files on a local disk.
    progress : callable, optional
        ``progress(fraction, message)``, called after each batch.
    cancel : object with ``is_set()``, optional
        Checked between batches; raises :class:`~imaging.dicom.errors.DicomReadCancelled`.
    include_phi : bool
        Read patient name/ID/birth date too (``record.phi``).

    Returns
    -------
    list
        For each path, in order: a :class:`HeaderRecord` or the skip reason (``str``).
    """
    from .progress import ProgressReporter

    reporter = ProgressReporter(progress, cancel)
    names = [os.fspath(p) for p in paths]
    out: list[HeaderRecord | str | None] = [None] * len(names)
    missing: list[int] = []
    if cache is not None:
        found = cache.get_many(names, include_phi=include_phi)
        for i, hit in enumerate(found):
            if hit is None:
                missing.append(i)
            else:
                out[i] = hit
    else:
        missing = list(range(len(names)))
    reporter.check_cancel("reading DICOM headers")
    total = max(len(names), 1)
    done = len(names) - len(missing)
    n_workers = workers if workers is not None else (4 if len(missing) > 64 else 1)
    batch = 64 if not processes else 256
    chunks = [missing[i : i + batch] for i in range(0, len(missing), batch)]
    new: list[tuple[str, HeaderRecord | str]] = []

    def store(idx: list[int], results: Iterable[HeaderRecord | str]) -> None:
        nonlocal done
        for i, r in zip(idx, results, strict=True):
            out[i] = r
            new.append((names[i], r))
        done += len(idx)
        reporter.update(done / total, f"Reading DICOM headers ({done}/{len(names)})")
        if cache is not None and len(new) >= 2048:
            cache.put_many(new)
            new.clear()

    if n_workers <= 1 or len(chunks) <= 1:
        for idx in chunks:
            reporter.check_cancel("reading DICOM headers")
            store(idx, _read_chunk([names[i] for i in idx], include_phi))
    else:
        import multiprocessing
        from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

        pool: Executor
        if processes:
            # forkserver/spawn, never fork: the GUI process has threads (Qt, VTK) that fork would copy half-locked.
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            pool = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context(method))
        else:
            pool = ThreadPoolExecutor(n_workers, thread_name_prefix="dicom-index")
        prefetch = not processes  # read-ahead hints help threads waiting on the disk
        with pool:
            futures = [(idx, pool.submit(_read_chunk, [names[i] for i in idx], include_phi, prefetch))
                       for idx in chunks]
            try:
                for idx, fut in futures:
                    reporter.check_cancel("reading DICOM headers")
                    store(idx, fut.result())
            except BaseException:
                for _, fut in futures:
                    fut.cancel()
                raise
    if cache is not None and new:
        cache.put_many(new)
    reporter.update(1.0, f"Read {len(names)} DICOM headers", force=True)
    return [r if r is not None else "not read" for r in out]


# ----------------------------------------------------------------------------------------------------------- adapter
def _safe_metadata(record: HeaderRecord) -> dict[str, Any]:
    from .metadata import SAFE_TAGS
    from .transfer_syntax import syntax_name

    out: dict[str, Any] = {}
    for keyword, key in SAFE_TAGS.items():
        value = record.attrs.get(keyword)
        if value is None or value == "":
            continue
        converted = list(value) if isinstance(value, tuple) else value
        if converted not in (None, "", []):
            out[key] = converted
    if not record.transfer_syntax:  # no file meta: read_header leaves these out too
        return out
    out["transfer_syntax"] = record.transfer_syntax
    out["transfer_syntax_name"] = syntax_name(record.transfer_syntax)
    return out


_NATIVE_LE = frozenset({_IMPLICIT_LE, "1.2.840.10008.1.2.1"})


def to_slice_header(record: HeaderRecord) -> SliceHeader:
    """The scanner's :class:`~imaging.dicom.headers.SliceHeader` for ``record``.

    Raises
    ------
    HeaderParseError
        When ``read_header`` would skip the file (DICOMDIR, no image, no series UID, truncated pixel data), with
        the same reason.
    """
    from .headers import build_slice_header

    a = record.attrs
    syntax = record.transfer_syntax or _IMPLICIT_LE
    return build_slice_header(
        a.get,
        path=Path(record.path),
        size=record.size,
        pixel_offset=record.pixel_offset if record.pixel_offset is not None else record.size,
        sop_class=str(a.get("SOPClassUID") or a.get("MediaStorageSOPClassUID") or ""),
        syntax=syntax,
        metadata=lambda: _safe_metadata(record),
        error=HeaderParseError,
        **_native_pixel_span(record, syntax),
    )


def _native_pixel_span(record: HeaderRecord, syntax: str) -> dict[str, int | None]:
    """Offset and length of the pixel values of a native little-endian file (empty dict when not known)."""
    if record.pixel_offset is None or record.pixel_length in (None, 0xFFFFFFFF) or syntax not in _NATIVE_LE:
        return {}
    header_bytes = 8 if syntax == _IMPLICIT_LE else 12  # tag + length, or tag + VR + reserved + length
    start = record.pixel_offset + header_bytes
    if start + record.pixel_length > record.size:
        return {}
    return {"pixel_data_offset": start, "pixel_data_length": record.pixel_length}
