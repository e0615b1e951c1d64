"""Decode the pixels of one file and apply its rescale; choose the output data type of a series."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .errors import DicomError
from .headers import SliceHeader, _float, _int
from .transfer_syntax import codec_hint, is_compressed, syntax_label

__all__ = ["DecodedFile", "choose_dtype", "decode_file", "finalize_dtype", "invert_monochrome1", "read_pixels"]

_INT16 = np.iinfo(np.int16)


def choose_dtype(slices: list[SliceHeader]) -> np.dtype:
    """Provisional output type: int16 when rescaling is an integer shift that cannot overflow int16.

    Returns int16, int32 (integer rescale whose *possible* range exceeds int16: narrowed after loading when the
    actual values fit) or float32 (any slope other than 1 or a fractional intercept).
    """
    if any(s.slope != 1.0 or not float(s.intercept).is_integer() for s in slices):
        return np.dtype(np.float32)
    if any(s.bits_stored > 16 for s in slices):
        return np.dtype(np.float32) if any(s.bits_stored > 24 for s in slices) else np.dtype(np.int32)
    lo = hi = 0
    for s in slices:
        bits = max(1, min(s.bits_stored, 32))
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if s.pixel_representation else (0, 2**bits - 1)
        lo, hi = min(lo, low + int(s.intercept)), max(hi, high + int(s.intercept))
    return np.dtype(np.int16) if _INT16.min <= lo and hi <= _INT16.max else np.dtype(np.int32)


def finalize_dtype(array: npt.NDArray, requested: npt.DTypeLike | None) -> npt.NDArray:
    """Narrow an int32 stack to int16 when the values fit (else float32), or cast to the caller's ``requested``."""
    if requested is not None:
        return array.astype(requested, copy=False)
    if array.dtype == np.int32:
        if array.size == 0 or (array.min() >= _INT16.min and array.max() <= _INT16.max):
            return array.astype(np.int16)
        return array.astype(np.float32)
    return array


@dataclass
class DecodedFile:
    """The decoded stored values of one file and what is needed to turn them into physical values."""

    frames: npt.NDArray  #: stored values, shape ``(n_frames, rows, columns)``, native byte order
    slopes: list[float]
    intercepts: list[float]
    photometric: str
    bits_stored: int
    signed: bool


def invert_monochrome1(stored: npt.NDArray, bits_stored: int, signed: bool) -> npt.NDArray:
    """Mirror MONOCHROME1 stored values (low = white) within their bit range so that higher means brighter.

    Unsigned values ``v`` become ``2**bits - 1 - v``, signed ones ``-1 - v``; the result is int32.
    """
    stored = stored.astype(np.int32)
    if signed:
        return np.int32(-1) - stored
    return np.int32(2 ** max(1, min(bits_stored, 31)) - 1) - stored


_NATIVE_DTYPES = {(8, 0): np.dtype("u1"), (8, 1): np.dtype("i1"), (16, 0): np.dtype("<u2"), (16, 1): np.dtype("<i2")}


def _native_dtype(header: SliceHeader, rows: int, columns: int) -> np.dtype | None:
    """Stored dtype when ``header``'s pixels can be read straight from the file, else None."""
    dtype = _NATIVE_DTYPES.get((header.bits_allocated, 1 if header.pixel_representation else 0))
    if (
        header.pixel_data_offset is None
        or header.pixel_data_length is None
        or header.frame is not None
        or header.frames != 1
        or header.samples_per_pixel != 1
        or header.photometric != "MONOCHROME2"
        or dtype is None
        or (header.rows, header.columns) != (rows, columns)
        or header.pixel_data_length < rows * columns * dtype.itemsize
    ):
        return None
    return dtype


def _read_exactly(path: Path, offset: int, buffer: memoryview) -> None:
    try:
        with open(path, "rb", buffering=0) as fh:
            fh.seek(offset)
            got = fh.readinto(buffer)
    except OSError as exc:
        raise DicomError(f"'{path.name}' cannot be read ({exc.strerror or type(exc).__name__})") from exc
    if got != len(buffer):
        raise DicomError(f"'{path.name}' is shorter than when it was scanned: copy the series again from its source")


def _fix_bits(pixels: npt.NDArray, header: SliceHeader) -> npt.NDArray:
    """Mask unsigned values to BitsStored, or sign-extend signed ones from it (PS3.5 section 8), in place."""
    width = 8 * pixels.dtype.itemsize
    bits = header.bits_stored
    if 0 < bits < width:
        if header.pixel_representation:
            unused = width - bits
            np.left_shift(pixels, unused, out=pixels)
            np.right_shift(pixels, unused, out=pixels)
        else:  # bits above BitsStored may hold overlays in old files: they are not part of the value
            np.bitwise_and(pixels, pixels.dtype.type((1 << bits) - 1), out=pixels)
    return pixels


def read_native_slice(path: Path, header: SliceHeader, rows: int, columns: int) -> npt.NDArray | None:
    """Stored values of an uncompressed single-frame greyscale image, read at the offset its header recorded.

    This skips parsing the file a second time: the scan already knows where the pixel values start. Values are
    masked to BitsStored (unsigned) or sign-extended from it (signed), as PS3.5 section 8 defines them.

    Returns
    -------
    numpy.ndarray or None
        ``(rows, columns)`` stored values; None when the fast path does not apply (compressed, multi-frame,
        colour, MONOCHROME1, unusual bit depths, offset unknown) and the file must be decoded normally.

    Raises
    ------
    DicomError
        The file became unreadable or shorter since it was scanned.
    """
    dtype = _native_dtype(header, rows, columns)
    if dtype is None:
        return None
    pixels = np.empty((rows, columns), dtype=dtype)
    _read_exactly(path, header.pixel_data_offset, memoryview(pixels.reshape(-1).view(np.uint8)))  # type: ignore[arg-type]
    return _fix_bits(pixels, header)


def read_native_slice_into_int16(path: Path, header: SliceHeader, out: npt.NDArray[np.int16]) -> bool:
    """Read a 16-bit native slice straight into ``out`` (an int16 slice of the volume) and apply its intercept.

    No temporary array is made: the stored values land in ``out``'s own memory and the integer intercept is added
    in place. Returns False (``out`` untouched or to be overwritten) when the fast path does not apply or the
    rescaled values would not fit in int16; the caller then falls back to the general path.
    """
    rows, columns = out.shape
    dtype = _native_dtype(header, rows, columns)
    if (
        dtype is None
        or dtype.itemsize != 2
        or header.slope != 1.0
        or not float(header.intercept).is_integer()
        or not -32768 <= header.intercept <= 32767
    ):
        return False
    stored = out.view(dtype)
    _read_exactly(path, header.pixel_data_offset, memoryview(stored.reshape(-1).view(np.uint8)))  # type: ignore[arg-type]
    _fix_bits(stored, header)
    intercept = int(header.intercept)
    if intercept:
        low, high = int(stored.min()) + intercept, int(stored.max()) + intercept
        if low < -32768 or high > 32767:
            return False
        # Stored values reinterpreted as int16 plus the intercept, modulo 2**16, equal the true values because
        # the true values are known (just above) to fit in int16.
        np.add(out, np.int16(intercept), out=out)
    elif dtype == np.dtype("<u2") and int(stored.max()) > 32767:
        return False
    return True


def decode_file(path: Path, rows: int, columns: int) -> DecodedFile:
    """Decode every frame of ``path`` (single- or multi-frame) with per-frame rescale values.

    Raises
    ------
    DicomError
        As :func:`read_pixels`.
    """
    import pydicom

    name = path.name
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as exc:  # pydicom raises many exception types on damaged files; all mean "cannot read"
        raise DicomError(
            f"'{name}' could not be read ({type(exc).__name__}: {exc}); the file is damaged or was truncated -- "
            "copy the series again from its source"
        ) from exc
    syntax = str(ds.file_meta.get("TransferSyntaxUID", "")) if getattr(ds, "file_meta", None) is not None else ""
    if "PixelData" not in ds:
        raise DicomError(f"'{name}' has no pixel data (file truncated?) -- copy the series again from its source")
    file_rows, file_columns = _int(ds.get("Rows"), 0), _int(ds.get("Columns"), 0)
    if (file_rows, file_columns) != (rows, columns):
        raise DicomError(
            f"'{name}' is {file_columns}x{file_rows} pixels but the series is {columns}x{rows}: it does not belong "
            "to this volume -- remove it from the folder or pick another series"
        )
    n_frames = _int(ds.get("NumberOfFrames"), 1) or 1
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # decoders raise NotImplementedError, RuntimeError, ValueError... depending on plug-in
        if is_compressed(syntax):
            raise DicomError(
                f"cannot decode '{name}': pixel data is compressed as {syntax_label(syntax)} and no working decoder "
                f"is installed ({type(exc).__name__}) -- install {codec_hint(syntax)}"
            ) from exc
        raise DicomError(
            f"cannot decode the pixel data of '{name}' ({type(exc).__name__}: {exc}); the file is damaged or was "
            "truncated -- copy the series again from its source"
        ) from exc
    if pixels.shape == (rows, columns) and n_frames == 1:
        pixels = pixels[None]
    if pixels.shape != (n_frames, rows, columns):
        raise DicomError(
            f"'{name}' decodes to an array of shape {pixels.shape}, expected {n_frames} {rows}x{columns} greyscale "
            "frame(s) (colour images are not supported as slices)"
        )
    if not pixels.dtype.isnative:  # Explicit VR Big Endian: work in native order
        pixels = pixels.astype(pixels.dtype.newbyteorder("="))
    if n_frames > 1:
        from .multiframe import frame_functional_values

        values = frame_functional_values(ds)
        slopes = [v["slope"] for v in values]
        intercepts = [v["intercept"] for v in values]
    else:
        # Malformed values (multi-valued, non-numeric) fall back to the defaults, as the header reader does.
        slopes = [_float(ds.get("RescaleSlope"), 1.0) or 1.0]
        intercepts = [_float(ds.get("RescaleIntercept"), 0.0) or 0.0]
    bits_allocated = _int(ds.get("BitsAllocated"), 16) or 16
    return DecodedFile(
        frames=pixels,
        slopes=slopes,
        intercepts=intercepts,
        photometric=str(ds.get("PhotometricInterpretation") or "MONOCHROME2").strip().upper(),
        bits_stored=_int(ds.get("BitsStored"), bits_allocated) or bits_allocated,
        signed=bool(_int(ds.get("PixelRepresentation"), 0)),
    )


def read_pixels(path: Path, rows: int, columns: int) -> tuple[npt.NDArray, float, float]:
    """Decode the single-frame image in ``path``.

    Parameters
    ----------
    path : pathlib.Path
        DICOM file.
    rows, columns : int
        Expected image size (the series' size); a different size raises.

    Returns
    -------
    pixels : numpy.ndarray
        Stored values, shape ``(rows, columns)``, before rescaling (MONOCHROME1 is not inverted here).
    slope, intercept : float
        RescaleSlope and RescaleIntercept of this file (1 and 0 when absent).

    Raises
    ------
    DicomError
        The file is unreadable or truncated, its pixel data cannot be decoded (missing codec package) or its size
        differs from the series.
    """
    decoded = decode_file(path, rows, columns)
    if decoded.frames.shape[0] != 1:
        raise DicomError(
            f"'{path.name}' decodes to {decoded.frames.shape[0]} frames, expected one {rows}x{columns} greyscale "
            "frame (use decode_file for multi-frame images)"
        )
    return decoded.frames[0], decoded.slopes[0], decoded.intercepts[0]
