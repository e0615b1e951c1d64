"""The OpenVR backend against a real runtime: OpenComposite (OpenVR over OpenXR) on Monado's simulated headset."""

from __future__ import annotations

import pytest
from vr_helpers import assert_stereo_and_head_motion, marker_scene, sample_session

from rendering.vr.engine import VREngine
from rendering.vr.openvr_backend import OpenVRBackend

pytestmark = pytest.mark.slow

NEAR_PLACEMENT = {"table_height_m": 1.52, "distance_m": 0.5}


def test_openvr_session_renders_the_eyes_for_100_frames(openvr_runtime):
    backend = OpenVRBackend()
    engine = VREngine(marker_scene(), backend, placement=NEAR_PLACEMENT, overlay=False)
    result, samples = sample_session(engine, frames=100)

    assert result.outcome == "completed", result.message
    assert result.stats.submitted == 100
    assert result.states[0] == "initialised"
    assert "focused" in result.states
    assert result.states[-1] == "shut down"
    assert result.eye_size == (320, 240)
    assert backend.system is None
    assert_stereo_and_head_motion(samples)


def test_openvr_enter_exit_cycles(openvr_runtime):
    actors = marker_scene()
    for cycle in range(10):
        result = VREngine(actors, OpenVRBackend(), placement=NEAR_PLACEMENT, overlay=False).run(frames=2,
                                                                                               timeout_s=30)
        assert result.outcome == "completed", (cycle, result.message)
        assert result.stats.submitted == 2
