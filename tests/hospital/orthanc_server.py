"""A real Orthanc PACS (Debian packages ``orthanc`` + ``orthanc-dicomweb``) run on free loopback ports for tests."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from pydicom import dcmread
from pydicom.uid import generate_uid

PLUGIN_CANDIDATES = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
)
ORTHANC_AET = "ORTHANC"
OUR_AET = "SURGITWIN"
USER = "surgeon"


def _missing(message: str) -> None:
    """Skip, or fail under CI=true where `make test` must have installed Orthanc."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def orthanc_binary() -> tuple[str, str]:
    """The Orthanc executable and its DICOMweb plugin; skip (fail under CI) when absent."""
    exe = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if os.path.exists("/usr/sbin/Orthanc") else None)
    if exe is None:
        _missing("Orthanc is not installed (Debian packages orthanc orthanc-dicomweb; `make system-deps` as root)")
    plugin = next((p for p in PLUGIN_CANDIDATES if os.path.exists(p)), None)
    if plugin is None:
        _missing("the Orthanc DICOMweb plugin is not installed (Debian package orthanc-dicomweb)")
    return str(exe), str(plugin)


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback TCP ports."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class OrthancServer:
    """One Orthanc process with its own configuration and storage in ``folder``."""

    folder: Path
    http_port: int
    dicom_port: int
    storage_port: int  # our C-MOVE storage SCP, registered in Orthanc as OUR_AET
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Orthanc's REST root."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb root."""
        return f"{self.url}/dicom-web"

    def rest(self, method: str, path: str, **kwargs) -> requests.Response:
        """An authenticated REST call; raises on HTTP errors."""
        response = requests.request(method, self.url + path, auth=(USER, self.password), timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def start(self) -> OrthancServer:
        """Write the configuration, start Orthanc and wait until both its HTTP and DICOM ports answer."""
        exe, plugin = orthanc_binary()
        storage = self.folder / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "SurgiTwin test PACS",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": ORTHANC_AET,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: self.password},
            "DicomModalities": {"surgitwin": [OUR_AET, "127.0.0.1", self.storage_port]},
            "Plugins": [plugin],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "SynchronousCMove": True,
            "DicomAssociationCloseDelay": 0,
            "DicomScuTimeout": 10,
            "StorageCompression": False,
            "HttpsVerifyPeers": False,
        }
        cfg = self.folder / "orthanc.json"
        cfg.write_text(json.dumps(config, indent=2))
        log = open(self.folder / "orthanc.log", "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        # DCMTK (Orthanc's DICOM stack) leaves Nagle's algorithm on unless TCP_NODELAY is set: small images then
        # wait ~45 ms each for delayed ACKs (C-GET of the 64x64 phantom: 2.6 s instead of 0.4 s).
        env = {**os.environ, "TCP_NODELAY": "1"}
        self.process = subprocess.Popen([exe, str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                ok = requests.get(self.url + "/system", auth=(USER, self.password), timeout=1).ok
                with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=1):
                    pass
                if ok:
                    return self
            except (requests.RequestException, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        tail = (self.folder / "orthanc.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"Orthanc did not start on ports {self.http_port}/{self.dicom_port}:\n{tail}")
        raise AssertionError  # unreachable

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def upload(self, files: list[Path]) -> list[str]:
        """POST each file to /instances (Orthanc's own REST API, independent of the code under test)."""
        ids = []
        for f in files:
            ids.append(self.rest("POST", "/instances", data=Path(f).read_bytes()).json()["ID"])
        return ids

    def series_by_uid(self, series_uid: str) -> dict | None:
        """Orthanc's record of a series (``/series/{id}``), or None when it does not hold it."""
        found = self.rest("POST", "/tools/lookup", data=series_uid).json()
        for hit in found:
            if hit["Type"] == "Series":
                return self.rest("GET", hit["Path"]).json()
        return None


def start_orthanc(folder: Path) -> OrthancServer:
    """Start an Orthanc on three fresh free ports (HTTP, DICOM, and our storage SCP) with storage in ``folder``."""
    http_port, dicom_port, storage_port = free_ports(3)
    return OrthancServer(folder, http_port, dicom_port, storage_port).start()


def self_signed_pem(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate + key PEM for the server, certificate-only CA bundle)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # Orthanc 1.10's civetweb: RSA
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SurgiTwin test PACS")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    both, ca = folder / "orthanc.pem", folder / "ca.pem"
    both.write_bytes(cert_pem + key_pem)
    ca.write_bytes(cert_pem)
    return both, ca


class TlsProxy:
    """HTTPS in front of Orthanc's HTTP port: TLS terminated with Python's ``ssl`` and piped to Orthanc.

    Orthanc can serve HTTPS itself ("SslEnabled"), but the Debian 12 build (1.10.1) crashes with a segmentation
    fault on the first HTTPS request, so the tests put this real TLS endpoint in front of it, as a hospital's
    reverse proxy would.
    """

    def __init__(self, pem: Path, target_port: int) -> None:
        import ssl
        import threading

        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pem)
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        import ssl
        import threading

        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):  # a client that refuses our certificate: exactly what a test checks
            conn.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port))

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pipe, args=(upstream, tls), daemon=True).start()
        pipe(tls, upstream)

    def close(self) -> None:
        """Stop accepting connections."""
        self._stop.set()
        self.listener.close()


DERIVED_PATIENT = "SURGITWIN-DERIVED"


def derived_series(source: Path, out: Path, description: str, n: int = 6) -> tuple[str, str, list[Path]]:
    """A new study and series made with pydicom from the first ``n`` phantom slices (new UIDs throughout, so that
    the uploaded phantom study and patient stay as they were for the query and retrieve tests)."""
    out.mkdir(parents=True)
    study_uid, series_uid = generate_uid(), generate_uid()
    files = []
    for i, f in enumerate(sorted(source.glob("*.dcm"))[:n]):
        ds = dcmread(f)
        ds.PatientID = DERIVED_PATIENT
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesDescription = description
        ds.SeriesNumber = 900
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.PixelData = (ds.pixel_array + 1).astype(ds.pixel_array.dtype).tobytes()
        path = out / f"{i:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    (out / "README.txt").write_text("not DICOM: passed over when the folder is sent")
    return study_uid, series_uid, files
