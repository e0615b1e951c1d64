"""The soft-tissue simulation stepped in a worker thread, so that a slow solver step never delays a headset frame.

The frame loop never calls the solver. It hands the worker small commands (grasp, move the instrument, let go, cut)
that return at once, and reads the latest *completed* state, a :class:`TissueSnapshot`. The state is
double-buffered: the worker builds the next snapshot in its own arrays while frames keep reading the previous
one, and publishes it with a single reference assignment (atomic in Python), so a frame never sees a half-written
step and never waits for one. :class:`~simulation.tissue.TissueSimulation` is not thread-safe: only the worker
touches it while the worker runs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["AsyncTissue", "TissueSnapshot"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TissueSnapshot:
    """One completed simulation state, read-only.

    Attributes
    ----------
    version : int
        Steps completed when it was taken.
    topology : int
        Number of cuts so far: the surface's faces change only when this does.
    positions_mm : numpy.ndarray
        ``(n, 3)`` node positions (LPS mm).
    surface_points : numpy.ndarray
        ``(k, 3)`` boundary vertices (cut faces included), deformed.
    surface_faces : numpy.ndarray
        ``(f, 3)`` boundary triangles, indices into ``surface_points``.
    step_ms : float
        Duration of the step that produced it.
    grasped : numpy.ndarray
        Node indices held by the instrument (empty when none).
    part_volumes_mm3 : tuple of float
        Rest volumes of the separated parts after the latest cut (one entry before any cut).
    """

    version: int
    topology: int
    positions_mm: np.ndarray
    surface_points: np.ndarray
    surface_faces: np.ndarray
    step_ms: float
    grasped: np.ndarray
    part_volumes_mm3: tuple[float, ...]


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class AsyncTissue:
    """Steps a :class:`~simulation.tissue.TissueSimulation` in a daemon thread at (at most) its real-time rate.

    Parameters
    ----------
    sim : TissueSimulation
        Owned by the worker from :meth:`start` to :meth:`stop`.
    step : callable, optional
        ``step(sim)`` advancing one step (default ``sim.step(1)``); tests pass a deliberately slow one.
    realtime : bool
        Sleep so that simulated time does not run ahead of the wall clock (one ``dt`` per step); off: as fast as
        the solver goes.
    """

    def __init__(self, sim, *, step: Callable | None = None, realtime: bool = True) -> None:
        self.sim = sim
        self._step = step or (lambda s: s.step(1))
        self.realtime = realtime
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._topology = 0
        self._used = np.zeros(0, np.int64)
        self._faces = np.zeros((0, 3), np.int64)
        self._parts: tuple[float, ...] = (float(sim.mesh.volume()),)
        self._grasped = np.zeros(0, np.int64)
        self.error: str | None = None
        self.steps = 0
        self.last_cut = None
        self._surface_topology()
        self._snapshot = self._take(0.0)

    # ------------------------------------------------------------------ frame side (never blocks)
    def latest(self) -> TissueSnapshot:
        """The last completed state (no waiting, no copying)."""
        return self._snapshot

    def grab(self, point_mm, *, radius_mm: float = 0.0, hard: bool = True, stiffness_n_per_m: float = 0.0) -> None:
        """Grasp the tissue nearest ``point_mm`` (done by the worker before its next step); see
        :meth:`simulation.tissue.TissueSimulation.grab`."""
        point = np.array(point_mm, float)
        self._commands.put(lambda sim: self._do_grab(sim, point, radius_mm, hard, stiffness_n_per_m))

    def drag(self, target_mm) -> None:
        """Move the grasping instrument to ``target_mm``."""
        target = np.array(target_mm, float)
        self._commands.put(lambda sim: sim.drag(target) if len(self._grasped) else None)

    def release(self) -> None:
        """Let go."""
        self._commands.put(self._do_release)

    def cut_swept(self, edge_starts_mm, edge_ends_mm, on_done: Callable | None = None) -> None:
        """Cut where a blade's edge swept (``(T, 3)`` positions of both ends); ``on_done(report or message)``."""
        starts, ends = np.array(edge_starts_mm, float), np.array(edge_ends_mm, float)

        def cut(sim):
            from simulation.tissue import TissueInputError

            self._grasped = np.zeros(0, np.int64)
            try:
                report = sim.cut_swept(starts, ends)
            except TissueInputError as exc:  # the blade missed, or did not move: nothing changes
                if on_done is not None:
                    on_done(str(exc))
                return
            self.last_cut = report
            self._parts = tuple(report.part_volumes_mm3)
            self._topology += 1
            self._surface_topology()
            if on_done is not None:
                on_done(report)

        self._commands.put(cut)

    def call(self, fn: Callable) -> None:
        """Run ``fn(sim)`` on the worker before its next step (anything else that must touch the simulation)."""
        self._commands.put(fn)

    def step_now(self) -> TissueSnapshot:
        """Run the pending commands and one step on the calling thread, and publish the state: the synchronous
        mode (a frame loop that steps the solver itself), for comparison. Only while the worker is not running."""
        if self.running:
            raise RuntimeError("the worker is stepping this simulation")
        t0 = time.perf_counter()
        self._drain()
        self._step(self.sim)
        self.steps += 1
        self._snapshot = self._take((time.perf_counter() - t0) * 1000.0)
        return self._snapshot

    # ------------------------------------------------------------------ lifetime
    @property
    def running(self) -> bool:
        """Whether the worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start stepping (once)."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tissue-sim", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the worker after its current step; pending commands are run first so none is lost."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("the tissue simulation step did not finish within %.0f s", timeout_s)
            self._thread = None
        self._drain()

    def settle(self, timeout_s: float = 10.0) -> TissueSnapshot:
        """Wait until every command submitted so far has run and a step has completed after it (tests, scripts)."""
        done = threading.Event()
        self._commands.put(lambda sim: done.set())
        if not self.running:
            self._drain()
            return self._snapshot
        if not done.wait(timeout_s):
            raise TimeoutError("the tissue simulation did not answer")
        version = self._snapshot.version
        end = time.perf_counter() + timeout_s
        while self._snapshot.version <= version and self.running and time.perf_counter() < end:
            time.sleep(0.001)
        return self._snapshot

    # ------------------------------------------------------------------ worker side
    def _do_grab(self, sim, point, radius_mm, hard, stiffness) -> None:
        from simulation.tissue import TissueInputError

        try:
            self._grasped = sim.grab(point, radius_mm=radius_mm, hard=hard, stiffness_n_per_m=stiffness)
        except TissueInputError as exc:
            log.info("no grasp: %s", exc)
            self._grasped = np.zeros(0, np.int64)

    def _do_release(self, sim) -> None:
        sim.release()
        self._grasped = np.zeros(0, np.int64)

    def _surface_topology(self) -> None:
        faces = self.sim.mesh.boundary()
        used, inverse = np.unique(faces, return_inverse=True)
        self._used = used
        self._faces = _frozen(inverse.reshape(-1, 3).astype(np.int64))

    def _take(self, step_ms: float) -> TissueSnapshot:
        positions = np.array(self.sim.positions_mm, dtype=float)  # a fresh buffer: the one frames read is untouched
        return TissueSnapshot(self.steps, self._topology, _frozen(positions), _frozen(positions[self._used]),
                              self._faces, step_ms, _frozen(self._grasped.copy()), self._parts)

    def _drain(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command(self.sim)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                self._drain()
                self._step(self.sim)
                self.steps += 1
                step_ms = (time.perf_counter() - t0) * 1000.0
                self._snapshot = self._take(step_ms)  # publish: one reference assignment
                if self.realtime:
                    rest = float(self.sim.solver.dt) - (time.perf_counter() - t0)
                    if rest > 0:
                        self._stop.wait(rest)
        except Exception as exc:  # a diverging solve must not take the headset session down
            self.error = f"the tissue simulation stopped: {exc}"
            log.warning(self.error)
