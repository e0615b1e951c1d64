"""DICOM reading: find image series in a folder tree, describe their geometry, and load them as volumes.

Pure pydicom + numpy (no Qt, no VTK).  Modules, one job each:

* :mod:`.errors` -- exception types;
* :mod:`.headers` -- one file's header -> :class:`~.headers.SliceHeader` or a skip reason;
* :mod:`.metadata` -- the allow-list of attributes that may leave the reader (no patient identity);
* :mod:`.geometry` -- slice order, grid and warnings (gaps, tilt, duplicates) of one candidate series;
* :mod:`.series` -- :class:`SeriesInfo`, :class:`ScanResult` and the splitting of series into candidate volumes;
* :mod:`.scanner` -- :func:`scan_folder` (walk + parallel header reading);
* :mod:`.pixels` / :mod:`.transfer_syntax` -- pixel decoding, rescale, output type, codec hints;
* :mod:`.loader` -- :func:`load_series` and :func:`read_dicom_volume`;
* :mod:`.progress` -- throttled progress and cancellation.
"""

from .errors import DicomError, DicomPathNotFoundError, DicomReadCancelled, NoDicomFoundError, SeriesGeometryError
from .loader import load_series, read_dicom_volume
from .scanner import scan_folder
from .series import ScanResult, SeriesInfo

__all__ = [
    "DicomError",
    "DicomPathNotFoundError",
    "DicomReadCancelled",
    "NoDicomFoundError",
    "ScanResult",
    "SeriesGeometryError",
    "SeriesInfo",
    "load_series",
    "read_dicom_volume",
    "scan_folder",
]
