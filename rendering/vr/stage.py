"""The case's LPS millimetres in the runtime's stage space (metres, right-handed, Y up, floor at y = 0).

The patient lies supine on a virtual table in front of the user, head away from them, as a surgeon standing at
the foot of the table sees it: superior (+S) points away from the user (-Z), anterior faces up (+Y, so +P is -Y)
and the patient's left (+L) is on the user's right (+X). That is a proper rotation (determinant +1), so the
anatomy is never mirrored. Scale 1 is life size (1 mm of anatomy is 1 mm in the headset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["LPS_TO_STAGE", "METRES_PER_MM", "StageMapping"]

METRES_PER_MM = 1e-3
#: Rotation taking LPS directions to stage directions (columns: where L, P and S go).
LPS_TO_STAGE = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
#: Standing eye height assumed when the runtime has only a head-relative (LOCAL) space.
DEFAULT_EYE_HEIGHT_M = 1.65


def _yaw_rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


@dataclass
class StageMapping:
    """A similarity transform from LPS millimetres to stage metres.

    Attributes
    ----------
    model_to_stage : numpy.ndarray
        ``(4, 4)``: stage = model_to_stage @ [x_lps_mm, y_lps_mm, z_lps_mm, 1].
    """

    model_to_stage: np.ndarray

    # ---------------------------------------------------------------- construction
    @classmethod
    def in_front_of(
        cls,
        bounds_lps: np.ndarray,
        head_to_stage: np.ndarray | None = None,
        *,
        table_height_m: float = 0.9,
        distance_m: float = 0.6,
        scale: float = 1.0,
        floor_y_m: float = 0.0,
    ) -> StageMapping:
        """Place the anatomy on a table in front of the user.

        Parameters
        ----------
        bounds_lps : array (2, 3)
            Lower and upper LPS corners (mm) of what is shown.
        head_to_stage : array (4, 4), optional
            The head's pose; the anatomy goes ``distance_m`` ahead of it along its horizontal gaze, turned to face
            it. Default: a user at the stage origin looking down -Z.
        table_height_m : float
            Height of the table top above the floor; the anatomy's posterior side rests on it.
        distance_m : float
            Horizontal distance from the head to the anatomy's centre.
        scale : float
            1 = life size.
        floor_y_m : float
            Height of the floor in the space (0 in a STAGE space; about -1.65 m in a LOCAL one).
        """
        bounds = np.asarray(bounds_lps, dtype=float).reshape(2, 3)
        # Anchor: centre in L and S, the posterior-most point in P (that side lies on the table).
        anchor = np.array([bounds[:, 0].mean(), bounds[1, 1], bounds[:, 2].mean()])
        head = np.eye(4) if head_to_stage is None else np.asarray(head_to_stage, dtype=float)
        forward = head[:3, :3] @ np.array([0.0, 0.0, -1.0])
        horizontal = np.array([forward[0], 0.0, forward[2]])
        if np.linalg.norm(horizontal) < 1e-6:  # looking straight down or up: keep the stage's forward
            horizontal = np.array([0.0, 0.0, -1.0])
        horizontal /= np.linalg.norm(horizontal)
        yaw = math.atan2(-horizontal[0], -horizontal[2])
        rotation = _yaw_rotation(yaw) @ LPS_TO_STAGE
        target = np.array([head[0, 3], floor_y_m + table_height_m, head[2, 3]]) + distance_m * horizontal
        m = np.eye(4)
        m[:3, :3] = scale * METRES_PER_MM * rotation
        m[:3, 3] = target - m[:3, :3] @ anchor
        return cls(m)

    # ---------------------------------------------------------------- queries
    @property
    def scale(self) -> float:
        """Size relative to life size (1 = 1:1)."""
        return float(np.cbrt(np.linalg.det(self.model_to_stage[:3, :3])) / METRES_PER_MM)

    @property
    def metres_per_unit(self) -> float:
        """Stage metres per model millimetre (``scale / 1000``)."""
        return self.scale * METRES_PER_MM

    def lps_to_stage(self, points_mm) -> np.ndarray:
        """``(n, 3)`` LPS millimetres to stage metres."""
        p = np.atleast_2d(np.asarray(points_mm, dtype=float))
        return p @ self.model_to_stage[:3, :3].T + self.model_to_stage[:3, 3]

    def stage_to_lps(self, points_m) -> np.ndarray:
        """``(n, 3)`` stage metres to LPS millimetres."""
        p = np.atleast_2d(np.asarray(points_m, dtype=float))
        inverse = np.linalg.inv(self.model_to_stage)
        return p @ inverse[:3, :3].T + inverse[:3, 3]

    def stage_to_model(self) -> np.ndarray:
        """``(4, 4)`` inverse transform (stage metres to LPS millimetres)."""
        return np.linalg.inv(self.model_to_stage)

    # ---------------------------------------------------------------- edits
    def transformed(self, stage_transform: np.ndarray) -> StageMapping:
        """The anatomy moved by a transform applied in stage space (``new = T @ old``)."""
        return StageMapping(np.asarray(stage_transform, dtype=float) @ self.model_to_stage)

    def life_size(self, pivot_lps=None) -> StageMapping:
        """The same placement at scale 1, keeping ``pivot_lps`` (default: the model origin) where it is."""
        return self.with_scale(1.0, pivot_lps)

    def with_scale(self, scale: float, pivot_lps=None) -> StageMapping:
        """Rescaled to ``scale`` about ``pivot_lps`` (which stays put in the stage)."""
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        pivot = np.zeros(3) if pivot_lps is None else np.asarray(pivot_lps, dtype=float)
        fixed = self.lps_to_stage(pivot)[0]
        m = self.model_to_stage.copy()
        m[:3, :3] *= scale / self.scale
        m[:3, 3] = fixed - m[:3, :3] @ pivot
        return StageMapping(m)
