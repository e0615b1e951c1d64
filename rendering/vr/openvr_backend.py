"""OpenVR backend (pyopenvr 2.5.101): SteamVR, and OpenComposite over any OpenXR runtime.

Same interface as the OpenXR backend. OpenVR paces the loop in ``IVRCompositor::WaitGetPoses``, takes one GL
texture per eye through ``Submit`` and reads them on the current GLX context, so VTK's window must be an X window
(under a desktop or Xvfb). Two known traps are avoided: pyopenvr 2.12 asks for interfaces that OpenComposite (and
older SteamVR) do not serve, hence the 2.5.101 pin; and pyopenvr's ``getFrameTiming()`` leaves the struct size 0,
which crashes OpenComposite, so it is never called.

A runtime lost mid-session: OpenComposite aborts the process on the first failed OpenXR call, and a runtime
that died answers with XR_ERROR_INSTANCE_LOST without a LOSS_PENDING state first (which OpenComposite would turn
into a Quit event). So this backend enables our OpenXR API layer (``rendering/vr/xr_loss_layer``, built by its
``build.sh``; ``SURGITWIN_XR_LOSS_LAYER`` names its manifest) for the OpenXR loader inside OpenComposite, for this
backend only: after a loss it answers harmlessly and sends LOSS_PENDING, OpenComposite sends Quit, and the session
ends as lost, back on the desktop (tests/vr/test_runtime_lost.py). SteamVR is not OpenXR-based and does not load
it. A Quit event without a loss ends the session cleanly.
"""

from __future__ import annotations

import ctypes
import glob
import json
import logging
import os
from pathlib import Path

import numpy as np

from rendering.vr.backend import ControllerState, EyeView, FrameViews, RuntimeInfo, SessionEvent, VRBackend
from rendering.vr.errors import HeadsetUnavailable, RuntimeUnavailable, SessionLost
from rendering.vr.maths import fov_from_openvr_raw, matrix_from_openvr34

__all__ = ["OpenVRBackend"]

log = logging.getLogger(__name__)


def _openvr():
    try:
        import openvr
    except ImportError as exc:  # pragma: no cover - openvr is a dependency
        raise RuntimeUnavailable("the OpenVR bindings are not installed: pip install openvr==2.5.101") from exc
    return openvr


def _string_property(system, prop_name: str) -> str:
    openvr = _openvr()
    try:
        return str(system.getStringTrackedDeviceProperty(openvr.k_unTrackedDeviceIndex_Hmd, getattr(openvr, prop_name)))
    except openvr.OpenVRError:
        return ""


_LAYER_NAME = "XR_APILAYER_SURGITWIN_runtime_loss"
_SYSTEM_EXPLICIT_LAYERS = os.pathsep.join(f"{root}/openxr/1/api_layers/explicit.d"
                                          for root in ("/etc/xdg", "/usr/local/share", "/usr/share"))


def _loss_layer_manifest() -> Path | None:
    """The runtime-loss layer's manifest: ``SURGITWIN_XR_LOSS_LAYER``, else the newest build in the user's cache."""
    named = os.environ.get("SURGITWIN_XR_LOSS_LAYER")
    if named:
        return Path(named) if Path(named).is_file() else None
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "surgitwin"
    built = glob.glob(str(cache / "xr-loss-layer-*" / f"{_LAYER_NAME}.json"))
    return Path(max(built, key=os.path.getmtime)) if built else None


def _with_loss_layer(manifest: Path | None, start):
    """Call ``start()`` (``openvr.init``) with the layer enabled for the OpenXR loader that OpenComposite holds.

    The loader reads ``XR_API_LAYER_PATH`` / ``XR_ENABLE_API_LAYERS`` when OpenComposite creates its instance
    (inside ``VR_Init``); they are restored afterwards, so the OpenXR backend never gets the layer.
    """
    if manifest is None:
        log.info("OpenXR runtime-loss layer not built (rendering/vr/xr_loss_layer/build.sh): through OpenComposite "
                 "a runtime lost mid-session aborts the process")
        return start()
    saved = {key: os.environ.get(key) for key in ("XR_API_LAYER_PATH", "XR_ENABLE_API_LAYERS")}
    search = saved["XR_API_LAYER_PATH"]
    if search is None and saved["XR_ENABLE_API_LAYERS"]:
        search = _SYSTEM_EXPLICIT_LAYERS  # XR_API_LAYER_PATH replaces these: keep the user's layers findable
    # Ours last: the loader bundled in OpenComposite (SDK 1.0.12) mis-splits any list item but the first and last.
    os.environ["XR_API_LAYER_PATH"] = os.pathsep.join(p for p in (search, str(manifest.parent)) if p)
    os.environ["XR_ENABLE_API_LAYERS"] = os.pathsep.join(p for p in (saved["XR_ENABLE_API_LAYERS"], _LAYER_NAME)
                                                         if p)
    try:
        return start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _loss_layer_reason(manifest: Path | None) -> str | None:
    """Why the layer (if loaded in this process) saw the runtime go away, e.g. ``xrWaitFrame: ..._LOST``."""
    if manifest is None:
        return None
    try:
        library = json.loads(manifest.read_text())["api_layer"]["library_path"]
        layer = ctypes.CDLL(library, mode=os.RTLD_NOW | os.RTLD_NOLOAD)  # only if the loader loaded it
    except (OSError, ValueError, KeyError, TypeError):
        return None
    layer.surgitwin_xr_loss_layer_reason.restype = ctypes.c_char_p
    if not layer.surgitwin_xr_loss_layer_lost():
        return None
    return layer.surgitwin_xr_loss_layer_reason().decode(errors="replace")


class OpenVRBackend(VRBackend):
    """One OpenVR scene application (``VRApplication_Scene``)."""

    name = "openvr"
    gl_platforms = ("glx",)

    def __init__(self) -> None:
        self._ovr = None
        self.system = None
        self.compositor = None
        self.textures: list[int] = []
        self.eye_size = (0, 0)
        self.space_kind = "stage"  # TrackingUniverseStanding: floor at y = 0
        self.state_history: list[str] = []
        self._eye_to_head: list[np.ndarray] = []
        self._fovs = []
        self._poses = None
        self._frame_index = 0
        self._exited = False
        self._lost = False
        self.runtime_name = ""
        self.system_name = ""
        self._loss_layer: Path | None = None

    # ------------------------------------------------------------------ probing
    def _init(self):
        openvr = self._ovr or _openvr()
        self._ovr = openvr
        if not openvr.isRuntimeInstalled():
            raise RuntimeUnavailable("no OpenVR runtime: SteamVR is not installed (no openvrpaths.vrpath; "
                                     "VR_OVERRIDE is not set)")
        if not openvr.isHmdPresent():
            raise HeadsetUnavailable("the OpenVR runtime reports no headset: connect it and start SteamVR")
        self._loss_layer = _loss_layer_manifest()
        try:
            system = _with_loss_layer(self._loss_layer, lambda: openvr.init(openvr.VRApplication_Scene))
        except openvr.OpenVRError as exc:
            raise RuntimeUnavailable(f"the OpenVR runtime could not start ({type(exc).__name__}): is SteamVR "
                                     "running and the headset connected?") from exc
        try:
            path = openvr.getRuntimePath()
        except openvr.OpenVRError:
            path = "?"
        tracking = _string_property(system, "Prop_TrackingSystemName_String")
        model = _string_property(system, "Prop_ModelNumber_String")
        maker = _string_property(system, "Prop_ManufacturerName_String")
        self.runtime_name = f"OpenVR runtime at {path}"
        self.system_name = " ".join(s for s in (maker, model) if s) or "headset"
        if tracking:
            self.system_name += f" (tracking system {tracking})"
        return system

    def probe(self) -> RuntimeInfo:
        """Initialise as a scene application, read the headset's properties, shut down."""
        system = self._init()
        openvr = self._ovr
        try:
            size = tuple(int(v) for v in system.getRecommendedRenderTargetSize())
            try:
                hz = float(system.getFloatTrackedDeviceProperty(openvr.k_unTrackedDeviceIndex_Hmd,
                                                                 openvr.Prop_DisplayFrequency_Float))
            except openvr.OpenVRError:
                hz = None
            return RuntimeInfo("openvr", self.runtime_name, self.system_name, size, hz)
        finally:
            openvr.shutdown()

    # ------------------------------------------------------------------ session
    def open(self, gl_platform: str, eye_size: tuple[int, int] | None = None) -> tuple[int, int]:
        """Initialise, read the eyes' geometry, make one GL texture per eye on the current (GLX) context."""
        self.system = self._init()
        openvr = self._ovr
        from OpenGL import GL

        self.compositor = openvr.VRCompositor()
        self.compositor.setTrackingSpace(openvr.TrackingUniverseStanding)
        size = eye_size or tuple(int(v) for v in self.system.getRecommendedRenderTargetSize())
        self.eye_size = (int(size[0]), int(size[1]))
        for eye in (openvr.Eye_Left, openvr.Eye_Right):
            self._eye_to_head.append(matrix_from_openvr34(self.system.getEyeToHeadTransform(eye)))
            self._fovs.append(fov_from_openvr_raw(*self.system.getProjectionRaw(eye)))
        self.textures = [int(t) for t in np.atleast_1d(GL.glGenTextures(2))]
        for texture in self.textures:
            GL.glBindTexture(GL.GL_TEXTURE_2D, texture)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, *self.eye_size, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        self._poses = (openvr.TrackedDevicePose_t * openvr.k_unMaxTrackedDeviceCount)()
        self.state_history.append("initialised")
        return self.eye_size

    def poll(self) -> SessionEvent:
        """Drain ``PollNextEvent``; a Quit event ends the session (acknowledged, as OpenVR asks)."""
        openvr = self._ovr
        if self._lost:
            return SessionEvent.LOST
        event = openvr.VREvent_t()
        try:
            while self.system.pollNextEvent(event):
                if event.eventType in (openvr.VREvent_Quit, openvr.VREvent_DriverRequestedQuit):
                    self.system.acknowledgeQuit_Exiting()
                    reason = _loss_layer_reason(self._loss_layer)
                    if reason is not None:  # the Quit is our layer's: the OpenXR runtime under OpenComposite died
                        self.state_history.append("runtime lost")
                        self._lost = True
                        raise SessionLost(f"OpenVR over OpenXR: {reason}")
                    self.state_history.append("quit requested")
                    self._exited = True
                elif event.eventType == openvr.VREvent_InputFocusChanged:
                    self.state_history.append("input focus changed")
        except openvr.OpenVRError as exc:
            self._lost = True
            log.warning("OpenVR runtime lost: %s", exc)
            return SessionEvent.LOST
        return SessionEvent.EXITED if self._exited else SessionEvent.RUNNING

    @property
    def focused(self) -> bool:
        """Whether this application has the headset's input (``IsInputAvailable``)."""
        try:
            return bool(self.system.isInputAvailable())
        except self._ovr.OpenVRError:
            return False

    def wait_frame(self) -> FrameViews:
        """``WaitGetPoses`` (the runtime's pacing), then head × eye-to-head for each eye."""
        openvr = self._ovr
        try:
            self.compositor.waitGetPoses(self._poses, None)
        except openvr.OpenVRError as exc:
            # DoNotHaveFocus and friends are transient: no pose this frame. Anything else: the runtime is gone.
            if isinstance(exc, openvr.error_code.CompositorError_DoNotHaveFocus):
                return FrameViews(self._frame_index, False, (), None)
            self._lost = True
            raise SessionLost(f"OpenVR WaitGetPoses failed ({type(exc).__name__})") from exc
        self._frame_index += 1
        hmd = self._poses[openvr.k_unTrackedDeviceIndex_Hmd]
        if not hmd.bPoseIsValid:
            return FrameViews(self._frame_index, False, (), None)
        if "focused" not in self.state_history and self.focused:
            self.state_history.append("focused")
        head = matrix_from_openvr34(hmd.mDeviceToAbsoluteTracking)
        eyes = tuple(EyeView(head @ e2h, fov) for e2h, fov in zip(self._eye_to_head, self._fovs, strict=True))
        return FrameViews(self._frame_index, True, eyes, head, self._controllers())

    def _controllers(self) -> tuple[ControllerState, ...]:
        openvr = self._ovr
        states = []
        for hand, role in (("left", openvr.TrackedControllerRole_LeftHand),
                           ("right", openvr.TrackedControllerRole_RightHand)):
            index = self.system.getTrackedDeviceIndexForControllerRole(role)
            if index == openvr.k_unTrackedDeviceIndexInvalid or index >= openvr.k_unMaxTrackedDeviceCount:
                continue
            pose = self._poses[index]
            grip = matrix_from_openvr34(pose.mDeviceToAbsoluteTracking) if pose.bPoseIsValid else None
            try:
                ok, state = self.system.getControllerState(index)
            except openvr.OpenVRError:
                ok, state = False, None
            grab = trigger = 0.0
            menu = False
            if ok and state is not None:
                pressed = int(state.ulButtonPressed)
                grab = 1.0 if pressed & (1 << openvr.k_EButton_Grip) else 0.0
                trigger = float(state.rAxis[1].x)
                menu = bool(pressed & (1 << openvr.k_EButton_ApplicationMenu))
            states.append(ControllerState(hand, grip, grab, trigger, menu))
        return tuple(states)

    def eye_texture(self, eye: int) -> int:
        """The eye's texture (ours; OpenVR copies it on Submit)."""
        return self.textures[eye]

    def release_eye(self, eye: int) -> None:
        """Nothing to release: OpenVR has no swapchain."""

    def end_frame(self, frame: FrameViews, rendered: bool) -> None:
        """Submit both eyes' textures."""
        if not rendered:
            return
        openvr = self._ovr
        for eye, texture in zip((openvr.Eye_Left, openvr.Eye_Right), self.textures, strict=True):
            tex = openvr.Texture_t()
            tex.handle = int(texture)
            tex.eType = openvr.TextureType_OpenGL
            tex.eColorSpace = openvr.ColorSpace_Gamma  # VTK's colours are display-encoded
            try:
                self.compositor.submit(eye, tex)
            except openvr.error_code.CompositorError_DoNotHaveFocus:
                pass
            except openvr.OpenVRError as exc:
                self._lost = True
                raise SessionLost(f"OpenVR Submit failed ({type(exc).__name__})") from exc

    def haptic_pulse(self, hand: str, amplitude: float = 0.5, duration_s: float = 0.05) -> None:
        """Legacy ``TriggerHapticPulse`` (at most 3999 µs per call, as OpenVR allows)."""
        openvr = self._ovr
        role = openvr.TrackedControllerRole_LeftHand if hand == "left" else openvr.TrackedControllerRole_RightHand
        index = self.system.getTrackedDeviceIndexForControllerRole(role)
        if index != openvr.k_unTrackedDeviceIndexInvalid:
            self.system.triggerHapticPulse(index, 0, int(min(3999.0, duration_s * 1e6)))

    def request_exit(self) -> None:
        """Nothing to negotiate: an OpenVR scene application just shuts down."""

    def close(self) -> None:
        """Delete the textures and shut OpenVR down."""
        if self._ovr is None:
            return
        if self.textures:
            try:
                from OpenGL import GL

                GL.glDeleteTextures(self.textures)
            except Exception as exc:
                log.info("OpenVR texture clean-up: %s", exc)
            self.textures = []
        if self.system is not None:
            try:
                self._ovr.shutdown()
            except self._ovr.OpenVRError as exc:
                log.info("OpenVR shutdown: %s", exc)
            self.state_history.append("shut down")
        self.system = None
        self.compositor = None
