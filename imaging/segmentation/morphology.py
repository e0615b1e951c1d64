"""Margins, shells, logical operations and smoothing of masks, in millimetres on anisotropic grids.

Margins use an exact Euclidean distance transform with the voxel spacing (``scipy.ndimage.distance_transform_edt``
with ``sampling``) on the structure's bounding box grown by the margin, so a 3 mm margin is 3 mm along every axis
whatever the slice thickness, and the cost follows the structure, not the volume.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from imaging.segmentation.edits import bounding_box
from imaging.volume import VolumeGeometry

__all__ = [
    "closing",
    "grow",
    "hollow",
    "intersect",
    "invert",
    "joint_smooth",
    "margin",
    "median_smooth",
    "opening",
    "shrink",
    "subtract",
    "union",
]


def _sampling(geometry: VolumeGeometry) -> tuple[float, float, float]:
    return tuple(geometry.spacing[::-1])  # type: ignore[return-value]  # (z, y, x) array order


def _check(mask: npt.NDArray, geometry: VolumeGeometry) -> npt.NDArray[np.bool_]:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != geometry.shape:
        raise ValueError(f"mask shape {mask.shape} does not match its grid {geometry.shape}")
    return mask


def _pad_voxels(geometry: VolumeGeometry, mm: float) -> tuple[int, int, int]:
    return tuple(math.ceil(mm / s) + 1 for s in _sampling(geometry))  # type: ignore[return-value]


def _crop(mask: npt.NDArray[np.bool_], pad: tuple[int, int, int]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Box around ``mask`` grown by ``pad`` voxels (clipped), and where it sits in a zero-padded crop."""
    box = bounding_box(mask)
    assert box is not None
    outer = tuple(slice(max(lo - p, 0), min(hi + p, n)) for lo, hi, p, n in zip(*box, pad, mask.shape, strict=True))
    return outer, outer


def grow(mask: npt.NDArray[np.bool_], geometry: VolumeGeometry, margin_mm: float) -> npt.NDArray[np.bool_]:
    """Dilate by a ball of ``margin_mm``: voxels whose centre is within the margin of a voxel of the mask."""
    mask = _check(mask, geometry)
    if margin_mm < 0:
        raise ValueError(f"grow by a margin >= 0 mm, got {margin_mm:g} (use shrink)")
    if margin_mm == 0 or not mask.any():
        return mask.copy()
    box, _ = _crop(mask, _pad_voxels(geometry, margin_mm))
    dist = ndimage.distance_transform_edt(~mask[box], sampling=_sampling(geometry))
    out = np.zeros_like(mask)
    out[box] = dist <= margin_mm + 1e-6
    return out


def shrink(mask: npt.NDArray[np.bool_], geometry: VolumeGeometry, margin_mm: float) -> npt.NDArray[np.bool_]:
    """Erode by a ball of ``margin_mm``: voxels farther than the margin from every voxel outside the mask.

    Voxels outside the grid count as outside (a structure cut by the field of view shrinks from the cut too).
    """
    mask = _check(mask, geometry)
    if margin_mm < 0:
        raise ValueError(f"shrink by a margin >= 0 mm, got {margin_mm:g} (use grow)")
    if margin_mm == 0 or not mask.any():
        return mask.copy()
    box, _ = _crop(mask, (1, 1, 1))
    sub = np.pad(mask[box], 1)  # a background border so the distance is measured to outside the grid too
    dist = ndimage.distance_transform_edt(sub, sampling=_sampling(geometry))[1:-1, 1:-1, 1:-1]
    out = np.zeros_like(mask)
    out[box] = dist > margin_mm + 1e-6
    return out


def margin(mask: npt.NDArray[np.bool_], geometry: VolumeGeometry, margin_mm: float) -> npt.NDArray[np.bool_]:
    """Grow (``margin_mm > 0``) or shrink (``< 0``) by a margin in millimetres, anisotropic spacing respected."""
    if not np.isfinite(margin_mm):
        raise ValueError(f"the margin must be a finite number of millimetres, got {margin_mm}")
    return grow(mask, geometry, margin_mm) if margin_mm >= 0 else shrink(mask, geometry, -margin_mm)


def hollow(
    mask: npt.NDArray[np.bool_], geometry: VolumeGeometry, thickness_mm: float, *, side: str = "inside"
) -> npt.NDArray[np.bool_]:
    """A shell of ``thickness_mm`` along the surface of the mask.

    Parameters
    ----------
    side : {"inside", "outside", "medial"}
        Shell inside the original surface (the model keeps its outer size), outside it (the cavity keeps its size),
        or centred on it.
    """
    mask = _check(mask, geometry)
    if not thickness_mm > 0:
        raise ValueError(f"the shell thickness must be > 0 mm, got {thickness_mm}")
    if side == "inside":
        return mask & ~shrink(mask, geometry, thickness_mm)
    if side == "outside":
        return grow(mask, geometry, thickness_mm) & ~mask
    if side == "medial":
        half = thickness_mm / 2
        return grow(mask, geometry, half) & ~shrink(mask, geometry, half)
    raise ValueError(f"hollow side must be 'inside', 'outside' or 'medial', got {side!r}")


def union(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Voxels in ``a`` or ``b``."""
    return np.logical_or(a, b)


def intersect(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Voxels in both ``a`` and ``b``."""
    return np.logical_and(a, b)


def subtract(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Voxels in ``a`` but not in ``b``."""
    return np.logical_and(a, np.logical_not(b))


def invert(mask: npt.NDArray[np.bool_], within: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.bool_]:
    """Complement of ``mask``, limited to ``within`` when given."""
    out = np.logical_not(mask)
    return out if within is None else out & np.asarray(within, dtype=bool)


def opening(mask: npt.NDArray[np.bool_], geometry: VolumeGeometry, radius_mm: float) -> npt.NDArray[np.bool_]:
    """Morphological opening with a ball of ``radius_mm``: removes protrusions and thin bridges."""
    if not radius_mm >= 0:
        raise ValueError(f"the opening radius must be >= 0 mm, got {radius_mm}")
    return grow(shrink(mask, geometry, radius_mm), geometry, radius_mm) & _check(mask, geometry)


def closing(mask: npt.NDArray[np.bool_], geometry: VolumeGeometry, radius_mm: float) -> npt.NDArray[np.bool_]:
    """Morphological closing with a ball of ``radius_mm``: fills holes and gaps narrower than the ball."""
    mask = _check(mask, geometry)
    if not radius_mm >= 0:
        raise ValueError(f"the closing radius must be >= 0 mm, got {radius_mm}")
    if radius_mm == 0 or not mask.any():
        return mask.copy()
    pad = _pad_voxels(geometry, radius_mm)
    box, _ = _crop(mask, pad)
    # Work on a crop padded past the grid so the dilation never touches the crop's edge.
    sub = np.pad(mask[box], [(p, p) for p in pad])
    sub_geometry = VolumeGeometry(sub.shape, geometry.spacing)
    grown = grow(sub, sub_geometry, radius_mm)
    dist = ndimage.distance_transform_edt(grown, sampling=_sampling(geometry))
    closed = (dist > radius_mm + 1e-6)[tuple(slice(p, -p) for p in pad)]
    out = np.zeros_like(mask)
    out[box] = closed | mask[box]
    return out


def median_smooth(mask: npt.NDArray[np.bool_], geometry: VolumeGeometry, size_mm: float) -> npt.NDArray[np.bool_]:
    """Median filter with a box about ``size_mm`` wide (odd number of voxels per axis, at least 1)."""
    mask = _check(mask, geometry)
    if not size_mm > 0:
        raise ValueError(f"the median filter size must be > 0 mm, got {size_mm}")
    size = tuple(max(1, 2 * round(size_mm / s / 2) + 1) for s in _sampling(geometry))
    if not mask.any():
        return mask.copy()
    box, _ = _crop(mask, tuple(k for k in size))  # type: ignore[arg-type]
    out = np.zeros_like(mask)
    out[box] = ndimage.median_filter(mask[box].view(np.uint8), size=size, mode="constant").astype(bool)
    return out


def joint_smooth(
    labelmap: npt.NDArray[np.integer], geometry: VolumeGeometry, sigma_mm: float, labels: list[int] | None = None
) -> npt.NDArray[np.integer]:
    """Smooth several segments together without gaps or overlaps.

    Each label's indicator (and the background's) is blurred with a Gaussian of ``sigma_mm``; every voxel takes the
    label with the highest blurred value, so the segments stay a partition of the space they occupied.

    Parameters
    ----------
    labelmap : numpy.ndarray of int
        Label map on ``geometry``.
    sigma_mm : float
        Gaussian standard deviation in millimetres (> 0).
    labels : list of int, optional
        Labels to smooth (default: all non-zero labels present); other labels are left alone (treated as locked).

    Returns
    -------
    numpy.ndarray
        A new label map.
    """
    labelmap = np.asarray(labelmap)
    if labelmap.shape != geometry.shape:
        raise ValueError(f"label map shape {labelmap.shape} does not match its grid {geometry.shape}")
    if not sigma_mm > 0:
        raise ValueError(f"the smoothing sigma must be > 0 mm, got {sigma_mm}")
    present = [int(v) for v in np.unique(labelmap) if v]
    labels = present if labels is None else [int(v) for v in labels]
    labels = [v for v in labels if v in present]
    out = labelmap.copy()
    if not labels:
        return out
    editable = np.isin(labelmap, [0, *labels])
    sigma = tuple(sigma_mm / s for s in _sampling(geometry))
    box, _ = _crop(np.isin(labelmap, labels), tuple(math.ceil(3 * s) + 1 for s in sigma))  # type: ignore[arg-type]
    sub = labelmap[box]
    best = np.full(sub.shape, -1.0, dtype=np.float32)
    winner = np.zeros(sub.shape, dtype=labelmap.dtype)
    for value in [0, *labels]:
        blurred = ndimage.gaussian_filter((sub == value).astype(np.float32), sigma, mode="nearest")
        better = blurred > best
        best[better] = blurred[better]
        winner[better] = value
    region = editable[box]
    out[box] = np.where(region, winner, sub)
    return out
