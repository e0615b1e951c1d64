"""Throttled progress reporting and cooperative cancellation shared by the scanner and the loader."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from .errors import DicomReadCancelled

__all__ = ["CancelToken", "ProgressCallback", "ProgressReporter"]

ProgressCallback = Callable[[float, str], None]


class CancelToken(Protocol):
    """Anything with ``is_set()``, typically a :class:`threading.Event`."""

    def is_set(self) -> bool: ...


class ProgressReporter:
    """Forward progress to a callback at most every ``min_interval`` seconds and check for cancellation.

    Parameters
    ----------
    callback : callable or None
        ``callback(fraction, message)``; ``fraction`` in ``[0, 1]``.
    cancel : object with ``is_set()`` or None
        When set, :meth:`check_cancel` raises :class:`DicomReadCancelled`.
    start, stop : float
        Sub-range of the overall progress this reporter maps ``[0, 1]`` onto (for multi-stage operations).
    min_interval : float
        Minimum seconds between two forwarded updates; throttled because a GUI callback per file can cost more
        than reading the file.
    """

    def __init__(
        self,
        callback: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        start: float = 0.0,
        stop: float = 1.0,
        min_interval: float = 0.1,
    ) -> None:
        self._callback = callback
        self._cancel = cancel
        self._start, self._stop = start, stop
        self._min_interval = min_interval
        self._last = -float("inf")

    def sub(self, start: float, stop: float) -> ProgressReporter:
        """A reporter for a stage covering ``[start, stop]`` of this reporter's range."""
        span = self._stop - self._start
        return ProgressReporter(
            self._callback,
            self._cancel,
            start=self._start + span * start,
            stop=self._start + span * stop,
            min_interval=self._min_interval,
        )

    def check_cancel(self, what: str = "reading DICOM data") -> None:
        """Raise :class:`DicomReadCancelled` when the cancel token is set."""
        if self._cancel is not None and self._cancel.is_set():
            raise DicomReadCancelled(f"cancelled by the user while {what}")

    def update(self, fraction: float, message: str, *, force: bool = False) -> None:
        """Report ``fraction`` (0..1 of this stage) unless the previous report was too recent."""
        if self._callback is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self._min_interval:
            return
        self._last = now
        fraction = min(max(fraction, 0.0), 1.0)
        self._callback(self._start + (self._stop - self._start) * fraction, message)
