"""Classic segmentation tools on label maps: thresholds, connected components."""

from imaging.segmentation.threshold import (
    ThresholdPreset,
    keep_largest_components,
    load_threshold_presets,
    threshold_mask,
)

__all__ = ["ThresholdPreset", "keep_largest_components", "load_threshold_presets", "threshold_mask"]
