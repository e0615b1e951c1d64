"""Undoable edits of the case model: label-map commands, a bounded command stack, and segment helpers.

Qt-free like the rest of :mod:`app.case`. Every segmentation edit becomes one :class:`LabelMapCommand` holding a
:class:`~imaging.segmentation.edits.LabelEdit` (the bounding box of the changed voxels with their values before and
after), so undo memory follows the size of the edit, not of the volume. Consecutive brush dabs of one mouse drag
carry the same ``merge_key`` and fold into one command (one undo step per stroke).

:class:`CommandStack` keeps the history, redoes and undoes, tracks the clean (saved) position and drops the oldest
commands when the history exceeds its memory budget.

The segment helpers (:func:`remove_segment`, :func:`rename_segment`, locks, :func:`set_segment_mask`...) work on
:class:`~app.case.nodes.SegmentationNode` without changing it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from psygnal import Signal

from app.case.nodes import Segment, SegmentationNode
from imaging.segmentation.edits import EditMask, LabelEdit, apply_mask_edit, bounding_box

__all__ = [
    "AddSegmentCommand",
    "Command",
    "CommandStack",
    "LabelMapCommand",
    "RemoveSegmentCommand",
    "apply_label_edit",
    "is_segment_locked",
    "locked_labels",
    "merge_label_edits",
    "remove_segment",
    "rename_segment",
    "set_segment_locked",
    "set_segment_mask",
]

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_COMMANDS = 200


# --- segment helpers --------------------------------------------------------------------------------------------
def locked_labels(node: SegmentationNode) -> tuple[int, ...]:
    """Label values of ``node``'s locked segments (never overwritten nor erased by an editing tool)."""
    return node.locked_labels


def is_segment_locked(node: SegmentationNode, label_value: int) -> bool:
    """Whether the segment drawn with ``label_value`` is locked."""
    return node.segment(label_value).locked


def set_segment_locked(node: SegmentationNode, label_value: int, locked: bool) -> None:
    """Lock or unlock one segment (emits ``changed("display")`` when the state changes)."""
    node.set_segment_locked(label_value, locked)


def rename_segment(node: SegmentationNode, label_value: int, name: str) -> None:
    """Rename one segment (emits ``changed("name")``)."""
    name = str(name).strip()
    if not name:
        raise ValueError("a segment name cannot be empty")
    segment = node.segment(label_value)
    if segment.name != name:
        segment.name = name
        node.changed.emit("name")


def _erase_label(node: SegmentationNode, label_value: int) -> LabelEdit:
    array = node.labelmap.array
    return apply_mask_edit(array, array == label_value, label_value, mode="erase", description="remove segment")


def remove_segment(node: SegmentationNode, label_value: int) -> tuple[Segment, LabelEdit]:
    """Remove one segment and erase its voxels; returns the segment and the erase record (emits ``changed("data")``).

    """
    edit = _erase_label(node, label_value)
    segment = node.remove_segment(label_value)
    return segment, edit


def apply_label_edit(
    node: SegmentationNode,
    mask: npt.NDArray[np.bool_],
    label_value: int,
    *,
    mode: str = "paint",
    offset: Iterable[int] = (0, 0, 0),
    allowed: EditMask | npt.NDArray[np.bool_] | None = None,
    description: str = "",
    emit: bool = True,
) -> LabelEdit:
    """Paint or erase ``mask`` into ``node`` honouring its locked segments; emits ``changed("data")`` if it changed.

    Editing a locked segment itself changes nothing.
    """
    node.segment(label_value)
    if is_segment_locked(node, label_value):
        return LabelEdit.empty(node.labelmap.array.dtype, description)
    edit = apply_mask_edit(node.labelmap.array, mask, label_value, mode=mode, offset=offset, allowed=allowed,
                           locked=locked_labels(node), description=description)
    if emit and not edit.is_empty:
        node.changed.emit("data")
    return edit


def set_segment_mask(
    node: SegmentationNode,
    label_value: int,
    new_mask: npt.NDArray[np.bool_],
    *,
    allowed: EditMask | None = None,
    description: str = "",
    emit: bool = True,
) -> LabelEdit:
    """Make segment ``label_value`` equal ``new_mask`` (as far as masking and locks allow) in one undo record.

    Voxels that leave the segment become background; voxels that join it are painted where ``allowed`` permits and
    no locked segment lies. Used by islands, margin, hollow, logical operators, smoothing and fill between slices.
    """
    node.segment(label_value)
    array = node.labelmap.array
    new_mask = np.asarray(new_mask, dtype=bool)
    if new_mask.shape != array.shape:
        raise ValueError(f"mask shape {new_mask.shape} does not match the label map {array.shape}")
    if is_segment_locked(node, label_value):
        return LabelEdit.empty(array.dtype, description)
    old = array == label_value
    box = bounding_box(old ^ new_mask)
    if box is None:
        return LabelEdit.empty(array.dtype, description)
    sl = tuple(slice(a, b) for a, b in zip(*box, strict=True))
    current = array[sl]
    old_sub, new_sub = old[sl], new_mask[sl]
    gain = new_sub & ~old_sub
    ok = allowed.allowed(current, sl) if allowed is not None else None
    if ok is not None:
        gain &= ok
    locked = locked_labels(node)
    if locked:
        gain &= ~np.isin(current, locked)
    loss = old_sub & ~new_sub
    after = current.copy()
    after[loss] = 0
    after[gain] = label_value
    edit = _tight_edit(box[0], current.copy(), after, description)
    edit.apply(array)
    if emit and not edit.is_empty:
        node.changed.emit("data")
    return edit


def _tight_edit(lo: tuple[int, ...], before: np.ndarray, after: np.ndarray, description: str) -> LabelEdit:
    """A :class:`LabelEdit` shrunk to the box of the voxels that really differ."""
    tight = bounding_box(before != after)
    if tight is None:
        return LabelEdit.empty(before.dtype, description)
    sub = tuple(slice(a, b) for a, b in zip(*tight, strict=True))
    lo2 = tuple(int(a + b) for a, b in zip(lo, tight[0], strict=True))
    hi2 = tuple(int(a + b) for a, b in zip(lo, tight[1], strict=True))
    return LabelEdit(lo2, hi2, before[sub].copy(), after[sub].copy(), description)  # type: ignore[arg-type]


def merge_label_edits(first: LabelEdit, second: LabelEdit, labelmap: npt.NDArray[np.integer]) -> LabelEdit:
    """One edit equivalent to ``first`` followed by ``second``; ``labelmap`` is the state after both.

    The merged record covers the union of the two boxes (then shrunk to the voxels that differ), so a brush stroke
    costs memory in proportion to the area it swept.
    """
    if first.is_empty:
        return second
    if second.is_empty:
        return first
    lo = tuple(min(a, b) for a, b in zip(first.lo, second.lo, strict=True))
    hi = tuple(max(a, b) for a, b in zip(first.hi, second.hi, strict=True))
    sl = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    after = labelmap[sl].copy()
    before = after.copy()
    for edit in (second, first):  # undo the later edit first
        local = tuple(slice(a - o, b - o) for a, b, o in zip(edit.lo, edit.hi, lo, strict=True))
        before[local] = edit.before
    return _tight_edit(lo, before, after, first.description or second.description)


# --- commands ---------------------------------------------------------------------------------------------------
class Command:
    """Something done to the case that can be undone and redone (it is already done when pushed)."""

    description: str = ""
    merge_key: object = None

    def undo(self) -> None:
        """Restore the state before the command."""
        raise NotImplementedError

    def redo(self) -> None:
        """Do the command again after an undo."""
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        """Memory the command holds."""
        return 0

    def merge(self, other: Command) -> bool:
        """Absorb ``other`` (done right after this one); True when merged."""
        return False


@dataclass(eq=False)
class LabelMapCommand(Command):
    """A change of a segmentation's label map, stored as a bounding-box :class:`LabelEdit`.

    Parameters
    ----------
    node : SegmentationNode
        The edited segmentation.
    edit : LabelEdit
        What changed (already applied).
    description : str
        For the undo menu ("Paint", "Threshold"...).
    merge_key : object, optional
        Commands pushed one after the other with the same non-None key merge (one brush stroke = one command).
    """

    node: SegmentationNode
    edit: LabelEdit
    description: str = ""
    merge_key: object = None

    def undo(self) -> None:
        """Write the old voxels back."""
        self.edit.revert(self.node.labelmap.array)
        self.node.changed.emit("data")

    def redo(self) -> None:
        """Write the new voxels again."""
        self.edit.apply(self.node.labelmap.array)
        self.node.changed.emit("data")

    @property
    def nbytes(self) -> int:
        """Memory of the box record."""
        return self.edit.nbytes

    def merge(self, other: Command) -> bool:
        """Fold a later dab of the same stroke into this command."""
        if not (isinstance(other, LabelMapCommand) and other.node is self.node and self.merge_key is not None
                and other.merge_key == self.merge_key):
            return False
        self.edit = merge_label_edits(self.edit, other.edit, self.node.labelmap.array)
        return True


@dataclass(eq=False)
class AddSegmentCommand(Command):
    """A segment was added (undo removes it and its voxels; redo brings both back)."""

    node: SegmentationNode
    segment: Segment
    description: str = "Add segment"
    _edit: LabelEdit | None = field(default=None, repr=False)

    def undo(self) -> None:
        """Remove the segment."""
        _segment, self._edit = remove_segment(self.node, self.segment.label_value)

    def redo(self) -> None:
        """Put the segment (and its voxels) back."""
        _restore_segment(self.node, self.segment, self._edit)

    @property
    def nbytes(self) -> int:
        """Memory of the erased voxels, when undone."""
        return self._edit.nbytes if self._edit is not None else 0


@dataclass(eq=False)
class RemoveSegmentCommand(Command):
    """A segment was removed with its voxels (undo restores both)."""

    node: SegmentationNode
    segment: Segment
    edit: LabelEdit
    description: str = "Remove segment"

    def undo(self) -> None:
        """Restore the segment and its voxels."""
        _restore_segment(self.node, self.segment, self.edit)

    def redo(self) -> None:
        """Remove it again."""
        _segment, self.edit = remove_segment(self.node, self.segment.label_value)

    @property
    def nbytes(self) -> int:
        """Memory of the erased voxels."""
        return self.edit.nbytes


@contextmanager
def _quiet(node: SegmentationNode) -> Iterator[None]:
    with node.changed.blocked():
        yield


def _restore_segment(node: SegmentationNode, segment: Segment, edit: LabelEdit | None) -> None:
    with _quiet(node):  # one change event for the segment and its voxels together
        node.insert_segment(segment)
    if edit is not None:
        edit.revert(node.labelmap.array)
    node.changed.emit("data")


class CommandStack:
    """Undo/redo history with merging, a clean (saved) mark and a memory budget.

    Parameters
    ----------
    max_bytes : int
        Oldest commands are dropped while the history holds more than this (the newest command always stays).
    max_commands : int
        At most this many commands are kept.

    Signals
    -------
    changed()
        The history or the position in it changed (update undo/redo buttons).
    clean_changed(bool)
        The stack reached or left the clean mark.
    """

    changed = Signal()
    clean_changed = Signal(bool)

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_commands: int = DEFAULT_MAX_COMMANDS) -> None:
        self.max_bytes = int(max_bytes)
        self.max_commands = int(max_commands)
        self._commands: list[Command] = []
        self._index = 0  # commands[:index] are done
        self._clean: int | None = 0
        self._merging_open = True

    def __len__(self) -> int:
        return len(self._commands)

    @property
    def index(self) -> int:
        """How many commands are done."""
        return self._index

    @property
    def can_undo(self) -> bool:
        """Whether there is a command to undo."""
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone command to redo."""
        return self._index < len(self._commands)

    @property
    def undo_text(self) -> str:
        """Description of the command :meth:`undo` would undo."""
        return self._commands[self._index - 1].description if self.can_undo else ""

    @property
    def redo_text(self) -> str:
        """Description of the command :meth:`redo` would redo."""
        return self._commands[self._index].description if self.can_redo else ""

    @property
    def nbytes(self) -> int:
        """Memory held by the history."""
        return sum(c.nbytes for c in self._commands)

    @property
    def is_clean(self) -> bool:
        """True at the position last marked clean (saved)."""
        return self._clean == self._index

    def set_clean(self) -> None:
        """Mark the current position as the saved state."""
        was = self.is_clean
        self._clean = self._index
        self._merging_open = False
        if not was:
            self.clean_changed.emit(True)

    def end_merge(self) -> None:
        """Stop the next command from merging into the last one (the stroke ended)."""
        self._merging_open = False

    def push(self, command: Command) -> None:
        """Record a command that has just been done; it merges into the previous one when their keys match."""
        was_clean = self.is_clean
        if self._index < len(self._commands):
            del self._commands[self._index:]
            if self._clean is not None and self._clean > self._index:
                self._clean = None  # the saved state can no longer be reached
        last = self._commands[-1] if self._commands else None
        merged = (last is not None and self._merging_open and self._clean != self._index
                  and command.merge_key is not None and last.merge(command))
        if not merged:
            self._commands.append(command)
            self._index += 1
        self._merging_open = True
        self._trim()
        self.changed.emit()
        if was_clean != self.is_clean:
            self.clean_changed.emit(self.is_clean)

    def _trim(self) -> None:
        total = self.nbytes
        while len(self._commands) > 1 and (total > self.max_bytes or len(self._commands) > self.max_commands):
            dropped = self._commands.pop(0)
            total -= dropped.nbytes
            self._index -= 1
            if self._clean is not None:
                self._clean = self._clean - 1 if self._clean > 0 else None

    def undo(self) -> Command | None:
        """Undo the last done command; returns it (None when there is nothing to undo)."""
        if not self.can_undo:
            return None
        was_clean = self.is_clean
        self._index -= 1
        command = self._commands[self._index]
        command.undo()
        self._merging_open = False
        self.changed.emit()
        if was_clean != self.is_clean:
            self.clean_changed.emit(self.is_clean)
        return command

    def redo(self) -> Command | None:
        """Redo the last undone command; returns it (None when there is nothing to redo)."""
        if not self.can_redo:
            return None
        was_clean = self.is_clean
        command = self._commands[self._index]
        command.redo()
        self._index += 1
        self._merging_open = False
        self.changed.emit()
        if was_clean != self.is_clean:
            self.clean_changed.emit(self.is_clean)
        return command

    def clear(self) -> None:
        """Forget the history (the current state becomes clean)."""
        self._commands.clear()
        self._index = 0
        self._clean = 0
        self.changed.emit()
