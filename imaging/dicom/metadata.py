"""Series-level metadata that may leave the reader: an explicit allow-list, never patient identity.

An allow-list (rather than removing known identifying tags) is deliberate: a tag that is not listed here cannot leak,
whatever a vendor puts into a file.  Patient name, ID, birth date, address, accession number, operators, institution
and private tags therefore never appear in :data:`SAFE_TAGS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydicom is imported where it is used: the native fast path never needs it
    from pydicom.dataset import Dataset

__all__ = ["FORBIDDEN_KEYWORDS", "SAFE_TAGS", "safe_metadata", "to_python"]

#: DICOM keyword -> metadata key, for the tags allowed into ``SeriesInfo.metadata`` and ``Volume.metadata``.
SAFE_TAGS: dict[str, str] = {
    "Modality": "modality",
    "SeriesDescription": "series_description",
    "SeriesNumber": "series_number",
    "SeriesInstanceUID": "series_instance_uid",
    "StudyInstanceUID": "study_instance_uid",
    "FrameOfReferenceUID": "frame_of_reference_uid",
    "StudyDescription": "study_description",
    "StudyDate": "study_date",
    "SeriesDate": "series_date",
    "Manufacturer": "manufacturer",
    "ManufacturerModelName": "manufacturer_model",
    "Rows": "rows",
    "Columns": "columns",
    "SliceThickness": "slice_thickness",
    "SpacingBetweenSlices": "spacing_between_slices",
    "BodyPartExamined": "body_part",
    "ConvolutionKernel": "convolution_kernel",
    "KVP": "kvp",
    "ImageType": "image_type",
    "GantryDetectorTilt": "gantry_detector_tilt",
    "PhotometricInterpretation": "photometric_interpretation",
    "BitsStored": "bits_stored",
    "PixelRepresentation": "pixel_representation",
    "RescaleType": "rescale_type",
    "ContrastBolusAgent": "contrast_agent",
    "MagneticFieldStrength": "magnetic_field_strength",
    "RepetitionTime": "repetition_time",
    "EchoTime": "echo_time",
    "SOPClassUID": "sop_class_uid",
}

#: Keywords that must never be copied, checked by the tests (defence in depth if SAFE_TAGS is ever extended).
FORBIDDEN_KEYWORDS: frozenset[str] = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientAddress",
        "OtherPatientIDs",
        "AccessionNumber",
        "InstitutionName",
        "InstitutionAddress",
        "ReferringPhysicianName",
        "OperatorsName",
        "PerformingPhysicianName",
    }
)
if FORBIDDEN_KEYWORDS & SAFE_TAGS.keys():  # pragma: no cover - guards future edits of the allow-list
    raise RuntimeError("SAFE_TAGS must not contain identifying DICOM attributes")


def to_python(value: Any) -> Any:
    """Convert a pydicom element value to plain JSON-ready Python (float, int, str, list)."""
    from pydicom.multival import MultiValue
    from pydicom.valuerep import IS, DSfloat, PersonName

    if isinstance(value, PersonName):  # never expected (allow-list), but never let a name through by accident
        return None
    if isinstance(value, MultiValue | list | tuple):
        return [to_python(v) for v in value]
    if isinstance(value, DSfloat | float):
        return float(value)
    if isinstance(value, IS | int):
        return int(value)
    if isinstance(value, bytes):
        return None  # binary values are not metadata a user reads
    return str(value).strip() if value is not None else None


def safe_metadata(ds: Dataset) -> dict[str, Any]:
    """Allowed series-level attributes of ``ds`` plus the transfer syntax, as plain Python values.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        Header of one image of the series.

    Returns
    -------
    dict
        Keys are the values of :data:`SAFE_TAGS` (absent or empty attributes are left out) plus ``transfer_syntax``
        and ``transfer_syntax_name``.
    """
    out: dict[str, Any] = {}
    for keyword, key in SAFE_TAGS.items():
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        try:
            converted = to_python(value)
        except (TypeError, ValueError):  # malformed numeric strings: keep the text rather than fail the scan
            converted = str(value)
        if converted not in (None, "", []):
            out[key] = converted
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is not None:
        out["transfer_syntax"] = str(syntax)
        out["transfer_syntax_name"] = syntax.name
    return out
