"""Intensity thresholds and connected-component clean-up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from imaging.volume import Volume

__all__ = ["ThresholdPreset", "keep_largest_components", "load_threshold_presets", "threshold_mask"]


@dataclass(frozen=True)
class ThresholdPreset:
    """A named intensity window that selects one tissue class, with the colour its segment gets."""

    key: str
    name: str
    lower: float
    upper: float
    color: tuple[float, float, float]
    modality: str = "CT"
    keep_largest: int = 0
    """Keep only this many largest connected components (0 keeps all)."""


def load_threshold_presets() -> dict[str, ThresholdPreset]:
    """Threshold presets shipped in ``resources/presets/thresholds.json``, keyed by preset key."""
    text = resources.files("resources").joinpath("presets/thresholds.json").read_text(encoding="utf-8")
    presets = {}
    for entry in json.loads(text)["presets"]:
        preset = ThresholdPreset(
            entry["key"], entry["name"], float(entry["lower"]), float(entry["upper"]), tuple(entry["color"]),
            entry.get("modality", "CT"), int(entry.get("keep_largest", 0)),
        )
        presets[preset.key] = preset
    return presets


def threshold_mask(volume: Volume, lower: float, upper: float) -> npt.NDArray[np.bool_]:
    """Voxels whose value lies in ``[lower, upper]``.

    Raises
    ------
    ValueError
        When ``lower > upper`` or either bound is not finite.
    """
    lower, upper = float(lower), float(upper)
    if not (np.isfinite(lower) and np.isfinite(upper)):
        raise ValueError(f"threshold bounds must be finite, got {lower}..{upper}")
    if lower > upper:
        raise ValueError(f"the lower threshold {lower:g} is above the upper threshold {upper:g}")
    array = volume.array
    return (array >= lower) & (array <= upper)


def keep_largest_components(
    mask: npt.NDArray[np.bool_], count: int = 1, *, full_connectivity: bool = False
) -> npt.NDArray[np.bool_]:
    """Keep the ``count`` largest connected components of ``mask``.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        Binary image.
    count : int
        How many components to keep (largest first).
    full_connectivity : bool
        26-connectivity when True, 6-connectivity (faces only, stricter, the default) otherwise.
    """
    if count < 1:
        raise ValueError(f"keep at least one component, got {count}")
    structure = ndimage.generate_binary_structure(3, 3 if full_connectivity else 1)
    labels, n = ndimage.label(mask, structure=structure)
    if n <= count:
        return labels > 0
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = np.argsort(sizes)[::-1][:count]
    lut = np.zeros(n + 1, dtype=bool)
    lut[keep] = True
    return lut[labels]
