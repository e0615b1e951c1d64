"""Propagate a LiteMedSAM box through neighbouring slices.

The mask found on the seed slice prompts the next slice: one box per connected component of the previous slice's
mask (its bounding box padded by a few voxels), so a vessel that bifurcates continues as two objects.  Where one box
leaves part of the previous object unexplained (a branch that separates from its trunk between two slices), that
part is prompted again with a box of its own.  Each new mask keeps only the parts that touch the previous mask.

Two priors keep the propagated masks close to what the user pointed at:

* brightness: voxels darker than a low percentile of the seed mask's own intensities are dropped (LiteMedSAM bleeds
  into darker neighbours where an object narrows or branches);
* box cuts: a side of the user's box that the seed mask runs into without narrowing is a cut through a structure
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

__all__ = ["BoxCuts", "PropagationResult", "box_cuts", "intensity_band", "propagate_box", "within_band"]

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


def box_cuts(mask: npt.NDArray[np.bool_], box: Box, band: int = 4, min_ratio: float = 0.8) -> BoxCuts:
    """The sides of ``box`` that ``mask`` runs into without narrowing: cuts through a structure that goes on.

    A rounded object boxed tightly (an organ, a tumour) narrows as it nears the side it touches; a structure that
    continues beyond the side (a vessel or bone boxed between two levels) reaches it with its full width. A side is
    a cut when the object's widest extent within ``band`` voxels of it is at least ``min_ratio`` times its typical
    (median) width over the ``2 * band`` rows or columns further in.

    Parameters
    ----------
    mask : ndarray of bool
        The seed slice's mask.
    box : tuple
        ``(x0, y0, x1, y1)``, inclusive voxel indices.
    band : int
        Rows/columns next to a side that count as reaching it (the model's masks stop a few voxels short).
    min_ratio : float
        Width at the side relative to the width further in.
    """
    x0, y0, x1, y1 = box
    inside = mask[y0 : y1 + 1, x0 : x1 + 1]
    if not inside.any():
        return BoxCuts()
    row_widths = inside.sum(axis=1)  # width across each row: what meets the top and bottom sides
    col_widths = inside.sum(axis=0)

    def reaches(widths: npt.NDArray[np.integer]) -> bool:
        """Whether the object meets the side at index 0 of ``widths`` with its full width."""
        if np.count_nonzero(widths) < 4 * band:  # too small to tell a cut from a tight box
            return False
        edge = int(widths[:band].max(initial=0))
        further = widths[band : 3 * band]
        further = further[further > 0]
        return edge >= 2 and further.size > 0 and edge >= min_ratio * float(np.median(further))

    h, w = mask.shape
    return BoxCuts(
        x0=x0 if x0 > 0 and reaches(col_widths) else None,
        y0=y0 if y0 > 0 and reaches(row_widths) else None,
        x1=x1 if x1 < w - 1 and reaches(col_widths[::-1]) else None,
        y1=y1 if y1 < h - 1 and reaches(row_widths[::-1]) else None,
    )


def intensity_band(
    values: npt.NDArray[Any], percentile: float = 10.0, core_values: npt.NDArray[Any] | None = None
) -> tuple[float, float]:
    """The seed object's intensity band ``(low, high)`` from its voxel ``values``.

    ``low`` is the ``percentile``-th percentile of ``values``; ``high`` the mirror percentile plus half the spread
    between the two, both taken over ``core_values`` when given (the mask's interior: the rim of a dark object mixes
    in its brighter surroundings). Partial-volume rims and darker neighbours fall below the band, brighter
    neighbours (bone, contrast, a kidney beside the liver, the liver around a hypodense tumour) above it, while the
    object's own brightness variation along its length stays inside.
    """
    core = values if core_values is None or core_values.size == 0 else core_values
    lo = float(np.percentile(values, percentile))
    core_lo, core_hi = (float(v) for v in np.percentile(core, [percentile, 100.0 - percentile]))
    return lo, core_hi + 0.5 * (core_hi - core_lo)


def within_band(image: npt.NDArray[Any], band: tuple[float, float], denoise: float = 0.0) -> npt.NDArray[np.bool_]:
    """Pixels of a 2-D ``image`` whose value, smoothed with a Gaussian of ``denoise`` pixels, lies in ``band``.

    Smoothing first keeps image noise from scattering in-band specks over a neighbour of nearly the same brightness
    (a hypodense tumour inside the liver) while moving an object's edge by well under a pixel.
    """
    values = image.astype(np.float32)
    if denoise > 0:
        values = ndimage.gaussian_filter(values, denoise)
    return (values >= band[0]) & (values <= band[1])


def _component_boxes(
    mask: npt.NDArray[np.bool_],
    pad: int,
    min_pixels: int,
    pad_fraction: float = 0.0,
    max_pad: tuple[int, int] = (1 << 30, 1 << 30),
) -> list[Box]:
    """One padded bounding box per connected piece of ``mask`` of at least ``min_pixels`` voxels.

    Each side is padded by ``pad`` voxels or ``pad_fraction`` of the piece's extent, whichever is more, but the
    fraction never adds more than ``max_pad`` (rows, columns).
    """
    labels, _ = ndimage.label(mask, structure=_EIGHT)
    h, w = mask.shape
    boxes = []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None or np.count_nonzero(labels[sl] == i) < min_pixels:
            continue
        py = max(pad, min(round(pad_fraction * (sl[0].stop - sl[0].start)), max_pad[0]))
        px = max(pad, min(round(pad_fraction * (sl[1].stop - sl[1].start)), max_pad[1]))
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


def _slice_spacing(volume: Volume, axis: str) -> tuple[float, float]:
    """Millimetres per row and per column of the 2-D slices along ``axis`` (see :func:`get_slice`)."""
    sx, sy, sz = (float(v) for v in volume.spacing)
    return {"axial": (sy, sx), "coronal": (sz, sx), "sagittal": (sz, sy)}[axis]


class _SlicePrompter:
    """Segments one slice from the previous slice's mask: boxes per piece, re-prompts for uncovered parts, cuts."""

    def __init__(
        self, model: LiteMedSAM, volume: Volume, axis: str, recipe: str, cuts: BoxCuts, *, pad: int,
        pad_fraction: float, min_pixels: int, uncovered_fraction: float, reach: int, band: tuple[float, float] | None,
        vote: bool = True, denoise: float = 0.0, max_pad_mm: float = 20.0,
    ) -> None:
        rows_mm, cols_mm = _slice_spacing(volume, axis)
        self.max_pad = (max(1, round(max_pad_mm / rows_mm)), max(1, round(max_pad_mm / cols_mm)))
        self.denoise = denoise
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
            for b in _component_boxes(pieces, pad, min_pixels, self.pad_fraction, self.max_pad):
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
        # The band trims rims and leaks; noise inside the object must not punch holes in it.
        refined = ndimage.binary_fill_holes(raw & self.in_band(k))
        return raw, _without_specks(refined, self.min_pixels)

    def above_band_fraction(self, raw: npt.NDArray[np.bool_], k: int) -> float:
        """Fraction of the model's mask on slice ``k`` brighter than the seed object ever is."""
        if self.band is None or not raw.any():
            return 0.0
        values = get_slice(self.volume.array, self.axis, k)[raw]
        return float(np.count_nonzero(values > self.band[1])) / values.size

    def in_band(self, k: int) -> npt.NDArray[np.bool_] | bool:
        """Voxels of slice ``k`` within the seed's intensity band (True everywhere without the prior)."""
        if self.band is None:
            return True
        return within_band(get_slice(self.volume.array, self.axis, k), self.band, self.denoise)


def propagate_box(
    model: LiteMedSAM,
    volume: Volume,
    box: tuple[float, float, float, float],
    index: int,
    axis: str = "axial",
    *,
    recipe: str = "auto",
    pad: int = 4,
    pad_fraction: float = 0.25,
    min_pixels: int = 10,
    max_growth: float = 1.4,
    min_overlap: float = 0.5,
    max_slices: int | None = None,
    uncovered_fraction: float = 0.1,
    reach: int = 3,
    keep_box_cuts: bool = True,
    vote: bool = True,
    intensity_floor_percentile: float | None = 10.0,
    max_above_band: float = 0.5,
    core_erosion: int = 1,
    max_pad_mm: float = 20.0,
    denoise: float = 0.0,
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
        Pad by this fraction of the piece's extent along each slice axis when that is more than ``pad``: a
        structure moves and grows between slices in proportion to its size.
    max_pad_mm : float
        ... but never by more than this many millimetres: even a large organ's outline moves little from one slice
        to the next, and a wider box invites the neighbours in.
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
    max_above_band : float
        Stop when more than this fraction of the model's mask is brighter than the band: the box has slid off a
        dark object (a hypodense tumour, a cyst) onto the brighter organ around it, or onto bone. The dark side is
        not a stop: partial volume darkens every bright object towards its ends.
    denoise : float
        Gaussian smoothing (pixels) of each slice before the band test, see :func:`within_band`; 0 keeps edges
        exact (best for small objects at coarse resolution).
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
    core = ndimage.binary_erosion(seed.mask, _EIGHT, iterations=core_erosion) if core_erosion else seed.mask
    if np.count_nonzero(core) < min_pixels:  # too thin to have a core: its rim is all there is
        core = seed.mask
    band = None
    if intensity_floor_percentile is not None:
        band = intensity_band(image[seed.mask], intensity_floor_percentile, image[core])
    seed_mask = seed.mask if band is None else ndimage.binary_fill_holes(seed.mask & within_band(image, band, denoise))
    cuts = box_cuts(seed.mask, seed.box) if keep_box_cuts else BoxCuts()
    prompter = _SlicePrompter(
        model, volume, axis, recipe, cuts, pad=pad, pad_fraction=pad_fraction, min_pixels=min_pixels,
        uncovered_fraction=uncovered_fraction, reach=reach, band=band, vote=vote, denoise=denoise,
        max_pad_mm=max_pad_mm,
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
            if prompter.above_band_fraction(raw, k) > max_above_band:
                stopped[name] = f"the box slid onto a brighter structure at slice {k}"
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
