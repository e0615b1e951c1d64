"""Series value types and the grouping of scanned headers into candidate volumes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imaging.volume import VolumeGeometry

from .geometry import compute_geometry
from .headers import SliceHeader

__all__ = ["ScanResult", "SeriesInfo", "group_series"]

# Orientation cosines are compared after rounding: scanners write them with float noise of ~1e-6.
_IOP_DECIMALS = 3
_SPLIT_REASONS = (
    "image orientation",
    "image size",
    "echo number",
    "temporal position",
    "series number",
    "multi-frame stack, frame type, echo time or temporal index",
    "image type",
)


@dataclass
class SeriesInfo:
    """One candidate volume found by :func:`~imaging.dicom.scan_folder`.

    Attributes
    ----------
    series_uid : str
        SeriesInstanceUID, suffixed ``.1``, ``.2`` ... when the series was split into several candidate volumes.
    study_uid, series_number, description, modality
        Identification shown to the user (no patient identity).
    files : list of pathlib.Path
        Image files in slice order (by position along the slice normal); a multi-frame file appears once per frame.
    geometry : VolumeGeometry or None
        The voxel grid; None when the images do not form a volume.
    is_volume : bool
        True when :func:`~imaging.dicom.load_series` can stack the images.
    warnings : list of str
        Everything a user should know before trusting distances (gaps, tilt, splits, ...).
    metadata : dict
        Allow-listed series attributes (see :mod:`imaging.dicom.metadata`); never patient identity.
    """

    series_uid: str
    study_uid: str
    series_number: int | None
    description: str
    modality: str
    files: list[Path]
    geometry: VolumeGeometry | None
    is_volume: bool
    warnings: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # Per-file headers in slice order, for the loader (rescale values, sizes); not part of the public value.
    slices: list[SliceHeader] = field(default_factory=list, repr=False, compare=False)

    @property
    def n_files(self) -> int:
        """Number of distinct image files (a multi-frame file counts once)."""
        return len(set(self.files))

    @property
    def n_images(self) -> int:
        """Number of images (slices or frames)."""
        return len(self.files)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary; ``size`` is ``[x, y, z]`` and ``direction`` 9 floats row by row (ITK order).

        For a series that is not a volume, ``size`` is ``[columns, rows, n_files]`` and the geometry fields are None.
        """
        geometry = self.geometry.to_dict() if self.geometry is not None else None
        columns = self.metadata.get("columns", 0)
        rows = self.metadata.get("rows", 0)
        return {
            "uid": self.series_uid,
            "study_uid": self.study_uid,
            "series_number": self.series_number,
            "description": self.description,
            "modality": self.modality,
            "n_files": self.n_files,
            "n_images": self.n_images,
            "size": geometry["size"] if geometry else [columns, rows, self.n_images],
            "spacing": geometry["spacing"] if geometry else None,
            "origin": geometry["origin"] if geometry else None,
            "direction": geometry["direction"] if geometry else None,
            "warnings": list(self.warnings),
            "is_volume": self.is_volume,
        }


@dataclass
class ScanResult:
    """Outcome of :func:`~imaging.dicom.scan_folder`.

    Attributes
    ----------
    series : list of SeriesInfo
        Candidate series ordered by study, then series number.
    skipped : list of (pathlib.Path, str)
        Files that are not DICOM images, each with a short reason.
    """

    series: list[SeriesInfo] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def volumes(self) -> list[SeriesInfo]:
        """The series that can be loaded as volumes."""
        return [s for s in self.series if s.is_volume]


def _image_kind(h: SliceHeader) -> tuple[str, ...]:
    """ImageType reduced to what separates volumes: ORIGINAL/DERIVED, PRIMARY/SECONDARY, and localizers.

    Later values are vendor-specific and sometimes vary slice by slice within one volume, so they are ignored.
    """
    value = h.metadata.get("image_type")
    if isinstance(value, list | tuple):
        values = [str(v).upper() for v in value]
    else:
        values = str(value or "").upper().split("\\")
    kind = tuple(values[:2])
    return (*kind, "LOCALIZER") if any("LOCALIZER" in v or v == "SCOUT" for v in values) else kind


def _split_key(h: SliceHeader) -> tuple[Any, ...]:
    iop = tuple(round(v, _IOP_DECIMALS) + 0.0 for v in h.iop) if h.iop is not None else None
    return (iop, (h.rows, h.columns), h.echo, h.temporal_position, h.series_number, h.split_extra, _image_kind(h))


def _describe_part(key: tuple[Any, ...], differing: list[int]) -> str:
    iop, (rows, columns), echo, temporal, number, extra, kind = key
    parts = {
        0: f"orientation {list(iop) if iop is not None else 'absent'}",
        1: f"{columns}x{rows} pixels",
        2: f"echo {'/'.join(map(str, echo)) if echo else 'absent'}",
        3: f"temporal position {temporal if temporal is not None else 'absent'}",
        4: f"series number {number if number is not None else 'absent'}",
        5: "frames with " + ", ".join(
            f"{name} {value if not isinstance(value, tuple) else '/'.join(map(str, value))}"
            for name, value in zip(("stack", "frame type", "echo time", "temporal index", "b-value"), extra,
                                   strict=False)
            if value is not None
        ),
        6: f"image type {'/'.join(kind) or 'absent'}",
    }
    return ", ".join(parts[i] for i in differing)


def _min_instance(headers: list[SliceHeader]) -> tuple[bool, int, str]:
    numbers = [h.instance_number for h in headers if h.instance_number is not None]
    return (not numbers, min(numbers) if numbers else 0, min(str(h.path) for h in headers))


def _make_series(uid: str, headers: list[SliceHeader], extra_warnings: list[str]) -> SeriesInfo:
    result = compute_geometry(headers)
    first = result.slices[0]
    metadata = dict(first.metadata)
    return SeriesInfo(
        series_uid=uid,
        study_uid=first.study_uid,
        series_number=first.series_number,
        description=first.description,
        modality=first.modality,
        files=[h.path for h in result.slices],
        geometry=result.geometry,
        is_volume=result.is_volume,
        warnings=[*extra_warnings, *result.warnings],
        metadata=metadata,
        slices=result.slices,
    )


def group_series(headers: Iterable[SliceHeader]) -> list[SeriesInfo]:
    """Group headers by SeriesInstanceUID, split each series into candidate volumes and compute their geometry.

    Parameters
    ----------
    headers : iterable of SliceHeader
        Headers of image files.

    Returns
    -------
    list of SeriesInfo
        Ordered by study (date, then UID), then series number, then UID.
    """
    by_uid: dict[str, list[SliceHeader]] = defaultdict(list)
    for h in headers:
        by_uid[h.series_uid].append(h)

    out: list[SeriesInfo] = []
    for uid, members in by_uid.items():
        parts: dict[tuple[Any, ...], list[SliceHeader]] = defaultdict(list)
        for h in members:
            parts[_split_key(h)].append(h)
        if len(parts) == 1:
            out.append(_make_series(uid, members, []))
            continue
        keys = list(parts)
        differing = [i for i in range(len(_SPLIT_REASONS)) if len({k[i] for k in keys}) > 1]
        reasons = ", ".join(_SPLIT_REASONS[i] for i in differing)
        # Acquisition order (lowest InstanceNumber first) gives stable, intuitive suffixes.
        for index, key in enumerate(sorted(keys, key=lambda k: _min_instance(parts[k])), start=1):
            note = (
                f"series {uid} split into {len(keys)} parts because the images differ in {reasons}; "
                f"part {index} has {_describe_part(key, differing)}"
            )
            out.append(_make_series(f"{uid}.{index}", parts[key], [note]))

    def order(s: SeriesInfo) -> tuple[Any, ...]:
        return (
            str(s.metadata.get("study_date", "")),
            s.study_uid,
            s.series_number is None,
            s.series_number or 0,
            s.series_uid,
        )

    out.sort(key=order)
    return out
