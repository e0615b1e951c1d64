"""Meshes as Encapsulated STL, reports as Encapsulated PDF, screenshots as Secondary Capture, in the source study."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imaging.dicom_outputs import (
    DicomOutputError,
    read_source_series,
    write_encapsulated_pdf,
    write_encapsulated_stl,
    write_secondary_capture,
)
from imaging.dicom_outputs.documents import ENCAPSULATED_PDF_STORAGE, ENCAPSULATED_STL_STORAGE
from tests.dicom_outputs.dicom_tools import PhantomSeries, dciodvfy_errors, dcmdump_ok

_PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"


def _parse_stl(data: bytes) -> np.ndarray:
    (count,) = struct.unpack("<I", data[80:84])
    records = np.frombuffer(data[84:84 + 50 * count], dtype=np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)),
                                                                      ("a", "<u2")]))
    return records["v"].astype(np.float64)


def test_mesh_as_encapsulated_stl_in_the_source_frame_of_reference(phantom_series: PhantomSeries,
                                                                   tmp_path: Path) -> None:
    from imaging.meshing import mesh_from_mask

    source = read_source_series(phantom_series.folder)
    mesh = mesh_from_mask(phantom_series.labels == 5, phantom_series.volume.geometry, smoothing_iterations=5)
    path = write_encapsulated_stl(mesh, source, tmp_path / "liver.dcm", title="Liver")

    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == ENCAPSULATED_STL_STORAGE
    assert ds.Modality == "M3D"
    assert ds.MIMETypeOfEncapsulatedDocument == "model/stl"
    assert ds.StudyInstanceUID == source.study_instance_uid
    assert ds.FrameOfReferenceUID == source.frame_of_reference_uid
    assert ds.PatientID == source.first.PatientID
    referenced = {i.ReferencedSOPInstanceUID for i in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {str(d.SOPInstanceUID) for d in source.datasets}
    document = bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]
    triangles = _parse_stl(document)
    assert len(triangles) == mesh.n_faces
    # The STL holds the mesh in patient LPS millimetres (float32): same triangles, same place.
    assert np.abs(triangles - mesh.points[mesh.faces]).max() < 1e-3
    dcmdump_ok(path)
    assert dciodvfy_errors(path) == []


def test_report_and_screenshot_reference_the_study(phantom_series: PhantomSeries, tmp_path: Path) -> None:
    source = read_source_series(phantom_series.folder)
    pdf = write_encapsulated_pdf(_PDF, source, tmp_path / "report.dcm", title="Planning report")
    ds = pydicom.dcmread(pdf)
    assert ds.SOPClassUID == ENCAPSULATED_PDF_STORAGE
    assert ds.Modality == "DOC"
    assert ds.StudyInstanceUID == source.study_instance_uid
    assert bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)] == _PDF
    assert ds.SourceInstanceSequence[0].ReferencedSOPInstanceUID == source.first.SOPInstanceUID
    dcmdump_ok(pdf)
    assert dciodvfy_errors(pdf) == []

    image = np.zeros((60, 80, 3), np.uint8)
    image[10:30, 20:50] = (220, 130, 100)
    sc = write_secondary_capture(image, source, tmp_path / "shot.dcm", title="3-D view")
    ds = pydicom.dcmread(sc)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert ds.StudyInstanceUID == source.study_instance_uid
    assert np.array_equal(ds.pixel_array, image)
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == source.first.SOPInstanceUID
    dcmdump_ok(sc)
    assert dciodvfy_errors(sc) == []


def test_bad_documents_are_refused(phantom_series: PhantomSeries, tmp_path: Path) -> None:
    from imaging.mesh import SurfaceMesh

    source = read_source_series(phantom_series.folder)
    with pytest.raises(DicomOutputError, match="not a PDF"):
        write_encapsulated_pdf(b"hello", source, tmp_path / "r.dcm")
    with pytest.raises(DicomOutputError, match="no triangles"):
        write_encapsulated_stl(SurfaceMesh(np.zeros((0, 3)), np.zeros((0, 3))), source, tmp_path / "m.dcm")
    with pytest.raises(DicomOutputError, match="RGB"):
        write_secondary_capture(np.zeros((4, 4), np.uint8), source, tmp_path / "s.dcm")
    assert list(tmp_path.iterdir()) == []
