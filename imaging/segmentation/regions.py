"""Seeded region growing and island (connected component) tools on binary masks.

Islands use SimpleITK's ``ConnectedComponent``: on a 192x192x150 bone mask it took 0.065 s against 0.11-0.14 s for
``scipy.ndimage.label`` once SimpleITK was loaded (its first call pays a one-off 0.2 s start-up).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from imaging.volume import Volume, VolumeGeometry

__all__ = [
    "confidence_connected",
    "connected_threshold",
    "keep_islands_with_seeds",
    "keep_largest_island",
    "label_islands",
    "remove_small_islands",
    "seeds_to_indices",
]


def seeds_to_indices(geometry: VolumeGeometry, seeds_lps: Iterable[Sequence[float]]) -> list[tuple[int, int, int]]:
    """Nearest voxel ``(z, y, x)`` array index of each LPS seed point (mm).

    Raises
    ------
    ValueError
        No seed given, or a seed outside the grid.
    """
    out = []
    for seed in seeds_lps:
        point = np.asarray(seed, dtype=np.float64)
        if point.shape != (3,) or not np.all(np.isfinite(point)):
            raise ValueError(f"a seed is three finite LPS millimetre values, got {seed!r}")
        i, j, k = np.rint(geometry.point_to_index(point)).astype(int)
        if not (0 <= k < geometry.shape[0] and 0 <= j < geometry.shape[1] and 0 <= i < geometry.shape[2]):
            raise ValueError(
                f"seed ({', '.join(f'{v:g}' for v in point)}) mm LPS lies outside the image (voxel {i}, {j}, {k})"
            )
        out.append((int(k), int(j), int(i)))
    if not out:
        raise ValueError("give at least one seed point")
    return out


def _sitk_seeds(indices: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    return [(x, y, z) for z, y, x in indices]


def connected_threshold(
    volume: Volume, seeds_lps: Iterable[Sequence[float]], lower: float, upper: float, *, full_connectivity: bool = False
) -> npt.NDArray[np.bool_]:
    """Region growing: voxels in ``[lower, upper]`` connected to a seed.

    Parameters
    ----------
    volume : Volume
        Image to grow in.
    seeds_lps : iterable of (x, y, z)
        Seed points in LPS millimetres; each must lie in the window (else it grows nothing).
    lower, upper : float
        Inclusive intensity window.
    full_connectivity : bool
        26-connected growth when True, 6-connected otherwise.

    Returns
    -------
    numpy.ndarray of bool
        The grown region on the volume's grid.
    """
    import SimpleITK as sitk

    lower, upper = float(lower), float(upper)
    if not (np.isfinite(lower) and np.isfinite(upper)) or lower > upper:
        raise ValueError(f"region growing needs finite bounds with lower <= upper, got {lower:g}..{upper:g}")
    seeds = seeds_to_indices(volume.geometry, seeds_lps)
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array))
    f = sitk.ConnectedThresholdImageFilter()
    f.SetLower(lower)
    f.SetUpper(upper)
    f.SetSeedList(_sitk_seeds(seeds))
    f.SetReplaceValue(1)
    f.SetConnectivity(f.FullConnectivity if full_connectivity else f.FaceConnectivity)
    return sitk.GetArrayFromImage(f.Execute(image)).astype(bool)


def confidence_connected(
    volume: Volume,
    seeds_lps: Iterable[Sequence[float]],
    *,
    multiplier: float = 2.5,
    iterations: int = 4,
    initial_radius: int = 2,
) -> npt.NDArray[np.bool_]:
    """Region growing with a window learnt from the region: mean ± ``multiplier`` standard deviations.

    Parameters
    ----------
    volume : Volume
        Image to grow in.
    seeds_lps : iterable of (x, y, z)
        Seed points in LPS millimetres.
    multiplier : float
        Width of the window in standard deviations (> 0).
    iterations : int
        Re-estimations of mean and deviation from the grown region (>= 0).
    initial_radius : int
        Radius in voxels of the neighbourhood of each seed that gives the first estimate (>= 1).
    """
    import SimpleITK as sitk

    if not multiplier > 0 or iterations < 0 or initial_radius < 1:
        raise ValueError(
            f"confidence connected needs multiplier > 0, iterations >= 0 and radius >= 1, got "
            f"{multiplier}, {iterations}, {initial_radius}"
        )
    seeds = seeds_to_indices(volume.geometry, seeds_lps)
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array, dtype=np.float32))
    out = sitk.ConfidenceConnected(
        image, seedList=_sitk_seeds(seeds), numberOfIterations=int(iterations), multiplier=float(multiplier),
        initialNeighborhoodRadius=int(initial_radius), replaceValue=1,
    )
    return sitk.GetArrayFromImage(out).astype(bool)


def label_islands(mask: npt.NDArray[np.bool_], *, full_connectivity: bool = False) -> tuple[npt.NDArray, int]:
    """Number the connected components of ``mask`` (1..n, 0 outside).

    Returns
    -------
    labels : numpy.ndarray of uint32
    n : int
    """
    import SimpleITK as sitk

    mask = np.asarray(mask, dtype=bool)
    image = sitk.GetImageFromArray(mask.view(np.uint8))
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(image, bool(full_connectivity)))
    n = int(labels.max()) if labels.size else 0
    return labels, n


def _keep(labels: npt.NDArray, keep: Iterable[int], n: int) -> npt.NDArray[np.bool_]:
    lut = np.zeros(n + 1, dtype=bool)
    lut[list(keep)] = True
    lut[0] = False
    return lut[labels]


def keep_largest_island(
    mask: npt.NDArray[np.bool_], count: int = 1, *, full_connectivity: bool = False
) -> npt.NDArray[np.bool_]:
    """Keep the ``count`` largest islands (6-connected unless ``full_connectivity``)."""
    if count < 1:
        raise ValueError(f"keep at least one island, got {count}")
    labels, n = label_islands(mask, full_connectivity=full_connectivity)
    if n <= count:
        return labels > 0
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    return _keep(labels, np.argsort(sizes, kind="stable")[::-1][:count], n)


def keep_islands_with_seeds(
    mask: npt.NDArray[np.bool_],
    geometry: VolumeGeometry,
    seeds_lps: Iterable[Sequence[float]],
    *,
    full_connectivity: bool = False,
) -> npt.NDArray[np.bool_]:
    """Keep the islands that contain one of the seed points (LPS mm).

    Raises
    ------
    ValueError
        A seed lies outside the grid or on a background voxel (it would select nothing).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != geometry.shape:
        raise ValueError(f"mask shape {mask.shape} does not match its grid {geometry.shape}")
    seeds_lps = [tuple(s) for s in seeds_lps]
    seeds = seeds_to_indices(geometry, seeds_lps)
    labels, n = label_islands(mask, full_connectivity=full_connectivity)
    keep = []
    for seed, point in zip(seeds, seeds_lps, strict=True):
        if not labels[seed]:
            raise ValueError(f"seed ({', '.join(f'{v:g}' for v in point)}) mm LPS is not inside the segmentation")
        keep.append(int(labels[seed]))
    return _keep(labels, keep, n)


def remove_small_islands(
    mask: npt.NDArray[np.bool_], geometry: VolumeGeometry, min_volume_mm3: float, *, full_connectivity: bool = False
) -> npt.NDArray[np.bool_]:
    """Drop islands smaller than ``min_volume_mm3`` cubic millimetres."""
    if not min_volume_mm3 >= 0:
        raise ValueError(f"the minimum island volume must be >= 0 mm³, got {min_volume_mm3}")
    labels, n = label_islands(mask, full_connectivity=full_connectivity)
    voxel_mm3 = float(np.prod(geometry.spacing))
    sizes = np.bincount(labels.ravel(), minlength=n + 1) * voxel_mm3
    return _keep(labels, np.flatnonzero(sizes >= min_volume_mm3), n)
