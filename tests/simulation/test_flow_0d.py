"""0-D solver: svZeroDSolver's published test cases against its stored results; a hand-calculated aorto-iliac clamp."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulation.flow import FlowModelError
from simulation.flow.compare import run_scenario
from simulation.flow.solver_0d import simulate_0d
from simulation.flow.zerod_io import load_zerod_model, parse_zerod
from tests.conftest import REPO_ROOT, require_data

DATA = "haemo-0d-svzerodsolver"
OPEN_LOOP = [
    "pulsatileFlow_CRL", "pulsatileFlow_CStenosis_steadyPressure", "pulsatileFlow_R_RCR", "pulsatileFlow_R_RCR_mean",
    "pulsatileFlow_bifurcationR_RCR_cycle_error", "steadyFlow_RC_R", "steadyFlow_RLC_R", "steadyFlow_RL_R",
    "steadyFlow_R_R", "steadyFlow_R_RCR", "steadyFlow_R_coronary", "steadyFlow_R_steadyPressure",
    "steadyFlow_bifurcationR_R1", "steadyFlow_bifurcationR_R2", "steadyFlow_blood_vessel_junction",
    "steadyFlow_confluenceR_R", "steadyFlow_stenosis_R",
]
CLOSED_LOOP = ["closedLoopHeart_singleVessel", "closedLoopHeart_withCoronaries"]


@pytest.mark.parametrize("case", OPEN_LOOP + CLOSED_LOOP)
def test_svzerodsolver_case_reproduced(case: str) -> None:
    root = require_data(DATA)
    result = simulate_0d(load_zerod_model(root / f"cases/{case}.json"))
    ref = json.loads((root / f"results/result_{case}.json").read_text())
    names = list(ref["name"].values())
    for col in ("pressure_in", "pressure_out", "flow_in", "flow_out"):
        values = np.array(list(ref[col].values()), dtype=float)
        for k, name in enumerate(result.names):
            expected = values[[i for i, n in enumerate(names) if n == name]]
            ours = getattr(result, col)[:, k]
            assert ours.shape == expected.shape, (name, col)
            # the acceptance is 1 %; the same generalised-alpha scheme on the same grid gives ~1e-10, so hold 1e-6
            scale = max(np.abs(expected).max(), 1e-12)
            assert np.max(np.abs(ours - expected)) <= 1e-6 * scale, (name, col)


def _closed_loop_config() -> dict:
    root = require_data(DATA)
    return json.loads((root / "cases/closedLoopHeart_withCoronaries.json").read_text())


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["closed_loop_blocks"][0].update(closed_loop_type="Other"), "unsupported closed_loop_type"),
    (lambda c: c["closed_loop_blocks"][0]["parameters"].pop("Elv_s"), "missing 'Elv_s'"),
    (lambda c: c["closed_loop_blocks"][0].update(outlet_blocks=["nope"]), "'outlet_blocks' must name vessels"),
    (lambda c: c["initial_condition"].update({"pressure:x:y": 1.0}), "initial_condition"),
    (lambda c: c.pop("closed_loop_blocks"), "need a ClosedLoopHeartAndPulmonary"),
    (lambda c: c["boundary_conditions"][2]["bc_values"].update(closed_loop_outlet=False), "drain into the heart"),
    (lambda c: c.update(chambers=[{"name": "x"}]), "'chambers' blocks are not supported"),
])
def test_bad_closed_loop_models_are_refused_clearly(edit, message: str) -> None:
    config = _closed_loop_config()
    edit(config)
    with pytest.raises(FlowModelError, match=message):
        parse_zerod(config)


def test_closed_loop_scenario_clamp_redistributes_flow() -> None:
    model = parse_zerod(_closed_loop_config())
    comp = run_scenario(model, "clamp:branch1_seg0")
    rows = {r["vessel"]: r for r in comp.rows()}
    assert rows["branch1_seg0"]["note"] == "clamped"
    # the heart now ejects into a higher resistance: aortic pressure rises, the other beds take more flow
    assert rows["branch0_seg0"]["mean_pressure_change"] > 3.0  # mmHg (the heart model's unit)
    for name in ("branch0_seg0", "branch2_seg0", "branch3_seg0"):
        assert rows[name]["mean_flow_change"] > 0.0
    assert sum(rows[n]["split_scenario"] for n in ("branch0_seg0", "branch2_seg0", "branch3_seg0")) == \
        pytest.approx(1.0, abs=0.02)


def _aorto_iliac(q: float = 100.0) -> dict:
    """Aorta into two iliacs with resistance outlets (CGS: mL/s, dyn s/cm^5, dyn/cm^2)."""
    vessel = lambda i, name, r, **bc: {"vessel_id": i, "vessel_name": name, "zero_d_element_type": "BloodVessel",  # noqa: E731
                                       "zero_d_element_values": {"R_poiseuille": r, "C": 1e-4}, "vessel_length": 10.0,
                                       "boundary_conditions": bc}
    return {
        "simulation_parameters": {"number_of_cardiac_cycles": 3, "number_of_time_pts_per_cardiac_cycle": 11},
        "boundary_conditions": [
            {"bc_name": "IN", "bc_type": "FLOW", "bc_values": {"Q": [q, q], "t": [0.0, 1.0]}},
            {"bc_name": "LEFT", "bc_type": "RESISTANCE", "bc_values": {"R": 1500.0, "Pd": 0.0}},
            {"bc_name": "RIGHT", "bc_type": "RESISTANCE", "bc_values": {"R": 1500.0, "Pd": 0.0}},
        ],
        "vessels": [vessel(0, "aorta", 100.0, inlet="IN"), vessel(1, "left_iliac", 500.0, outlet="LEFT"),
                    vessel(2, "right_iliac", 500.0, outlet="RIGHT")],
        "junctions": [{"junction_name": "J0", "junction_type": "NORMAL_JUNCTION", "inlet_vessels": [0],
                       "outlet_vessels": [1, 2]}],
    }


def test_clamping_left_iliac_matches_hand_calculation() -> None:
    model = parse_zerod(_aorto_iliac())
    comp = run_scenario(model, "clamp:left_iliac")
    # by hand: each iliac path is 500 + 1500 = 2000; in parallel 1000; aorta 100. Q = 100 mL/s.
    # baseline: P_in = 100 (100 + 1000) = 110,000 dyn/cm^2, 50 mL/s per iliac;
    # clamped: all 100 mL/s through the right path, P_in = 100 (100 + 2000) = 210,000 dyn/cm^2
    mmhg = 1333.22
    assert comp.baseline["aorta"].mean_pressure == pytest.approx(110_000 / mmhg, rel=1e-9)
    assert comp.modified["aorta"].mean_pressure == pytest.approx(210_000 / mmhg, rel=1e-9)
    assert comp.baseline["right_iliac"].mean_flow == pytest.approx(50.0, rel=1e-9)
    assert comp.modified["right_iliac"].mean_flow == pytest.approx(100.0, rel=1e-9)
    assert comp.modified["right_iliac"].split == pytest.approx(1.0, rel=1e-9)
    row = {r["vessel"]: r for r in comp.rows()}["left_iliac"]
    assert row["note"] == "clamped"
    assert row["mean_flow_scenario"] == 0.0


def test_stenosis_in_0d_is_poiseuille() -> None:
    model = parse_zerod(_aorto_iliac())
    comp = run_scenario(model, "stenosis:left_iliac:50")
    # a third of the vessel at half the radius (R x 2^4 there): R = 500 (2/3 + 16/3) = 3000;
    # left path 3000 + 1500 = 4500 against the right's 2000, in parallel
    left = 100.0 * 2000.0 / (4500.0 + 2000.0)
    assert comp.modified["left_iliac"].mean_flow == pytest.approx(left, rel=1e-9)
    assert comp.modified["right_iliac"].mean_flow == pytest.approx(100.0 - left, rel=1e-9)


def test_cli_runs_json_models(tmp_path: Path) -> None:
    root = require_data(DATA)
    case = root / "cases/steadyFlow_bifurcationR_R2.json"
    run = lambda *a: subprocess.run([sys.executable, "-m", "app.cli.flow_commands", "flow", *a],  # noqa: E731
                                    cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    done = run(str(case), "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    ours = json.loads((tmp_path / "o/result.json").read_text())
    ref = json.loads((root / "results/result_steadyFlow_bifurcationR_R2.json").read_text())
    assert list(ours["name"].values()) == list(ref["name"].values())
    assert np.allclose(list(ours["pressure_in"].values()), list(ref["pressure_in"].values()), rtol=1e-9)
    header = (tmp_path / "o/branch0_seg0_0d.csv").read_text().splitlines()[0]
    assert header == "t,pressure_in,pressure_out,flow_in,flow_out"
    bad = tmp_path / "bad.json"
    bad.write_text('{"vessels": [')
    failed = run(str(bad), "--out", str(tmp_path / "x"))
    assert failed.returncode == 2
    assert len(failed.stderr.strip().splitlines()) == 1
    unknown = run(str(case), "--out", str(tmp_path / "x"), "--scenario", "clamp:nope")
    assert unknown.returncode == 2
    assert "unknown vessel 'nope'" in unknown.stderr
