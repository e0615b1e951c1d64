"""The VR engine: one frame loop for every backend, VTK rendering each eye on the session's GL context.

Per frame: poll the runtime's events, wait for the frame, place each eye's VTK camera from the located view
(pose and field of view), render, copy VTK's framebuffer into the runtime's eye texture on the GPU, submit. The
actors are the desktop's own (added to a second renderer, not copied); on exit, whatever happened (the user quit,
the runtime asked to exit, or the runtime was lost), the actors are handed back untouched and the engine returns
a :class:`VRRunResult` instead of raising.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from vtkmodules.vtkRenderingCore import vtkProp, vtkRenderer, vtkTextActor

from rendering.vr.backend import FrameViews, SessionEvent, VRBackend
from rendering.vr.camera import BACKGROUND, set_eye_camera
from rendering.vr.errors import SessionLost, VRError
from rendering.vr.gl import EyeBlitter, gl_platform_of, make_vr_window
from rendering.vr.stage import DEFAULT_EYE_HEIGHT_M, StageMapping
from rendering.vr.timing import FrameStats

__all__ = ["EyeHook", "VREngine", "VRRunResult"]

log = logging.getLogger(__name__)

#: ``hook(eye, texture, size, frame, engine)``: called after an eye is drawn into its texture, before release.
EyeHook = Callable[[int, int, tuple[int, int], FrameViews, "VREngine"], None]



@dataclass
class VRRunResult:
    """How a VR session went."""

    backend: str
    outcome: str  # "completed" (frame count reached), "exited", "stopped", "lost", "timeout"
    message: str
    stats: FrameStats
    eye_size: tuple[int, int] = (0, 0)
    states: list[str] = field(default_factory=list)
    mapping: StageMapping | None = None

    @property
    def ok(self) -> bool:
        """Ended as asked (not lost, not timed out)."""
        return self.outcome in ("completed", "exited", "stopped")


class VREngine:
    """Show props (the desktop's actors) in a headset through one backend.

    Parameters
    ----------
    props : iterable of vtkProp
        What to show, in LPS millimetres (e.g. the actors of :class:`rendering.scene3d.Scene3D`).
    backend : VRBackend
    mapping : StageMapping, optional
        Where the anatomy sits; default: on a table in front of the user's first head pose.
    interaction : object, optional
        ``update(controllers, mapping) -> (mapping, haptics)``, see :class:`rendering.vr.interaction.Interaction`;
        when it has them, ``attach(renderer)``, ``before_render(mapping, frame)``, ``detach()`` and
        ``exit_requested`` are used too (:class:`rendering.vr.controls.VRControls`: panel, tools, tissue).
    lod : object, optional
        ``before_frame(stats)`` and ``restore()``, see :class:`rendering.vr.lod.LODController`.
    sync_timing : bool
        Wait for the GPU at the end of each frame so that the render time includes the GPU's work (statistics,
        benchmarks). Off by default: a real headset's GPU overlaps with the next frame.
    overlay : bool
        Show the per-frame timing in the view.
    eye_size : (int, int), optional
        Per-eye image size (default: the runtime's recommendation).
    near_m, far_m : float
        Clipping distances in stage metres.
    placement : dict, optional
        Options of :meth:`StageMapping.in_front_of` for the initial placement (``table_height_m``, ``distance_m``).
    """

    def __init__(self, props: Iterable[vtkProp], backend: VRBackend, *, mapping: StageMapping | None = None,
                 interaction=None, lod=None, sync_timing: bool = False, overlay: bool = True,
                 eye_size: tuple[int, int] | None = None, near_m: float = 0.05, far_m: float = 20.0,
                 placement: dict | None = None) -> None:
        self.props = list(props)
        self.backend = backend
        self.mapping = mapping
        self.interaction = interaction
        self.lod = lod
        self.sync_timing = sync_timing
        self.overlay = overlay
        self.eye_size = eye_size
        self.near_m, self.far_m = near_m, far_m
        self.placement = dict(placement or {})
        self.renderer: vtkRenderer | None = None
        self.window = None
        self.blitter: EyeBlitter | None = None
        self.stats = FrameStats()
        self.haptics_sent = 0
        self._text: vtkTextActor | None = None
        self._size = (0, 0)
        self._clip_shown = None
        self._saved_clipping = None

    @classmethod
    def for_scene(cls, scene, backend: VRBackend, **kwargs) -> VREngine:
        """Engine on a :class:`rendering.scene3d.Scene3D`'s actors (the same objects the desktop draws)."""
        keys = scene.keys()  # Scene3D is not iterable; keys() is its listing
        return cls([scene.actor(k) for k in keys], backend, **kwargs)

    # ------------------------------------------------------------------ helpers
    def bounds_lps(self) -> np.ndarray:
        """``(2, 3)`` LPS bounds of the visible props (a 10 cm cube at the origin when there are none)."""
        boxes = [p.GetBounds() for p in self.props if p.GetVisibility() and p.GetBounds() is not None]
        boxes = [b for b in boxes if b[0] <= b[1]]
        if not boxes:
            return np.array([[-50.0, -50.0, -50.0], [50.0, 50.0, 50.0]])
        b = np.asarray(boxes)
        return np.array([[b[:, 0].min(), b[:, 2].min(), b[:, 4].min()], [b[:, 1].max(), b[:, 3].max(), b[:, 5].max()]])

    def _place(self, frame: FrameViews) -> None:
        floor = 0.0
        if getattr(self.backend, "space_kind", "stage") == "local":
            floor = -DEFAULT_EYE_HEIGHT_M  # LOCAL: origin at the head, floor unknown; assume a standing user
        options = {"floor_y_m": floor, **self.placement}
        bounds = self.bounds_lps()
        self.mapping = StageMapping.in_front_of(bounds, frame.head_to_stage, **options)
        if self.interaction is not None and getattr(self.interaction, "pivot_lps", 0) is None:
            self.interaction.pivot_lps = bounds.mean(axis=0)

    def _build(self) -> None:
        renderer = vtkRenderer()
        # A plain background: the desktop's gradient costs a full-screen pass per eye (100 ms per eye at
        # 1852x2056 on software GL), and in a headset a gradient reads as a wall anyway.
        renderer.SetBackground(*BACKGROUND)
        for prop in self.props:
            renderer.AddViewProp(prop)
        if self.overlay:
            self._text = vtkTextActor()
            self._text.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            self._text.SetPosition(0.35, 0.30)
            self._text.GetTextProperty().SetFontSize(12)
            self._text.GetTextProperty().SetColor(1.0, 0.85, 0.35)
            renderer.AddViewProp(self._text)
        self.renderer = renderer
        attach = getattr(self.interaction, "attach", None)
        if attach is not None:  # the controls' own actors: panel, pointing rays, simulated tissue
            attach(renderer)
        if self.lod is not None:
            self.lod.build()  # decimate before the session starts, never inside a frame
        self.window = make_vr_window((64, 64), renderer)

    def _apply_clipping(self, plane) -> None:
        """Clip the shown models by the interaction's plane; the desktop's own planes come back at the end."""
        if plane is self._clip_shown:
            return
        from vtkmodules.vtkCommonDataModel import vtkPlane

        mappers = [p.GetMapper() for p in self.props if hasattr(p, "GetMapper") and p.GetMapper() is not None]
        if self._saved_clipping is None:
            self._saved_clipping = []
            for mapper in mappers:
                planes = mapper.GetClippingPlanes()
                kept = [planes.GetItem(i) for i in range(planes.GetNumberOfItems())] if planes else []
                self._saved_clipping.append((mapper, kept))
        for mapper, kept in self._saved_clipping:
            mapper.RemoveAllClippingPlanes()
            for saved in kept:
                mapper.AddClippingPlane(saved)
            if plane is not None:
                vtk_plane = vtkPlane()
                vtk_plane.SetOrigin(*plane[0])
                vtk_plane.SetNormal(*(-np.asarray(plane[1])))  # VTK keeps the normal's side: cut the other
                mapper.AddClippingPlane(vtk_plane)
        self._clip_shown = plane

    def _teardown(self) -> None:
        if self.blitter is not None:
            try:
                self.blitter.release()
            except Exception as exc:
                log.info("GL clean-up: %s", exc)
            self.blitter = None
        if self.lod is not None:
            self.lod.restore()
        detach = getattr(self.interaction, "detach", None)
        if detach is not None and self.renderer is not None:
            try:
                detach()
            except Exception as exc:  # never keep the desktop from getting its scene back
                log.warning("VR controls clean-up: %s", exc)
        self._apply_clipping(None)
        if self._saved_clipping is not None:
            self._saved_clipping = None
        if self.renderer is not None:
            for prop in self.props:  # hand the desktop's actors back (they stay in the desktop renderer)
                self.renderer.RemoveViewProp(prop)
            self.renderer.RemoveAllViewProps()
        if self.window is not None:
            if self.renderer is not None:
                self.window.RemoveRenderer(self.renderer)
            self.window.Finalize()
        self.window = None
        self.renderer = None

    # ------------------------------------------------------------------ the loop
    def run(self, *, frames: int | None = None, timeout_s: float | None = None, on_eye: EyeHook | None = None,
            stop: threading.Event | None = None, on_frame: Callable[[FrameViews, VREngine], None] | None = None,
            controller_feed: Callable[[FrameViews], tuple] | None = None) -> VRRunResult:
        """Open the session, run frames, shut down; never raises for a runtime that goes away.

        Parameters
        ----------
        frames : int, optional
            Stop after this many frames have been rendered and submitted.
        timeout_s : float, optional
            Give up after this long (outcome ``"timeout"``).
        on_eye : callable, optional
            Called after each eye is drawn into the runtime's texture (tests read pixels there).
        stop : threading.Event, optional
            Set it to end the session from another thread (the "Exit VR" button).
        on_frame : callable, optional
            Called with each frame's views before rendering (scripted moves, simulation hand-off).
        controller_feed : callable, optional
            ``feed(frame) -> controller states`` replacing the runtime's (a recorded or scripted rehearsal).

        Raises
        ------
        VRError
            The session could not be opened (no runtime, no headset, incompatible GL).
        """
        self.start()
        outcome, message = None, ""
        begun = time.perf_counter()
        try:
            while outcome is None:
                if stop is not None and stop.is_set():
                    outcome, message = "stopped", "exit requested by the user"
                elif timeout_s is not None and time.perf_counter() - begun > timeout_s:
                    outcome = "timeout"
                    message = f"stopped after {timeout_s:.0f} s with {self.stats.submitted} frames submitted"
                else:
                    outcome, message = self.step(on_eye=on_eye, on_frame=on_frame, controller_feed=controller_feed)
                    if outcome is None and frames is not None and self.stats.submitted >= frames:
                        outcome, message = "completed", f"{self.stats.submitted} frames submitted"
        except SessionLost as exc:
            outcome, message = "lost", str(exc)
        return self.finish(outcome, message)

    def start(self) -> None:
        """Build the VR renderer, open the session on VTK's context and wait until the runtime wants frames.

        For a caller that drives frames itself (a GUI timer): ``start()``, then :meth:`step` until it reports an
        outcome, then :meth:`finish`.

        Raises
        ------
        VRError
            The session could not be opened; nothing is left open.
        """
        self.stats = FrameStats()
        self._build()
        platform = gl_platform_of(self.window)
        try:
            if platform not in self.backend.gl_platforms:
                raise VRError(f"the {self.backend.name} backend needs an OpenGL context of type "
                              f"{' or '.join(self.backend.gl_platforms)}, VTK made {platform} (for GLX run under an "
                              "X server, e.g. xvfb-run)")
            self._size = self.backend.open(platform, self.eye_size)
            self.window.SetSize(*self._size)
            self.window.Render()
            self.blitter = EyeBlitter(self.window)
            self.backend.wait_for_ready()
        except BaseException:
            self.backend.close()
            self._teardown()
            raise

    def finish(self, outcome: str = "stopped", message: str = "session ended") -> VRRunResult:
        """End the session (gracefully unless lost), release everything, hand the actors back."""
        if self.blitter is not None:
            try:
                self.window.MakeCurrent()
                self.blitter.finish()  # Mesa can crash if a session dies with GL work in flight
            except Exception as exc:
                log.info("glFinish: %s", exc)
        if outcome != "lost":
            try:
                self.backend.end_session()
            except SessionLost as exc:
                outcome, message = "lost", str(exc)
        self.backend.close()
        states = list(getattr(self.backend, "state_history", []))
        size = getattr(self.backend, "eye_size", (0, 0))
        self._teardown()
        if outcome == "lost":
            message = f"the VR runtime went away ({message}); back on the desktop, the case is unchanged"
        return VRRunResult(self.backend.name, outcome, message, self.stats, tuple(size), states, self.mapping)

    def step(self, *, on_eye: EyeHook | None = None, on_frame=None, controller_feed=None) -> tuple[str | None, str]:
        """One turn of the loop: events, then a frame if the runtime wants one.

        Returns
        -------
        (outcome, message)
            ``outcome`` is None while the session goes on, else ``"exited"`` or ``"lost"``.
        """
        self.window.MakeCurrent()  # another window (the desktop's) may have made its context current
        try:
            event = self.backend.poll()
        except SessionLost as exc:
            return "lost", str(exc)
        if event == SessionEvent.LOST:
            return "lost", "the runtime reported the session lost"
        if event == SessionEvent.EXITED:
            return "exited", "the runtime ended the session"
        if event == SessionEvent.WAITING:
            time.sleep(0.005)
            return None, ""
        try:
            self._frame(on_eye, on_frame, controller_feed)
        except SessionLost as exc:
            return "lost", str(exc)
        if getattr(self.interaction, "exit_requested", False):
            return "stopped", "exit requested from the VR panel"
        return None, ""

    def _frame(self, on_eye, on_frame, controller_feed) -> None:
        size = self._size
        camera = self.renderer.GetActiveCamera()
        frame = self.backend.wait_frame()
        rendered = False
        if frame.should_render and frame.eyes:
            if self.mapping is None:
                self._place(frame)
            if on_frame is not None:
                on_frame(frame, self)
            if self.interaction is not None:
                controllers = controller_feed(frame) if controller_feed is not None else frame.controllers
                self.mapping, haptics = self.interaction.update(controllers, self.mapping)
                self.haptics_sent += len(haptics)
                self._apply_clipping(getattr(self.interaction, "clip_plane", None))
                for hand, amplitude, duration in haptics:
                    self.backend.haptic_pulse(hand, amplitude, duration)
                prepare = getattr(self.interaction, "before_render", None)
                if prepare is not None:
                    prepare(self.mapping, frame)
            if self.lod is not None:
                self.lod.before_frame(self.stats)
            t0 = time.perf_counter()
            for eye, view in enumerate(frame.eyes):
                texture = self.backend.eye_texture(eye)
                set_eye_camera(camera, view.eye_to_stage, view.fov, self.mapping, near_m=self.near_m,
                               far_m=self.far_m)
                self.window.Render()
                self.blitter.blit(texture, size)
                if on_eye is not None:
                    on_eye(eye, texture, size, frame, self)
                self.backend.release_eye(eye)
            if self.sync_timing:
                self.blitter.finish()
            self.stats.add((time.perf_counter() - t0) * 1000.0)
            rendered = True
            if self._text is not None and len(self.stats.render_ms) % 10 == 1:
                self._text.SetInput(f"{self.stats.render_ms[-1]:.1f} ms/frame")
        self.backend.end_frame(frame, rendered)
        if rendered:
            self.stats.submitted += 1
        else:
            self.stats.empty += 1
