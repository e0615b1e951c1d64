"""Fixtures for the hospital-integration tests: one real Orthanc per session, loaded with the phantom and a real CT."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from imaging.dicom import scan_folder
from imaging.pacs import DicomWebNode, DimseNode
from tests.conftest import require_data
from tests.hospital.orthanc_server import ORTHANC_AET, OUR_AET, USER, OrthancServer, start_orthanc

REAL_CT = "ct-head-phantom-philips/dicom"


@dataclass(frozen=True)
class UploadedSeries:
    """A series uploaded to the test Orthanc, with the folder it came from."""

    name: str
    folder: Path
    study_uid: str
    series_uid: str
    patient_id: str
    study_date: str
    files: tuple[Path, ...]


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> OrthancServer:
    """A real Orthanc (DIMSE + DICOMweb, basic auth) on free loopback ports, stopped after the session."""
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()


def _series_of(folder: Path, name: str) -> UploadedSeries:
    from pydicom import dcmread

    series = scan_folder(folder, cache=False).volumes
    assert len(series) == 1, f"{folder} should hold one volume series"
    s = series[0]
    ds = dcmread(s.files[0], stop_before_pixels=True)
    return UploadedSeries(name, folder, s.study_uid, s.series_uid, str(ds.PatientID), str(ds.get("StudyDate", "")),
                          tuple(s.files))


@pytest.fixture(scope="session")
def phantom_series(orthanc: OrthancServer, small_phantom_dir: Path) -> UploadedSeries:
    """The 64x64x48 phantom (imaging.phantom), uploaded to Orthanc through its REST API."""
    series = _series_of(small_phantom_dir, "phantom")
    orthanc.upload(list(series.files))
    return series


@pytest.fixture(scope="session")
def real_ct_series(orthanc: OrthancServer) -> UploadedSeries:
    """The real Philips head CT (28 x 512 x 512) from the shared test data, uploaded through the REST API."""
    series = _series_of(require_data(REAL_CT), "real CT")
    orthanc.upload(list(series.files))
    return series


@pytest.fixture(scope="session")
def dimse_node(orthanc: OrthancServer) -> DimseNode:
    """The test Orthanc as a DIMSE node; C-MOVE results come to OUR_AET on the registered storage port."""
    return DimseNode("Test Orthanc", ORTHANC_AET, "127.0.0.1", orthanc.dicom_port, calling_ae=OUR_AET,
                     storage_port=orthanc.storage_port, timeout_s=10)


@pytest.fixture(scope="session")
def dicomweb_node(orthanc: OrthancServer) -> DicomWebNode:
    """The test Orthanc's DICOMweb service, with basic auth (password passed per call)."""
    return DicomWebNode("Test Orthanc web", orthanc.dicomweb_url, username=USER, timeout_s=20)
