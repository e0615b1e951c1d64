"""Classic segmentation tools on label maps: thresholds, region growing, islands, margins, brushes, undo records.

Every tool is a headless function on numpy masks / label maps and a :class:`~imaging.volume.VolumeGeometry`
(distances in millimetres); edits of a label map go through :func:`apply_mask_edit`, which honours the masking
rules (:class:`EditMask`) and returns a compact :class:`LabelEdit` for undo/redo.
"""

from imaging.segmentation.brush import (
    disc_brush,
    fill_between_slices,
    paint_disc,
    paint_sphere,
    points_in_polygon,
    scissors,
    scissors_region,
    sphere_brush,
)
from imaging.segmentation.edits import EditMask, LabelEdit, apply_mask_edit, bounding_box
from imaging.segmentation.morphology import (
    closing,
    grow,
    hollow,
    intersect,
    invert,
    joint_smooth,
    margin,
    median_smooth,
    opening,
    shrink,
    subtract,
    union,
)
from imaging.segmentation.regions import (
    confidence_connected,
    connected_threshold,
    keep_islands_with_seeds,
    keep_largest_island,
    label_islands,
    remove_small_islands,
    seeds_to_indices,
)
from imaging.segmentation.terminology import TerminologyEntry, find_terminology, load_terminology
from imaging.segmentation.threshold import (
    ThresholdPreset,
    keep_largest_components,
    load_threshold_presets,
    threshold_mask,
)

__all__ = [
    "EditMask",
    "LabelEdit",
    "TerminologyEntry",
    "ThresholdPreset",
    "apply_mask_edit",
    "bounding_box",
    "closing",
    "confidence_connected",
    "connected_threshold",
    "disc_brush",
    "fill_between_slices",
    "find_terminology",
    "grow",
    "hollow",
    "intersect",
    "invert",
    "joint_smooth",
    "keep_islands_with_seeds",
    "keep_largest_components",
    "keep_largest_island",
    "label_islands",
    "load_terminology",
    "load_threshold_presets",
    "margin",
    "median_smooth",
    "opening",
    "paint_disc",
    "paint_sphere",
    "points_in_polygon",
    "remove_small_islands",
    "scissors",
    "scissors_region",
    "seeds_to_indices",
    "shrink",
    "sphere_brush",
    "subtract",
    "threshold_mask",
    "union",
]
