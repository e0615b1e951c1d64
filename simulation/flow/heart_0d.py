"""svZeroDSolver's closed loop: the ClosedLoopHeartAndPulmonary block, its boundary conditions and time stepping.

The heart block (Sankaran et al. 2012, as svZeroDSolver implements it) has 16 unknowns: the right-atrial inlet
(P_RA, Q_in), the aortic outlet (P_ao, Q_out) and 12 states (V_RA, Q_RA, P_RV, V_RV, Q_RV, P_pul, P_LA, V_LA,
Q_LA, P_LV, V_LV, Q_LV), in 14 equations: time-varying ventricular elastances (a 25-mode Fourier series), atrial
activation with an exponential passive pressure-volume law, R-L valves that close when the pressure drop and the
flow both turn non-positive, an R-C pulmonary circulation and an aortic capacitor. The aorta feeds the
``outlet_vessels`` through a junction; every closed-loop boundary condition drains back into the right atrium
through another.

Closed-loop boundary conditions (vessel end P, Q into the block; P_o, Q_o out into the right atrium):

* ``ClosedLoopRCR``: P - Rp Q = P_c, C dP_c/dt = Q - Q_o, P_c - Rd Q_o = P_o.
* ``ClosedLoopCoronaryLeft``/``Right``: Ra, Ca, Ram, an intramyocardial capacitor Cim loaded by the left or right
  ventricular pressure scaled by ``iml``/``imr``, and Rv into the atrium (state: the intramyocardial volume V_im).

The valves and the atrial law make the system nonlinear and switching, so stepping follows svZeroDSolver's Newton
iteration on the increment of y' with its generalised-alpha levels and its post-solve zeroing of closed-valve flows,
which makes the periodic state agree with svZeroDSolver's to round-off rather than only to the time-step error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulation.flow.openbf_io import FlowModelError
from simulation.flow.zerod_io import HEART_STATES, ClosedLoopHeart

__all__ = ["HeartBlock", "add_closed_loop_bc", "add_heart", "step_closed_loop"]

# svZeroDSolver's Fourier modes (cos, sin) of the normalised ventricular elastance
ELASTANCE_MODES = np.array([
    [0.283748803, 0.000000000], [0.031830626, -0.374299825], [-0.209472400, -0.018127770],
    [0.020520047, 0.073971113], [0.008316883, -0.047249597], [-0.041677660, 0.003212163],
    [0.000867323, 0.019441411], [-0.001675379, -0.005565534], [-0.011252277, 0.003401432],
    [-0.000414677, 0.008376795], [0.000253749, -0.000071880], [-0.002584966, 0.001566861],
    [0.000584752, 0.003143555], [0.000028502, -0.000024787], [0.000022961, -0.000007476],
    [0.000018735, -0.000001281], [0.000015573, 0.000001781], [0.000013133, 0.000003494],
    [0.000011199, 0.000004507], [0.000009634, 0.000005117], [0.000008343, 0.000005481],
    [0.000007265, 0.000005687], [0.000006354, 0.000005789], [0.000005575, 0.000005821],
    [0.000004903, 0.000005805]])

# local variable numbers of the heart block
P_RA, Q_IN, P_AO, Q_OUT, V_RA, Q_RA, P_RV, V_RV, Q_RV, P_PUL, P_LA, V_LA, Q_LA, P_LV, V_LV, Q_LV = range(16)
# (valve flow, upstream pressure, downstream pressure) of the tricuspid, pulmonary, mitral and aortic valves
VALVES = ((Q_RA, P_RA, P_RV), (Q_RV, P_RV, P_PUL), (Q_LA, P_LA, P_LV), (Q_LV, P_LV, P_AO))


@dataclass
class HeartBlock:
    """Global numbers of the heart's variables and equations, its parameters and its switching entries."""

    var: np.ndarray          # (16,) global variable of each local one
    eq: np.ndarray           # (14,) global equation rows
    p: dict[str, float]
    period_s: float
    valve_entries: list[tuple[int, int, float, int]]  # (row, column, coefficient, valve number)
    # intramyocardial pressure loads of the coronary outlets: (row, ventricular pressure variable, coefficient)
    loads: list[tuple[int, int, float]] = field(default_factory=list)

    def activation(self, t: float) -> tuple[float, float, float]:
        """Atrial activation AA and the right and left ventricular elastances at time ``t``."""
        p, period = self.p, self.period_s
        tsa, tpw = period * p["Tsa"], period / p["tpwave"]
        tc = np.fmod(t, period)
        if tc <= tpw:
            aa = 0.5 * (1.0 - np.cos(2.0 * np.pi * (tc - tpw + tsa) / tsa))
        elif period - tsa + tpw <= tc < period:
            aa = 0.5 * (1.0 - np.cos(2.0 * np.pi * (tc - tpw - (period - tsa)) / tsa))
        else:
            aa = 0.0
        k = np.arange(ELASTANCE_MODES.shape[0])
        e = float(np.sum(ELASTANCE_MODES[:, 0] * np.cos(2.0 * np.pi * k * tc / period)
                         - ELASTANCE_MODES[:, 1] * np.sin(2.0 * np.pi * k * tc / period)))
        return float(aa), e * p["Erv_s"], e * p["Elv_s"]

    def valves(self, y: np.ndarray) -> np.ndarray:
        """1 for an open valve, 0 for a closed one (pressure drop and flow both non-positive), at state ``y``."""
        v = self.var
        return np.array([0.0 if (y[v[up]] <= y[v[down]] and y[v[q]] <= 0.0) else 1.0 for q, up, down in VALVES])

    def update(self, f: np.ndarray, c: np.ndarray, dc: np.ndarray, y: np.ndarray, act: tuple[float, float, float]
               ) -> np.ndarray:
        """Write the time- and state-dependent entries into dense F, c and dc/dy; return the valve states."""
        p, v, e = self.p, self.var, self.eq
        aa, erv, elv = act
        for row, vol, emax, vaso, kxp, kxv in ((e[0], V_RA, "Emax_ra", "Vaso_ra", "Kxp_ra", "Kxv_ra"),
                                                (e[8], V_LA, "Emax_la", "Vaso_la", "Kxp_la", "Kxv_la")):
            ex = np.exp((y[v[vol]] - p[vaso]) * p[kxv])
            f[row, v[vol]] = -aa * p[emax]
            c[row] += aa * p[emax] * p[vaso] + p[kxp] * (ex - 1.0) * (aa - 1.0)
            dc[row, v[vol]] += p[kxp] * ex * p[kxv] * (aa - 1.0)
        f[e[4], v[V_RV]] = -erv
        c[e[4]] += erv * p["Vrv_u"]
        f[e[11], v[V_LV]] = -elv
        c[e[11]] += elv * p["Vlv_u"]
        for row, col, coef in self.loads:
            # svZeroDSolver puts this term into c and leaves it out of the Jacobian; its Newton path (and so
            # where valves switch) depends on that, so it is kept the same here
            c[row] += coef * y[col]
        open_ = self.valves(y)
        for row, col, coef, k in self.valve_entries:
            f[row, col] += coef * open_[k]
        return open_

    def closed_flows(self, open_: np.ndarray) -> np.ndarray:
        """Global variables of the flows through the closed valves."""
        return np.array([self.var[q] for (q, _, _), o in zip(VALVES, open_, strict=True) if o < 0.5], dtype=np.int64)

    def initial_state(self, y: np.ndarray, heart: ClosedLoopHeart) -> None:
        """Put the model's initial condition of the heart's states into ``y``."""
        for name, value in heart.initial.items():
            y[self.var[4 + HEART_STATES.index(name)]] = value


def add_heart(b, heart: ClosedLoopHeart) -> HeartBlock:
    """Add the heart's 16 variables and 14 equations (constant entries) to builder ``b``."""
    p = heart.params
    v = np.array([b.var() for _ in range(16)], dtype=np.int64)
    e = np.array([b.eq() for _ in range(14)], dtype=np.int64)
    b.e += [(e[r], v[c], k) for r, c, k in (
        (1, P_AO, p["Cpa"]), (2, V_RA, 1.0), (3, Q_RA, p["Lra_v"]), (5, V_RV, 1.0), (6, Q_RV, p["Lrv_a"]),
        (7, P_PUL, p["Cp"]), (9, V_LA, 1.0), (10, Q_LA, p["Lla_v"]), (12, V_LV, 1.0), (13, Q_LV, p["Llv_a"]))]
    b.f += [(e[r], v[c], k) for r, c, k in (
        (0, P_RA, 1.0), (1, Q_OUT, 1.0), (2, Q_IN, -1.0), (3, P_RA, -1.0), (3, P_RV, 1.0), (4, P_RV, 1.0),
        (6, P_RV, -1.0), (6, P_PUL, 1.0), (7, P_PUL, 1.0 / p["Rpd"]), (7, P_LA, -1.0 / p["Rpd"]), (8, P_LA, 1.0),
        (10, P_LA, -1.0), (10, P_LV, 1.0), (11, P_LV, 1.0), (13, P_LV, -1.0), (13, P_AO, 1.0))]
    # entries that switch off with a closed valve: (equation, flow variable, coefficient, valve)
    switching = ((1, Q_LV, -1.0, 3), (7, Q_RV, -1.0, 1), (2, Q_RA, 1.0, 0), (5, Q_RA, -1.0, 0), (5, Q_RV, 1.0, 1),
                 (9, Q_RV, -1.0, 1), (9, Q_LA, 1.0, 2), (12, Q_LA, -1.0, 2), (12, Q_LV, 1.0, 3),
                 (3, Q_RA, p["Rra_v"], 0), (6, Q_RV, p["Rrv_a"], 1), (10, Q_LA, p["Rla_v"], 2),
                 (13, Q_LV, p["Rlv_ao"], 3))
    entries = [(int(e[r]), int(v[c]), k, n) for r, c, k, n in switching]
    return HeartBlock(v, e, dict(p), heart.period_s, entries)


def add_closed_loop_bc(b, bc, p: int, q: int, heart: HeartBlock) -> tuple[int, int]:
    """Equations of a closed-loop boundary condition at a vessel outlet (P ``p``, Q ``q`` into it); returns its
    outlet (pressure, flow) variables, which drain into the right atrium."""
    v = bc.values
    po, qo = b.var(), b.var()
    r0, r1, r2 = b.eq(), b.eq(), b.eq()
    if bc.kind == "ClosedLoopRCR":
        pc = b.var()
        b.e += [(r0, pc, v["C"])]
        b.f += [(r0, q, -1.0), (r0, qo, 1.0), (r1, p, 1.0), (r1, q, -v["Rp"]), (r1, pc, -1.0),
                (r2, po, -1.0), (r2, pc, 1.0), (r2, qo, -v["Rd"])]
        return po, qo
    ra, ram, rv, ca, cim = v["Ra"], v["Ram"], v["Rv"], v["Ca"], v["Cim"]
    left = bc.kind == "ClosedLoopCoronaryLeft"
    im = heart.p["iml"] if left else heart.p["imr"]
    ventricle = heart.var[P_LV if left else P_RV]
    vim = b.var()
    b.e += [(r0, p, -ram * ca), (r0, q, ram * ra * ca), (r1, p, -ca), (r1, q, ca * ra), (r1, vim, -1.0)]
    b.f += [(r0, p, -1.0), (r0, q, ra + ram), (r0, po, 1.0), (r0, qo, rv), (r1, q, 1.0), (r1, qo, -1.0),
            (r2, po, cim), (r2, qo, cim * rv), (r2, vim, -1.0)]
    heart.loads.append((r2, int(ventricle), -cim * im))
    return po, qo


def step_closed_loop(system, y: np.ndarray, ydot: np.ndarray, t: float, c_t: np.ndarray, dt: float, *,
                     alpha_m: float, alpha_f: float, gamma: float, atol: float, max_iter: int,
                     e: np.ndarray, f0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One generalised-alpha step from time ``t`` as svZeroDSolver takes it: Newton on the increment of y' with
    residual E y'(am) + F y(af) + c + g, J = alpha_m (E + dc/dy') + alpha_f gamma dt (F + dc/dy), and the flows of
    closed valves zeroed after each solve; ``c_t`` is the forcing at t + alpha_f dt, ``e`` and ``f0`` dense E and the
    constant part of F."""
    heart: HeartBlock = system.heart
    act = heart.activation(t + alpha_f * dt)
    y_new, yd_new = y.copy(), ydot * (1.0 - 1.0 / gamma)
    rows, cols = system.sten_rows, system.sten_vars
    for it in range(max_iter):
        yd_am = ydot + (yd_new - ydot) * alpha_m
        y_af = y + (y_new - y) * alpha_f
        f, c, dc = f0.copy(), c_t.copy(), np.zeros_like(f0)
        open_ = heart.update(f, c, dc, y_af, act)
        g, dg = system.g(y_af, yd_am, alpha_f * gamma * dt, alpha_m)
        res = e @ yd_am + f @ y_af + c + g
        if np.max(np.abs(res)) < atol:
            break
        if it == max_iter - 1:
            raise FlowModelError(f"the closed-loop 0-D model did not converge at t = {t:.4g} (Newton iterations)")
        jac = alpha_m * e + alpha_f * gamma * dt * (f + dc)
        jac[rows, cols] += dg
        try:
            dyd = -np.linalg.solve(jac, res)
        except np.linalg.LinAlgError:
            raise FlowModelError("the closed-loop 0-D model is singular (check its connections)") from None
        y_new[heart.closed_flows(open_)] = 0.0
        yd_new += dyd
        y_new += dyd * gamma * dt
    return y_new, yd_new
