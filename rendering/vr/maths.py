"""Per-eye camera mathematics: poses, projections from OpenXR angles and OpenVR tangents, VTK camera set-up.

Conventions: matrices are 4x4 numpy arrays acting on column vectors (``p' = M @ p``). Projections are OpenGL's:
eye space looks down -Z with +Y up and +X right, clip space depth runs from -1 (near) to +1 (far).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EyeFov",
    "fov_from_openvr_raw",
    "matrix_from_openvr34",
    "pose_matrix",
    "projection_from_fov",
    "quaternion_to_matrix",
    "rigid_inverse",
]


@dataclass(frozen=True)
class EyeFov:
    """Field of view of one eye as the tangents of its four half-angles (signed: left and down are negative).

    OpenXR gives angles (``XrFovf``: angleLeft < 0 < angleRight, angleDown < 0 < angleUp); OpenVR gives tangents
    (``GetProjectionRaw``). Both become this one value.
    """

    tan_left: float
    tan_right: float
    tan_up: float
    tan_down: float

    @classmethod
    def from_angles(cls, angle_left: float, angle_right: float, angle_up: float, angle_down: float) -> EyeFov:
        """From OpenXR's ``XrFovf`` angles in radians."""
        return cls(math.tan(angle_left), math.tan(angle_right), math.tan(angle_up), math.tan(angle_down))

    def angles_deg(self) -> tuple[float, float, float, float]:
        """(left, right, up, down) half-angles in degrees, signed as OpenXR's."""
        return tuple(math.degrees(math.atan(t)) for t in (self.tan_left, self.tan_right, self.tan_up, self.tan_down))

    @property
    def aspect(self) -> float:
        """Width over height of the image plane."""
        return (self.tan_right - self.tan_left) / (self.tan_up - self.tan_down)


def projection_from_fov(fov: EyeFov, near: float, far: float) -> np.ndarray:
    """OpenGL projection matrix of an asymmetric frustum (as ``XrMatrix4x4f_CreateProjectionFov`` for OpenGL).

    Parameters
    ----------
    fov : EyeFov
        Tangents of the four half-angles.
    near, far : float
        Clipping distances in front of the eye (same unit as the scene, > 0).

    Returns
    -------
    numpy.ndarray
        ``(4, 4)`` matrix: eye space to clip space; the frustum's edges map to normalised coordinates -1 and +1.
    """
    if not 0 < near < far:
        raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
    width = fov.tan_right - fov.tan_left
    height = fov.tan_up - fov.tan_down
    if width <= 0 or height <= 0:
        raise ValueError(f"empty field of view: {fov}")
    m = np.zeros((4, 4))
    m[0, 0] = 2.0 / width
    m[0, 2] = (fov.tan_right + fov.tan_left) / width
    m[1, 1] = 2.0 / height
    m[1, 2] = (fov.tan_up + fov.tan_down) / height
    m[2, 2] = -(far + near) / (far - near)
    m[2, 3] = -2.0 * far * near / (far - near)
    m[3, 2] = -1.0
    return m


def fov_from_openvr_raw(left: float, right: float, top: float, bottom: float) -> EyeFov:
    """The field of view from OpenVR's ``IVRSystem::GetProjectionRaw`` (left, right, top, bottom).

    OpenVR's names for the vertical pair are swapped with respect to OpenGL's Y-up eye space: ``top`` holds the
    (negative) tangent of the lower edge and ``bottom`` the (positive) tangent of the upper edge. OpenVR's own
    projection puts ``(bottom + top) / (bottom - top)`` in the [1, 2] term, and OpenComposite fills them as
    ``top = tan(angleDown)``, ``bottom = tan(angleUp)`` from OpenXR's angles.
    """
    return EyeFov(tan_left=left, tan_right=right, tan_up=bottom, tan_down=top)


def quaternion_to_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """``(3, 3)`` rotation matrix of the unit quaternion ``(x, y, z, w)`` (normalised first)."""
    q = np.array([x, y, z, w], dtype=float)
    n = np.linalg.norm(q)
    if n == 0:
        raise ValueError("zero quaternion")
    x, y, z, w = q / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def pose_matrix(position: Sequence[float], orientation_xyzw: Sequence[float]) -> np.ndarray:
    """``(4, 4)`` rigid transform of a pose (OpenXR ``XrPosef``: position, then quaternion x, y, z, w)."""
    m = np.eye(4)
    m[:3, :3] = quaternion_to_matrix(*orientation_xyzw)
    m[:3, 3] = position
    return m


def matrix_from_openvr34(m34) -> np.ndarray:
    """``(4, 4)`` matrix from OpenVR's ``HmdMatrix34_t`` (or any 3x4 nested sequence, row-major)."""
    rows = m34.m if hasattr(m34, "m") else m34
    out = np.eye(4)
    for r in range(3):
        for c in range(4):
            out[r, c] = rows[r][c]
    return out


def rigid_inverse(m: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform (rotation and translation), exact and cheaper than ``np.linalg.inv``."""
    out = np.eye(4)
    r = m[:3, :3]
    out[:3, :3] = r.T
    out[:3, 3] = -r.T @ m[:3, 3]
    return out
