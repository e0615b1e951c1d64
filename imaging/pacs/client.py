"""One entry point per user action, whatever the node kind: query, retrieve into the local store, send, echo.

``retrieve`` is the transaction: everything arrives in a staging folder, and only a complete retrieve is committed
to the :class:`~imaging.pacs.local_store.LocalStore` and its header index; an error or a cancel leaves the store and
the index exactly as they were.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from imaging.dicom.progress import CancelToken, ProgressCallback, ProgressReporter
from imaging.dicom.scanner import iter_files
from imaging.dicom.series import ScanResult

from . import dicomweb, dimse
from .credentials import get_password
from .errors import PacsConfigError, PacsOperationError
from .local_store import LocalStore
from .nodes import DicomWebNode, DimseNode, Node
from .query import SeriesRecord, StudyQuery, StudyRecord

__all__ = [
    "RETRIEVE_METHODS",
    "RetrieveResult",
    "echo",
    "find_series",
    "find_studies",
    "methods_for",
    "retrieve",
    "send",
]

RETRIEVE_METHODS = {"get": "C-GET", "move": "C-MOVE", "wado": "WADO-RS"}


def methods_for(node: Node) -> list[str]:
    """The retrieve methods a node supports, preferred first."""
    return ["get", "move"] if isinstance(node, DimseNode) else ["wado"]


def _password(node: Node, password: str | None) -> str | None:
    if password is not None or not isinstance(node, DicomWebNode) or not node.username:
        return password
    return get_password(node.name, node.username)


@dataclass(frozen=True)
class RetrieveResult:
    """What a retrieve committed to the local store."""

    study_folder: Path
    scan: ScanResult
    n_instances: int
    method: str
    seconds: float


def echo(node: Node, *, password: str | None = None) -> float:
    """Check that the node answers (C-ECHO, or a one-result QIDO-RS); returns seconds taken."""
    if isinstance(node, DimseNode):
        return dimse.echo(node)
    start = time.perf_counter()
    dicomweb.ping(node, _password(node, password))
    return time.perf_counter() - start


def find_studies(
    node: Node, query: StudyQuery, *, password: str | None = None, cancel: CancelToken | None = None
) -> list[StudyRecord]:
    """Studies on ``node`` matching ``query`` (C-FIND or QIDO-RS)."""
    if isinstance(node, DimseNode):
        return dimse.find_studies(node, query, cancel=cancel)
    return dicomweb.find_studies(node, query, _password(node, password), cancel=cancel)


def find_series(
    node: Node, study_uid: str, *, password: str | None = None, cancel: CancelToken | None = None
) -> list[SeriesRecord]:
    """Series of one study on ``node``."""
    if isinstance(node, DimseNode):
        return dimse.find_series(node, study_uid, cancel=cancel)
    return dicomweb.find_series(node, study_uid, _password(node, password), cancel=cancel)


def retrieve(
    node: Node,
    store: LocalStore,
    study_uid: str,
    series_uids: Sequence[str] = (),
    *,
    method: str | None = None,
    password: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> RetrieveResult:
    """Retrieve a study (or some of its series) into ``store``, all or nothing.

    Parameters
    ----------
    node : DimseNode or DicomWebNode
        Where the study is.
    store : LocalStore
        Where it goes; committed and indexed only when complete.
    study_uid : str
        The study.
    series_uids : sequence of str, optional
        Only these series (default: the whole study).
    method : {"get", "move", "wado"}, optional
        C-GET (default for DIMSE nodes), C-MOVE, or WADO-RS (DICOMweb nodes).
    password : str, optional
        DICOMweb password (default: the remembered one, :mod:`imaging.pacs.credentials`).
    progress : callable, optional
        ``progress(fraction, message)``.
    cancel : object with ``is_set()``, optional
        Stops the transfer; nothing is kept.

    Returns
    -------
    RetrieveResult
        The study folder in the store and the scan (series, geometry) of what was committed.

    Raises
    ------
    PacsConnectionError, PacsAuthenticationError, PacsOperationError
        With a one-line message; the store is unchanged.
    PacsCancelled
        ``cancel`` was set; the store is unchanged.
    """
    choices = methods_for(node)
    method = method or choices[0]
    if method not in choices:
        allowed = ", ".join(RETRIEVE_METHODS[m] for m in choices)
        raise PacsConfigError(f"{RETRIEVE_METHODS.get(method, method)} is not available for node "
                              f"{node.describe()}: use {allowed}")
    if not study_uid:
        raise PacsConfigError("choose a study to retrieve")
    start = time.perf_counter()
    reporter = ProgressReporter(progress, cancel, min_interval=0.0)
    transfer = reporter.sub(0.0, 0.9)
    with store.staging() as stage:
        if isinstance(node, DimseNode):
            fetch = dimse.get_into if method == "get" else dimse.move_into
            n = fetch(node, stage, study_uid, series_uids, progress=transfer.update, cancel=cancel)
        else:
            n = dicomweb.wado_into(node, stage, study_uid, series_uids, _password(node, password),
                                   progress=transfer.update, cancel=cancel)
        if n == 0:
            raise PacsOperationError(f"{node.describe()} sent no images for this study; it may have been deleted "
                                     "or you may lack access")
        scan = store.commit(stage, progress=reporter.sub(0.9, 1.0).update, cancel=cancel)
    return RetrieveResult(store.study_folder(study_uid), scan, n, method, time.perf_counter() - start)


def _is_part10(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def dicom_files_under(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """What ``send`` sends: the files named, and the DICOM files (``DICM`` marker) found in the folders named.

    Other files in a folder (DICOMDIR-less exports carry README, VERSION, vendor index files) are passed over; a file
    named explicitly is sent or refused with a message.
    """
    out: list[Path] = []
    for p in paths:
        root = Path(p)
        if not root.exists():
            raise PacsConfigError(f"{root}: no such file or folder")
        if root.is_file():
            out.append(root)
        else:
            out.extend(f for f in iter_files(root) if _is_part10(f) and f.name.upper() != "DICOMDIR")
    if not out:
        raise PacsConfigError("nothing to send: no DICOM files in " + ", ".join(str(p) for p in paths))
    return out


def send(
    node: Node,
    paths: Sequence[str | os.PathLike[str]],
    *,
    password: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Send DICOM files (or folders of them) to ``node`` with C-STORE or STOW-RS; returns the number stored."""
    files = dicom_files_under(paths)
    if isinstance(node, DimseNode):
        return dimse.store_files(node, files, progress=progress, cancel=cancel)
    return dicomweb.stow_files(node, files, _password(node, password), progress=progress, cancel=cancel)
