"""Stereo preview without a headset: the exact per-eye cameras of the engine, side by side or as an anaglyph,
along a recorded or scripted head path.

Each eye is drawn with :func:`rendering.vr.camera.set_eye_camera` from an :class:`~rendering.vr.backend.EyeView`,
the same function and values the headset path uses, so what the preview shows is what the headset shows. Eyes
come from a recorded session (``FrameViews.eyes``) or from a head pose and an interpupillary distance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from vtkmodules.vtkRenderingCore import vtkProp, vtkRenderer

from rendering.offscreen import capture_window
from rendering.vr.backend import EyeView
from rendering.vr.camera import BACKGROUND, set_eye_camera
from rendering.vr.maths import EyeFov
from rendering.vr.stage import StageMapping

__all__ = ["DEFAULT_FOV", "StereoPreview", "eyes_for_head", "look_at", "orbit_head_path"]

#: A symmetric 90-degree eye for scripted previews (recorded eyes bring the headset's own asymmetric ones).
DEFAULT_FOV = EyeFov.from_angles(-math.pi / 4, math.pi / 4, math.pi / 4, -math.pi / 4)


def look_at(position, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """``(4, 4)`` head pose at ``position`` looking at ``target`` (stage metres; -Z forward, +Y up)."""
    position = np.asarray(position, dtype=float)
    forward = np.asarray(target, dtype=float) - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = right, true_up, -forward
    pose[:3, 3] = position
    return pose


def orbit_head_path(target, *, radius_m: float = 0.6, height_m: float = 1.65, n: int = 8,
                    start_deg: float = 0.0, end_deg: float = 90.0) -> list[np.ndarray]:
    """Head poses walking around ``target`` on a circle (angle 0: in front, +Z side), always looking at it."""
    target = np.asarray(target, dtype=float)
    poses = []
    for angle in np.radians(np.linspace(start_deg, end_deg, n)):
        position = target + np.array([radius_m * math.sin(angle), 0.0, radius_m * math.cos(angle)])
        position[1] = height_m
        poses.append(look_at(position, target))
    return poses


def eyes_for_head(head_to_stage: np.ndarray, *, ipd_m: float = 0.063, fov: EyeFov = DEFAULT_FOV,
                  convergence_m: float | None = None) -> tuple[EyeView, EyeView]:
    """Left and right eyes of a head: offset by half the interpupillary distance along the head's X axis.

    With ``convergence_m`` the frusta are sheared (off-axis, never toed in) so that disparity is zero at that
    distance: nearer points then shift one way between the eyes and farther points the other, as on a stereo
    screen. Without it the eyes look straight ahead in parallel, exactly as in a headset.
    """
    eyes = []
    for side in (-1.0, 1.0):
        offset = np.eye(4)
        offset[0, 3] = side * ipd_m / 2
        # ``fov`` is the left eye's; the right eye is its mirror image (wider towards its own temple).
        eye_fov = fov if side < 0 else EyeFov(-fov.tan_right, -fov.tan_left, fov.tan_up, fov.tan_down)
        if convergence_m is not None:
            shift = -side * (ipd_m / 2) / convergence_m  # tangent shift that centres the convergence point
            eye_fov = EyeFov(eye_fov.tan_left + shift, eye_fov.tan_right + shift, eye_fov.tan_up, eye_fov.tan_down)
        eyes.append(EyeView(head_to_stage @ offset, eye_fov))
    return eyes[0], eyes[1]


class StereoPreview:
    """Offscreen stereo images of props (the desktop's actors) for given eye views.

    Parameters
    ----------
    props : iterable of vtkProp
    mapping : StageMapping
        Where the anatomy sits in the stage (as in the headset).
    eye_size : (int, int)
        Pixels per eye.
    """

    def __init__(self, props: Iterable[vtkProp], mapping: StageMapping, *, eye_size: tuple[int, int] = (480, 480),
                 near_m: float = 0.05, far_m: float = 20.0) -> None:
        from rendering.offscreen import _offscreen_window

        self.mapping = mapping
        self.eye_size = tuple(eye_size)
        self.near_m, self.far_m = near_m, far_m
        self.props = list(props)
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(*BACKGROUND)  # as in the headset
        for prop in self.props:
            self.renderer.AddViewProp(prop)
        self.window = _offscreen_window(self.renderer, self.eye_size)

    def render_eye(self, eye: EyeView) -> np.ndarray:
        """One eye's ``(h, w, 3)`` image, top row first."""
        set_eye_camera(self.renderer.GetActiveCamera(), eye.eye_to_stage, eye.fov, self.mapping,
                       near_m=self.near_m, far_m=self.far_m)
        return capture_window(self.window)

    def render(self, eyes: Sequence[EyeView], mode: str = "side-by-side") -> np.ndarray:
        """Both eyes: ``side-by-side`` (left image on the left) or ``anaglyph`` (red left, cyan right)."""
        left, right = (self.render_eye(e) for e in eyes[:2])
        if mode == "side-by-side":
            return np.concatenate([left, right], axis=1)
        if mode == "anaglyph":
            grey_l = left.astype(float) @ [0.299, 0.587, 0.114]
            grey_r = right.astype(float) @ [0.299, 0.587, 0.114]
            return np.stack([grey_l, grey_r, grey_r], axis=-1).round().astype(np.uint8)
        raise ValueError(f"unknown preview mode {mode!r}; choose side-by-side or anaglyph")

    def render_path(self, heads: Iterable[np.ndarray], out_dir: str | Path | None = None, *,
                    mode: str = "side-by-side", **eye_options) -> list[np.ndarray]:
        """Images along a head path (written as ``preview-000.png``... when ``out_dir`` is given)."""
        images = []
        for i, head in enumerate(heads):
            image = self.render(eyes_for_head(head, **eye_options), mode)
            images.append(image)
            if out_dir is not None:
                from PIL import Image

                Path(out_dir).mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(Path(out_dir) / f"preview-{i:03d}.png")
        return images

    def close(self) -> None:
        """Release the window; the props stay as they are."""
        for prop in self.props:
            self.renderer.RemoveViewProp(prop)
        self.window.RemoveRenderer(self.renderer)
        self.window.Finalize()
