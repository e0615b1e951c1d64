"""A ready-to-run 1-D model from a segmented vessel network (openBF vessel entries without outlet conditions).

The segmentation gives geometry only; the periphery and the heart are filled in with textbook values so a
scenario can be compared with its baseline straight away (and :mod:`simulation.flow.personalise` can calibrate
them afterwards): a resting inflow waveform whose mean is the inlet area times ``mean_velocity_m_s``, and a
three-element Windkessel per outlet sharing the total peripheral resistance ``mean_pressure / mean_flow`` as
Murray's law shares flow (conductance proportional to r^3), with a tenth of each outlet's resistance proximal and
the compliance chosen for an RC time constant of ``tau_s``.
"""

from __future__ import annotations

import copy

import numpy as np

from simulation.flow.openbf_io import FlowModel, FlowModelError

__all__ = ["model_from_network_vessels"]

MMHG_PA = 133.322


def model_from_network_vessels(vessels: list[dict], name: str = "segmentation", *, mean_pressure_mmhg: float = 93.0,
                               mean_velocity_m_s: float = 0.15, period_s: float = 0.8, tau_s: float = 1.2,
                               cycles: int = 12) -> FlowModel:
    """A :class:`FlowModel` of ``vessels`` (openBF dictionaries, SI, oriented from the inlet, as
    :meth:`imaging.vessels.network.VesselNetwork.to_openbf` gives them) with inflow and Windkessel outlets."""
    if not vessels:
        raise FlowModelError("the vessel network is empty")
    vs = copy.deepcopy(vessels)
    starts = {int(v["sn"]) for v in vs}
    ends = {int(v["tn"]) for v in vs}
    inlets = [v for v in vs if int(v["sn"]) not in ends]
    outlets = [v for v in vs if int(v["tn"]) not in starts]
    if len(inlets) != 1 or not outlets:
        raise FlowModelError("the vessel network needs exactly one inlet and at least one outlet")
    r_in = float(inlets[0]["Rp"])
    q_mean = mean_velocity_m_s * np.pi * r_in**2
    r_total = mean_pressure_mmhg * MMHG_PA / q_mean
    weights = np.array([float(v["Rd"]) ** 3 for v in outlets])
    shares = weights / weights.sum()
    for v, share in zip(outlets, shares, strict=True):
        r_out = r_total / share
        v["R1"], v["R2"], v["Cc"] = 0.1 * r_out, 0.9 * r_out, tau_s / r_out
    for v in vs:
        v.setdefault("gamma_profile", 9)
    t = np.linspace(0.0, period_s, 81)
    systole = 0.375 * period_s
    pulse = np.where(t < systole, np.sin(np.pi * t / systole), 0.0)
    # mean of the pulse is systole/period * 2/pi; scale so the mean inflow is q_mean with a 35 % diastolic floor
    base = 0.35 * q_mean
    q = base + (q_mean - base) * pulse / (np.mean(pulse[:-1]) if np.mean(pulse[:-1]) > 0 else 1.0)
    return FlowModel(name, 1060.0, 4e-3, 0.9, cycles, 100, 0.5, vs, t, q)
