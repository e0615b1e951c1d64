"""Run long work (loading, building the demo) off the GUI thread and hand results back on it.

A worker function is called as ``fn(progress, cancel)``: ``progress(fraction, message)`` reports, ``cancel`` is a
:class:`threading.Event` it should check between steps. It must not touch Qt widgets or VTK. Its return value, error
or cancellation comes back through queued Qt signals, so slots run on the GUI thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

__all__ = ["EXPECTED_ERRORS", "TaskRunner", "WorkerFunction"]

log = logging.getLogger(__name__)

WorkerFunction = Callable[[Callable[[float, str], None], threading.Event], Any]


def _expected_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError, ValueError]
    try:
        from imaging.dicom.errors import DicomError

        errors.append(DicomError)
    except ImportError:  # pragma: no cover - the reader is optional for the shell
        pass
    return tuple(errors)


def _cancel_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [InterruptedError]
    try:
        from imaging.dicom.errors import DicomReadCancelled

        errors.append(DicomReadCancelled)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


EXPECTED_ERRORS = _expected_errors()
CANCEL_ERRORS = _cancel_errors()


class _Emitter(QObject):
    progress = Signal(int, float, str)
    finished = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)


class _Job(QRunnable):
    def __init__(self, task_id: int, fn: WorkerFunction, cancel: threading.Event, emitter: _Emitter) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.task_id, self.fn, self.cancel, self.emitter = task_id, fn, cancel, emitter
        self._last = (-1.0, "", 0.0)

    def _progress(self, fraction: float, message: str) -> None:
        if self.cancel.is_set():
            raise InterruptedError("cancelled")
        fraction = min(max(float(fraction), 0.0), 1.0)
        last_fraction, last_message, last_time = self._last
        now = time.monotonic()
        # Throttle: a DICOM read reports per file; the GUI needs a few updates per second.
        if message != last_message or fraction - last_fraction >= 0.01 or now - last_time > 0.2:
            self._last = (fraction, message, now)
            self.emitter.progress.emit(self.task_id, fraction, str(message))

    def run(self) -> None:
        try:
            result = self.fn(self._progress, self.cancel)
        except CANCEL_ERRORS:
            self.emitter.cancelled.emit(self.task_id)
        except EXPECTED_ERRORS as exc:
            if self.cancel.is_set():
                self.emitter.cancelled.emit(self.task_id)
            else:
                self.emitter.failed.emit(self.task_id, str(exc) or type(exc).__name__)
        except Exception as exc:
            log.exception("unexpected error in a background task")
            self.emitter.failed.emit(self.task_id, f"Unexpected error ({type(exc).__name__}): {exc}")
        else:
            if self.cancel.is_set():
                self.emitter.cancelled.emit(self.task_id)
            else:
                self.emitter.finished.emit(self.task_id, result)


class TaskRunner(QObject):
    """Runs one background task at a time; starting a new one cancels (and forgets) the previous one.

    Signals
    -------
    started(str)
        A task began; the argument is its description.
    progress(float, str)
        Fraction done and what is being done.
    finished(object)
        The worker's return value.
    failed(str)
        A short, user-readable error message.
    cancelled()
        The task stopped because it was cancelled.
    """

    started = Signal(str)
    progress = Signal(float, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._ids = itertools.count(1)
        self._current: int | None = None
        self._cancel: threading.Event | None = None
        self._jobs: dict[int, _Job] = {}
        self._emitter = _Emitter()
        self._emitter.progress.connect(self._on_progress)
        self._emitter.finished.connect(self._on_finished)
        self._emitter.failed.connect(self._on_failed)
        self._emitter.cancelled.connect(self._on_cancelled)

    @property
    def busy(self) -> bool:
        """True while a task is running (and not cancelled)."""
        return self._current is not None

    def start(self, fn: WorkerFunction, description: str = "Working") -> int:
        """Run ``fn(progress, cancel)`` in the pool, cancelling the running task first; returns the task id."""
        self.cancel()
        task_id = next(self._ids)
        self._current = task_id
        self._cancel = threading.Event()
        job = _Job(task_id, fn, self._cancel, self._emitter)
        self._jobs[task_id] = job
        self.started.emit(description)
        self._pool.start(job)
        return task_id

    def cancel(self) -> None:
        """Ask the running task to stop; its late result is ignored."""
        if self._cancel is not None:
            self._cancel.set()
        if self._current is not None:
            self._current = None
            self.cancelled.emit()

    def wait(self, timeout_ms: int = 10000) -> bool:
        """Block until every worker thread has returned (used when closing)."""
        return self._pool.waitForDone(timeout_ms)

    def _done(self, task_id: int) -> bool:
        self._jobs.pop(task_id, None)
        if task_id != self._current:
            return False
        self._current = None
        self._cancel = None
        return True

    def _on_progress(self, task_id: int, fraction: float, message: str) -> None:
        if task_id == self._current:
            self.progress.emit(fraction, message)

    def _on_finished(self, task_id: int, result: object) -> None:
        if self._done(task_id):
            self.finished.emit(result)

    def _on_failed(self, task_id: int, message: str) -> None:
        if self._done(task_id):
            self.failed.emit(message)

    def _on_cancelled(self, task_id: int) -> None:
        if self._done(task_id):
            self.cancelled.emit()
