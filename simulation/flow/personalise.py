"""Personalisation: fit outlet resistances, compliances and the inflow to a patient's measured pressures and flow.

Inputs (typed in or read from a CSV of monitor/wearable readings): systolic and diastolic pressure (mmHg), heart
rate (beats/min) and cardiac output (L/min). The heart rate sets the period (the inflow waveform is stretched in
time); the cardiac output sets the inflow scale directly (the models are flow-driven). Then two factors are fitted:
one on every outlet's peripheral resistance (R2 of a 1-D Windkessel, Rd and R of 0-D RCR/resistance outlets) that
sets the pressure level, one on every outlet compliance that sets the pulse pressure. The fit is a Broyden
iteration on (log mid-pressure, log pulse pressure) against (log resistance factor, log compliance factor),
started from the Windkessel sensitivities (+1 and about -1), a simulation per iteration.

Pressures are read at the network inlet (1-D: first node of the inlet vessel; 0-D: inlet pressure of the inlet
vessels), i.e. central pressure; 0-D models are taken to be in SimVascular's CGS units (dyn/cm^2, mL/s).
"""

from __future__ import annotations

import copy
import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulation.flow.openbf_io import FlowModel, FlowModelError
from simulation.flow.zerod_io import ZeroDModel

__all__ = ["Calibration", "Measurements", "calibrate", "read_measurements_csv", "scale_model", "site_figures"]

MMHG_PA = 133.322
MMHG_DYN_CM2 = 1333.22


@dataclass
class Measurements:
    """What the patient's monitor gives; heart rate and cardiac output are optional."""

    systolic_mmhg: float
    diastolic_mmhg: float
    heart_rate_bpm: float | None = None
    cardiac_output_l_min: float | None = None

    def __post_init__(self) -> None:
        s, d = self.systolic_mmhg, self.diastolic_mmhg
        if not (np.isfinite(s) and np.isfinite(d) and 0 < d < s < 400):
            raise FlowModelError(f"measurements: need 0 < diastolic < systolic < 400 mmHg, got {s}/{d}")
        if self.heart_rate_bpm is not None and not 20 <= self.heart_rate_bpm <= 250:
            raise FlowModelError(f"measurements: heart rate {self.heart_rate_bpm} bpm is outside 20-250")
        if self.cardiac_output_l_min is not None and not 0.2 <= self.cardiac_output_l_min <= 30:
            raise FlowModelError(f"measurements: cardiac output {self.cardiac_output_l_min} L/min is outside 0.2-30")


_COLUMNS = {
    "systolic_mmhg": ("systolic", "systolic_mmhg", "sbp", "sys"),
    "diastolic_mmhg": ("diastolic", "diastolic_mmhg", "dbp", "dia"),
    "heart_rate_bpm": ("heart_rate", "heart_rate_bpm", "hr", "pulse"),
    "cardiac_output_l_min": ("cardiac_output", "cardiac_output_l_min", "co"),
}


def read_measurements_csv(path: str | Path) -> Measurements:
    """A CSV with a header naming some of systolic, diastolic, heart_rate, cardiac_output (or SBP, DBP, HR, CO);
    several rows (a monitor's readings) are reduced to their medians."""
    path = Path(path)
    if not path.is_file():
        raise FlowModelError(f"measurements file not found: {path}")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise FlowModelError(f"{path.name}: no readings (needs a header row and at least one reading)")
    values = {}
    for key, names in _COLUMNS.items():
        col = next((c for c in rows[0] if c and c.strip().lower() in names), None)
        if col is None:
            continue
        try:
            nums = [float(r[col]) for r in rows if r.get(col, "").strip()]
        except ValueError:
            raise FlowModelError(f"{path.name}: column {col!r} holds a value that is not a number") from None
        if nums:
            values[key] = float(np.median(nums))
    if "systolic_mmhg" not in values or "diastolic_mmhg" not in values:
        raise FlowModelError(f"{path.name}: needs systolic and diastolic columns")
    return Measurements(**values)


def scale_model(model: FlowModel | ZeroDModel, r_scale: float = 1.0, c_scale: float = 1.0, q_scale: float = 1.0,
                period_s: float | None = None) -> FlowModel | ZeroDModel:
    """A copy with peripheral resistances x r_scale, outlet compliances x c_scale, inflow x q_scale, new period."""
    m = copy.deepcopy(model)
    if isinstance(m, ZeroDModel):
        for bc in m.bcs.values():
            if bc.kind == "RCR":
                bc.values["Rd"] *= r_scale
                bc.values["C"] *= c_scale
            elif bc.kind == "RESISTANCE":
                bc.values["R"] *= r_scale
        inlet_bcs = {v.inlet_bc for v in m.vessels if v.inlet_bc}
        for name in inlet_bcs:
            bc = m.bcs[name]
            if bc.kind == "FLOW":
                q = bc.values["Q"]
                if isinstance(q, np.ndarray):
                    q = q.copy()
                    q[1] *= q_scale
                    if period_s is not None:
                        q[0] *= period_s / m.period_s
                    bc.values["Q"] = q
                else:
                    bc.values["Q"] = q * q_scale
        if period_s is not None:
            m.period_s = period_s
        return m
    for v in m.vessels:
        if float(v.get("R1", 0) or 0) > 0:
            key = "R2" if float(v.get("R2", 0) or 0) > 0 else "R1"  # no R2: openBF's R1 is the total resistance
            v[key] = float(v[key]) * r_scale
            v["Cc"] = float(v["Cc"]) * c_scale
    m.inlet_q_m3_s = m.inlet_q_m3_s * q_scale
    if period_s is not None:
        m.inlet_t_s = m.inlet_t_s * (period_s / m.period_s)
    return m


def _check_calibratable(model: FlowModel | ZeroDModel) -> None:
    if isinstance(model, ZeroDModel):
        ok = any(bc.kind in ("RCR", "RESISTANCE") for bc in model.bcs.values())
        ok = ok and any(model.bcs[v.inlet_bc].kind == "FLOW" for v in model.vessels if v.inlet_bc)
    else:
        ok = any(float(v.get("R1", 0) or 0) > 0 for v in model.vessels)
    if not ok:
        raise FlowModelError("calibration needs a flow-driven model with Windkessel (RCR) or resistance outlets")


def site_figures(model: FlowModel | ZeroDModel, result) -> dict[str, float]:
    """Systolic, diastolic, mean pressure (mmHg) at the network inlet, cardiac output (L/min), heart rate."""
    if isinstance(model, ZeroDModel):
        p = result.pressure_in[:, result.extra["inlet_vessels"][0]] / MMHG_DYN_CM2
        co = _mean_inflow(model) * 60.0 / 1000.0   # mL/s -> L/min
    else:
        p = next(iter(result.waveforms.values()))["P"][:, 1] / MMHG_PA
        co = _mean_inflow(model) * 60.0 * 1000.0   # m^3/s -> L/min
    period = model.period_s
    return {"systolic_mmhg": float(p.max()), "diastolic_mmhg": float(p.min()), "mean_mmhg": float(p.mean()),
            "cardiac_output_l_min": co, "heart_rate_bpm": 60.0 / period}


@dataclass
class Calibration:
    """Fitted factors and period, what the fitted model gives, residuals (fitted - measured) and history."""

    resistance_scale: float
    compliance_scale: float
    inflow_scale: float
    period_s: float
    achieved: dict[str, float]
    residual: dict[str, float]
    iterations: int
    converged: bool
    model: object = None
    history: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-friendly summary (no model)."""
        return {"fitted": {"resistance_scale": self.resistance_scale, "compliance_scale": self.compliance_scale,
                           "inflow_scale": self.inflow_scale, "period_s": self.period_s},
                "achieved": self.achieved, "residual": self.residual, "iterations": self.iterations,
                "converged": self.converged, "history": self.history}


def _mean_inflow(model: FlowModel | ZeroDModel) -> float:
    """Mean inflow over a period: m^3/s (1-D) or the model's flow unit (0-D, mL/s in CGS)."""
    if isinstance(model, ZeroDModel):
        from simulation.flow.solver_0d import _evaluate

        t = np.linspace(0.0, model.period_s, 4001)[:-1]
        return sum(float(np.mean(_evaluate(model.bcs[v.inlet_bc].values["Q"], t, model.period_s)))
                   for v in model.vessels if v.inlet_bc and model.bcs[v.inlet_bc].kind == "FLOW")
    t = np.linspace(0.0, model.period_s, 4001)[:-1]
    return float(np.mean(np.interp(t, model.inlet_t_s, model.inlet_q_m3_s)))


def calibrate(model: FlowModel | ZeroDModel, meas: Measurements, *, max_iter: int = 12, tol_mmhg: float = 0.25,
              cycles: int | None = None) -> Calibration:
    """Fit ``model`` to ``meas`` (see the module docstring); FlowModelError if the model cannot be calibrated."""
    from simulation.flow.compare import run_any

    _check_calibratable(model)
    period = 60.0 / meas.heart_rate_bpm if meas.heart_rate_bpm else model.period_s
    q_scale = 1.0
    if meas.cardiac_output_l_min:
        q_mean = _mean_inflow(model)
        unit = 1000.0 / 60.0 if isinstance(model, ZeroDModel) else 1e-3 / 60.0  # L/min -> mL/s or m^3/s
        if q_mean <= 0:
            raise FlowModelError("calibration: the model's mean inflow is not positive")
        q_scale = meas.cardiac_output_l_min * unit / q_mean
    target = np.log([0.5 * (meas.systolic_mmhg + meas.diastolic_mmhg), meas.systolic_mmhg - meas.diastolic_mmhg])
    x = np.zeros(2)                     # log resistance factor, log compliance factor
    jac = np.array([[1.0, 0.0], [0.3, -0.8]])  # Windkessel sensitivities: a start, Broyden refines them
    history, fig, f_prev, x_prev, fitted = [], None, None, None, None
    converged = False
    for _ in range(max_iter):
        fitted = scale_model(model, float(np.exp(x[0])), float(np.exp(x[1])), q_scale, period)
        fig = site_figures(fitted, run_any(fitted, cycles))
        pp = fig["systolic_mmhg"] - fig["diastolic_mmhg"]
        if pp <= 0:
            raise FlowModelError("calibration: the model gives no pulse pressure at the inlet")
        f = np.log([0.5 * (fig["systolic_mmhg"] + fig["diastolic_mmhg"]), pp]) - target
        history.append({"resistance_scale": float(np.exp(x[0])), "compliance_scale": float(np.exp(x[1])),
                        "systolic_mmhg": fig["systolic_mmhg"], "diastolic_mmhg": fig["diastolic_mmhg"]})
        if (abs(fig["systolic_mmhg"] - meas.systolic_mmhg) <= tol_mmhg
                and abs(fig["diastolic_mmhg"] - meas.diastolic_mmhg) <= tol_mmhg):
            converged = True
            break
        if f_prev is not None:
            dx, df = x - x_prev, f - f_prev
            if np.dot(dx, dx) > 0:
                jac = jac + np.outer(df - jac @ dx, dx) / np.dot(dx, dx)
        step = -np.linalg.solve(jac, f)
        step = np.clip(step, -0.7, 0.7)  # no more than a factor 2 per iteration: keeps the runs stable
        x_prev, f_prev = x.copy(), f
        x = x + step
    achieved = {k: fig[k] for k in ("systolic_mmhg", "diastolic_mmhg", "mean_mmhg", "cardiac_output_l_min",
                                     "heart_rate_bpm")}
    residual = {"systolic_mmhg": fig["systolic_mmhg"] - meas.systolic_mmhg,
                "diastolic_mmhg": fig["diastolic_mmhg"] - meas.diastolic_mmhg}
    if meas.cardiac_output_l_min:
        residual["cardiac_output_l_min"] = fig["cardiac_output_l_min"] - meas.cardiac_output_l_min
    if meas.heart_rate_bpm:
        residual["heart_rate_bpm"] = fig["heart_rate_bpm"] - meas.heart_rate_bpm
    return Calibration(float(np.exp(x[0])), float(np.exp(x[1])), q_scale, period, achieved, residual, len(history),
                       converged, fitted, history)
