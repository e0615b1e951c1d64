"""OpenXR actions for the controllers: one action set, suggested bindings for the common controllers.

The bindings are data (:data:`SUGGESTED_BINDINGS`) so that they can be read, tested and extended without touching
the session code; every profile listed is suggested to the runtime, which picks the one matching the hardware. That
is what makes the same rehearsal work on an Index, a Vive wand, a Quest/Rift Touch or any runtime's fallback
("simple") controller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rendering.vr.backend import ControllerState
from rendering.vr.maths import pose_matrix

__all__ = ["HANDS", "SUGGESTED_BINDINGS", "OpenXRControllers"]

HANDS = ("left", "right")

# action name -> per hand component path (below /user/hand/<hand>), per interaction profile.
# Grab is the grip squeeze where the controller has one (the natural "hold" gesture); the simple controller only
# has select, so it grabs with select.
SUGGESTED_BINDINGS: dict[str, dict[str, dict[str, str]]] = {
    "/interaction_profiles/khr/simple_controller": {
        "grip_pose": {"left": "input/grip/pose", "right": "input/grip/pose"},
        "grab": {"left": "input/select/click", "right": "input/select/click"},
        "menu": {"left": "input/menu/click", "right": "input/menu/click"},
        "haptic": {"left": "output/haptic", "right": "output/haptic"},
    },
    "/interaction_profiles/valve/index_controller": {
        "grip_pose": {"left": "input/grip/pose", "right": "input/grip/pose"},
        "grab": {"left": "input/squeeze/value", "right": "input/squeeze/value"},
        "trigger": {"left": "input/trigger/value", "right": "input/trigger/value"},
        "menu": {"left": "input/b/click", "right": "input/b/click"},
        "haptic": {"left": "output/haptic", "right": "output/haptic"},
    },
    "/interaction_profiles/htc/vive_controller": {
        "grip_pose": {"left": "input/grip/pose", "right": "input/grip/pose"},
        "grab": {"left": "input/squeeze/click", "right": "input/squeeze/click"},
        "trigger": {"left": "input/trigger/value", "right": "input/trigger/value"},
        "menu": {"left": "input/menu/click", "right": "input/menu/click"},
        "haptic": {"left": "output/haptic", "right": "output/haptic"},
    },
    "/interaction_profiles/oculus/touch_controller": {
        "grip_pose": {"left": "input/grip/pose", "right": "input/grip/pose"},
        "grab": {"left": "input/squeeze/value", "right": "input/squeeze/value"},
        "trigger": {"left": "input/trigger/value", "right": "input/trigger/value"},
        "menu": {"left": "input/y/click", "right": "input/b/click"},
        "haptic": {"left": "output/haptic", "right": "output/haptic"},
    },
}


@dataclass
class _Action:
    handle: object
    kind: str


class OpenXRControllers:
    """The action set of a session: created, bound and attached once; synced and read each frame.

    Parameters
    ----------
    instance, session : xr handles
    stage_space : xr.Space
        The space controller poses are reported in.
    """

    def __init__(self, instance, session, stage_space) -> None:
        import xr

        self._xr = xr
        self._session = session
        self._stage = stage_space
        self.action_set = xr.create_action_set(instance, xr.ActionSetCreateInfo(
            action_set_name="surgitwin", localized_action_set_name="SurgiTwin rehearsal", priority=0))
        self._hand_paths = {h: xr.string_to_path(instance, f"/user/hand/{h}") for h in HANDS}
        kinds = {"grip_pose": xr.ActionType.POSE_INPUT, "grab": xr.ActionType.FLOAT_INPUT,
                 "trigger": xr.ActionType.FLOAT_INPUT, "menu": xr.ActionType.BOOLEAN_INPUT,
                 "haptic": xr.ActionType.VIBRATION_OUTPUT}
        names = {"grip_pose": "Hand pose", "grab": "Grab anatomy", "trigger": "Tool", "menu": "Panel",
                 "haptic": "Haptic pulse"}
        self.actions: dict[str, _Action] = {}
        for name, kind in kinds.items():
            handle = xr.create_action(self.action_set, xr.ActionCreateInfo(
                action_name=name.replace("_", "-"), action_type=kind, localized_action_name=names[name],
                subaction_paths=list(self._hand_paths.values())))
            self.actions[name] = _Action(handle, name)
        self.accepted_profiles: list[str] = []
        self.rejected_profiles: dict[str, str] = {}
        for profile, table in SUGGESTED_BINDINGS.items():
            bindings = [xr.ActionSuggestedBinding(self.actions[action].handle,
                                                  xr.string_to_path(instance, f"/user/hand/{hand}/{component}"))
                        for action, per_hand in table.items() for hand, component in per_hand.items()]
            try:
                xr.suggest_interaction_profile_bindings(instance, xr.InteractionProfileSuggestedBinding(
                    interaction_profile=xr.string_to_path(instance, profile), suggested_bindings=bindings))
                self.accepted_profiles.append(profile)
            except xr.XrException as exc:  # a runtime may not know a profile: the others still apply
                self.rejected_profiles[profile] = str(exc)
        xr.attach_session_action_sets(session, xr.SessionActionSetsAttachInfo(action_sets=[self.action_set]))
        self._spaces = {h: xr.create_action_space(session, xr.ActionSpaceCreateInfo(
            action=self.actions["grip_pose"].handle, subaction_path=p)) for h, p in self._hand_paths.items()}

    def read(self, display_time) -> tuple[ControllerState, ...]:
        """Sync the actions and return both hands' states at ``display_time`` (call only while focused)."""
        xr = self._xr
        try:
            xr.sync_actions(self._session, xr.ActionsSyncInfo(
                active_action_sets=[xr.ActiveActionSet(self.action_set, xr.NULL_PATH)]))
        except xr.SessionNotFocused:
            return ()
        states = []
        for hand, path in self._hand_paths.items():
            grab = xr.get_action_state_float(self._session, xr.ActionStateGetInfo(
                action=self.actions["grab"].handle, subaction_path=path)).current_state
            trigger = xr.get_action_state_float(self._session, xr.ActionStateGetInfo(
                action=self.actions["trigger"].handle, subaction_path=path)).current_state
            menu = xr.get_action_state_boolean(self._session, xr.ActionStateGetInfo(
                action=self.actions["menu"].handle, subaction_path=path)).current_state
            loc = xr.locate_space(self._spaces[hand], self._stage, display_time)
            valid = int(xr.SPACE_LOCATION_POSITION_VALID_BIT | xr.SPACE_LOCATION_ORIENTATION_VALID_BIT)
            pose = None
            if int(loc.location_flags) & valid == valid:
                p, o = loc.pose.position, loc.pose.orientation
                pose = pose_matrix((p.x, p.y, p.z), (o.x, o.y, o.z, o.w))
            states.append(ControllerState(hand, pose, float(grab), float(trigger), bool(menu)))
        return tuple(states)

    def haptic(self, hand: str, amplitude: float, duration_s: float) -> None:
        """A vibration of ``duration_s`` seconds on one hand."""
        xr = self._xr
        xr.apply_haptic_feedback(
            self._session,
            xr.HapticActionInfo(action=self.actions["haptic"].handle, subaction_path=self._hand_paths[hand]),
            xr.HapticVibration(duration=int(duration_s * 1e9), frequency=xr.FREQUENCY_UNSPECIFIED,
                               amplitude=float(np.clip(amplitude, 0.0, 1.0))))

    def destroy(self) -> None:
        """Destroy spaces and the action set (the session's destruction would too; this keeps it explicit)."""
        xr = self._xr
        for space in self._spaces.values():
            xr.destroy_space(space)
        self._spaces = {}
        xr.destroy_action_set(self.action_set)
