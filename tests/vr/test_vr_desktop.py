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
    demo_window.case.meshes[0].name = "Bone (reviewed)"  # an unsaved change...
    assert control.enter() is True
    assert control.autosaved_before_vr  # ...so it was copied for crash recovery before the headset started
    store = demo_window.autosaver.store
    assert (store.root / f"{store.token}.json").is_file()  # the copy a crash would leave for the next start
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


def test_vr_takes_over_the_desktop_tissue_simulation_and_hands_it_back_cut(demo_window, openxr_runtime, qtbot):
    """A running soft-tissue simulation goes into the headset (stepped by VR's worker, not the desktop's timer);
    a cut made in VR is shown on the desktop afterwards; the panel offers the case's models as segment toggles."""
    import numpy as np

    from simulation.tissue import TissueSimulation, box_mesh, material

    tool = demo_window.tissue_tool
    mesh = box_mesh((60.0, 40.0, 30.0), (8, 6, 4))
    sim = TissueSimulation(mesh, material("liver"), fixed=mesh.points[:, 2] < 1e-6)
    tool.start(sim, (0.7, 0.3, 0.24), [], {"name": "Slab"})
    assert tool.timer.isActive()
    control = demo_window.vr_control
    assert control.enter() is True
    controls = control.engine.interaction
    assert not tool.timer.isActive()  # one owner: VR's worker steps it now
    assert tool.mode == "navigate"  # the desktop's mouse tools leave it alone
    assert not tool.dock.isEnabled()
    assert controls.tissue.tissue.sim is sim
    assert set(controls.segments) == {node.name for node in demo_window.case.meshes}
    qtbot.waitUntil(lambda: control.engine.stats.submitted >= 5 and controls.tissue.tissue.steps >= 5, timeout=60_000)
    assert controls.panel.placed
    # What a blade stroke of the controller sends: a swept cut through the middle of the slab.
    starts = np.array([[30.0, -5.0, 40.0 - 3.0 * i] for i in range(16)])
    controls.tissue.tissue.cut_swept(starts, np.add(starts, [0.0, 50.0, 0.0]))
    qtbot.waitUntil(lambda: controls.tissue.tissue.latest().topology == 1, timeout=30_000)
    control.toggle()  # Exit VR
    assert control.last_result.outcome == "stopped"
    assert tool.sim is sim
    assert len(sim.cuts) == 1
    assert len(sim.cuts[0].part_volumes_mm3) == 2
    assert tool.last_cut is sim.cuts[0]
    assert tool.timer.isActive()  # the desktop steps it again
    assert tool.dock.isEnabled()
    tool.stop()
