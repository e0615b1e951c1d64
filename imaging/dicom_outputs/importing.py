"""Import DICOM SEG and RTSTRUCT objects into a label map on an image's grid (LPS millimetres).

Both importers place data by *patient coordinates*, not by the instance references, so they work for objects made by
other tools (dcmqi, plastimatch, TPS systems) and for de-identified copies whose UIDs were remapped:

* SEG: each frame's ImagePositionPatient and the (shared or per-frame) orientation and pixel spacing map the frame
  onto the reference slice it lies in; each reference voxel centre samples the nearest frame pixel.
* RTSTRUCT: each CLOSED_PLANAR contour (LPS points) is taken to the reference grid's continuous indices; it must lie
  in one slice, and the voxels whose centres fall inside it (even-odd rule, so inner contours cut holes, as in
  plastimatch and 3D Slicer) get the structure's label.

Frames or contours not parallel to the image slices, or lying between slices, are refused with a clear error rather
than resampled silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from imaging.volume import Volume, VolumeGeometry

from .errors import DicomImportError

__all__ = [
    "ImportedSegment",
    "ImportedSegmentation",
    "import_dicom_segmentation",
    "rasterize_polygon",
    "read_rtstruct",
    "read_segmentation",
]

SEG_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.66.4": "binary/fractional", "1.2.840.10008.5.1.4.1.1.66.7": "labelmap"}
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"

#: A frame or contour may sit this far (in slice spacings) from a reference slice: DS round-off, not a real offset.
_SLICE_TOLERANCE = 0.05
#: Orientation agreement required between a frame and the reference slices (cosine of the angle).
_PARALLEL_COS = 1 - 1e-4


@dataclass
class ImportedSegment:
    """One imported structure: its label value in :attr:`ImportedSegmentation.labelmap`, name, colour and codes."""

    label_value: int
    name: str
    color: tuple[float, float, float]
    property_type: str | None = None  # "SCT 10200004 Liver", when the object codes it


@dataclass
class ImportedSegmentation:
    """A label map on the reference grid, its segments, and what the import noticed (never patient data)."""

    labelmap: Volume
    segments: list[ImportedSegment]
    warnings: list[str] = field(default_factory=list)

    def mask(self, name: str) -> np.ndarray:
        """The boolean mask of the segment called ``name``."""
        for segment in self.segments:
            if segment.name == name:
                return self.labelmap.array == segment.label_value
        raise KeyError(f"no imported segment is called {name!r}")


def _read(path: str | os.PathLike[str]) -> Dataset:
    try:
        return pydicom.dcmread(path)
    except Exception as exc:  # pydicom raises many types on damaged files
        raise DicomImportError(f"{Path(path).name} cannot be read as DICOM ({type(exc).__name__})") from exc


def _slice_normal(geometry: VolumeGeometry) -> np.ndarray:
    d = geometry.direction
    n = np.cross(d[:, 0], d[:, 1])
    return n / np.linalg.norm(n)


def _check_frame_of_reference(ds_for: str | None, reference_for: str | None, what: str, warnings: list[str]) -> None:
    if ds_for and reference_for and ds_for != reference_for:
        warnings.append(
            f"the {what} uses another frame of reference than the image; it was placed by patient coordinates, "
            "which is only right if both share the scanner's coordinates"
        )


def _code_text(item: Dataset | None) -> str | None:
    if item is None:
        return None
    return f"{item.get('CodingSchemeDesignator', '')} {item.get('CodeValue', '')} {item.get('CodeMeaning', '')}".strip()


def _lab_to_rgb(lab_dicom: list[int]) -> tuple[float, float, float]:
    import highdicom as hd

    rgb = hd.color.CIELabColor.from_dicom_value(tuple(int(v) for v in lab_dicom)).to_rgb()
    return tuple(min(max(float(c) / 255.0, 0.0), 1.0) for c in rgb)  # type: ignore[return-value]


# --- SEG -------------------------------------------------------------------------------------------------------------
def _frame_geometry(ds: Dataset, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(position, row direction, column direction, (row spacing, column spacing)) of frame ``index``."""
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else Dataset()
    per = ds.PerFrameFunctionalGroupsSequence[index] if "PerFrameFunctionalGroupsSequence" in ds else Dataset()

    def group(keyword: str) -> Dataset | None:
        for source in (per, shared):
            if keyword in source and len(source[keyword].value):
                return source[keyword].value[0]
        return None

    position = group("PlanePositionSequence")
    orientation = group("PlaneOrientationSequence")
    measures = group("PixelMeasuresSequence")
    if position is None or orientation is None or measures is None:
        raise DicomImportError(
            "the SEG lacks plane position, orientation or pixel spacing for its frames; it cannot be placed on the "
            "image grid"
        )
    iop = np.asarray([float(v) for v in orientation.ImageOrientationPatient])
    return (np.asarray([float(v) for v in position.ImagePositionPatient]), iop[:3], iop[3:],
            np.asarray([float(v) for v in measures.PixelSpacing]))


def _frame_segment_number(ds: Dataset, index: int) -> int:
    """The segment of frame ``index`` (per-frame, or shared when the SEG holds a single segment)."""
    groups = []
    if "PerFrameFunctionalGroupsSequence" in ds:
        groups.append(ds.PerFrameFunctionalGroupsSequence[index])
    if "SharedFunctionalGroupsSequence" in ds:
        groups.append(ds.SharedFunctionalGroupsSequence[0])
    for group in groups:
        if "SegmentIdentificationSequence" in group:
            return int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
    raise DicomImportError("a SEG frame does not say which segment it belongs to (Segment Identification missing)")


def _place_frame(
    target: np.ndarray, frame: np.ndarray, ipp: np.ndarray, row_dir: np.ndarray, col_dir: np.ndarray,
    pixel_spacing: np.ndarray, geometry: VolumeGeometry, value_of: np.ndarray,
) -> int | None:
    """Paint the non-zero pixels of ``frame`` (mapped through ``value_of``) into the reference slice it lies on.

    Returns the number of voxels that already held another label (overlap), or None when the frame lies outside
    the reference grid.
    """
    normal = np.cross(row_dir, col_dir)
    if abs(float(normal @ _slice_normal(geometry))) < _PARALLEL_COS:
        raise DicomImportError("the SEG frames are not parallel to the image slices; resample the image or the SEG")
    k_float = float(geometry.point_to_index(ipp)[2])
    k = round(k_float)
    if abs(k_float - k) > _SLICE_TOLERANCE:
        raise DicomImportError(
            f"a SEG frame lies between image slices (at slice index {k_float:.2f}); the SEG was drawn on another grid"
        )
    nz, ny, nx = geometry.shape
    if not 0 <= k < nz:
        return None
    # The voxel centre (i, j) of slice k is base + i * step_i + j * step_j, so its frame column and row are affine in
    # (i, j): three scalars each, evaluated by broadcasting (no (n, 3) matrix products, slow with some BLAS setups).
    # DICOM: the first orientation vector runs along a row (column index grows), PixelSpacing is (row, column).
    base = np.asarray(geometry.index_to_point([0.0, 0.0, float(k)])) - ipp
    step_i = geometry.direction[:, 0] * geometry.spacing[0]
    step_j = geometry.direction[:, 1] * geometry.spacing[1]
    ii = np.arange(nx, dtype=np.float64)[None, :]
    jj = np.arange(ny, dtype=np.float64)[:, None]
    col = np.rint((base @ row_dir + ii * (step_i @ row_dir) + jj * (step_j @ row_dir)) / pixel_spacing[1])
    row = np.rint((base @ col_dir + ii * (step_i @ col_dir) + jj * (step_j @ col_dir)) / pixel_spacing[0])
    col, row = col.astype(np.int64), row.astype(np.int64)
    inside = (row >= 0) & (row < frame.shape[0]) & (col >= 0) & (col < frame.shape[1])
    values = np.zeros((ny, nx), dtype=value_of.dtype)
    values[inside] = value_of[frame[row[inside], col[inside]]]
    painted = values != 0
    plane = target[k]
    overlap = int(np.count_nonzero(painted & (plane != 0) & (plane != values)))
    plane[painted] = values[painted]
    return overlap


def read_segmentation(
    path: str | os.PathLike[str], geometry: VolumeGeometry, *, frame_of_reference_uid: str | None = None
) -> ImportedSegmentation:
    """Read a DICOM SEG (binary, fractional or label map) into a label map on ``geometry``.

    Parameters
    ----------
    path : path-like
        The SEG file.
    geometry : VolumeGeometry
        Grid of the image the segments belong to.
    frame_of_reference_uid : str, optional
        The image's FrameOfReferenceUID; a mismatch is reported in ``warnings``.

    Returns
    -------
    ImportedSegmentation
        Label value = SegmentNumber; fractional segments are thresholded at half their maximum value.  Where binary
        segments overlap, the higher segment number wins (reported in ``warnings``).

    Raises
    ------
    DicomImportError
        Not a SEG, or its frames cannot be placed on ``geometry``.
    """
    ds = _read(path)
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class not in SEG_SOP_CLASSES:
        raise DicomImportError(f"{Path(path).name} is not a DICOM Segmentation (SOP class {sop_class or 'missing'})")
    warnings: list[str] = []
    _check_frame_of_reference(str(ds.get("FrameOfReferenceUID", "")) or None, frame_of_reference_uid, "SEG",
                              warnings)
    segments: list[ImportedSegment] = []
    for item in ds.SegmentSequence:
        number = int(item.SegmentNumber)
        if number == 0:  # the background "segment" of label-map SEGs
            continue
        color = _lab_to_rgb(item.RecommendedDisplayCIELabValue) if "RecommendedDisplayCIELabValue" in item else (
            1.0, 0.0, 0.0)
        type_item = item.SegmentedPropertyTypeCodeSequence[0] if "SegmentedPropertyTypeCodeSequence" in item else None
        segments.append(ImportedSegment(number, str(item.get("SegmentLabel", f"Segment {number}")), color,
                                        _code_text(type_item)))
    max_number = max([s.label_value for s in segments], default=0)
    dtype = np.uint8 if max_number < 256 else np.uint16
    frames = ds.pixel_array
    n_frames = int(ds.get("NumberOfFrames", 1))
    frames = frames.reshape(n_frames, int(ds.Rows), int(ds.Columns))
    seg_type = str(ds.get("SegmentationType", "BINARY")).upper()
    out = np.zeros(geometry.shape, dtype=dtype)
    outside = overlaps = 0
    for index in range(n_frames):
        ipp, row_dir, col_dir, spacing = _frame_geometry(ds, index)
        frame = frames[index]
        if seg_type == "LABELMAP" or sop_class.endswith(".66.7"):
            value_of = np.zeros(int(frame.max(initial=0)) + 1, dtype=dtype)
            value_of[: max_number + 1] = np.arange(min(max_number + 1, value_of.size), dtype=dtype)
        else:
            number = _frame_segment_number(ds, index)
            if seg_type == "FRACTIONAL":
                frame = (frame > float(ds.get("MaximumFractionalValue", 255)) / 2).astype(np.uint8)
            value_of = np.array([0, number], dtype=dtype)
            frame = (frame != 0).astype(np.uint8)
        overlap = _place_frame(out, frame, ipp, row_dir, col_dir, spacing, geometry, value_of)
        if overlap is None:
            outside += 1
        else:
            overlaps += overlap
    if outside:
        warnings.append(f"{outside} SEG frame(s) lie outside the image and were left out")
    if overlaps:
        warnings.append("segments overlap; a voxel shared by several segments keeps the highest segment number")
    return ImportedSegmentation(Volume.from_geometry(out, geometry, {"modality": "SEG"}), segments, warnings)


# --- RTSTRUCT --------------------------------------------------------------------------------------------------------
def rasterize_polygon(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of a ``(rows, columns)`` grid whose centres lie inside the closed polygon (x = column, y = row).

    Scan-line even-odd fill at each row centre: an edge counts when it crosses the row line half-open
    (``y0 <= j < y1``), so shared vertices are counted once, and a pixel ``i`` is inside when ``a <= i < b`` for a
    crossing pair ``(a, b)``, so abutting polygons never both claim a pixel.
    """
    rows, columns = shape
    mask = np.zeros(shape, dtype=bool)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 3:
        return mask
    x0, y0, x1, y1 = x, y, np.roll(x, -1), np.roll(y, -1)
    j_first = max(0, int(np.ceil(y.min())))
    j_last = min(rows - 1, int(np.floor(y.max())))
    for j in range(j_first, j_last + 1):
        crossing = ((y0 <= j) & (y1 > j)) | ((y1 <= j) & (y0 > j))
        if not crossing.any():
            continue
        xa, ya, xb, yb = x0[crossing], y0[crossing], x1[crossing], y1[crossing]
        xs = np.sort(xa + (j - ya) * (xb - xa) / (yb - ya))
        for a, b in zip(xs[0::2], xs[1::2], strict=False):
            start, stop = max(0, int(np.ceil(a))), min(columns, int(np.ceil(b)))
            if start < stop:
                mask[j, start:stop] ^= True
    return mask


def _decimal_values(value: object) -> np.ndarray | None:
    """Numbers of a DS element, also when it arrives as raw bytes.

    In explicit VR a DS value longer than 64 KiB cannot be stored with its own 2-byte length: DCMTK (and so
    plastimatch) writes such a ContourData as UN with a 4-byte length, as the standard allows, and pydicom then keeps
    the raw bytes ``b"1.80\\191.9\\..."``.  Returns None for values that are not numbers.
    """
    try:
        if isinstance(value, bytes | bytearray):
            text = bytes(value).decode("ascii").strip(" \0")
            return np.asarray([float(v) for v in text.split("\\")], dtype=np.float64) if text else np.zeros(0)
        if isinstance(value, str | float | int):
            value = [value]
        return np.asarray([float(v) for v in value], dtype=np.float64)  # type: ignore[union-attr]
    except (TypeError, ValueError, UnicodeDecodeError):
        return None


def read_rtstruct(
    path: str | os.PathLike[str], geometry: VolumeGeometry, *, frame_of_reference_uid: str | None = None
) -> ImportedSegmentation:
    """Rasterise the closed planar contours of an RT Structure Set onto ``geometry``.

    Parameters
    ----------
    path : path-like
        The RTSTRUCT file.
    geometry : VolumeGeometry
        Grid of the image (the contours must lie in its slice planes).
    frame_of_reference_uid : str, optional
        The image's FrameOfReferenceUID; a mismatch is reported in ``warnings``.

    Returns
    -------
    ImportedSegmentation
        Label values 1..n in the order of the Structure Set ROI Sequence; ROIs without contours are kept (empty).
        Overlapping structures: the later one wins (reported in ``warnings``).

    Raises
    ------
    DicomImportError
        Not an RTSTRUCT, or a contour is not in a slice plane of ``geometry``.
    """
    ds = _read(path)
    if str(ds.get("SOPClassUID", "")) != RTSTRUCT_SOP_CLASS:
        raise DicomImportError(f"{Path(path).name} is not an RT Structure Set")
    warnings: list[str] = []
    rois = {int(item.ROINumber): item for item in ds.get("StructureSetROISequence", [])}
    if rois:
        first_roi = next(iter(rois.values()))
        _check_frame_of_reference(str(first_roi.get("ReferencedFrameOfReferenceUID", "")) or None,
                                  frame_of_reference_uid, "RTSTRUCT", warnings)
    contours_of = {int(item.ReferencedROINumber): item for item in ds.get("ROIContourSequence", [])}
    nz, ny, nx = geometry.shape
    out = np.zeros(geometry.shape, dtype=np.uint8 if len(rois) < 256 else np.uint16)
    normal = _slice_normal(geometry)
    segments: list[ImportedSegment] = []
    skipped_types: set[str] = set()
    outside = overlaps = 0
    for label, (roi_number, roi) in enumerate(rois.items(), start=1):
        contour_item = contours_of.get(roi_number)
        color = (1.0, 0.0, 0.0)
        if contour_item is not None and "ROIDisplayColor" in contour_item:
            color = tuple(min(max(float(c) / 255.0, 0.0), 1.0) for c in contour_item.ROIDisplayColor)  # type: ignore[assignment]
        segments.append(ImportedSegment(label, str(roi.get("ROIName", f"ROI {roi_number}")), color))
        if contour_item is None:
            continue
        per_slice: dict[int, np.ndarray] = {}
        for contour in contour_item.get("ContourSequence", []):
            kind = str(contour.get("ContourGeometricType", "CLOSED_PLANAR")).upper()
            if kind != "CLOSED_PLANAR":
                skipped_types.add(kind)
                continue
            values = _decimal_values(contour["ContourData"].value if "ContourData" in contour else [])
            if values is None or values.size % 3:
                raise DicomImportError(
                    f"a contour of '{segments[-1].name}' is damaged (its ContourData are not x,y,z triplets of "
                    "numbers)"
                )
            points = values.reshape(-1, 3)
            if len(points) < 3:
                continue
            spread = float(np.ptp(points @ normal))
            if spread > _SLICE_TOLERANCE * geometry.spacing[2]:
                raise DicomImportError(
                    f"a contour of '{segments[-1].name}' is not parallel to the image slices; it cannot be rasterised "
                    "on this grid"
                )
            ijk = geometry.point_to_index(points)
            k_float = float(ijk[:, 2].mean())
            k = round(k_float)
            if abs(k_float - k) > _SLICE_TOLERANCE:
                raise DicomImportError(
                    f"a contour of '{segments[-1].name}' lies between image slices (slice index {k_float:.2f}); "
                    "the structure set was drawn on another image"
                )
            if not 0 <= k < nz:
                outside += 1
                continue
            mask = rasterize_polygon(ijk[:, 0], ijk[:, 1], (ny, nx))
            per_slice[k] = per_slice[k] ^ mask if k in per_slice else mask
        for k, mask in per_slice.items():
            overlaps += int(np.count_nonzero(mask & (out[k] != 0)))
            out[k][mask] = label
    if skipped_types:
        warnings.append(f"contours of type {', '.join(sorted(skipped_types))} are not areas and were left out")
    if outside:
        warnings.append(f"{outside} contour(s) lie outside the image and were left out")
    if overlaps:
        warnings.append(f"structures overlap in {overlaps} voxel(s); the later structure keeps them")
    return ImportedSegmentation(Volume.from_geometry(out, geometry, {"modality": "SEG"}), segments, warnings)


def is_dicom_segmentation(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a DICOM SEG or RTSTRUCT file (its header alone is read; False for anything else)."""
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception:  # any unreadable file is simply not one
        return False
    sop_class = str(header.get("SOPClassUID", ""))
    return sop_class == RTSTRUCT_SOP_CLASS or sop_class in SEG_SOP_CLASSES


def import_dicom_segmentation(
    path: str | os.PathLike[str], geometry: VolumeGeometry, *, frame_of_reference_uid: str | None = None
) -> ImportedSegmentation:
    """Read a DICOM SEG or RTSTRUCT (chosen by its SOP class) onto ``geometry``."""
    header = _header(path)
    sop_class = str(header.get("SOPClassUID", ""))
    if sop_class == RTSTRUCT_SOP_CLASS:
        return read_rtstruct(path, geometry, frame_of_reference_uid=frame_of_reference_uid)
    if sop_class in SEG_SOP_CLASSES:
        return read_segmentation(path, geometry, frame_of_reference_uid=frame_of_reference_uid)
    raise DicomImportError(f"{Path(path).name} is neither a DICOM SEG nor an RTSTRUCT (SOP class {sop_class or '?'})")


def _header(path: str | os.PathLike[str]) -> Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many types on damaged files
        raise DicomImportError(f"{Path(path).name} cannot be read as DICOM ({type(exc).__name__})") from exc
