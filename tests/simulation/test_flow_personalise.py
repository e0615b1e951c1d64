"""Personalisation: fitted outlet and inflow parameters recover known ones from a synthetic measurement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulation.flow import FlowModelError
from simulation.flow.compare import load_model, run_any
from simulation.flow.personalise import Measurements, calibrate, read_measurements_csv, scale_model, site_figures
from simulation.flow.zerod_io import parse_zerod
from tests.conftest import REPO_ROOT, require_data


def _aorta_rcr() -> dict:
    """Aorta into two RCR outlets, CGS; pulsatile inflow of mean 80 mL/s over 1 s."""
    t = np.linspace(0.0, 1.0, 101)
    q = 80.0 + 120.0 * np.maximum(np.sin(2 * np.pi * t / 0.7), 0) * (t < 0.35) - 20.0 * (t >= 0.35)
    vessel = lambda i, name, r, **bc: {"vessel_id": i, "vessel_name": name,  # noqa: E731
                                       "zero_d_element_values": {"R_poiseuille": r, "C": 1e-5, "L": 1.0},
                                       "boundary_conditions": bc}
    rcr = {"Rp": 100.0, "C": 5e-4, "Rd": 1800.0, "Pd": 0.0}
    return {
        "simulation_parameters": {"number_of_cardiac_cycles": 8, "number_of_time_pts_per_cardiac_cycle": 201},
        "boundary_conditions": [
            {"bc_name": "IN", "bc_type": "FLOW", "bc_values": {"Q": q.tolist(), "t": t.tolist()}},
            {"bc_name": "OUT1", "bc_type": "RCR", "bc_values": rcr},
            {"bc_name": "OUT2", "bc_type": "RCR", "bc_values": dict(rcr, Rd=2400.0)},
        ],
        "vessels": [vessel(0, "aorta", 20.0, inlet="IN"), vessel(1, "left", 60.0, outlet="OUT1"),
                    vessel(2, "right", 60.0, outlet="OUT2")],
        "junctions": [{"junction_name": "J", "inlet_vessels": [0], "outlet_vessels": [1, 2]}],
    }


def _recover(model, true=(1.25, 0.7, 1.15, 0.85)):
    truth = scale_model(model, *true)
    fig = site_figures(truth, run_any(truth))
    meas = Measurements(fig["systolic_mmhg"], fig["diastolic_mmhg"], fig["heart_rate_bpm"],
                        fig["cardiac_output_l_min"])
    return calibrate(model, meas), meas


def test_0d_calibration_recovers_known_parameters() -> None:
    cal, meas = _recover(parse_zerod(_aorta_rcr()))
    assert cal.converged
    assert cal.resistance_scale == pytest.approx(1.25, rel=0.01)
    assert cal.compliance_scale == pytest.approx(0.7, rel=0.02)
    assert cal.inflow_scale == pytest.approx(1.15, rel=1e-9)
    assert cal.period_s == pytest.approx(0.85, rel=1e-9)
    assert abs(cal.residual["systolic_mmhg"]) <= 0.25
    assert abs(cal.residual["diastolic_mmhg"]) <= 0.25
    assert 60 < meas.systolic_mmhg < 200  # the synthetic patient is physiological


def test_1d_calibration_recovers_known_parameters() -> None:
    model = load_model(require_data("haemo-1d-openbf-boileau2015") / "boileau2015/ibif/ibif.yaml")
    cal, _ = _recover(model, (1.3, 0.7, 1.2, 0.9))
    assert cal.converged
    assert cal.iterations <= 8
    assert cal.resistance_scale == pytest.approx(1.3, rel=0.01)
    assert cal.compliance_scale == pytest.approx(0.7, rel=0.02)
    assert cal.inflow_scale == pytest.approx(1.2, rel=1e-6)


def test_measurements_csv_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "monitor.csv"
    path.write_text("time,SBP,DBP,HR,CO\n08:00,121,79,70,5.1\n08:05,119,81,72,\n08:10,125,80,71,4.9\n")
    m = read_measurements_csv(path)
    assert (m.systolic_mmhg, m.diastolic_mmhg, m.heart_rate_bpm, m.cardiac_output_l_min) == (121, 80, 71, 5.0)
    (tmp_path / "bad.csv").write_text("time,HR\n1,70\n")
    with pytest.raises(FlowModelError, match="systolic and diastolic"):
        read_measurements_csv(tmp_path / "bad.csv")
    with pytest.raises(FlowModelError, match="diastolic < systolic"):
        Measurements(80, 120)


def test_cli_calibration(tmp_path: Path) -> None:
    model = tmp_path / "aorta.json"
    model.write_text(json.dumps(_aorta_rcr()))
    (tmp_path / "m.csv").write_text("systolic,diastolic,heart_rate,cardiac_output\n118,76,64,4.5\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "app.cli.flow_commands", "flow", str(model), *a],  # noqa: E731
                                    cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    done = run("--out", str(tmp_path / "o"), "--measurements", str(tmp_path / "m.csv"))
    assert done.returncode == 0, done.stderr
    cal = json.loads((tmp_path / "o/calibration.json").read_text())
    assert abs(cal["residual"]["systolic_mmhg"]) <= 0.25
    assert cal["achieved"]["heart_rate_bpm"] == pytest.approx(64)
    bad = run("--out", str(tmp_path / "x"), "--systolic", "80", "--diastolic", "120")
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
