"""A VTK camera that is exactly one eye of the headset: pose from the runtime, projection from its field of view.

The scene stays in LPS millimetres (the desktop's actors as they are); the eye's stage pose is carried into
model space through the inverse :class:`~rendering.vr.stage.StageMapping`, and the runtime's asymmetric frustum is
given to VTK as an explicit projection matrix, so VTK's frustum culling uses the headset's real frustum too.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkRenderingCore import vtkCamera

from rendering.vr.maths import EyeFov, projection_from_fov
from rendering.vr.stage import StageMapping

__all__ = ["BACKGROUND", "eye_in_model", "set_eye_camera", "vtk_matrix"]

#: The headset's (and the stereo preview's) background: plain, since a full-screen gradient costs a pass per eye.
BACKGROUND = (0.12, 0.13, 0.17)


def vtk_matrix(m: np.ndarray) -> vtkMatrix4x4:
    """A ``vtkMatrix4x4`` holding ``m`` (row-major, column vectors, as VTK's)."""
    out = vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            out.SetElement(r, c, float(m[r, c]))
    return out


def eye_in_model(eye_to_stage: np.ndarray, mapping: StageMapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The eye in model (LPS mm) coordinates: position, unit view direction, unit view-up."""
    eye_to_model = mapping.stage_to_model() @ np.asarray(eye_to_stage, dtype=float)
    position = eye_to_model[:3, 3]
    direction = eye_to_model[:3, :3] @ np.array([0.0, 0.0, -1.0])
    up = eye_to_model[:3, :3] @ np.array([0.0, 1.0, 0.0])
    return position, direction / np.linalg.norm(direction), up / np.linalg.norm(up)


def set_eye_camera(camera: vtkCamera, eye_to_stage: np.ndarray, fov: EyeFov, mapping: StageMapping, *,
                   near_m: float = 0.05, far_m: float = 20.0) -> np.ndarray:
    """Make ``camera`` the eye: position and orientation from the pose, explicit projection from the FOV.

    Parameters
    ----------
    camera : vtkCamera
    eye_to_stage : array (4, 4)
        The eye's pose in stage metres.
    fov : EyeFov
    mapping : StageMapping
        Where the model sits in the stage (its scale sets the clipping planes in model millimetres).
    near_m, far_m : float
        Clipping distances in stage metres.

    Returns
    -------
    numpy.ndarray
        The ``(4, 4)`` projection matrix given to VTK.
    """
    position, direction, up = eye_in_model(eye_to_stage, mapping)
    mm_per_metre = 1.0 / mapping.metres_per_unit
    near, far = near_m * mm_per_metre, far_m * mm_per_metre
    camera.SetPosition(*position)
    camera.SetFocalPoint(*(position + direction * 0.5 * mm_per_metre))
    camera.SetViewUp(*up)
    camera.SetClippingRange(near, far)
    projection = projection_from_fov(fov, near, far)
    camera.SetExplicitProjectionTransformMatrix(vtk_matrix(projection))
    camera.UseExplicitProjectionTransformMatrixOn()
    return projection
