"""Boundary conditions: prescribed inlet flow, three-element Windkessel (RCR) and reflection-coefficient outlets."""

from __future__ import annotations

import numpy as np

from simulation.flow import tube_law

__all__ = ["inlet_flow_m3_s", "reflection_outlet", "windkessel_outlet"]


def inlet_flow_m3_s(t_s: float, table_t_s: np.ndarray, table_q_m3_s: np.ndarray) -> float:
    """Inlet flow at time ``t_s``: the periodic, piecewise-linear inlet table (period = its last time).

    As openBF, the first table segment [t_i, t_i+1] containing the phase is interpolated.
    """
    period = table_t_s[-1]
    t = t_s - np.floor(t_s / period) * period
    inside = (t >= table_t_s[:-1]) & (t <= table_t_s[1:])
    i = int(np.argmax(inside))
    t0, t1 = table_t_s[i], table_t_s[i + 1]
    return float(table_q_m3_s[i] + (t - t0) * (table_q_m3_s[i + 1] - table_q_m3_s[i]) / (t1 - t0))


def windkessel_outlet(dt_s: float, area, u, cells, r1, r2, cc, pc, area0, beta, gamma, pext) -> np.ndarray:
    """RCR outlet of openBF coupled through a Riemann problem; updates A and u at ``cells``; returns the new Pc."""
    al, ul = area[cells], u[cells]
    pc = pc + dt_s / cc * (al * ul - pc / r2)
    ssal = np.sqrt(np.sqrt(al))
    sgamma = 2.0 * np.sqrt(6.0 * gamma)
    sa0 = np.sqrt(area0)
    ba0 = beta / sa0
    a_s = al.copy()
    for _ in range(10):  # Newton converges in 2-3 iterations from the previous area; stop there
        root = np.sqrt(a_s)
        fourth = np.sqrt(root)
        f = a_s * r1 * (ul + sgamma * (ssal - fourth)) - (pext + ba0 * (root - sa0)) + pc
        df = r1 * (ul + sgamma * (ssal - 1.25 * fourth)) - ba0 * 0.5 / root
        delta = f / df
        a_s = a_s - delta
        if np.all(np.abs(delta) <= 1e-12 * a_s):
            break
    area[cells] = a_s
    u[cells] = tube_law.pressure_pa(a_s, area0, beta, pext) / (a_s * r1)
    return pc


def reflection_outlet(dt_s, dx_m, area, q, u, c, cells, rt, w1_0, w2_0) -> None:
    """Outlet with reflection coefficient Rt (openBF ``outlet_compatibility``); updates u, Q at ``cells``."""
    w2m1 = u[cells - 1] + 4.0 * c[cells - 1]
    w2m = u[cells] + 4.0 * c[cells]
    w2m = w2m + (w2m1 - w2m) * (u[cells] + c[cells]) * dt_s / dx_m
    w1m = w1_0 - rt * (w2m - w2_0)
    u[cells] = 0.5 * (w1m + w2m)
    q[cells] = area[cells] * u[cells]
