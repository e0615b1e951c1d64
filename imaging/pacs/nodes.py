"""PACS node settings: DIMSE nodes (AE title, host, port) and DICOMweb endpoints (URL, TLS, user name).

Nodes are plain frozen dataclasses, validated on construction, and saved as JSON in the user's configuration folder
(``$XDG_CONFIG_HOME/surgitwin/pacs_nodes.json``, mode 0600).  Passwords never go in that file: see
:mod:`imaging.pacs.credentials`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import PacsConfigError

__all__ = [
    "DEFAULT_CALLING_AE",
    "DicomWebNode",
    "DimseNode",
    "Node",
    "NodeSettings",
    "default_settings_path",
    "default_store_root",
    "load_settings",
    "save_settings",
]

DEFAULT_CALLING_AE = "SURGITWIN"
_AE_TITLE = re.compile(r"^[\x20-\x7e]{1,16}$")


def _check_ae(value: str, what: str) -> str:
    value = value.strip()
    if not _AE_TITLE.match(value) or "\\" in value:
        raise PacsConfigError(
            f"{what} {value!r} is not a valid AE title: use 1 to 16 printable ASCII characters without a backslash"
        )
    return value


def _check_port(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise PacsConfigError(f"{what} {value!r} is not a TCP port: use a whole number from 1 to 65535")
    return value


def _check_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise PacsConfigError("a PACS node needs a name (how it is listed in SurgiTwin)")
    return value


@dataclass(frozen=True)
class DimseNode:
    """A classic DICOM node reached with C-ECHO/C-FIND/C-GET/C-MOVE/C-STORE.

    Parameters
    ----------
    name : str
        Display name, unique among the configured nodes.
    ae_title : str
        The PACS's AE title (called AE).
    host : str
        Host name or IP address.
    port : int
        DICOM port (often 104 or 11112).
    calling_ae : str, default "SURGITWIN"
        Our AE title; the PACS usually must know it.
    move_destination : str, optional
        AE title the PACS sends C-MOVE results to (must be configured on the PACS with our host and
        ``storage_port``); default ``calling_ae``.
    storage_port : int, default 11113
        Port of SurgiTwin's own storage SCP, started for the duration of a C-MOVE.
    timeout_s : float, default 10
        Connection, association and DIMSE timeout.
    """

    name: str
    ae_title: str
    host: str
    port: int
    calling_ae: str = DEFAULT_CALLING_AE
    move_destination: str = ""
    storage_port: int = 11113
    timeout_s: float = 10.0
    kind: str = field(default="dimse", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _check_name(self.name))
        object.__setattr__(self, "ae_title", _check_ae(self.ae_title, "the PACS AE title"))
        object.__setattr__(self, "calling_ae", _check_ae(self.calling_ae, "our (calling) AE title"))
        if self.move_destination:
            object.__setattr__(self, "move_destination", _check_ae(self.move_destination, "the C-MOVE destination"))
        if not self.host.strip():
            raise PacsConfigError(f"node {self.name!r}: the host is empty; give a host name or IP address")
        object.__setattr__(self, "host", self.host.strip())
        _check_port(self.port, f"node {self.name!r}: port")
        _check_port(self.storage_port, f"node {self.name!r}: storage port")
        if not self.timeout_s > 0:
            raise PacsConfigError(f"node {self.name!r}: the timeout must be positive, got {self.timeout_s}")

    @property
    def destination_ae(self) -> str:
        """The AE title used as C-MOVE destination."""
        return self.move_destination or self.calling_ae

    def describe(self) -> str:
        """``NAME (AE@host:port)`` for messages."""
        return f"'{self.name}' ({self.ae_title}@{self.host}:{self.port})"


@dataclass(frozen=True)
class DicomWebNode:
    """A DICOMweb service reached with QIDO-RS, WADO-RS and STOW-RS.

    Parameters
    ----------
    name : str
        Display name, unique among the configured nodes.
    url : str
        Service root, e.g. ``https://pacs.example.org/dicom-web``.
    verify_tls : bool, default True
        Check the server's certificate (HTTPS).  Turn off only for a test server.
    ca_bundle : str, optional
        PEM file of the certificate authorities to trust (a hospital's own CA).
    username : str, optional
        HTTP basic-auth user; the password lives in the keyring (:mod:`imaging.pacs.credentials`).
    timeout_s : float, default 30
        Connect and read timeout of each request.
    """

    name: str
    url: str
    verify_tls: bool = True
    ca_bundle: str = ""
    username: str = ""
    timeout_s: float = 30.0
    kind: str = field(default="dicomweb", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _check_name(self.name))
        url = self.url.strip().rstrip("/")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise PacsConfigError(
                f"node {self.name!r}: {self.url!r} is not a DICOMweb URL; use http(s)://HOST[:PORT]/PATH"
            )
        try:
            parsed.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise PacsConfigError(f"node {self.name!r}: the port in {self.url!r} is not a number from 1 to 65535")\
                from None
        if parsed.password:
            raise PacsConfigError(
                f"node {self.name!r}: put the password in the password field, not in the URL (it would be saved "
                "in plain text)"
            )
        object.__setattr__(self, "url", url)
        if self.ca_bundle and not Path(self.ca_bundle).is_file():
            raise PacsConfigError(f"node {self.name!r}: CA bundle {self.ca_bundle!r} is not a file")
        if not self.timeout_s > 0:
            raise PacsConfigError(f"node {self.name!r}: the timeout must be positive, got {self.timeout_s}")

    @property
    def uses_tls(self) -> bool:
        """True for an https URL."""
        return self.url.lower().startswith("https://")

    def describe(self) -> str:
        """``NAME (URL)`` for messages."""
        return f"'{self.name}' ({self.url})"


Node = DimseNode | DicomWebNode


def node_to_json(node: Node) -> dict[str, Any]:
    """The JSON-able settings of ``node`` (never a password: nodes do not hold one)."""
    return asdict(node)


def node_from_json(data: dict[str, Any]) -> Node:
    """Inverse of :func:`node_to_json`; raises :class:`PacsConfigError` on bad or unknown fields."""
    data = dict(data)
    kind = data.pop("kind", "dimse")
    data.pop("password", None)  # never accepted from a file
    cls = {"dimse": DimseNode, "dicomweb": DicomWebNode}.get(kind)
    if cls is None:
        raise PacsConfigError(f"unknown PACS node kind {kind!r}: expected 'dimse' or 'dicomweb'")
    try:
        return cls(**data)
    except TypeError as exc:
        raise PacsConfigError(f"PACS node settings {data.get('name', '?')!r} are invalid: {exc}") from None


def default_settings_path() -> Path:
    """``$XDG_CONFIG_HOME/surgitwin/pacs_nodes.json`` (``~/.config`` when unset)."""
    root = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(root) / "surgitwin" / "pacs_nodes.json"


def default_store_root() -> Path:
    """Where retrieved studies go by default: ``$XDG_DATA_HOME/surgitwin/dicom`` (``~/.local/share`` when unset)."""
    root = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(root) / "surgitwin" / "dicom"


@dataclass
class NodeSettings:
    """The configured nodes and the local store folder, as saved in ``pacs_nodes.json``."""

    nodes: list[Node] = field(default_factory=list)
    store_root: str = ""

    def get(self, name: str) -> Node:
        """The node called ``name``; :class:`PacsConfigError` listing the known names otherwise."""
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(repr(n.name) for n in self.nodes) or "none configured"
        raise PacsConfigError(f"no PACS node called {name!r} (known: {known})")

    def put(self, node: Node) -> None:
        """Add ``node``, replacing a node of the same name."""
        self.nodes = [n for n in self.nodes if n.name != node.name] + [node]

    def remove(self, name: str) -> None:
        """Forget the node called ``name`` (no error when absent)."""
        self.nodes = [n for n in self.nodes if n.name != name]

    @property
    def store(self) -> Path:
        """The local store folder (:func:`default_store_root` unless set)."""
        return Path(self.store_root) if self.store_root else default_store_root()


def load_settings(path: str | os.PathLike[str] | None = None) -> NodeSettings:
    """Read the node settings; a missing file gives empty settings, a broken one a :class:`PacsConfigError`."""
    file = Path(path) if path is not None else default_settings_path()
    if not file.exists():
        return NodeSettings()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        nodes = [node_from_json(n) for n in data.get("nodes", [])]
        return NodeSettings(nodes=nodes, store_root=str(data.get("store_root", "")))
    except (OSError, ValueError, AttributeError) as exc:
        if isinstance(exc, PacsConfigError):
            raise
        raise PacsConfigError(f"PACS settings file {file} cannot be read ({exc}); fix or delete it") from None


def save_settings(settings: NodeSettings, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the settings atomically with owner-only permissions (host names and user names are private)."""
    file = Path(path) if path is not None else default_settings_path()
    file.parent.mkdir(parents=True, exist_ok=True)
    payload = {"version": 1, "store_root": settings.store_root, "nodes": [node_to_json(n) for n in settings.nodes]}
    fd, tmp = tempfile.mkstemp(prefix=".pacs_nodes.", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return file
