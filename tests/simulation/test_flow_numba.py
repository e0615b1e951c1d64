"""The numba kernel against the numpy path, and the scalar junction solve against openBF's full Newton system."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import fsolve

from simulation.flow import load_openbf_model, tube_law
from simulation.flow.junctions import JunctionSet
from simulation.flow.network import build_network
from simulation.flow.solver_1d import Solver, numba_available
from tests.conftest import require_data

pytestmark = pytest.mark.skipif(not numba_available(), reason="numba is not installed")


def _run(solver: Solver, model, steps: int):
    state = solver.initial_state()
    for _ in range(steps):
        t, dt, _ = solver.advance(state, state.t_s, model.inlet_t_s, model.inlet_q_m3_s)
        state.t_s = t + dt
    return state


@pytest.mark.parametrize(("path", "steps"), [("boileau2015/ibif/ibif.yaml", 120),
                                             ("boileau2015/adan56/adan56.yaml", 40)])
def test_numba_step_matches_numpy(path: str, steps: int) -> None:
    # ibif: junction and Windkessel outlets; ADAN56: 77 vessels, tapered (openBF's taper source terms)
    root = require_data("haemo-1d-openbf-boileau2015")
    model = load_openbf_model(root / path)
    net = build_network(model)
    a, b = (Solver(net, model.ccfl, backend) for backend in ("numpy", "numba"))
    sa, sb = _run(a, model, steps), _run(b, model, steps)
    r = a.real_idx
    assert sa.t_s == pytest.approx(sb.t_s, rel=1e-8)  # dt follows the state: round-off only
    # same arithmetic in another order: round-off only. The superbee limiter amplifies any 1e-16 perturbation of
    # the start-up wave front (a numpy run perturbed by 1e-15 drifts as much), so compare early, at 1e-7
    assert np.max(np.abs(sa.area_m2[r] - sb.area_m2[r]) / sa.area_m2[r]) <= 1e-9
    assert np.max(np.abs(sa.q_m3_s[r] - sb.q_m3_s[r])) <= 1e-7 * np.max(np.abs(sa.q_m3_s[r]))
    assert np.allclose(sa.pc_pa, sb.pc_pa, rtol=1e-7, atol=1e-6)  # Pa; the wave has not reached the outlets


def test_scalar_junction_solve_matches_the_full_system() -> None:
    rng = np.random.default_rng(7)
    k = 4  # one parent, three daughters, unequal vessels
    area0 = np.pi * rng.uniform(2e-3, 6e-3, k) ** 2
    beta = tube_law.stiffness_beta_pa(area0, rng.uniform(5e-4, 1e-3, k), rng.uniform(3e5, 8e5, k))
    gamma = tube_law.flux_gamma(beta, area0, 1060.0)
    signs = np.array([1, -1, -1, -1])
    area = area0 * rng.uniform(1.05, 1.3, k)
    u = rng.uniform(0.05, 0.4, k)
    q = u * area
    cells = np.arange(k)
    js = JunctionSet([(cells, signs)], cells, cells, gamma, beta, area0)  # every "vessel" is one cell here
    a2, q2, u2 = area.copy(), q.copy(), u.copy()
    js.solve(a2, q2, u2)
    kc = np.sqrt(1.5 * gamma)
    s0 = area ** 0.25
    w = u + signs * 4 * kc * s0

    def full(x):  # openBF's 2k equations in (u, s)
        uu, s = x[:k], x[k:]
        p = beta * (s**2 / np.sqrt(area0) - 1)
        return np.concatenate([uu + signs * 4 * kc * s - w, [np.sum(signs * uu * s**4)], p[0] - p[1:]])

    x = fsolve(full, np.concatenate([u, s0]), xtol=1e-14)
    assert np.allclose(u2, x[:k], rtol=1e-9, atol=1e-12)
    assert np.allclose(a2, x[k:] ** 4, rtol=1e-10)
    assert abs(np.sum(signs * q2)) <= 1e-12 * np.max(np.abs(q2))
