"""A runtime that dies in the middle of a session (as SteamVR or a headset service can): back to the desktop."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from vr_helpers import marker_scene, red_centroid
from vtkmodules.vtkRenderingCore import vtkRenderer

from rendering.offscreen import render_to_array
from rendering.vr.engine import VREngine
from rendering.vr.openvr_backend import OpenVRBackend
from rendering.vr.openxr_backend import OpenXRBackend

pytestmark = pytest.mark.slow



def assert_case_intact(engine, actors, inputs, points, desktop) -> None:
    """After a lost runtime: the same actors with the same data, back in the desktop view, which still renders."""
    assert [a.GetMapper().GetInput() for a in actors] == inputs
    assert [pd.GetNumberOfPoints() for pd in inputs] == points
    assert desktop.GetActors().GetNumberOfItems() == len(actors)
    assert engine.renderer is None
    assert engine.window is None

    def fit():
        desktop.ResetCamera()

    assert red_centroid(render_to_array(desktop, (200, 200), before_render=fit)) is not None

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
    assert_case_intact(engine, actors, inputs, points, desktop)

    # And the headset can be entered again once a runtime is back (here the in-process Monado).
    for key, value in monado_env.items():
        monkeypatch.setenv(key, value)
    again = VREngine(actors, OpenXRBackend(), overlay=False).run(frames=3, timeout_s=30)
    assert again.outcome == "completed", again.message
    assert np.all([a.GetMapper().GetInput() is pd for a, pd in zip(actors, inputs, strict=True)])


# Killed at frame 1: before the first Submit, on which OpenComposite swaps its start-up session for one on our GL
# context (the layer then hands it a stand-in session); at frame 15: mid-flow.
@pytest.mark.parametrize("kill_at", [1, 15])
def test_through_opencomposite_the_lost_runtime_also_returns_to_the_desktop_with_the_case_intact(
        kill_at, openvr_runtime, monado_service, monado_env, monkeypatch, capfd):
    """The OpenVR backend on OpenComposite over Monado's service, killed mid-session, in this very process: our
    OpenXR layer (rendering/vr/xr_loss_layer) keeps OpenComposite from aborting and makes it send a Quit event,
    which the backend reports as the runtime lost."""
    actors = marker_scene()
    desktop = vtkRenderer()
    for actor in actors:
        desktop.AddActor(actor)
    inputs = [a.GetMapper().GetInput() for a in actors]
    points = [pd.GetNumberOfPoints() for pd in inputs]
    killed_at = []
    layer_env = {key: os.environ.get(key) for key in ("XR_API_LAYER_PATH", "XR_ENABLE_API_LAYERS")}

    def kill_runtime(frame, engine):
        if frame.index == kill_at:
            killed_at.append(engine.stats.submitted)
            monado_service.kill()
            monado_service.wait(timeout=10)

    engine = VREngine(actors, OpenVRBackend(), placement={"table_height_m": 1.52, "distance_m": 0.5},
                      overlay=False)
    result = engine.run(frames=500, on_frame=kill_runtime, timeout_s=30)

    assert result.outcome == "lost", result.message
    assert "went away" in result.message
    assert "back on the desktop" in result.message
    assert "XR_ERROR_INSTANCE_LOST" in result.message  # the layer's account of what the runtime answered
    assert len(killed_at) == 1
    assert kill_at - 5 <= killed_at[0] < kill_at  # frames flowed until the kill
    assert result.stats.submitted <= killed_at[0] + 1  # nothing more went to a dead runtime
    assert result.states[-2:] == ["runtime lost", "shut down"]
    assert kill_at == 1 or "focused" in result.states
    assert "[XR_APILAYER_SURGITWIN_runtime_loss]" in capfd.readouterr().err
    # Enabled for OpenComposite's loader only: an OpenXR session in this process does not get the layer.
    assert {key: os.environ.get(key) for key in layer_env} == layer_env
    assert_case_intact(engine, actors, inputs, points, desktop)

    # OpenVR can be entered again in the same process once a runtime is back (the in-process Monado).
    for key, value in monado_env.items():
        monkeypatch.setenv(key, value)
    again = VREngine(actors, OpenVRBackend(), overlay=False).run(frames=3, timeout_s=30)
    assert again.outcome == "completed", again.message
    assert [a.GetMapper().GetInput() for a in actors] == inputs


_OPENVR_CHILD = """
import os, signal, sys
sys.path[:0] = [os.getcwd(), os.path.join(os.getcwd(), "tests", "vr")]
from vr_helpers import marker_scene
from rendering.vr.engine import VREngine
from rendering.vr.openvr_backend import OpenVRBackend

def on_frame(frame, engine):
    if frame.index == 15:
        print("submitted", engine.stats.submitted, "- killing the runtime", flush=True)
        os.kill(int(sys.argv[1]), signal.SIGKILL)

result = VREngine(marker_scene(), OpenVRBackend(), overlay=False).run(frames=300, on_frame=on_frame, timeout_s=30)
print("survived:", result.outcome, flush=True)
"""


def test_without_the_layer_opencomposite_aborts_the_process(openvr_runtime, monado_service, tmp_path):
    """The control: why the layer is shipped. Without it OpenComposite aborts on the first failed OpenXR call
    (XR_ERROR_INSTANCE_LOST, with no LOSS_PENDING state first), before any OpenVR call can tell the application;
    here in a child process. Should a later OpenComposite survive this on its own, this test fails and the layer
    (and README, VR) can go."""
    import resource
    import signal
    import subprocess
    import sys

    env = {**os.environ, "SURGITWIN_XR_LOSS_LAYER": str(tmp_path / "no-layer.json")}  # not there: layer off
    done = subprocess.run([sys.executable, "-c", _OPENVR_CHILD, str(monado_service.pid)], capture_output=True,
                          text=True, timeout=90, check=False, cwd=str(Path(__file__).resolve().parents[2]),
                          env=env, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)))  # no core
    output = done.stdout + done.stderr
    assert "killing the runtime" in output, output[-2000:]  # the session ran (OpenVR frames were submitted)
    assert "XR_APILAYER_SURGITWIN" not in output
    assert "survived" not in output
    assert done.returncode == -signal.SIGABRT, (done.returncode, output[-2000:])
    assert "XR_ERROR_INSTANCE_LOST" in output
    assert "OpenXR Call failed, aborting" in output  # OpenComposite's own abort
