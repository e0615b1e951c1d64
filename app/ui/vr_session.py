"""View > Enter VR: the workstation's 3-D scene in a headset, from the desktop.

The check is ``surgitwin vr --check`` run in a child process, so a runtime that misbehaves while being probed
cannot take the workstation down, and its one-line answer is shown as is. When ready, the session runs in this
process on the 3-D view's own actors (the same data, no copy): a zero-interval timer steps one headset frame at a
time, so the desktop stays responsive, and Exit VR (or the runtime ending, or going away) hands the actors back.
"""

from __future__ import annotations

import logging
import subprocess
import sys

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction

from app.ui.installing import install_once

log = logging.getLogger(__name__)

__all__ = ["VRDesktopControl", "check_vr_ready", "install_vr_action"]


def check_vr_ready(backend: str | None = None, timeout_s: float = 60.0) -> tuple[bool, str]:
    """Run ``surgitwin vr --check`` in a child process; ``(ready, one line for the user)``."""
    command = [sys.executable, "-m", "app.cli.vr_commands", "vr", "--check"]
    if backend:
        command += ["--backend", backend]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return False, f"the VR runtime did not answer within {timeout_s:.0f} s"
    if done.returncode == 0:
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("VR ready:")]
        return True, lines[-1] if lines else "VR ready"
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("surgitwin vr:")]
    if lines:
        return False, lines[-1].removeprefix("surgitwin vr: ").removeprefix("not ready: ")
    return False, f"the VR check stopped unexpectedly (exit status {done.returncode})"


class VRDesktopControl(QObject):
    """The Enter/Exit VR action of a main window and the session it runs."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.engine = None
        self.last_result = None
        self.last_message = ""
        self.autosaved_before_vr = False
        self.action = QAction("Enter &VR", window)
        self.action.setToolTip("Show the 3-D scene in a VR headset (OpenXR, or OpenVR/SteamVR)")
        self.action.triggered.connect(self.toggle)
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._tick)
        menu = getattr(window, "view_menu", None)
        if menu is not None:
            menu.addSeparator()
            menu.addAction(self.action)

    @property
    def active(self) -> bool:
        """Whether a headset session is running."""
        return self.engine is not None

    def toggle(self) -> None:
        """Enter VR, or leave it."""
        if self.active:
            self.exit()
        else:
            self.enter()

    def _say(self, text: str) -> None:
        self.last_message = text
        self.window.statusBar().showMessage(text, 15000)

    def enter(self, backend: str | None = None) -> bool:
        """Check the runtime, then start the session on the 3-D view's actors; False (and a message) if not."""
        from app.cli.vr_commands import segments_of
        from rendering.vr.check import make_backend
        from rendering.vr.controls import VRControls
        from rendering.vr.engine import VREngine
        from rendering.vr.errors import VRError
        from rendering.vr.lod import LODController

        ready, message = check_vr_ready(backend)
        if not ready:
            self._say(f"VR not available: {message}")
            return False
        name = backend or message.removeprefix("VR ready: ").split(":", 1)[0]
        self._autosave_first()
        scene = self.window.three_d.scene
        keys = scene.keys()
        actors = [scene.actor(k) for k in keys]
        if not actors:
            self._say("VR: nothing to show yet (the case has no 3-D models)")
            return False
        controls = VRControls(segments=segments_of(self.window.case, scene), tissue=self._take_tissue())
        engine = VREngine(actors, make_backend(name), interaction=controls)
        engine.lod = LODController(actors)
        try:
            engine.start()
        except VRError as exc:
            self._give_tissue_back(controls)
            self._say(f"VR could not start: {exc}")
            return False
        self.engine = engine
        self.action.setText("Exit &VR")
        self._say(f"In VR ({message.removeprefix('VR ready: ')})")
        self._timer.start()
        return True

    def _autosave_first(self) -> None:
        """Copy unsaved changes to the crash-recovery store before the headset starts.

        A runtime can take the process down with it: OpenComposite (OpenVR over OpenXR) calls ``abort()`` on the
        first OpenXR error after its runtime goes away, before any OpenVR event could tell us (README, VR). The copy
        is offered back at the next start, so even then the case is not lost.
        """
        autosaver = getattr(self.window, "autosaver", None)
        if autosaver is not None:
            try:
                self.autosaved_before_vr = autosaver.autosave_now()
            except Exception as exc:  # never keep the user from entering VR
                log.warning("autosave before VR failed: %s", type(exc).__name__)

    def _tick(self) -> None:
        outcome, message = self.engine.step()
        if outcome is not None:
            self._end(outcome, message)

    def exit(self) -> None:
        """Leave VR (the session ends cleanly)."""
        if self.active:
            self._end("stopped", "exit requested by the user")

    def _end(self, outcome: str, message: str) -> None:
        self._timer.stop()
        engine, self.engine = self.engine, None
        result = engine.finish(outcome, message)
        self._give_tissue_back(engine.interaction)
        self.last_result = result
        self.action.setText("Enter &VR")
        self.window.three_d.render()  # the desktop view draws the (untouched) actors again
        if result.outcome == "lost":
            self._say(result.message)
        else:
            self._say(f"Left VR: {result.stats.submitted} frames shown")


    # -------------------------------------------------------------- the soft-tissue simulation, if one runs
    def _take_tissue(self):
        """The desktop's running tissue simulation, handed to VR: the desktop stops stepping it, VR steps it in a
        worker thread and the controllers grasp and cut it. None when no simulation runs."""
        tool = getattr(self.window, "tissue_tool", None)
        sim = getattr(tool, "sim", None)
        if sim is None:
            return None
        from rendering.vr.async_sim import AsyncTissue
        from rendering.vr.tissue_tools import VRTissueTools

        tool.timer.stop()  # one owner at a time: TissueSimulation is not thread-safe
        # ...so the desktop's mouse tools and buttons leave it alone until VR hands it back.
        self._tissue_mode = tool.mode
        tool.set_mode("navigate")
        tool.dock.setEnabled(False)
        colour = tuple(tool.actors.organ.actor.GetProperty().GetColor()) if tool.actors is not None else None
        return VRTissueTools(AsyncTissue(sim), **({"colour": colour} if colour else {}))

    def _give_tissue_back(self, controls) -> None:
        """After VR: the desktop steps the simulation again, showing what was done to it in the headset."""
        tissue = getattr(controls, "tissue", None)
        tool = getattr(self.window, "tissue_tool", None)
        if tissue is None or tool is None or tool.sim is not tissue.tissue.sim:
            return
        tissue.tissue.stop()  # no-op when the session already stopped it
        tool.dock.setEnabled(True)
        tool.set_mode(getattr(self, "_tissue_mode", "grab"))
        if tissue.tissue.last_cut is not None:
            # Cut in VR: the desktop's surfaces were made for the uncut mesh; show the cut organ afresh.
            colour = tuple(tool.actors.organ.actor.GetProperty().GetColor())
            tool.start(tool.sim, colour, list(tool._hidden_models), tool.info)
            tool.last_cut = tissue.tissue.last_cut
        else:
            tool._wake()
            tool.timer.start()


def install_vr_action(window) -> VRDesktopControl:
    """Add View > Enter VR to ``window`` (once)."""
    return install_once(window, "vr_control", VRDesktopControl)
