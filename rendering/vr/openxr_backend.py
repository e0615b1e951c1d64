"""OpenXR backend (pyopenxr): SteamVR, Meta Quest Link, WiVRn, Monado, Windows Mixed Reality.

The session shares VTK's OpenGL context (GLX binding under X11, ``XR_MNDX_egl_enable`` without a display), renders
into the runtime's swapchain textures on the GPU and follows the session's state machine (IDLE, READY, SYNCHRONIZED,
VISIBLE, FOCUSED, STOPPING, LOSS_PENDING, EXITING) as the OpenXR specification asks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from ctypes import POINTER, byref, c_void_p, cast, pointer

from rendering.vr.backend import FrameViews, RuntimeInfo, SessionEvent, VRBackend
from rendering.vr.errors import HeadsetUnavailable, RuntimeUnavailable, SessionLost, VRError
from rendering.vr.maths import EyeFov, pose_matrix

__all__ = ["OpenXRBackend", "openxr_runtime_hint"]

log = logging.getLogger(__name__)

# Monado and the OpenXR loader log to the terminal by default; keep them to warnings (the user sees our one line).
os.environ.setdefault("XRT_LOG", "error")
os.environ.setdefault("XR_LOADER_DEBUG", "none")

_APP = "SurgiTwin"


def openxr_runtime_hint() -> str:
    """Plain words on where the OpenXR loader looked for a runtime."""
    path = os.environ.get("XR_RUNTIME_JSON")
    if path:
        if not os.path.isfile(path):
            return f"XR_RUNTIME_JSON points to {path}, which does not exist"
        return f"XR_RUNTIME_JSON is {path}"
    return ("no active runtime is registered (on Linux: ~/.config/openxr/1/active_runtime.json or "
            "/etc/xdg/openxr/1/active_runtime.json; on Windows: the ActiveRuntime registry key)")


def _xr():
    try:
        import xr
    except ImportError as exc:  # pragma: no cover - pyopenxr is a dependency
        raise RuntimeUnavailable("the OpenXR bindings (pyopenxr) are not installed: pip install pyopenxr") from exc
    return xr


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class OpenXRBackend(VRBackend):
    """One OpenXR instance and session.

    Parameters
    ----------
    reference_space : str
        ``"stage"`` (floor-level origin, preferred) or ``"local"``; falls back to local where stage is missing.
    controllers : bool
        Create the controller action set with suggested bindings.
    swapchain_formats : sequence of int, optional
        GL formats to prefer, first available wins (default: sRGB, then RGBA8).
    """

    name = "openxr"
    gl_platforms = ("glx", "egl")

    def __init__(self, *, reference_space: str = "stage", controllers: bool = True,
                 swapchain_formats=None) -> None:
        self._xr = None
        self._formats = swapchain_formats
        self._want_space = reference_space
        self._want_controllers = controllers
        self.instance = None
        self.session = None
        self.system_id = None
        self.space = None
        self.space_kind = ""
        self._view_space = None
        self.swapchains: list = []
        self._images: list[list[int]] = []
        self._acquired: dict[int, int] = {}
        self.eye_size = (0, 0)
        self.swapchain_format = 0
        self.state = None
        self.state_history: list[str] = []
        self._running = False
        self._exited = False
        self._lost = False
        self._frame_state = None
        self._frame_index = 0
        self._binding = None  # keeps the ctypes binding alive as long as the session
        self.controllers = None
        self.runtime_name = ""
        self.system_name = ""

    # ------------------------------------------------------------------ probing
    def _create_instance(self, extensions: list[str]):
        xr = self._xr or _xr()
        self._xr = xr
        try:
            available = {_text(e.extension_name) for e in xr.enumerate_instance_extension_properties()}
        except xr.XrException as exc:
            raise RuntimeUnavailable(f"no OpenXR runtime could be loaded: {openxr_runtime_hint()}") from exc
        missing = [e for e in extensions if e not in available]
        if missing:
            raise RuntimeUnavailable(f"the OpenXR runtime lacks {', '.join(missing)} (needed for OpenGL rendering)")
        try:
            instance = xr.create_instance(xr.InstanceCreateInfo(
                application_info=xr.ApplicationInfo(application_name=_APP, application_version=1,
                                                    engine_name="SurgiTwin-VTK", engine_version=1,
                                                    api_version=xr.Version(1, 0, xr.XR_VERSION_PATCH)),
                enabled_extension_names=extensions))
        except xr.XrException as exc:
            raise RuntimeUnavailable(f"no OpenXR runtime could be started ({exc}): {openxr_runtime_hint()}") from exc
        props = xr.get_instance_properties(instance)
        self.runtime_name = f"{_text(props.runtime_name)} {xr.Version(props.runtime_version)}"
        try:
            system_id = xr.get_system(instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        except xr.XrException as exc:
            xr.destroy_instance(instance)
            raise HeadsetUnavailable(f"the OpenXR runtime {self.runtime_name!r} reports no headset: connect and "
                                     f"switch on the headset, then try again ({exc})") from exc
        self.system_name = _text(xr.get_system_properties(instance, system_id).system_name)
        return instance, system_id

    def _recommended(self, instance, system_id) -> tuple[int, int]:
        xr = self._xr
        views = xr.enumerate_view_configuration_views(instance, system_id, xr.ViewConfigurationType.PRIMARY_STEREO)
        if len(views) != 2:
            raise HeadsetUnavailable(f"the OpenXR system {self.system_name!r} is not a stereo headset")
        return (max(v.recommended_image_rect_width for v in views),
                max(v.recommended_image_rect_height for v in views))

    def probe(self) -> RuntimeInfo:
        """Instance and system only (no graphics): runtime name, headset name, recommended per-eye size."""
        instance, system_id = self._create_instance([])
        xr = self._xr
        try:
            size = self._recommended(instance, system_id)
            return RuntimeInfo("openxr", self.runtime_name, self.system_name, size)
        finally:
            xr.destroy_instance(instance)

    # ------------------------------------------------------------------ session
    def _graphics_binding(self, gl_platform: str):
        xr = self._xr
        if gl_platform == "glx":
            from OpenGL import GLX

            binding = xr.GraphicsBindingOpenGLXlibKHR(
                x_display=GLX.glXGetCurrentDisplay(), glx_drawable=GLX.glXGetCurrentDrawable(),
                glx_context=GLX.glXGetCurrentContext())
        elif gl_platform == "egl":
            from OpenGL import EGL

            display = EGL.eglGetCurrentDisplay()
            context = EGL.eglGetCurrentContext()
            config_id = EGL.EGLint()
            EGL.eglQueryContext(display, context, EGL.EGL_CONFIG_ID, byref(config_id))
            configs = (EGL.EGLConfig * 1)()
            count = EGL.EGLint()
            EGL.eglChooseConfig(display, [EGL.EGL_CONFIG_ID, config_id.value, EGL.EGL_NONE], configs, 1, count)
            binding = xr.GraphicsBindingEGLMNDX()
            binding.display = display
            binding.context = context
            binding.config = configs[0]
            binding.get_proc_address = cast(EGL.eglGetProcAddress.load(), xr.PFN_xrEglGetProcAddressMNDX)
        else:
            raise VRError(f"OpenXR cannot share a {gl_platform} OpenGL context")
        self._binding = binding
        return cast(pointer(binding), c_void_p)

    def open(self, gl_platform: str, eye_size: tuple[int, int] | None = None) -> tuple[int, int]:
        """Instance, session on the current GL context, reference space, swapchains, controller actions."""
        xr = self._xr or _xr()
        self._xr = xr
        exts = [xr.KHR_OPENGL_ENABLE_EXTENSION_NAME]
        if gl_platform == "egl":
            exts.append(xr.MNDX_EGL_ENABLE_EXTENSION_NAME)
        self.instance, self.system_id = self._create_instance(exts)
        try:
            return self._open_session(gl_platform, eye_size)
        except BaseException:
            self.close()
            raise

    def _open_session(self, gl_platform: str, eye_size: tuple[int, int] | None) -> tuple[int, int]:
        xr = self._xr
        instance, system_id = self.instance, self.system_id
        # The specification requires this call before xrCreateSession.
        pfn = cast(xr.get_instance_proc_addr(instance, "xrGetOpenGLGraphicsRequirementsKHR"),
                   xr.PFN_xrGetOpenGLGraphicsRequirementsKHR)
        requirements = xr.GraphicsRequirementsOpenGLKHR()
        result = xr.check_result(xr.Result(pfn(instance, system_id, byref(requirements))))
        if result.is_exception():
            raise result
        self.session = xr.create_session(instance, xr.SessionCreateInfo(
            system_id=system_id, next=self._graphics_binding(gl_platform)))
        kinds = list(xr.enumerate_reference_spaces(self.session))
        use_stage = self._want_space == "stage" and xr.ReferenceSpaceType.STAGE in kinds
        kind = xr.ReferenceSpaceType.STAGE if use_stage else xr.ReferenceSpaceType.LOCAL
        self.space_kind = "stage" if use_stage else "local"
        self.space = xr.create_reference_space(self.session, xr.ReferenceSpaceCreateInfo(reference_space_type=kind))
        self._view_space = xr.create_reference_space(self.session, xr.ReferenceSpaceCreateInfo(
            reference_space_type=xr.ReferenceSpaceType.VIEW))
        size = eye_size or self._recommended(instance, system_id)
        from OpenGL import GL

        formats = list(xr.enumerate_swapchain_formats(self.session))
        # sRGB first: VTK's colours are display-encoded, and an sRGB swapchain tells the compositor so (a linear
        # RGBA8 one would be shown washed out).
        preferred = list(self._formats or [GL.GL_SRGB8_ALPHA8, GL.GL_RGBA8, GL.GL_RGB10_A2, GL.GL_RGBA16F])
        self.swapchain_format = next((f for f in preferred if f in formats), formats[0])
        for _ in range(2):
            swapchain = xr.create_swapchain(self.session, xr.SwapchainCreateInfo(
                usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT | xr.SwapchainUsageFlags.SAMPLED_BIT,
                format=self.swapchain_format, sample_count=1, width=size[0], height=size[1], face_count=1,
                array_size=1, mip_count=1))
            images = xr.enumerate_swapchain_images(swapchain, xr.SwapchainImageOpenGLKHR)
            self.swapchains.append(swapchain)
            self._images.append([int(im.image) for im in images])
        self.eye_size = (int(size[0]), int(size[1]))
        if self._want_controllers:
            from rendering.vr.actions import OpenXRControllers

            self.controllers = OpenXRControllers(instance, self.session, self.space)
        return self.eye_size

    # ------------------------------------------------------------------ state machine
    def poll(self) -> SessionEvent:
        """Drain the event queue, begin/end the session as the state asks."""
        xr = self._xr
        if self._lost:
            return SessionEvent.LOST
        while True:
            try:
                event = xr.poll_event(self.instance)
            except xr.EventUnavailable:
                break
            except xr.XrException as exc:
                self._lost = True
                log.warning("OpenXR runtime lost while polling events: %s", exc)
                return SessionEvent.LOST
            kind = xr.StructureType(event.type)
            if kind == xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED:
                changed = cast(byref(event), POINTER(xr.EventDataSessionStateChanged)).contents
                self._on_state(xr.SessionState(changed.state))
            elif kind == xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING:
                self._lost = True
        if self._lost:
            return SessionEvent.LOST
        if self._exited:
            return SessionEvent.EXITED
        return SessionEvent.RUNNING if self._running else SessionEvent.WAITING

    def _on_state(self, state) -> None:
        xr = self._xr
        self.state = state
        self.state_history.append(state.name)
        log.info("OpenXR session state: %s", state.name)
        if state == xr.SessionState.READY:
            xr.begin_session(self.session, xr.SessionBeginInfo(
                primary_view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO))
            self._running = True
        elif state == xr.SessionState.STOPPING:
            self._running = False
            xr.end_session(self.session)
        elif state == xr.SessionState.EXITING:
            self._running = False
            self._exited = True
        elif state == xr.SessionState.LOSS_PENDING:
            self._running = False
            self._lost = True

    @property
    def focused(self) -> bool:
        """FOCUSED: the headset shows us and the controllers are ours."""
        return self.state is not None and self.state == self._xr.SessionState.FOCUSED

    # ------------------------------------------------------------------ frames
    def _guard(self, call, *args):
        xr = self._xr
        try:
            return call(*args)
        except (xr.SessionLostError, xr.InstanceLostError, xr.SessionLossPending, xr.RuntimeFailureError) as exc:
            self._lost = True
            raise SessionLost(f"OpenXR: {type(exc).__name__.removesuffix('Error')}") from exc

    def wait_frame(self) -> FrameViews:
        """xrWaitFrame + xrBeginFrame, then the eyes' poses and fields of view in the reference space."""
        xr = self._xr
        frame_state = self._guard(xr.wait_frame, self.session)
        self._guard(xr.begin_frame, self.session)
        self._frame_state = frame_state
        self._frame_index += 1
        time_ = frame_state.predicted_display_time
        eyes = ()
        head = None
        should_render = bool(frame_state.should_render)
        if should_render:
            view_state, views = self._guard(xr.locate_views, self.session, xr.ViewLocateInfo(
                view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO, display_time=time_,
                space=self.space))
            valid = int(xr.VIEW_STATE_ORIENTATION_VALID_BIT | xr.VIEW_STATE_POSITION_VALID_BIT)
            if int(view_state.view_state_flags) & valid != valid:
                should_render = False  # no tracking: submit no layer rather than a wrong image
            else:
                self._views = views
                eyes = tuple(self._eye_view(v) for v in views)
                loc = xr.locate_space(self._view_space, self.space, time_)
                p, o = loc.pose.position, loc.pose.orientation
                head = pose_matrix((p.x, p.y, p.z), (o.x, o.y, o.z, o.w))
        controllers = ()
        if self.controllers is not None and self.focused:
            controllers = self.controllers.read(time_)
        return FrameViews(self._frame_index, should_render, eyes, head, controllers)

    @staticmethod
    def _eye_view(view):
        from rendering.vr.backend import EyeView

        p, o, f = view.pose.position, view.pose.orientation, view.fov
        return EyeView(pose_matrix((p.x, p.y, p.z), (o.x, o.y, o.z, o.w)),
                       EyeFov.from_angles(f.angle_left, f.angle_right, f.angle_up, f.angle_down))

    def eye_texture(self, eye: int) -> int:
        """Acquire and wait for the eye's next swapchain image; returns its GL texture."""
        xr = self._xr
        swapchain = self.swapchains[eye]
        index = self._guard(xr.acquire_swapchain_image, swapchain, xr.SwapchainImageAcquireInfo())
        self._guard(xr.wait_swapchain_image, swapchain, xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION))
        self._acquired[eye] = index
        return self._images[eye][index]

    def release_eye(self, eye: int) -> None:
        """Hand the eye's image back to the runtime."""
        xr = self._xr
        self._guard(xr.release_swapchain_image, self.swapchains[eye], xr.SwapchainImageReleaseInfo())
        self._acquired.pop(eye, None)

    def end_frame(self, frame: FrameViews, rendered: bool) -> None:
        """xrEndFrame with one projection layer (both eyes at the located poses) when the eyes were drawn."""
        xr = self._xr
        layers = []
        if rendered:
            proj_views = (xr.CompositionLayerProjectionView * 2)()
            for i, view in enumerate(self._views):
                pv = proj_views[i]
                pv.type = xr.StructureType.COMPOSITION_LAYER_PROJECTION_VIEW
                pv.pose = view.pose
                pv.fov = view.fov
                pv.sub_image.swapchain = self.swapchains[i]
                pv.sub_image.image_rect.offset.x = 0
                pv.sub_image.image_rect.offset.y = 0
                pv.sub_image.image_rect.extent.width = self.eye_size[0]
                pv.sub_image.image_rect.extent.height = self.eye_size[1]
                pv.sub_image.image_array_index = 0
            layer = xr.CompositionLayerProjection(space=self.space, views=proj_views)
            layers.append(cast(byref(layer), POINTER(xr.CompositionLayerBaseHeader)))
        self._guard(xr.end_frame, self.session, xr.FrameEndInfo(
            display_time=self._frame_state.predicted_display_time,
            environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE, layers=layers))

    def haptic_pulse(self, hand: str, amplitude: float = 0.5, duration_s: float = 0.05) -> None:
        """Vibrate one controller (through the haptic action)."""
        if self.controllers is not None and self.focused:
            try:
                self.controllers.haptic(hand, amplitude, duration_s)
            except self._xr.XrException as exc:
                log.info("haptic pulse not delivered: %s", exc)

    # ------------------------------------------------------------------ shutdown
    def request_exit(self) -> None:
        """xrRequestExitSession; the engine keeps submitting empty frames until STOPPING."""
        xr = self._xr
        if self.session is None or self._lost or self._exited:
            return
        if not self._running:
            return
        try:
            xr.request_exit_session(self.session)
        except xr.XrException as exc:
            log.info("request exit: %s", exc)

    def end_session(self, timeout_s: float = 3.0) -> None:
        """Request exit, keep empty frames flowing through STOPPING until EXITING (the specification's way out)."""
        if self.session is None or self._lost or self._exited:
            return
        self.request_exit()
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            event = self.poll()
            if event in (SessionEvent.EXITED, SessionEvent.LOST):
                return
            if event == SessionEvent.RUNNING:
                self.end_empty_frame()
            else:
                time.sleep(0.005)
        log.info("OpenXR session did not reach EXITING within %.1f s; destroying it anyway", timeout_s)

    def end_empty_frame(self) -> None:
        """A frame without layers (keeps the runtime's frame loop going while the session winds down)."""
        xr = self._xr
        frame_state = self._guard(xr.wait_frame, self.session)
        self._guard(xr.begin_frame, self.session)
        self._guard(xr.end_frame, self.session, xr.FrameEndInfo(
            display_time=frame_state.predicted_display_time,
            environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE, layers=[]))

    def close(self) -> None:
        """Destroy swapchains, spaces, session and instance; tolerant of a runtime that is already gone."""
        xr = self._xr
        if xr is None:
            return
        for eye in list(self._acquired):
            with contextlib.suppress(xr.XrException):
                xr.release_swapchain_image(self.swapchains[eye], xr.SwapchainImageReleaseInfo())
        self._acquired.clear()
        steps = []
        if self.controllers is not None:
            steps.append(self.controllers.destroy)
            self.controllers = None
        steps += [lambda s=s: xr.destroy_swapchain(s) for s in self.swapchains]
        for space in (self._view_space, self.space):
            if space is not None:
                steps.append(lambda s=space: xr.destroy_space(s))
        if self.session is not None:
            if self._running and not self._lost:
                steps.append(lambda: xr.end_session(self.session))
            steps.append(lambda s=self.session: xr.destroy_session(s))
        if self.instance is not None:
            steps.append(lambda i=self.instance: xr.destroy_instance(i))
        for step in steps:
            try:
                step()
            except xr.XrException as exc:
                log.info("OpenXR clean-up: %s", exc)
        self.swapchains, self._images = [], []
        self._view_space = self.space = self.session = self.instance = None
        self._running = False
        self._binding = None

    def wait_for_ready(self, timeout_s: float = 10.0) -> None:
        """Poll until the runtime lets the session run (READY → begin) or give up with a plain error."""
        deadline = time.perf_counter() + timeout_s
        while True:
            event = self.poll()
            if event == SessionEvent.RUNNING:
                return
            if event in (SessionEvent.LOST, SessionEvent.EXITED):
                raise SessionLost("the OpenXR runtime ended the session before it started")
            if time.perf_counter() > deadline:
                raise VRError(f"the OpenXR session did not become ready within {timeout_s:.0f} s "
                              "(is the headset awake and not in use by another application?)")
            time.sleep(0.005)
