"""The soft-tissue grasp and cut tools driven by the controllers.

* **Grasp**: squeezing with the tool tip (a point a few centimetres ahead of the grip) within reach of the tissue
  attaches the nodes nearest the tip to the controller (a hard grasp by default: they follow it exactly; or zero-length
  springs), and they follow its motion until the squeeze is released.
* **Cut**: while the trigger is held, the blade (a segment along the controller's pointing axis, starting at the
  tip) is sampled every frame; on release the surface it swept cuts the tissue
  (:meth:`simulation.tissue.TissueSimulation.cut_swept`).

Controller poses are in stage metres; the tissue lives in the case's LPS millimetres; the
:class:`~rendering.vr.stage.StageMapping` of the frame converts between them. The simulation itself runs in the
worker of :class:`~rendering.vr.async_sim.AsyncTissue`; this module only sends it commands and shows its latest
completed state, so nothing here waits for a solver step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rendering.vr.async_sim import AsyncTissue
from rendering.vr.backend import ControllerState
from rendering.vr.stage import StageMapping

__all__ = ["VRTissueTools"]

#: (hand, amplitude 0..1, duration in seconds)
Haptic = tuple[str, float, float]


@dataclass
class _Stroke:
    starts: list[np.ndarray]
    ends: list[np.ndarray]


class VRTissueTools:
    """Grasp and cut one simulated organ with the controllers, and show it.

    Parameters
    ----------
    tissue : AsyncTissue
        The simulation, stepped in its worker (started by :meth:`attach`, stopped by :meth:`detach` when
        ``own_worker``).
    colour : (float, float, float)
        Organ colour.
    tip_offset_m : float
        Tool tip distance ahead of the grip (along its pointing axis), in the room.
    reach_mm : float
        Squeezing grasps only when the tip is this close to the tissue surface (model millimetres).
    grasp_radius_mm : float, optional
        Nodes within this distance of the nearest node are held too (default: 0.6 mean edge lengths).
    hard : bool
        Grasped nodes follow the tip exactly (True) or through zero-length springs.
    spring_stiffness_n_per_m : float
        Total stiffness of a spring grasp (0: the simulation's default, from the nodes' mass and time step, which is
        soft against stiff tissue: the nodes then trail the instrument by the spring's stretch).
    blade_length_m : float
        Length of the cutting edge in the room.
    press, release : float
        Squeeze and trigger thresholds (with hysteresis).
    """

    def __init__(self, tissue: AsyncTissue, colour=(0.78, 0.36, 0.32), *, tip_offset_m: float = 0.03,
                 reach_mm: float = 15.0, grasp_radius_mm: float | None = None, hard: bool = True,
                 spring_stiffness_n_per_m: float = 0.0,
                 blade_length_m: float = 0.04, press: float = 0.6, release: float = 0.4,
                 own_worker: bool = True) -> None:
        self.tissue = tissue
        self.colour = colour
        self.tip_offset_m = tip_offset_m
        self.reach_mm = reach_mm
        self.grasp_radius_mm = (0.6 * tissue.sim.mesh.mean_edge_length() if grasp_radius_mm is None
                                else grasp_radius_mm)
        self.hard = hard
        self.spring_stiffness_n_per_m = spring_stiffness_n_per_m
        self.blade_length_m = blade_length_m
        self.press, self.release_at = press, release
        self.own_worker = own_worker
        self.grasping: dict[str, np.ndarray] = {}  # hand -> last tip (LPS mm)
        self.strokes: dict[str, _Stroke] = {}
        self.cut_results: list = []  # CutReport, or a message when the blade missed
        self.misses = 0
        self._grab_down: dict[str, bool] = {}
        self._trigger_down: dict[str, bool] = {}
        self._surface = None
        self._blade = None
        self._shown = (-1, -1)

    # ------------------------------------------------------------------ geometry
    def tip_stage(self, grip_to_stage: np.ndarray) -> np.ndarray:
        """The tool tip in stage metres."""
        pose = np.asarray(grip_to_stage, float)
        return pose[:3, 3] + self.tip_offset_m * (pose[:3, :3] @ np.array([0.0, 0.0, -1.0]))

    def blade_lps(self, grip_to_stage: np.ndarray, mapping: StageMapping) -> tuple[np.ndarray, np.ndarray]:
        """The cutting edge's two ends in LPS millimetres (tip, and tip plus the blade along the pointing axis)."""
        pose = np.asarray(grip_to_stage, float)
        tip = self.tip_stage(pose)
        end = tip + self.blade_length_m * (pose[:3, :3] @ np.array([0.0, 0.0, -1.0]))
        a, b = mapping.stage_to_lps(np.stack([tip, end]))
        return a, b

    def distance_to_surface_mm(self, point_lps) -> float:
        """Distance from a model point to the nearest surface vertex of the latest state."""
        pts = self.tissue.latest().surface_points
        if not len(pts):
            return float("inf")
        return float(np.min(np.linalg.norm(pts - np.asarray(point_lps, float), axis=1)))

    # ------------------------------------------------------------------ per frame
    def update(self, controllers: Sequence[ControllerState], mapping: StageMapping, tool: str) -> tuple[
            set[str], set[str], list[Haptic]]:
        """Run the tools for one frame.

        Returns
        -------
        (squeeze_hands, trigger_hands, haptics)
            Hands whose squeeze or trigger the tissue took this frame (the anatomy grab and clipping plane must
            ignore them), and haptic pulses.
        """
        squeezing: set[str] = set()
        triggering: set[str] = set()
        haptics: list[Haptic] = []
        for c in controllers:
            hand = c.hand
            was_grab = self._grab_down.get(hand, False)
            grab_down = c.grab >= (self.release_at if was_grab else self.press)
            was_trig = self._trigger_down.get(hand, False)
            trig_down = c.trigger >= (self.release_at if was_trig else self.press)
            self._grab_down[hand], self._trigger_down[hand] = grab_down, trig_down
            tracked = c.grip_to_stage is not None
            # --- grasp
            if hand in self.grasping:
                if grab_down and tracked:
                    tip = mapping.stage_to_lps(self.tip_stage(c.grip_to_stage))[0]
                    self.tissue.drag(tip)
                    self.grasping[hand] = tip
                    squeezing.add(hand)
                elif not grab_down:
                    self.tissue.release()
                    del self.grasping[hand]
                else:  # lost tracking while holding: keep the tissue where it was
                    squeezing.add(hand)
            elif grab_down and not was_grab and tracked and tool == "grasp" and not self.grasping:
                tip = mapping.stage_to_lps(self.tip_stage(c.grip_to_stage))[0]
                if self.distance_to_surface_mm(tip) <= self.reach_mm:
                    self.tissue.grab(tip, radius_mm=self.grasp_radius_mm, hard=self.hard,
                                    stiffness_n_per_m=self.spring_stiffness_n_per_m)
                    self.grasping[hand] = tip
                    squeezing.add(hand)
                    haptics.append((hand, 0.4, 0.03))
                else:
                    self.misses += 1
            # --- cut
            if hand in self.strokes:
                stroke = self.strokes[hand]
                if trig_down and tracked:
                    a, b = self.blade_lps(c.grip_to_stage, mapping)
                    if np.linalg.norm(a - stroke.starts[-1]) > 0.25:  # a new sample every quarter millimetre
                        stroke.starts.append(a)
                        stroke.ends.append(b)
                    triggering.add(hand)
                elif not trig_down:
                    del self.strokes[hand]
                    if len(stroke.starts) >= 2:
                        self.tissue.cut_swept(np.array(stroke.starts), np.array(stroke.ends),
                                              on_done=self.cut_results.append)
                        haptics.append((hand, 0.8, 0.06))
                else:
                    triggering.add(hand)
            elif trig_down and not was_trig and tracked and tool == "cut":
                a, b = self.blade_lps(c.grip_to_stage, mapping)
                self.strokes[hand] = _Stroke([a], [b])
                triggering.add(hand)
        return squeezing, triggering, haptics

    # ------------------------------------------------------------------ VTK
    def attach(self, renderer) -> None:
        """Add the organ (and the blade) to the VR renderer; start the worker."""
        from vtkmodules.vtkFiltersSources import vtkLineSource

        from rendering.markups import flat_actor
        from rendering.tissue_actor import DeformableSurface

        self._surface = DeformableSurface(renderer, self.colour)
        self._shown = (-1, -1)
        line = vtkLineSource()
        actor = flat_actor(line.GetOutputPort(), (0.85, 0.88, 0.92), width=3.0)
        actor.VisibilityOff()
        renderer.AddActor(actor)
        self._blade = (line, actor, renderer)
        self.before_render()
        if self.own_worker:
            self.tissue.start()

    def show_blade(self, controllers: Sequence[ControllerState], mapping: StageMapping, tool: str) -> None:
        """Draw the blade of the first tracked hand while the cut tool is active."""
        if self._blade is None:
            return
        line, actor, _ = self._blade
        hand = next((c for c in controllers if c.grip_to_stage is not None), None)
        if tool != "cut" or hand is None:
            actor.VisibilityOff()
            return
        a, b = self.blade_lps(hand.grip_to_stage, mapping)
        line.SetPoint1(*map(float, a))
        line.SetPoint2(*map(float, b))
        actor.VisibilityOn()

    def before_render(self) -> None:
        """Show the latest completed simulation state (never waits for the worker)."""
        if self._surface is None:
            return
        snap = self.tissue.latest()
        if snap.topology != self._shown[0]:
            self._surface.set_surface(snap.surface_points, snap.surface_faces)
        elif snap.version != self._shown[1]:
            self._surface.update_points(snap.surface_points)
        self._shown = (snap.topology, snap.version)

    def detach(self) -> None:
        """Stop the worker (when owned) and take the actors out."""
        if self.own_worker:
            self.tissue.stop()
        if self._surface is not None:
            self._surface.remove()
            self._surface = None
        if self._blade is not None:
            _, actor, renderer = self._blade
            renderer.RemoveActor(actor)
            self._blade = None

    @property
    def actor(self):
        """The organ's vtkActor (None before :meth:`attach`)."""
        return None if self._surface is None else self._surface.actor
