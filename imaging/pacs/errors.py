"""Exceptions raised while talking to a PACS.

Every message names the node (its display name, AE title, host and port or URL), says what went wrong and what the
user can check; none contains patient identity, because these messages reach dialogs and logs verbatim.
"""

from __future__ import annotations

from imaging.dicom.errors import DicomError, DicomReadCancelled

__all__ = [
    "PacsAuthenticationError",
    "PacsCancelled",
    "PacsConfigError",
    "PacsConnectionError",
    "PacsError",
    "PacsOperationError",
]


class PacsError(DicomError):
    """Base class of every PACS error (also a :class:`~imaging.dicom.errors.DicomError`)."""


class PacsConfigError(PacsError, ValueError):
    """A node setting is invalid (AE title too long, port out of range, URL without http(s)...)."""


class PacsConnectionError(PacsError, ConnectionError):
    """Nothing answered at the node's address, or what answered is not a DICOM / DICOMweb server."""


class PacsAuthenticationError(PacsError):
    """The server refused the credentials, the TLS certificate, or our AE title."""


class PacsOperationError(PacsError):
    """The server answered but the query, retrieve or store failed (status, missing instances...)."""


class PacsCancelled(DicomReadCancelled):
    """The user cancelled; whatever was fetched so far has been discarded."""
