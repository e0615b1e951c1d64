"""Autosave of the open case every few minutes, and the offer to recover it after a crash.

The copy is written only when the case has changed since the last copy and no background task is running (a task
may be replacing the case's data), and it never touches the case's own path or its unsaved-changes flag: the user's
Save stays the only thing that writes where the user chose. A clean exit, a save, or discarding the case removes
the copy; a crash leaves it for the next start (see :mod:`app.case.autosave`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from app.case import Case
from app.case.autosave import AutosaveEntry, AutosaveStore
from app.case.bundle import CaseBundleError

__all__ = ["DEFAULT_MINUTES", "Autosaver", "autosave_folder", "install_autosave"]

log = logging.getLogger(__name__)

DEFAULT_MINUTES = 3.0
MINUTES_KEY = "autosave/minutes"
FOLDER_KEY = "autosave/folder"


def autosave_folder(settings) -> Path:
    """Where autosaves go: the ``autosave/folder`` setting, ``$SURGITWIN_AUTOSAVE_DIR``, or the user's app data."""
    configured = settings.value(FOLDER_KEY, "") if settings is not None else ""
    if configured:
        return Path(str(configured))
    if os.environ.get("SURGITWIN_AUTOSAVE_DIR"):
        return Path(os.environ["SURGITWIN_AUTOSAVE_DIR"])
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".surgitwin") / "autosave"


class Autosaver(QObject):
    """Keeps an autosave copy of ``window.case`` and offers recovery of copies left by crashed sessions.

    Parameters
    ----------
    window : MainWindow
        The workstation window (its ``case``, ``case_changed``, ``tasks``, ``set_case`` and status label).
    store : AutosaveStore
        The autosave folder of this process.
    minutes : float
        Interval between copies; 0 turns autosave off.

    Signals
    -------
    autosaved(str)
        A copy was written (its folder).
    """

    autosaved = Signal(str)

    def __init__(self, window, store: AutosaveStore, minutes: float = DEFAULT_MINUTES) -> None:
        super().__init__(window)
        self.window = window
        self.store = store
        self._case: Case | None = None
        self._changed_since_copy = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.autosave_now)
        self.set_interval(minutes)
        window.case_changed.connect(self._follow_case)
        self._follow_case(window.case)

    # --- settings -------------------------------------------------------------------------------------------------
    @property
    def minutes(self) -> float:
        """Interval between copies (0: off)."""
        return self._timer.interval() / 60000.0 if self._timer.isActive() else 0.0

    def set_interval(self, minutes: float) -> None:
        """Copy every ``minutes`` (0 or less: never)."""
        if minutes > 0:
            self._timer.start(max(1, round(minutes * 60000)))
        else:
            self._timer.stop()

    # --- following the case ---------------------------------------------------------------------------------------
    def _follow_case(self, case: Case) -> None:
        if self._case is not None:
            for signal in (self._case.node_added, self._case.node_removed, self._case.node_changed):
                with contextlib.suppress(TypeError, ValueError, RuntimeError):
                    signal.disconnect(self._note_change)
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                self._case.modified_changed.disconnect(self._on_modified_changed)
        self._case = case
        # A different case: the previous one's copy is not this one's (it was saved or discarded on purpose).
        self.store.discard()
        self._changed_since_copy = case.modified
        for signal in (case.node_added, case.node_removed, case.node_changed):
            signal.connect(self._note_change)
        case.modified_changed.connect(self._on_modified_changed)

    def _note_change(self, *_args) -> None:
        self._changed_since_copy = True

    def _on_modified_changed(self, modified: bool) -> None:
        if not modified:  # saved: the real file holds everything the copy did
            self.store.discard()
            self._changed_since_copy = False

    # --- copying --------------------------------------------------------------------------------------------------
    def autosave_now(self) -> bool:
        """Write the copy now if the case has unsaved changes not yet copied; True when a copy was written."""
        case = self._case
        if case is None or not len(case) or not case.modified or not self._changed_since_copy:
            return False
        if self.window.tasks.busy:  # a task may be swapping the case's data; try again at the next tick
            return False
        try:
            folder = self.store.write(case)
        except (CaseBundleError, OSError) as exc:
            log.warning("autosave failed: %s", type(exc).__name__)
            self.window.status_label.setText(f"Autosave failed: {exc}")
            return False
        self._changed_since_copy = False
        self.autosaved.emit(str(folder))
        return True

    def shutdown(self) -> None:
        """The window closes on purpose: stop copying and remove this session's copy."""
        self._timer.stop()
        self.store.close()

    # --- recovery -------------------------------------------------------------------------------------------------
    def orphans(self) -> list[AutosaveEntry]:
        """Copies left by sessions that crashed, newest first."""
        return self.store.orphans()

    def offer_recovery(self, ask: Callable[[AutosaveEntry], str] | None = None) -> Case | None:
        """Ask about the newest crashed session's copy; open it when the user says so.

        Parameters
        ----------
        ask : callable, optional
            ``ask(entry) -> "recover" | "discard" | "later"``; by default a message box.

        Returns
        -------
        Case or None
            The recovered case (now shown), or None.
        """
        entries = self.orphans()
        if not entries:
            return None
        entry = entries[0]
        answer = (ask or self._ask)(entry)
        if answer == "discard":
            self.store.forget(entry)
            return None
        if answer != "recover":
            return None
        try:
            case = self.store.recover(entry)
        except CaseBundleError as exc:
            self.window.show_error(f"The autosaved case could not be opened: {exc}")
            return None
        self.window.set_case(case)
        # Own the recovered work before letting the old copy go: a second crash must not lose it.
        self._changed_since_copy = True
        if self.autosave_now():
            self.store.forget(entry)
        self.window.status_label.setText(f"Recovered {entry.describe()}. Save it to keep it.")
        return case

    def _ask(self, entry: AutosaveEntry) -> str:
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Recover unsaved work")
        box.setText(f"SurgiTwin did not close normally last time. Recover {entry.describe()}?")
        box.setInformativeText("Recover opens the autosaved copy; Discard deletes it; Later keeps it for next time.")
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(recover)
        box.exec()
        clicked = box.clickedButton()
        return "recover" if clicked is recover else "discard" if clicked is discard else "later"


def install_autosave(window) -> Autosaver:
    """Give ``window`` an :class:`Autosaver` with the interval and folder from its settings."""
    settings = window.settings
    try:
        minutes = float(settings.value(MINUTES_KEY, DEFAULT_MINUTES))
    except (TypeError, ValueError):
        minutes = DEFAULT_MINUTES
    return Autosaver(window, AutosaveStore(autosave_folder(settings)), minutes)
