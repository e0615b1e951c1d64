"""Decode the pixels of one file and apply its rescale; choose the output data type of a series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom

from .errors import DicomError
from .headers import SliceHeader
from .transfer_syntax import codec_hint, is_compressed, syntax_label

__all__ = ["choose_dtype", "finalize_dtype", "read_pixels"]

_INT16 = np.iinfo(np.int16)


def choose_dtype(slices: list[SliceHeader]) -> np.dtype:
    """Provisional output type: int16 when rescaling is an integer shift that cannot overflow int16.

    Returns int16, int32 (integer rescale whose *possible* range exceeds int16: narrowed after loading when the
    actual values fit) or float32 (any slope other than 1 or a fractional intercept).
    """
    if any(s.slope != 1.0 or not float(s.intercept).is_integer() for s in slices):
        return np.dtype(np.float32)
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
        Stored values, shape ``(rows, columns)``, before rescaling.
    slope, intercept : float
        RescaleSlope and RescaleIntercept of this file (1 and 0 when absent).

    Raises
    ------
    DicomError
        The file is unreadable or truncated, its pixel data cannot be decoded (missing codec package) or its size
        differs from the series.
    """
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
    file_rows, file_columns = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    if (file_rows, file_columns) != (rows, columns):
        raise DicomError(
            f"'{name}' is {file_columns}x{file_rows} pixels but the series is {columns}x{rows}: it does not belong "
            "to this volume -- remove it from the folder or pick another series"
        )
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
    if pixels.shape != (rows, columns):
        raise DicomError(
            f"'{name}' decodes to an array of shape {pixels.shape}, expected one {rows}x{columns} greyscale frame "
            "(multi-frame and colour images are not supported as slices)"
        )
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    return pixels, slope, intercept
