"""A 1-D openBF model lumped into an equivalent 0-D one (svZeroDSolver JSON), for fast what-ifs and comparisons.

Each vessel becomes one BloodVessel block with the linearised 1-D properties at rest (SI units throughout):
R = 2 (gamma_profile + 2) pi mu L / A0^2 (openBF's viscous term; Poiseuille for gamma_profile = 2),
C = 2 A0 L / beta (dA/dP of the tube law at A0) and L = rho L / A0; tapering is averaged over the vessel.
Windkessel outlets keep R1, Cc, R2 as RCR; reflection-coefficient outlets become a resistance equal to the
vessel's characteristic impedance (Rt = 0) or are refused.
"""

from __future__ import annotations

import numpy as np

from simulation.flow import boundary, tube_law
from simulation.flow.network import build_network
from simulation.flow.openbf_io import FlowModel, FlowModelError

__all__ = ["openbf_to_zerod"]


def openbf_to_zerod(model: FlowModel, *, cycles: int = 10, points_per_cycle: int = 201) -> dict:
    """The svZeroDSolver input (a dict ready for ``json.dumps``) equivalent to ``model``, lumped per vessel."""
    net = build_network(model)
    # openBF's inlet tables may step back in time (first matching segment wins): resample them its way
    t = np.linspace(0.0, model.period_s, 1001)
    q = [boundary.inlet_flow_m3_s(x, model.inlet_t_s, model.inlet_q_m3_s) for x in t]
    vessels, bcs, junctions = [], [{"bc_name": "INFLOW", "bc_type": "FLOW", "bc_values": {
        "t": t.tolist(), "Q": q}}], []
    outlet_index = {int(k): i for i, k in enumerate(net.outlet_vessels)}
    for k, v in enumerate(model.vessels):
        cells = slice(int(net.first[k]), int(net.last[k]) + 1)
        a0, beta = net.area0_m2[cells], net.beta_pa[cells]
        dx = net.dx_m[cells]
        visc = net.visc_coeff[cells] * model.rho_kg_m3  # 2 (gamma + 2) pi mu
        values = {"R_poiseuille": float(np.sum(visc * dx / a0**2)), "C": float(np.sum(2.0 * a0 * dx / beta)),
                  "L": float(np.sum(model.rho_kg_m3 * dx / a0))}
        bc = {}
        if k == int(net.inlet_vessels[0]):
            bc["inlet"] = "INFLOW"
        if k in outlet_index:
            i = outlet_index[k]
            name = f"OUT_{v['label']}"
            if net.r1[i] > 0:
                bcs.append({"bc_name": name, "bc_type": "RCR", "bc_values": {
                    "Rp": float(net.r1[i]), "C": float(net.cc[i]), "Rd": float(net.r2[i]), "Pd": 0.0}})
            elif net.rt[i] == 0:
                c0 = tube_law.wave_speed_m_s(a0[-1], net.gamma[int(net.last[k])])
                bcs.append({"bc_name": name, "bc_type": "RESISTANCE", "bc_values": {
                    "R": float(model.rho_kg_m3 * c0 / a0[-1]), "Pd": 0.0}})
            else:
                raise FlowModelError(f"vessel {v['label']!r}: a reflecting outlet (Rt != 0) has no 0-D equivalent")
            bc["outlet"] = name
        vessels.append({"vessel_id": k, "vessel_name": v["label"], "vessel_length": float(v["L"]),
                        "zero_d_element_type": "BloodVessel", "zero_d_element_values": values,
                        "boundary_conditions": bc})
    for n, (members, signs) in enumerate(net.junctions):
        junctions.append({"junction_name": f"J{n}", "junction_type": "NORMAL_JUNCTION",
                          "inlet_vessels": [int(m) for m, s in zip(members, signs, strict=True) if s > 0],
                          "outlet_vessels": [int(m) for m, s in zip(members, signs, strict=True) if s < 0]})
    return {"description": {"source": f"openBF model {model.name!r} lumped per vessel by SurgiTwin"},
            "simulation_parameters": {"number_of_cardiac_cycles": cycles,
                                      "number_of_time_pts_per_cardiac_cycle": points_per_cycle,
                                      "output_all_cycles": False},
            "boundary_conditions": bcs, "vessels": vessels, "junctions": junctions}
