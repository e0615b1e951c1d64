"""Stack the pixels of a scanned series into a :class:`~imaging.volume.Volume`, and the one-call convenience reader."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import numpy.typing as npt

from imaging.volume import Volume

from .errors import DicomError, NoDicomFoundError, SeriesGeometryError
from .headers import SkipFile, read_header
from .index_cache import IndexCache
from .pixels import (
    DecodedFile,
    choose_dtype,
    decode_file,
    finalize_dtype,
    invert_monochrome1,
    read_native_slice,
    read_native_slice_into_int16,
)
from .progress import CancelToken, ProgressCallback, ProgressReporter
from .regrid import correct_tilt, slice_positions
from .regrid import resample_uniform as resample_uniform_grid
from .scanner import scan_folder
from .series import ScanResult, SeriesInfo

__all__ = ["load_series", "read_dicom_volume"]


_REGRID_WARNING_PREFIXES = {
    "tilt": ("gantry tilt:",),
    "spacing": ("missing slice(s)", "non-uniform slice spacing", "... and "),
}


def load_series(
    series: SeriesInfo,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    cache: IndexCache | bool | None = True,
    dtype: npt.DTypeLike | None = None,
    tilt_correct: bool = False,
    resample_uniform: bool = False,
    uniform_step: str | float = "smallest",
    out: npt.NDArray | None = None,
) -> Volume:
    """Read the pixels of ``series`` and stack them in slice order.

    Parameters
    ----------
    series : SeriesInfo
        A series from :func:`scan_folder` with ``is_volume`` True (single-frame files or the frames of an enhanced
        multi-frame object).
    progress : callable, optional
        ``progress(fraction, message)``, throttled.
    cancel : object with ``is_set()``, optional
        Stops loading when set.
    dtype : numpy dtype, optional
        Force the output type.  By default int16 when every RescaleSlope is 1, every RescaleIntercept an integer and
        the values fit (CT in HU), else float32.  The output is preallocated and filled slice by slice: there is never
        a float64 copy of the volume.
    tilt_correct : bool
        Gantry-tilted stacks: shear each slice in-plane onto an orthogonal grid (as dcm2niix ``_Tilt_1``).  Oblique
        but untilted acquisitions are not changed (they stay oblique).
    resample_uniform : bool
        Irregular slice spacing (missing slices): interpolate linearly along the slice normal onto a uniform grid at
        ``uniform_step`` (as dcm2niix's equalised ``_Eq`` output).
    uniform_step : "smallest", "modal" or float
        Step used by ``resample_uniform``.
    out : numpy.ndarray, optional
        Preallocated int16 ``(z, y, x)`` array (e.g. a memory-mapped output file) to fill instead of allocating;
        used when the volume is int16 and not regridded (then ``result.array`` shares ``out``'s memory).

    Returns
    -------
    Volume
        Rescaled values in ``(z, y, x)`` order on ``series.geometry`` (or the corrected grid); ``metadata`` holds
        ``series.metadata``, the (possibly suffixed) ``series_uid``, ``warnings`` (including what was done:
        inversion, tilt correction, resampling) and flags ``monochrome1_inverted``, ``tilt_corrected``,
        ``resampled_uniform``.

    Raises
    ------
    SeriesGeometryError
        The series is not a volume (see its warnings).
    DicomError
        A file is unreadable, truncated, of another size, or compressed without an installed decoder.
    DicomReadCancelled
        ``cancel`` was set.
    """
    if not series.is_volume or series.geometry is None:
        why = "; ".join(series.warnings) or "no 3-D geometry"
        raise SeriesGeometryError(
            f"series {series.series_number} '{series.description}' ({series.n_files} file(s)) is not a volume: {why}"
        )
    reporter = ProgressReporter(progress, cancel)
    geometry = series.geometry
    n_slices, rows, columns = geometry.shape
    # Series built by hand may lack per-file headers: read them (cheap) so the dtype can be planned up front.
    try:
        slices = series.slices if len(series.slices) == len(series.files) else [read_header(f) for f in series.files]
    except SkipFile as exc:
        raise DicomError(f"a file of series {series.series_number} cannot be read: {exc}") from exc
    out_dtype = choose_dtype(slices)
    # Integer rescales whose *possible* range exceeds int16 (16-bit unsigned storage with an intercept, as most CT)
    # almost always fit in practice: start in int16 and widen only if a slice's actual values do not fit, rather
    # than filling an int32 stack and narrowing it afterwards (2-3x the volume's memory).
    may_overflow = out_dtype == np.int32 and all(s.bits_stored <= 16 for s in slices)
    planned = np.dtype(np.int16) if may_overflow else out_dtype
    usable_out = out is not None and out.shape == geometry.shape and out.dtype == planned == np.dtype(np.int16)
    stack = out if usable_out else np.empty(geometry.shape, dtype=planned)
    warnings = list(series.warnings)
    inverted = False
    cache: tuple[Path, DecodedFile] | None = None  # multi-frame files are decoded once, not once per frame
    for k, (path, header) in enumerate(zip(series.files, slices, strict=True)):
        reporter.check_cancel("loading DICOM images")
        if stack.dtype == np.int16 and read_native_slice_into_int16(path, header, stack[k]):
            reporter.update((k + 1) / n_slices, f"Loading images ({k + 1}/{n_slices})")
            continue
        pixels = read_native_slice(path, header, rows, columns)
        if pixels is not None:
            slope, intercept = header.slope, header.intercept
        else:
            if cache is None or cache[0] != path:
                cache = (path, decode_file(path, rows, columns))
            decoded = cache[1]
            index = header.frame or 0
            if index >= decoded.frames.shape[0]:
                raise DicomError(
                    f"'{path.name}' has {decoded.frames.shape[0]} frame(s), frame {index + 1} is missing"
                )
            pixels = decoded.frames[index]
            slope, intercept = decoded.slopes[index], decoded.intercepts[index]
            if decoded.photometric == "MONOCHROME1":
                pixels = invert_monochrome1(pixels, decoded.bits_stored, decoded.signed)
                inverted = True
        if stack.dtype != np.float32 and (slope != 1.0 or not float(intercept).is_integer()):
            # The header seen at scan time disagreed with the file (edited since?): fall back to floats.
            stack = stack.astype(np.float32)
        if stack.dtype == np.float32:
            np.multiply(pixels, np.float32(slope), out=stack[k], dtype=np.float32, casting="unsafe")
            stack[k] += np.float32(intercept)
        else:
            shift = int(intercept)
            if may_overflow and stack.dtype == np.int16 and pixels.size:
                low, high = int(pixels.min()) + shift, int(pixels.max()) + shift
                if low < np.iinfo(np.int16).min or high > np.iinfo(np.int16).max:
                    stack = stack.astype(np.int32)
            np.add(pixels, np.int32(shift), out=stack[k], dtype=np.int32, casting="unsafe")
        reporter.update((k + 1) / n_slices, f"Loading images ({k + 1}/{n_slices})")
    cache = None
    stack = finalize_dtype(stack, dtype)
    if inverted:
        warnings.append(
            "MONOCHROME1 images (low values displayed white) were inverted within their stored bit range before "
            "rescaling, so that higher values are brighter as in MONOCHROME2"
        )
    ipps = [h.ipp for h in slices]
    tilt_done = resample_done = False
    if tilt_correct:
        stack, geometry, message = correct_tilt(stack, geometry, ipps)  # type: ignore[arg-type]
        if message:
            tilt_done = True
            warnings = [w for w in warnings if not w.startswith(_REGRID_WARNING_PREFIXES["tilt"])]
            warnings.append(message)
    if resample_uniform:
        positions = slice_positions(ipps, geometry)  # type: ignore[arg-type]  (after any tilt correction)
        stack, geometry, message = resample_uniform_grid(stack, geometry, positions, step=uniform_step)
        if message:
            resample_done = True
            warnings = [w for w in warnings if not w.startswith(_REGRID_WARNING_PREFIXES["spacing"])]
            warnings.append(message)
    reporter.update(1.0, "Loaded", force=True)
    metadata = {
        **series.metadata,
        "series_uid": series.series_uid,
        "warnings": warnings,
        "monochrome1_inverted": inverted,
        "tilt_corrected": tilt_done,
        "resampled_uniform": resample_done,
    }
    return Volume.from_geometry(stack, geometry, metadata)


def nothing_found_message(root: str, result: ScanResult) -> str:
    if result.series:
        details = "; ".join(
            f"series {s.series_number} '{s.description}': {s.warnings[-1] if s.warnings else 'not a volume'}"
            for s in result.series[:3]
        )
        return f"no series in '{root}' forms a 3-D volume ({details})"
    if not result.skipped:
        return f"'{root}' holds no files: choose the folder that contains the DICOM images"
    reasons = Counter(reason.split(" (")[0].split(":")[0] for _, reason in result.skipped)
    summary = ", ".join(f"{n} {why}" for why, n in reasons.most_common(3))
    return (
        f"no DICOM image among the {len(result.skipped)} file(s) in '{root}' ({summary}) -- choose the folder "
        "that contains the DICOM images"
    )


def read_dicom_volume(
    path: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    cache: IndexCache | bool | None = True,
) -> Volume:
    """Scan ``path`` and load its largest volume series (the one with the most files).

    Parameters
    ----------
    path : str or path-like
        DICOM file or folder.
    progress : callable, optional
        ``progress(fraction, message)``: scanning covers the first 30 %, loading the rest.
    cancel : object with ``is_set()``, optional
        Stops reading when set.
    cache : IndexCache, bool or None, default True
        Header index cache passed to :func:`scan_folder` (True: the user's cache; None: read every header).

    Returns
    -------
    Volume

    Raises
    ------
    NoDicomFoundError
        No DICOM image, or no series that forms a volume, under ``path``.
    DicomError
        Reading failed (see :func:`load_series`).
    """
    reporter = ProgressReporter(progress, cancel)
    scan_reporter, load_reporter = reporter.sub(0.0, 0.3), reporter.sub(0.3, 1.0)
    result = scan_folder(
        path, progress=lambda f, m: scan_reporter.update(f, m, force=True), cancel=cancel, cache=cache
    )
    volumes = result.volumes
    if not volumes:
        raise NoDicomFoundError(nothing_found_message(os.fspath(path), result))
    best = max(volumes, key=lambda s: s.n_images)  # max() keeps the first on ties: the earliest study/series
    return load_series(best, progress=lambda f, m: load_reporter.update(f, m, force=True), cancel=cancel)
