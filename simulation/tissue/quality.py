"""Tetrahedron quality: minimum dihedral angle and radius ratio, the two measures FEM conditioning depends on."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from simulation.tissue.tetmesh import TetMesh

__all__ = ["QualityReport", "dihedral_angles_deg", "quality_report", "radius_ratios"]

_EDGE_PAIRS = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def dihedral_angles_deg(points: npt.NDArray[np.float64], tets: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The six interior dihedral angles of each tetrahedron, ``(m, 6)`` degrees (70.53° for a regular one)."""
    p = [points[tets[:, i]] for i in range(4)]
    # Outward normal of the face opposite node i; the dihedral angle at the edge shared by faces i and j is
    # pi minus the angle between their outward normals.
    opposite = ((1, 2, 3), (0, 3, 2), (0, 1, 3), (0, 2, 1))
    normals = []
    for a, b, c in opposite:
        n = np.cross(p[b] - p[a], p[c] - p[a])
        normals.append(n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300))
    out = np.empty((len(tets), 6))
    for k, (i, j) in enumerate(_EDGE_PAIRS):
        cos = np.clip(-np.einsum("ij,ij->i", normals[i], normals[j]), -1.0, 1.0)
        out[:, k] = np.degrees(np.arccos(cos))
    return out


def radius_ratios(points: npt.NDArray[np.float64], tets: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """``3 r_in / R_circ`` of each tetrahedron: 1 for a regular tetrahedron, 0 for a degenerate one."""
    a = points[tets[:, 0]]
    e1, e2, e3 = (points[tets[:, i]] - a for i in (1, 2, 3))
    six_v = np.abs(np.einsum("ij,ij->i", e1, np.cross(e2, e3)))
    p = [points[tets[:, i]] for i in range(4)]
    area = sum(
        0.5 * np.linalg.norm(np.cross(p[b] - p[a], p[c] - p[a]), axis=1)
        for a, b, c in ((1, 2, 3), (0, 3, 2), (0, 1, 3), (0, 2, 1))
    )
    r_in = 0.5 * six_v / np.maximum(area, 1e-300)  # 3 V / A = 6V / (2A)
    # Circumcentre offset from a: solves 2 [e1 e2 e3]^T c = [|e1|², |e2|², |e3|²] (Cramer's rule in closed form).
    l1, l2, l3 = (np.einsum("ij,ij->i", e, e)[:, None] for e in (e1, e2, e3))
    num = l1 * np.cross(e2, e3) + l2 * np.cross(e3, e1) + l3 * np.cross(e1, e2)
    r_circ = np.linalg.norm(num, axis=1) / np.maximum(2.0 * six_v, 1e-300)
    return np.where(six_v > 0, 3.0 * r_in / np.maximum(r_circ, 1e-300), 0.0)


@dataclass(frozen=True)
class QualityReport:
    """Summary of a tetrahedral mesh's quality."""

    n_points: int
    n_tets: int
    volume_mm3: float
    min_dihedral_deg: float
    max_dihedral_deg: float
    min_dihedral_p1_deg: float
    min_radius_ratio: float
    mean_radius_ratio: float
    radius_ratio_below_0_1: float

    def as_dict(self) -> dict[str, float]:
        """Plain dictionary (for JSON)."""
        return asdict(self)


def quality_report(mesh: TetMesh) -> QualityReport:
    """Minimum/maximum dihedral angle, 1st-percentile minimum dihedral and radius-ratio statistics of ``mesh``.

    Parameters
    ----------
    mesh : TetMesh
        The mesh to assess.

    Returns
    -------
    QualityReport
        ``radius_ratio_below_0_1`` is the fraction of slivers/needles with radius ratio under 0.1.
    """
    dihedral = dihedral_angles_deg(mesh.points, mesh.tets)
    rr = radius_ratios(mesh.points, mesh.tets)
    per_tet_min = dihedral.min(axis=1)
    return QualityReport(
        n_points=mesh.n_points,
        n_tets=mesh.n_tets,
        volume_mm3=mesh.volume(),
        min_dihedral_deg=float(per_tet_min.min()),
        max_dihedral_deg=float(dihedral.max()),
        min_dihedral_p1_deg=float(np.percentile(per_tet_min, 1)),
        min_radius_ratio=float(rr.min()),
        mean_radius_ratio=float(rr.mean()),
        radius_ratio_below_0_1=float((rr < 0.1).mean()),
    )
