"""The interface both VR backends (OpenXR, OpenVR) implement, and the small values they exchange with the engine."""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field

import numpy as np

from rendering.vr.maths import EyeFov

__all__ = ["ControllerState", "EyeView", "FrameViews", "RuntimeInfo", "SessionEvent", "VRBackend"]


@dataclass(frozen=True)
class RuntimeInfo:
    """What a runtime says about itself and its headset (``surgitwin vr --check``)."""

    backend: str
    runtime_name: str
    system_name: str
    recommended_size: tuple[int, int]
    refresh_hz: float | None = None
    extra: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the user."""
        w, h = self.recommended_size
        hz = f", {self.refresh_hz:.0f} Hz" if self.refresh_hz else ""
        return (f"{self.backend}: runtime {self.runtime_name!r}, headset {self.system_name!r}, "
                f"recommended {w}x{h} per eye{hz}")


@dataclass(frozen=True)
class EyeView:
    """One eye for one frame: its pose in stage space (metres, Y up) and its field of view."""

    eye_to_stage: np.ndarray
    fov: EyeFov


@dataclass(frozen=True)
class ControllerState:
    """One hand's controller for one frame (pose in stage space; None when not tracked)."""

    hand: str
    grip_to_stage: np.ndarray | None
    grab: float = 0.0
    trigger: float = 0.0
    menu: bool = False


@dataclass(frozen=True)
class FrameViews:
    """What the runtime asks for in one frame."""

    index: int
    should_render: bool
    eyes: tuple[EyeView, ...]
    head_to_stage: np.ndarray | None
    controllers: tuple[ControllerState, ...] = ()


class SessionEvent(enum.Enum):
    """What :meth:`VRBackend.poll` reports."""

    RUNNING = "running"      # frames flow
    WAITING = "waiting"      # session exists but the runtime does not want frames yet (idle, stopping)
    EXITED = "exited"        # the session ended cleanly (user or runtime asked to exit)
    LOST = "lost"            # the runtime went away or lost the session


class VRBackend(abc.ABC):
    """A VR runtime seen through one API. One session at a time; every method runs on the render thread.

    The engine calls, in order: :meth:`open` (with VTK's render window current), then per frame :meth:`poll`,
    :meth:`wait_frame`, for each eye :meth:`eye_texture` (render into it) and :meth:`release_eye`, then
    :meth:`end_frame`; finally :meth:`request_exit` and :meth:`close`.
    """

    name: str = "?"
    #: GL platforms this backend can share with VTK ("glx", "egl").
    gl_platforms: tuple[str, ...] = ("glx",)

    @abc.abstractmethod
    def probe(self) -> RuntimeInfo:
        """Find the runtime and headset without opening a session; raises a :class:`~rendering.vr.errors.VRError`."""

    @abc.abstractmethod
    def open(self, gl_platform: str, eye_size: tuple[int, int] | None = None) -> tuple[int, int]:
        """Open a session on the current GL context; returns the per-eye image size."""

    @abc.abstractmethod
    def poll(self) -> SessionEvent:
        """Handle the runtime's events; say whether frames are wanted, or why the session is over."""

    @property
    @abc.abstractmethod
    def focused(self) -> bool:
        """Whether the application has input focus (OpenXR FOCUSED)."""

    @abc.abstractmethod
    def wait_frame(self) -> FrameViews:
        """Wait for the runtime's next frame and locate the eyes (and controllers)."""

    @abc.abstractmethod
    def eye_texture(self, eye: int) -> int:
        """GL texture name to render eye ``eye`` into this frame."""

    @abc.abstractmethod
    def release_eye(self, eye: int) -> None:
        """The eye's texture is drawn."""

    @abc.abstractmethod
    def end_frame(self, frame: FrameViews, rendered: bool) -> None:
        """Submit the frame (a projection layer when ``rendered``)."""

    def haptic_pulse(self, hand: str, amplitude: float = 0.5, duration_s: float = 0.05) -> None:  # noqa: B027
        """Vibrate a controller (optional; no-op where unsupported)."""

    def wait_for_ready(self, timeout_s: float = 10.0) -> None:  # noqa: B027
        """Block until the runtime wants frames (default: it does at once)."""

    def end_session(self, timeout_s: float = 3.0) -> None:
        """End the session gracefully before :meth:`close` (default: :meth:`request_exit`)."""
        self.request_exit()

    @abc.abstractmethod
    def request_exit(self) -> None:
        """Ask the runtime to end the session (frames keep flowing until it agrees)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release everything; safe to call twice and after a lost runtime."""
