"""Per-eye camera mathematics against known matrices: OpenXR angles, OpenVR tangents and eye-to-head transforms,
LPS millimetres to stage metres, and VTK's camera reproducing them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rendering.vr.camera import eye_in_model, set_eye_camera
from rendering.vr.maths import (
    EyeFov,
    fov_from_openvr_raw,
    matrix_from_openvr34,
    pose_matrix,
    projection_from_fov,
    quaternion_to_matrix,
    rigid_inverse,
)
from rendering.vr.stage import LPS_TO_STAGE, StageMapping


def gl_frustum(left, right, bottom, top, near, far):
    """glFrustum's matrix as printed in the OpenGL 2.1 reference page."""
    return np.array([
        [2 * near / (right - left), 0, (right + left) / (right - left), 0],
        [0, 2 * near / (top - bottom), (top + bottom) / (top - bottom), 0],
        [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)],
        [0, 0, -1, 0],
    ])


def openvr_compose_projection(left, right, top, bottom, near, far):
    """OpenVR's documented construction from GetProjectionRaw (wiki: IVRSystem::GetProjectionRaw), D3D depth."""
    idx, idy, idz = 1 / (right - left), 1 / (bottom - top), 1 / (far - near)
    sx, sy = right + left, bottom + top
    return np.array([
        [2 * idx, 0, sx * idx, 0],
        [0, 2 * idy, sy * idy, 0],
        [0, 0, -far * idz, -far * near * idz],
        [0, 0, -1, 0],
    ])


# ---------------------------------------------------------------------------------------------------------- OpenXR
def test_symmetric_90_degree_fov_is_the_textbook_matrix():
    fov = EyeFov.from_angles(-math.pi / 4, math.pi / 4, math.pi / 4, -math.pi / 4)
    m = projection_from_fov(fov, 0.1, 100.0)
    expected = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, -100.1 / 99.9, -20.0 / 99.9], [0, 0, -1, 0]])
    np.testing.assert_allclose(m, expected, atol=1e-12)


def test_asymmetric_fov_angles_give_the_known_off_axis_matrix():
    # tangents -1, 0.5 (left, right) and 1, -0.5 (up, down): the image plane spans 1.5 x 1.5 at distance 1
    fov = EyeFov.from_angles(-math.pi / 4, math.atan(0.5), math.pi / 4, -math.atan(0.5))
    m = projection_from_fov(fov, 0.5, 50.0)
    np.testing.assert_allclose(m[0], [4 / 3, 0, -1 / 3, 0], atol=1e-12)
    np.testing.assert_allclose(m[1], [0, 4 / 3, 1 / 3, 0], atol=1e-12)
    np.testing.assert_allclose(m[3], [0, 0, -1, 0])


@pytest.mark.parametrize("angles", [(-0.95, 0.72, 0.81, -0.88), (-0.7, 0.7, 0.6, -0.9), (-1.2, 0.3, 1.0, -0.2)])
def test_fov_projection_equals_gl_frustum_and_maps_the_frustum_edges_to_the_unit_cube(angles):
    near, far = 0.05, 20.0
    fov = EyeFov.from_angles(*angles)
    m = projection_from_fov(fov, near, far)
    expected = gl_frustum(near * fov.tan_left, near * fov.tan_right, near * fov.tan_down, near * fov.tan_up, near, far)
    np.testing.assert_allclose(m, expected, rtol=1e-12)
    for distance, depth in ((near, -1.0), (far, 1.0)):
        for tx, sx in ((fov.tan_left, -1), (fov.tan_right, 1)):
            for ty, sy in ((fov.tan_down, -1), (fov.tan_up, 1)):
                clip = m @ np.array([tx * distance, ty * distance, -distance, 1.0])
                np.testing.assert_allclose(clip[:3] / clip[3], [sx, sy, depth], atol=1e-9)


def test_bad_clipping_planes_are_refused():
    with pytest.raises(ValueError, match="near < far"):
        projection_from_fov(EyeFov(-1, 1, 1, -1), 1.0, 0.5)


# ---------------------------------------------------------------------------------------------------------- OpenVR
def test_openvr_raw_tangents_give_openvrs_own_projection():
    # SteamVR's raw values for a left eye (as quoted in OpenComposite's XrHMD.cpp): left, right, top, bottom
    raw = (-1.110925, 0.889498, -0.964926, 0.715264)
    near, far = 0.1, 30.0
    ours = projection_from_fov(fov_from_openvr_raw(*raw), near, far)
    theirs = openvr_compose_projection(*raw, near, far)
    np.testing.assert_allclose(ours[:2], theirs[:2], rtol=1e-12)  # same x and y: same image
    np.testing.assert_allclose(ours[3], theirs[3])
    # depth differs by convention only (OpenGL -1..1 here, Direct3D 0..1 there)
    for z in (near, 1.0, far):
        ndc_gl = (ours @ [0, 0, -z, 1])[2] / z
        ndc_d3d = (theirs @ [0, 0, -z, 1])[2] / z
        assert ndc_gl == pytest.approx(2 * ndc_d3d - 1)


def test_openvr_top_and_bottom_are_the_lower_and_upper_tangents():
    fov = fov_from_openvr_raw(-1.0, 0.8, -0.6, 0.9)
    assert (fov.tan_left, fov.tan_right, fov.tan_up, fov.tan_down) == (-1.0, 0.8, 0.9, -0.6)


def test_eye_to_head_transform_composes_with_the_head_pose():
    # head at 1.6 m, turned 90 degrees to the left (about +Y); left eye 32 mm to the head's left
    half = math.sqrt(0.5)
    head = pose_matrix((0.0, 1.6, 0.0), (0.0, half, 0.0, half))
    np.testing.assert_allclose(head[:3, :3], [[0, 0, 1], [0, 1, 0], [-1, 0, 0]], atol=1e-12)
    eye_to_head = matrix_from_openvr34([[1, 0, 0, -0.032], [0, 1, 0, 0], [0, 0, 1, 0]])
    eye = head @ eye_to_head
    np.testing.assert_allclose(eye[:3, 3], [0.0, 1.6, 0.032], atol=1e-12)  # the head's left is now +Z
    np.testing.assert_allclose(rigid_inverse(eye) @ eye, np.eye(4), atol=1e-12)


def test_quaternion_of_a_rotation_about_x():
    c, s = math.cos(0.3), math.sin(0.3)
    np.testing.assert_allclose(quaternion_to_matrix(s, 0, 0, c),
                               [[1, 0, 0], [0, math.cos(0.6), -math.sin(0.6)], [0, math.sin(0.6), math.cos(0.6)]],
                               atol=1e-12)


# ---------------------------------------------------------------------------------------------------------- stage
BOUNDS = np.array([[-100.0, -50.0, -200.0], [100.0, 150.0, 200.0]])


def test_lps_directions_map_to_a_right_handed_y_up_stage():
    assert np.linalg.det(LPS_TO_STAGE) == pytest.approx(1.0)  # a rotation: never mirrored
    m = StageMapping.in_front_of(BOUNDS)
    anchor = m.lps_to_stage([0, 150, 0])[0]  # centre of L and S, posterior-most P: rests on the table
    np.testing.assert_allclose(anchor, [0.0, 0.9, -0.6], atol=1e-12)  # table height, 0.6 m ahead
    np.testing.assert_allclose(m.lps_to_stage([100, 150, 0])[0] - anchor, [0.1, 0, 0], atol=1e-12)  # L: right
    np.testing.assert_allclose(m.lps_to_stage([0, -50, 0])[0] - anchor, [0, 0.2, 0], atol=1e-12)  # A: up
    np.testing.assert_allclose(m.lps_to_stage([0, 150, 200])[0] - anchor, [0, 0, -0.2], atol=1e-12)  # S: away
    assert m.scale == pytest.approx(1.0)


def test_life_size_is_one_millimetre_per_millimetre_and_scaling_keeps_the_pivot():
    m = StageMapping.in_front_of(BOUNDS)
    a, b = m.lps_to_stage([[10, 20, 30], [13, 24, 30]])
    assert np.linalg.norm(b - a) == pytest.approx(0.005)  # 5 mm apart in the case: 5 mm in the stage
    bigger = m.with_scale(2.5, pivot_lps=[0, 150, 0])
    np.testing.assert_allclose(bigger.lps_to_stage([0, 150, 0]), m.lps_to_stage([0, 150, 0]), atol=1e-12)
    assert bigger.scale == pytest.approx(2.5)
    back = bigger.life_size(pivot_lps=[0, 150, 0])
    np.testing.assert_allclose(back.model_to_stage, m.model_to_stage, atol=1e-12)
    np.testing.assert_allclose(m.stage_to_lps(m.lps_to_stage([[1, 2, 3]])), [[1, 2, 3]], atol=1e-9)


def test_anatomy_is_placed_in_front_of_a_turned_user():
    half = math.sqrt(0.5)
    head = pose_matrix((1.0, 1.7, 2.0), (0.0, half, 0.0, half))  # looking along -X
    m = StageMapping.in_front_of(BOUNDS, head, table_height_m=0.95, distance_m=0.5)
    np.testing.assert_allclose(m.lps_to_stage([0, 150, 0])[0], [0.5, 0.95, 2.0], atol=1e-12)
    # superior still points away from the user, now along -X
    np.testing.assert_allclose(m.lps_to_stage([0, 150, 100])[0] - [0.5, 0.95, 2.0], [-0.1, 0, 0], atol=1e-12)


def test_vtk_camera_reproduces_the_eye_projection_of_a_model_point():
    from vtkmodules.vtkRenderingCore import vtkCamera

    mapping = StageMapping.in_front_of(BOUNDS, table_height_m=1.2, distance_m=0.7)
    eye = pose_matrix((-0.03, 1.6, 0.0), (0.05, 0.1, 0.0, 0.99))
    fov = EyeFov.from_angles(-0.9, 0.75, 0.8, -0.85)
    camera = vtkCamera()
    set_eye_camera(camera, eye, fov, mapping)
    m = camera.GetCompositeProjectionTransformMatrix(1.0, -1, 1)
    vtk_pv = np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])
    for point in ([0, 0, 0], [60, 100, -150], [-90, 0, 180]):
        p_eye = np.linalg.inv(eye) @ np.append(mapping.lps_to_stage(point)[0], 1.0)
        expected = projection_from_fov(fov, 0.05, 20.0) @ p_eye
        got = vtk_pv @ np.append(point, 1.0)
        np.testing.assert_allclose(got[:2] / got[3], expected[:2] / expected[3], atol=1e-9)
    position, direction, up = eye_in_model(eye, mapping)
    np.testing.assert_allclose(mapping.lps_to_stage(position)[0], eye[:3, 3], atol=1e-12)
    assert float(direction @ up) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------------------------------------- runtimes
@pytest.mark.slow
def test_openvr_tangents_and_eye_offsets_match_the_openxr_views_of_the_same_headset(openxr_runtime,
                                                                                    opencomposite_env, monkeypatch):
    """OpenComposite's OpenVR answers and Monado's OpenXR views describe the same eyes once converted."""
    from vr_helpers import marker_scene

    from rendering.vr.engine import VREngine
    from rendering.vr.openxr_backend import OpenXRBackend

    views = {}

    def grab(frame, engine):
        views["eyes"] = [(rigid_inverse(frame.head_to_stage) @ e.eye_to_stage, e.fov) for e in frame.eyes]

    result = VREngine(marker_scene(), OpenXRBackend(), overlay=False).run(frames=2, on_frame=grab, timeout_s=30)
    assert result.outcome == "completed"

    import openvr

    for key, value in opencomposite_env.items():
        monkeypatch.setenv(key, value)
    system = openvr.init(openvr.VRApplication_Scene)
    try:
        for eye_index, (xr_eye_to_head, xr_fov) in zip((openvr.Eye_Left, openvr.Eye_Right), views["eyes"],
                                                       strict=True):
            vr_fov = fov_from_openvr_raw(*system.getProjectionRaw(eye_index))
            np.testing.assert_allclose([vr_fov.tan_left, vr_fov.tan_right, vr_fov.tan_up, vr_fov.tan_down],
                                       [xr_fov.tan_left, xr_fov.tan_right, xr_fov.tan_up, xr_fov.tan_down],
                                       atol=1e-5)
            vr_eye_to_head = matrix_from_openvr34(system.getEyeToHeadTransform(eye_index))
            np.testing.assert_allclose(vr_eye_to_head[:3, 3], xr_eye_to_head[:3, 3], atol=1e-4)
    finally:
        openvr.shutdown()


def test_vtk_culls_props_outside_the_headset_frustum():
    """VTK's frustum culler works with the explicit per-eye projection: what is behind the eye is not drawn."""
    from vtkmodules.vtkFiltersSources import vtkSphereSource
    from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

    from rendering.vr.preview import StereoPreview, eyes_for_head, look_at

    actors = []
    for centre in ((0, 0, 0), (0, 0, 2000)):  # the second 2 m superior: behind a user looking at the first
        sphere = vtkSphereSource()
        sphere.SetCenter(*centre)
        sphere.SetRadius(30)
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(sphere.GetOutputPort())
        actor = vtkActor()
        actor.SetMapper(mapper)
        actors.append(actor)
    mapping = StageMapping.in_front_of(np.array([[-30, -30, -30], [30, 30, 30]]))
    target = mapping.lps_to_stage([0, 0, 0])[0]
    head = look_at(target + np.array([0.0, 0.3, -0.5]), target)  # standing beyond the head end, looking back
    preview = StereoPreview(actors, mapping, eye_size=(160, 160))
    try:
        preview.render_eye(eyes_for_head(head)[0])
        assert preview.renderer.GetNumberOfPropsRendered() == 1
        preview.render_eye(eyes_for_head(look_at(target + np.array([0.0, 2.0, -1.2]), target - [0, 0, 0.5]))[0])
        assert preview.renderer.GetNumberOfPropsRendered() == 2  # from high above both are in view
    finally:
        preview.close()
