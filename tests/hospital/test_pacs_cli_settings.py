"""`surgitwin pacs` against the real Orthanc, and the node settings file / password storage."""

from __future__ import annotations

import json
import stat

import keyring
import numpy as np
import pytest
from keyring.backend import KeyringBackend

from app.cli.main import main
from imaging.dicom import load_series, scan_folder
from imaging.pacs import (
    DicomWebNode,
    DimseNode,
    LocalStore,
    NodeSettings,
    PacsConfigError,
    load_settings,
    save_settings,
)
from imaging.pacs import credentials as creds
from tests.hospital.orthanc_server import free_ports


def test_cli_query_retrieve_send(tmp_path, capsys, monkeypatch, orthanc, dimse_node, phantom_series, real_ct_series):
    dimse = f"ORTHANC@127.0.0.1:{orthanc.dicom_port}"
    assert main(["pacs", "query", "--dimse", dimse, "--patient-id", real_ct_series.patient_id, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [s["study_uid"] for s in found] == [real_ct_series.study_uid]

    monkeypatch.setenv("SURGITWIN_PACS_PASSWORD", orthanc.password)
    assert main(["pacs", "query", "--url", orthanc.dicomweb_url, "--user", "surgeon", "--study",
                 phantom_series.study_uid]) == 0
    out = capsys.readouterr().out
    assert phantom_series.series_uid in out
    assert "48 images" in out
    assert out.strip().endswith("1 series")

    store = tmp_path / "store"
    assert main(["pacs", "retrieve", "--url", orthanc.dicomweb_url, "--user", "surgeon", "--study",
                 phantom_series.study_uid, "--store", str(store)]) == 0
    assert "retrieved 48 images (1 series)" in capsys.readouterr().out
    series = scan_folder(LocalStore(store).study_folder(phantom_series.study_uid), cache=False).volumes[0]
    original = load_series(scan_folder(phantom_series.folder, cache=False).volumes[0], cache=False)
    np.testing.assert_array_equal(load_series(series, cache=False).array, original.array)

    before = len(orthanc.rest("GET", "/instances").json())
    assert main(["pacs", "send", "--dimse", dimse, str(phantom_series.files[0])]) == 0  # already there: accepted
    assert "sent 1 file(s)" in capsys.readouterr().out
    assert len(orthanc.rest("GET", "/instances").json()) == before


def test_cli_errors_are_one_line_with_exit_2(tmp_path, capsys, orthanc):
    port = free_ports(1)[0]
    store = tmp_path / "store"
    assert main(["pacs", "retrieve", "--dimse", f"ORTHANC@127.0.0.1:{port}", "--study", "1.2.3",
                 "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert err == (f"surgitwin: error: cannot connect to PACS 'command line' (ORTHANC@127.0.0.1:{port}): connection "
                   f"refused, nothing listens on port {port}; check the port and that the PACS is running\n")
    assert LocalStore(store).dicom_files() == []
    assert main(["pacs", "query", "--dimse", "ORTHANC-localhost-4242"]) == 2
    assert "must look like AET@HOST:PORT" in capsys.readouterr().err
    assert main(["pacs", "query", "--dimse", f"ORTHANC@127.0.0.1:{orthanc.dicom_port}", "--date", "31/12/2020"]) == 2
    assert capsys.readouterr().err == "surgitwin: error: '31/12/2020' is not a date: use YYYYMMDD or YYYY-MM-DD\n"


def test_node_validation_messages():
    with pytest.raises(PacsConfigError, match="is not a valid AE title: use 1 to 16 printable ASCII"):
        DimseNode("x", "A_VERY_LONG_AE_TITLE_X", "host", 104)
    with pytest.raises(PacsConfigError, match="is not a TCP port"):
        DimseNode("x", "PACS", "host", 70000)
    with pytest.raises(PacsConfigError, match="is not a DICOMweb URL"):
        DicomWebNode("x", "ftp://pacs/dicom-web")
    with pytest.raises(PacsConfigError, match="put the password in the password field, not in the URL"):
        DicomWebNode("x", "https://user:secret@pacs/dicom-web")


class DictKeyring(KeyringBackend):
    """A keyring backend holding secrets in a dict, standing in for the OS keyring this test machine lacks."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.secrets.get((service, username))

    def set_password(self, service, username, password):
        self.secrets[(service, username)] = password

    def delete_password(self, service, username):
        self.secrets.pop((service, username), None)


@pytest.fixture
def fresh_memory(monkeypatch):
    monkeypatch.setattr(creds, "_memory", {})


def test_settings_roundtrip_never_store_passwords(tmp_path, fresh_memory):
    path = tmp_path / "pacs_nodes.json"
    web = DicomWebNode("Hospital", "https://pacs.example.org/dicom-web/", username="dr", verify_tls=False)
    dimse = DimseNode("Archive", "ARCHIVE", "10.0.0.5", 11112, move_destination="ST_MOVE", storage_port=11120)
    save_settings(NodeSettings([dimse, web], store_root=str(tmp_path / "store")), path)
    where = creds.set_password(web.name, web.username, "s3cret-pw")

    text = path.read_text()
    assert "s3cret-pw" not in text
    assert "password" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_settings(path)
    assert loaded.nodes == [dimse, web]
    assert loaded.store == tmp_path / "store"
    assert loaded.get("Hospital").url == "https://pacs.example.org/dicom-web"
    with pytest.raises(PacsConfigError, match="no PACS node called 'Nope' \\(known: 'Archive', 'Hospital'\\)"):
        loaded.get("Nope")
    if creds.keyring_available():  # a desktop with a Secret Service / Keychain
        assert where == "keyring"
    else:  # this machine: no keyring backend, so memory only, and the user is told
        assert where == "memory"
        assert creds.password_storage().startswith("no system keyring found: passwords are kept in memory only")
    assert creds.get_password(web.name, web.username) == "s3cret-pw"
    path.write_text("{not json")
    with pytest.raises(PacsConfigError, match=r"cannot be read .* fix or delete it"):
        load_settings(path)


def test_passwords_go_to_the_keyring_when_one_exists(fresh_memory):
    previous = keyring.get_keyring()
    backend = DictKeyring()
    keyring.set_keyring(backend)
    try:
        assert creds.keyring_available()
        assert "system keyring (DictKeyring)" in creds.password_storage()
        assert creds.set_password("Hospital", "dr", "pw1") == "keyring"
        assert backend.secrets == {(creds.KEYRING_SERVICE, "Hospital|dr"): "pw1"}
        creds._memory.clear()  # a new session: read back from the keyring
        assert creds.get_password("Hospital", "dr") == "pw1"
        creds.delete_password("Hospital", "dr")
        assert backend.secrets == {}
        assert creds.get_password("Hospital", "dr") is None
    finally:
        keyring.set_keyring(previous)
