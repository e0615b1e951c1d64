"""Classic DICOM networking with pynetdicom: C-ECHO, C-FIND, C-GET, C-MOVE (with a local storage SCP), C-STORE.

Every function opens one association, does its job and releases it.  Before associating, the node's address is
probed with a plain TCP connection so that "nothing listens there" (stopped server, wrong port, wrong host) gives a
precise message instead of pynetdicom's generic "association failed".  Retrieved objects go to a
:class:`~imaging.pacs.local_store.Staging`; cancelling aborts the association and the staging is then discarded by
the caller.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, StoragePresentationContexts, build_context, build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from imaging.dicom.progress import CancelToken, ProgressCallback, ProgressReporter

from .errors import PacsAuthenticationError, PacsCancelled, PacsConnectionError, PacsError, PacsOperationError
from .local_store import Staging
from .nodes import DimseNode
from .query import SERIES_RETURN_KEYS, STUDY_RETURN_KEYS, SeriesRecord, StudyQuery, StudyRecord, study_filters

__all__ = ["echo", "find_series", "find_studies", "get_into", "move_into", "store_files"]

log = logging.getLogger(__name__)

# Uncompressed syntaxes only: the PACS decompresses for us, so every SOP class fits in one context each (128 max).
_TRANSFER_SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]
_PENDING = (0xFF00, 0xFF01)


def _probe(node: DimseNode) -> None:
    """Open and close a TCP connection to the node; raise a precise :class:`PacsConnectionError` if that fails."""
    where = f"cannot connect to PACS {node.describe()}"
    try:
        with socket.create_connection((node.host, node.port), timeout=node.timeout_s):
            pass
    except socket.gaierror:
        raise PacsConnectionError(f"{where}: host name {node.host!r} is unknown; check the host") from None
    except ConnectionRefusedError:
        raise PacsConnectionError(
            f"{where}: connection refused, nothing listens on port {node.port}; check the port and that the "
            "PACS is running"
        ) from None
    except TimeoutError:
        raise PacsConnectionError(
            f"{where}: no answer within {node.timeout_s:g} s; check the host, the port and the firewall"
        ) from None
    except OSError as exc:
        raise PacsConnectionError(f"{where}: {exc.strerror or type(exc).__name__}; check the host and port")\
            from None


def _no_delay(assoc: Association) -> None:
    """Turn off Nagle's algorithm on the association's socket.

    pynetdicom writes a DIMSE command and its dataset as two packets; with Nagle on, the second waits for the
    peer's delayed ACK (~40 ms on Linux), so sending small images crawled (48 phantom slices: 2.8 s, 0.4 s without).
    """
    sock = getattr(getattr(getattr(assoc, "dul", None), "socket", None), "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _make_ae(node: DimseNode, ae_title: str | None = None) -> AE:
    ae = AE(ae_title=ae_title or node.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = node.timeout_s
    ae.connection_timeout = node.timeout_s
    return ae


@contextmanager
def _association(node: DimseNode, ae: AE, **kwargs: Any) -> Iterator[Association]:
    """An established association with ``node`` (released on exit, aborted on error)."""
    _probe(node)
    assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, **kwargs)
    if not assoc.is_established:
        if assoc.is_rejected:
            raise PacsAuthenticationError(
                f"PACS {node.describe()} rejected the association: check that it knows our AE title "
                f"'{node.calling_ae}' (and this computer's address) and that its AE title is '{node.ae_title}'"
            )
        raise PacsConnectionError(
            f"PACS {node.describe()}: the server at {node.host}:{node.port} did not answer as a DICOM node "
            f"(association {'aborted' if assoc.is_aborted else 'not accepted'} within {node.timeout_s:g} s); "
            "check the port (is it the DICOM port, not the web port?)"
        )
    _no_delay(assoc)
    try:
        yield assoc
    except BaseException:
        if assoc.is_alive():
            assoc.abort()
        raise
    else:
        if assoc.is_alive():
            assoc.release()


def _lost(node: DimseNode, assoc: Association, what: str, detail: str, started: float) -> PacsError:
    """The error for a response that never came.

    Quickly (or with an abort): the PACS refused the request -- typically because our AE title is not registered
    there (Orthanc, dcm4chee and most PACS answer so).  After the DIMSE timeout: the network or a slow PACS.
    """
    if assoc.is_aborted or time.monotonic() - started < 0.9 * node.timeout_s:
        return PacsAuthenticationError(
            f"PACS {node.describe()} refused the {what} without an answer ({detail}): it probably does not allow "
            f"our AE title '{node.calling_ae}' from this computer; ask its administrator to register it"
        )
    return PacsConnectionError(f"PACS {node.describe()} stopped answering during the {what} ({detail}); "
                               f"check the network or raise the timeout ({node.timeout_s:g} s)")


def _check_context(node: DimseNode, assoc: Association, abstract_syntax: str, what: str) -> None:
    if not any(cx.abstract_syntax == abstract_syntax for cx in assoc.accepted_contexts):
        raise PacsOperationError(f"PACS {node.describe()} does not support {what} (its presentation context was "
                                 "rejected)")


def _status_text(status: Dataset) -> str:
    code = int(getattr(status, "Status", -1))
    comment = str(status.get("ErrorComment", "") or "").strip()
    return f"status 0x{code:04X}" + (f": {comment}" if comment else "")


def echo(node: DimseNode) -> float:
    """C-ECHO; returns the round trip in seconds.  Raises :class:`PacsError` subclasses on failure."""
    ae = _make_ae(node)
    ae.add_requested_context(Verification)
    start = time.perf_counter()
    with _association(node, ae) as assoc:
        status = assoc.send_c_echo()
        if not status or int(status.Status) != 0:
            raise PacsOperationError(f"PACS {node.describe()} did not confirm the echo")
    return time.perf_counter() - start


def _find(node: DimseNode, identifier: Dataset, cancel: CancelToken | None) -> list[Dataset]:
    ae = _make_ae(node)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    out = []
    with _association(node, ae) as assoc:
        _check_context(node, assoc, StudyRootQueryRetrieveInformationModelFind, "study-root C-FIND")
        started = time.monotonic()
        for status, found in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
            if cancel is not None and cancel.is_set():
                raise PacsCancelled("query cancelled by the user")
            if not status:
                raise _lost(node, assoc, "query", "no results kept", started)
            code = int(status.Status)
            if code in _PENDING:
                if found is not None:
                    out.append(found)
            elif code == 0x0000:
                break
            else:
                raise PacsOperationError(f"PACS {node.describe()} refused the query ({_status_text(status)})")
    return out


def find_studies(node: DimseNode, query: StudyQuery, *, cancel: CancelToken | None = None) -> list[StudyRecord]:
    """Study-level C-FIND (study root) with the keys of ``query``."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in STUDY_RETURN_KEYS:
        setattr(ds, keyword, "")
    for keyword, value in study_filters(query).items():
        setattr(ds, keyword, value)
    return [StudyRecord.from_dataset(found) for found in _find(node, ds, cancel)]


def find_series(node: DimseNode, study_uid: str, *, cancel: CancelToken | None = None) -> list[SeriesRecord]:
    """Series-level C-FIND of one study, ordered by series number."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    for keyword in SERIES_RETURN_KEYS:
        setattr(ds, keyword, "")
    ds.StudyInstanceUID = study_uid
    found = [SeriesRecord.from_dataset(f, study_uid) for f in _find(node, ds, cancel)]
    return sorted(found, key=lambda s: (s.series_number is None, s.series_number or 0, s.series_uid))


def _store_handler(stage: Staging, cancel: CancelToken | None) -> Callable[[evt.Event], int]:
    def on_store(event: evt.Event) -> int:
        if cancel is not None and cancel.is_set():
            return 0xA700  # out of resources: tells the PACS to stop sending
        try:
            stage.add_bytes(event.encoded_dataset())
        except PacsCancelled:
            return 0xA700
        except PacsError:
            return 0xC210  # cannot understand
        except OSError:
            log.warning("could not write a retrieved image to the staging folder")
            return 0xA700
        return 0x0000

    return on_store


def _identifier(study_uid: str, series_uid: str | None) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    ds.StudyInstanceUID = study_uid
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    return ds


def _follow(
    node: DimseNode,
    assoc: Association,
    responses: Iterator[tuple[Dataset, Dataset | None]],
    stage: Staging,
    reporter: ProgressReporter,
    cancel: CancelToken | None,
    what: str,
) -> None:
    """Consume C-GET/C-MOVE responses: progress from the sub-operation counts, cancel by aborting."""
    started = time.monotonic()
    for status, _ in responses:
        if cancel is not None and cancel.is_set():
            assoc.abort()
            raise PacsCancelled(f"{what} cancelled by the user; nothing was kept")
        if not status:
            raise _lost(node, assoc, what, f"{stage.count} images had arrived; none were kept", started)
        code = int(status.Status)
        remaining = int(status.get("NumberOfRemainingSuboperations", 0) or 0)
        done = sum(int(status.get(k, 0) or 0) for k in (
            "NumberOfCompletedSuboperations", "NumberOfFailedSuboperations", "NumberOfWarningSuboperations"))
        if code in _PENDING:
            total = remaining + done
            reporter.update(done / total if total else 0.0, f"Retrieving image {done + 1} of {total}")
            continue
        failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
        if code == 0x0000 and not failed:
            return
        if code == 0xFE00:
            raise PacsCancelled(f"the PACS cancelled the {what}; nothing was kept")
        if code == 0xA801 or (what == "C-MOVE" and code >= 0xA000 and not done and not stage.count):
            raise PacsOperationError(
                f"PACS {node.describe()} does not know the C-MOVE destination '{node.destination_ae}': register "
                f"it there with this computer's address and port {node.storage_port}, or use C-GET"
            )
        detail = f"{failed} image(s) could not be sent" if failed else _status_text(status)
        raise PacsOperationError(f"PACS {node.describe()}: the {what} failed ({detail}); nothing was kept")


def _retrieve_each(
    node: DimseNode,
    assoc: Association,
    study_uid: str,
    series_uids: Sequence[str],
    stage: Staging,
    reporter: ProgressReporter,
    cancel: CancelToken | None,
    what: str,
    send: Callable[[Dataset], Iterator[tuple[Dataset, Dataset | None]]],
) -> None:
    """One C-GET/C-MOVE request per series (the whole study when none are named), progress shared out evenly."""
    targets: list[str | None] = list(series_uids) or [None]
    for i, series_uid in enumerate(targets):
        sub = reporter.sub(i / len(targets), (i + 1) / len(targets))
        _follow(node, assoc, send(_identifier(study_uid, series_uid)), stage, sub, cancel, what)


def get_into(
    node: DimseNode,
    stage: Staging,
    study_uid: str,
    series_uids: Sequence[str] = (),
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """C-GET a study (or some of its series) into ``stage``; returns the number of instances received."""
    ae = _make_ae(node)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    roles = []
    for cx in StoragePresentationContexts[:127]:
        ae.add_requested_context(cx.abstract_syntax, _TRANSFER_SYNTAXES)
        roles.append(build_role(cx.abstract_syntax, scp_role=True))
    handlers = [(evt.EVT_C_STORE, _store_handler(stage, cancel))]
    reporter = ProgressReporter(progress, cancel)
    with _association(node, ae, ext_neg=roles, evt_handlers=handlers) as assoc:
        _check_context(node, assoc, StudyRootQueryRetrieveInformationModelGet, "C-GET")
        _retrieve_each(node, assoc, study_uid, series_uids, stage, reporter, cancel, "C-GET",
                       lambda identifier: assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet))
    return stage.count


def _bind_host(node: DimseNode) -> str:
    # A PACS on this machine reaches us on loopback: then do not listen on the network at all.
    return "127.0.0.1" if node.host in ("localhost", "127.0.0.1", "::1") else ""


def move_into(
    node: DimseNode,
    stage: Staging,
    study_uid: str,
    series_uids: Sequence[str] = (),
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """C-MOVE a study (or some series) to our storage SCP, started on ``node.storage_port`` meanwhile.

    The PACS must know ``node.destination_ae`` with this computer's address and ``node.storage_port``.
    """
    scp = _make_ae(node, node.destination_ae)
    scp.supported_contexts = [build_context(cx.abstract_syntax, _TRANSFER_SYNTAXES) for cx in
                              StoragePresentationContexts]
    handlers = [(evt.EVT_C_STORE, _store_handler(stage, cancel))]
    try:
        server = scp.start_server((_bind_host(node), node.storage_port), block=False, evt_handlers=handlers)
    except OSError as exc:
        raise PacsConnectionError(
            f"cannot receive C-MOVE images on port {node.storage_port} ({exc.strerror or exc}); choose another "
            "storage port in the node settings (and on the PACS), or use C-GET"
        ) from None
    try:
        ae = _make_ae(node)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        reporter = ProgressReporter(progress, cancel)
        with _association(node, ae) as assoc:
            _check_context(node, assoc, StudyRootQueryRetrieveInformationModelMove, "C-MOVE")
            _retrieve_each(node, assoc, study_uid, series_uids, stage, reporter, cancel, "C-MOVE",
                           lambda identifier: assoc.send_c_move(identifier, node.destination_ae,
                                                                StudyRootQueryRetrieveInformationModelMove))
    finally:
        server.shutdown()
    return stage.count


def store_files(
    node: DimseNode,
    files: Sequence[Path],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """C-STORE DICOM files to ``node``; returns how many were stored.  Any failure raises after trying them all."""
    if not files:
        raise PacsOperationError("nothing to send: no DICOM files given")
    syntaxes: dict[str, set[str]] = {}
    for f in files:
        try:
            ds = dcmread(f, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            sop_class = str(ds.SOPClassUID)
            syntax = str(ds.file_meta.TransferSyntaxUID)
        except Exception as exc:  # pydicom raises several types on non-DICOM files
            raise PacsOperationError(f"{Path(f).name} is not a DICOM file that can be sent ({type(exc).__name__})")\
                from None
        syntaxes.setdefault(sop_class, set()).add(syntax)
    if len(syntaxes) > 128:
        raise PacsOperationError(f"{len(syntaxes)} SOP classes in one send; at most 128 fit in one association")
    ae = _make_ae(node)
    for sop_class, ts in syntaxes.items():
        ae.add_requested_context(sop_class, sorted(ts | {ExplicitVRLittleEndian, ImplicitVRLittleEndian}))
    reporter = ProgressReporter(progress, cancel)
    failed: list[str] = []
    with _association(node, ae) as assoc:
        for i, f in enumerate(files):
            if cancel is not None and cancel.is_set():
                assoc.abort()
                raise PacsCancelled(f"send cancelled by the user after {i} of {len(files)} files")
            reporter.update(i / len(files), f"Sending {i + 1} of {len(files)}")
            status = assoc.send_c_store(Path(f))
            if not status:
                raise PacsConnectionError(f"PACS {node.describe()} stopped answering while storing "
                                          f"({i} of {len(files)} sent)")
            if int(status.Status) not in (0x0000, 0xB000, 0xB007, 0xB006):
                failed.append(f"{Path(f).name} ({_status_text(status)})")
    if failed:
        raise PacsOperationError(f"PACS {node.describe()} refused {len(failed)} of {len(files)} files: "
                                 + "; ".join(failed[:3]) + (" ..." if len(failed) > 3 else ""))
    reporter.update(1.0, f"Sent {len(files)} files", force=True)
    return len(files)
