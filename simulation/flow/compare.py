"""Run a model and a scenario of it, and compare them per vessel: mean pressure, peak and mean flow, flow split.

``load_model`` reads either kind of model file (openBF YAML: 1-D; svZeroDSolver JSON: 0-D); ``summarise`` reduces a
run to per-vessel figures; ``run_scenario`` is the what-if API the CLI and the workstation use.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulation.flow.openbf_io import FlowModel, FlowModelError, load_openbf_model
from simulation.flow.scenarios import Scenario, apply_scenario, parse_scenario
from simulation.flow.zerod_io import ZeroDModel, load_zerod_model

__all__ = ["Comparison", "VesselSummary", "load_model", "run_any", "run_scenario", "summarise", "waveform"]

MMHG_PA = 133.322
MMHG_DYN_CM2 = 1333.22


def load_model(path: str | Path) -> FlowModel | ZeroDModel:
    """An openBF YAML model (1-D) or a svZeroDSolver JSON model (0-D), by file extension."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return load_zerod_model(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_openbf_model(path)
    raise FlowModelError(f"{path.name}: expected an openBF .yaml or a svZeroDSolver .json model")


def run_any(model: FlowModel | ZeroDModel, cycles: int | None = None, on_cycle=None):
    """Simulate a 1-D or 0-D model (SimulationResult or ZeroDResult); ``on_cycle(done, most)`` after each cycle."""
    if isinstance(model, ZeroDModel):
        from simulation.flow.solver_0d import simulate_0d

        return simulate_0d(model, cycles=cycles, on_cycle=on_cycle)
    from simulation.flow.solver_1d import simulate

    return simulate(model, cycles=cycles, on_cycle=on_cycle)


def waveform(result, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time (s from the cycle start), pressure (mmHg) and flow (mL/s for 1-D, the model's unit for 0-D) of vessel
    ``name`` over the last cycle, where :func:`summarise` takes its figures (1-D: mid-vessel; 0-D: inlet)."""
    if hasattr(result, "waveforms"):
        w = result.waveforms[name]
        t = w["P"][:, 0] - w["P"][0, 0]
        return t, w["P"][:, 3] / MMHG_PA, w["Q"][:, 3] * 1e6
    k = result.names.index(name)
    scale = result.extra.get("mmhg_per_unit", 1.0 / MMHG_DYN_CM2)
    return result.t_s - result.t_s[0], result.pressure_in[:, k] * scale, result.flow_in[:, k]


@dataclass
class VesselSummary:
    """Per-vessel figures over the last cycle: pressure in mmHg, flow in mL/s (1-D) or the model's units (0-D)."""

    mean_pressure: float
    systolic: float
    diastolic: float
    peak_flow: float
    mean_flow: float
    split: float  # mean flow / mean inflow of the network


def summarise(result) -> dict[str, VesselSummary]:
    """Figures at mid-vessel (1-D) or the vessel inlet (0-D); pressure converted to mmHg (0-D: from CGS, except
    closed-loop heart models, whose parameters are in mmHg)."""
    out = {}
    if hasattr(result, "waveforms"):
        inlet = result.extra.get("inlet_vessel", next(iter(result.waveforms)))
        q_in = float(np.mean(result.waveforms[inlet]["Q"][:, 1]))
        for label, w in result.waveforms.items():
            p, q = w["P"][:, 3] / MMHG_PA, w["Q"][:, 3] * 1e6
            out[label] = VesselSummary(float(p.mean()), float(p.max()), float(p.min()), float(q.max()),
                                       float(q.mean()), float(np.mean(w["Q"][:, 3]) / q_in) if q_in else np.nan)
        return out
    inflow = sum(float(np.mean(result.flow_in[:, k])) for k in range(len(result.names))
                 if result.extra.get("inlet_vessels") is None or k in result.extra["inlet_vessels"])
    for k, name in enumerate(result.names):
        p, q = result.pressure_in[:, k] * result.extra.get("mmhg_per_unit", 1.0 / MMHG_DYN_CM2), result.flow_in[:, k]
        out[name] = VesselSummary(float(p.mean()), float(p.max()), float(p.min()), float(q.max()), float(q.mean()),
                                  float(q.mean() / inflow) if inflow else np.nan)
    return out


@dataclass
class Comparison:
    """Baseline and scenario figures per vessel; ``notes`` say what the scenario did to each vessel."""

    scenario: str
    baseline: dict[str, VesselSummary]
    modified: dict[str, VesselSummary]
    notes: dict[str, str] = field(default_factory=dict)
    baseline_result: object = None
    scenario_result: object = None

    def rows(self) -> list[dict]:
        """One row per vessel present in either run (NaN where absent)."""
        rows = []
        nan = VesselSummary(*(np.nan,) * 6)
        for label in list(self.baseline) + [k for k in self.modified if k not in self.baseline]:
            b, m = self.baseline.get(label, nan), self.modified.get(label, nan)
            note = self.notes.get(label, "")
            if note == "clamped" and label not in self.modified:
                m = VesselSummary(np.nan, np.nan, np.nan, 0.0, 0.0, 0.0)  # occluded: no flow
            row = {"vessel": label, "note": note}
            for key in ("mean_pressure", "peak_flow", "mean_flow", "split"):
                row[f"{key}_baseline"] = getattr(b, key)
                row[f"{key}_scenario"] = getattr(m, key)
                row[f"{key}_change"] = getattr(m, key) - getattr(b, key)
            rows.append(row)
        return rows

    def write(self, out_dir: str | Path) -> list[Path]:
        """``comparison.csv`` and ``comparison.json`` in ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        csv_path, json_path = out / "comparison.csv", out / "comparison.json"
        with csv_path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
        clean = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()} for r in rows]
        units = {"pressure": "mmHg", "flow": "mL/s (1-D) or the model's flow unit (0-D)", "split": "fraction"}
        json_path.write_text(json.dumps({"scenario": self.scenario, "units": units, "vessels": clean}, indent=1))
        return [csv_path, json_path]


def run_scenario(model: FlowModel | ZeroDModel, scenario: Scenario | str | list, *,
                 cycles: int | None = None) -> Comparison:
    """Run ``model`` and the model edited by ``scenario`` (one or a list, applied in order); compare them."""
    scenarios = scenario if isinstance(scenario, list) else [scenario]
    scenarios = [parse_scenario(s) if isinstance(s, str) else s for s in scenarios]
    edited, notes = model, {}
    for sc in scenarios:
        edited, n = apply_scenario(edited, sc)
        notes.update(n)
    base = run_any(model, cycles)
    mod = run_any(edited, cycles)
    return Comparison(" + ".join(str(s) for s in scenarios), summarise(base), summarise(mod), notes, base, mod)
