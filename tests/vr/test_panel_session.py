"""The floating panel through the real OpenXR path (Monado's simulated headset): drawn in both eyes where the
located views put it, and a recorded controller pressing its buttons hides a segment and leaves VR."""

from __future__ import annotations

import numpy as np
import pytest
from vr_helpers import marker_scene, red_centroid

from rendering.vr.backend import ControllerState
from rendering.vr.controls import VRControls
from rendering.vr.engine import VREngine
from rendering.vr.maths import projection_from_fov
from rendering.vr.openxr_backend import OpenXRBackend
from rendering.vr.panel import PANEL_BACKGROUND

pytestmark = pytest.mark.slow

NEAR_PLACEMENT = {"table_height_m": 1.52, "distance_m": 0.5}
# The panel 0.6 m ahead, a little left of and below the eyes: beside the marker, whole in Monado's 320x240 eyes.
PANEL_PLACEMENT = {"distance_m": 0.6, "below_m": 0.02, "left_m": 0.13}


def panel_mask(image: np.ndarray) -> np.ndarray:
    return (np.abs(image.astype(int) - PANEL_BACKGROUND) <= 3).all(axis=-1)


def projected(points_stage, eye_to_stage, fov, size) -> np.ndarray:
    """Pixel positions (top-row-first) of stage points in an eye's image."""
    p = np.c_[points_stage, np.ones(len(points_stage))] @ np.linalg.inv(eye_to_stage).T
    clip = p @ projection_from_fov(fov, 0.05, 20.0).T
    ndc = clip[:, :3] / clip[:, 3:]
    w, h = size
    return np.c_[(ndc[:, 0] + 1) / 2 * w, (1 - ndc[:, 1]) / 2 * h]


def test_panel_is_drawn_in_both_eyes_and_its_buttons_work_from_a_recorded_controller(openxr_runtime, tmp_path):
    from PIL import Image

    marker, slab = marker_scene()
    controls = VRControls(segments={"Marker": marker, "Slab": slab}, panel_placement=PANEL_PLACEMENT)
    engine = VREngine([marker, slab], OpenXRBackend(), placement=NEAR_PLACEMENT, overlay=False,
                      interaction=controls)
    panel = controls.panel

    def feed(frame):
        # From frame 4 a right hand 25 cm in front of the "Marker" button points at it; trigger pulled at frame 8;
        # from frame 16 it points at "Exit VR" and pulls again at frame 20.
        if frame.index < 4:
            return ()
        key = "segment:Marker" if frame.index < 16 else "exit"
        target = panel.point_stage(*panel.centre_of(key))
        pose = panel.panel_to_stage.copy()
        pose[:3, 3] = target + 0.25 * panel.panel_to_stage[:3, 2]
        pulled = 8 <= frame.index < 12 or frame.index >= 20
        return (ControllerState("right", pose, trigger=1.0 if pulled else 0.0),)

    seen = {}

    def on_eye(eye, texture, size, frame, engine):
        if frame.index in (6, 14):
            seen[(frame.index, eye)] = (engine.blitter.read_texture(texture, size), frame.eyes[eye])

    result = engine.run(frames=60, on_eye=on_eye, controller_feed=feed, timeout_s=40)
    assert result.outcome == "stopped", result.message  # the Exit VR button ended the session...
    assert result.message == "exit requested from the VR panel"
    assert 15 <= result.stats.submitted < 30  # ...as soon as it was pressed (frame 20 of 60)
    assert controls.pressed == ["segment:Marker", "exit"]
    assert marker.GetVisibility()  # hidden in VR only: the desktop's visibility is back

    size = result.eye_size
    for eye in (0, 1):
        image, view = seen[(6, eye)]
        Image.fromarray(image).save(tmp_path / f"eye{eye}_frame6.png")
        mask = panel_mask(image)
        corners = projected(panel.corners_stage(), view.eye_to_stage, view.fov, size)
        assert corners.min() > 0  # the whole panel in view
        assert (corners.max(axis=0) < size).all()
        ys, xs = np.nonzero(mask)
        # The panel's pixels fill the quad the located view predicts (between buttons, its background shows).
        assert xs.min() >= corners[:, 0].min() - 1.5
        assert xs.max() <= corners[:, 0].max() + 1.5
        assert ys.min() >= corners[:, 1].min() - 1.5
        assert ys.max() <= corners[:, 1].max() + 1.5
        assert xs.max() - xs.min() > 0.9 * np.ptp(corners[:, 0])
        assert red_centroid(image) is not None  # the marker is shown beside it
        after, _ = seen[(14, eye)]
        Image.fromarray(after).save(tmp_path / f"eye{eye}_frame14.png")
        assert red_centroid(after) is None  # the button hid the marker segment in the headset
        assert panel_mask(after).sum() > 0.5 * mask.sum()
    # Stereo: the panel (0.6 m away) sits further right in the left eye than in the right one.
    left_x = np.nonzero(panel_mask(seen[(6, 0)][0]))[1].mean()
    right_x = np.nonzero(panel_mask(seen[(6, 1)][0]))[1].mean()
    assert left_x - right_x > 5


def test_pointing_rays_follow_the_hands(openxr_runtime):
    """A hand pointing at the panel draws its ray ending on the panel (the rays are in the eye images too)."""
    marker, slab = marker_scene()
    controls = VRControls(segments={"Marker": marker}, panel_placement=PANEL_PLACEMENT)
    engine = VREngine([marker, slab], OpenXRBackend(), placement=NEAR_PLACEMENT, overlay=False,
                      interaction=controls)
    ends = {}

    def feed(frame):
        if frame.index < 3:
            return ()
        pose = controls.panel.panel_to_stage.copy()  # pointing along -Z of the panel: straight at it
        pose[:3, 3] = controls.panel.point_stage(0.05, 0.03) + 0.3 * pose[:3, 2]
        return (ControllerState("left", pose),)

    def on_frame(frame, engine):
        if frame.index == 5:
            line, actor = controls._rays.lines["left"]
            ends["visible"] = bool(actor.GetVisibility())
            ends["end"] = np.array(line.GetPoint2())

    result = engine.run(frames=6, controller_feed=feed, on_frame=on_frame, timeout_s=30)
    assert result.outcome == "completed"
    assert ends["visible"]
    np.testing.assert_allclose(ends["end"], controls.panel.point_stage(0.05, 0.03), atol=1e-9)


def test_a_recorded_hand_grasps_and_lifts_the_simulated_tissue_in_the_headset(openxr_runtime):
    """The whole chain on the real OpenXR path: controller states -> grasp tool -> the solver's worker -> the
    tissue surface drawn in the eyes from the latest completed step."""
    from rendering.vr.async_sim import AsyncTissue
    from rendering.vr.maths import pose_matrix
    from rendering.vr.stage import StageMapping
    from rendering.vr.tissue_tools import VRTissueTools
    from simulation.tissue import TissueSimulation, box_mesh, material

    size = (60.0, 40.0, 30.0)
    mesh = box_mesh(size, (8, 6, 4))
    sim = TissueSimulation(mesh, material("liver"), fixed=mesh.points[:, 2] < 1e-6)
    tools = VRTissueTools(AsyncTissue(sim), colour=(0.9, 0.2, 0.9), grasp_radius_mm=8.0)
    controls = VRControls(panel=False, tissue=tools, tool="grasp")
    mapping = StageMapping.in_front_of(np.array([[0.0, 0.0, 0.0], size]), pose_matrix((0, 1.65, 0), (0, 0, 0, 1)),
                                       table_height_m=1.5, distance_m=0.3)
    engine = VREngine([], OpenXRBackend(), mapping=mapping, overlay=False, interaction=controls)
    grasp_lps = np.array([30.0, 0.0, 22.5])
    start_tip = mapping.lps_to_stage(grasp_lps)[0] + np.array([0.0, 0.004, 0.0])

    def tip(index):
        return np.add(start_tip, [0.0, 0.03 * min(max(index - 5, 0), 20) / 20, 0.0])  # lift 3 cm, frames 5..25

    def feed(frame):
        pose = pose_matrix(np.add(tip(frame.index), [0.0, 0.0, tools.tip_offset_m]), (0, 0, 0, 1))  # points -Z
        return (ControllerState("right", pose, grab=1.0 if frame.index >= 5 else 0.0),)

    seen = {}

    def on_eye(eye, texture, size_px, frame, engine):
        if eye == 0 and frame.index in (4, 34):
            seen[frame.index] = (engine.blitter.read_texture(texture, size_px).astype(int), frame.eyes[0])

    result = engine.run(frames=35, on_eye=on_eye, controller_feed=feed, timeout_s=40)
    assert result.outcome == "completed", result.message
    assert not tools.tissue.running  # the worker ended with the session
    snap = tools.tissue.latest()
    held = snap.positions_mm[snap.grasped].mean(axis=0)
    np.testing.assert_allclose(held[1], grasp_lps[1] - 30.0, atol=3.0)  # pulled 3 cm anterior: up in the room
    # The headset shows the tissue where the solver has it now, and nothing was there before the pull.
    held_stage = mapping.lps_to_stage(held)
    for index, expect in ((34, True), (4, False)):
        image, view = seen[index]
        x, y = projected(held_stage, view.eye_to_stage, view.fov, result.eye_size)[0]
        patch = image[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2]
        tissue = (patch[..., 0] > patch[..., 1] + 30) & (patch[..., 2] > patch[..., 1] + 30)
        assert tissue.any() == expect, (index, x, y)
