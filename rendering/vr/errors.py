"""Errors of the VR engine: each says, in plain words, what is missing and what the user can do."""

from __future__ import annotations

__all__ = ["HeadsetUnavailable", "RuntimeUnavailable", "SessionLost", "VRError"]


class VRError(Exception):
    """Base class of every VR error; the message is one line meant for the user."""


class RuntimeUnavailable(VRError):
    """No VR runtime (OpenXR runtime, SteamVR/OpenVR) could be found or loaded."""


class HeadsetUnavailable(VRError):
    """A runtime answered but reports no headset (head-mounted display)."""


class SessionLost(VRError):
    """The runtime went away or lost the session in the middle of rendering."""
