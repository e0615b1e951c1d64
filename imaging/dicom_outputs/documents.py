"""Meshes, screenshots and reports as DICOM objects in the source study.

* :func:`write_encapsulated_stl` -- Encapsulated STL Storage (1.2.840.10008.5.1.4.1.1.104.3, modality M3D): the
  mesh in the source's Frame of Reference (patient LPS millimetres, as our meshes already are), the form 3-D printing
  labs and 3D Slicer exchange.  highdicom has no STL class; the IOD's few modules are written here with pydicom.
* :func:`write_encapsulated_pdf` -- Encapsulated PDF Storage (1.2.840.10008.5.1.4.1.1.104.1, modality DOC).
* :func:`write_secondary_capture` -- Secondary Capture Image Storage through highdicom, for screenshots (RGB).

Each object copies the source's patient and study, references the source series it was derived from (Source
Instance / Referenced Series), and passes through the de-identification hook of :class:`~.common.OutputOptions`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from imaging.mesh import SurfaceMesh

from .common import MANUFACTURER, MODEL_NAME, OutputOptions, copy_patient_study, finish_and_save, software_version
from .errors import DicomOutputError
from .source import SourceSeries

__all__ = [
    "ENCAPSULATED_PDF_STORAGE",
    "ENCAPSULATED_STL_STORAGE",
    "stl_bytes",
    "write_encapsulated_pdf",
    "write_encapsulated_stl",
    "write_secondary_capture",
]

ENCAPSULATED_STL_STORAGE = "1.2.840.10008.5.1.4.1.1.104.3"
ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"


def stl_bytes(mesh: SurfaceMesh, header: str = "SurgiTwin mesh SPACE=LPS") -> bytes:
    """Binary STL of ``mesh`` (float32 coordinates as stored, facet normals from the winding)."""
    points = mesh.points.astype(np.float64)
    tri = points[mesh.faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    record = np.zeros(len(tri), dtype=np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")]))
    record["n"] = normals
    record["v"] = tri
    head = header.encode("ascii", "replace")[:80].ljust(80, b" ")
    return head + struct.pack("<I", len(tri)) + record.tobytes()


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _source_references(source: SourceSeries) -> DicomSequence:
    items = []
    for ds in source.datasets:
        item = Dataset()
        item.ReferencedSOPClassUID = ds.SOPClassUID
        item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
        items.append(item)
    return DicomSequence(items)


def _document_base(source: SourceSeries, options: OutputOptions, sop_class: str, modality: str, title: str,
                   mime: str, document: bytes) -> Dataset:
    ds = Dataset()
    copy_patient_study(source.first, ds)
    ds.SpecificCharacterSet = source.first.get("SpecificCharacterSet", "ISO_IR 100")
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = options.uid("instance")
    ds.Modality = modality
    ds.SeriesInstanceUID = options.uid("series")
    ds.SeriesNumber = options.series_number
    if options.series_description:
        ds.SeriesDescription = options.series_description[:64]
    ds.InstanceNumber = 1
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MODEL_NAME
    ds.DeviceSerialNumber = "0"
    ds.SoftwareVersions = software_version()
    when = options.when()
    ds.ContentDate = ds.SeriesDate = ds.InstanceCreationDate = when.strftime("%Y%m%d")
    ds.ContentTime = ds.SeriesTime = ds.InstanceCreationTime = when.strftime("%H%M%S")
    ds.AcquisitionDateTime = when.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "NO"
    ds.DocumentTitle = title[:64]
    ds.ConceptNameCodeSequence = DicomSequence([])
    ds.MIMETypeOfEncapsulatedDocument = mime
    # OB values have even length: pad with a zero byte and state the true length (EncapsulatedDocumentLength).
    ds.EncapsulatedDocumentLength = len(document)
    ds.EncapsulatedDocument = document + (b"\0" if len(document) % 2 else b"")
    # Where the document came from: the source series' images.
    ds.SourceInstanceSequence = _source_references(source)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "SURGITWIN"
    ds.file_meta = meta
    return ds


def write_encapsulated_stl(
    mesh: SurfaceMesh,
    source: SourceSeries,
    path: str | os.PathLike[str],
    *,
    title: str = "SurgiTwin surface model",
    options: OutputOptions | None = None,
) -> Path:
    """Write ``mesh`` (LPS mm) as an Encapsulated STL object in the source's study and Frame of Reference.

    Parameters
    ----------
    mesh : SurfaceMesh
        Triangles in patient LPS millimetres (the coordinates of the source's Frame of Reference).
    source : SourceSeries
        The series the model was segmented from.
    path : path-like
        Output ``.dcm``; written atomically.
    title : str
        DocumentTitle, e.g. the segment name.
    options : OutputOptions, optional
        Series number/description, reproducible UIDs, content time, de-identification hook.

    Returns
    -------
    Path

    Raises
    ------
    DicomOutputError
        The mesh is empty, the source has no Frame of Reference, or writing failed.
    """
    options = options or OutputOptions(series_description="SurgiTwin 3-D models")
    if mesh.n_faces == 0:
        raise DicomOutputError(f"'{title}' has no triangles: nothing to encapsulate")
    if source.frame_of_reference_uid is None:
        raise DicomOutputError("the source series has no Frame of Reference: an STL model cannot be placed in it")
    ds = _document_base(source, options, ENCAPSULATED_STL_STORAGE, "M3D", title, "model/stl",
                        stl_bytes(mesh, f"SurgiTwin SPACE=LPS {title}"[:80]))  # SPACE= as 3D Slicer writes it
    ds.FrameOfReferenceUID = source.frame_of_reference_uid
    ds.PositionReferenceIndicator = source.first.get("PositionReferenceIndicator", "")
    # Manufacturing 3D Model module: the unit of the STL coordinates (UCUM millimetre).
    ds.MeasurementUnitsCodeSequence = DicomSequence([_code("mm", "UCUM", "mm")])
    ds.ReferencedSeriesSequence = DicomSequence([_series_reference(source)])
    return finish_and_save(ds, path, options)


def _series_reference(source: SourceSeries) -> Dataset:
    # Common Instance Reference module: the series (same study) and each of its instances.
    item = Dataset()
    item.SeriesInstanceUID = source.first.SeriesInstanceUID
    item.ReferencedInstanceSequence = _source_references(source)
    return item


def write_encapsulated_pdf(
    pdf: bytes | str | os.PathLike[str],
    source: SourceSeries,
    path: str | os.PathLike[str],
    *,
    title: str = "SurgiTwin report",
    options: OutputOptions | None = None,
) -> Path:
    """Write a PDF report as Encapsulated PDF Storage in the source's study.

    Parameters
    ----------
    pdf : bytes or path-like
        The PDF document (must start with ``%PDF``).
    source : SourceSeries
        The series the report is about.
    path : path-like
        Output ``.dcm``.
    title : str
        DocumentTitle.
    options : OutputOptions, optional

    Returns
    -------
    Path

    Raises
    ------
    DicomOutputError
        The document is not a PDF, or writing failed.
    """
    options = options or OutputOptions(series_description="SurgiTwin reports")
    data = pdf if isinstance(pdf, bytes) else Path(pdf).read_bytes()
    if not data.startswith(b"%PDF"):
        raise DicomOutputError("the report is not a PDF document (it does not start with %PDF)")
    ds = _document_base(source, options, ENCAPSULATED_PDF_STORAGE, "DOC", title, "application/pdf", data)
    ds.ConversionType = "WSD"  # SC Equipment module: made on a workstation
    return finish_and_save(ds, path, options)


def write_secondary_capture(
    image: np.ndarray,
    source: SourceSeries,
    path: str | os.PathLike[str],
    *,
    title: str = "SurgiTwin screenshot",
    options: OutputOptions | None = None,
    patient_orientation: Sequence[str] = ("L", "P"),
) -> Path:
    """Write a screenshot (``(rows, columns, 3)`` uint8 RGB) as Secondary Capture in the source's study.

    Parameters
    ----------
    image : numpy.ndarray
        RGB pixels, row 0 at the top.
    source : SourceSeries
        The series shown.
    path : path-like
        Output ``.dcm``.
    title : str
        Written as the series description when none is set in ``options``.
    options : OutputOptions, optional
    patient_orientation : pair of str
        Patient directions of the image's rows and columns (an axial view: ``("L", "P")``).

    Returns
    -------
    Path

    Raises
    ------
    DicomOutputError
        The image is not RGB uint8, or writing failed.
    """
    import highdicom as hd

    options = options or OutputOptions(series_description=title)
    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise DicomOutputError(
            f"a screenshot is a (rows, columns, 3) uint8 RGB image, got {pixels.shape} {pixels.dtype}"
        )
    try:
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=source.first,
            pixel_array=pixels,
            photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
            bits_allocated=8,
            coordinate_system=hd.CoordinateSystemNames.PATIENT,
            series_instance_uid=options.uid("series"),
            series_number=options.series_number,
            sop_instance_uid=options.uid("instance"),
            instance_number=1,
            manufacturer=MANUFACTURER,
            patient_orientation=tuple(patient_orientation),
            transfer_syntax_uid=ExplicitVRLittleEndian,
        )
    except (ValueError, TypeError) as exc:
        raise DicomOutputError(f"highdicom refused the screenshot: {str(exc).splitlines()[0]}") from exc
    sc.SeriesDescription = (options.series_description or title)[:64]
    sc.BurnedInAnnotation = "NO"  # rendered by us: slice overlays, no patient text
    if "Laterality" not in sc:
        sc.Laterality = source.first.get("Laterality", "")  # General Series, Type 2C: empty when not paired
    when = options.when()
    sc.ContentDate = when.strftime("%Y%m%d")
    sc.ContentTime = when.strftime("%H%M%S")
    ref = Dataset()
    ref.ReferencedSOPClassUID = source.first.SOPClassUID
    ref.ReferencedSOPInstanceUID = source.first.SOPInstanceUID
    sc.SourceImageSequence = DicomSequence([ref])
    return finish_and_save(sc, path, options)
