"""The OpenXR backend against a real runtime: Monado's simulated headset and headless compositor."""

from __future__ import annotations

import numpy as np
import pytest
from vr_helpers import assert_stereo_and_head_motion, marker_scene, sample_session

from rendering.vr.engine import VREngine
from rendering.vr.openxr_backend import OpenXRBackend

pytestmark = pytest.mark.slow

# Put the marker half a metre ahead of the head, just below eye level, so that both eyes see it whole.
NEAR_PLACEMENT = {"table_height_m": 1.52, "distance_m": 0.5}


def test_session_reaches_focused_and_renders_located_views_for_100_frames(openxr_runtime):
    backend = OpenXRBackend()
    engine = VREngine(marker_scene(), backend, placement=NEAR_PLACEMENT, overlay=False)
    result, samples = sample_session(engine, frames=100)

    assert result.outcome == "completed", result.message
    assert result.stats.submitted == 100
    assert "FOCUSED" in result.states
    assert result.states[-2:] == ["IDLE", "EXITING"]  # clean end: STOPPING -> IDLE -> EXITING
    assert backend.session is None
    assert backend.instance is None
    assert result.eye_size == (320, 240)  # Monado's headless recommendation
    assert_stereo_and_head_motion(samples)


def test_ten_enter_exit_cycles_in_one_process(openxr_runtime):
    actors = marker_scene()
    for cycle in range(10):
        result = VREngine(actors, OpenXRBackend(), placement=NEAR_PLACEMENT, overlay=False).run(frames=3,
                                                                                               timeout_s=30)
        assert result.outcome == "completed", (cycle, result.message)
        assert result.stats.submitted == 3
        assert "FOCUSED" in result.states, (cycle, result.states)
        assert result.states[-1] == "EXITING", (cycle, result.states)


def test_controller_bindings_for_the_common_profiles_are_accepted(openxr_runtime):
    from rendering.vr.actions import SUGGESTED_BINDINGS

    backend = OpenXRBackend()
    result = VREngine(marker_scene(), backend, placement=NEAR_PLACEMENT, overlay=False)
    controllers = {}

    def on_frame(frame, engine):
        controllers["accepted"] = list(engine.backend.controllers.accepted_profiles)
        controllers["rejected"] = dict(engine.backend.controllers.rejected_profiles)
        controllers["states"] = frame.controllers

    result = result.run(frames=2, on_frame=on_frame, timeout_s=30)
    assert result.outcome == "completed"
    # The runtime validated every suggested binding path of the four profiles.
    assert controllers["rejected"] == {}
    assert set(controllers["accepted"]) == set(SUGGESTED_BINDINGS)
    assert len(SUGGESTED_BINDINGS) == 4


def test_recorded_grab_moves_the_anatomy_in_the_headset(openxr_runtime):
    from vr_helpers import predicted_pixel, red_centroid

    from rendering.vr.backend import ControllerState
    from rendering.vr.interaction import Interaction
    from rendering.vr.maths import pose_matrix

    def feed(frame):  # a recorded right hand: grabs at frame 5 and moves 6 cm to the user's right by frame 25
        x = 0.06 * min(max(frame.index - 5, 0), 20) / 20
        return (ControllerState("right", pose_matrix((0.1 + x, 1.4, -0.3), (0, 0, 0, 1)),
                                grab=1.0 if frame.index >= 5 else 0.0),)

    seen = {}

    def on_eye(eye, texture, size, frame, engine):
        if eye == 0 and frame.index in (3, 30):
            view = frame.eyes[0]
            first = seen.get(3, (None, engine.mapping))[1]
            seen[frame.index] = (engine.blitter.read_texture(texture, size), engine.mapping,
                                 predicted_pixel((0, 0, 0), view.eye_to_stage, view.fov, engine.mapping, size),
                                 predicted_pixel((0, 0, 0), view.eye_to_stage, view.fov, first, size))

    engine = VREngine(marker_scene(), OpenXRBackend(), placement=NEAR_PLACEMENT, overlay=False,
                      interaction=Interaction())
    result = engine.run(frames=30, on_eye=on_eye, controller_feed=feed, timeout_s=30)
    assert result.outcome == "completed"
    assert engine.haptics_sent == 1
    (_, mapping0, _, _), (after, mapping1, predicted, unmoved) = seen[3], seen[30]
    # The anatomy moved with the hand, 6 cm to the right...
    moved = mapping1.lps_to_stage([0, 0, 0])[0] - mapping0.lps_to_stage([0, 0, 0])[0]
    np.testing.assert_allclose(moved, [0.06, 0.0, 0.0], atol=1e-9)
    # ...and the headset shows it there, not where it was (the simulated head wanders too, so compare the two).
    measured = red_centroid(after)
    assert np.allclose(measured, predicted, atol=1.5)
    assert measured[0] - unmoved[0] > 10


def test_trigger_clips_the_anatomy_in_the_headset_and_the_desktop_gets_its_mappers_back(openxr_runtime):
    from vr_helpers import predicted_pixel

    from rendering.vr.backend import ControllerState
    from rendering.vr.interaction import Interaction
    from rendering.vr.maths import pose_matrix

    actors = marker_scene()
    engine = VREngine(actors, OpenXRBackend(), placement=NEAR_PLACEMENT, overlay=False, interaction=Interaction())

    def feed(frame):  # a hand at the marker's centre pointing right, pulling the trigger from frame 6
        centre = engine.mapping.lps_to_stage([0, 0, 0])[0]
        half = np.sqrt(0.5)
        return (ControllerState("right", pose_matrix(centre, (0, -half, 0, half)),
                                trigger=1.0 if frame.index >= 6 else 0.0),)

    red = {}

    def on_eye(eye, texture, size, frame, engine):
        if eye == 0 and frame.index in (4, 11):
            image = engine.blitter.read_texture(texture, size)
            mask = (image[..., 0] > 200) & (image[..., 1] < 40) & (image[..., 2] < 40)
            centre = predicted_pixel((0, 0, 0), frame.eyes[0].eye_to_stage, frame.eyes[0].fov, engine.mapping, size)
            red[frame.index] = (int(mask.sum()), np.nonzero(mask)[1].max() + 0.5, centre[0])

    result = engine.run(frames=11, on_eye=on_eye, controller_feed=feed, timeout_s=30)
    assert result.outcome == "completed"
    (whole, right_edge_before, centre_before), (cut, right_edge_after, centre_after) = red[4], red[11]
    assert 0.35 < cut / whole < 0.65  # the right half of the marker is cut away...
    assert right_edge_before > centre_before + 4
    assert right_edge_after < centre_after + 1.5  # ...exactly at the plane through its centre
    assert all(a.GetMapper().GetClippingPlanes() is None or a.GetMapper().GetClippingPlanes().GetNumberOfItems() == 0
               for a in actors)
