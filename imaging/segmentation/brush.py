"""Painting tools: sphere and disc brushes in millimetres, fill between slices, scissors.

Brushes return a small mask block and its offset in the label map (``(mask, offset)``), which
:func:`~imaging.segmentation.edits.apply_mask_edit` turns into an undoable edit; the ``paint_*`` / ``scissors``
helpers do both steps and return the :class:`~imaging.segmentation.edits.LabelEdit`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from imaging.segmentation.edits import EditMask, LabelEdit, apply_mask_edit, bounding_box
from imaging.volume import VolumeGeometry

__all__ = [
    "disc_brush",
    "fill_between_slices",
    "paint_disc",
    "paint_sphere",
    "points_in_polygon",
    "scissors",
    "scissors_region",
    "sphere_brush",
]

Block = tuple[npt.NDArray[np.bool_], tuple[int, int, int]]


def _box_around(geometry: VolumeGeometry, center: npt.NDArray, reach_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Index box ``(lo, hi)`` in (z, y, x) order of the voxels within ``reach_mm`` of ``center``, clipped."""
    c = geometry.point_to_index(center)[::-1]
    half = reach_mm / np.asarray(geometry.spacing[::-1])
    lo = np.maximum(np.floor(c - half).astype(int), 0)
    hi = np.minimum(np.ceil(c + half).astype(int) + 1, geometry.shape)
    return lo, hi


def _voxel_points(geometry: VolumeGeometry, lo: np.ndarray, hi: np.ndarray) -> npt.NDArray[np.float64]:
    """LPS centres of the voxels in the box, shape ``(nz, ny, nx, 3)``."""
    k, j, i = np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij")
    return geometry.index_to_point(np.stack([i, j, k], axis=-1))


def _center(center_lps: Sequence[float]) -> npt.NDArray[np.float64]:
    c = np.asarray(center_lps, dtype=np.float64)
    if c.shape != (3,) or not np.all(np.isfinite(c)):
        raise ValueError(f"a brush centre is three finite LPS millimetre values, got {center_lps!r}")
    return c


def sphere_brush(geometry: VolumeGeometry, center_lps: Sequence[float], radius_mm: float) -> Block:
    """Voxels whose centre lies within ``radius_mm`` of ``center_lps``: ``(mask block, offset)``."""
    if not radius_mm > 0:
        raise ValueError(f"the brush radius must be > 0 mm, got {radius_mm}")
    c = _center(center_lps)
    lo, hi = _box_around(geometry, c, radius_mm)
    if np.any(hi <= lo):
        return np.zeros((0, 0, 0), bool), (0, 0, 0)
    d2 = ((_voxel_points(geometry, lo, hi) - c) ** 2).sum(axis=-1)
    return d2 <= radius_mm**2, tuple(int(v) for v in lo)  # type: ignore[return-value]


def disc_brush(
    geometry: VolumeGeometry, center_lps: Sequence[float], radius_mm: float, normal_lps: Sequence[float]
) -> Block:
    """A 2-D disc on the slice through ``center_lps`` with normal ``normal_lps`` (any orientation).

    The disc takes the voxels that the slice plane cuts (one voxel layer for a slice along the grid axes) and whose
    centre lies within ``radius_mm`` of the centre, measured in the plane.
    """
    if not radius_mm > 0:
        raise ValueError(f"the brush radius must be > 0 mm, got {radius_mm}")
    c = _center(center_lps)
    n = np.asarray(normal_lps, dtype=np.float64)
    if n.shape != (3,) or not np.linalg.norm(n) > 1e-9:
        raise ValueError(f"the slice normal must be a non-zero 3-vector, got {normal_lps!r}")
    n = n / np.linalg.norm(n)
    axes = geometry.direction * np.asarray(geometry.spacing)[None, :]  # columns: one voxel step along i, j, k
    half = 0.5 * np.abs(n @ axes).sum()  # half the voxel's extent along the normal
    lo, hi = _box_around(geometry, c, max(radius_mm, half))
    if np.any(hi <= lo):
        return np.zeros((0, 0, 0), bool), (0, 0, 0)
    rel = _voxel_points(geometry, lo, hi) - c
    along = rel @ n
    in_plane2 = (rel**2).sum(axis=-1) - along**2
    mask = (np.abs(along) <= half * (1 - 1e-9)) & (in_plane2 <= radius_mm**2)
    return mask, tuple(int(v) for v in lo)  # type: ignore[return-value]


def paint_sphere(
    labelmap: npt.NDArray[np.integer],
    geometry: VolumeGeometry,
    center_lps: Sequence[float],
    radius_mm: float,
    value: int,
    *,
    erase: bool = False,
    allowed: EditMask | npt.NDArray[np.bool_] | None = None,
    locked: Iterable[int] = (),
) -> LabelEdit:
    """Paint (or erase) a sphere of ``radius_mm`` into ``labelmap`` in place; returns the undo record."""
    mask, offset = sphere_brush(geometry, center_lps, radius_mm)
    return apply_mask_edit(labelmap, mask, value, mode="erase" if erase else "paint", offset=offset,
                           allowed=allowed, locked=locked, description="sphere brush")


def paint_disc(
    labelmap: npt.NDArray[np.integer],
    geometry: VolumeGeometry,
    center_lps: Sequence[float],
    radius_mm: float,
    normal_lps: Sequence[float],
    value: int,
    *,
    erase: bool = False,
    allowed: EditMask | npt.NDArray[np.bool_] | None = None,
    locked: Iterable[int] = (),
) -> LabelEdit:
    """Paint (or erase) a disc on a slice of any orientation; returns the undo record."""
    mask, offset = disc_brush(geometry, center_lps, radius_mm, normal_lps)
    return apply_mask_edit(labelmap, mask, value, mode="erase" if erase else "paint", offset=offset,
                           allowed=allowed, locked=locked, description="disc brush")


def _signed_distance_2d(mask2d: npt.NDArray[np.bool_], sampling: tuple[float, float]) -> npt.NDArray[np.float64]:
    """Negative inside (distance to the nearest outside pixel), positive outside (to the nearest inside pixel)."""
    return ndimage.distance_transform_edt(~mask2d, sampling=sampling) - ndimage.distance_transform_edt(
        mask2d, sampling=sampling
    )


def fill_between_slices(
    mask: npt.NDArray[np.bool_], geometry: VolumeGeometry, axis: int = 0
) -> npt.NDArray[np.bool_]:
    """Interpolate a segment between the slices where it was drawn (shape-based interpolation).

    Each drawn slice (a slice along array ``axis`` holding any voxel) becomes a 2-D signed distance map; the empty
    slices between two drawn ones get the linear blend of their neighbours' maps, inside where it is negative.
    Drawn slices are kept as they are; slices before the first and after the last drawn one stay empty.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        The drawn slices, on ``geometry``.
    axis : int
        Array axis across the slices: 0 = axial (z), 1 = coronal (y), 2 = sagittal (x).

    Returns
    -------
    numpy.ndarray of bool
        Drawn and interpolated voxels.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != geometry.shape:
        raise ValueError(f"mask shape {mask.shape} does not match its grid {geometry.shape}")
    if axis not in (0, 1, 2):
        raise ValueError(f"slice axis must be 0 (z), 1 (y) or 2 (x), got {axis}")
    drawn = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
    if len(drawn) < 2:
        raise ValueError(f"fill between slices needs segments drawn on at least two slices, found {len(drawn)}")
    box = bounding_box(mask, pad=2)
    assert box is not None
    crop = [slice(lo, hi) for lo, hi in zip(*box, strict=True)]
    crop[axis] = slice(None)
    sub = np.moveaxis(mask[tuple(crop)], axis, 0)
    spacing = geometry.spacing[::-1]
    sampling = tuple(s for a, s in enumerate(spacing) if a != axis)
    out = sub.copy()
    sd_prev = _signed_distance_2d(sub[drawn[0]], sampling)  # type: ignore[arg-type]
    for a, b in itertools.pairwise(drawn):
        sd_next = _signed_distance_2d(sub[b], sampling)  # type: ignore[arg-type]
        for t in range(a + 1, b):
            w = (t - a) / (b - a)
            out[t] = (1 - w) * sd_prev + w * sd_next < 0
        sd_prev = sd_next
    result = np.zeros_like(mask)
    result[tuple(crop)] = np.moveaxis(out, 0, axis)
    return result


def points_in_polygon(points: npt.NDArray[np.float64], polygon: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Even-odd test of ``(n, 2)`` points against a closed ``(m, 2)`` polygon."""
    x, y = points[:, 0], points[:, 1]
    inside = np.zeros(len(points), dtype=bool)
    px, py = polygon[:, 0], polygon[:, 1]
    qx, qy = np.roll(px, 1), np.roll(py, 1)
    for x1, y1, x2, y2 in zip(px, py, qx, qy, strict=True):
        crosses = (y1 > y) != (y2 > y)
        if not crosses.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            xcross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < xcross)
    return inside


def scissors_region(
    geometry: VolumeGeometry,
    polygon: npt.ArrayLike,
    projection: npt.ArrayLike,
    *,
    viewport: tuple[int, int] | None = None,
    region: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.bool_]:
    """Voxels whose centre projects inside a closed 2-D polygon (the polygon extruded along the view rays).

    Parameters
    ----------
    polygon : array-like, shape (m, 2)
        Polygon vertices in display pixels (origin bottom-left, as VTK) when ``viewport`` is given, else in
        normalized device coordinates (-1..1).
    projection : array-like, shape (4, 4)
        Camera matrix taking homogeneous LPS millimetres to clip coordinates (divide by ``w`` to get NDC).
    viewport : (width, height), optional
        Size of the view in pixels.
    region : numpy.ndarray of bool, optional
        Only these voxels are tested (the rest are False); pass the segment to keep the work small.
    """
    poly = np.asarray(polygon, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        raise ValueError(f"the scissors need a polygon of at least 3 (x, y) points, got shape {poly.shape}")
    matrix = np.asarray(projection, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise ValueError(f"the projection must be a finite 4x4 matrix, got shape {matrix.shape}")
    if viewport is not None:
        w, h = viewport
        if w <= 0 or h <= 0:
            raise ValueError(f"viewport size must be positive, got {viewport}")
        poly = poly / np.array([w, h], float) * 2.0 - 1.0
    if region is None:
        region = np.ones(geometry.shape, dtype=bool)
    region = np.asarray(region, dtype=bool)
    if region.shape != geometry.shape:
        raise ValueError(f"region shape {region.shape} does not match the grid {geometry.shape}")
    kji = np.nonzero(region)
    out = np.zeros(geometry.shape, dtype=bool)
    if not kji[0].size:
        return out
    lps = geometry.index_to_point(np.stack(kji[::-1], axis=1).astype(np.float64))
    clip = lps @ matrix[:3, :3].T + matrix[:3, 3]
    wv = lps @ matrix[3, :3] + matrix[3, 3]
    front = wv > 1e-12
    ndc = np.zeros((len(lps), 2))
    ndc[front] = clip[front, :2] / wv[front, None]
    hit = front & points_in_polygon(ndc, poly)
    out[tuple(k[hit] for k in kji)] = True
    return out


def scissors(
    labelmap: npt.NDArray[np.integer],
    geometry: VolumeGeometry,
    value: int,
    polygon: npt.ArrayLike,
    projection: npt.ArrayLike,
    *,
    inside: bool = True,
    viewport: tuple[int, int] | None = None,
    allowed: EditMask | npt.NDArray[np.bool_] | None = None,
    locked: Iterable[int] = (),
) -> LabelEdit:
    """Erase segment ``value`` inside (or outside) the extruded polygon, in place; returns the undo record."""
    segment = labelmap == value
    box = bounding_box(segment)
    if box is None:
        return LabelEdit.empty(labelmap.dtype, "scissors")
    cut = scissors_region(geometry, polygon, projection, viewport=viewport, region=segment)
    target = cut if inside else segment & ~cut
    return apply_mask_edit(labelmap, target, value, mode="erase", allowed=allowed, locked=locked,
                           description="scissors")
