"""Propagate a LiteMedSAM box through neighbouring slices.

The mask found on the seed slice prompts the next slice: one box per connected component of the previous slice's
mask (its bounding box padded by a few voxels), so a vessel that bifurcates continues as two objects.  Where one box
leaves part of the previous object unexplained (a branch that separates from its trunk between two slices), that
part is prompted again with a box of its own.  Each new mask keeps only the parts that touch the previous mask.

When the model's mask runs into a side of a box (an oblique vessel sliding along its length between slices), the
box grows on that side and the model is asked again, so the object is followed instead of cut by its own box.

Priors keep the propagated masks close to what the user pointed at:

* brightness: voxels darker than a low percentile of the seed mask's own intensities are dropped (LiteMedSAM bleeds
  into darker neighbours where an object narrows or branches); the upper end of the band follows a bright object
  that grows gradually brighter along its length;
* continuity: what is kept on a slice must continue what was kept on the previous one; the next boxes come from the
  model's mask only near it (a mask spread over darker tissue would carry the boxes onto another structure); and a
  piece far fainter than the others is a neighbour's partial-volume rim, not a branch;
* shape: where the model's mask falls short of what the previous slice kept (LiteMedSAM under-segments parts of a
  bright vessel from one slice to the next, leaving notches along its side), the object's voxels there are filled
  back: in the intensity band, closer to the object's brightness than to its surroundings', within a few
  pixels of the new mask and inside its convex hull (a notch, not an object that shrinks towards its end);
* box cuts: a side of the user's box that the seed mask runs into without narrowing is a cut through a structure
  that goes on (a vessel boxed between two levels); the cut is kept as a clipping line on every propagated slice,
  so the segment keeps the extent the user chose instead of creeping along the structure. A box is drawn around
  its object with a margin (the model was trained on such boxes); the margin the user left on the sides where the
  object ends inside the box says where the object was meant to end at a cut side too, so the line lies that far
  inside it (a tight box cuts at its edge).

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

__all__ = [
    "BoxCuts",
    "PropagationResult",
    "box_cuts",
    "drop_faint_pieces",
    "fill_from_previous",
    "intensity_band",
    "propagate_box",
    "within_band",
]

_EIGHT = np.ones((3, 3), bool)
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class BoxCuts:
    """Sides of the seed box that cut through the structure: the clipping lines kept while propagating.

    Each side is the box's own coordinate (inclusive voxel index) or None when that side does not cut the structure.
    Boxes for the model stop at the sides; masks stop ``margin`` voxels inside them, the margin the user drew around
    the object where it ends inside the box.
    """

    x0: int | None = None
    y0: int | None = None
    x1: int | None = None
    y1: int | None = None
    margin: int = 0

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
        m = self.margin
        if self.x0 is not None:
            mask[:, : self.x0 + m] = False
        if self.x1 is not None:
            mask[:, self.x1 - m + 1 :] = False
        if self.y0 is not None:
            mask[: self.y0 + m] = False
        if self.y1 is not None:
            mask[self.y1 - m + 1 :] = False
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
    cut = (
        x0 > 0 and reaches(col_widths),
        y0 > 0 and reaches(row_widths),
        x1 < w - 1 and reaches(col_widths[::-1]),
        y1 < h - 1 and reaches(row_widths[::-1]),
    )
    if not any(cut):
        return BoxCuts()
    return BoxCuts(
        x0=x0 if cut[0] else None,
        y0=y0 if cut[1] else None,
        x1=x1 if cut[2] else None,
        y1=y1 if cut[3] else None,
        margin=_drawn_margin(inside, cut),
    )


def _drawn_margin(inside: npt.NDArray[np.bool_], cut: tuple[bool, bool, bool, bool], most: float = 0.25) -> int:
    """The margin drawn around the object in a box: its smallest gap to a side it ends inside of (0 if none).

    ``inside`` is the mask within the box, ``cut`` flags the sides (x0, y0, x1, y1) that cut the structure. A gap is
    measured to the object's body, the first row or column where the object is at least half its typical width,
    so that a tapering end (an oblique vessel's tip reaching into a corner of the box) or a stray pixel does not
    pass for a narrow margin; never more than ``most`` of the box's shorter side.
    """
    h, w = inside.shape

    def body(widths: npt.NDArray[np.integer]) -> npt.NDArray[np.intp]:
        nonzero = widths[widths > 0]
        return np.flatnonzero(widths >= 0.5 * float(np.median(nonzero)))

    rows, cols = body(inside.sum(axis=1)), body(inside.sum(axis=0))
    gaps = (int(cols[0]), int(rows[0]), w - 1 - int(cols[-1]), h - 1 - int(rows[-1]))
    free = [gap for gap, is_cut in zip(gaps, cut, strict=True) if not is_cut]
    if not free:
        return 0
    return max(0, min(min(free), int(most * min(h, w))))


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


def drop_faint_pieces(
    mask: npt.NDArray[np.bool_],
    image: npt.NDArray[Any],
    band: tuple[float, float],
    centre: float,
    polarity: int = 1,
    ratio: float = 0.5,
) -> npt.NDArray[np.bool_]:
    """``mask`` without its pieces that stand out from the surroundings less than ``ratio`` times the clearest one.

    The pieces of one object on a slice (the branches of a vessel, the lobes of an organ) stand out from their
    surroundings alike. A piece whose median lies close to the band's edge on the surroundings' side, while another
    piece stands out clearly, is the partial-volume rim of a neighbour that a box also caught (a small vessel
    running beside a branch): it is dropped. A piece's contrast is its median's distance from that edge (``band[0]``
    for an object brighter than its surroundings, ``polarity`` > 0; ``band[1]`` for a darker one), counted only up
    to the seed's typical value ``centre``, so an object that grows brighter along its length does not make its
    other pieces look faint. A mask of one piece, or of pieces all equally faint (an object fading out), is kept.

    Parameters
    ----------
    mask : ndarray of bool
        One slice's mask.
    image : ndarray
        That slice's intensities.
    band : tuple of float
        The object's intensity band ``(low, high)``, see :func:`intensity_band`.
    centre : float
        The seed object's typical (median) intensity.
    polarity : int
        +1 for an object brighter than its surroundings, -1 for a darker one.
    ratio : float
        Pieces with less than this fraction of the clearest piece's contrast go.
    """
    labels, count = ndimage.label(mask, structure=_EIGHT)
    if count < 2:
        return mask
    medians = np.asarray(ndimage.median(image, labels, np.arange(1, count + 1)), float)
    bright = polarity > 0
    contrast = np.minimum(medians, centre) - band[0] if bright else band[1] - np.maximum(medians, centre)
    if contrast.max() <= 0:
        return mask
    keep = np.concatenate([[False], contrast >= ratio * contrast.max()])
    return keep[labels]


def fill_from_previous(
    mask: npt.NDArray[np.bool_],
    prev: npt.NDArray[np.bool_],
    allowed: npt.NDArray[np.bool_],
    steps: int = 3,
) -> npt.NDArray[np.bool_]:
    """``mask`` plus the voxels of ``prev & allowed`` it reaches within ``steps`` 8-connected steps through them.

    The previous slice's mask is a shape prior: where the model's mask on this slice falls short of it in a notch
    (within the convex hull of the piece it cuts into: a vessel's side that the previous slice did not have
    indented) and the intensities say object (``allowed``), the voxels belong to the object. An object that
    shrinks from one slice to the next (a tapering end) is not held at the previous extent: that lies outside the
    hull. ``steps`` bounds the fill so that the prior never carries a whole piece the model dropped (an object
    that ended) onto this slice. Holes the fill closes are filled too.

    Parameters
    ----------
    mask : ndarray of bool
        This slice's mask after the priors.
    prev : ndarray of bool
        What was kept on the previous slice.
    allowed : ndarray of bool
        Voxels whose intensity says object, see :meth:`_SlicePrompter.object_like`.
    steps : int
        Pixels the fill may reach from ``mask``; 0 returns ``mask`` unchanged.
    """
    if steps <= 0 or not mask.any():
        return mask
    room = prev & allowed & ~mask
    if room.any():
        room &= _convex_hulls(mask)
    if not room.any():
        return mask
    grown = mask.copy()
    for _ in range(steps):
        more = ndimage.binary_dilation(grown, _EIGHT) & room & ~grown
        if not more.any():
            break
        grown |= more
    return ndimage.binary_fill_holes(grown)


def _convex_hulls(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The union of the convex hulls (pixel centres inside or on the hull) of the 8-connected pieces of ``mask``."""
    from scipy.spatial import ConvexHull, QhullError

    out = mask.copy()
    labels, _ = ndimage.label(mask, structure=_EIGHT)
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        rows, cols = np.nonzero(labels[sl] == i)
        if rows.size < 3:
            continue
        points = np.column_stack([rows, cols]).astype(float)
        try:
            facets = ConvexHull(points).equations  # rows (ny, nx, offset): inside where ny y + nx x + offset <= 0
        except (QhullError, ValueError):  # collinear: a straight line is its own hull
            continue
        yy, xx = np.mgrid[0 : sl[0].stop - sl[0].start, 0 : sl[1].stop - sl[1].start]
        distance = facets[:, 0, None, None] * yy + facets[:, 1, None, None] * xx + facets[:, 2, None, None]
        out[sl] |= (distance <= 1e-9).all(axis=0)
    return out


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


def _closing(mask: npt.NDArray[np.bool_], structure: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Binary closing of ``mask`` by ``structure`` that does not erode at the slice's edges."""
    py, px = (s // 2 + 1 for s in structure.shape)
    padded = np.pad(mask, ((py, py), (px, px)))
    return ndimage.binary_closing(padded, structure)[py:-py, px:-px]


def _slice_spacing(volume: Volume, axis: str) -> tuple[float, float]:
    """Millimetres per row and per column of the 2-D slices along ``axis`` (see :func:`get_slice`)."""
    sx, sy, sz = (float(v) for v in volume.spacing)
    return {"axial": (sy, sx), "coronal": (sz, sx), "sagittal": (sz, sy)}[axis]


class _SlicePrompter:
    """Segments one slice from the previous slice's mask: boxes per piece, re-prompts for uncovered parts, cuts."""

    def __init__(
        self, model: LiteMedSAM, volume: Volume, axis: str, recipe: str, cuts: BoxCuts, *, pad: int,
        pad_fraction: float, min_pixels: int, uncovered_fraction: float, reach: int, band: tuple[float, float] | None,
        vote: bool = True, denoise: float = 0.0, max_pad_mm: float = 20.0, follow: int = 2,
        centre: float | None = None, polarity: int = 1, faint: float = 0.5, continuity: bool = True,
        level: float | None = None, rise_fraction: float = 0.5, bridge_mm: float = 0.0,
        surround: float | None = None, fill: int = 0,
    ) -> None:
        rows_mm, cols_mm = _slice_spacing(volume, axis)
        self.max_pad = (max(1, round(max_pad_mm / rows_mm)), max(1, round(max_pad_mm / cols_mm)))
        self.denoise = denoise
        self.model, self.volume, self.axis, self.recipe, self.cuts = model, volume, axis, recipe, cuts
        # LiteMedSAM's mask depends on the box margin; a vote over three margins steadies it from slice to slice.
        self.pad = pad
        self.pads = sorted({max(1, round(pad * 2 / 3)), pad, round(pad * 4 / 3)}) if vote else [pad]
        self.pad_fraction, self.min_pixels = pad_fraction, min_pixels
        self.uncovered_fraction, self.reach, self.band = uncovered_fraction, reach, band
        self.follow, self.centre, self.polarity, self.faint = follow, centre, polarity, faint
        self.continuity = continuity
        self.surround, self.fill = surround, fill
        self.filled = 0  # voxels the last call filled back from the previous slice
        # A bright object may grow brighter along its length (contrast, inflow, a vessel widening out of partial
        # volume); its band's upper end follows its median when that rises gradually (see track_level).
        self.seed_band, self.seed_level = band, level
        self.max_rise = 0.0 if band is None or centre is None else rise_fraction * max(centre - band[0], 0.0)
        self.level = level
        self._asked: dict[tuple[Box, int], npt.NDArray[np.bool_]] = {}
        self.bridge = None
        if bridge_mm > 0:
            ry, rx = bridge_mm / rows_mm, bridge_mm / cols_mm
            yy, xx = np.mgrid[-int(ry) : int(ry) + 1, -int(rx) : int(rx) + 1]
            disk = (yy / ry) ** 2 + (xx / rx) ** 2 <= 1.0
            self.bridge = disk if disk.sum() > 1 else None

    def reset(self) -> None:
        """Back to the seed's band before propagating in the other direction."""
        self.band, self.level = self.seed_band, self.seed_level

    def track_level(self, raw: npt.NDArray[np.bool_], k: int) -> None:
        """Raise the band's upper end with the object's median on slice ``k`` when it rose by at most ``max_rise``.

        Only for an object brighter than its surroundings (``polarity`` > 0): brighter is then away from them. A
        jump larger than ``max_rise`` is not followed: that is the box sliding onto a brighter neighbour (bone,
        contrast in another structure), which :meth:`above_band_fraction` then reports.
        """
        if self.band is None or self.level is None or self.polarity <= 0 or not raw.any():
            return
        values = get_slice(self.volume.array, self.axis, k)[raw]
        values = values[values >= self.band[0]]
        if values.size == 0:
            return
        rise = float(np.median(values)) - self.level
        if 0.0 < rise <= self.max_rise:
            self.level += rise
            self.band = (self.band[0], self.band[1] + rise)

    def _box_mask(self, box: Box, k: int) -> npt.NDArray[np.bool_]:
        """The model's mask for ``box`` on slice ``k``, limited to the box."""
        # Margins in proportion to the object often give the same box for all three votes: ask the model once.
        key = (box, k)
        if key not in self._asked:
            if len(self._asked) > 64:
                self._asked.clear()
            out = np.zeros(get_slice(self.volume.array, self.axis, k).shape, bool)
            _add_box_mask(out, self.model.segment_slice(self.volume, box, k, self.axis, self.recipe).mask, box)
            self._asked[key] = out
        return self._asked[key].copy()

    def _open_sides(self, mask: npt.NDArray[np.bool_], box: Box, margin: int = 2) -> list[int]:
        """Sides of ``box`` (0..3 for x0, y0, x1, y1) that ``mask`` runs into, other than cuts and the slice's edge."""
        x0, y0, x1, y1 = box
        h, w = mask.shape
        limits = self.cuts.clip_box((0, 0, w - 1, h - 1))
        inside = mask[y0 : y1 + 1, x0 : x1 + 1]
        if not inside.any():
            return []
        rows, cols = inside.any(axis=1), inside.any(axis=0)
        touches = (cols[:margin].any(), rows[:margin].any(), cols[-margin:].any(), rows[-margin:].any())
        at_limit = (x0 <= limits[0], y0 <= limits[1], x1 >= limits[2], y1 >= limits[3])
        return [side for side in range(4) if touches[side] and not at_limit[side]]

    def _follow(self, piece: npt.NDArray[np.bool_], k: int) -> npt.NDArray[np.bool_]:
        """Where ``piece`` (one connected part of the previous mask) went on slice ``k``: what to cast the votes around.

        The first box is the piece's own, padded. When the model's mask runs into a side of it (an oblique vessel
        sliding along its length from slice to slice, a branch leaving its box) the box grows on that side by one
        margin and the model is asked again, up to ``follow`` times; the votes are then cast around the object as
        this slice shows it, within ``reach`` of the piece it continues. Without growth it is the piece itself.
        """
        boxes = _component_boxes(piece, self.pad, 1, self.pad_fraction, self.max_pad)
        if len(boxes) != 1:
            return piece
        box = boxes[0]
        h, w = piece.shape
        limits = self.cuts.clip_box((0, 0, w - 1, h - 1))
        mask = self._box_mask(box, k)
        grown = False
        for _ in range(self.follow):
            sides = self._open_sides(mask, box)
            if not sides:
                break
            ext = list(box)
            for side in sides:
                span = box[2] - box[0] if side in (0, 2) else box[3] - box[1]
                grow = max(self.pad, min(round(self.pad_fraction * span), self.max_pad[1 - side % 2]))
                ext[side] = max(ext[side] - grow, limits[side]) if side < 2 else min(ext[side] + grow, limits[side])
            box = (ext[0], ext[1], ext[2], ext[3])
            mask = self._box_mask(box, k)
            grown = True
        if not grown:
            return piece
        found = _touching(mask, piece, self.reach)
        return found if found.any() else piece

    def _prompt(self, new: npt.NDArray[np.bool_], k: int, pieces: npt.NDArray[np.bool_], min_pixels: int) -> None:
        """Add to ``new``, per piece of ``pieces``, the majority vote of the masks from boxes padded by each pad."""
        labels, count = ndimage.label(pieces, structure=_EIGHT)
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        for i in range(1, count + 1):
            if sizes[i] < min_pixels:
                continue
            piece = labels == i
            basis = self._follow(piece, k) if self.follow else piece
            votes = np.zeros(new.shape, np.uint8)
            for pad in self.pads:
                one = np.zeros_like(new)
                for b in _component_boxes(basis, pad, 1, self.pad_fraction, self.max_pad):
                    one |= self._box_mask(b, k)
                votes += one
            new |= 2 * votes > len(self.pads)

    def __call__(
        self, prev_raw: npt.NDArray[np.bool_], k: int, prev: npt.NDArray[np.bool_] | None = None
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """``(raw, refined)`` masks of slice ``k``: the model's own (for the next boxes) and after the priors."""
        new = np.zeros_like(prev_raw)
        self._prompt(new, k, prev_raw, self.min_pixels)
        leftover_min = max(self.min_pixels, round(self.uncovered_fraction * int(prev_raw.sum())))
        self._prompt(new, k, _uncovered(prev_raw, new), leftover_min)
        raw = self.cuts.clip_mask(_touching(new, prev_raw, self.reach))
        self.track_level(raw, k)
        # The band trims rims and leaks; noise inside the object must not punch holes in it.
        in_band = self.in_band(k)
        refined = ndimage.binary_fill_holes(raw & in_band)
        if self.bridge is not None:
            # Two boxes over one object (a trunk and the branch leaving it) can leave a seam between their masks,
            # and the model's outline can have narrow notches; in-band voxels there belong to the object.
            refined |= self.cuts.clip_mask(_closing(refined, self.bridge)) & in_band
        self.filled = 0
        if prev is not None and self.fill > 0:
            allowed = self.object_like(k)
            if allowed is not None:
                before = int(np.count_nonzero(refined))
                refined = self.cuts.clip_mask(fill_from_previous(refined, prev, in_band & allowed, self.fill))
                self.filled = int(np.count_nonzero(refined)) - before
        refined = _without_specks(refined, self.min_pixels)
        if prev is not None and self.continuity:
            # What the priors kept must continue what they kept on the previous slice: the model's own mask may
            # have spread over darker tissue there, and a box around that would reach a structure beyond it.
            refined = _touching(refined, prev, self.reach)
        return raw, self.without_faint(refined, k)

    def object_like(self, k: int, denoise: float = 1.0) -> npt.NDArray[np.bool_] | None:
        """Voxels of slice ``k`` closer to the seed object's brightness than to its surroundings' (None if unknown).

        The half-way level between the object's typical value and its surroundings' is where a blurred edge lies;
        the slice is smoothed by ``denoise`` pixels first so that noise in a neighbour of nearly the object's
        brightness (the liver around a hypodense tumour) does not pass for the object.
        """
        if self.centre is None or self.surround is None:
            return None
        image = ndimage.gaussian_filter(get_slice(self.volume.array, self.axis, k).astype(np.float32), denoise)
        half = 0.5 * (self.centre + self.surround)
        return image >= half if self.polarity > 0 else image <= half

    def without_faint(self, mask: npt.NDArray[np.bool_], k: int) -> npt.NDArray[np.bool_]:
        """``mask`` without the pieces much fainter than the clearest one, see :func:`drop_faint_pieces`."""
        if self.band is None or self.centre is None or self.faint <= 0:
            return mask
        image = get_slice(self.volume.array, self.axis, k)
        return drop_faint_pieces(mask, image, self.band, self.centre, self.polarity, self.faint)

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
    follow: int = 2,
    carry: int | None = 3,
    drop_faint: bool = True,
    continuity: bool = True,
    track_brightening: bool = True,
    bridge_mm: float = 3.0,
    fill: int = 3,
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
    follow : int
        When the model's mask runs into a side of a piece's box (an oblique vessel sliding along its length, a
        branch leaving its box), grow that side by one margin and ask again, up to this many times; 0 never.
    carry : int or None
        The next slice's boxes come from the model's mask within this many voxels of what the priors kept; None
        carries the model's whole mask, including parts spread over darker tissue that lead the boxes astray.
    drop_faint : bool
        Drop pieces that stand out from their surroundings much less than the clearest piece on the slice
        (:func:`drop_faint_pieces`).
    continuity : bool
        Keep only the pieces within ``reach`` of what was kept on the previous slice.
    track_brightening : bool
        For an object brighter than its surroundings, let the band's upper end follow the object's median where
        it rises gradually along the object (by at most half the seed's core-to-floor contrast per slice), so a
        vessel growing brighter is neither trimmed nor taken for a brighter neighbour.
    bridge_mm : float
        Add the in-band voxels that a closing of the mask by a disc of this radius fills: seams between the masks
        of two boxes over one object, notches in the model's outline. 0 disables.
    fill : int
        Fill back, up to this many pixels from the mask, the object-like voxels of what was kept on the previous
        slice (:func:`fill_from_previous`): the model leaves wide shallow notches along a vessel's side that the
        closing cannot bridge. Needs the intensity prior; 0 disables.
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
    if follow < 0 or (carry is not None and carry < 0) or bridge_mm < 0 or fill < 0:
        raise AIInputError("propagation needs follow >= 0, carry >= 0 (or None), bridge_mm >= 0 and fill >= 0")
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
    centre = float(np.median(image[core])) if band is not None else None
    ring = ndimage.binary_dilation(seed.mask, _EIGHT, iterations=4) & ~ndimage.binary_dilation(seed.mask, _EIGHT)
    polarity = 1 if centre is None or not ring.any() or centre >= float(np.median(image[ring])) else -1
    # The surroundings' typical value, a little away from the rim (partial volume) for the half-way level.
    around = ndimage.binary_dilation(seed.mask, _EIGHT, iterations=6) & ~ndimage.binary_dilation(
        seed.mask, _EIGHT, iterations=2
    )
    surround = float(np.median(image[around])) if centre is not None and around.any() else None
    level = None
    if band is not None and track_brightening:
        above = image[seed.mask][image[seed.mask] >= band[0]]
        level = float(np.median(above)) if above.size else None
    cuts = box_cuts(seed.mask, seed.box) if keep_box_cuts else BoxCuts()
    seed_raw = cuts.clip_mask(seed.mask.copy())
    seed_mask = seed_raw if band is None else ndimage.binary_fill_holes(seed_raw & within_band(image, band, denoise))
    prompter = _SlicePrompter(
        model, volume, axis, recipe, cuts, pad=pad, pad_fraction=pad_fraction, min_pixels=min_pixels,
        uncovered_fraction=uncovered_fraction, reach=reach, band=band, vote=vote, denoise=denoise,
        max_pad_mm=max_pad_mm, follow=follow, centre=centre, polarity=polarity, continuity=continuity, level=level,
        faint=0.5 if drop_faint else 0.0, bridge_mm=bridge_mm, surround=surround, fill=fill,
    )
    mask3 = np.zeros(volume.array.shape, dtype=bool)
    get_slice(mask3, axis, index)[...] = seed_mask
    n = slice_count(volume.array.shape, axis)
    done = [index]
    stopped: dict[str, str] = {}
    limit = n if max_slices is None else int(max_slices)
    for step, name in ((1, "forward"), (-1, "backward")):
        prompter.reset()
        prev, prev_raw = seed_mask, seed_raw  # refined mask for the checks, model's own mask for the next boxes
        k = index + step
        stopped[name] = "end of volume"
        while 0 <= k < n and abs(k - index) <= limit:
            if cancel is not None and cancel.is_set():
                stopped[name] = "cancelled"
                break
            if not _component_boxes(prev_raw, pad, min_pixels):
                stopped[name] = f"mask vanished at slice {k}"
                break
            raw, new = prompter(prev_raw, k, prev)
            area, before = int(new.sum()), int(prev.sum())
            if area < min_pixels:
                stopped[name] = f"mask vanished at slice {k}"
                break
            if prompter.above_band_fraction(raw, k) > max_above_band:
                stopped[name] = f"the box slid onto a brighter structure at slice {k}"
                break
            # What the fill brought back lies within the previous mask: not growth.
            if area - prompter.filled > max_growth * max(before, 1) + 4 * pad * pad:
                stopped[name] = f"implausible growth at slice {k} ({before} -> {area} voxels)"
                break
            near = ndimage.binary_dilation(prev_raw, _EIGHT, iterations=pad)
            if np.count_nonzero(new & near) < min_overlap * area:
                stopped[name] = f"mask moved away at slice {k}"
                break
            get_slice(mask3, axis, k)[...] = new
            done.append(k)
            # The next boxes come from the model's own mask where the priors kept the object: the model's mask
            # is fuller at the rims (tight boxes make it under-segment), but a part the priors dropped altogether
            # (a darker neighbour it leaked into) must not carry boxes onto the next slice.
            if carry is not None:
                raw = raw & ndimage.binary_dilation(new, _EIGHT, iterations=carry)
            prev, prev_raw = new, raw
            if progress is not None:
                progress(min(len(done) / n, 1.0), f"{axis} slice {k}")
            k += step
    return PropagationResult(mask3, sorted(done), stopped, cuts)
