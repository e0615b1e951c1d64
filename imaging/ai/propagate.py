"""Propagate a LiteMedSAM box through neighbouring slices.

The mask found on the seed slice prompts the next slice: one box per connected component of the previous slice's
mask (its bounding box padded by a few voxels), so a vessel that bifurcates continues as two objects.  Each new mask
keeps only the parts that touch the (dilated) previous mask.  Propagation runs both ways along the chosen axis and
stops when the mask vanishes or becomes implausible (grows too fast, or moves away from the previous one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from imaging.ai.litemedsam import LiteMedSAM, get_slice, slice_count
from imaging.ai.manifests import AIInputError
from imaging.volume import Volume

__all__ = ["PropagationResult", "propagate_box"]

_EIGHT = np.ones((3, 3), bool)


@dataclass
class PropagationResult:
    """A 3-D mask from a propagated box, and why each direction stopped."""

    mask: npt.NDArray[np.bool_]
    slices: list[int]
    stopped: dict[str, str] = field(default_factory=dict)


def _assign(mask3: npt.NDArray[np.bool_], axis: str, index: int, value: npt.NDArray[np.bool_]) -> None:
    get_slice(mask3, axis, index)[...] = value


def _boxes(
    mask: npt.NDArray[np.bool_], pad: int, min_pixels: int, pad_fraction: float = 0.0
) -> list[tuple[int, int, int, int]]:
    labels, _ = ndimage.label(mask, structure=_EIGHT)
    h, w = mask.shape
    boxes = []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None or np.count_nonzero(labels[sl] == i) < min_pixels:
            continue
        py = max(pad, round(pad_fraction * (sl[0].stop - sl[0].start)))
        px = max(pad, round(pad_fraction * (sl[1].stop - sl[1].start)))
        y0, y1 = max(sl[0].start - py, 0), min(sl[0].stop - 1 + py, h - 1)
        x0, x1 = max(sl[1].start - px, 0), min(sl[1].stop - 1 + px, w - 1)
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1, y1))
    return boxes


def propagate_box(
    model: LiteMedSAM,
    volume: Volume,
    box: tuple[float, float, float, float],
    index: int,
    axis: str = "axial",
    *,
    recipe: str = "auto",
    pad: int = 12,
    pad_fraction: float = 0.0,
    min_pixels: int = 10,
    max_growth: float = 1.4,
    min_overlap: float = 0.5,
    max_slices: int | None = None,
    intensity_floor_percentile: float | None = 10.0,
    progress: Callable[[float, str], Any] | None = None,
    cancel: Any = None,
) -> PropagationResult:
    """Segment from one box on slice ``index`` and propagate through the volume along ``axis``.

    Parameters
    ----------
    model : LiteMedSAM
        The model (its embedding cache makes re-runs cheap).
    volume : Volume
        The image.
    box : tuple
        ``(x0, y0, x1, y1)`` inclusive voxel indices on the seed slice (column, row; see :mod:`imaging.ai.litemedsam`).
    index : int
        Seed slice.
    axis : str
        ``axial``, ``coronal`` or ``sagittal``.
    recipe : str
        Intensity recipe, ``auto``, ``ct`` or ``nonct``.
    pad : int
        Voxels added on each side of a component's bounding box to make the next box (at least).
    pad_fraction : float
        Also pad by this fraction of the component's extent along each slice axis (elongated, oblique objects).
    min_pixels : int
        Components smaller than this prompt no box and are dropped.
    max_growth : float
        Stop when a slice's mask is larger than ``max_growth`` times the previous one (plus ``4 * pad**2`` voxels).
    min_overlap : float
        Stop when less than this fraction of the new mask lies on the dilated previous mask.
    max_slices : int, optional
        At most this many slices each way.
    intensity_floor_percentile : float or None, default 10
        Intensity prior: voxels darker than this percentile of the seed mask's own intensities are dropped from
        every propagated mask (and the seed's). A propagated structure keeps its seed's brightness; without the
        prior LiteMedSAM's masks bleed into darker neighbours where the object narrows or branches, and the
        growth check then stops propagation early. None disables it.
    progress, cancel
        ``progress(fraction, message)``; ``cancel.is_set()`` stops early.

    Returns
    -------
    PropagationResult
        Boolean ``(z, y, x)`` mask, slices segmented, and the reason each direction stopped.

    Raises
    ------
    AIInputError
        Bad box / slice / axis, or the box finds nothing on the seed slice.
    """
    seed = model.segment_slice(volume, box, index, axis, recipe)
    if not seed.mask.any():
        raise AIInputError(f"the box {seed.box} finds nothing on {axis} slice {index}")
    seed_mask = seed.mask
    floor = None
    if intensity_floor_percentile is not None:
        if not 0 <= intensity_floor_percentile < 100:
            raise AIInputError(f"the intensity floor is a percentile in [0, 100), got {intensity_floor_percentile}")
        floor = float(np.percentile(get_slice(volume.array, axis, index)[seed_mask], intensity_floor_percentile))
        seed_mask = seed_mask & (get_slice(volume.array, axis, index) >= floor)
    mask3 = np.zeros(volume.array.shape, dtype=bool)
    _assign(mask3, axis, index, seed_mask)
    n = slice_count(volume.array.shape, axis)
    done = [index]
    stopped: dict[str, str] = {}
    limit = n if max_slices is None else int(max_slices)
    grow = ndimage.generate_binary_structure(2, 2)
    for step, name in ((1, "forward"), (-1, "backward")):
        prev, prev_raw = seed_mask, seed.mask  # refined mask for the checks, model's own mask for the next boxes
        k = index + step
        stopped[name] = "end of volume"
        while 0 <= k < n and abs(k - index) <= limit:
            if cancel is not None and cancel.is_set():
                stopped[name] = "cancelled"
                break
            boxes = _boxes(prev_raw, pad, min_pixels, pad_fraction)
            if not boxes:
                stopped[name] = f"mask vanished at slice {k}"
                break
            new = np.zeros_like(prev)
            for b in boxes:
                res = model.segment_slice(volume, b, k, axis, recipe)
                x0, y0, x1, y1 = b
                new[y0 : y1 + 1, x0 : x1 + 1] |= res.mask[y0 : y1 + 1, x0 : x1 + 1]
            near = ndimage.binary_dilation(prev_raw, grow, iterations=max(pad, 1))
            labels, count = ndimage.label(new, structure=_EIGHT)
            if count:
                touching = np.unique(labels[near & new])
                new = np.isin(labels, touching[touching > 0])
            raw = new
            if floor is not None:
                new = new & (get_slice(volume.array, axis, k) >= floor)
            area, before = int(new.sum()), int(prev.sum())
            if area < min_pixels:
                stopped[name] = f"mask vanished at slice {k}"
                break
            if area > max_growth * max(before, 1) + 4 * pad * pad:
                stopped[name] = f"implausible growth at slice {k} ({before} -> {area} voxels)"
                break
            if np.count_nonzero(new & near) < min_overlap * area:
                stopped[name] = f"mask moved away at slice {k}"
                break
            _assign(mask3, axis, k, new)
            done.append(k)
            prev, prev_raw = new, raw
            k += step
            if progress is not None:
                progress(min(len(done) / n, 1.0), f"{axis} slice {k - step}")
    return PropagationResult(mask3, sorted(done), stopped)
