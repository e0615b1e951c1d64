"""0-D (lumped-parameter) haemodynamics: the network as one sparse DAE, E y' + F y + g(y) + c(t) = 0.

Unknowns: pressure and flow at the inlet and outlet of every vessel, plus internal capacitor pressures (vessel,
RCR and coronary blocks). Each vessel contributes its R-C-L equations, each vessel end one equation from its
boundary condition or junction. The matrices are assembled once from flat index arrays (no loop over time steps
touches a block); ``g`` holds the only nonlinearity, the stenosis term S |Q| Q.

Time integration is the generalised-alpha method with spectral radius 0.5, as svZeroDSolver, on its time grid
(period / (points - 1)), so results compare sample by sample. A linear network is factorised once; one with
stenoses takes Newton iterations per step. The start is the steady solution with mean boundary values
(``steady_initial``, svZeroDSolver's default) or zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from simulation.flow.heart_0d import HeartBlock, add_closed_loop_bc, add_heart, step_closed_loop
from simulation.flow.openbf_io import FlowModelError
from simulation.flow.zerod_io import CLOSED_LOOP_BCS, ZeroDModel

__all__ = ["ZeroDResult", "ZeroDSystem", "assemble", "simulate_0d"]

RHO_INF = 0.5
ALPHA_M = 0.5 * (3.0 - RHO_INF) / (1.0 + RHO_INF)
ALPHA_F = 1.0 / (1.0 + RHO_INF)
GAMMA = 0.5 + ALPHA_M - ALPHA_F


@dataclass
class ZeroDSystem:
    """Assembled DAE; ``forcing`` = (row, coefficient, table or constant, derivative?) terms of c(t)."""

    n: int
    e: sp.csc_matrix
    f: sp.csc_matrix
    forcing: list[tuple[int, float, object, bool]]
    sten_rows: np.ndarray
    sten_vars: np.ndarray
    sten_coef: np.ndarray
    sten_kind: np.ndarray    # 0: -S |q| q in the algebraic part; 1: +coef |q| dq/dt
    vessel_vars: np.ndarray  # (vessels, 4): P_in, Q_in, P_out, Q_out
    heart: HeartBlock | None = None

    def c_at(self, t: np.ndarray, period: float) -> np.ndarray:
        """c(t) for every time in ``t``: (len(t), n)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        out = np.zeros((t.size, self.n))
        for row, coef, table, deriv in self.forcing:
            out[:, row] += coef * _evaluate(table, t, period, deriv)
        return out

    def g(self, y: np.ndarray, ydot: np.ndarray, d_y: float = 1.0, d_ydot: float = 0.0):
        """Stenosis terms g(y, y') (n,) and their derivatives (d_y dg/dy + d_ydot dg/dy') at (rows, vars)."""
        q, qd = y[self.sten_vars], ydot[self.sten_vars]
        alg = self.sten_kind == 0
        c = self.sten_coef
        val = np.where(alg, -c * np.abs(q) * q, c * np.abs(q) * qd)
        der = np.where(alg, -2.0 * c * np.abs(q) * d_y, c * (np.sign(q) * qd * d_y + np.abs(q) * d_ydot))
        g = np.bincount(self.sten_rows, val, minlength=self.n)
        return g, der


@dataclass
class ZeroDResult:
    """Per-vessel waveforms (svZeroDSolver's result columns) and run figures."""

    names: list[str]
    t_s: np.ndarray
    pressure_in: np.ndarray   # (times, vessels)
    pressure_out: np.ndarray
    flow_in: np.ndarray
    flow_out: np.ndarray
    cycles_run: int
    steps: int
    wall_s: float
    period_s: float
    extra: dict = field(default_factory=dict)

    def vessel(self, name: str) -> dict[str, np.ndarray]:
        """Columns of one vessel."""
        k = self.names.index(name)
        return {"t": self.t_s, "pressure_in": self.pressure_in[:, k], "pressure_out": self.pressure_out[:, k],
                "flow_in": self.flow_in[:, k], "flow_out": self.flow_out[:, k]}


def _evaluate(table, t: np.ndarray, period: float, derivative: bool = False) -> np.ndarray:
    """A constant or a periodic piecewise-linear (t, value) table at times ``t`` (or its slope)."""
    if not isinstance(table, np.ndarray):
        return np.zeros_like(t) if derivative else np.full_like(t, float(table))
    tt, vv = table
    if tt.size == 1:
        return np.zeros_like(t) if derivative else np.full_like(t, vv[0])
    ph = np.mod(t - tt[0], tt[-1] - tt[0]) + tt[0] if tt[-1] - tt[0] > 0 else t
    if derivative:
        i = np.clip(np.searchsorted(tt, ph, side="right") - 1, 0, tt.size - 2)
        return (vv[i + 1] - vv[i]) / (tt[i + 1] - tt[i])
    return np.interp(ph, tt, vv)


class _Builder:
    def __init__(self) -> None:
        self.n_vars = 0
        self.n_eqs = 0
        self.e: list[tuple[int, int, float]] = []
        self.f: list[tuple[int, int, float]] = []
        self.forcing: list[tuple[int, float, object, bool]] = []
        self.sten: list[tuple[int, int, float]] = []
        self.sten_e: list[tuple[int, int, float]] = []  # coef |q| dq/dt terms

    def var(self, k: int = 1) -> int:
        self.n_vars += k
        return self.n_vars - k

    def eq(self) -> int:
        self.n_eqs += 1
        return self.n_eqs - 1


def assemble(model: ZeroDModel) -> ZeroDSystem:
    """Build E, F, the stenosis terms and c(t) for ``model``; FlowModelError if an end is left unconnected."""
    b = _Builder()
    nv = len(model.vessels)
    vv = np.array([[b.var() for _ in range(4)] for _ in range(nv)], dtype=np.int64)  # P_in Q_in P_out Q_out
    for k, v in enumerate(model.vessels):
        p_in, q_in, p_out, q_out = vv[k]
        if v.crl:
            # capacitor at the inlet, then R (+ stenosis) and L on the outlet flow (svZeroDSolver BloodVesselCRL)
            r0 = b.eq()
            b.f += [(r0, p_in, 1.0), (r0, q_out, -v.r), (r0, p_out, -1.0)]
            b.e += [(r0, q_out, -v.l)]
            b.sten += [(r0, q_out, v.stenosis)] if v.stenosis else []
            r1 = b.eq()
            b.f += [(r1, q_in, 1.0), (r1, q_out, -1.0)]
            b.e += [(r1, p_in, -v.c)]
        else:
            # svZeroDSolver BloodVessel: R (+ stenosis S |Q_in| Q_in) then the capacitor, then L on the outlet
            # flow; the capacitor pressure P_in - (R + S |Q_in|) Q_in is eliminated, so its rate brings the
            # (nonlinear) term 2 C S |Q_in| dQ_in/dt
            r0, r1 = b.eq(), b.eq()
            b.f += [(r0, p_in, 1.0), (r0, q_in, -v.r), (r0, p_out, -1.0)]
            b.e += [(r0, q_out, -v.l)]
            b.f += [(r1, q_in, 1.0), (r1, q_out, -1.0)]
            b.e += [(r1, p_in, -v.c), (r1, q_in, v.c * v.r)]
            if v.stenosis:
                b.sten += [(r0, q_in, v.stenosis)]
                b.sten_e += [(r1, q_in, 2.0 * v.c * v.stenosis)] if v.c else []
    connected = np.zeros((nv, 2), dtype=int)
    heart = add_heart(b, model.heart) if model.heart is not None else None
    drains = []  # outlets of closed-loop boundary conditions: (pressure, flow) into the right atrium
    for k, v in enumerate(model.vessels):
        for end, bc_name in ((0, v.inlet_bc), (1, v.outlet_bc)):
            if bc_name is None:
                continue
            connected[k, end] += 1
            p, q = vv[k, 2 * end], vv[k, 2 * end + 1]
            bc = model.bcs[bc_name]
            if bc.kind in CLOSED_LOOP_BCS:
                if end == 0 or heart is None:
                    raise FlowModelError(f"vessel {v.name!r}: {bc.kind} belongs at an outlet of a closed-loop model")
                drains.append(add_closed_loop_bc(b, bc, p, q, heart))
            else:
                _boundary(b, bc, p, q, 1.0 if end == 1 else -1.0)
    if heart is not None:
        _close_loop(b, model, heart, vv, connected, drains)
    index = {v.vessel_id: k for k, v in enumerate(model.vessels)}
    for j in model.junctions:
        ins = [index[i] for i in j.inlets]
        outs = [index[i] for i in j.outlets]
        for k in ins:
            connected[k, 1] += 1
        for k in outs:
            connected[k, 0] += 1
        mass = b.eq()
        b.f += [(mass, vv[k, 3], 1.0) for k in ins] + [(mass, vv[k, 1], -1.0) for k in outs]
        p0 = vv[ins[0], 2]
        if j.kind == "BloodVesselJunction":
            for i, k in enumerate(outs):
                r = b.eq()
                b.f += [(r, p0, 1.0), (r, vv[k, 0], -1.0), (r, vv[k, 1], -j.r[i])]
                b.e += [(r, vv[k, 1], -j.l[i])]
                b.sten += [(r, vv[k, 1], j.stenosis[i])] if j.stenosis[i] else []
        else:
            for pk in [vv[k, 2] for k in ins[1:]] + [vv[k, 0] for k in outs]:
                r = b.eq()
                b.f += [(r, pk, 1.0), (r, p0, -1.0)]
    bad = np.argwhere(connected != 1)
    if bad.size:
        k, end = bad[0]
        what = "not connected" if connected[k, end] == 0 else "connected twice"
        raise FlowModelError(f"vessel {model.vessels[k].name!r}: its {('inlet', 'outlet')[end]} is {what}")
    if b.n_eqs != b.n_vars:
        raise FlowModelError(f"the 0-D model has {b.n_eqs} equations for {b.n_vars} unknowns")
    n = b.n_vars

    def mat(entries):
        if not entries:
            return sp.csc_matrix((n, n))
        r, c, v = (np.array(x) for x in zip(*entries, strict=True))
        return sp.csc_matrix((v.astype(float), (r, c)), shape=(n, n))

    st = np.array(b.sten + b.sten_e, dtype=float).reshape(-1, 3)
    kind = np.array([0] * len(b.sten) + [1] * len(b.sten_e), dtype=np.int64)
    return ZeroDSystem(n, mat(b.e), mat(b.f), b.forcing, st[:, 0].astype(np.int64), st[:, 1].astype(np.int64),
                       st[:, 2], kind, vv, heart)


def _close_loop(b: _Builder, model: ZeroDModel, heart: HeartBlock, vv: np.ndarray, connected: np.ndarray,
                drains: list[tuple[int, int]]) -> None:
    """svZeroDSolver's two junctions of the loop: aorta -> the heart's outlet vessels, closed-loop outlets ->
    right atrium (mass conservation and equal pressures)."""
    names = [v.name for v in model.vessels]
    outs = [names.index(n) for n in model.heart.outlet_vessels if n in names]
    if not outs or not drains:
        raise FlowModelError("the closed loop needs vessels fed by the heart and closed-loop outlets draining into it")
    for k in outs:
        connected[k, 0] += 1
    for (p0, q0), ends in (((heart.var[2], heart.var[3]), [(vv[k, 0], vv[k, 1]) for k in outs]),
                           ((heart.var[0], heart.var[1]), drains)):
        mass = b.eq()
        b.f += [(mass, q0, 1.0)] + [(mass, q, -1.0) for _, q in ends]
        for p, _ in ends:
            r = b.eq()
            b.f += [(r, p, 1.0), (r, p0, -1.0)]


def _boundary(b: _Builder, bc, p: int, q: int, sign: float) -> None:
    """Equations of one boundary condition at a vessel end; ``sign`` * q is the flow into the boundary."""
    v = bc.values
    r = b.eq()
    if bc.kind == "FLOW":
        b.f += [(r, q, 1.0)]
        b.forcing += [(r, -1.0, v["Q"], False)]
    elif bc.kind == "PRESSURE":
        b.f += [(r, p, 1.0)]
        b.forcing += [(r, -1.0, v["P"], False)]
    elif bc.kind == "RESISTANCE":
        b.f += [(r, p, 1.0), (r, q, -sign * v["R"])]
        b.forcing += [(r, -1.0, v["Pd"], False)]
    elif bc.kind == "RCR":
        pc = b.var()
        b.f += [(r, p, 1.0), (r, q, -sign * v["Rp"]), (r, pc, -1.0)]
        r2 = b.eq()  # C dPc/dt = Q - (Pc - Pd) / Rd
        b.e += [(r2, pc, v["C"])]
        b.f += [(r2, q, -sign), (r2, pc, 1.0 / v["Rd"])]
        b.forcing += [(r2, -1.0 / v["Rd"], v["Pd"], False)]
    else:  # CORONARY: Ra1 - node a (Ca to ground) - Ra2 - node m (Cc to Pim(t)) - Rv1 - P_v
        pa, pm = b.var(), b.var()
        ra, ram, rv, ca, cim = v["Ra1"], v["Ra2"], v["Rv1"], v["Ca"], v["Cc"]
        b.f += [(r, p, 1.0), (r, q, -sign * ra), (r, pa, -1.0)]
        r2 = b.eq()
        b.e += [(r2, pa, ca)]
        b.f += [(r2, q, -sign), (r2, pa, 1.0 / ram), (r2, pm, -1.0 / ram)]
        r3 = b.eq()
        b.e += [(r3, pm, cim)]
        b.f += [(r3, pa, -1.0 / ram), (r3, pm, 1.0 / ram + 1.0 / rv)]
        b.forcing += [(r3, -cim, v["Pim"], True), (r3, -v["P_v"] / rv, 1.0, False)]


def _mean_forcing(system: ZeroDSystem, period: float) -> np.ndarray:
    t = np.linspace(0.0, period, 2001)
    return np.mean(system.c_at(t[:-1], period), axis=0)


def _steady(system: ZeroDSystem, c: np.ndarray) -> np.ndarray:
    """Solve F y + g(y) + c = 0 (Newton from y = 0)."""
    y = np.zeros(system.n)
    for _ in range(50):
        g, dg = system.g(y, np.zeros_like(y))
        r = system.f @ y + g + c
        jac = system.f.toarray()
        np.add.at(jac, (system.sten_rows, system.sten_vars), dg)
        try:
            dy = np.linalg.solve(jac, -r)
        except np.linalg.LinAlgError:
            raise FlowModelError("the 0-D model has no steady solution (check its boundary conditions)") from None
        if not np.all(np.isfinite(dy)):
            raise FlowModelError("the 0-D model has no steady solution (check its boundary conditions)")
        y += dy
        if system.sten_rows.size == 0 or np.max(np.abs(dy)) <= 1e-12 * (1.0 + np.max(np.abs(y))):
            break
    return y


def _cycles(model: ZeroDModel) -> int:
    """svZeroDSolver's cycle count: with ``use_cycle_to_cycle_error`` and RCR outlets, enough cycles for the
    slowest RCR time constant to decay to the requested error (ceil(-max(Rd C) / T ln(err / 100)))."""
    if model.cycle_error_percent is None:
        return model.cycles
    taus = [bc.values["Rd"] * bc.values["C"] for bc in model.bcs.values() if bc.kind == "RCR"]
    if not taus:
        return model.cycles
    return max(model.cycles, int(np.ceil(-max(taus) / model.period_s * np.log(model.cycle_error_percent / 100))))


def _linear_map(lu, system: ZeroDSystem, c_cycle: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """A linear network's whole step as z <- M z + b_k, z = (y, y'): one small dense product per step instead of
    two sparse products and a sparse solve (numpy's per-call cost dominates for tens of unknowns)."""
    n = system.n
    a_y = lu.solve(system.f.toarray())
    a_yd = lu.solve(system.e.toarray()) * (1.0 - ALPHA_M / GAMMA)
    d = lu.solve(np.ascontiguousarray(c_cycle.T)).T  # (steps per cycle, n)
    g = 1.0 / (GAMMA * dt)
    eye = np.eye(n)
    m = np.block([[eye - a_y, -a_yd], [-g * a_y, (1.0 - 1.0 / GAMMA) * eye - g * a_yd]])
    return m, -np.concatenate([d, g * d], axis=1)


def _newton_step(system, e, f, jac0, rows, cols, y, ydot, c, dt):
    """One generalised-alpha step with Newton iterations (networks with stenosis terms)."""
    y_new = y.copy()
    ydot_new = ydot * (1.0 - 1.0 / GAMMA)
    for _ in range(30):
        y_af = y + ALPHA_F * (y_new - y)
        yd_am = ydot + ALPHA_M * (ydot_new - ydot)
        g, dg = system.g(y_af, yd_am, ALPHA_F, ALPHA_M / (GAMMA * dt))
        res = e @ yd_am + f @ y_af + c + g
        jac = jac0.copy()
        jac[rows, cols] += dg  # (row, variable) pairs are distinct: one stenosis term each
        dy = -np.linalg.solve(jac, res)
        y_new += dy
        ydot_new += dy / (GAMMA * dt)
        if np.max(np.abs(dy)) <= 1e-13 * (1.0 + np.max(np.abs(y_new))):
            break
    return y_new, ydot_new


def simulate_0d(model: ZeroDModel, *, cycles: int | None = None, on_cycle=None) -> ZeroDResult:
    """Run ``model`` for its cycles; the output points follow svZeroDSolver (last cycle, all cycles or means).

    ``on_cycle(done, total)``, when given, is called after each cycle (a progress report; it may raise to stop).
    """
    t0 = time.perf_counter()
    system = assemble(model)
    period = model.period_s
    n_cycles = int(cycles) if cycles is not None else _cycles(model)
    if n_cycles < 1:
        raise FlowModelError("cycles must be at least 1")
    per = model.points_per_cycle - 1
    dt = period / per
    if system.heart is not None:
        return _simulate_closed_loop(model, system, n_cycles, t0, on_cycle)
    y = _steady(system, _mean_forcing(system, period)) if model.steady_initial else np.zeros(system.n)
    ydot = np.zeros(system.n)
    # the forcing repeats every cycle: evaluate it once at each step's alpha_f level
    c_cycle = system.c_at(np.arange(per) * dt + ALPHA_F * dt, period)
    lin = system.sten_rows.size == 0
    e, f = system.e.tocsr(), system.f.tocsr()
    jac0 = (system.e * (ALPHA_M / (GAMMA * dt)) + system.f * ALPHA_F).tocsc()
    # (no rank test: SI models mix R ~ 1e9 with C ~ 1e-10, which an SVD tolerance would call singular)
    try:
        lu = spla.splu(jac0) if np.all(np.isfinite(jac0.data)) else None
    except RuntimeError:
        lu = None
    if lu is None:
        raise FlowModelError("the 0-D model is singular (an unconnected or over-constrained part)")
    all_cycles = model.output_all_cycles or model.output_mean_only
    keep = [y.copy()] if all_cycles else []
    steps = 0
    rows, cols = system.sten_rows, system.sten_vars
    jac0_dense = None if lin else jac0.toarray()
    # small nonlinear networks: dense products beat sparse ones (per-call cost)
    e_n, f_n = (e.toarray(), f.toarray()) if not lin and system.n <= 100 else (e, f)
    step_map = _linear_map(lu, system, c_cycle, dt) if lin and system.n <= 100 else None
    for cyc in range(n_cycles):
        last_cycle = cyc == n_cycles - 1
        if last_cycle and not all_cycles:
            keep = [y.copy()]
        for k in range(per):
            if step_map is not None:
                z = step_map[0] @ np.concatenate([y, ydot]) + step_map[1][k]
                y, ydot = z[:system.n], z[system.n:]
            elif lin:
                # the one Newton step of a linear system, from the predictor (y, y' (1 - 1/gamma)) in closed form
                dy = -lu.solve(e @ (ydot * (1.0 - ALPHA_M / GAMMA)) + f @ y + c_cycle[k])
                y = y + dy
                ydot = ydot * (1.0 - 1.0 / GAMMA) + dy / (GAMMA * dt)
            else:
                y, ydot = _newton_step(system, e_n, f_n, jac0_dense, rows, cols, y, ydot, c_cycle[k], dt)
            steps += 1
            if all_cycles or last_cycle:
                keep.append(y)
        if not np.all(np.isfinite(y)):
            raise FlowModelError(f"the 0-D simulation diverged in cycle {cyc + 1}")
        if on_cycle is not None:
            on_cycle(cyc + 1, n_cycles)
    states = np.array(keep)
    t_out = np.arange(states.shape[0]) * dt  # from 0: the last cycle is reported as svZeroDSolver does
    vv = system.vessel_vars
    cols = [states[:, vv[:, i]] for i in range(4)]
    if model.output_mean_only:
        cols = [c.mean(axis=0, keepdims=True) for c in cols]
        t_out = np.array([np.nan])
    return ZeroDResult([v.name for v in model.vessels], t_out, cols[0], cols[2], cols[1], cols[3], n_cycles, steps,
                       time.perf_counter() - t0, period,
                       {"unknowns": system.n,
                        "inlet_vessels": [k for k, v in enumerate(model.vessels) if v.inlet_bc is not None]})


def _result(model: ZeroDModel, system: ZeroDSystem, states: np.ndarray, dt: float, n_cycles: int, steps: int,
            t0: float) -> ZeroDResult:
    t_out = np.arange(states.shape[0]) * dt
    vv = system.vessel_vars
    cols = [states[:, vv[:, i]] for i in range(4)]
    if model.output_mean_only:
        cols = [c.mean(axis=0, keepdims=True) for c in cols]
        t_out = np.array([np.nan])
    extra = {"unknowns": system.n, "inlet_vessels": [k for k, v in enumerate(model.vessels) if v.inlet_bc is not None]}
    if system.heart is not None:
        # the heart feeds its outlet vessels; svZeroDSolver's heart parameters are in mmHg, mL and s
        extra.update(closed_loop=True, mmhg_per_unit=1.0,
                     inlet_vessels=[k for k, v in enumerate(model.vessels) if v.name in model.heart.outlet_vessels])
    return ZeroDResult([v.name for v in model.vessels], t_out, cols[0], cols[2], cols[1], cols[3], n_cycles, steps,
                       time.perf_counter() - t0, model.period_s, extra)


def _simulate_closed_loop(model: ZeroDModel, system: ZeroDSystem, n_cycles: int, t0: float,
                          on_cycle=None) -> ZeroDResult:
    """A model closed by the heart block: svZeroDSolver's Newton stepping from the model's initial condition
    (``steady_initial`` does not apply: the loop has no steady state to start from)."""
    period = model.period_s
    per = model.points_per_cycle - 1
    dt = period / per
    y, ydot = np.zeros(system.n), np.zeros(system.n)
    system.heart.initial_state(y, model.heart)
    e, f0 = system.e.toarray(), system.f.toarray()
    c_cycle = system.c_at(np.arange(per) * dt + ALPHA_F * dt, period)
    all_cycles = model.output_all_cycles or model.output_mean_only
    keep = [y.copy()] if all_cycles else []
    steps = 0
    for cyc in range(n_cycles):
        last_cycle = cyc == n_cycles - 1
        if last_cycle and not all_cycles:
            keep = [y.copy()]
        for k in range(per):
            y, ydot = step_closed_loop(system, y, ydot, steps * dt, c_cycle[k], dt, alpha_m=ALPHA_M, alpha_f=ALPHA_F,
                                       gamma=GAMMA, atol=model.absolute_tolerance,
                                       max_iter=model.max_nonlinear_iterations, e=e, f0=f0)
            steps += 1
            if all_cycles or last_cycle:
                keep.append(y)
        if not np.all(np.isfinite(y)):
            raise FlowModelError(f"the 0-D simulation diverged in cycle {cyc + 1}")
        if on_cycle is not None:
            on_cycle(cyc + 1, n_cycles)
    return _result(model, system, np.array(keep), dt, n_cycles, steps, t0)
