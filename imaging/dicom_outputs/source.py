"""The source image series a derived DICOM object refers to: its headers in the volume's slice order, and its grid."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from imaging.dicom import DicomError, SeriesInfo, load_series, scan_folder
from imaging.volume import Volume, VolumeGeometry

from .errors import DicomOutputError

__all__ = ["SourceSeries", "read_source_series", "select_series"]


_DERIVED_MODALITIES = frozenset({"SEG", "RTSTRUCT", "RTDOSE", "RTPLAN", "REG", "SR", "PR", "KO", "M3D", "DOC"})


@dataclass
class SourceSeries:
    """Headers of a source series, ordered like the ``z`` axis of the volume loaded from it.

    Parameters
    ----------
    info : SeriesInfo
        The scanned series (files in slice order, geometry).
    datasets : list of pydicom.dataset.Dataset
        One header (no pixel data) per distinct file, in slice order; a multi-frame object gives one dataset.
    frame_of_slice : list of int or None
        For a multi-frame source: the 0-based frame index of each ``z`` slice; None for single-frame series.
    """

    info: SeriesInfo
    datasets: list[Dataset]
    frame_of_slice: list[int] | None = None

    @property
    def geometry(self) -> VolumeGeometry:
        """The grid of the series (the grid a label map must share to be written as SEG)."""
        assert self.info.geometry is not None  # select_series only keeps volumes
        return self.info.geometry

    @property
    def first(self) -> Dataset:
        """The first header: patient, study and frame of reference come from it."""
        return self.datasets[0]

    @property
    def study_instance_uid(self) -> str:
        """StudyInstanceUID of the source."""
        return str(self.first.StudyInstanceUID)

    @property
    def frame_of_reference_uid(self) -> str | None:
        """FrameOfReferenceUID of the source, if it has one."""
        value = self.first.get("FrameOfReferenceUID")
        return str(value) if value else None

    def load_volume(self) -> Volume:
        """The pixels of the series as a :class:`~imaging.volume.Volume` (same grid and slice order)."""
        return load_series(self.info, cache=None)


def select_series(series: list[SeriesInfo], wanted: str | None, where: str) -> SeriesInfo:
    """The series with UID (or unique UID prefix) ``wanted``, or the largest volume when ``wanted`` is None."""
    # Derived objects stored beside their images (a label-map SEG stacks like a volume) are never a source.
    volumes = [s for s in series if s.is_volume and s.geometry is not None
               and str(s.metadata.get("modality", "")).upper() not in _DERIVED_MODALITIES]
    if wanted is None:
        if not volumes:
            raise DicomOutputError(f"{where}: no DICOM series that forms a 3-D volume")
        return max(volumes, key=lambda s: s.n_images)
    matches = [s for s in volumes if s.series_uid == wanted] or [s for s in volumes if s.series_uid.startswith(wanted)]
    if len(matches) != 1:
        found = "no volume series" if not matches else f"{len(matches)} series"
        raise DicomOutputError(f"{where}: series {wanted} matches {found}; run `surgitwin info` to list the UIDs")
    return matches[0]


def read_source_series(path: str | os.PathLike[str], *, series_uid: str | None = None) -> SourceSeries:
    """Scan ``path`` and read the headers of one volume series.

    Parameters
    ----------
    path : path-like
        DICOM folder (or file).
    series_uid : str, optional
        UID or unique prefix; the series with the most images by default (as :func:`imaging.dicom.read_dicom_volume`).

    Returns
    -------
    SourceSeries

    Raises
    ------
    DicomOutputError
        Nothing usable under ``path``, or ``series_uid`` is ambiguous.
    """
    try:
        result = scan_folder(path, cache=None)
    except DicomError as exc:
        raise DicomOutputError(str(exc).splitlines()[0]) from exc
    info = select_series(result.series, series_uid, os.fspath(path))
    files = list(dict.fromkeys(info.files))  # a multi-frame file is listed once per frame
    try:
        datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    except Exception as exc:  # pydicom raises many types on damaged files
        raise DicomOutputError(f"a file of the source series cannot be read ({type(exc).__name__})") from exc
    frame_of_slice = None
    if len(files) == 1 and len(info.files) > 1:
        frame_of_slice = [int(h.frame or 0) for h in info.slices]
    elif len(files) != len(info.files):
        raise DicomOutputError(
            f"{Path(path).name}: series mixes several multi-frame files; derived objects need one file per slice "
            "or a single multi-frame file"
        )
    return SourceSeries(info, datasets, frame_of_slice)
