"""The soft-tissue grasp and cut tools fed with recorded controller states, the simulation stepping in its worker;
and the frame loop never waiting for a (deliberately slow) solver step."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from rendering.vr.async_sim import AsyncTissue
from rendering.vr.backend import ControllerState
from rendering.vr.controls import VRControls
from rendering.vr.maths import pose_matrix
from rendering.vr.stage import StageMapping
from rendering.vr.tissue_tools import VRTissueTools
from simulation.tissue import TissueSimulation, box_mesh, material

SIZE = (60.0, 40.0, 30.0)  # L, P, S mm
#: A hard grasp holds its nodes at the instrument exactly; what is left is the one step the display may lag.
GRASP_TOLERANCE_MM = 0.05
SPRING_TOLERANCE_MM = 1.0
DOWN = (-math.sin(math.pi / 4), 0.0, 0.0, math.cos(math.pi / 4))  # grip turned -90 degrees about X: points down


def slab_sim():
    """A 60 x 40 x 30 mm liver slab (1152 tetrahedra) attached at its inferior face (S = 0)."""
    mesh = box_mesh(SIZE, (8, 6, 4))
    return TissueSimulation(mesh, material("liver"), fixed=mesh.points[:, 2] < 1e-6)


def mapping_for():
    return StageMapping.in_front_of(np.array([[0.0, 0.0, 0.0], SIZE]))


def grip_with_tip_at(tools, tip_stage, orientation=(0.0, 0.0, 0.0, 1.0)):
    """The grip pose whose tool tip is at ``tip_stage``."""
    pose = pose_matrix((0.0, 0.0, 0.0), orientation)
    pose[:3, 3] = np.asarray(tip_stage, float) - tools.tip_offset_m * (pose[:3, :3] @ [0.0, 0.0, -1.0])
    return pose


@pytest.fixture
def slab():
    tissue = AsyncTissue(slab_sim())
    yield tissue
    tissue.stop()


@pytest.mark.parametrize(("hard", "tolerance"), [(True, GRASP_TOLERANCE_MM), (False, SPRING_TOLERANCE_MM)])
def test_squeezing_near_the_tissue_grasps_it_and_the_nodes_follow_the_controller(hard, tolerance):
    tissue = AsyncTissue(slab_sim(), realtime=False)  # steps as fast as the solver goes: a short test
    tools = VRTissueTools(tissue, hard=hard, spring_stiffness_n_per_m=2000.0)
    controls = VRControls(panel=False, tissue=tools, tool="grasp")
    mapping = mapping_for()
    tissue.start()
    try:
        grasp_lps = np.array([30.0, 0.0, 22.5])  # on the anterior face (P = 0 faces the ceiling), a free node
        start = np.add(mapping.lps_to_stage(grasp_lps)[0], [0.0, 0.004, 0.0])  # tip 4 mm above the surface
        path = [np.add(start, [0.0, 0.02 * k / 20, 0.01 * k / 20]) for k in range(21)]  # lift 20 mm, pull 10 mm
        errors = []
        mapping_before = mapping.model_to_stage.copy()
        for k, tip in enumerate([start, *path]):
            pose = grip_with_tip_at(tools, tip)
            mapping, haptics = controls.update([ControllerState("right", pose, grab=0.9)], mapping)
            if k == 0:
                assert haptics == [("right", 0.4, 0.03)]
                snap = tissue.settle()
                nodes = snap.grasped.copy()
                assert len(nodes) >= 1
                offsets = snap.positions_mm[nodes] - mapping.stage_to_lps(tools.tip_stage(pose))[0]
            snap = tissue.settle()
            for _ in range(10 if not hard else 0):  # springs: let it catch up with the hand, then measure
                snap = tissue.settle()
            target = mapping.stage_to_lps(tools.tip_stage(pose))[0] + offsets
            errors.append(float(np.linalg.norm(snap.positions_mm[nodes] - target, axis=1).max()))
        print(f"grasp ({'hard' if hard else 'springs'}): largest following error {max(errors):.3g} mm")
        assert max(errors) < tolerance, errors
        # The anatomy did not move: the squeeze was the tissue's.
        np.testing.assert_allclose(mapping.model_to_stage, mapping_before)
        lifted = snap.positions_mm[nodes].mean(axis=0) - grasp_lps
        assert lifted[1] < -19.0  # towards anterior (up in the room) by the hand's 20 mm
        mapping, _ = controls.update([ControllerState("right", pose, grab=0.1)], mapping)
        assert len(tissue.settle().grasped) == 0  # released
    finally:
        tissue.stop()


def test_a_squeeze_away_from_the_tissue_moves_the_anatomy_instead(slab):
    tools = VRTissueTools(slab)
    controls = VRControls(panel=False, tissue=tools, tool="grasp")
    mapping = mapping_for()
    slab.start()
    far = mapping.lps_to_stage([30.0, -60.0, 15.0])[0]  # 60 mm above the slab
    p0, p1 = grip_with_tip_at(tools, far), grip_with_tip_at(tools, np.add(far, [0.05, 0.0, 0.0]))
    moved, _ = controls.update([ControllerState("right", p0, grab=0.9)], mapping)
    moved, _ = controls.update([ControllerState("right", p1, grab=0.9)], moved)
    assert tools.misses == 1
    assert not tools.grasping
    np.testing.assert_allclose(moved.lps_to_stage([0, 0, 0])[0] - mapping.lps_to_stage([0, 0, 0])[0], [0.05, 0, 0],
                               atol=1e-12)
    assert len(slab.settle().grasped) == 0


def test_a_blade_stroke_with_the_trigger_held_cuts_the_slab_in_two(slab):
    tools = VRTissueTools(slab, blade_length_m=0.07)
    controls = VRControls(panel=False, tissue=tools, tool="cut")
    mapping = mapping_for()
    volume = slab.sim.mesh.volume()
    slab.start()
    # Blade pointing down through the whole thickness at L = 30 mm, swept along S from beyond one end to the other.
    strokes = []
    for k in range(21):
        tip = mapping.lps_to_stage([30.0, -15.0, -5.0 + 2.0 * k])[0]
        strokes.append(ControllerState("right", grip_with_tip_at(tools, tip, DOWN), trigger=0.9))
    for state in [*strokes, ControllerState("right", strokes[-1].grip_to_stage, trigger=0.0)]:
        mapping, _ = controls.update([state], mapping)
    assert controls.clip_plane is None  # the trigger was the blade's
    snap = slab.settle()
    assert len(tools.cut_results) == 1, tools.cut_results
    report = tools.cut_results[0]
    assert len(report.part_volumes_mm3) == 2
    assert sum(report.part_volumes_mm3) == pytest.approx(volume, rel=0.01)  # the two parts add up
    assert report.part_volumes_mm3[1] == pytest.approx(volume / 2, rel=0.1)  # cut in the middle
    assert snap.topology == 1
    assert snap.part_volumes_mm3 == report.part_volumes_mm3


class SlowStep:
    """A step that takes ``seconds`` (a solver far slower than a frame) and counts when it runs."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.count = seconds, 0
        self.inside = threading.Event()

    def __call__(self, sim) -> None:
        self.inside.set()
        time.sleep(self.seconds)
        sim.step(1)
        self.count += 1


def test_frames_keep_their_pace_while_a_slow_step_runs_and_show_the_latest_completed_state():
    from vtkmodules.vtkRenderingCore import vtkRenderer

    slow = SlowStep(0.25)
    tissue = AsyncTissue(slab_sim(), step=slow)
    tools = VRTissueTools(tissue)
    controls = VRControls(panel=False, tissue=tools, tool="grasp")
    renderer = vtkRenderer()
    controls.attach(renderer)  # starts the worker
    mapping = mapping_for()
    tip = np.add(mapping.lps_to_stage([30.0, 0.0, 22.5])[0], [0.0, 0.004, 0.0])
    frame_ms, versions = [], []
    period = 1.0 / 90.0
    try:
        assert slow.inside.wait(5)
        begun = time.perf_counter()
        k = 0
        while time.perf_counter() - begun < 1.2:  # 1.2 s of 90 Hz frames while steps take 250 ms each
            t0 = time.perf_counter()
            pose = grip_with_tip_at(tools, np.add(tip, [0.0, 0.0002 * k, 0.0]))
            mapping, _ = controls.update([ControllerState("right", pose, grab=0.9)], mapping)
            controls.before_render(mapping, None)
            versions.append(tissue.latest().version)
            frame_ms.append((time.perf_counter() - t0) * 1000.0)
            k += 1
            time.sleep(max(0.0, period - (time.perf_counter() - t0)))
        elapsed = time.perf_counter() - begun
    finally:
        controls.detach()
    assert not tissue.running
    assert len(frame_ms) >= 0.9 * elapsed * 90  # frames kept coming at 90 Hz...
    assert max(frame_ms) < 20.0, max(frame_ms)  # ...none waited for a 250 ms step
    assert 2 <= slow.count <= 7  # meanwhile the worker completed its few slow steps
    assert versions == sorted(versions)  # frames showed the completed steps as they came
    assert versions[-1] > versions[0]
    assert tools.grasping  # the grasp sent mid-step was taken up by the worker
