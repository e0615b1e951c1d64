"""Walk a file or folder tree, read every header (no pixels) in parallel and group the images into series."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .errors import DicomPathNotFoundError
from .fast_header import HeaderRecord, read_headers_fast, to_slice_header
from .headers import SkipFile, SliceHeader, _int, read_headers
from .index_cache import IndexCache
from .progress import CancelToken, ProgressCallback, ProgressReporter
from .series import ScanResult, group_series

__all__ = ["iter_files", "scan_folder"]


def iter_files(root: Path) -> Iterator[Path]:
    """Every regular file under ``root`` (or ``root`` itself), in a stable sorted order; hidden entries excluded."""
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        # Hidden folders/files (.git, .DS_Store, ._AppleDouble) are never DICOM exports; sorting keeps results stable.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def _adapt(record: HeaderRecord) -> list[SliceHeader] | str:
    try:
        return [to_slice_header(record)]
    except SkipFile as exc:
        return str(exc)


def _read(path: Path) -> list[SliceHeader] | str:
    try:
        return read_headers(path)
    except SkipFile as exc:
        return str(exc)
    except Exception as exc:  # one odd file (malformed values) must not abort a scan of thousands
        return f"unreadable DICOM header ({type(exc).__name__})"


def scan_folder(
    path: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    cache: IndexCache | bool | None = True,
) -> ScanResult:
    """Find the DICOM image series in a file or folder tree, reading headers only.

    Parameters
    ----------
    path : str or path-like
        A DICOM file or a folder searched recursively.
    progress : callable, optional
        ``progress(fraction, message)``, called at most ~10 times a second and once at the end.
    cancel : object with ``is_set()``, optional
        E.g. a :class:`threading.Event`; when set the scan stops.
    cache : IndexCache, bool or None, default True
        Header index cache keyed by path, size and modification time, so that reopening a large folder only
        stats its files. True opens the user's cache (``$XDG_CACHE_HOME/surgitwin/index``); None or False reads
        every header.

    Returns
    -------
    ScanResult
        Series ordered by study then series number, and the skipped files with a reason each.  A folder without
        any DICOM image gives an empty ``series`` list (see ``skipped`` for why).

    Raises
    ------
    DicomPathNotFoundError
        ``path`` does not exist or is not a file or folder (also a :class:`FileNotFoundError`).
    DicomReadCancelled
        ``cancel`` was set.
    """
    root = Path(path)
    if not root.exists():
        raise DicomPathNotFoundError(f"'{root}' does not exist: choose an existing DICOM file or folder")
    if not (root.is_file() or root.is_dir()):
        raise DicomPathNotFoundError(f"'{root}' is neither a file nor a folder: choose a DICOM file or folder")

    reporter = ProgressReporter(progress, cancel)
    reporter.check_cancel("looking for DICOM files")
    reporter.update(0.0, "Looking for DICOM files", force=True)
    files = []
    for i, f in enumerate(iter_files(root)):
        files.append(f)
        if i % 256 == 0:  # walking a large tree takes a while; stay responsive to cancel
            reporter.check_cancel("looking for DICOM files")

    headers: dict[Path, list[SliceHeader]] = {}
    skipped: dict[Path, str] = {}
    owned_cache = cache is True
    # an IndexCache passed in is used even when empty (it has a length, so `cache or None` would drop a new one)
    index = IndexCache.open() if owned_cache else (cache if isinstance(cache, IndexCache) else None)
    try:
        records = read_headers_fast(
            [os.path.abspath(f) for f in files],
            cache=index,
            progress=lambda fraction, message: reporter.update(0.95 * fraction, message),
            cancel=cancel,
        )
    finally:
        if owned_cache and index is not None:
            index.close()
    for f, record in zip(files, records, strict=True):
        if isinstance(record, str):
            skipped[f] = record
            continue
        frames = _int(record.attrs.get("NumberOfFrames"), 1) or 1
        # Enhanced multi-frame objects keep geometry in functional-group sequences: pydicom reads those.
        outcome = _read(f) if frames > 1 else _adapt(record)
        if isinstance(outcome, str):
            skipped[f] = outcome
        else:
            headers[f] = outcome

    reporter.update(1.0, "Grouping series", force=True)
    series = group_series(h for f in files if f in headers for h in headers[f])
    reporter.update(1.0, f"Found {len(series)} series", force=True)
    return ScanResult(series=series, skipped=[(f, skipped[f]) for f in files if f in skipped])
