"""The local DICOM store that retrieves land in: staged first, committed whole, then indexed.

Layout: ``ROOT/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``.  A retrieve writes into
``ROOT/.staging/<id>/`` (hidden, so :func:`~imaging.dicom.scan_folder` never sees it); only when every instance has
arrived does :meth:`LocalStore.commit` move the series folders into place (one ``rename`` per new series folder,
``os.replace`` per file when the series is already there) and put the headers into the application's header index
(:class:`~imaging.dicom.index_cache.IndexCache`), the same index that opening a folder uses.  A failure, cancel or
crash before that leaves the staging folder, which is deleted (at once, or when the store is next opened): never a
partial study in the store or in the index.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset

from imaging.dicom.index_cache import IndexCache
from imaging.dicom.progress import CancelToken, ProgressCallback
from imaging.dicom.scanner import scan_folder
from imaging.dicom.series import ScanResult

from .errors import PacsCancelled, PacsOperationError

__all__ = ["LocalStore", "StagedInstance", "Staging"]

_SAFE_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_STAGING = ".staging"
_STALE_S = 3600.0


def _folder_name(uid: str) -> str:
    """A UID as a file name; anything that is not a plain UID (a hostile server) becomes a hash."""
    uid = uid.strip().rstrip("\x00")
    if _SAFE_UID.match(uid) and len(uid) <= 64:
        return uid
    return "x" + hashlib.sha1(uid.encode("utf-8", "replace")).hexdigest()[:24]


@dataclass(frozen=True)
class StagedInstance:
    """One instance written to staging."""

    study_uid: str
    series_uid: str
    sop_uid: str
    path: Path


@dataclass
class Staging:
    """A transaction folder: instances are added (from any thread) until it is committed or discarded."""

    folder: Path
    instances: dict[str, StagedInstance] = field(default_factory=dict)
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_bytes(self, data: bytes) -> StagedInstance:
        """Store one DICOM Part 10 file given as bytes (C-STORE ``encoded_dataset()``, a WADO-RS part).

        Raises
        ------
        PacsOperationError
            The bytes are not a DICOM file with study, series and SOP instance UIDs.
        PacsCancelled
            The staging was discarded meanwhile (a late C-STORE after cancel).
        """
        try:
            ds = dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=[
                "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"])
        except Exception as exc:  # whatever pydicom raises on garbage: one clear message
            raise PacsOperationError(f"the server sent an object that is not valid DICOM ({type(exc).__name__})")\
                from None
        study, series, sop = (str(ds.get(k, "")) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"))
        if not (study and series and sop):
            raise PacsOperationError("the server sent an object without study, series or instance UID")
        folder = self.folder / _folder_name(study) / _folder_name(series)
        path = folder / f"{_folder_name(sop)}.dcm"
        with self._lock:
            if self.closed:
                raise PacsCancelled("the retrieve was cancelled; late object discarded")
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            instance = StagedInstance(study, series, sop, path)
            self.instances[sop] = instance
        return instance

    def add_dataset(self, ds: Dataset) -> StagedInstance:
        """Store a pydicom dataset (with file meta) as a Part 10 file."""
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return self.add_bytes(buffer.getvalue())

    def discard(self) -> None:
        """Delete everything staged; later :meth:`add_bytes` calls raise :class:`PacsCancelled`."""
        with self._lock:
            self.closed = True
            shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def count(self) -> int:
        """Instances staged so far."""
        return len(self.instances)


class LocalStore:
    """A folder of retrieved studies whose headers are kept in the application's header index.

    Parameters
    ----------
    root : path-like
        The store folder (created if needed).
    cache : IndexCache, bool or None, default True
        The header index to fill on commit (True: the user's default index; None/False: none).
    """

    def __init__(self, root: str | os.PathLike[str], *, cache: IndexCache | bool | None = True) -> None:
        self.root = Path(root).absolute()
        self.cache = cache
        self.root.mkdir(parents=True, exist_ok=True)
        self._clean_stale()

    @property
    def staging_root(self) -> Path:
        """``ROOT/.staging``: transaction folders live here."""
        return self.root / _STAGING

    def _clean_stale(self) -> None:
        """Remove transaction folders left by a crash (older than an hour: a live retrieve may own newer ones)."""
        if not self.staging_root.is_dir():
            return
        now = time.time()
        for entry in self.staging_root.iterdir():
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > _STALE_S:
                    shutil.rmtree(entry, ignore_errors=True)

    @contextlib.contextmanager
    def staging(self) -> Iterator[Staging]:
        """A :class:`Staging` that is discarded unless :meth:`commit` took it; any exception discards it."""
        folder = self.staging_root / uuid.uuid4().hex
        folder.mkdir(parents=True)
        stage = Staging(folder)
        try:
            yield stage
        finally:
            stage.discard()

    def series_folder(self, study_uid: str, series_uid: str) -> Path:
        """Where a series lives once committed."""
        return self.root / _folder_name(study_uid) / _folder_name(series_uid)

    def study_folder(self, study_uid: str) -> Path:
        """Where a study lives once committed."""
        return self.root / _folder_name(study_uid)

    def commit(
        self,
        stage: Staging,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ScanResult:
        """Move everything staged into the store and index it; returns the scan of the committed series.

        The last point where ``cancel`` is honoured is before the first move: after it, the commit completes.
        """
        if cancel is not None and cancel.is_set():
            raise PacsCancelled("cancelled by the user before the retrieved images were stored; nothing was kept")
        with stage._lock:
            if stage.closed:
                raise PacsCancelled("the retrieve was cancelled; nothing was kept")
            stage.closed = True  # late C-STOREs may no longer write while we move
            series_dirs = sorted({(i.study_uid, i.series_uid) for i in stage.instances.values()})
            targets = []
            for study, series in series_dirs:
                src = stage.folder / _folder_name(study) / _folder_name(series)
                dst = self.series_folder(study, series)
                dst.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.rename(src, dst)  # a new series appears whole, in one step
                except OSError:
                    if not dst.is_dir():
                        raise
                    for f in sorted(src.iterdir()):  # already there (retrieved before): same SOP UIDs, same files
                        os.replace(f, dst / f.name)
                targets.append(dst)
        if progress is not None:
            progress(0.0, "Indexing the retrieved images")
        series = []
        skipped = []
        for dst in targets:
            # scan_folder opens the user's index itself when given True; reading the headers here also fills it.
            result = scan_folder(dst, cache=self.cache if self.cache is not None else False)
            series.extend(result.series)
            skipped.extend(result.skipped)
        if progress is not None:
            progress(1.0, f"Stored {stage.count} images in {len(targets)} series")
        return ScanResult(series=series, skipped=skipped)

    def dicom_files(self) -> list[Path]:
        """Every committed file (staging excluded), sorted."""
        return sorted(p for p in self.root.rglob("*.dcm") if _STAGING not in p.relative_to(self.root).parts)
