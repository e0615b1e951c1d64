"""Walk a file or folder tree, read every header (no pixels) in parallel and group the images into series."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from .errors import DicomPathNotFoundError
from .headers import SkipFile, SliceHeader, read_headers
from .progress import CancelToken, ProgressCallback, ProgressReporter
from .series import ScanResult, group_series

__all__ = ["iter_files", "scan_folder"]

# Header reading is I/O bound (network shares, USB discs): a few threads hide latency even on two cores.
_MAX_WORKERS = min(8, (os.cpu_count() or 1) * 4)


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
    total = max(len(files), 1)
    with ThreadPoolExecutor(max_workers=_MAX_WORKERS, thread_name_prefix="dicom-scan") as pool:
        pending: dict[Future[list[SliceHeader] | str], Path] = {}
        queue = iter(files)
        try:
            # Bounded submission keeps memory flat for huge trees and lets cancel take effect quickly.
            for f in queue:
                pending[pool.submit(_read, f)] = f
                if len(pending) >= 4 * _MAX_WORKERS:
                    break
            done_count = 0
            while pending:
                done, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                reporter.check_cancel("reading DICOM headers")
                for fut in done:
                    f = pending.pop(fut)
                    outcome = fut.result()
                    if isinstance(outcome, str):
                        skipped[f] = outcome
                    else:
                        headers[f] = outcome
                    done_count += 1
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(_read, nxt)] = nxt
                reporter.update(done_count / total, f"Reading DICOM headers ({done_count}/{len(files)})")
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise

    reporter.update(1.0, "Grouping series", force=True)
    series = group_series(h for f in files if f in headers for h in headers[f])
    reporter.update(1.0, f"Found {len(series)} series", force=True)
    return ScanResult(series=series, skipped=[(f, skipped[f]) for f in files if f in skipped])
