"""Propagate a LiteMedSAM box through neighbouring slices.

The mask found on the seed slice prompts the next slice: one box per connected component of the previous slice's
mask (its bounding box padded by a few voxels), so a vessel that bifurcates continues as two objects.  Where one box
leaves part of the previous object unexplained (a branch that separates from its trunk between two slices), that
part is prompted again with a box of its own.  Each new mask keeps only the parts that touch the previous mask.

Two priors keep the propagated masks close to what the user pointed at:

* brightness: voxels darker than a low percentile of the seed mask's own intensities are dropped (LiteMedSAM bleeds
  into darker neighbours where an object narrows or branches);
* box cuts: a side of the user's box that the seed mask crosses with most of its width is a cut through a structure
  that goes on (a vessel boxed between two levels); the cut is kept as a clipping line on every propagated slice,
  so the segment keeps the extent the user chose instead of creeping along the structure.

Propagation runs both ways along the chosen axis and stops when the mask vanishes or becomes implausible (grows too
fast, or moves away from the previous one).
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

__all__ = ["BoxCuts", "PropagationResult", "box_cuts", "intensity_band", "propagate_box"]

_EIGHT = np.ones((3, 3), bool)
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class BoxCuts:
    """Sides of the seed box that cut through the structure: the clipping lines kept while propagating.

    Each is the box's own coordinate (inclusive voxel index) or None when that side does not cut the structure.
    """

    x0: int | None = None
    y0: int | None = None
    x1: int | None = None
    y1: int | None = None

    def names(self) -> list[str]:
        """Human names of the cut sides, in slice terms (left/top/right/bottom of the 2-D array)."""
        sides = {"x0": "left", "y0": "top", "x1": "right", "y1": "bottom"}
        return [sides[k] for k in ("x0", "y0", "x1", "y1") if getattr(self, k) is not None]

    def clip_box(self, box: Box) -> Box:
        """``box`` without the parts beyond the cuts."""
        x0, y0, x1, y1 = box
        return (
            x0 if self.x0 is None else max(x0, self.x0),
            y0 if self.y0 is None else max(y0, self.y0),
            x1 if self.x1 is None else min(x1, self.x1),
            y1 if self.y1 is None else min(y1, self.y1),
        )

    def clip_mask(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Zero ``mask`` (in place) beyond the cuts and return it."""
        if self.x0 is not None:
            mask[:, : self.x0] = False
        if self.x1 is not None:
            mask[:, self.x1 + 1 :] = False
        if self.y0 is not None:
            mask[: self.y0] = False
        if self.y1 is not None:
            mask[self.y1 + 1 :] = False
        return mask


@dataclass
class PropagationResult:
    """A 3-D mask from a propagated box, why each direction stopped, and the box sides kept as cuts."""

    mask: npt.NDArray[np.bool_]
    slices: list[int]
    stopped: dict[str, str] = field(default_factory=dict)
    cuts: BoxCuts = field(default_factory=BoxCuts)


def box_cuts(mask: npt.NDArray[np.bool_], box: Box, band: int = 4, min_fraction: float = 0.5) -> BoxCuts:
    """The sides of ``box`` that ``mask`` crosses with at least ``min_fraction`` of its width across that side.

    A structure that merely touches a tight box (an organ's rounded edge) meets the side over a short stretch; a
    structure that continues beyond it (a vessel or bone boxed between two levels) meets it with its whole width.

    Parameters
    ----------
    mask : ndarray of bool
        The seed slice's mask.
    box : tuple
        ``(x0, y0, x1, y1)``, inclusive voxel indices.
    band : int
        The rows/columns within this distance inside a side count as touching it.
    min_fraction : float
        Fraction of the mask's typical (median) width across that side that must touch it.
    """
    x0, y0, x1, y1 = box
    inside = mask[y0 : y1 + 1, x0 : x1 + 1]
    if not inside.any():
        return BoxCuts()
    row_widths = inside.sum(axis=1)  # the object's width in each row: what crosses a top or bottom side
    col_widths = inside.sum(axis=0)
    typical_row = float(np.median(row_widths[row_widths > 0]))
    typical_col = float(np.median(col_widths[col_widths > 0]))

    def crosses(strip: npt.NDArray[np.bool_], along: int, typical: float) -> bool:
        return int(strip.any(axis=along).sum()) >= max(min_fraction * typical, 2)

    return BoxCuts(
        x0=x0 if x0 > 0 and crosses(inside[:, :band], 1, typical_col) else None,
        y0=y0 if y0 > 0 and crosses(inside[:band], 0, typical_row) else None,
        x1=x1 if x1 < mask.shape[1] - 1 and crosses(inside[:, -band:], 1, typical_col) else None,
        y1=y1 if y1 < mask.shape[0] - 1 and crosses(inside[-band:], 0, typical_row) else None,
    )


def intensity_band(values: npt.NDArray[Any], percentile: float = 10.0) -> tuple[float, float]:
    """The seed object's intensity band ``(low, high)`` from its voxel ``values``.

    ``low`` is the ``percentile``-th percentile; ``high`` the mirror percentile plus half the spread between the
    two: partial-volume rims and darker neighbours fall below the band, brighter neighbours (bone, contrast, a
    kidney beside the liver) above it, while the object's own brightness variation along its length stays inside.
    """
    lo, hi = (float(v) for v in np.percentile(values, [percentile, 100.0 - percentile]))
    return lo, hi + 0.5 * (hi - lo)


def _component_boxes(
    mask: npt.NDArray[np.bool_], pad: int, min_pixels: int, pad_fraction: float = 0.0
) -> list[Box]:
    """One padded bounding box per connected piece of ``mask`` of at least ``min_pixels`` voxels."""
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


def _add_box_mask(target: npt.NDArray[np.bool_], mask: npt.NDArray[np.bool_], box: Box) -> None:
    x0, y0, x1, y1 = box
    target[y0 : y1 + 1, x0 : x1 + 1] |= mask[y0 : y1 + 1, x0 : x1 + 1]


def _uncovered(prev: npt.NDArray[np.bool_], new: npt.NDArray[np.bool_], margin: int = 2) -> npt.NDArray[np.bool_]:
    """The part of the previous slice's object that the new mask left out (beyond ``margin`` voxels)."""
    return prev & ~ndimage.binary_dilation(new, _EIGHT, iterations=margin)


def _without_specks(mask: npt.NDArray[np.bool_], min_pixels: int) -> npt.NDArray[np.bool_]:
    """``mask`` without its connected pieces smaller than ``min_pixels`` (decoder noise that would seed boxes)."""
    labels, count = ndimage.label(mask, structure=_EIGHT)
    if count <= 1:
        return mask
    keep = np.bincount(labels.ravel()) >= min_pixels
    keep[0] = False
    return keep[labels]


def _touching(new: npt.NDArray[np.bool_], prev: npt.NDArray[np.bool_], reach: int) -> npt.NDArray[np.bool_]:
    """The connected pieces of ``new`` that come within ``reach`` voxels of ``prev``."""
    labels, count = ndimage.label(new, structure=_EIGHT)
    if not count:
        return new
    near = ndimage.binary_dilation(prev, _EIGHT, iterations=max(reach, 1)) & new
    keep = np.zeros(count + 1, bool)
    keep[np.unique(labels[near])] = True
    keep[0] = False
    return keep[labels]


class _SlicePrompter:
    """Segments one slice from the previous slice's mask: boxes per piece, re-prompts for uncovered parts, cuts."""

    def __init__(
        self, model: LiteMedSAM, volume: Volume, axis: str, recipe: str, cuts: BoxCuts, *, pad: int,
        pad_fraction: float, min_pixels: int, uncovered_fraction: float, reach: int, band: tuple[float, float] | None,
        vote: bool = True,
    ) -> None:
        self.model, self.volume, self.axis, self.recipe, self.cuts = model, volume, axis, recipe, cuts
        # LiteMedSAM's mask depends on the box margin; a vote over three margins steadies it from slice to slice.
        self.pads = sorted({max(1, round(pad * 2 / 3)), pad, round(pad * 4 / 3)}) if vote else [pad]
        self.pad_fraction, self.min_pixels = pad_fraction, min_pixels
        self.uncovered_fraction, self.reach, self.band = uncovered_fraction, reach, band

    def _prompt(self, new: npt.NDArray[np.bool_], k: int, pieces: npt.NDArray[np.bool_], min_pixels: int) -> None:
        """Add to ``new`` the majority vote of the masks from boxes around ``pieces`` padded by each of the pads."""
        votes = np.zeros(new.shape, np.uint8)
        for pad in self.pads:
            one = np.zeros_like(new)
            for b in _component_boxes(pieces, pad, min_pixels, self.pad_fraction):
                _add_box_mask(one, self.model.segment_slice(self.volume, b, k, self.axis, self.recipe).mask, b)
            votes += one
        new |= 2 * votes > len(self.pads)

    def __call__(self, prev_raw: npt.NDArray[np.bool_], k: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """``(raw, refined)`` masks of slice ``k``: the model's own (for the next boxes) and after the priors."""
        new = np.zeros_like(prev_raw)
        self._prompt(new, k, prev_raw, self.min_pixels)
        leftover_min = max(self.min_pixels, round(self.uncovered_fraction * int(prev_raw.sum())))
        self._prompt(new, k, _uncovered(prev_raw, new), leftover_min)
        raw = self.cuts.clip_mask(_touching(new, prev_raw, self.reach))
        refined = raw & self.in_band(k)
        return raw, _without_specks(refined, self.min_pixels)

    def in_band(self, k: int) -> npt.NDArray[np.bool_] | bool:
        """Voxels of slice ``k`` within the seed's intensity band (True everywhere without the prior)."""
        if self.band is None:
            return True
        image = get_slice(self.volume.array, self.axis, k)
        return (image >= self.band[0]) & (image <= self.band[1])


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
    uncovered_fraction: float = 0.1,
    reach: int = 3,
    keep_box_cuts: bool = True,
    vote: bool = True,
    intensity_floor_percentile: float | None = 10.0,
    min_in_band: float = 0.5,
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
        Voxels added on each side of a piece's bounding box to make the next box (at least). LiteMedSAM
        under-segments from tight boxes, so the margin is generous; the priors below trim what it adds.
    pad_fraction : float
        Also pad by this fraction of the piece's extent along each slice axis (elongated, oblique objects).
    min_pixels : int
        Pieces smaller than this prompt no box and are dropped from the masks.
    max_growth : float
        Stop when a slice's mask is larger than ``max_growth`` times the previous one (plus ``4 * pad**2`` voxels).
    min_overlap : float
        Stop when less than this fraction of the new mask lies within ``pad`` voxels of the previous mask.
    max_slices : int, optional
        At most this many slices each way.
    uncovered_fraction : float
        A part of the previous object that the new boxes left out is prompted again when it holds at least this
        fraction of the previous mask (a branch splitting off its trunk).
    reach : int
        Pieces of a new mask farther than this from the previous mask are dropped.
    keep_box_cuts : bool
        Keep the seed box's sides that cut through the structure as clipping lines (see the module notes).
    vote : bool
        Prompt each piece with three margins (2/3, 1 and 4/3 of ``pad``) and keep the voxels most masks agree on.
    intensity_floor_percentile : float or None, default 10
        Intensity prior: voxels outside :func:`intensity_band` of the seed mask (this percentile and its mirror,
        the upper end widened by half the spread) are dropped from every mask. None disables the prior.
    min_in_band : float
        Stop when less than this fraction of the model's mask lies within the band: the box has slid off the
        structure onto a neighbour of another brightness.
    progress, cancel
        ``progress(fraction, message)``; ``cancel.is_set()`` stops early.

    Returns
    -------
    PropagationResult
        Boolean ``(z, y, x)`` mask, slices segmented, why each direction stopped, and the cuts kept.

    Raises
    ------
    AIInputError
        Bad box / slice / axis / parameters, or the box finds nothing on the seed slice.
    """
    if intensity_floor_percentile is not None and not 0 <= intensity_floor_percentile < 100:
        raise AIInputError(f"the intensity floor is a percentile in [0, 100), got {intensity_floor_percentile}")
    if pad < 1 or min_pixels < 1 or max_growth <= 1 or not 0 <= min_overlap <= 1:
        raise AIInputError("propagation needs pad >= 1, min_pixels >= 1, max_growth > 1 and 0 <= min_overlap <= 1")
    seed = model.segment_slice(volume, box, index, axis, recipe)
    if not seed.mask.any():
        raise AIInputError(f"the box {seed.box} finds nothing on {axis} slice {index}")
    image = get_slice(volume.array, axis, index)
    band = None if intensity_floor_percentile is None else intensity_band(image[seed.mask], intensity_floor_percentile)
    seed_mask = seed.mask if band is None else seed.mask & (image >= band[0]) & (image <= band[1])
    cuts = box_cuts(seed.mask, seed.box) if keep_box_cuts else BoxCuts()
    prompter = _SlicePrompter(
        model, volume, axis, recipe, cuts, pad=pad, pad_fraction=pad_fraction, min_pixels=min_pixels,
        uncovered_fraction=uncovered_fraction, reach=reach, band=band, vote=vote,
    )
    mask3 = np.zeros(volume.array.shape, dtype=bool)
    get_slice(mask3, axis, index)[...] = seed_mask
    n = slice_count(volume.array.shape, axis)
    done = [index]
    stopped: dict[str, str] = {}
    limit = n if max_slices is None else int(max_slices)
    for step, name in ((1, "forward"), (-1, "backward")):
        prev, prev_raw = seed_mask, seed.mask  # refined mask for the checks, model's own mask for the next boxes
        k = index + step
        stopped[name] = "end of volume"
        while 0 <= k < n and abs(k - index) <= limit:
            if cancel is not None and cancel.is_set():
                stopped[name] = "cancelled"
                break
            if not _component_boxes(prev_raw, pad, min_pixels):
                stopped[name] = f"mask vanished at slice {k}"
                break
            raw, new = prompter(prev_raw, k)
            area, before = int(new.sum()), int(prev.sum())
            if area < min_pixels:
                stopped[name] = f"mask vanished at slice {k}"
                break
            if area < min_in_band * int(raw.sum()):
                stopped[name] = f"the structure ended at slice {k} (the model's mask left the seed's intensities)"
                break
            if area > max_growth * max(before, 1) + 4 * pad * pad:
                stopped[name] = f"implausible growth at slice {k} ({before} -> {area} voxels)"
                break
            near = ndimage.binary_dilation(prev_raw, _EIGHT, iterations=pad)
            if np.count_nonzero(new & near) < min_overlap * area:
                stopped[name] = f"mask moved away at slice {k}"
                break
            get_slice(mask3, axis, k)[...] = new
            done.append(k)
            prev, prev_raw = new, raw
            if progress is not None:
                progress(min(len(done) / n, 1.0), f"{axis} slice {k}")
            k += step
    return PropagationResult(mask3, sorted(done), stopped, cuts)
