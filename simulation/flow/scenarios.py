"""Surgical what-ifs on a vessel network: clamp, stenosis, stent, bypass graft, resection (1-D and 0-D models).

A scenario is text, as on the command line (``clamp:VESSEL``, ``stenosis:VESSEL:PERCENT[:LENGTH_MM]``,
``stent:VESSEL[:STIFFNESS_FACTOR]``, ``bypass:FROM:TO[:RADIUS_MM[:LENGTH_MM]]``, ``resect:VESSEL``), or a
:class:`Scenario`. ``apply_scenario`` returns an edited copy of the model; :func:`simulation.flow.compare.run_scenario`
runs baseline and scenario and compares them.

Modelling choices (why):

- clamp / resection: the vessel is taken out of the network; vessels left without any connection to the inlet
  carry no flow and go too; a vessel whose end is left free gets a closed end (reflection coefficient 1 in 1-D,
  zero flow in 0-D), which is what a ligated stump is. A clamped vessel is reported with zero flow.
- stenosis: the vessel is split into proximal, stenotic and distal segments (1-D), the stenotic one with the radius
  reduced by the percentage, so the viscous loss rises as 1/r^4 (Poiseuille) and the wave speed follows the wall;
  in 0-D, R, C and L of the stenosed fraction scale as r^-4, r^2 (thin wall) and r^-2.
- stent: the nominal radius is restored and the wall made stiffer (E times the factor, default 5; in 0-D the
  compliance divided by it).
- bypass: a new vessel from the distal end of FROM to the proximal end of TO (1-D: radius default that of TO,
  length default 100 mm, E of TO; 0-D: Poiseuille R and L with blood in SimVascular's CGS units).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from simulation.flow.openbf_io import FlowModel, FlowModelError
from simulation.flow.zerod_io import BoundaryCondition, ZeroDModel, ZeroDVessel

__all__ = ["KINDS", "Scenario", "apply_scenario", "parse_scenario"]

KINDS = ("clamp", "stenosis", "stent", "bypass", "resect")
STENOSIS_SUFFIX, DISTAL_SUFFIX = "-stenosis", "-distal"
CGS_MU_POISE, CGS_RHO = 0.04, 1.06  # SimVascular's blood in g/(cm s) and g/cm^3, for 0-D bypass grafts


@dataclass(frozen=True)
class Scenario:
    """One edit: ``kind`` in KINDS, the vessel(s) it names and its numeric parameters."""

    kind: str
    vessel: str
    target: str | None = None
    percent: float | None = None
    length_mm: float | None = None
    radius_mm: float | None = None
    stiffness: float = 5.0

    def __str__(self) -> str:
        parts = [self.kind, self.vessel] + ([self.target] if self.target else [])
        if self.percent is not None:
            parts.append(f"{self.percent:g}")
        return ":".join(parts)


def _float(text: str, what: str, lo: float, hi: float = np.inf) -> float:
    try:
        v = float(text)
    except ValueError:
        raise FlowModelError(f"scenario: {what} must be a number, got {text!r}") from None
    if not (lo < v < hi) or not np.isfinite(v):
        raise FlowModelError(f"scenario: {what} must be in ({lo:g}, {hi:g}), got {text!r}")
    return v


def parse_scenario(text: str) -> Scenario:
    """``KIND:VESSEL[:...]`` (see the module docstring) to a :class:`Scenario`; FlowModelError if malformed."""
    parts = [p.strip() for p in str(text).split(":")]
    kind = {"resection": "resect", "occlude": "clamp"}.get(parts[0].lower(), parts[0].lower())
    if kind not in KINDS or len(parts) < 2 or not parts[1]:
        raise FlowModelError(f"scenario {text!r}: expected one of {', '.join(k + ':VESSEL' for k in KINDS)}")
    n = len(parts)
    if kind in ("clamp", "resect"):
        if n != 2:
            raise FlowModelError(f"scenario {text!r}: {kind} takes one vessel")
        return Scenario(kind, parts[1])
    if kind == "stenosis":
        if n not in (3, 4):
            raise FlowModelError(f"scenario {text!r}: stenosis:VESSEL:PERCENT[:LENGTH_MM]")
        return Scenario(kind, parts[1], percent=_float(parts[2], "stenosis percent", 0, 100),
                        length_mm=_float(parts[3], "stenosis length (mm)", 0) if n == 4 else None)
    if kind == "stent":
        if n not in (2, 3):
            raise FlowModelError(f"scenario {text!r}: stent:VESSEL[:STIFFNESS_FACTOR]")
        return Scenario(kind, parts[1], stiffness=_float(parts[2], "stent stiffness factor", 0) if n == 3 else 5.0)
    if n not in (3, 4, 5) or not parts[2]:
        raise FlowModelError(f"scenario {text!r}: bypass:FROM:TO[:RADIUS_MM[:LENGTH_MM]]")
    return Scenario(kind, parts[1], target=parts[2],
                    radius_mm=_float(parts[3], "graft radius (mm)", 0) if n >= 4 else None,
                    length_mm=_float(parts[4], "graft length (mm)", 0) if n == 5 else None)


def apply_scenario(model: FlowModel | ZeroDModel, scenario: Scenario | str) -> tuple[FlowModel | ZeroDModel, dict]:
    """An edited copy of ``model`` and notes per vessel label ({label: "clamped" | "removed" | "added" | ...})."""
    sc = parse_scenario(scenario) if isinstance(scenario, str) else scenario
    if isinstance(model, ZeroDModel):
        return _apply_0d(copy.deepcopy(model), sc)
    return _apply_1d(copy.deepcopy(model), sc)


# ----------------------------------------------------------------------------------------------------- 1-D models

def _find_1d(model: FlowModel, label: str) -> int:
    for k, v in enumerate(model.vessels):
        if v["label"] == label:
            return k
    known = ", ".join(v["label"] for v in model.vessels[:12])
    raise FlowModelError(f"unknown vessel {label!r} (known: {known}{', ...' if len(model.vessels) > 12 else ''})")


def _inlet_1d(vessels: list[dict]) -> int:
    ends = {}
    for v in vessels:
        for key in ("sn", "tn"):
            ends[int(v[key])] = ends.get(int(v[key]), 0) + 1
    free = [k for k, v in enumerate(vessels) if ends[int(v["sn"])] == 1]
    return free[0] if len(free) == 1 else 0


def _radii(v: dict) -> tuple[float, float]:
    rp = float(v.get("Rp", v.get("R0", 0.0)))
    return rp, float(v.get("Rd", rp))


def _remove_1d(model: FlowModel, label: str, note: str) -> dict:
    k = _find_1d(model, label)
    vs = model.vessels
    if k == _inlet_1d(vs):
        raise FlowModelError(f"cannot {note.rstrip('ed')} the inlet vessel {label!r}: nothing would flow")
    notes = {label: note}
    kept = vs[:k] + vs[k + 1:]
    inlet = kept[_inlet_1d(vs) - (1 if _inlet_1d(vs) > k else 0)]
    # undirected reachability from the inlet through shared nodes: what is cut off carries no flow
    reach_nodes = {int(inlet["sn"]), int(inlet["tn"])}
    changed = True
    while changed:
        changed = False
        for v in kept:
            a, b = int(v["sn"]), int(v["tn"])
            if (a in reach_nodes) != (b in reach_nodes):
                reach_nodes |= {a, b}
                changed = True
    for v in kept:
        if int(v["sn"]) not in reach_nodes:
            notes[v["label"]] = "no flow (cut off)"
    kept = [v for v in kept if int(v["sn"]) in reach_nodes]
    ends = {}
    for v in kept:
        for key in ("sn", "tn"):
            ends[int(v[key])] = ends.get(int(v[key]), 0) + 1
    for v in kept:
        if ends[int(v["tn"])] == 1 and not float(v.get("R1", 0) or 0) > 0 and "Rt" not in v:
            v["Rt"] = 1.0  # a ligated stump reflects everything: a closed end
            notes[v["label"]] = "closed end"
    model.vessels = kept
    return notes


def _apply_1d(model: FlowModel, sc: Scenario) -> tuple[FlowModel, dict]:
    if sc.kind in ("clamp", "resect"):
        return model, _remove_1d(model, sc.vessel, "clamped" if sc.kind == "clamp" else "resected")
    if sc.kind == "stenosis":
        return model, _stenose_1d(model, sc)
    if sc.kind == "stent":
        labels = [sc.vessel, sc.vessel + STENOSIS_SUFFIX, sc.vessel + DISTAL_SUFFIX]
        found = [v for v in model.vessels if v["label"] in labels]
        if not found:
            _find_1d(model, sc.vessel)
        for v in found:
            rp, rd = v.pop("nominal_radii", _radii(v))
            v.pop("R0", None)
            v["Rp"], v["Rd"] = rp, rd
            v["E"] = float(v["E"]) * sc.stiffness
        return model, {v["label"]: f"stented (E x {sc.stiffness:g})" for v in found}
    return model, _bypass_1d(model, sc)


def _stenose_1d(model: FlowModel, sc: Scenario) -> dict:
    k = _find_1d(model, sc.vessel)
    v = model.vessels[k]
    length = float(v["L"])
    ls = length / 3 if sc.length_mm is None else sc.length_mm * 1e-3
    if ls >= length - 2e-3:
        raise FlowModelError(f"stenosis length {ls * 1e3:g} mm does not fit in {sc.vessel!r} ({length * 1e3:g} mm)")
    rp, rd = _radii(v)
    x0, x1 = (length - ls) / 2, (length + ls) / 2
    r_at = lambda x: rp + (rd - rp) * x / length  # noqa: E731
    factor = 1.0 - sc.percent / 100.0
    node = max(max(int(w["sn"]), int(w["tn"])) for w in model.vessels)
    base = {key: val for key, val in v.items() if key not in ("R0", "Rp", "Rd", "M", "R1", "R2", "Cc", "Rt", "L")}
    outlet = {key: v[key] for key in ("R1", "R2", "Cc", "Rt") if key in v}
    # with a prescribed h0 the stenotic wall keeps it; with the default h0(R0) law openBF recomputes it
    prox = dict(base, sn=v["sn"], tn=node + 1, L=x0, Rp=rp, Rd=r_at(x0), nominal_radii=(rp, r_at(x0)))
    sten = dict(base, label=sc.vessel + STENOSIS_SUFFIX, sn=node + 1, tn=node + 2, L=ls,
                Rp=r_at(x0) * factor, Rd=r_at(x1) * factor, nominal_radii=(r_at(x0), r_at(x1)))
    dist = dict(base, label=sc.vessel + DISTAL_SUFFIX, sn=node + 2, tn=v["tn"], L=length - x1, Rp=r_at(x1), Rd=rd,
                nominal_radii=(r_at(x1), rd), **outlet)
    model.vessels[k:k + 1] = [prox, sten, dist]
    return {sc.vessel: f"proximal part ({sc.percent:g}% stenosis downstream)",
            sten["label"]: "added (stenotic segment)", dist["label"]: "added (distal segment)"}


def _bypass_1d(model: FlowModel, sc: Scenario) -> dict:
    a = model.vessels[_find_1d(model, sc.vessel)]
    b = model.vessels[_find_1d(model, sc.target)]
    if int(a["tn"]) == int(b["sn"]):
        raise FlowModelError(f"bypass: {sc.vessel!r} already ends where {sc.target!r} starts")
    rb, _ = _radii(b)
    r = sc.radius_mm * 1e-3 if sc.radius_mm else rb
    label = f"bypass-{sc.vessel}-{sc.target}"
    graft = {"label": label, "sn": int(a["tn"]), "tn": int(b["sn"]), "L": (sc.length_mm or 100.0) * 1e-3,
             "E": float(b["E"]), "R0": r}
    if "gamma_profile" in b:
        graft["gamma_profile"] = b["gamma_profile"]
    model.vessels.append(graft)
    return {label: "added (bypass graft)"}


# ----------------------------------------------------------------------------------------------------- 0-D models

def _remove_0d(model: ZeroDModel, name: str, note: str) -> dict:
    k = model.vessel_index(name)
    removed = {model.vessels[k].vessel_id}
    if model.vessels[k].inlet_bc and model.bcs[model.vessels[k].inlet_bc].kind in ("FLOW", "PRESSURE"):
        raise FlowModelError(f"cannot {note.rstrip('ed')} the inlet vessel {name!r}: nothing would flow")
    notes = {name: note}
    while True:
        # junctions lose the removed vessels; a vessel whose inlet is no longer fed goes too (a cut-off subtree)
        for j in model.junctions:
            j_out = [i for i in j.outlets if i not in removed]
            if j.kind == "BloodVesselJunction" and len(j_out) != len(j.outlets):
                keep = [n for n, i in enumerate(j.outlets) if i not in removed]
                j.r, j.l, j.stenosis = ([x[n] for n in keep] for x in (j.r, j.l, j.stenosis))
            j.outlets = j_out
            j.inlets = [i for i in j.inlets if i not in removed]
        fed = {i for j in model.junctions if j.inlets for i in j.outlets}
        if model.heart is not None:  # the aorta of a closed loop feeds its outlet vessels
            fed |= {v.vessel_id for v in model.vessels if v.name in model.heart.outlet_vessels}
        orphans = {v.vessel_id for v in model.vessels if v.vessel_id not in removed and v.inlet_bc is None
                   and v.vessel_id not in fed}
        if not orphans:
            break
        removed |= orphans
        notes.update({v.name: "no flow (cut off)" for v in model.vessels if v.vessel_id in orphans})
    model.vessels = [v for v in model.vessels if v.vessel_id not in removed]
    for j in model.junctions:
        if j.inlets and not j.outlets:
            # a ligated stump: the inlet vessels end in a closed end (zero flow)
            for i in j.inlets:
                v = next(v for v in model.vessels if v.vessel_id == i)
                bc = f"closed-{v.name}"
                model.bcs[bc] = BoundaryCondition(bc, "FLOW", {"Q": 0.0})
                v.outlet_bc = bc
                notes[v.name] = "closed end"
    model.junctions = [j for j in model.junctions if j.inlets and j.outlets]
    return notes


def _apply_0d(model: ZeroDModel, sc: Scenario) -> tuple[ZeroDModel, dict]:
    if sc.kind in ("clamp", "resect"):
        return model, _remove_0d(model, sc.vessel, "clamped" if sc.kind == "clamp" else "resected")
    if sc.kind in ("stenosis", "stent"):
        v = model.vessels[model.vessel_index(sc.vessel)]
        nominal = model.extra.setdefault("nominal", {})
        if sc.kind == "stenosis":
            nominal.setdefault(v.name, (v.r, v.c, v.l))
            f = 1.0 / 3.0 if sc.length_mm is None else None
            if f is None:
                raise FlowModelError("0-D vessels have no length: give the stenosis without a length")
            s = 1.0 - sc.percent / 100.0
            v.r *= (1.0 - f) + f / s**4
            v.c *= (1.0 - f) + f * s**2
            v.l *= (1.0 - f) + f / s**2
            return model, {v.name: f"{sc.percent:g}% stenosis over a third"}
        r, c, ll = nominal.pop(v.name, (v.r, v.c, v.l))
        v.r, v.c, v.l = r, c / sc.stiffness, ll
        return model, {v.name: f"stented (C / {sc.stiffness:g})"}
    a = model.vessels[model.vessel_index(sc.vessel)]
    b = model.vessels[model.vessel_index(sc.target)]
    ja = next((j for j in model.junctions if a.vessel_id in j.inlets), None)
    jb = next((j for j in model.junctions if b.vessel_id in j.outlets), None)
    if ja is None or jb is None or ja is jb:
        raise FlowModelError("0-D bypass: FROM must end at a junction and TO start at another junction")
    if sc.radius_mm is None:
        raise FlowModelError("0-D bypass: give the graft radius (bypass:FROM:TO:RADIUS_MM[:LENGTH_MM])")
    r_cm, l_cm = sc.radius_mm / 10.0, (sc.length_mm or 100.0) / 10.0
    new_id = max(v.vessel_id for v in model.vessels) + 1
    name = f"bypass-{a.name}-{b.name}"
    model.vessels.append(ZeroDVessel(new_id, name, 8 * CGS_MU_POISE * l_cm / (np.pi * r_cm**4),
                                     0.0, CGS_RHO * l_cm / (np.pi * r_cm**2)))
    for j in (ja, jb):
        if j.kind == "BloodVesselJunction":
            raise FlowModelError("0-D bypass: grafting onto a BloodVesselJunction is not supported")
    ja.outlets.append(new_id)
    jb.inlets.append(new_id)
    return model, {name: "added (bypass graft)"}

