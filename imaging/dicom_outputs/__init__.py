"""Standard DICOM outputs and imports: SEG, encapsulated STL/PDF, Secondary Capture; SEG and RTSTRUCT import.

Modules, one job each:

* :mod:`.source` -- the source series (headers in slice order, grid) a derived object refers to;
* :mod:`.codes` -- SNOMED CT category/type codes of our structure names;
* :mod:`.common` -- UIDs (random or reproducible), content time, patient/study copy, de-identification hook, saving;
* :mod:`.seg` -- label maps as DICOM SEG (binary or label-map) with highdicom;
* :mod:`.documents` -- meshes as Encapsulated STL, reports as Encapsulated PDF, screenshots as Secondary Capture;
* :mod:`.importing` -- DICOM SEG and RTSTRUCT into a label map on an image grid.
"""

from .common import Deidentify, OutputOptions
from .documents import write_encapsulated_pdf, write_encapsulated_stl, write_secondary_capture
from .errors import DicomImportError, DicomOutputError
from .importing import (
    ImportedSegment,
    ImportedSegmentation,
    import_dicom_segmentation,
    is_dicom_segmentation,
    read_rtstruct,
    read_segmentation,
)
from .seg import SEG_KINDS, SegmentInfo, write_segmentation
from .source import SourceSeries, read_source_series

__all__ = [
    "SEG_KINDS",
    "Deidentify",
    "DicomImportError",
    "DicomOutputError",
    "ImportedSegment",
    "ImportedSegmentation",
    "OutputOptions",
    "SegmentInfo",
    "SourceSeries",
    "import_dicom_segmentation",
    "is_dicom_segmentation",
    "read_rtstruct",
    "read_segmentation",
    "read_source_series",
    "write_encapsulated_pdf",
    "write_encapsulated_stl",
    "write_secondary_capture",
    "write_segmentation",
]
