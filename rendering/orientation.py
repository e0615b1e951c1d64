"""Standard radiological view orientations in LPS world coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

__all__ = ["SliceOrientation", "ViewAxes"]


@dataclass(frozen=True)
class ViewAxes:
    """Camera axes of a view: direction of projection, up vector, and the screen-edge labels."""

    projection: tuple[float, float, float]
    view_up: tuple[float, float, float]
    left: str
    right: str
    top: str
    bottom: str

    @property
    def normal(self) -> np.ndarray:
        """Unit normal of the slice plane (the direction of projection)."""
        return np.asarray(self.projection, dtype=float)


class SliceOrientation(Enum):
    """Radiological convention: the patient's right on the screen's left, anterior up, superior up."""

    AXIAL = ViewAxes((0.0, 0.0, 1.0), (0.0, -1.0, 0.0), "R", "L", "A", "P")  # seen from the feet
    CORONAL = ViewAxes((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), "R", "L", "S", "I")  # seen from the front
    SAGITTAL = ViewAxes((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0), "A", "P", "S", "I")  # seen from the patient's left

    @property
    def axes(self) -> ViewAxes:
        """Camera axes of this orientation."""
        return self.value

    @property
    def label(self) -> str:
        """Human name."""
        return self.name.capitalize()
