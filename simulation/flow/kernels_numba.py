"""numba-compiled time stepping of the 1-D network: the numpy solver's step, fused into loops over cells.

The numpy path (:class:`simulation.flow.solver_1d.Solver` with ``backend="numpy"``) stays the reference; this one
computes the same MUSCL-Hancock step with the same boundary conditions cell by cell, so that a whole run of steps
between two sampling instants is one compiled call (numpy's per-call overhead dominated: ~100 array operations per
step on arrays of a few thousand cells). tests/simulation/test_flow_numba.py checks that both paths agree.

``geo`` is the tuple built by :meth:`Solver._numba_geometry`; ``work`` is a (9, N) scratch array.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["advance", "inlet_flow"]

# fastmath without nnan/ninf: lets LLVM vectorise sqrt/div and the min reduction, keeps NaN checks meaningful
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}
_JIT = {"cache": True, "fastmath": _FM, "error_model": "numpy"}



@njit(**_JIT)
def inlet_flow(t: float, table_t: np.ndarray, table_q: np.ndarray) -> float:
    """Periodic piecewise-linear inlet flow; the first table segment containing the phase (as openBF)."""
    period = table_t[-1]
    ph = t - math.floor(t / period) * period
    i = 0
    for k in range(table_t.size - 1):
        if ph >= table_t[k] and ph <= table_t[k + 1]:
            i = k
            break
    t0, t1 = table_t[i], table_t[i + 1]
    return table_q[i] + (ph - t0) * (table_q[i + 1] - table_q[i]) / (t1 - t0)


@njit(inline="always", **_JIT)
def _superbee(back: float, fwd: float) -> float:
    ab, af = abs(back), abs(fwd)
    mag = math.copysign(max(min(ab, 2.0 * af), min(2.0 * ab, af)), back)
    return mag if back * fwd > 0.0 else 0.0


@njit(inline="always", **_JIT)
def _momentum_flux(a: float, q: float, gamma: float) -> float:
    return q * q / a + gamma * a * math.sqrt(a)


@njit(**_JIT)
def _fill_ghosts(x, y, first, last, k0=0, k1=-1) -> None:
    for k in range(k0, first.size if k1 < 0 else k1):
        i0, i1 = first[k], last[k]
        x[i0 - 1] = x[i0]
        y[i0 - 1] = y[i0]
        x[i1 + 1] = x[i1]
        y[i1 + 1] = y[i1]


@njit(**_JIT)
def _fluxes(a, q, half_dx_keep, inv_dx, dx, gamma, inv_dt, work, lo, hi) -> None:
    """Interface fluxes ``fa[j], fq[j]`` (between flat cells j and j+1) of flat cells lo .. hi-1, ghosts filled.

    ``lo`` and ``hi - 1`` are ghost cells (a run of whole vessels), so the range is self-contained.

    Two passes over the flat arrays (slopes with face fluxes, then interfaces) rather than one loop carrying the
    previous face: neither has a loop-carried dependence, so LLVM vectorises the square roots and divisions.
    Interfaces between two vessels' ghosts give garbage that only ever lands in ghost cells.
    """
    sa, sq, mr, ml, fa, fq = work[0], work[1], work[2], work[3], work[4], work[5]
    for i in (lo, hi - 1):  # the range's end cells are ghosts: no slope
        sa[i] = 0.0
        sq[i] = 0.0
        mr[i] = ml[i] = _momentum_flux(a[i], q[i], gamma[i])
    for i in range(lo + 1, hi - 1):
        h = half_dx_keep[i]  # 0 in ghosts
        sai = _superbee((a[i] - a[i - 1]) * inv_dx[i - 1], (a[i + 1] - a[i]) * inv_dx[i]) * h
        sqi = _superbee((q[i] - q[i - 1]) * inv_dx[i - 1], (q[i + 1] - q[i]) * inv_dx[i]) * h
        sa[i] = sai
        sq[i] = sqi
        mr[i] = _momentum_flux(a[i] + sai, q[i] + sqi, gamma[i])  # the cell's right face
        ml[i] = _momentum_flux(a[i] - sai, q[i] - sqi, gamma[i])  # and its left face
    for j in range(lo, hi - 1):
        speed = dx[j] * inv_dt
        qr = q[j + 1] - sq[j + 1]
        ql = q[j] + sq[j]
        fa[j] = 0.5 * (qr + ql - speed * ((a[j + 1] - sa[j + 1]) - (a[j] + sa[j])))
        fq[j] = 0.5 * (ml[j + 1] + mr[j] - speed * (qr - ql))


@njit(**_JIT)
def _rate(a, q, i, inv_dx, gamma) -> float:
    return abs(q[i] / a[i] + math.sqrt(1.5 * gamma[i] * math.sqrt(a[i]))) * inv_dx[i]


@njit(**_JIT)
def _time_step(a, q, first, last, inv_dx, gamma, ccfl, rate, fresh) -> float:
    """Ccfl * min over real cells of dx / |u + c| (u = Q/A, as openBF), as Ccfl / max |u + c| / dx.

    ``rate`` holds |u + c| / dx per cell from the end of the previous step (:func:`_step` computes it while it
    has the new state in registers); only the vessel ends, which the boundary conditions changed afterwards, are
    recomputed here. ``fresh`` recomputes every cell (first step, or a state changed from outside).
    """
    worst = 0.0
    for k in range(first.size):
        i0, i1 = first[k], last[k]
        if fresh:
            for i in range(i0, i1 + 1):
                rate[i] = _rate(a, q, i, inv_dx, gamma)
        else:
            rate[i0] = _rate(a, q, i0, inv_dx, gamma)
            rate[i1] = _rate(a, q, i1, inv_dx, gamma)
        for i in range(i0, i1 + 1):
            if rate[i] > worst or rate[i] != rate[i]:  # NaN wins: an unstable run gets a NaN time step
                worst = rate[i]
    return ccfl / worst


@njit(**_JIT)
def _interior(a, q, u, dt, geo, work, lo, hi, k0, k1) -> None:
    """Both MUSCL stages and the source terms on flat cells lo .. hi-1 (vessels k0 .. k1-1)."""
    first, last, inv_dx, half_dx_keep, dx, gamma = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    visc, taper, tau, inv_sqrt_a0 = geo[6], geo[7], geo[11], geo[12]
    va, vq, fa, fq, rate = work[6], work[7], work[4], work[5], work[8]
    inv_dt = 1.0 / dt
    _fill_ghosts(a, q, first, last, k0, k1)
    _fluxes(a, q, half_dx_keep, inv_dx, dx, gamma, inv_dt, work, lo, hi)
    for i in range(lo + 1, hi - 1):
        lam = dt * inv_dx[i]
        va[i] = a[i] + lam * (fa[i - 1] - fa[i])
        vq[i] = q[i] + lam * (fq[i - 1] - fq[i])
    _fill_ghosts(va, vq, first, last, k0, k1)
    _fluxes(va, vq, half_dx_keep, inv_dx, dx, gamma, inv_dt, work, lo, hi)
    for i in range(lo + 1, hi - 1):
        lam = dt * inv_dx[i]
        an = 0.5 * (a[i] + va[i] + lam * (fa[i - 1] - fa[i]))
        qn = 0.5 * (q[i] + vq[i] + lam * (fq[i - 1] - fq[i]))
        inv_a = 1.0 / an
        root = math.sqrt(an)
        qn -= visc[i] * qn * inv_a * dt
        qn += dt * (taper[i] * root * an - tau[i] * an * (root * inv_sqrt_a0[i] - 1.0))  # openBF's taper terms
        a[i] = an
        q[i] = qn
        ui = qn * inv_a
        u[i] = ui
        rate[i] = abs(ui + math.sqrt(1.5 * gamma[i] * root)) * inv_dx[i]  # CFL rate, for the next step
    _fill_ghosts(a, q, first, last, k0, k1)


@njit(**_JIT)
def _step(a, q, u, pc, dt, q_in, geo, work) -> None:
    (first, _, _, _, dx, gamma, _, _, beta, area0, pext, _, _, inlet_cells,
     wk_cells, r1, r2, cc, rf_cells, rt, rf_w1_0, rf_w2_0,
     j_off, j_cells, j_sg, j_kc4, j_beta, j_sa0) = geo
    for c in inlet_cells:
        q[c] = q_in
    # (two threads over whole-vessel chunks were tried: the per-step hand-off made ADAN56 3x slower on 2 shared
    # cores, so the interior runs on one thread)
    _interior(a, q, u, dt, geo, work, 0, a.size, 0, first.size)
    # three-element Windkessel outlets (openBF): capacitor update, then Newton on the outlet area
    for o in range(wk_cells.size):
        c = wk_cells[o]
        al, ul = a[c], u[c]
        pc[o] += dt / cc[o] * (al * ul - pc[o] / r2[o])
        ssal = math.sqrt(math.sqrt(al))
        sgamma = 2.0 * math.sqrt(6.0 * gamma[c])
        sa0 = math.sqrt(area0[c])
        ba0 = beta[c] / sa0
        a_s = al
        for _ in range(10):
            root = math.sqrt(a_s)
            fourth = math.sqrt(root)
            f = a_s * r1[o] * (ul + sgamma * (ssal - fourth)) - (pext[c] + ba0 * (root - sa0)) + pc[o]
            df = r1[o] * (ul + sgamma * (ssal - 1.25 * fourth)) - ba0 * 0.5 / root
            delta = f / df
            a_s -= delta
            if abs(delta) <= 1e-12 * a_s:
                break
        a[c] = a_s
        u[c] = (pext[c] + beta[c] * (math.sqrt(a_s / area0[c]) - 1.0)) / (a_s * r1[o])
    # reflection-coefficient outlets (openBF outlet_compatibility)
    for o in range(rf_cells.size):
        c = rf_cells[o]
        cm1 = math.sqrt(1.5 * gamma[c - 1] * math.sqrt(a[c - 1]))
        cm = math.sqrt(1.5 * gamma[c] * math.sqrt(a[c]))
        w2m1 = u[c - 1] + 4.0 * cm1
        w2m = u[c] + 4.0 * cm
        w2m = w2m + (w2m1 - w2m) * (u[c] + cm) * dt / dx[c]
        w1m = rf_w1_0[o] - rt[o] * (w2m - rf_w2_0[o])
        u[c] = 0.5 * (w1m + w2m)
        q[c] = a[c] * u[c]
    # junctions: scalar Newton on the common pressure (see simulation.flow.junctions)
    for jn in range(j_off.size - 1):
        e0, e1 = j_off[jn], j_off[jn + 1]
        w = np.empty(e1 - e0)
        for e in range(e0, e1):
            s = math.sqrt(math.sqrt(a[j_cells[e]]))
            w[e - e0] = u[j_cells[e]] + j_sg[e] * j_kc4[e] * s
        s = math.sqrt(math.sqrt(a[j_cells[e0]]))
        p = j_beta[e0] * (s * s / j_sa0[e0] - 1.0)
        for _ in range(30):
            mass = 0.0
            dmass = 0.0
            for e in range(e0, e1):
                s2 = j_sa0[e] * (1.0 + p / j_beta[e])
                s = math.sqrt(s2)
                uu = w[e - e0] - j_sg[e] * j_kc4[e] * s
                mass += j_sg[e] * uu * s2 * s2
                dmass += (4.0 * j_sg[e] * uu - j_kc4[e] * s) * s2 * j_sa0[e] / (2.0 * j_beta[e])
            dp = mass / dmass
            p -= dp
            if abs(dp) <= 1e-11 * (abs(p) + j_beta[e0]):
                break
        for e in range(e0, e1):
            c = j_cells[e]
            s2 = j_sa0[e] * (1.0 + p / j_beta[e])
            uu = w[e - e0] - j_sg[e] * j_kc4[e] * math.sqrt(s2)
            a[c] = s2 * s2
            u[c] = uu
            q[c] = uu * s2 * s2


@njit(**_JIT)
def advance(a, q, u, pc, t, t_stop, ccfl, inlet_t, inlet_q, geo, work, max_steps):
    """Steps until one starting at or after ``t_stop`` is done: returns (its start time, its dt, steps run)."""
    first, last, inv_dx, gamma = geo[0], geo[1], geo[2], geo[5]
    n = 0
    dt = 0.0
    while True:
        dt = _time_step(a, q, first, last, inv_dx, gamma, ccfl, work[8], n == 0)
        _step(a, q, u, pc, dt, inlet_flow(t, inlet_t, inlet_q), geo, work)
        n += 1
        if t >= t_stop or n >= max_steps or not math.isfinite(dt):
            return t, dt, n
        t += dt
