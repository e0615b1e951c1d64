"""The Qt-free command stack: undo/redo of label-map edits, stroke merging, memory bound, clean-state tracking."""

from __future__ import annotations

import numpy as np
import pytest

from app.case import Case, SegmentationNode
from app.case.commands import (
    AddSegmentCommand,
    CommandStack,
    LabelMapCommand,
    RemoveSegmentCommand,
    apply_label_edit,
    is_segment_locked,
    merge_label_edits,
    remove_segment,
    rename_segment,
    set_segment_locked,
    set_segment_mask,
)
from imaging.segmentation import EditMask, sphere_brush
from imaging.volume import Volume


@pytest.fixture
def node() -> SegmentationNode:
    labels = Volume(np.zeros((20, 30, 40), np.uint8), spacing=(1.0, 1.0, 2.0))
    seg = SegmentationNode(labels)
    seg.add_segment("A", (1, 0, 0))
    seg.add_segment("B", (0, 1, 0))
    return seg


def _dab(node, centre, value=1, radius=3.0, key=None):
    mask, offset = sphere_brush(node.labelmap.geometry, centre, radius)
    edit = apply_label_edit(node, mask, value, offset=offset, description="Paint")
    return LabelMapCommand(node, edit, "Paint", merge_key=key)


def test_undo_redo_restore_exactly(node):
    events = []
    node.changed.connect(events.append)
    stack = CommandStack()
    original = node.labelmap.array.copy()
    stack.push(_dab(node, (10, 10, 10)))
    painted = node.labelmap.array.copy()
    assert painted.sum() > 0
    assert stack.can_undo
    assert not stack.can_redo
    assert stack.undo_text == "Paint"
    stack.undo()
    np.testing.assert_array_equal(node.labelmap.array, original)
    assert stack.can_redo
    assert stack.redo_text == "Paint"
    stack.redo()
    np.testing.assert_array_equal(node.labelmap.array, painted)
    assert events.count("data") == 3  # paint, undo, redo: one refresh each
    assert stack.undo() is not None
    assert stack.undo() is None


def test_a_stroke_merges_into_one_command_and_undoes_in_one_step(node):
    stack = CommandStack()
    original = node.labelmap.array.copy()
    for x in range(4, 30, 2):
        stack.push(_dab(node, (x, 12, 20), key="stroke-1"))
    stroke = node.labelmap.array.copy()
    stack.end_merge()
    stack.push(_dab(node, (20, 20, 30), key="stroke-1"))  # same key after end_merge: a new command
    assert len(stack) == 2
    merged = stack._commands[0]
    # The merged box is the swept area, not the volume.
    assert merged.edit.before.size < original.size / 4
    stack.undo()
    np.testing.assert_array_equal(node.labelmap.array, stroke)
    stack.undo()
    np.testing.assert_array_equal(node.labelmap.array, original)
    stack.redo()
    np.testing.assert_array_equal(node.labelmap.array, stroke)


def test_merge_of_overlapping_edits_with_overwrites(node):
    arr = node.labelmap.array
    arr[5:8, 5:8, 5:8] = 2
    start = arr.copy()
    m1, o1 = sphere_brush(node.labelmap.geometry, (12, 12, 12), 4)
    e1 = apply_label_edit(node, m1, 1, offset=o1)
    m2, o2 = sphere_brush(node.labelmap.geometry, (16, 12, 14), 4)
    e2 = apply_label_edit(node, m2, 1, offset=o2, mode="erase")
    merged = merge_label_edits(e1, e2, arr)
    end = arr.copy()
    merged.revert(arr)
    np.testing.assert_array_equal(arr, start)
    merged.apply(arr)
    np.testing.assert_array_equal(arr, end)


def test_memory_is_bounded(node):
    stack = CommandStack(max_bytes=1000)
    for i in range(10):
        stack.push(_dab(node, (5 + 3 * i, 15, 20), value=1 + i % 2))
    assert stack.nbytes <= 1000 or len(stack) == 1
    assert len(stack) < 10
    while stack.can_undo:
        stack.undo()
    assert stack.index == 0
    stack = CommandStack(max_commands=3)
    for i in range(5):
        stack.push(_dab(node, (5 + 3 * i, 5, 5)))
    assert len(stack) == 3


def test_clean_state_tracking(node):
    stack = CommandStack()
    changes = []
    stack.clean_changed.connect(changes.append)
    assert stack.is_clean
    stack.push(_dab(node, (10, 10, 10)))
    assert not stack.is_clean
    stack.set_clean()
    assert stack.is_clean
    stack.push(_dab(node, (20, 10, 10), key="k"))
    stack.push(_dab(node, (22, 10, 10), key="k"))  # merges, stays one step past clean
    assert len(stack) == 2
    assert not stack.is_clean
    stack.undo()
    assert stack.is_clean
    stack.undo()
    assert not stack.is_clean
    stack.redo()
    assert stack.is_clean
    # A new edit after an undo past the clean mark makes the saved state unreachable.
    stack.undo()
    stack.push(_dab(node, (5, 5, 5)))
    assert not stack.is_clean
    stack.undo()
    assert not stack.is_clean
    assert changes[:3] == [False, True, False]


def test_locked_segments_and_masking(node):
    arr = node.labelmap.array
    arr[:, :, :10] = 2
    set_segment_locked(node, 2, True)
    assert is_segment_locked(node, 2)
    before = arr.copy()
    edit = apply_label_edit(node, np.ones(arr.shape, bool), 1)
    assert np.all(arr[:, :, :10] == 2)
    assert np.all(arr[:, :, 10:] == 1)
    edit.revert(arr)
    np.testing.assert_array_equal(arr, before)
    # Editing the locked segment itself does nothing.
    assert apply_label_edit(node, np.ones(arr.shape, bool), 2, mode="erase").is_empty
    # Intensity masking.
    image = np.arange(arr.size, dtype=float).reshape(arr.shape)
    allowed = EditMask(intensity=image, intensity_range=(0, image.max() / 2))
    apply_label_edit(node, np.ones(arr.shape, bool), 1, allowed=allowed)
    assert np.all(arr[image > image.max() / 2][arr[image > image.max() / 2] != 2] == 0)


def test_set_segment_mask_is_one_record(node):
    arr = node.labelmap.array
    arr[2:6, 2:6, 2:6] = 1
    arr[10:12, 10:12, 10:12] = 2
    set_segment_locked(node, 2, True)
    target = np.zeros(arr.shape, bool)
    target[8:14, 8:14, 8:14] = True
    before = arr.copy()
    edit = set_segment_mask(node, 1, target)
    assert not np.any(arr[2:6, 2:6, 2:6] == 1)
    assert np.all(arr[10:12, 10:12, 10:12] == 2)  # locked, kept
    assert np.count_nonzero(arr == 1) == 6**3 - 2**3
    edit.revert(arr)
    np.testing.assert_array_equal(arr, before)


def test_segment_commands(node):
    case = Case()
    case.add(node)
    stack = CommandStack()
    arr = node.labelmap.array
    arr[1:3, 1:3, 1:3] = 2
    before = arr.copy()
    segment, edit = remove_segment(node, 2)
    stack.push(RemoveSegmentCommand(node, segment, edit))
    assert [s.name for s in node.segments] == ["A"]
    assert not np.any(arr == 2)
    stack.undo()
    assert [s.name for s in node.segments] == ["A", "B"]
    np.testing.assert_array_equal(arr, before)
    new = node.add_segment("C", (0, 0, 1))
    stack.push(AddSegmentCommand(node, new))
    stack.undo()
    assert [s.name for s in node.segments] == ["A", "B"]
    stack.redo()
    assert node.segment(new.label_value).name == "C"
    rename_segment(node, new.label_value, "Liver")
    assert node.segment(new.label_value).name == "Liver"
    with pytest.raises(ValueError, match="empty"):
        rename_segment(node, new.label_value, "  ")
