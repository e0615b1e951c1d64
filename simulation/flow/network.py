"""The whole network as flat arrays: every vessel's cells plus one ghost cell at each end, concatenated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.flow import tube_law
from simulation.flow.openbf_io import FlowModel, FlowModelError

__all__ = ["Network", "build_network"]


@dataclass
class Network:
    """Geometry, material and topology of a vessel network, with per-cell arrays in the padded flat layout.

    Vessel ``k`` owns flat indices ``start[k] .. start[k] + M[k] + 1``; ``start[k]`` and ``start[k] + M[k] + 1`` are
    ghost cells, ``first[k] = start[k] + 1`` and ``last[k] = start[k] + M[k]`` its first and last real cells.
    """

    labels: list[str]
    sn: np.ndarray
    tn: np.ndarray
    n_cells: np.ndarray
    start: np.ndarray
    first: np.ndarray
    last: np.ndarray
    real: np.ndarray          # bool mask of real (non-ghost) cells
    dx_m: np.ndarray          # per flat cell
    area0_m2: np.ndarray
    beta_pa: np.ndarray
    gamma: np.ndarray
    pext_pa: np.ndarray
    visc_coeff: np.ndarray    # 2 (gamma_profile + 2) pi mu / rho per cell (m^2/s)
    da0dx: np.ndarray         # openBF's dA0/dx per cell (tapered vessels only, else 0)
    dtaudx: np.ndarray        # openBF's d(wall stiffness)/dx per cell (tapered vessels without h0, else 0)
    rho_kg_m3: float
    mu_pa_s: float
    inlet_vessels: np.ndarray
    outlet_vessels: np.ndarray
    r1: np.ndarray            # per outlet vessel
    r2: np.ndarray
    cc: np.ndarray
    rt: np.ndarray
    junctions: list[tuple[np.ndarray, np.ndarray]]  # (vessel indices, signs +1 parent end / -1 daughter start)

    @property
    def size(self) -> int:
        """Number of flat cells (ghosts included)."""
        return int(self.dx_m.size)


def _pad(x: np.ndarray) -> np.ndarray:
    """A vessel's per-cell values with its two ghost cells (copies of the end cells)."""
    return np.concatenate([[x[0]], x, [x[-1]]])


def build_network(model: FlowModel, gamma_profile_default: float = 2.0) -> Network:
    """Discretise an openBF model like openBF: M = max(M, 5, ceil(L / 1 mm)) cells per vessel."""
    rho, mu = model.rho_kg_m3, model.mu_pa_s
    vs = model.vessels
    nv = len(vs)
    sn = np.array([int(v["sn"]) for v in vs])
    tn = np.array([int(v["tn"]) for v in vs])
    if np.any(sn == tn):
        raise FlowModelError("a vessel starts and ends at the same node (sn == tn)")
    if len(set(zip(sn.tolist(), tn.tolist(), strict=True))) != nv:
        raise FlowModelError("two vessels join the same pair of nodes")
    lengths = np.array([float(v["L"]) for v in vs])
    m = np.array([max(int(v.get("M", 5)), 5, int(np.ceil(v["L"] * 1e3 - 1e-9))) for v in vs])
    start = np.concatenate([[0], np.cumsum(m + 2)[:-1]])
    total = int((m + 2).sum())
    per = {k: np.zeros(total) for k in ("dx", "a0", "beta", "gamma", "pext", "visc", "da0", "dtau")}
    real = np.zeros(total, dtype=bool)
    for k, v in enumerate(vs):
        mk, s = m[k], start[k]
        rp = float(v.get("Rp", v.get("R0", 0.0)))
        rd = float(v.get("Rd", rp))
        # openBF's discretisation of a tapered vessel, kept as is so that results compare with openBF's: the
        # radius slope is per cell but multiplied by the cell's position in metres, so R0 stays within
        # (Rd - Rp) dx of Rp; the taper acts through the source terms dA0/dx and dTau/dx only
        slope = (rd - rp) / max(mk - 1, 1)
        r0 = rp + slope * np.arange(mk) * (lengths[k] / mk)
        h0 = np.full(mk, float(v["h0"])) if "h0" in v else tube_law.wall_thickness_m(r0)
        a0 = np.pi * r0**2
        beta = tube_law.stiffness_beta_pa(a0, h0, float(v["E"]))
        gam = tube_law.flux_gamma(beta, a0, rho)
        if abs(rd - rp) > 1e-4:  # openBF: less than 0.1 mm difference is no taper
            per["da0"][s:s + mk + 2] = _pad(2.0 * np.pi * r0 * slope)
            if "h0" not in v:
                per["dtau"][s:s + mk + 2] = _pad(tube_law.stiffness_slope_pa(r0, h0, float(v["E"]), slope))
        gp = float(v.get("gamma_profile", gamma_profile_default))
        sl = slice(s, s + mk + 2)
        per["dx"][sl] = lengths[k] / mk
        per["a0"][sl], per["beta"][sl], per["gamma"][sl] = _pad(a0), _pad(beta), _pad(gam)
        per["pext"][sl] = float(v.get("Pext", 0.0))
        per["visc"][sl] = 2.0 * (gp + 2.0) * np.pi * mu / rho
        real[s + 1:s + mk + 1] = True
    nodes_in = {}
    nodes_out = {}
    for k in range(nv):
        nodes_out.setdefault(sn[k], []).append(k)
        nodes_in.setdefault(tn[k], []).append(k)
    ends = {node: len(nodes_in.get(node, [])) + len(nodes_out.get(node, [])) for node in set(sn) | set(tn)}
    # a free start is an inlet, a free end an outlet; every node shared by two or more vessel ends is a junction
    # (parents and daughters as usual; edited networks may also join two ends or two starts)
    inlet = np.array([k for k in range(nv) if ends[sn[k]] == 1], dtype=int)
    outlet = np.array([k for k in range(nv) if ends[tn[k]] == 1], dtype=int)
    if inlet.size != 1:
        raise FlowModelError(f"the network needs exactly one inlet vessel, found {inlet.size}")
    if outlet.size == 0:
        raise FlowModelError("the network has no outlet vessel")
    junctions = []
    for node in sorted(n for n, c in ends.items() if c >= 2):
        parents, daughters = nodes_in.get(node, []), nodes_out.get(node, [])
        junctions.append((np.array(parents + daughters), np.array([1] * len(parents) + [-1] * len(daughters))))
    get = lambda key: np.array([float(vs[k].get(key, 0.0) or 0.0) for k in outlet])  # noqa: E731
    r1, r2, cc, rt = get("R1"), get("R2"), get("Cc"), get("Rt")
    last = start + m
    # openBF: a missing R2 means R1 was the total resistance; R2 = R1 - Z0 with Z0 = rho c0 / A0 at the outlet.
    z0 = rho * tube_law.wave_speed_m_s(per["a0"][last[outlet]], per["gamma"][last[outlet]]) / per["a0"][last[outlet]]
    missing = (r2 == 0) & (r1 > 0)
    r2 = np.where(missing, r1 - z0, r2)
    if np.any((r1 > 0) & (r2 <= 0)):
        raise FlowModelError("a Windkessel outlet has a non-positive distal resistance R2")
    return Network([v["label"] for v in vs], sn, tn, m, start, start + 1, last, real, per["dx"], per["a0"],
                   per["beta"], per["gamma"], per["pext"], per["visc"], per["da0"], per["dtau"], rho, mu, inlet, outlet,
                   r1, r2, cc, rt, junctions)
