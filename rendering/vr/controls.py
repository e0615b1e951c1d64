"""Everything the controllers do in one place: the floating panel, the anatomy (move, scale, clip), segment toggles
and the soft-tissue tools.

:class:`VRControls` has the engine's interaction interface (``update(controllers, mapping) -> (mapping, haptics)``
plus ``clip_plane`` and ``pivot_lps``) and the hooks the engine calls when present: ``attach(renderer)`` once,
``before_render(mapping, frame)`` every frame, ``detach()`` at the end, and ``exit_requested``. Per frame, in order:

1. each hand's pointing ray is tested against the panel; a trigger press on a button presses it, and a trigger that
   went down on the panel belongs to the panel until it is released (it never also cuts or clips);
2. the tissue tools take the squeeze (grasp tool, near the tissue) or the trigger (cut tool) of the other hands;
3. whatever is left drives :class:`~rendering.vr.interaction.Interaction` (grab to move, two hands to scale,
   trigger for a clipping plane in the move tool, menu for life size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from rendering.vr.backend import ControllerState
from rendering.vr.interaction import Haptic, Interaction
from rendering.vr.panel import VRPanel
from rendering.vr.stage import StageMapping

__all__ = ["TOOLS", "VRControls"]

TOOLS = ("move", "grasp", "cut")


class VRControls:
    """The controller layer of a VR session.

    Parameters
    ----------
    segments : mapping of str to vtkProp, optional
        Toggleable segments by name (the engine's own actors); each gets a panel button.
    panel : bool or VRPanel
        Show the floating panel (True: one built for ``segments``).
    tissue : VRTissueTools, optional
        The grasp and cut tools on a simulated organ.
    interaction : Interaction, optional
    tool : str
        Initial tool: ``"move"``, ``"grasp"`` or ``"cut"``.
    press, release : float
        Trigger thresholds for panel presses.
    panel_placement : dict, optional
        Options of :meth:`VRPanel.place` (``distance_m``, ``below_m``, ``left_m``) for the first frame.
    """

    def __init__(self, *, segments: Mapping[str, object] | None = None, panel: bool | VRPanel = True, tissue=None,
                 interaction: Interaction | None = None, tool: str = "move", press: float = 0.6,
                 release: float = 0.4, panel_placement: dict | None = None) -> None:
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {', '.join(TOOLS)}, got {tool!r}")
        self.segments = dict(segments or {})
        self.panel = (VRPanel(list(self.segments)) if panel is True else panel) or None
        self.tissue = tissue
        self.interaction = interaction or Interaction()
        self.tool = tool
        self.press, self.release = press, release
        self.panel_placement = dict(panel_placement or {})
        self.exit_requested = False
        self.pressed: list[str] = []  # every button pressed, in order (tests, logs)
        self.hits: dict[str, object] = {}  # hand -> PanelHit this frame
        self._trigger_down: dict[str, bool] = {}
        self._panel_owns: set[str] = set()
        self._saved_visibility: dict[str, bool] | None = None
        self._rays = None
        self._renderer = None
        self._controllers: Sequence[ControllerState] = ()

    # ------------------------------------------------------------------ engine interface
    @property
    def pivot_lps(self):
        """Model point kept in place by life size (set by the engine to the anatomy's centre)."""
        return self.interaction.pivot_lps

    @pivot_lps.setter
    def pivot_lps(self, value) -> None:
        self.interaction.pivot_lps = value

    @property
    def clip_plane(self):
        """The clipping plane (point_lps, normal_lps) or None."""
        return self.interaction.clip_plane

    def update(self, controllers: Sequence[ControllerState],
               mapping: StageMapping) -> tuple[StageMapping, list[Haptic]]:
        """Apply one frame of controller states; the anatomy's new placement and the haptic pulses to send."""
        haptics: list[Haptic] = []
        self._controllers = tuple(controllers)
        mapping = self._panel_update(controllers, mapping, haptics)
        states = [replace(c, trigger=0.0) if c.hand in self._panel_owns else c for c in controllers]
        if self.tissue is not None:
            squeezing, triggering, pulses = self.tissue.update(states, mapping, self.tool)
            haptics += pulses
            states = [replace(c, grab=0.0 if c.hand in squeezing else c.grab,
                              trigger=0.0 if c.hand in triggering else c.trigger) for c in states]
            self.tissue.show_blade(states, mapping, self.tool)
        if self.tool != "move":  # the trigger is the tool's; the clipping plane is placed in the move tool only
            states = [replace(c, trigger=0.0) for c in states]
        mapping, pulses = self.interaction.update(states, mapping)
        return mapping, haptics + pulses

    def _panel_update(self, controllers, mapping, haptics) -> StageMapping:
        self.hits = {}
        for c in controllers:
            was = self._trigger_down.get(c.hand, False)
            down = c.trigger >= (self.release if was else self.press)
            self._trigger_down[c.hand] = down
            hit = self.panel.hit(c.grip_to_stage) if self.panel is not None else None
            if hit is not None:
                self.hits[c.hand] = hit
            if not down:
                self._panel_owns.discard(c.hand)
            elif not was and hit is not None:
                self._panel_owns.add(c.hand)
                if hit.button is not None:
                    mapping = self.press_button(hit.button, mapping, hand=c)
                    haptics.append((c.hand, 0.3, 0.02))
        if self.panel is not None:
            self.panel.set_state(self._panel_on(), {h.button for h in self.hits.values() if h.button})
        return mapping

    def press_button(self, key: str, mapping: StageMapping, hand: ControllerState | None = None) -> StageMapping:
        """What a panel button does (also callable directly, e.g. from a keyboard shortcut)."""
        self.pressed.append(key)
        if key == "life_size":
            return self.interaction._life_size(mapping)
        if key == "clip":
            self.toggle_clip(mapping, hand)
        elif key == "exit":
            self.exit_requested = True
        elif key.startswith("tool:"):
            self.tool = key.split(":", 1)[1]
        elif key.startswith("segment:"):
            self.toggle_segment(key.split(":", 1)[1])
        return mapping

    def toggle_segment(self, name: str) -> bool:
        """Show or hide a segment; returns its new visibility."""
        prop = self.segments[name]
        visible = not bool(prop.GetVisibility())
        prop.SetVisibility(visible)
        return visible

    def toggle_clip(self, mapping: StageMapping, hand: ControllerState | None = None) -> None:
        """Remove the clipping plane, or place one through the anatomy's centre cutting away the half facing the
        hand that pressed (the user's side), to look inside."""
        if self.interaction.clip_plane is not None:
            self.interaction.clip_plane = None
            return
        centre = (np.zeros(3) if self.interaction.pivot_lps is None
                  else np.asarray(self.interaction.pivot_lps, float))
        if hand is not None and hand.grip_to_stage is not None:
            towards = mapping.stage_to_lps(hand.grip_to_stage[:3, 3])[0] - centre
        else:
            towards = mapping.stage_to_model()[:3, :3] @ np.array([0.0, 0.0, 1.0])  # towards the stage's +Z
        normal = towards / max(np.linalg.norm(towards), 1e-9)
        self.interaction.clip_plane = (centre, normal)

    def _panel_on(self) -> set[str]:
        on = {f"tool:{self.tool}"}
        if self.interaction.clip_plane is not None:
            on.add("clip")
        on |= {f"segment:{n}" for n, p in self.segments.items() if p.GetVisibility()}
        return on

    # ------------------------------------------------------------------ hooks of the engine
    def attach(self, renderer) -> None:
        """Add the panel, the pointing rays and the tissue to the VR renderer (once per session)."""
        self._saved_visibility = {n: bool(p.GetVisibility()) for n, p in self.segments.items()}
        self.exit_requested = False
        self._renderer = renderer
        if self.panel is not None:
            self.panel.placed = False
            self.panel.set_state(self._panel_on(), set())
            renderer.AddActor(self.panel.actor())
            self._rays = _Rays(renderer)
        if self.tissue is not None:
            self.tissue.attach(renderer)

    def before_render(self, mapping: StageMapping, frame) -> None:
        """Place the panel on the first frame; carry the room-fixed panel and rays into model coordinates; show the
        tissue's latest state."""
        if self.panel is not None:
            if not self.panel.placed:
                self.panel.place(getattr(frame, "head_to_stage", None), **self.panel_placement)
            to_model = mapping.stage_to_model()
            self.panel.update_actor(to_model)
            if self._rays is not None:
                self._rays.show(self._controllers, self.hits, to_model)
        if self.tissue is not None:
            self.tissue.before_render()

    def detach(self) -> None:
        """Take the actors out; segments get the visibility they had before the session (the desktop's)."""
        if self.tissue is not None:
            self.tissue.detach()
        if self._rays is not None:
            self._rays.remove()
            self._rays = None
        if self.panel is not None and self._renderer is not None:
            self._renderer.RemoveActor(self.panel.actor())
        self._renderer = None
        for name, visible in (self._saved_visibility or {}).items():
            self.segments[name].SetVisibility(visible)
        self._saved_visibility = None


class _Rays:
    """A thin line from each tracked controller along its pointing axis, ending on the panel when it hits it."""

    LENGTH_M = 1.0

    def __init__(self, renderer) -> None:
        from vtkmodules.vtkFiltersSources import vtkLineSource

        from rendering.markups import flat_actor

        self.renderer = renderer
        self.lines = {}
        for hand in ("left", "right"):
            line = vtkLineSource()
            actor = flat_actor(line.GetOutputPort(), (0.55, 0.8, 1.0), width=2.0)
            actor.VisibilityOff()
            renderer.AddActor(actor)
            self.lines[hand] = (line, actor)

    def show(self, controllers, hits, stage_to_model) -> None:
        from rendering.vr.camera import vtk_matrix

        seen = set()
        for c in controllers:
            if c.hand not in self.lines or c.grip_to_stage is None:
                continue
            line, actor = self.lines[c.hand]
            start = c.grip_to_stage[:3, 3]
            hit = hits.get(c.hand)
            end = hit.point_stage if hit is not None else start + self.LENGTH_M * (
                c.grip_to_stage[:3, :3] @ np.array([0.0, 0.0, -1.0]))
            line.SetPoint1(*map(float, start))
            line.SetPoint2(*map(float, end))
            actor.SetUserMatrix(vtk_matrix(stage_to_model))
            actor.VisibilityOn()
            seen.add(c.hand)
        for hand, (_, actor) in self.lines.items():
            if hand not in seen:
                actor.VisibilityOff()

    def remove(self) -> None:
        for _, actor in self.lines.values():
            self.renderer.RemoveActor(actor)
