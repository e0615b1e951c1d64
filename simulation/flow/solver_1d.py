"""The 1-D nonlinear blood-flow solver: openBF's MUSCL-Hancock finite-volume scheme over all vessels at once.

State: cross-sectional area A (m^2) and flow Q (m^3/s) per cell in the padded flat layout of
:class:`simulation.flow.network.Network`. One time step: inlet flow, two-stage MUSCL (superbee slopes,
Lax-Friedrichs interface fluxes with speed dx/dt) on every vessel, viscous (and taper) source terms, then all
outlets and all junctions together. The cycle loop, sampling (``jump`` samples per cycle) and the convergence
test (mean mid-vessel pressure change between cycles, in mmHg) follow openBF.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulation.flow import boundary, tube_law
from simulation.flow.junctions import JunctionSet
from simulation.flow.network import Network, build_network
from simulation.flow.openbf_io import FlowModel, FlowModelError, load_openbf_model

__all__ = ["FlowState", "SimulationResult", "run_model", "simulate"]

MMHG_PA = 133.332
FIELDS = ("P", "Q", "A", "u")


@dataclass
class FlowState:
    """Area and flow per flat cell, plus the Windkessel capacitor pressures per outlet."""

    area_m2: np.ndarray
    q_m3_s: np.ndarray
    pc_pa: np.ndarray
    t_s: float = 0.0


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


def _superbee_slopes(v: np.ndarray, inv_dx: np.ndarray, half_dx: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Superbee-limited half-cell increments of the rows of ``v`` (2, N); zero where ``keep`` is 0 (ghosts)."""
    d = np.diff(v, axis=1) * inv_dx[:-1]
    a = np.zeros_like(v)
    b = np.zeros_like(v)
    a[:, 1:] = d   # backward difference
    b[:, :-1] = d  # forward difference
    aa, ab = np.abs(a), np.abs(b)
    mag = np.maximum(np.minimum(aa, 2 * ab), np.minimum(2 * aa, ab))
    return np.where(a * b > 0, np.copysign(mag, a), 0.0) * (half_dx * keep)


class Solver:
    """Time integration of a :class:`Network` (vectorised over all cells; one Python iteration per step)."""

    def __init__(self, net: Network, ccfl: float = 0.9) -> None:
        self.net = net
        self.ccfl = ccfl
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
        self.ghost_lo, self.ghost_hi = net.start, net.last + 1

    def initial_state(self) -> FlowState:
        """At rest: A = A0, Q = 0, Pc = 0."""
        return FlowState(self.net.area0_m2.copy(), np.zeros(self.net.size), np.zeros(int(self.wk.sum())))

    def time_step_s(self, s: FlowState) -> float:
        """CFL time step: Ccfl * min over vessels of dx / max |u + c|."""
        a, q = s.area_m2[self.real_idx], s.q_m3_s[self.real_idx]
        speed = np.abs(q / a + tube_law.wave_speed_m_s(a, self.net.gamma[self.real_idx]))
        return float(self.ccfl * np.min(self.net.dx_m[self.real_idx] / speed))

    def _fill_ghosts(self, v: np.ndarray) -> None:
        v[..., self.ghost_lo] = v[..., self.net.first]
        v[..., self.ghost_hi] = v[..., self.net.last]

    def _fluxes(self, v: np.ndarray, dxdt: np.ndarray) -> np.ndarray:
        """Interface fluxes (2, N-1) of the state rows (A, Q): reconstructed faces, Lax-Friedrichs with dx/dt."""
        s = _superbee_slopes(v, self.inv_dx, self.half_dx, self.keep)
        left, right = v + s, v - s           # cell's right face, cell's left face
        fl = np.empty_like(v)
        fr = np.empty_like(v)
        fl[0], fr[0] = left[1], right[1]
        fl[1] = left[1] ** 2 / left[0] + self.net.gamma * left[0] * np.sqrt(left[0])
        fr[1] = right[1] ** 2 / right[0] + self.net.gamma * right[0] * np.sqrt(right[0])
        return 0.5 * (fr[:, 1:] + fl[:, :-1] - dxdt[:-1] * (right[:, 1:] - left[:, :-1]))

    def step(self, s: FlowState, dt: float, q_in: float) -> None:
        """Advance ``s`` by ``dt`` with inlet flow ``q_in`` (m^3/s) at the start of the step."""
        net = self.net
        a, q = s.area_m2, s.q_m3_s
        q[net.first[net.inlet_vessels]] = q_in
        dxdt = net.dx_m / dt
        r = self.real_idx
        lam = dt * self.inv_dx[r]
        u0 = np.stack([a, q])
        self._fill_ghosts(u0)
        f = self._fluxes(u0, dxdt)
        v = u0.copy()
        v[:, r] += lam * (f[:, r - 1] - f[:, r])
        self._fill_ghosts(v)
        f = self._fluxes(v, dxdt)
        new = 0.5 * (u0[:, r] + v[:, r] + lam * (f[:, r - 1] - f[:, r]))
        a[r] = new[0]
        q[r] = new[1]
        ar = a[r]
        q[r] -= net.visc_coeff[r] * q[r] / ar * dt
        q[r] += dt * 0.5 * net.beta_pa[r] * np.sqrt(ar) * ar / (net.area0_m2[r] * net.rho_kg_m3) * net.da0dx[r]
        u = np.zeros_like(q)
        u[r] = q[r] / ar
        if self.wk_cells.size:
            c = self.wk_cells
            s.pc_pa = boundary.windkessel_outlet(dt, a, u, c, net.r1[self.wk], net.r2[self.wk], net.cc[self.wk],
                                                 s.pc_pa, net.area0_m2[c], net.beta_pa[c], net.gamma[c],
                                                 net.pext_pa[c])
            # as openBF: the Windkessel sets the outlet area; the outlet flow stays the finite-volume one
        if self.rf_cells.size:
            c = tube_law.wave_speed_m_s(a, net.gamma)
            boundary.reflection_outlet(dt, net.dx_m[self.rf_cells], a, q, u, c, self.rf_cells,
                                       net.rt[~self.wk], self.rf_w1_0, self.rf_w2_0)
        self.junctions.solve(a, q, u)
        s.t_s += dt

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
             gamma_profile_default: float = 2.0) -> SimulationResult:
    """Run ``model`` until openBF's convergence test passes or ``cycles`` cycles are done; last-cycle waveforms."""
    t0 = time.perf_counter()
    net = build_network(model, gamma_profile_default)
    solver = Solver(net, model.ccfl)
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
        dt = solver.time_step_s(state)
        t = state.t_s
        solver.step(state, dt, boundary.inlet_flow_m3_s(t, model.inlet_t_s, model.inlet_q_m3_s))
        state.t_s = t  # openBF stamps the step with the time at its start
        steps += 1
        if not np.all(np.isfinite(state.area_m2[solver.real_idx])) or np.any(state.area_m2[solver.real_idx] <= 0):
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
                            {"convergence_error_mmhg": conv_err})


def run_model(path: str | Path, *, cycles: int | None = None, **kwargs) -> SimulationResult:
    """Read an openBF YAML model and simulate it (see :func:`simulate`)."""
    return simulate(load_openbf_model(path), cycles=cycles, **kwargs)
