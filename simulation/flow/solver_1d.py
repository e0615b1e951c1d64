"""The 1-D nonlinear blood-flow solver: openBF's MUSCL-Hancock finite-volume scheme over all vessels at once.

State: cross-sectional area A (m^2) and flow Q (m^3/s) per cell in the padded flat layout of
:class:`simulation.flow.network.Network`. One time step: inlet flow, two-stage MUSCL (superbee slopes,
Lax-Friedrichs interface fluxes with speed dx/dt) on every vessel, viscous (and taper) source terms, then all
outlets and all junctions together. The cycle loop, sampling (``jump`` samples per cycle) and the convergence
test (mean mid-vessel pressure change between cycles, in mmHg) follow openBF.

Two backends compute the same step: ``numpy`` (about 100 whole-network array operations per step on preallocated
buffers; the reference) and ``numba`` (:mod:`simulation.flow.kernels_numba`: the step fused into loops over cells,
whole runs of steps per call between sampling instants; 10-50x faster, e.g. ADAN56 ~1.6 CPU-s per 1-s cycle).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulation.flow import boundary, tube_law
from simulation.flow.junctions import JunctionSet
from simulation.flow.network import Network, build_network
from simulation.flow.openbf_io import FlowModel, FlowModelError, load_openbf_model

__all__ = ["FlowState", "SimulationResult", "Solver", "resolve_backend", "run_model", "simulate"]

MMHG_PA = 133.332
FIELDS = ("P", "Q", "A", "u")


@dataclass
class FlowState:
    """Area and flow per flat cell, plus the Windkessel capacitor pressures per outlet.

    ``area_m2`` and ``q_m3_s`` are the two rows of one (2, N) array so that the numpy step updates both with one
    operation; build states with :meth:`Solver.initial_state`.
    """

    area_m2: np.ndarray
    q_m3_s: np.ndarray
    pc_pa: np.ndarray
    t_s: float = 0.0

    @property
    def packed(self) -> np.ndarray:
        """The (2, N) array whose rows are A and Q."""
        base = self.area_m2.base
        if base is None or base.shape != (2, self.area_m2.size) or self.q_m3_s.base is not base:
            raise ValueError("a FlowState's A and Q must be the rows of one array: use Solver.initial_state()")
        return base


@dataclass
class SimulationResult:
    """Last-cycle waveforms: ``waveforms[label][field]`` is (samples, 6): time, inlet, 1/4, 1/2, 3/4, outlet."""

    waveforms: dict[str, dict[str, np.ndarray]]
    cycles_run: int
    converged: bool
    wall_s: float
    steps: int
    period_s: float
    extra: dict = field(default_factory=dict)


def numba_available() -> bool:
    """True when the compiled kernel can be used (numba importable)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str = "auto") -> str:
    """``"numba"`` or ``"numpy"``; ``"auto"`` (or env ``SURGITWIN_FLOW_BACKEND``) picks numba when installed."""
    if backend == "auto":
        backend = os.environ.get("SURGITWIN_FLOW_BACKEND", "auto")
    if backend == "auto":
        return "numba" if numba_available() else "numpy"
    if backend not in ("numba", "numpy"):
        raise FlowModelError(f"unknown solver backend {backend!r} (numba, numpy or auto)")
    if backend == "numba" and not numba_available():
        raise FlowModelError("the numba backend needs numba installed")
    return backend


class _Buffers:
    """Scratch arrays of the numpy step, allocated once (first touch of fresh memory costs more than the maths)."""

    def __init__(self, n: int) -> None:
        self.v = np.zeros((2, n))            # the MUSCL predictor state
        self.d = np.empty((2, n - 1))        # differences between neighbours
        self.slope = np.zeros((2, n))        # limited half-cell increments; ghost columns stay 0
        self.t1 = np.empty((2, n - 2))
        self.t2 = np.empty((2, n - 2))
        self.t3 = np.empty((2, n - 2))
        self.pos = np.empty((2, n - 2), dtype=bool)
        self.faces = np.empty((2, 2, n))     # [right face, left face] x [A, Q] per cell
        self.face_flux = np.empty((2, 2, n))
        self.tmp = np.empty((2, n))
        self.f = np.empty((2, n - 1))        # interface fluxes
        self.g = np.empty((2, n - 2))
        self.dxdt = np.empty(n - 1)
        self.lam = np.empty(n - 2)
        self.cell = np.empty(n)
        self.cell2 = np.empty(n)
        self.u = np.zeros(n)
        self.c = np.zeros(n)
        self.work: np.ndarray | None = None  # (9, n) scratch of the numba kernel, made on first use


class Solver:
    """Time integration of a :class:`Network`, vectorised over all cells of all vessels.

    ``backend="numpy"``: one Python iteration per time step, a fixed set of whole-network array operations on
    preallocated buffers. ``backend="numba"``: the same step compiled (:mod:`simulation.flow.kernels_numba`), whole
    runs of steps per call. ``"auto"`` picks numba when it is installed.
    """

    def __init__(self, net: Network, ccfl: float = 0.9, backend: str = "auto") -> None:
        self.net = net
        self.ccfl = ccfl
        self.backend = resolve_backend(backend)
        n = net.size
        self.inv_dx = 1.0 / net.dx_m
        self.half_dx = 0.5 * net.dx_m
        self.keep = net.real.astype(float)
        self.real_idx = np.flatnonzero(net.real)
        self.junctions = JunctionSet(net.junctions, net.first, net.last, net.gamma, net.beta_pa, net.area0_m2)
        out_cells = net.last[net.outlet_vessels]
        self.wk = net.r1 > 0
        self.wk_cells = out_cells[self.wk]
        self.rf_cells = out_cells[~self.wk]
        c0 = tube_law.wave_speed_m_s(net.area0_m2[self.rf_cells], net.gamma[self.rf_cells])
        self.rf_w1_0, self.rf_w2_0 = -4 * c0, 4 * c0
        self.rf_near = np.concatenate([self.rf_cells - 1, self.rf_cells])
        self.ghost_lo, self.ghost_hi = net.start, net.last + 1
        self.inlet_cells = net.first[net.inlet_vessels]
        # per-cell constants of the fused expressions
        self.half_dx_inner = (self.half_dx * self.keep)[1:-1]
        self.dx_face = net.dx_m[:-1].copy()
        self.inv_dx_face = self.inv_dx[:-1].copy()
        self.inv_dx_inner = self.inv_dx[1:-1].copy()
        self.gamma15 = 1.5 * net.gamma
        # openBF's tapering source terms, zero for straight vessels:
        # + dt 0.5 beta sqrt(A) A / (A0 rho) dA0/dx  - dt A / rho (sqrt(A / A0) - 1) dTau/dx
        self.taper = 0.5 * net.beta_pa / (net.area0_m2 * net.rho_kg_m3) * net.da0dx
        self.tau = net.dtaudx / net.rho_kg_m3
        self.inv_sqrt_a0 = 1.0 / np.sqrt(net.area0_m2)
        self.has_taper = bool(np.any(self.taper[self.real_idx] != 0.0) or np.any(self.tau[self.real_idx] != 0.0))
        self.buf = _Buffers(n)
        self._geo = None

    def initial_state(self) -> FlowState:
        """At rest: A = A0, Q = 0, Pc = 0."""
        packed = np.zeros((2, self.net.size))
        packed[0] = self.net.area0_m2
        return FlowState(packed[0], packed[1], np.zeros(int(self.wk.sum())))

    def _fill_ghosts(self, v: np.ndarray) -> None:
        v[..., self.ghost_lo] = v[..., self.net.first]
        v[..., self.ghost_hi] = v[..., self.net.last]

    def time_step_s(self, s: FlowState) -> float:
        """CFL time step: Ccfl * min over vessels of dx / max |u + c|."""
        self._fill_ghosts(s.packed)  # ghosts copy real cells, so the minimum over all cells is the one over real
        b = self.buf
        a, q = s.area_m2, s.q_m3_s
        speed = np.sqrt(a, out=b.cell)
        speed *= self.gamma15
        np.sqrt(speed, out=speed)
        speed += np.divide(q, a, out=b.cell2)
        np.abs(speed, out=speed)
        np.divide(self.net.dx_m, speed, out=speed)
        return float(self.ccfl * speed.min())

    def _fluxes(self, v: np.ndarray) -> np.ndarray:
        """Interface fluxes (2, N-1) of the state rows (A, Q): superbee-limited faces, Lax-Friedrichs with dx/dt."""
        b = self.buf
        d = np.subtract(v[:, 1:], v[:, :-1], out=b.d)
        d *= self.inv_dx_face
        back, fwd = d[:, :-1], d[:, 1:]
        # superbee: max(min(|a|, 2|b|), min(2|a|, |b|)) with the sign of a where a and b agree, else 0
        ab, af, t3 = np.abs(back, out=b.t1), np.abs(fwd, out=b.t2), b.t3
        np.multiply(af, 2.0, out=t3)
        np.minimum(t3, ab, out=t3)
        ab *= 2.0
        np.minimum(ab, af, out=ab)
        np.maximum(ab, t3, out=t3)
        np.copysign(t3, back, out=t3)
        np.multiply(back, fwd, out=b.t1)
        np.greater(b.t1, 0.0, out=b.pos)
        t3 *= b.pos
        np.multiply(t3, self.half_dx_inner, out=b.slope[:, 1:-1])
        faces = b.faces
        np.add(v, b.slope, out=faces[0])       # each cell's right face
        np.subtract(v, b.slope, out=faces[1])  # each cell's left face
        fa, fq = faces[:, 0], faces[:, 1]
        flux = b.face_flux
        flux[:, 0] = fq
        mom = flux[:, 1]
        np.sqrt(fa, out=mom)
        mom *= fa
        mom *= self.net.gamma
        t = np.multiply(fq, fq, out=b.tmp)
        t /= fa
        mom += t
        f = np.subtract(faces[1][:, 1:], faces[0][:, :-1], out=b.f)
        f *= b.dxdt
        np.subtract(flux[1][:, 1:], f, out=f)
        f += flux[0][:, :-1]
        f *= 0.5
        return f

    def step(self, s: FlowState, dt: float, q_in: float) -> None:
        """Advance ``s`` by ``dt`` with inlet flow ``q_in`` (m^3/s) at the start of the step (numpy path, whatever
        the backend: single steps are for tests and probes; :meth:`advance` runs the chosen backend)."""
        self._step_arrays(s, dt, q_in)
        s.t_s += dt

    def _step_arrays(self, s: FlowState, dt: float, q_in: float) -> None:
        net, b = self.net, self.buf
        packed = s.packed
        a, q = s.area_m2, s.q_m3_s
        q[self.inlet_cells] = q_in
        np.multiply(self.dx_face, 1.0 / dt, out=b.dxdt)
        np.multiply(self.inv_dx_inner, dt, out=b.lam)
        self._fill_ghosts(packed)
        # predictor on every non-end cell: ghost results are garbage but every ghost is refilled before it is read
        f = self._fluxes(packed)
        g = np.subtract(f[:, :-1], f[:, 1:], out=b.g)
        g *= b.lam
        v = b.v
        np.add(packed[:, 1:-1], g, out=v[:, 1:-1])
        self._fill_ghosts(v)
        f = self._fluxes(v)
        g = np.subtract(f[:, :-1], f[:, 1:], out=b.g)
        g *= b.lam
        inner = packed[:, 1:-1]
        inner += v[:, 1:-1]
        inner += g
        inner *= 0.5
        self._fill_ghosts(packed)
        t = np.divide(q, a, out=b.cell)
        t *= net.visc_coeff
        t *= dt
        q -= t
        if self.has_taper:
            root = np.sqrt(a, out=b.cell)
            t = np.multiply(root, self.inv_sqrt_a0, out=b.cell2)
            t -= 1.0
            t *= self.tau
            t *= a
            t *= dt
            q -= t
            root *= a
            root *= self.taper
            root *= dt
            q += root
        u = np.divide(q, a, out=b.u)
        if self.wk_cells.size:
            c = self.wk_cells
            s.pc_pa = boundary.windkessel_outlet(dt, a, u, c, net.r1[self.wk], net.r2[self.wk], net.cc[self.wk],
                                                 s.pc_pa, net.area0_m2[c], net.beta_pa[c], net.gamma[c],
                                                 net.pext_pa[c])
            # as openBF: the Windkessel sets the outlet area; the outlet flow stays the finite-volume one
        if self.rf_cells.size:
            near = self.rf_near
            b.c[near] = tube_law.wave_speed_m_s(a[near], net.gamma[near])
            boundary.reflection_outlet(dt, net.dx_m[self.rf_cells], a, q, u, b.c, self.rf_cells,
                                       net.rt[~self.wk], self.rf_w1_0, self.rf_w2_0)
        self.junctions.solve(a, q, u)

    def _numba_geometry(self) -> tuple:
        if self._geo is None:
            net, j = self.net, self.junctions
            i64 = lambda x: np.ascontiguousarray(x, dtype=np.int64)  # noqa: E731
            f64 = lambda x: np.ascontiguousarray(x, dtype=np.float64)  # noqa: E731
            self._geo = (
                i64(net.first), i64(net.last), f64(self.inv_dx), f64(self.half_dx * self.keep), f64(net.dx_m),
                f64(net.gamma),
                f64(net.visc_coeff), f64(self.taper), f64(net.beta_pa), f64(net.area0_m2), f64(net.pext_pa),
                f64(self.tau), f64(self.inv_sqrt_a0),
                i64(self.inlet_cells), i64(self.wk_cells), f64(net.r1[self.wk]), f64(net.r2[self.wk]),
                f64(net.cc[self.wk]), i64(self.rf_cells), f64(net.rt[~self.wk]), f64(self.rf_w1_0),
                f64(self.rf_w2_0), i64(j.offsets), i64(j.cells), f64(j.signs), f64(j.kc4), f64(j.beta),
                f64(j.sqrt_a0),
            )
        return self._geo

    def advance(self, s: FlowState, t_stop: float, inlet_t_s: np.ndarray, inlet_q_m3_s: np.ndarray,
                max_steps: int = 10**9) -> tuple[float, float, int]:
        """Steps from ``s.t_s`` until one that starts at or after ``t_stop`` is done (or ``max_steps``).

        Returns (start time of the last step, its dt, steps run); ``s.t_s`` is left at that start time (openBF
        stamps a step's results with the time at its start).
        """
        t = s.t_s
        if self.backend == "numba":
            from simulation.flow import kernels_numba

            b = self.buf
            if b.work is None:
                b.work = np.zeros((9, self.net.size))
            t, dt, n = kernels_numba.advance(s.area_m2, s.q_m3_s, b.u, s.pc_pa, t, t_stop, self.ccfl,
                                             inlet_t_s, inlet_q_m3_s, self._numba_geometry(), b.work, max_steps)
            s.t_s = t
            return t, dt, n
        n = 0
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # NaNs end the run: see simulate()
            while True:
                dt = self.time_step_s(s)
                self._step_arrays(s, dt, boundary.inlet_flow_m3_s(t, inlet_t_s, inlet_q_m3_s))
                n += 1
                if t >= t_stop or n >= max_steps or not np.isfinite(dt):
                    s.t_s = t
                    return t, dt, n
                t += dt

    def pressure_pa(self, area: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Pressure (Pa) at flat cells ``idx``."""
        n = self.net
        return tube_law.pressure_pa(area, n.area0_m2[idx], n.beta_pa[idx], n.pext_pa[idx])


def _probe_cells(net: Network) -> np.ndarray:
    """(vessels, 5) flat indices of cells 1, round(M/4), round(M/2), round(3M/4), M (1-based, Julia rounding)."""
    m = net.n_cells
    local = np.stack([np.ones_like(m), np.round(0.25 * m), np.round(0.5 * m), np.round(0.75 * m), m], axis=1)
    return net.start[:, None] + local.astype(int)


def simulate(model: FlowModel, *, cycles: int | None = None, tolerance_mmhg: float | None = None,
             gamma_profile_default: float = 2.0, backend: str = "auto", on_cycle=None) -> SimulationResult:
    """Run ``model`` until openBF's convergence test passes or ``cycles`` cycles are done; last-cycle waveforms.

    ``backend``: ``"numba"`` (compiled kernel), ``"numpy"`` or ``"auto"`` (numba when installed). ``on_cycle(done,
    most)``, when given, is called after each cycle (a progress report; it may raise to stop the run).
    """
    t0 = time.perf_counter()
    net = build_network(model, gamma_profile_default)
    solver = Solver(net, model.ccfl, backend)
    state = solver.initial_state()
    period = model.period_s
    max_cycles = int(cycles if cycles is not None else model.cycles)
    tol = model.convergence_tolerance_mmhg if tolerance_mmhg is None else tolerance_mmhg
    if max_cycles < 1:
        raise FlowModelError("cycles must be at least 1")
    probes = _probe_cells(net)
    flat_probes = probes.ravel()
    jump = model.jump
    checkpoints = np.linspace(0.0, period, jump)
    samples_t, samples_a, samples_q = [], [], []
    prev_mid = None
    passed, counter, steps = 0, 0, 0
    conv_err = np.inf
    converged = False
    last = None
    while True:
        # run compiled/vectorised steps up to the next instant the bookkeeping below may act on
        t_stop = min(checkpoints[counter] if counter < jump else np.inf, period * (passed + 1))
        t, dt, n = solver.advance(state, t_stop, model.inlet_t_s, model.inlet_q_m3_s)
        steps += n
        area = state.area_m2[solver.real_idx]
        if not np.isfinite(dt) or not np.all(np.isfinite(area)) or np.any(area <= 0):
            raise FlowModelError(f"the simulation became unstable at t = {t:.4f} s (check the model parameters)")
        if counter < jump and t >= checkpoints[counter]:
            samples_t.append(t)
            samples_a.append(state.area_m2[flat_probes].copy())
            samples_q.append(state.q_m3_s[flat_probes].copy())
            counter += 1
        if t - period * passed >= period and t - period * passed + dt > period:
            a_cyc = np.array(samples_a)
            mid = solver.pressure_pa(a_cyc, flat_probes)[:, 2::5]
            if prev_mid is not None and prev_mid.shape == mid.shape:
                conv_err = float(np.max(np.abs(np.mean(mid - prev_mid, axis=0))) / MMHG_PA)
            prev_mid = mid
            last = (np.array(samples_t), a_cyc, np.array(samples_q))
            samples_t, samples_a, samples_q = [], [], []
            checkpoints = checkpoints + period
            passed += 1
            counter = 0
            if on_cycle is not None:
                on_cycle(passed, max_cycles)
        if passed >= max_cycles or conv_err < tol:
            converged = conv_err < tol
            break
        state.t_s = t + dt
    ts, a_s, q_s = last
    p_s = solver.pressure_pa(a_s, flat_probes) - model.pout_pa
    u_s = q_s / a_s
    nv = len(net.labels)
    waveforms = {}
    for k, label in enumerate(net.labels):
        cols = slice(5 * k, 5 * k + 5)
        waveforms[label] = {f: np.column_stack([ts, arr[:, cols]]) for f, arr in
                            zip(FIELDS, (p_s, q_s, a_s, u_s), strict=True)}
    assert len(waveforms) == nv
    return SimulationResult(waveforms, passed, converged, time.perf_counter() - t0, steps, period,
                            {"convergence_error_mmhg": conv_err, "backend": solver.backend,
                             "inlet_vessel": net.labels[int(net.inlet_vessels[0])]})


def run_model(path: str | Path, *, cycles: int | None = None, **kwargs) -> SimulationResult:
    """Read an openBF YAML model and simulate it (see :func:`simulate`)."""
    return simulate(load_openbf_model(path), cycles=cycles, **kwargs)
