"""Reading svZeroDSolver's JSON input files (``vessels``, ``boundary_conditions``, ``junctions``, parameters).

Supported blocks: BloodVessel (R, C, L, stenosis coefficient), BloodVesselCRL, FLOW, PRESSURE, RESISTANCE, RCR and
CORONARY boundary conditions, NORMAL_JUNCTION and BloodVesselJunction, and the closed loop of svZeroDSolver's
``ClosedLoopHeartAndPulmonary`` block with ``ClosedLoopRCR`` and ``ClosedLoopCoronaryLeft``/``Right`` outlets (their
equations are in :mod:`simulation.flow.heart_0d`); other closed-loop blocks (``chambers``, ``valves``) are refused
with a one-line error. Units are whatever the file uses (svZeroDSolver is
unit-agnostic; SimVascular's models use CGS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulation.flow.openbf_io import FlowModelError, read_number

__all__ = ["BoundaryCondition", "ClosedLoopHeart", "ZeroDJunction", "ZeroDModel", "ZeroDVessel", "load_zerod_model",
           "parse_zerod"]

BC_TYPES = ("FLOW", "PRESSURE", "RESISTANCE", "RCR", "CORONARY", "ClosedLoopRCR", "ClosedLoopCoronaryLeft",
            "ClosedLoopCoronaryRight")
CLOSED_LOOP_BCS = BC_TYPES[5:]
HEART_PARAMS = ("Tsa", "tpwave", "Erv_s", "Elv_s", "iml", "imr", "Lra_v", "Rra_v", "Lrv_a", "Rrv_a", "Lla_v", "Rla_v",
                "Llv_a", "Rlv_ao", "Vrv_u", "Vlv_u", "Rpd", "Cp", "Cpa", "Kxp_ra", "Kxv_ra", "Kxp_la", "Kxv_la",
                "Emax_ra", "Emax_la", "Vaso_ra", "Vaso_la")
HEART_STATES = ("V_RA", "Q_RA", "P_RV", "V_RV", "Q_RV", "P_pul", "P_LA", "V_LA", "Q_LA", "P_LV", "V_LV", "Q_LV")
VESSEL_TYPES = ("BloodVessel", "BloodVesselCRL")
JUNCTION_TYPES = ("NORMAL_JUNCTION", "junction", "BloodVesselJunction")


@dataclass
class ZeroDVessel:
    """One vessel block: R (Poiseuille), C, L, stenosis coefficient; CRL puts the capacitor at the inlet."""

    vessel_id: int
    name: str
    r: float
    c: float = 0.0
    l: float = 0.0  # noqa: E741 - svZeroDSolver's name for the inductance
    stenosis: float = 0.0
    crl: bool = False
    inlet_bc: str | None = None
    outlet_bc: str | None = None


@dataclass
class BoundaryCondition:
    """A named boundary condition; ``values`` holds floats or (t, value) tables as numpy arrays."""

    name: str
    kind: str
    values: dict[str, Any]


@dataclass
class ZeroDJunction:
    """Vessels joined at a point; a BloodVesselJunction adds R, L, stenosis on each outlet branch."""

    name: str
    inlets: list[int]
    outlets: list[int]
    kind: str = "NORMAL_JUNCTION"
    r: list[float] = field(default_factory=list)
    l: list[float] = field(default_factory=list)  # noqa: E741
    stenosis: list[float] = field(default_factory=list)


@dataclass
class ClosedLoopHeart:
    """svZeroDSolver's ClosedLoopHeartAndPulmonary: four chambers and the pulmonary circulation closing the loop.

    ``outlet_vessels`` are fed by the aorta (the heart's outlet); every closed-loop boundary condition drains into the
    right atrium. ``initial`` holds start values of its internal states (``V_RA``, ``P_pul``, ... as in
    :data:`HEART_STATES`).
    """

    params: dict[str, float]
    period_s: float
    outlet_vessels: list[str]
    initial: dict[str, float] = field(default_factory=dict)


@dataclass
class ZeroDModel:
    """A svZeroDSolver model: blocks and simulation parameters (``cycles``, ``points_per_cycle``, period)."""

    name: str
    vessels: list[ZeroDVessel]
    bcs: dict[str, BoundaryCondition]
    junctions: list[ZeroDJunction]
    cycles: int
    points_per_cycle: int
    period_s: float
    steady_initial: bool = True
    output_all_cycles: bool = False
    output_mean_only: bool = False
    cycle_error_percent: float | None = None
    absolute_tolerance: float = 1e-8
    extra: dict[str, Any] = field(default_factory=dict)
    heart: ClosedLoopHeart | None = None
    max_nonlinear_iterations: int = 30

    def vessel_index(self, name_or_id: str | int) -> int:
        """Position of a vessel in ``vessels`` from its name or id (FlowModelError if unknown)."""
        for k, v in enumerate(self.vessels):
            if v.name == name_or_id or str(v.vessel_id) == str(name_or_id):
                return k
        raise FlowModelError(f"unknown vessel {name_or_id!r} (known: {', '.join(v.name for v in self.vessels)})")


def _num(d: dict, key: str, where: str, default: float | None = None, positive: bool = False) -> float:
    return read_number(d, key, where, default, above=0.0 if positive else None, at_least=None if positive else 0.0)


def _table(values: dict, key: str, where: str) -> np.ndarray | float:
    raw = values.get(key)
    if raw is None:
        raise FlowModelError(f"{where}: missing {key!r}")
    if isinstance(raw, (int, float)):
        return float(raw)
    arr = np.asarray(raw, dtype=float)
    t = np.asarray(values.get("t", []), dtype=float)
    if arr.ndim != 1 or t.shape != arr.shape or arr.size < 1 or not np.all(np.isfinite(arr)):
        raise FlowModelError(f"{where}: {key!r} and 't' must be lists of numbers of the same length")
    if arr.size > 1 and np.any(np.diff(t) <= 0):
        raise FlowModelError(f"{where}: times 't' must increase")
    return np.stack([t, arr])


def parse_zerod(config: Any, name: str = "model") -> ZeroDModel:
    """Build a :class:`ZeroDModel` from the parsed JSON of a svZeroDSolver input file."""
    if not isinstance(config, dict) or not isinstance(config.get("vessels"), list) or not config["vessels"]:
        raise FlowModelError(f"{name}: not a svZeroDSolver model (needs a non-empty 'vessels' list)")
    for key in ("chambers", "valves", "external_solver_coupling_blocks"):
        if config.get(key):
            raise FlowModelError(f"{name}: '{key}' blocks are not supported")
    bcs = {}
    for b in config.get("boundary_conditions", []):
        if not isinstance(b, dict) or "bc_name" not in b:
            raise FlowModelError(f"{name}: a boundary condition without 'bc_name'")
        kind, where = str(b.get("bc_type")), f"boundary condition {b['bc_name']!r}"
        if kind not in BC_TYPES:
            raise FlowModelError(f"{where}: unsupported bc_type {kind!r} (supported: {', '.join(BC_TYPES)})")
        v = b.get("bc_values") or {}
        if kind == "FLOW":
            vals = {"Q": _table(v, "Q", where)}
        elif kind == "PRESSURE":
            vals = {"P": _table(v, "P", where)}
        elif kind == "RESISTANCE":
            vals = {"R": _num(v, "R", where), "Pd": _table(v, "Pd", where) if "Pd" in v else 0.0}
        elif kind == "RCR":
            vals = {k: _num(v, k, where, positive=k in ("C",)) for k in ("Rp", "C", "Rd")}
            vals["Rd"] = _num(v, "Rd", where, positive=True)
            vals["Pd"] = _table(v, "Pd", where) if "Pd" in v else 0.0
        elif kind == "ClosedLoopRCR":
            if not v.get("closed_loop_outlet", False):
                raise FlowModelError(f"{where}: a ClosedLoopRCR must drain into the heart ('closed_loop_outlet': true)")
            vals = {k: _num(v, k, where, positive=k in ("C", "Rd")) for k in ("Rp", "C", "Rd")}
        elif kind in CLOSED_LOOP_BCS:
            vals = {k: _num(v, k, where, positive=True) for k in ("Ra", "Ram", "Rv", "Ca", "Cim")}
        else:
            vals = {k: _num(v, k, where, positive=True) for k in ("Ra1", "Ra2", "Rv1", "Ca", "Cc")}
            vals["Pim"] = _table(v, "Pim", where)
            vals["P_v"] = _num(v, "P_v", where, 0.0)
        bcs[str(b["bc_name"])] = BoundaryCondition(str(b["bc_name"]), kind, vals)
    vessels = []
    for i, v in enumerate(config["vessels"]):
        if not isinstance(v, dict):
            raise FlowModelError(f"{name}: vessel entry {i + 1} is not a mapping")
        where = f"vessel {v.get('vessel_name', i)!r}"
        kind = v.get("zero_d_element_type", "BloodVessel")
        if kind not in VESSEL_TYPES:
            raise FlowModelError(f"{where}: unsupported zero_d_element_type {kind!r}")
        vals = v.get("zero_d_element_values") or {}
        b = v.get("boundary_conditions") or {}
        for end in ("inlet", "outlet"):
            if end in b and str(b[end]) not in bcs:
                raise FlowModelError(f"{where}: unknown {end} boundary condition {b[end]!r}")
        vessels.append(ZeroDVessel(
            int(v.get("vessel_id", i)), str(v.get("vessel_name", f"vessel{i}")), _num(vals, "R_poiseuille", where),
            _num(vals, "C", where, 0.0), _num(vals, "L", where, 0.0), _num(vals, "stenosis_coefficient", where, 0.0),
            kind == "BloodVesselCRL", b.get("inlet"), b.get("outlet")))
    ids = {v.vessel_id for v in vessels}
    if len(ids) != len(vessels):
        raise FlowModelError(f"{name}: two vessels share a vessel_id")
    junctions = []
    for j in config.get("junctions", []):
        where = f"junction {j.get('junction_name', '?')!r}"
        kind = str(j.get("junction_type", "NORMAL_JUNCTION"))
        if kind not in JUNCTION_TYPES:
            raise FlowModelError(f"{where}: unsupported junction_type {kind!r}")
        ins, outs = [int(x) for x in j.get("inlet_vessels", [])], [int(x) for x in j.get("outlet_vessels", [])]
        if not ins or not outs or not set(ins + outs) <= ids:
            raise FlowModelError(f"{where}: needs inlet and outlet vessels that exist")
        jv = j.get("junction_values") or {}
        if kind == "BloodVesselJunction":
            if len(ins) != 1:
                raise FlowModelError(f"{where}: a BloodVesselJunction has one inlet vessel")
            r = [float(x) for x in jv.get("R_poiseuille", [0.0] * len(outs))]
            ll = [float(x) for x in jv.get("L", [0.0] * len(outs))]
            s = [float(x) for x in jv.get("stenosis_coefficient", [0.0] * len(outs))]
            if not len(r) == len(ll) == len(s) == len(outs):
                raise FlowModelError(f"{where}: one R, L and stenosis coefficient per outlet vessel")
            junctions.append(ZeroDJunction(str(j.get("junction_name")), ins, outs, kind, r, ll, s))
        else:
            junctions.append(ZeroDJunction(str(j.get("junction_name")), ins, outs, "NORMAL_JUNCTION"))
    heart = _heart(config, name, {v.name for v in vessels})
    if heart is None and any(b.kind in CLOSED_LOOP_BCS for b in bcs.values()):
        raise FlowModelError(f"{name}: closed-loop boundary conditions need a ClosedLoopHeartAndPulmonary block")
    sp = config.get("simulation_parameters") or {}
    cycles = int(_num(sp, "number_of_cardiac_cycles", "simulation_parameters", 1, positive=True))
    points = int(_num(sp, "number_of_time_pts_per_cardiac_cycle", "simulation_parameters", 100, positive=True))
    if points < 2:
        raise FlowModelError("simulation_parameters: number_of_time_pts_per_cardiac_cycle must be at least 2")
    period = sp.get("cardiac_period")
    if heart is not None:
        if period is not None and float(period) != heart.period_s:
            raise FlowModelError(f"{name}: the heart's cardiac_cycle_period differs from simulation_parameters'")
        period = heart.period_s
    if period is None:
        # as svZeroDSolver: the period is that of the time-dependent boundary conditions (their last time)
        ends = [float(v[0, -1]) for b in bcs.values() for v in b.values.values()
                if isinstance(v, np.ndarray) and v.shape[1] > 1]
        period = max(ends) if ends else 1.0
    period = float(period)
    if not np.isfinite(period) or period <= 0:
        raise FlowModelError("simulation_parameters: the cardiac period must be positive")
    err = sp.get("sim_cycle_to_cycle_percent_error") if sp.get("use_cycle_to_cycle_error") else None
    return ZeroDModel(name, vessels, bcs, junctions, cycles, points, period,
                      bool(sp.get("steady_initial", True)), bool(sp.get("output_all_cycles", False)),
                      bool(sp.get("output_mean_only", False)), None if err is None else float(err),
                      float(sp.get("absolute_tolerance", 1e-8)), heart=heart,
                      max_nonlinear_iterations=int(_num(sp, "maximum_nonlinear_iterations", "simulation_parameters",
                                                        30, positive=True)))


def _heart(config: dict, name: str, vessel_names: set[str]) -> ClosedLoopHeart | None:
    """The ClosedLoopHeartAndPulmonary block (at most one) with its initial condition, or None."""
    blocks = config.get("closed_loop_blocks") or []
    if not isinstance(blocks, list):
        raise FlowModelError(f"{name}: 'closed_loop_blocks' must be a list")
    if not blocks:
        return None
    if len(blocks) > 1 or not isinstance(blocks[0], dict):
        raise FlowModelError(f"{name}: only one ClosedLoopHeartAndPulmonary block is supported")
    blk, where = blocks[0], "closed-loop heart"
    if blk.get("closed_loop_type") != "ClosedLoopHeartAndPulmonary":
        raise FlowModelError(f"{where}: unsupported closed_loop_type {blk.get('closed_loop_type')!r}")
    params = blk.get("parameters") or {}
    values = {k: _num(params, k, where) for k in HEART_PARAMS}
    for k in ("Tsa", "tpwave", "Rpd", "Cp", "Cpa"):
        if values[k] <= 0:
            raise FlowModelError(f"{where}: {k!r} must be a positive number")
    outlets = [str(x) for x in blk.get("outlet_blocks") or []]
    if not outlets or not set(outlets) <= vessel_names:
        raise FlowModelError(f"{where}: 'outlet_blocks' must name vessels of the model")
    initial = {}
    for key, value in (config.get("initial_condition") or {}).items():
        state, _, block = str(key).partition(":")
        if block != "CLH" or state not in HEART_STATES:
            raise FlowModelError(f"initial_condition: {key!r} is not supported (only the heart's, e.g. V_RA:CLH)")
        try:
            initial[state] = float(value)
        except (TypeError, ValueError):
            raise FlowModelError(f"initial_condition: {key!r} must be a number, got {value!r}") from None
        if not np.isfinite(initial[state]):
            raise FlowModelError(f"initial_condition: {key!r} must be finite")
    return ClosedLoopHeart(values, _num(blk, "cardiac_cycle_period", where, positive=True), outlets, initial)


def load_zerod_model(path: str | Path) -> ZeroDModel:
    """Read a svZeroDSolver JSON input file."""
    path = Path(path)
    if not path.is_file():
        raise FlowModelError(f"model file not found: {path}")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FlowModelError(f"{path.name}: not valid JSON ({exc})") from None
    return parse_zerod(config, path.stem)
