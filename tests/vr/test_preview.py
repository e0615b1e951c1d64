"""Stereo preview: the phantom's parallax along a scripted head path, and the headset's exact eye images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from vr_helpers import marker_scene, red_centroid

from rendering.vr.preview import StereoPreview, eyes_for_head, look_at, orbit_head_path
from rendering.vr.stage import StageMapping


@pytest.fixture(scope="module")
def phantom_props():
    from app.pipelines.demo_case import build_demo_case
    from rendering.scene3d import Scene3D

    case = build_demo_case((96, 96, 72))
    scene = Scene3D()
    for node in case.meshes:
        scene.set_mesh(node.id, node.mesh, color=node.color)
    keys = scene.keys()
    return [scene.actor(k) for k in keys], scene.visible_bounds()


def bone_mask(image: np.ndarray) -> np.ndarray:
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return (r > 90) & (g > 80) & (b > 60) & (np.abs(r - g) < 45)


def band_disparities(preview, head, convergence_m):
    """Horizontal shift (left minus right, pixels) of the bone in the upper (far) and lower (near) image halves."""
    left, right = (bone_mask(preview.render_eye(e)) for e in eyes_for_head(head, convergence_m=convergence_m))
    h = left.shape[0] // 2
    out = []
    for band in (slice(0, h), slice(h, None)):
        assert left[band].sum() > 200
        out.append(np.nonzero(left[band])[1].mean() - np.nonzero(right[band])[1].mean())
    return out


def test_phantom_preview_shows_correct_parallax(phantom_props, tmp_path):
    props, bounds = phantom_props
    mapping = StageMapping.in_front_of(bounds, table_height_m=0.9, distance_m=0.5)
    centre = mapping.lps_to_stage(bounds.mean(axis=0))[0]
    # Standing at the foot of the table looking along the body: the pelvis (lower in the image) is nearer than
    # the ribs (upper), so depth varies down the picture.
    head = look_at(centre + np.array([0.0, 0.25, 0.45]), centre)
    focal = float(np.linalg.norm(head[:3, 3] - centre))
    preview = StereoPreview(props, mapping, eye_size=(400, 400))
    try:
        far, near = band_disparities(preview, head, convergence_m=focal)
        # Converged at the phantom's centre: nearer than the focal distance shifts one way, farther the other.
        assert near > 2.0
        assert far < -1.0
        # Parallel eyes (as in a headset): everything shifts the same way, nearer parts more.
        far_p, near_p = band_disparities(preview, head, convergence_m=None)
        assert near_p > far_p > 10.0
        # Screenshots: side by side and anaglyph along a scripted walk around the table.
        path = orbit_head_path(centre, radius_m=0.5, height_m=1.4, n=3, start_deg=0, end_deg=60)
        images = preview.render_path(path, tmp_path, convergence_m=0.5)
        anaglyph = preview.render(eyes_for_head(head, convergence_m=focal), mode="anaglyph")
    finally:
        preview.close()
    assert [p.name for p in sorted(tmp_path.glob("preview-*.png"))] == [f"preview-{i:03d}.png" for i in range(3)]
    assert images[0].shape == (400, 800, 3)
    assert np.abs(images[0].astype(int) - images[2].astype(int)).mean() > 1.0  # the walk changes the view
    Image.fromarray(anaglyph).save(tmp_path / "anaglyph.png")
    assert anaglyph.shape == (400, 400, 3)
    assert np.array_equal(anaglyph[..., 1], anaglyph[..., 2])  # cyan: the right eye in green and blue
    assert np.abs(anaglyph[..., 0].astype(int) - anaglyph[..., 1].astype(int)).mean() > 0.2  # red: the left eye


@pytest.mark.slow
def test_preview_of_recorded_eyes_is_the_headset_image(openxr_runtime):
    from rendering.vr.engine import VREngine
    from rendering.vr.openxr_backend import OpenXRBackend

    recorded = {}

    def on_eye(eye, texture, size, frame, engine):
        if frame.index == 12:
            recorded[eye] = (frame.eyes[eye], engine.blitter.read_texture(texture, size))

    actors = marker_scene()
    result = VREngine(actors, OpenXRBackend(), placement={"table_height_m": 1.52, "distance_m": 0.5},
                      overlay=False).run(frames=14, on_eye=on_eye, timeout_s=30)
    assert result.outcome == "completed"
    preview = StereoPreview(actors, result.mapping, eye_size=result.eye_size)
    try:
        for eye in (0, 1):
            view, headset = recorded[eye]
            shown = preview.render_eye(view)
            assert np.abs(shown.astype(int) - headset.astype(int)).mean() < 1.0
            assert np.allclose(red_centroid(shown), red_centroid(headset), atol=0.25)
    finally:
        preview.close()
