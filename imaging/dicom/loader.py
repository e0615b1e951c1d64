"""Stack the pixels of a scanned series into a :class:`~imaging.volume.Volume`, and the one-call convenience reader."""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import numpy.typing as npt

from imaging.volume import Volume

from .errors import DicomError, NoDicomFoundError, SeriesGeometryError
from .headers import SkipFile, read_header
from .pixels import choose_dtype, finalize_dtype, read_pixels
from .progress import CancelToken, ProgressCallback, ProgressReporter
from .scanner import scan_folder
from .series import ScanResult, SeriesInfo

__all__ = ["load_series", "read_dicom_volume"]


def load_series(
    series: SeriesInfo,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    dtype: npt.DTypeLike | None = None,
) -> Volume:
    """Read the pixels of ``series`` and stack them in slice order.

    Parameters
    ----------
    series : SeriesInfo
        A series from :func:`scan_folder` with ``is_volume`` True.
    progress : callable, optional
        ``progress(fraction, message)``, throttled.
    cancel : object with ``is_set()``, optional
        Stops loading when set.
    dtype : numpy dtype, optional
        Force the output type.  By default int16 when every RescaleSlope is 1, every RescaleIntercept an integer and
        the values fit (CT in HU), else float32.

    Returns
    -------
    Volume
        Rescaled values in ``(z, y, x)`` order on ``series.geometry``; ``metadata`` holds ``series.metadata``, the
        (possibly suffixed) ``series_uid`` and ``warnings``.

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
    stack = np.empty(geometry.shape, dtype=out_dtype)
    for k, path in enumerate(series.files):
        reporter.check_cancel("loading DICOM images")
        pixels, slope, intercept = read_pixels(path, rows, columns)
        if stack.dtype != np.float32 and (slope != 1.0 or not intercept.is_integer()):
            # The header seen at scan time disagreed with the file (edited since?): fall back to floats.
            stack = stack.astype(np.float32)
        if stack.dtype == np.float32:
            stack[k] = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        else:
            stack[k] = pixels.astype(np.int32) + int(intercept)
        reporter.update((k + 1) / n_slices, f"Loading images ({k + 1}/{n_slices})")
    stack = finalize_dtype(stack, dtype)
    reporter.update(1.0, "Loaded", force=True)
    metadata = {**series.metadata, "series_uid": series.series_uid, "warnings": list(series.warnings)}
    return Volume.from_geometry(stack, geometry, metadata)


def _nothing_found_message(root: str, result: ScanResult) -> str:
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
    result = scan_folder(path, progress=lambda f, m: scan_reporter.update(f, m, force=True), cancel=cancel)
    volumes = result.volumes
    if not volumes:
        raise NoDicomFoundError(_nothing_found_message(os.fspath(path), result))
    best = max(volumes, key=lambda s: s.n_files)  # max() keeps the first on ties: the earliest study/series
    return load_series(best, progress=lambda f, m: load_reporter.update(f, m, force=True), cancel=cancel)
