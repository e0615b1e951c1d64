"""PACS connectivity: configure DICOM nodes and DICOMweb endpoints, query, retrieve into the local store, send.

No Qt.  Modules, one job each:

* :mod:`.nodes` -- :class:`DimseNode`, :class:`DicomWebNode` and their JSON settings file;
* :mod:`.credentials` -- passwords in the OS keyring (memory only where there is none);
* :mod:`.query` -- :class:`StudyQuery` and the study/series records that come back;
* :mod:`.dimse` -- C-ECHO, C-FIND, C-GET, C-MOVE (with a local storage SCP), C-STORE via pynetdicom;
* :mod:`.dicomweb` -- QIDO-RS, WADO-RS, STOW-RS via dicomweb-client;
* :mod:`.local_store` -- the store retrieves are committed to, atomically, and indexed;
* :mod:`.client` -- one function per user action whatever the node kind.
"""

from .client import RETRIEVE_METHODS, RetrieveResult, echo, find_series, find_studies, methods_for, retrieve, send
from .errors import (
    PacsAuthenticationError,
    PacsCancelled,
    PacsConfigError,
    PacsConnectionError,
    PacsError,
    PacsOperationError,
)
from .local_store import LocalStore
from .nodes import DicomWebNode, DimseNode, Node, NodeSettings, load_settings, save_settings
from .query import SeriesRecord, StudyQuery, StudyRecord, parse_date_range

__all__ = [
    "RETRIEVE_METHODS",
    "DicomWebNode",
    "DimseNode",
    "LocalStore",
    "Node",
    "NodeSettings",
    "PacsAuthenticationError",
    "PacsCancelled",
    "PacsConfigError",
    "PacsConnectionError",
    "PacsError",
    "PacsOperationError",
    "RetrieveResult",
    "SeriesRecord",
    "StudyQuery",
    "StudyRecord",
    "echo",
    "find_series",
    "find_studies",
    "load_settings",
    "methods_for",
    "parse_date_range",
    "retrieve",
    "save_settings",
    "send",
]
