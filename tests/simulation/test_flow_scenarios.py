"""Scenarios on 1-D networks: clamp and stenosis against physiology and Poiseuille; scenario text and errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulation.flow import FlowModelError, load_openbf_model
from simulation.flow.compare import load_model, run_scenario
from simulation.flow.scenarios import apply_scenario, parse_scenario
from tests.conftest import REPO_ROOT, require_data

DATA = "haemo-1d-openbf-boileau2015"


def _ibif():
    return load_model(require_data(DATA) / "boileau2015/ibif/ibif.yaml")


def test_clamping_one_daughter_sends_its_flow_to_the_other() -> None:
    model = _ibif()
    comp = run_scenario(model, "clamp:d1")
    base, mod = comp.baseline, comp.modified
    # two identical Windkessel outlets in parallel become one: the periphery's resistance doubles, so with the
    # prescribed inflow the mean pressure upstream about doubles and d2 takes all the flow
    assert base["d2"].split == pytest.approx(0.5, abs=0.01)
    assert mod["d2"].split == pytest.approx(1.0, abs=0.02)
    assert mod["parent"].mean_pressure / base["parent"].mean_pressure == pytest.approx(2.0, rel=0.05)
    assert mod["d2"].peak_flow > 1.3 * base["d2"].peak_flow
    assert "d1" not in mod
    assert {r["vessel"]: r for r in comp.rows()}["d1"]["mean_flow_scenario"] == 0.0


def test_stenosis_diverts_flow_and_drops_distal_pressure() -> None:
    comp = run_scenario(_ibif(), "stenosis:d1:75")
    base, mod = comp.baseline, comp.modified
    assert mod["d1-distal"].mean_flow < base["d1"].mean_flow
    assert mod["d2"].mean_flow > base["d2"].mean_flow
    assert mod["d1-distal"].mean_pressure < mod["d1"].mean_pressure  # pressure lost across the stenosis
    assert mod["d1-distal"].mean_pressure < base["d1"].mean_pressure


def _tube(folder: Path, q_m3_s: float) -> Path:
    np.savetxt(folder / "tube_inlet.dat", np.column_stack([[0.0, 0.5, 1.0], [q_m3_s] * 3]))
    (folder / "tube.yaml").write_text("""project_name: tube
blood: {rho: 1060.0, mu: 4.0e-3}
solver: {Ccfl: 0.9, cycles: 2, jump: 50, convergence_tolerance: 1.0e-9}
network:
  - {label: tube, sn: 1, tn: 2, L: 0.1, E: 4.0e6, R0: 5.0e-3, h0: 1.0e-3, gamma_profile: 2,
     R1: 1.0e8, R2: 1.0e9, Cc: 1.0e-12}
""")
    return folder / "tube.yaml"


def test_stenosis_pressure_drop_is_poiseuille(tmp_path: Path) -> None:
    q, mu = 2.0e-6, 4.0e-3
    model = load_openbf_model(_tube(tmp_path, q))
    comp = run_scenario(model, "stenosis:tube:50:20")
    w = comp.scenario_result.waveforms
    base = comp.baseline_result.waveforms["tube"]
    # inlet node of the proximal part to the outlet node of the distal part, against the same nodes of the baseline
    drop = w["tube"]["P"][-1, 1] - w["tube-distal"]["P"][-1, 5]
    drop0 = base["P"][-1, 1] - base["P"][-1, 5]

    def radius(a):
        return np.sqrt(np.mean(a[-1, 1:]) / np.pi)

    r_s, r = radius(w["tube-stenosis"]["A"]), radius(base["A"])
    # the stenotic 20 mm at half the radius replaces 20 mm at full radius: Poiseuille 8 mu L Q / (pi r^4) each
    extra = 8 * mu * 0.02 * q / np.pi * (1 / r_s**4 - 1 / r**4)
    assert drop - drop0 == pytest.approx(extra, rel=0.02)


def test_scenario_text_and_errors() -> None:
    assert parse_scenario("stenosis:d1:70:15").percent == 70
    assert parse_scenario("resection:d2").kind == "resect"
    assert parse_scenario("bypass:a:b:3").radius_mm == 3
    for bad in ("clamp", "stenosis:d1", "stenosis:d1:0", "stenosis:d1:120", "stent:d1:-2", "bypass:a", "melt:d1",
                "clamp:d1:extra"):
        with pytest.raises(FlowModelError):
            parse_scenario(bad)
    model = _ibif()
    with pytest.raises(FlowModelError, match="unknown vessel 'aorta'"):
        apply_scenario(model, "clamp:aorta")
    with pytest.raises(FlowModelError, match="inlet vessel"):
        apply_scenario(model, "clamp:parent")
    with pytest.raises(FlowModelError, match="does not fit"):
        apply_scenario(model, "stenosis:d1:50:200")


def test_cli_scenario_writes_comparison(tmp_path: Path) -> None:
    path = _tube(tmp_path, 2.0e-6)
    done = subprocess.run([sys.executable, "-m", "app.cli.flow_commands", "flow", str(path), "--out",
                           str(tmp_path / "o"), "--scenario", "stenosis:tube:60", "--scenario", "stent:tube"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    header = (tmp_path / "o/comparison.csv").read_text().splitlines()[0]
    assert header.startswith("vessel,note,mean_pressure_baseline,mean_pressure_scenario,mean_pressure_change")
    assert (tmp_path / "o/baseline/tube_P.csv").is_file()
    assert (tmp_path / "o/scenario/tube-stenosis_P.csv").is_file()
