"""DICOMweb with dicomweb-client: QIDO-RS (query), WADO-RS (retrieve), STOW-RS (store).

TLS: ``verify_tls`` and ``ca_bundle`` of the node set the requests session's ``verify``; credentials are HTTP basic
auth with the password passed in (from :mod:`imaging.pacs.credentials`), never stored here.  Every requests error
becomes a :class:`~imaging.pacs.errors.PacsError` whose message says what to check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.dataset import Dataset

from imaging.dicom.progress import CancelToken, ProgressCallback, ProgressReporter

from .errors import PacsAuthenticationError, PacsCancelled, PacsConnectionError, PacsOperationError
from .local_store import Staging
from .nodes import DicomWebNode
from .query import SERIES_RETURN_KEYS, STUDY_RETURN_KEYS, SeriesRecord, StudyQuery, StudyRecord, study_filters

__all__ = ["find_series", "find_studies", "ping", "stow_files", "wado_into"]

log = logging.getLogger(__name__)

_STOW_BATCH = 16


class _Session(requests.Session):
    """A session that sends QIDO-RS wildcards literally.

    dicomweb-client percent-encodes ``*`` and ``?`` in query values; RFC 3986 allows both literally in a query,
    and some servers (Orthanc's DICOMweb plugin 1.7, the Debian 12 package) match ``%2A`` as a literal character,
    so a name search with a wildcard would find nothing.

    It also passes the node's TLS setting with every request: requests otherwise lets ``$REQUESTS_CA_BUNDLE`` or
    ``$CURL_CA_BUNDLE`` override a session's ``verify``, which would drop the hospital CA chosen for this node.
    """

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("verify", self.verify)
        if isinstance(url, str) and "?" in url:
            base, query = url.split("?", 1)
            url = base + "?" + query.replace("%2A", "*").replace("%3F", "?")
        return super().request(method, url, *args, **kwargs)


def _client(node: DicomWebNode, password: str | None) -> DICOMwebClient:
    session = _Session()
    if node.username:
        if password is None:
            raise PacsAuthenticationError(
                f"DICOMweb node {node.describe()} needs the password of user '{node.username}': enter it in the "
                "node settings"
            )
        session.auth = (node.username, password)
    session.verify = node.ca_bundle or node.verify_tls
    client = DICOMwebClient(node.url, session=session, timeout=node.timeout_s)
    # dicomweb-client retries failed requests with exponential back-off (tens of seconds): a stopped server or a
    # wrong port must be reported at once; the user can retry.
    client.set_http_retry_params(retry=False)
    return client


def _root_cause(exc: BaseException) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "refused"
    if "name or service not known" in text or "nodename nor servname" in text or "failed to resolve" in text:
        return "unknown host"
    if "remotedisconnected" in text or "badstatusline" in text or "connection aborted" in text \
            or "reset by peer" in text:
        return "not http"
    return ""


@contextmanager
def _translate(node: DicomWebNode, action: str) -> Iterator[None]:
    """Turn requests/dicomweb-client errors into one-line :class:`PacsError` messages."""
    where = f"DICOMweb server {node.describe()}"
    try:
        yield
    except requests.exceptions.SSLError:
        raise PacsAuthenticationError(
            f"{where}: the TLS certificate could not be verified; give the hospital's CA bundle in the node "
            "settings (or, for a test server only, turn certificate checking off)"
        ) from None
    except requests.exceptions.Timeout:
        raise PacsConnectionError(f"{where} did not answer within {node.timeout_s:g} s; check the URL and the "
                                  "network") from None
    except requests.exceptions.ConnectionError as exc:
        cause = _root_cause(exc)
        port = node.url.split("://", 1)[1].split("/", 1)[0]
        if cause == "refused":
            detail = f"connection refused, nothing listens at {port}; check the URL's port and that the server runs"
        elif cause == "unknown host":
            detail = "the host name is unknown; check the URL"
        elif cause == "not http":
            detail = f"what answers at {port} is not a web server; check the URL's port (is it the DICOM port?)"
        else:
            detail = "the connection failed; check the URL and the network"
        raise PacsConnectionError(f"cannot reach {where}: {detail}") from None
    except requests.exceptions.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else 0
        if code in (401, 403):
            raise PacsAuthenticationError(
                f"{where} refused the user name or password (HTTP {code}); check them in the node settings"
            ) from None
        if code == 404:
            raise PacsConnectionError(
                f"{where}: no DICOMweb service at this URL (HTTP 404); check the path (often ends in /dicom-web)"
            ) from None
        raise PacsOperationError(f"{where} could not {action} (HTTP {code})") from None
    except requests.exceptions.RequestException as exc:
        raise PacsConnectionError(f"cannot reach {where} ({type(exc).__name__}); check the URL") from None
    except ValueError as exc:  # JSON or multipart that does not parse: not a DICOMweb answer
        raise PacsConnectionError(f"{where} did not answer as a DICOMweb service ({type(exc).__name__}); "
                                  "check the URL") from None


def _datasets(results: list[dict]) -> list[Dataset]:
    return [Dataset.from_json(r) for r in results]


def ping(node: DicomWebNode, password: str | None = None) -> None:
    """A one-result QIDO-RS request: raises a :class:`PacsError` unless the service answers."""
    client = _client(node, password)
    with _translate(node, "answer a query"):
        client.search_for_studies(limit=1)


def find_studies(
    node: DicomWebNode, query: StudyQuery, password: str | None = None, *, cancel: CancelToken | None = None
) -> list[StudyRecord]:
    """QIDO-RS study search with the keys of ``query``."""
    client = _client(node, password)
    with _translate(node, "search for studies"):
        found = client.search_for_studies(search_filters=study_filters(query), fields=list(STUDY_RETURN_KEYS))
    if cancel is not None and cancel.is_set():
        raise PacsCancelled("query cancelled by the user")
    return [StudyRecord.from_dataset(ds) for ds in _datasets(found)]


def find_series(
    node: DicomWebNode, study_uid: str, password: str | None = None, *, cancel: CancelToken | None = None
) -> list[SeriesRecord]:
    """QIDO-RS series search in one study, ordered by series number."""
    client = _client(node, password)
    with _translate(node, "search for series"):
        found = client.search_for_series(study_uid, fields=list(SERIES_RETURN_KEYS))
    records = [SeriesRecord.from_dataset(ds, study_uid) for ds in _datasets(found)]
    return sorted(records, key=lambda s: (s.series_number is None, s.series_number or 0, s.series_uid))


def wado_into(
    node: DicomWebNode,
    stage: Staging,
    study_uid: str,
    series_uids: Sequence[str] = (),
    password: str | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """WADO-RS retrieve of whole series into ``stage``; returns the number of instances received."""
    series = find_series(node, study_uid, password, cancel=cancel)
    wanted = [s for s in series if not series_uids or s.series_uid in set(series_uids)]
    missing = set(series_uids) - {s.series_uid for s in wanted}
    if missing:
        raise PacsOperationError(f"DICOMweb server {node.describe()} has no series {sorted(missing)[0]} in this "
                                 "study")
    total = sum(s.n_instances or 0 for s in wanted) or None
    client = _client(node, password)
    reporter = ProgressReporter(progress, cancel)
    received = 0
    for record in wanted:
        with _translate(node, "send the images"):
            instances = client.iter_series(study_uid, record.series_uid)
            try:
                for ds in instances:
                    if cancel is not None and cancel.is_set():
                        raise PacsCancelled("WADO-RS retrieve cancelled by the user; nothing was kept")
                    stage.add_dataset(ds)
                    received += 1
                    reporter.update(received / total if total else 0.0,
                                    f"Retrieving image {received}" + (f" of {total}" if total else ""))
            finally:
                instances.close()  # stops the download on cancel or error
    return received


def stow_files(
    node: DicomWebNode,
    files: Sequence[Path],
    password: str | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """STOW-RS the files in batches; returns how many the server stored."""
    if not files:
        raise PacsOperationError("nothing to send: no DICOM files given")
    client = _client(node, password)
    reporter = ProgressReporter(progress, cancel)
    stored = 0
    for start in range(0, len(files), _STOW_BATCH):
        if cancel is not None and cancel.is_set():
            raise PacsCancelled(f"send cancelled by the user after {stored} of {len(files)} files")
        batch = []
        for f in files[start:start + _STOW_BATCH]:
            try:
                batch.append(dcmread(f))
            except Exception as exc:  # pydicom raises several types on non-DICOM files
                raise PacsOperationError(f"{Path(f).name} is not a DICOM file that can be sent "
                                         f"({type(exc).__name__})") from None
        reporter.update(start / len(files), f"Sending {start + 1} of {len(files)}")
        with _translate(node, "store the files"):
            response = client.store_instances(batch)
        failed = response.get("FailedSOPSequence") if response is not None else None
        if failed:
            raise PacsOperationError(f"DICOMweb server {node.describe()} refused {len(failed)} of the files sent "
                                     f"(first failure reason {failed[0].get('FailureReason', '?')})")
        stored += len(batch)
    reporter.update(1.0, f"Sent {stored} files", force=True)
    return stored
