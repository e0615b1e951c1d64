"""Query, retrieve and send against a real Orthanc over DIMSE (C-FIND/GET/MOVE/STORE) and DICOMweb (QIDO/WADO/STOW)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from imaging.dicom import load_series, scan_folder
from imaging.dicom.index_cache import default_cache_path
from imaging.pacs import (
    LocalStore,
    PacsAuthenticationError,
    PacsCancelled,
    PacsConfigError,
    PacsConnectionError,
    PacsOperationError,
    StudyQuery,
    find_series,
    find_studies,
    retrieve,
    send,
)
from tests.hospital.orthanc_server import DERIVED_PATIENT, derived_series, start_orthanc


def indexed_paths_under(root: Path) -> list[str]:
    """Paths under ``root`` that the application's header index (SQLite) holds."""
    db = default_cache_path()
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT path FROM files").fetchall()
    prefix = str(root.absolute())
    return [r[0] for r in rows if r[0].startswith(prefix)]


def assert_store_untouched(store: LocalStore) -> None:
    """No committed file, no staging leftovers, nothing in the header index."""
    assert store.dicom_files() == []
    staged = list(store.staging_root.rglob("*")) if store.staging_root.exists() else []
    assert staged == []
    assert indexed_paths_under(store.root) == []


def assert_same_volume(retrieved_series, original_folder: Path) -> None:
    """The retrieved series loads with the app's DICOM loader to the same voxels and geometry as the original."""
    original = load_series(scan_folder(original_folder, cache=False).volumes[0], cache=False)
    got = load_series(retrieved_series, cache=False)
    assert got.array.dtype == original.array.dtype
    np.testing.assert_array_equal(got.array, original.array)
    np.testing.assert_allclose(got.geometry.spacing, original.geometry.spacing)
    np.testing.assert_allclose(got.geometry.origin, original.geometry.origin)
    np.testing.assert_allclose(got.geometry.direction, original.geometry.direction)


# ------------------------------------------------------------------------------------------------------------ query
@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_query_by_patient_date_modality(kind, request, orthanc, phantom_series, real_ct_series):
    node = request.getfixturevalue(f"{kind}_node")
    pw = orthanc.password if kind == "dicomweb" else None

    everything = {s.study_uid for s in find_studies(node, StudyQuery(), password=pw)}
    assert {phantom_series.study_uid, real_ct_series.study_uid} <= everything

    by_id = find_studies(node, StudyQuery(patient_id=real_ct_series.patient_id), password=pw)
    assert [s.study_uid for s in by_id] == [real_ct_series.study_uid]
    assert by_id[0].patient_name == "HEAD"  # what the real file holds
    assert by_id[0].study_date == "20150206"

    by_name_prefix = find_studies(node, StudyQuery(patient_name="hea"), password=pw)  # prefix, case-insensitive
    assert [s.study_uid for s in by_name_prefix] == [real_ct_series.study_uid]

    by_date = find_studies(node, StudyQuery(study_date="2015-02-01..2015-02-28"), password=pw)
    assert real_ct_series.study_uid in {s.study_uid for s in by_date}
    assert phantom_series.study_uid not in {s.study_uid for s in by_date}

    assert find_studies(node, StudyQuery(modality="MR"), password=pw) == []
    ct = {s.study_uid for s in find_studies(node, StudyQuery(modality="CT"), password=pw)}
    assert {phantom_series.study_uid, real_ct_series.study_uid} <= ct

    series = find_series(node, phantom_series.study_uid, password=pw)
    assert [(s.series_uid, s.modality, s.n_instances) for s in series] == [
        (phantom_series.series_uid, "CT", len(phantom_series.files))]


def test_bad_query_input_is_a_clear_error():
    with pytest.raises(PacsConfigError, match="is not a date: use YYYYMMDD"):
        StudyQuery(study_date="last week")
    with pytest.raises(PacsConfigError, match="ends before it starts"):
        StudyQuery(study_date="20200101-20190101")
    with pytest.raises(PacsConfigError, match="is not a DICOM UID"):
        StudyQuery(study_uid="1.2.abc")


# --------------------------------------------------------------------------------------------------------- retrieve
@pytest.mark.parametrize("method", ["get", "move", "wado"])
@pytest.mark.parametrize("which", ["phantom_series", "real_ct_series"])
def test_retrieve_gives_identical_pixels_in_the_local_index(method, which, request, tmp_path, orthanc):
    uploaded = request.getfixturevalue(which)
    node = request.getfixturevalue("dicomweb_node" if method == "wado" else "dimse_node")
    store = LocalStore(tmp_path / "store")
    fractions: list[float] = []
    result = retrieve(node, store, uploaded.study_uid, method=method, password=orthanc.password,
                      progress=lambda f, _m: fractions.append(f))

    assert result.n_instances == len(uploaded.files)
    assert [s.series_uid for s in result.scan.volumes] == [uploaded.series_uid]
    assert result.study_folder == store.study_folder(uploaded.study_uid)
    assert len(store.dicom_files()) == len(uploaded.files)
    assert fractions
    assert fractions[-1] == pytest.approx(1.0)
    assert fractions == sorted(fractions)
    # committed files are in the application's header index (what opening the folder uses)
    assert sorted(indexed_paths_under(store.root)) == sorted(str(p) for p in store.dicom_files())
    assert not list(store.staging_root.iterdir())
    assert_same_volume(result.scan.volumes[0], uploaded.folder)


def test_retrieve_again_merges_without_duplicates(tmp_path, dimse_node, real_ct_series):
    store = LocalStore(tmp_path / "store")
    retrieve(dimse_node, store, real_ct_series.study_uid, [real_ct_series.series_uid])
    again = retrieve(dimse_node, store, real_ct_series.study_uid, [real_ct_series.series_uid])
    assert len(store.dicom_files()) == len(real_ct_series.files)
    assert len(again.scan.volumes[0].files) == len(real_ct_series.files)


# ------------------------------------------------------------------------------------------------------------- send
@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_send_new_series_and_check_what_orthanc_holds(kind, request, tmp_path, orthanc, phantom_series):
    node = request.getfixturevalue(f"{kind}_node")
    description = f"SurgiTwin derived ({kind})"
    study_uid, series_uid, files = derived_series(phantom_series.folder, tmp_path / "derived", description)
    assert orthanc.series_by_uid(series_uid) is None

    assert send(node, [tmp_path / "derived"], password=orthanc.password) == len(files)  # README.txt skipped
    (tmp_path / "empty").mkdir()
    with pytest.raises(PacsConfigError, match="nothing to send: no DICOM files in"):
        send(node, [tmp_path / "empty"], password=orthanc.password)

    held = orthanc.series_by_uid(series_uid)
    assert held is not None
    assert len(held["Instances"]) == len(files)
    assert held["MainDicomTags"]["SeriesDescription"] == description
    assert held["MainDicomTags"]["SeriesInstanceUID"] == series_uid
    study = orthanc.rest("GET", f"/studies/{held['ParentStudy']}").json()
    assert study["MainDicomTags"]["StudyInstanceUID"] == study_uid
    assert study["PatientMainDicomTags"]["PatientID"] == DERIVED_PATIENT
    # Orthanc holds the exact pixels sent
    first = orthanc.rest("GET", f"/instances/{held['Instances'][0]}/file").content
    from io import BytesIO

    sent = {dcmread(f).SOPInstanceUID: dcmread(f).pixel_array for f in files}
    back = dcmread(BytesIO(first))
    np.testing.assert_array_equal(back.pixel_array, sent[back.SOPInstanceUID])


# ---------------------------------------------------------------------------------------------------------- failures
@pytest.fixture(scope="module")
def stopped_orthanc(tmp_path_factory):
    """An Orthanc that ran and was stopped: its ports are free again."""
    server = start_orthanc(tmp_path_factory.mktemp("stopped-orthanc"))
    server.stop()
    return server


@pytest.mark.parametrize("method", ["get", "move", "wado"])
def test_stopped_server_gives_a_clear_error_and_no_partial_data(method, tmp_path, stopped_orthanc, phantom_series):
    from imaging.pacs import DicomWebNode, DimseNode

    if method == "wado":
        node = DicomWebNode("Stopped", stopped_orthanc.dicomweb_url, username="surgeon")
        expected = (f"cannot reach DICOMweb server 'Stopped' ({stopped_orthanc.dicomweb_url}): connection refused, "
                    f"nothing listens at 127.0.0.1:{stopped_orthanc.http_port}; check the URL's port and that the "
                    "server runs")
    else:
        node = DimseNode("Stopped", "ORTHANC", "127.0.0.1", stopped_orthanc.dicom_port,
                         storage_port=stopped_orthanc.storage_port)
        expected = (f"cannot connect to PACS 'Stopped' (ORTHANC@127.0.0.1:{stopped_orthanc.dicom_port}): connection "
                    f"refused, nothing listens on port {stopped_orthanc.dicom_port}; check the port and that the PACS "
                    "is running")
    store = LocalStore(tmp_path / "store")
    with pytest.raises(PacsConnectionError) as info:
        retrieve(node, store, phantom_series.study_uid, method=method, password=stopped_orthanc.password)
    assert str(info.value) == expected
    with pytest.raises(PacsConnectionError, match="connection refused"):
        find_studies(node, StudyQuery(), password=stopped_orthanc.password)
    assert_store_untouched(store)


def test_wrong_ports_and_password_give_clear_errors(tmp_path, orthanc, dimse_node, dicomweb_node, phantom_series):
    from dataclasses import replace

    store = LocalStore(tmp_path / "store")
    web_port_as_dimse = replace(dimse_node, port=orthanc.http_port, timeout_s=3)
    start = time.monotonic()
    with pytest.raises(PacsConnectionError, match=r"did not answer as a DICOM node .* check the port \(is it the "
                                                  r"DICOM port, not the web port\?\)"):
        retrieve(web_port_as_dimse, store, phantom_series.study_uid)
    assert time.monotonic() - start < 10

    dimse_port_as_web = replace(dicomweb_node, url=f"http://127.0.0.1:{orthanc.dicom_port}/dicom-web", timeout_s=3)
    with pytest.raises(PacsConnectionError, match=r"is not a web server; check the URL's port \(is it the DICOM "
                                                  r"port\?\)|did not answer within 3 s"):
        retrieve(dimse_port_as_web, store, phantom_series.study_uid, password=orthanc.password)

    with pytest.raises(PacsAuthenticationError, match=r"refused the user name or password \(HTTP 401\)"):
        retrieve(dicomweb_node, store, phantom_series.study_uid, password="wrong")
    wrong_path = replace(dicomweb_node, url=orthanc.url + "/no-such-service")
    with pytest.raises(PacsConnectionError, match=r"no DICOMweb service at this URL \(HTTP 404\)"):
        find_studies(wrong_path, StudyQuery(), password=orthanc.password)
    assert_store_untouched(store)


class CancelWhenStaged:
    """A cancel token (anything with ``is_set``) that fires once ``n`` images sit in the store's staging folder."""

    def __init__(self, store: LocalStore, n: int) -> None:
        self.store, self.n, self.seen = store, n, 0
        self.fired = threading.Event()

    def is_set(self) -> bool:
        if not self.fired.is_set():
            self.seen = max(self.seen, len(list(self.store.staging_root.rglob("*.dcm"))))
            if self.seen >= self.n:
                self.fired.set()
        return self.fired.is_set()


@pytest.mark.parametrize("method", ["get", "move", "wado"])
def test_cancel_mid_retrieve_leaves_nothing(method, request, tmp_path, orthanc, real_ct_series):
    node = request.getfixturevalue("dicomweb_node" if method == "wado" else "dimse_node")
    store = LocalStore(tmp_path / "store")
    cancel = CancelWhenStaged(store, 5)
    with pytest.raises(PacsCancelled, match="cancelled"):
        retrieve(node, store, real_ct_series.study_uid, method=method, password=orthanc.password, cancel=cancel)
    assert 5 <= cancel.seen < len(real_ct_series.files)  # it really stopped mid-way, with images staged
    assert_store_untouched(store)
    # the node still works afterwards
    assert find_series(node, real_ct_series.study_uid, password=orthanc.password)


def test_unknown_ae_titles_are_explained(tmp_path, dimse_node, phantom_series):
    from dataclasses import replace

    store = LocalStore(tmp_path / "store")
    stranger = replace(dimse_node, calling_ae="STRANGER")
    with pytest.raises(PacsAuthenticationError, match="it probably does not allow our AE title 'STRANGER' from this "
                                                      "computer; ask its administrator to register it"):
        retrieve(stranger, store, phantom_series.study_uid, method="get")
    with pytest.raises(PacsAuthenticationError, match="refused the query without an answer"):
        find_studies(stranger, StudyQuery())
    unknown_destination = replace(dimse_node, move_destination="NOBODY")
    with pytest.raises(PacsOperationError, match=f"does not know the C-MOVE destination 'NOBODY': register it there "
                                                 f"with this computer's address and port {dimse_node.storage_port}"):
        retrieve(unknown_destination, store, phantom_series.study_uid, method="move")
    assert_store_untouched(store)


def test_dicomweb_over_tls_checks_the_certificate(tmp_path, orthanc, dicomweb_node, phantom_series):
    """HTTPS with a self-signed certificate: refused by default, accepted with the CA bundle (or unchecked)."""
    from dataclasses import replace

    from tests.hospital.orthanc_server import TlsProxy, self_signed_pem

    pem, ca = self_signed_pem(tmp_path)
    proxy = TlsProxy(pem, orthanc.http_port)
    try:
        node = replace(dicomweb_node, name="Secure", url=f"https://127.0.0.1:{proxy.port}/dicom-web")
        assert node.uses_tls
        with pytest.raises(PacsAuthenticationError, match="the TLS certificate could not be verified; give the "
                                                          "hospital's CA bundle in the node settings"):
            find_studies(node, StudyQuery(), password=orthanc.password)
        with_ca = replace(node, ca_bundle=str(ca))
        found = find_studies(with_ca, StudyQuery(patient_id=phantom_series.patient_id), password=orthanc.password)
        assert [s.study_uid for s in found] == [phantom_series.study_uid]
        store = LocalStore(tmp_path / "store")
        result = retrieve(with_ca, store, phantom_series.study_uid, password=orthanc.password)
        assert result.n_instances == len(phantom_series.files)
        unchecked = replace(node, verify_tls=False)
        with pytest.warns(Warning, match="Unverified HTTPS request"):  # urllib3 says so, and so it should
            found = find_studies(unchecked, StudyQuery(patient_id=phantom_series.patient_id), password=orthanc.password)
        assert len(found) == 1
    finally:
        proxy.close()
