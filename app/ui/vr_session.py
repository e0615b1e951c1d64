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
        from rendering.vr.check import make_backend
        from rendering.vr.engine import VREngine
        from rendering.vr.errors import VRError
        from rendering.vr.lod import LODController

        ready, message = check_vr_ready(backend)
        if not ready:
            self._say(f"VR not available: {message}")
            return False
        name = backend or message.removeprefix("VR ready: ").split(":", 1)[0]
        scene = self.window.three_d.scene
        keys = scene.keys()
        actors = [scene.actor(k) for k in keys]
        if not actors:
            self._say("VR: nothing to show yet (the case has no 3-D models)")
            return False
        engine = VREngine(actors, make_backend(name))
        engine.lod = LODController(actors)
        try:
            engine.start()
        except VRError as exc:
            self._say(f"VR could not start: {exc}")
            return False
        self.engine = engine
        self.action.setText("Exit &VR")
        self._say(f"In VR ({message.removeprefix('VR ready: ')})")
        self._timer.start()
        return True

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
        self.last_result = result
        self.action.setText("Enter &VR")
        self.window.three_d.render()  # the desktop view draws the (untouched) actors again
        if result.outcome == "lost":
            self._say(result.message)
        else:
            self._say(f"Left VR: {result.stats.submitted} frames shown")


def install_vr_action(window) -> VRDesktopControl:
    """Add View > Enter VR to ``window`` (once)."""
    control = getattr(window, "vr_control", None)
    if control is None:
        control = VRDesktopControl(window)
        window.vr_control = control
    return control
