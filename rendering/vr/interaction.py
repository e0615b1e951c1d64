"""Controllers acting on the anatomy: grab to move and turn it, grab with both hands to scale it, a button for
life size, the trigger to place (and, pressed again, remove) a clipping plane at the hand, a haptic pulse when a
grab starts.

Pure numpy on :class:`~rendering.vr.backend.ControllerState` values, so it is driven the same way by a runtime's
actions (OpenXR or OpenVR) and by a recorded or scripted sequence (tests, rehearsal scripts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rendering.vr.backend import ControllerState
from rendering.vr.maths import rigid_inverse
from rendering.vr.stage import StageMapping

__all__ = ["Haptic", "Interaction"]

#: (hand, amplitude 0..1, duration in seconds)
Haptic = tuple[str, float, float]


def _translation(v) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = v
    return m


def _yaw(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    m = np.eye(4)
    m[:3, :3] = [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]
    return m


@dataclass
class Interaction:
    """Grab-move-rotate with one hand, scale (and turn about the vertical) with two.

    Parameters
    ----------
    press, release : float
        Grab thresholds on the grab value (0..1) with hysteresis, so a half-squeezed grip does not flicker.
    min_scale, max_scale : float
        Limits of the anatomy's size relative to life size.
    haptic_amplitude, haptic_duration_s : float
        The pulse sent to a hand when it grabs.
    pivot_lps : array (3,), optional
        Model point kept in place by the life-size button (the engine sets the anatomy's centre).
    """

    press: float = 0.6
    release: float = 0.4
    min_scale: float = 0.1
    max_scale: float = 20.0
    haptic_amplitude: float = 0.6
    haptic_duration_s: float = 0.04
    pivot_lps: np.ndarray | None = None
    #: The clipping plane placed with the trigger, in model coordinates: (point_lps, unit normal_lps), or None.
    #: Whatever is on the normal's side is cut away.
    clip_plane: tuple[np.ndarray, np.ndarray] | None = None
    _trigger_down: dict[str, bool] = field(default_factory=dict)
    held: dict[str, np.ndarray] = field(default_factory=dict)  # hand -> grip pose when the grab (re)started
    _start_mapping: StageMapping | None = None
    _menu_down: dict[str, bool] = field(default_factory=dict)
    grabs: int = 0

    def update(self, controllers: Sequence[ControllerState],
               mapping: StageMapping) -> tuple[StageMapping, list[Haptic]]:
        """The new placement of the anatomy after this frame's controller states, and the haptic pulses to send."""
        haptics: list[Haptic] = []
        by_hand = {c.hand: c for c in controllers}
        holding = {}
        for hand, c in by_hand.items():
            was = hand in self.held
            threshold = self.release if was else self.press
            if c.grip_to_stage is not None and c.grab >= threshold:
                holding[hand] = c.grip_to_stage
                if not was:
                    haptics.append((hand, self.haptic_amplitude, self.haptic_duration_s))
                    self.grabs += 1
        # Life size on the menu button (on its press, not while held).
        for hand, c in by_hand.items():
            if c.menu and not self._menu_down.get(hand, False):
                mapping = self._life_size(mapping)
                self.held = {}  # re-anchor any grab on the new placement
            self._menu_down[hand] = c.menu
        # Trigger press: a clipping plane through the hand, facing where the controller points; press again: none.
        for hand, c in by_hand.items():
            down = c.trigger >= self.press
            if down and not self._trigger_down.get(hand, False):
                if self.clip_plane is not None:
                    self.clip_plane = None
                elif c.grip_to_stage is not None:
                    self.clip_plane = self._plane_at(c.grip_to_stage, mapping)
            self._trigger_down[hand] = down
        if set(holding) != set(self.held):  # a hand grabbed or let go: start again from here
            self.held = {h: np.array(p) for h, p in holding.items()}
            self._start_mapping = mapping
            return mapping, haptics
        if not holding:
            return mapping, haptics
        return self._moved(holding), haptics

    def _moved(self, holding: dict[str, np.ndarray]) -> StageMapping:
        start = self._start_mapping
        if len(holding) == 1:
            (hand, now), = holding.items()
            # The anatomy is rigidly attached to the hand: it follows the grip's motion since the grab.
            return start.transformed(now @ rigid_inverse(self.held[hand]))
        left, right = (holding[h][:3, 3] for h in sorted(holding)[:2])
        left0, right0 = (self.held[h][:3, 3] for h in sorted(holding)[:2])
        span0, span = right0 - left0, right - left
        factor = float(np.linalg.norm(span) / max(np.linalg.norm(span0), 1e-6))
        factor = float(np.clip(factor, self.min_scale / start.scale, self.max_scale / start.scale))
        turn = math.atan2(-span[2], span[0]) - math.atan2(-span0[2], span0[0])  # about +Y, upright
        mid0, mid = (left0 + right0) / 2, (left + right) / 2
        scale = np.diag([factor, factor, factor, 1.0])
        return start.transformed(_translation(mid) @ _yaw(turn) @ scale @ _translation(-mid0))

    @staticmethod
    def _plane_at(grip_to_stage: np.ndarray, mapping: StageMapping) -> tuple[np.ndarray, np.ndarray]:
        to_model = mapping.stage_to_model()
        point = mapping.stage_to_lps(grip_to_stage[:3, 3])[0]
        normal = to_model[:3, :3] @ (grip_to_stage[:3, :3] @ np.array([0.0, 0.0, -1.0]))  # similarity: same line
        return point, normal / np.linalg.norm(normal)

    def _life_size(self, mapping: StageMapping) -> StageMapping:
        # Rescale about the anatomy's centre, which stays where the user sees it.
        return mapping.life_size(self.pivot_lps)
