"""The controller layer fed with recorded action states and grip poses: grab moves, two hands scale, haptics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rendering.vr.backend import ControllerState
from rendering.vr.interaction import Interaction
from rendering.vr.maths import pose_matrix
from rendering.vr.stage import StageMapping

BOUNDS = np.array([[-100.0, -50.0, -200.0], [100.0, 150.0, 200.0]])


def grip(x, y, z, yaw_deg=0.0):
    half = math.radians(yaw_deg) / 2
    return pose_matrix((x, y, z), (0.0, math.sin(half), 0.0, math.cos(half)))


def play(interaction, mapping, recording):
    """Feed a recording: a list of frames, each a list of (hand, grip pose or None, grab value[, menu])."""
    haptics = []
    for frame in recording:
        states = [ControllerState(h, pose, grab, menu=bool(rest and rest[0])) for h, pose, grab, *rest in frame]
        mapping, pulses = interaction.update(states, mapping)
        haptics.extend(pulses)
    return mapping, haptics


def test_one_hand_grab_moves_and_turns_the_anatomy_with_the_controller():
    mapping = StageMapping.in_front_of(BOUNDS)
    point = np.array([30.0, 20.0, -50.0])
    before = mapping.lps_to_stage(point)[0]
    start, end = grip(0.2, 1.0, -0.4), grip(0.35, 1.1, -0.55, yaw_deg=30)
    recording = [
        [("right", start, 0.1)],  # hovering, not grabbing
        [("right", start, 0.9)],  # squeeze
        [("right", grip(0.27, 1.05, -0.47, yaw_deg=15), 0.9)],
        [("right", end, 0.85)],
        [("right", end, 0.2)],  # let go
        [("right", grip(0.0, 1.3, 0.0), 0.1)],  # moving the empty hand moves nothing
    ]
    moved, haptics = play(Interaction(), mapping, recording)
    expected = (end @ np.linalg.inv(start) @ np.append(before, 1.0))[:3]
    np.testing.assert_allclose(moved.lps_to_stage(point)[0], expected, atol=1e-12)
    assert moved.scale == pytest.approx(1.0)  # moving never rescales
    assert haptics == [("right", 0.6, 0.04)]  # one pulse, when the grab started


def test_two_hands_scale_about_their_midpoint_and_turn_about_the_vertical():
    mapping = StageMapping.in_front_of(BOUNDS)
    left0, right0 = grip(-0.1, 1.0, -0.5), grip(0.1, 1.0, -0.5)
    left1, right1 = grip(-0.2, 1.0, -0.5), grip(0.2, 1.0, -0.5)  # hands twice as far apart
    mid = np.array([0.0, 1.0, -0.5])
    pivot_model = mapping.stage_to_lps(mid)[0]
    recording = [
        [("left", left0, 0.9), ("right", right0, 0.0)],
        [("left", left0, 0.9), ("right", right0, 0.9)],  # second hand joins: haptic on it
        [("left", left1, 0.9), ("right", right1, 0.9)],
    ]
    scaled, haptics = play(Interaction(), mapping, recording)
    assert scaled.scale == pytest.approx(2.0)
    np.testing.assert_allclose(scaled.lps_to_stage(pivot_model)[0], mid, atol=1e-12)
    assert [h for h, *_ in haptics] == ["left", "right"]
    # Turning the pair by 90 degrees about the vertical turns the anatomy with it, upright.
    crossed = [("left", grip(0, 1.0, -0.4), 0.9), ("right", grip(0, 1.0, -0.6), 0.9)]
    turned, _ = play(Interaction(), mapping, [*recording[:2], crossed])
    axis_s = turned.lps_to_stage([0, 150, 100])[0] - turned.lps_to_stage([0, 150, 0])[0]
    np.testing.assert_allclose(axis_s / np.linalg.norm(axis_s), [-1.0, 0.0, 0.0], atol=1e-12)  # S was -Z


def test_scale_is_limited_and_the_menu_button_restores_life_size():
    mapping = StageMapping.in_front_of(BOUNDS)
    interaction = Interaction(max_scale=5.0, pivot_lps=BOUNDS.mean(axis=0))
    recording = [
        [("left", grip(-0.01, 1, -0.5), 0.9), ("right", grip(0.01, 1, -0.5), 0.9)],
        [("left", grip(-0.01, 1, -0.5), 0.9), ("right", grip(0.01, 1, -0.5), 0.9)],
        [("left", grip(-1.0, 1, -0.5), 0.9), ("right", grip(1.0, 1, -0.5), 0.9)],  # 100x apart
    ]
    big, _ = play(interaction, mapping, recording)
    assert big.scale == pytest.approx(5.0)
    centre_stage = big.lps_to_stage(BOUNDS.mean(axis=0))[0]
    life, _ = play(interaction, big, [[("left", None, 0.0, True)], [("left", None, 0.0, False)]])
    assert life.scale == pytest.approx(1.0)
    np.testing.assert_allclose(life.lps_to_stage(BOUNDS.mean(axis=0))[0], centre_stage, atol=1e-12)


def test_grab_hysteresis_and_untracked_hands():
    mapping = StageMapping.in_front_of(BOUNDS)
    interaction = Interaction()
    p0 = grip(0, 1, -0.5)
    _, haptics = play(interaction, mapping, [[("right", p0, 0.65)], [("right", p0, 0.5)], [("right", p0, 0.45)]])
    assert haptics == [("right", 0.6, 0.04)]  # 0.5 and 0.45 stay above the release threshold: one grab
    assert interaction.grabs == 1
    same, haptics = play(Interaction(), mapping, [[("right", None, 1.0)], [("right", None, 1.0)]])
    assert haptics == []  # a hand the runtime does not track cannot grab
    np.testing.assert_allclose(same.model_to_stage, mapping.model_to_stage)


def test_trigger_places_a_clipping_plane_at_the_hand_and_removes_it():
    mapping = StageMapping.in_front_of(BOUNDS)
    hand = grip(0.0, 0.95, -0.6, yaw_deg=-90)  # pointing to the user's right (+X)
    interaction = Interaction()
    states = [ControllerState("left", hand, trigger=t) for t in (0.0, 0.9, 0.9, 0.1)]
    for s in states:
        mapping, _ = interaction.update([s], mapping)
    point, normal = interaction.clip_plane
    np.testing.assert_allclose(mapping.lps_to_stage(point)[0], [0.0, 0.95, -0.6], atol=1e-12)
    np.testing.assert_allclose(normal, [1.0, 0.0, 0.0], atol=1e-12)  # the user's right is the patient's left (+L)
    interaction.update([ControllerState("left", hand, trigger=0.9)], mapping)  # pressed again: removed
    assert interaction.clip_plane is None
