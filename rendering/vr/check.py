"""Find a VR runtime and headset: ``surgitwin vr --check`` and the desktop's "Enter VR" use this."""

from __future__ import annotations

from rendering.vr.backend import RuntimeInfo, VRBackend
from rendering.vr.errors import HeadsetUnavailable, RuntimeUnavailable, VRError

__all__ = ["BACKEND_NAMES", "find_runtime", "make_backend"]

#: Backends in the order tried when none is named: OpenXR (every current runtime), then OpenVR (SteamVR).
BACKEND_NAMES = ("openxr", "openvr")


def make_backend(name: str, **kwargs) -> VRBackend:
    """A new backend by name (``"openxr"`` or ``"openvr"``)."""
    if name == "openxr":
        from rendering.vr.openxr_backend import OpenXRBackend

        return OpenXRBackend(**kwargs)
    if name == "openvr":
        from rendering.vr.openvr_backend import OpenVRBackend

        return OpenVRBackend(**kwargs)
    raise ValueError(f"unknown VR backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")


def find_runtime(backend: str | None = None) -> RuntimeInfo:
    """Probe the named backend, or OpenXR then OpenVR; the first ready one's :class:`RuntimeInfo`.

    Raises
    ------
    RuntimeUnavailable
        No runtime answered; the message names what is missing for each backend tried.
    HeadsetUnavailable
        A runtime answered but has no headset (and no other backend is ready).
    """
    names = [backend] if backend else list(BACKEND_NAMES)
    problems: list[tuple[str, VRError]] = []
    for name in names:
        try:
            return make_backend(name).probe()
        except VRError as exc:
            problems.append((name, exc))
    labels = {"openxr": "OpenXR", "openvr": "OpenVR/SteamVR"}
    text = "; ".join(f"{labels[n]}: {exc}" for n, exc in problems)
    if any(isinstance(exc, HeadsetUnavailable) for _, exc in problems):
        raise HeadsetUnavailable(f"no headset found ({text})")
    if len(problems) > 1:
        raise RuntimeUnavailable(f"no VR runtime found: neither an OpenXR runtime nor SteamVR ({text})")
    raise RuntimeUnavailable(f"no VR runtime found ({text})")
