"""Slice ordering and volume geometry of one candidate series, with warnings for everything that is not a clean grid.

Conventions (see :mod:`imaging.volume`): the row direction ``r = IOP[0:3]`` is the ``x`` index axis, the column
direction ``c = IOP[3:6]`` is ``y``, and the slice normal ``n = r x c`` is ``z``.  Slices are ordered by the projection
of ImagePositionPatient on ``n`` -- never by InstanceNumber, which scanners number in acquisition order, in either
direction, or restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from imaging.volume import GeometryError, VolumeGeometry

from .headers import SliceHeader

__all__ = ["GeometryResult", "compute_geometry"]

#: Two images closer than this along the normal are "at the same position" (DICOM DS values carry ~1e-4 mm).
SAME_POSITION_MM = 0.01
#: Relative deviation of a slice step from the median step that counts as non-uniform spacing.
STEP_TOLERANCE = 0.01
#: Angle between the slice-to-slice displacement and the normal above which the stack is reported as tilted.
TILT_TOLERANCE_DEG = 0.1
_MAX_GAP_MESSAGES = 3


@dataclass
class GeometryResult:
    """Outcome of :func:`compute_geometry`."""

    slices: list[SliceHeader]
    geometry: VolumeGeometry | None
    is_volume: bool
    warnings: list[str] = field(default_factory=list)


def _not_volume(slices: list[SliceHeader], warnings: list[str], reason: str) -> GeometryResult:
    return GeometryResult(slices, None, False, [*warnings, reason])


def _unit(v: np.ndarray) -> np.ndarray | None:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-6 else None


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"


def _spacing_warnings(positions: np.ndarray, step: float) -> list[str]:
    """Describe every slice step that differs from ``step`` (missing slices or irregular spacing)."""
    steps = np.diff(positions)
    tol = max(STEP_TOLERANCE * step, 1e-3)
    messages: list[str] = []
    bad = [i for i, s in enumerate(steps) if abs(s - step) > tol]
    for i in bad[:_MAX_GAP_MESSAGES]:
        a, b, gap = positions[i], positions[i + 1], steps[i]
        k = round(gap / step)
        if k >= 2 and abs(gap - k * step) <= tol * k:
            messages.append(
                f"missing slice(s) between positions {_fmt(a)} and {_fmt(b)} mm along the slice normal: gap of "
                f"{_fmt(gap)} mm where {_fmt(step)} mm is expected ({k - 1} slice(s) missing); the volume assumes "
                "uniform spacing, so everything beyond the gap is misplaced -- re-export the complete series"
            )
        else:
            messages.append(
                f"non-uniform slice spacing: step of {_fmt(gap)} mm between positions {_fmt(a)} and {_fmt(b)} mm "
                f"along the slice normal (median step {_fmt(step)} mm); distances along z are approximate"
            )
    if len(bad) > _MAX_GAP_MESSAGES:
        messages.append(f"... and {len(bad) - _MAX_GAP_MESSAGES} more irregular slice step(s)")
    return messages


def compute_geometry(slices: Sequence[SliceHeader]) -> GeometryResult:
    """Order the images of one candidate series and derive its grid.

    Parameters
    ----------
    slices : sequence of SliceHeader
        Images that share series, orientation, size, echo and temporal position.

    Returns
    -------
    GeometryResult
        Slices in order (by position along the normal when known, else by InstanceNumber), the grid (None when the
        images do not form a volume), ``is_volume`` and human-readable warnings.
    """
    # Fallback order (and tie-break for the position sort): InstanceNumber, then file name.
    ordered = sorted(
        slices, key=lambda s: (s.instance_number is None, s.instance_number or 0, str(s.path), s.frame or 0)
    )
    warnings: list[str] = []
    if not ordered:
        return _not_volume(ordered, warnings, "no images")
    first = ordered[0]
    if any(s.frames > 1 and s.frame is None for s in ordered):
        return _not_volume(
            ordered, warnings, "multi-frame DICOM image(s) without per-frame headers: cannot place the frames"
        )
    if any(s.samples_per_pixel != 1 for s in ordered):
        return _not_volume(ordered, warnings, "colour (RGB) images: not a scalar volume")
    if any(s.iop is None or s.ipp is None for s in ordered):
        return _not_volume(
            ordered, warnings, "images carry no ImagePositionPatient/ImageOrientationPatient: cannot place them in 3-D"
        )
    if len(ordered) == 1:
        return _not_volume(ordered, warnings, "single image (2-D): not a volume")

    assert first.iop is not None  # for type checkers; checked above
    r = _unit(np.asarray(first.iop[:3]))
    c = _unit(np.asarray(first.iop[3:]))
    if r is None or c is None:
        return _not_volume(ordered, warnings, "ImageOrientationPatient is degenerate (zero-length direction)")
    cos_rc = float(np.dot(r, c))
    if abs(cos_rc) > 1e-3:
        warnings.append(
            f"row and column directions are not perpendicular ({np.degrees(np.arccos(np.clip(cos_rc, -1, 1))):.2f}°); "
            "the column direction was made perpendicular"
        )
    c = _unit(c - cos_rc * r)
    assert c is not None
    n = np.cross(r, c)

    ipp = np.asarray([s.ipp for s in ordered], dtype=np.float64)
    along = ipp @ n
    order = np.argsort(along, kind="stable")
    ordered = [ordered[i] for i in order]
    ipp, along = ipp[order], along[order]
    steps = np.diff(along)

    same = steps < SAME_POSITION_MM
    if same.any():
        # Clusters of images sharing one position: report the largest, never stack them silently.
        sizes, run = [], 1
        for s in same:
            if s:
                run += 1
            else:
                sizes.append(run)
                run = 1
        sizes.append(run)
        shared = [k for k in sizes if k > 1]
        extra = f" ({len(shared)} positions are shared)" if len(shared) > 1 else ""
        return _not_volume(
            ordered,
            warnings,
            f"{max(shared)} images at the same position{extra}: not a volume -- the series holds repeated "
            "acquisitions or several images per slice (e.g. phases) without tags to tell them apart",
        )

    step = float(np.median(steps))
    warnings.extend(_spacing_warnings(along, step))

    pixel_spacing = first.pixel_spacing
    if pixel_spacing is None:
        pixel_spacing = (1.0, 1.0)
        warnings.append("no PixelSpacing: pixels assumed to be 1 mm (distances are not calibrated)")
    elif any(s.pixel_spacing is None or not np.allclose(s.pixel_spacing, pixel_spacing, rtol=1e-4) for s in ordered):
        warnings.append("PixelSpacing differs between images: the first image's spacing is used for all")

    displacement = ipp[-1] - ipp[0]
    length = float(np.linalg.norm(displacement))
    cos_tilt = abs(float(np.dot(displacement, n))) / length
    tilt = float(np.degrees(np.arccos(min(cos_tilt, 1.0))))
    slice_axis, slice_step = n, step
    if tilt > TILT_TOLERANCE_DEG:
        shift = float(np.linalg.norm(displacement - np.dot(displacement, n) * n))
        tag = "absent" if first.gantry_tilt is None else f"{first.gantry_tilt:g}°"
        # Keep every voxel where the scanner put it: the slice axis follows the slice positions (the table), so
        # the grid is sheared. Stacking along the normal instead would move the last slice by `shift` mm.
        slice_axis = displacement / length
        slice_step = float(np.median(np.diff((ipp - ipp[0]) @ slice_axis)))
        warnings.append(
            f"gantry tilt: slices are stacked at {tilt:.1f}° to their normal (GantryDetectorTilt tag {tag}); "
            f"the grid keeps the true slice positions, so it is sheared (the last slice is offset by {shift:.1f} mm "
            f"in-plane from the first one's normal); correct the tilt for an orthogonal grid"
        )

    try:
        geometry = VolumeGeometry(
            shape=(len(ordered), first.rows, first.columns),
            spacing=(pixel_spacing[1], pixel_spacing[0], slice_step),
            origin=tuple(ipp[0]),
            direction=np.column_stack([r, c, slice_axis]),
        )
    except GeometryError as exc:  # e.g. PixelSpacing 0 or negative: the header cannot place the voxels
        return _not_volume(ordered, warnings, f"invalid PixelSpacing or slice positions ({exc})")
    return GeometryResult(ordered, geometry, True, warnings)
