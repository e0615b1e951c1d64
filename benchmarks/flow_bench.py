"""Haemodynamics: wall time per simulated cardiac cycle of the 1-D solver (numba kernel against the numpy path, ADAN56
against first_blood's published figure) on openBF's cca, ibif, circle of Willis and ADAN56 models, the scaling with
the number of cells, and the 0-D solver against svZeroDSolver (PyPI ``svzerod``, when installed) on the same lumped
models in the same run.

1-D times are for one period of simulated time after a warm-up (numba's compilation excluded), so they are
"seconds per cycle" in steady running; the numpy path is timed on a fraction of a cycle and scaled (it is 10-40x
slower). 0-D times are whole ``simulate`` calls (assembly included), 10 cycles of 200 steps.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from benchmarks.common import Table, median

DATA = Path(os.environ.get("SURGITWIN_TEST_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
OPENBF = DATA / "haemo-1d-openbf-boileau2015"
MODELS = {
    "cca": OPENBF / "boileau2015/cca/cca.yaml",
    "ibif": OPENBF / "boileau2015/ibif/ibif.yaml",
    "circle_of_willis": OPENBF / "alastruey2007/circle_of_willis.yaml",
    "adan56": OPENBF / "boileau2015/adan56/adan56.yaml",
}
FIRST_BLOOD_S_PER_BEAT = 2.0  # first_blood (C++), full-body 1-D network, published (shared/PERFORMANCE.md)


def _seconds_per_cycle(model, backend: str, fraction: float, reps: int) -> tuple[float, int, int, float]:
    """Median wall seconds per period (from runs over ``fraction`` of one), steps per period, cells, and the
    median CPU seconds of this process per period (robust to other jobs on a shared machine)."""
    from simulation.flow.network import build_network
    from simulation.flow.solver_1d import Solver

    net = build_network(model)
    solver = Solver(net, model.ccfl, backend)
    state = solver.initial_state()
    args = (model.inlet_t_s, model.inlet_q_m3_s)
    t, dt, _ = solver.advance(state, 0.02 * model.period_s, *args)  # warm-up (and numba's first call)
    state.t_s = t + dt
    times, cpu, steps = [], [], []
    for _ in range(reps):
        start, start_cpu = time.perf_counter(), time.process_time()
        t, dt, n = solver.advance(state, state.t_s + fraction * model.period_s, *args)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        steps.append(n)
        state.t_s = t + dt
    return median(times) / fraction, int(median(steps) / fraction), int(net.real.sum()), median(cpu) / fraction


def _one_d(table: Table, quick: bool, reps: int) -> None:
    from simulation.flow import load_openbf_model
    from simulation.flow.solver_1d import numba_available

    if not numba_available():
        print("  numba not installed: the 1-D rows need it")
        return
    names = ["cca", "ibif", "adan56"] if quick else list(MODELS)
    for name in names:
        if not MODELS[name].is_file():
            print(f"  {name}: model not found under {OPENBF}")
            continue
        model = load_openbf_model(MODELS[name])
        ours, steps, cells, ours_cpu = _seconds_per_cycle(model, "numba", 1.0 if not quick else 0.25,
                                                          max(1, min(reps, 3)))
        np_fraction = (0.25 if name in ("cca", "ibif") else 0.03) / (2 if quick else 1)
        numpy_s, _, _, _ = _seconds_per_cycle(model, "numpy", np_fraction, 1)
        table.add(f"1-D {name} ({cells} cells, {steps} steps/cycle): s per cycle", ours, numpy_s,
                  peer_name="numpy path", note=f"numpy timed on {np_fraction:.0%} of a cycle")
        table.add(f"1-D {name}: ns per cell-step (scaling)", ours / (steps * cells) * 1e9, None, unit="ns")
        if name == "adan56":
            table.add("1-D adan56: s per 1-s cycle vs first_blood", ours / model.period_s, FIRST_BLOOD_S_PER_BEAT,
                      peer_name="first_blood (published)", note="goal <= 2 s on 2 cores")
            table.add("1-D adan56: CPU s per 1-s cycle (this process)", ours_cpu / model.period_s,
                      FIRST_BLOOD_S_PER_BEAT, peer_name="first_blood (published)",
                      note="wall minus time lost to other jobs")


def _zero_d(table: Table, quick: bool, reps: int) -> None:
    from simulation.flow import load_openbf_model
    from simulation.flow.convert import openbf_to_zerod
    from simulation.flow.solver_0d import simulate_0d
    from simulation.flow.zerod_io import parse_zerod

    try:
        import svzerod
    except ImportError:
        svzerod = None
        print("  svzerod not installed (pip install svzerod): 0-D rows without a peer")
    cases = {name: openbf_to_zerod(load_openbf_model(MODELS[name])) for name in ("ibif", "adan56")
             if MODELS[name].is_file()}
    rcr = DATA / "haemo-0d-svzerodsolver/cases/pulsatileFlow_R_RCR.json"
    if rcr.is_file():
        cases["svZeroDSolver pulsatileFlow_R_RCR"] = json.loads(rcr.read_text())
    for name, config in cases.items():
        runs = max(1, min(reps, 3) if quick else reps)
        ours = median(_timed(lambda c=config: simulate_0d(parse_zerod(c))) for _ in range(runs))
        peer = median(_timed(lambda c=config: svzerod.simulate(c)) for _ in range(runs)) if svzerod else None
        n = len(config["vessels"])
        cycles = config["simulation_parameters"]["number_of_cardiac_cycles"]
        table.add(f"0-D {name} ({n} vessels, {cycles} cycles): whole simulate", ours, peer,
                  peer_name="svzerod 3.2" if svzerod else "", note="same JSON input, in-process")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(table: Table, *, quick: bool, reps: int) -> None:
    """1-D seconds per cycle (numba vs numpy, ADAN56 vs first_blood), cell-step scaling, 0-D vs svzerod."""
    _one_d(table, quick, reps)
    _zero_d(table, quick, reps)
