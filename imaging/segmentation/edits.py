"""Compact, undoable edits of label maps and the constraints every editing tool honours.

A :class:`LabelEdit` keeps only the bounding box of the voxels that changed and the label values there before and
after the edit, so its memory is proportional to the edited region, not to the volume.  :func:`apply_mask_edit` is
the single place where a tool's binary mask becomes a change of the label map: it applies the masking rules
(:class:`EditMask`: only inside a segment or an intensity range, never over locked segments) and returns the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["EditMask", "LabelEdit", "apply_mask_edit", "bounding_box"]

Box = tuple[tuple[int, int, int], tuple[int, int, int]]


def bounding_box(mask: npt.NDArray[np.bool_], *, pad: int = 0) -> Box | None:
    """Smallest box ``(lo, hi)`` (``hi`` exclusive, array order) holding every True voxel, grown by ``pad``.

    Returns None when the mask is empty.  The padded box is clipped to the array.
    """
    mask = np.asarray(mask)
    lo, hi = [], []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=others))
        if not hits.size:
            return None
        lo.append(max(int(hits[0]) - pad, 0))
        hi.append(min(int(hits[-1]) + 1 + pad, mask.shape[axis]))
    return tuple(lo), tuple(hi)  # type: ignore[return-value]


def _slices(box: Box) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in zip(box[0], box[1], strict=True))


@dataclass
class LabelEdit:
    """The change one tool made to a label map: a box and the label values in it before and after.

    Parameters
    ----------
    lo, hi : tuple of int
        Corners of the changed box in array order (``hi`` exclusive).
    before, after : numpy.ndarray
        Label values in the box before and after the edit (same shape and dtype).
    description : str
        What the edit was (for undo menus).
    """

    lo: tuple[int, int, int]
    hi: tuple[int, int, int]
    before: npt.NDArray[np.integer]
    after: npt.NDArray[np.integer]
    description: str = ""
    _changed: int | None = field(default=None, repr=False)

    @classmethod
    def empty(cls, dtype: npt.DTypeLike = np.uint8, description: str = "") -> LabelEdit:
        """An edit that changes nothing."""
        z = np.zeros((0, 0, 0), dtype=dtype)
        return cls((0, 0, 0), (0, 0, 0), z, z.copy(), description)

    @property
    def box(self) -> tuple[slice, ...]:
        """The changed box as slices into the label map."""
        return _slices((self.lo, self.hi))

    @property
    def is_empty(self) -> bool:
        """True when the edit changes no voxel."""
        return self.changed_voxels == 0

    @property
    def changed_voxels(self) -> int:
        """How many voxels the edit changes."""
        if self._changed is None:
            self._changed = int(np.count_nonzero(self.before != self.after))
        return self._changed

    @property
    def nbytes(self) -> int:
        """Memory held by the record (the two sub-arrays)."""
        return int(self.before.nbytes + self.after.nbytes)

    def apply(self, labelmap: npt.NDArray[np.integer]) -> None:
        """Write the edit into ``labelmap`` (redo)."""
        if self.before.size:
            labelmap[self.box] = self.after

    def revert(self, labelmap: npt.NDArray[np.integer]) -> None:
        """Restore ``labelmap`` as it was before the edit (undo)."""
        if self.before.size:
            labelmap[self.box] = self.before


@dataclass(frozen=True)
class EditMask:
    """Where an edit may change voxels (3D Slicer's "masking" options).

    Parameters
    ----------
    inside : int or iterable of int, optional
        Only voxels currently holding one of these labels (0 = background, i.e. only empty voxels) may change.
    intensity : numpy.ndarray, optional
        Image on the label map's grid; with ``intensity_range`` only voxels whose value lies in the range change.
    intensity_range : (float, float), optional
        Inclusive ``(lower, upper)`` bounds.
    locked : iterable of int
        Labels that are never overwritten nor erased.
    """

    inside: int | tuple[int, ...] | None = None
    intensity: npt.NDArray | None = None
    intensity_range: tuple[float, float] | None = None
    locked: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.inside is not None:
            inside = (self.inside,) if np.isscalar(self.inside) else tuple(int(v) for v in self.inside)
            object.__setattr__(self, "inside", inside)
        object.__setattr__(self, "locked", tuple(int(v) for v in self.locked))
        if self.intensity_range is not None:
            lo, hi = (float(v) for v in self.intensity_range)
            if not lo <= hi:
                raise ValueError(f"intensity range lower bound {lo:g} is above the upper bound {hi:g}")
            if self.intensity is None:
                raise ValueError("an intensity range needs the intensity image")
            object.__setattr__(self, "intensity_range", (lo, hi))

    def allowed(self, current: npt.NDArray[np.integer], box: tuple[slice, ...]) -> npt.NDArray[np.bool_] | None:
        """Boolean sub-array of the voxels in ``box`` that may change; None when everything may.

        ``current`` is the label map's content in ``box``.
        """
        ok: npt.NDArray[np.bool_] | None = None
        if self.inside is not None:
            ok = np.isin(current, self.inside)
        if self.intensity_range is not None:
            assert self.intensity is not None
            values = self.intensity[box]
            inr = (values >= self.intensity_range[0]) & (values <= self.intensity_range[1])
            ok = inr if ok is None else ok & inr
        if self.locked:
            free = ~np.isin(current, self.locked)
            ok = free if ok is None else ok & free
        return ok


def apply_mask_edit(
    labelmap: npt.NDArray[np.integer],
    mask: npt.NDArray[np.bool_],
    value: int,
    *,
    mode: str = "paint",
    offset: Iterable[int] = (0, 0, 0),
    allowed: EditMask | npt.NDArray[np.bool_] | None = None,
    locked: Iterable[int] = (),
    description: str = "",
) -> LabelEdit:
    """Paint or erase ``mask`` in ``labelmap`` in place and return the undo record.

    Parameters
    ----------
    labelmap : numpy.ndarray of int
        ``(z, y, x)`` label map, modified in place.
    mask : numpy.ndarray of bool
        Voxels the tool selected: the label map's shape, or a smaller block placed at ``offset``.
    value : int
        The segment's label value.
    mode : {"paint", "erase"}
        ``paint`` sets the selected voxels to ``value`` (overwriting other segments unless locked); ``erase`` sets
        the selected voxels that hold ``value`` to 0 (``value=None`` is not allowed: erase is per segment).
    offset : tuple of int
        Array index of ``mask[0, 0, 0]`` in the label map.
    allowed : EditMask or numpy.ndarray of bool, optional
        Where changes may happen (a full-size boolean array, or an :class:`EditMask`).
    locked : iterable of int
        Labels never changed (in addition to ``allowed.locked``).
    description : str
        Stored in the record.

    Returns
    -------
    LabelEdit
        Changes of the smallest box around the changed voxels (empty if nothing changed).
    """
    if mode not in ("paint", "erase"):
        raise ValueError(f"edit mode must be 'paint' or 'erase', got {mode!r}")
    value = int(value)
    info = np.iinfo(labelmap.dtype)
    if not info.min <= value <= info.max or (mode == "paint" and value == 0):
        raise ValueError(f"label value {value} cannot be painted into a {labelmap.dtype} label map (1..{info.max})")
    mask = np.asarray(mask, dtype=bool)
    offset = tuple(int(o) for o in offset)
    if mask.ndim != labelmap.ndim or len(offset) != labelmap.ndim:
        raise ValueError(f"mask of {mask.ndim} dimensions cannot edit a {labelmap.ndim}-D label map")
    if any(o < 0 or o + n > s for o, n, s in zip(offset, mask.shape, labelmap.shape, strict=True)):
        raise ValueError(f"mask block {mask.shape} at {offset} lies outside the label map {labelmap.shape}")
    local = bounding_box(mask)
    if local is None:
        return LabelEdit.empty(labelmap.dtype, description)
    lo = tuple(o + a for o, a in zip(offset, local[0], strict=True))
    hi = tuple(o + b for o, b in zip(offset, local[1], strict=True))
    box = _slices((lo, hi))  # type: ignore[arg-type]
    sel = mask[_slices(local)]
    current = labelmap[box]
    if isinstance(allowed, EditMask):
        ok = allowed.allowed(current, box)
    elif allowed is not None:
        allowed = np.asarray(allowed, dtype=bool)
        if allowed.shape != labelmap.shape:
            raise ValueError(f"allowed-region shape {allowed.shape} does not match the label map {labelmap.shape}")
        ok = allowed[box]
    else:
        ok = None
    if ok is not None:
        sel = sel & ok
    locked = tuple(int(v) for v in locked)
    if locked:
        sel = sel & ~np.isin(current, locked)
    if mode == "paint":
        sel = sel & (current != value)
        new = value
    else:
        sel = sel & (current == value)
        new = 0
    tight = bounding_box(sel)
    if tight is None:
        return LabelEdit.empty(labelmap.dtype, description)
    sub = _slices(tight)
    lo2 = tuple(a + b for a, b in zip(lo, tight[0], strict=True))
    hi2 = tuple(a + b for a, b in zip(lo, tight[1], strict=True))
    before = current[sub].copy()
    after = before.copy()
    after[sel[sub]] = new
    edit = LabelEdit(lo2, hi2, before, after, description)  # type: ignore[arg-type]
    edit.apply(labelmap)
    return edit
