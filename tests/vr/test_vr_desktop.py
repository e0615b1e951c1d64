"""View > Enter VR in the workstation: the check never crashes the app; a session runs on the 3-D view's actors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def demo_window(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from app.ui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    win.ask_before_discard = False
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.load_demo((64, 64, 48))
    qtbot.waitUntil(lambda: len(win.case.meshes) == 2 and not win.tasks.busy, timeout=120_000)
    win.render_all()
    return win


def test_enter_vr_without_a_runtime_says_so_and_the_app_goes_on(demo_window, tmp_path, monkeypatch):
    monkeypatch.setenv("XR_RUNTIME_JSON", str(tmp_path / "no-runtime.json"))
    monkeypatch.delenv("VR_OVERRIDE", raising=False)
    control = demo_window.vr_control
    assert control.action.text() == "Enter &VR"
    assert control.enter() is False
    assert control.last_message.startswith("VR not available: no VR runtime found")
    assert "no-runtime.json" in control.last_message
    assert not control.active
    demo_window.render_all()  # still alive and drawing


def test_enter_and_exit_vr_on_the_workstation_scene(demo_window, openxr_runtime, qtbot):
    scene = demo_window.three_d.scene
    keys = scene.keys()
    actors = [scene.actor(k) for k in keys]
    inputs = [a.GetMapper().GetInput() for a in actors]
    control = demo_window.vr_control
    assert control.enter() is True
    assert control.action.text() == "Exit &VR"
    assert control.engine.props == actors  # the desktop's own actors, not copies
    qtbot.waitUntil(lambda: control.engine is not None and control.engine.stats.submitted >= 15, timeout=60_000)
    control.toggle()  # Exit VR
    assert not control.active
    assert control.last_result.outcome == "stopped"
    assert control.last_result.stats.submitted >= 15
    assert "FOCUSED" in control.last_result.states
    assert control.last_result.states[-1] == "EXITING"
    assert [a.GetMapper().GetInput() for a in actors] == inputs  # full meshes back after LOD
    assert all(scene.renderer.HasViewProp(a) for a in actors)
    assert control.last_message.startswith("Left VR: ")
