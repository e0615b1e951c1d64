"""A runtime that dies in the middle of a session (as SteamVR or a headset service can): back to the desktop."""

from __future__ import annotations

import numpy as np
import pytest
from vr_helpers import marker_scene, red_centroid
from vtkmodules.vtkRenderingCore import vtkRenderer

from rendering.offscreen import render_to_array
from rendering.vr.engine import VREngine
from rendering.vr.openxr_backend import OpenXRBackend

pytestmark = pytest.mark.slow


def test_runtime_killed_mid_session_returns_to_the_desktop_with_the_case_intact(monado_service, monado_env,
                                                                                  monkeypatch):
    actors = marker_scene()
    desktop = vtkRenderer()  # the desktop's 3-D view holds the same actors
    for actor in actors:
        desktop.AddActor(actor)
    inputs = [a.GetMapper().GetInput() for a in actors]
    points = [pd.GetNumberOfPoints() for pd in inputs]

    def kill_runtime(frame, engine):
        if frame.index == 15:
            monado_service.kill()  # SIGKILL: the runtime process is gone, mid-session
            monado_service.wait(timeout=10)

    engine = VREngine(actors, OpenXRBackend(), placement={"table_height_m": 1.52, "distance_m": 0.5},
                      overlay=False)
    result = engine.run(frames=500, on_frame=kill_runtime, timeout_s=30)

    assert result.outcome == "lost"
    assert "went away" in result.message
    assert "back on the desktop" in result.message
    assert 10 <= result.stats.submitted < 20  # frames flowed until the kill at frame 15
    assert "FOCUSED" in result.states
    # The case is intact: the same actors with the same data, still in the desktop view, and it still renders.
    assert [a.GetMapper().GetInput() for a in actors] == inputs
    assert [pd.GetNumberOfPoints() for pd in inputs] == points
    assert desktop.GetActors().GetNumberOfItems() == len(actors)
    assert engine.renderer is None
    assert engine.window is None

    def fit():
        desktop.ResetCamera()

    image = render_to_array(desktop, (200, 200), before_render=fit)
    assert red_centroid(image) is not None

    # And the headset can be entered again once a runtime is back (here the in-process Monado).
    for key, value in monado_env.items():
        monkeypatch.setenv(key, value)
    again = VREngine(actors, OpenXRBackend(), overlay=False).run(frames=3, timeout_s=30)
    assert again.outcome == "completed", again.message
    assert np.all([a.GetMapper().GetInput() is pd for a, pd in zip(actors, inputs, strict=True)])
