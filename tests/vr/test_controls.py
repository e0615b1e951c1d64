"""The floating panel and the controls fed with recorded controller states: ray hit-testing, button presses,
segment toggles, tools, exit. No headset: the same values a runtime's actions produce."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rendering.vr.backend import ControllerState
from rendering.vr.controls import VRControls
from rendering.vr.maths import pose_matrix
from rendering.vr.panel import BUTTON_OFF, BUTTON_ON, VRPanel
from rendering.vr.stage import StageMapping

BOUNDS = np.array([[-100.0, -50.0, -200.0], [100.0, 150.0, 200.0]])
CENTRE = np.array([0.0, 1.3, -0.5])


def pointing(at_stage, back_m=0.3, yaw_deg=0.0):
    """A controller ``back_m`` in front of a stage point (on the user's side, +Z), pointing at it (-Z)."""
    half = math.radians(yaw_deg) / 2
    origin = np.add(at_stage, [back_m * math.sin(math.radians(yaw_deg)), 0.0, back_m * math.cos(math.radians(yaw_deg))])
    return pose_matrix(origin, (0.0, math.sin(half), 0.0, math.cos(half)))


def panel_facing_user(segments=("Bone", "Vessels")):
    panel = VRPanel(list(segments))
    panel.set_centre(CENTRE, np.add(CENTRE, [0.0, 0.0, 1.0]))  # upright, facing +Z (towards a user at the origin)
    return panel


def test_ray_hits_the_panel_where_it_points_and_misses_outside():
    panel = panel_facing_user()
    w, h = panel.width_m, panel.height_m
    np.testing.assert_allclose(panel.corners_stage()[0], CENTRE - [w / 2, h / 2, 0.0], atol=1e-12)
    hit = panel.hit(pointing(np.add(CENTRE, [0.05, -0.02, 0.0])))
    assert (hit.u, hit.v) == pytest.approx((w / 2 + 0.05, h / 2 - 0.02))
    assert hit.distance_m == pytest.approx(0.3)
    # Turned 20 degrees to the left about the vertical, from 0.4 m: the ray lands 0.4 tan(20) further left.
    half = math.radians(10)
    turned = pose_matrix(np.add(CENTRE, [0.0, 0.0, 0.4]), (0.0, math.sin(half), 0.0, math.cos(half)))
    assert panel.hit(turned).u == pytest.approx(w / 2 - 0.4 * math.tan(math.radians(20)), abs=1e-12)
    for key in ("life_size", "clip", "exit", "tool:move", "tool:grasp", "tool:cut", "segment:Bone",
                "segment:Vessels"):
        u, v = panel.centre_of(key)
        assert panel.hit(pointing(panel.point_stage(u, v))).button == key
    assert panel.hit(pointing(np.add(CENTRE, [w / 2 + 0.01, 0.0, 0.0]))) is None  # beside the panel
    assert panel.hit(pointing(CENTRE, back_m=-0.3)) is None  # behind the panel, pointing away
    backwards = pose_matrix(np.add(CENTRE, [0.0, 0.0, -0.3]), (0.0, 1.0, 0.0, 0.0))  # behind it, pointing at its back
    assert panel.hit(backwards) is None
    assert panel.hit(None) is None
    gap = panel.point_stage(panel.button("life_size").rect[2] + 0.002, panel.centre_of("life_size")[1])
    assert panel.hit(pointing(gap)).button is None  # between two buttons: on the panel, no button


def test_place_puts_the_panel_in_front_of_the_head_facing_it():
    panel = VRPanel()
    head = pose_matrix((0.2, 1.6, 0.1), (0.0, math.sin(math.radians(45)), 0.0, math.cos(math.radians(45))))
    panel.place(head, distance_m=0.5, below_m=0.2, left_m=0.0)  # head turned 90 degrees left: looks along -X
    centre = panel.point_stage(panel.width_m / 2, panel.height_m / 2)
    np.testing.assert_allclose(centre, [0.2 - 0.5, 1.4, 0.1], atol=1e-12)
    to_eye = head[:3, 3] - centre
    np.testing.assert_allclose(panel.panel_to_stage[:3, 2], to_eye / np.linalg.norm(to_eye), atol=1e-12)


def play(controls, mapping, frames):
    haptics = []
    for states in frames:
        mapping, pulses = controls.update(states, mapping)
        haptics += pulses
    return mapping, haptics


def press(controls, key, hand="right"):
    """Point at a button, pull the trigger, hold it, let go."""
    target = controls.panel.point_stage(*controls.panel.centre_of(key))
    pose = pointing(target)
    return [[ControllerState(hand, pose, trigger=t)] for t in (0.0, 0.9, 0.95, 0.1)]


def make_controls(**kwargs):
    from vtkmodules.vtkRenderingCore import vtkActor

    segments = {"Bone": vtkActor(), "Vessels": vtkActor()}
    controls = VRControls(segments=segments, panel=panel_facing_user(list(segments)), **kwargs)
    controls.pivot_lps = BOUNDS.mean(axis=0)
    return controls, segments


def test_buttons_press_once_per_trigger_pull_and_do_what_they_say():
    controls, segments = make_controls()
    mapping = StageMapping.in_front_of(BOUNDS).with_scale(2.5)
    centre_before = mapping.lps_to_stage(BOUNDS.mean(axis=0))[0]
    mapping, haptics = play(controls, mapping, press(controls, "life_size"))
    assert controls.pressed == ["life_size"]  # held over two frames: one press
    assert haptics == [("right", 0.3, 0.02)]
    assert mapping.scale == pytest.approx(1.0)
    np.testing.assert_allclose(mapping.lps_to_stage(BOUNDS.mean(axis=0))[0], centre_before, atol=1e-12)

    mapping, _ = play(controls, mapping, press(controls, "segment:Vessels"))
    assert (segments["Vessels"].GetVisibility(), segments["Bone"].GetVisibility()) == (False, True)
    mapping, _ = play(controls, mapping, press(controls, "segment:Vessels", hand="left"))
    assert segments["Vessels"].GetVisibility()

    mapping, _ = play(controls, mapping, press(controls, "clip"))
    point, normal = controls.clip_plane
    np.testing.assert_allclose(point, BOUNDS.mean(axis=0))
    hand_lps = mapping.stage_to_lps(pointing(controls.panel.point_stage(*controls.panel.centre_of("clip")))[:3, 3])[0]
    assert normal @ (hand_lps - point) > 0  # the half facing the user is cut away
    mapping, _ = play(controls, mapping, press(controls, "clip"))
    assert controls.clip_plane is None

    for tool in ("grasp", "cut", "move"):
        mapping, _ = play(controls, mapping, press(controls, f"tool:{tool}"))
        assert controls.tool == tool
    assert not controls.exit_requested
    play(controls, mapping, press(controls, "exit"))
    assert controls.exit_requested
    assert controls.pressed[-1] == "exit"


def test_a_trigger_on_the_panel_is_the_panel_s_and_off_it_places_the_clipping_plane():
    controls, _ = make_controls()
    mapping = StageMapping.in_front_of(BOUNDS)
    # A press that starts on the panel and drags off it stays the panel's: no clipping plane, one press.
    on = pointing(controls.panel.point_stage(*controls.panel.centre_of("tool:move")))
    off = pose_matrix((0.0, 0.95, -0.6), (0, 0, 0, 1))
    play(controls, mapping, [[ControllerState("right", on, trigger=0.9)], [ControllerState("right", off, trigger=0.9)],
                             [ControllerState("right", off, trigger=0.0)]])
    assert controls.pressed == ["tool:move"]
    assert controls.clip_plane is None
    # Off the panel, in the move tool, the trigger places the plane at the hand (as without a panel).
    play(controls, mapping, [[ControllerState("right", off, trigger=0.9)]])
    assert controls.clip_plane is not None
    np.testing.assert_allclose(mapping.lps_to_stage(controls.clip_plane[0])[0], off[:3, 3], atol=1e-12)
    # In the cut tool the trigger is the blade's: no plane.
    controls2, _ = make_controls(tool="cut")
    play(controls2, mapping, [[ControllerState("right", off, trigger=0.9)]])
    assert controls2.clip_plane is None


def test_the_panel_face_shows_hover_and_on_states_and_segments_come_back_after_the_session():
    from vtkmodules.vtkRenderingCore import vtkRenderer

    controls, segments = make_controls()
    renderer = vtkRenderer()
    controls.attach(renderer)
    panel = controls.panel
    panel.placed = True  # placed by the test, not by a first frame

    def colour_at(key):
        v = panel.centre_of(key)[1]
        image = panel.image()
        x = round(panel.button(key).rect[0] * panel.pixels_per_m) + 6  # inside the button, left of its label
        y = round((panel.height_m - v) * panel.pixels_per_m)
        return tuple(int(c) for c in image[y, x])

    assert (colour_at("tool:move"), colour_at("tool:cut")) == (BUTTON_ON, BUTTON_OFF)
    assert colour_at("segment:Bone") == BUTTON_ON
    mapping = StageMapping.in_front_of(BOUNDS)
    play(controls, mapping, press(controls, "segment:Bone"))
    assert colour_at("segment:Bone") == BUTTON_OFF  # hidden: the toggle shows it
    play(controls, mapping, press(controls, "tool:cut"))
    assert (colour_at("tool:cut"), colour_at("tool:move")) == (BUTTON_ON, BUTTON_OFF)
    controls.update([ControllerState("right", pointing(panel.point_stage(*panel.centre_of("exit"))))], mapping)
    assert panel.hover == {"exit"}
    assert renderer.GetActors().GetNumberOfItems() == 3  # the panel and two pointing rays
    controls.detach()
    assert renderer.GetActors().GetNumberOfItems() == 0
    assert segments["Bone"].GetVisibility()  # the desktop's visibility is back
