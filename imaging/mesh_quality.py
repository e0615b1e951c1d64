"""Quality figures of a surface mesh: size, closure, topology, triangle shape and fidelity to its segmentation."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from imaging.mesh import SurfaceMesh
from imaging.volume import VolumeGeometry

__all__ = ["MeshMetrics", "distance_to_surface", "edge_counts", "mesh_metrics", "min_angles_deg"]


@dataclass(frozen=True)
class MeshMetrics:
    """What :func:`mesh_metrics` measures (``None`` where not computed)."""

    triangles: int
    vertices: int
    volume_ml: float
    area_mm2: float
    watertight: bool
    manifold: bool
    euler_characteristic: int
    min_angle_deg: float
    min_angle_p5_deg: float
    min_angle_median_deg: float
    boundary_mean_mm: float | None = None
    boundary_max_mm: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)


def edge_counts(faces: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Unique undirected edges ``(e, 2)`` and how many triangles use each (sorting int64 keys, not rows)."""
    if not len(faces):
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    edges = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    lo, hi = edges.min(axis=1), edges.max(axis=1)
    n = int(hi.max()) + 1
    keys = np.sort(lo * n + hi)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.r_[starts, len(keys)])
    unique = keys[starts]
    return np.stack([unique // n, unique % n], axis=1), counts


def min_angles_deg(mesh: SurfaceMesh) -> npt.NDArray[np.float64]:
    """Smallest interior angle of each triangle, degrees (0 for degenerate triangles)."""
    p = mesh.points[mesh.faces]
    a = np.linalg.norm(p[:, 1] - p[:, 2], axis=1)
    b = np.linalg.norm(p[:, 2] - p[:, 0], axis=1)
    c = np.linalg.norm(p[:, 0] - p[:, 1], axis=1)
    angles = []
    for opp, s1, s2 in ((a, b, c), (b, c, a), (c, a, b)):
        with np.errstate(divide="ignore", invalid="ignore"):
            cos = (s1**2 + s2**2 - opp**2) / (2 * s1 * s2)
        angles.append(np.degrees(np.arccos(np.clip(np.nan_to_num(cos, nan=1.0), -1, 1))))
    return np.min(angles, axis=0)


def _point_triangle_distance(p, a, b, c):
    """Exact distance of points to triangles (Ericson's closest-point regions), row by row."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    bp = p - b
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    cp = p - c
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        q = a + ab * (vb / denom)[:, None] + ac * (vc / denom)[:, None]
        e_ab = a + ab * (d1 / (d1 - d3))[:, None]
        e_ac = a + ac * (d2 / (d2 - d6))[:, None]
        e_bc = b + (c - b) * ((d4 - d3) / ((d4 - d3) + (d5 - d6)))[:, None]
    regions = [
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), e_bc),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), e_ac),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), e_ab),
        ((d6 >= 0) & (d5 <= d6), c),
        ((d3 >= 0) & (d4 <= d3), b),
        ((d1 <= 0) & (d2 <= 0), a),
    ]
    for mask, point in regions:
        q = np.where(mask[:, None], point, q)
    d = np.linalg.norm(p - q, axis=1)
    return np.where(np.isfinite(d), d, np.inf)


def distance_to_surface(points: npt.ArrayLike, surface: SurfaceMesh, *, k: int = 16) -> npt.NDArray[np.float64]:
    """Distance of each point to ``surface`` (exact point-triangle distance over the ``k`` nearest triangles)."""
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    tri = surface.points[surface.faces]
    k = min(k, len(tri))
    _, idx = cKDTree(tri.mean(axis=1)).query(points, k=k)
    idx = idx.reshape(len(points), -1)
    out = np.full(len(points), np.inf)
    for col in range(idx.shape[1]):
        t = tri[idx[:, col]]
        out = np.minimum(out, _point_triangle_distance(points, t[:, 0], t[:, 1], t[:, 2]))
    return out


def mesh_metrics(
    mesh: SurfaceMesh, mask: npt.NDArray[np.bool_] | None = None, geometry: VolumeGeometry | None = None
) -> MeshMetrics:
    """Measure a mesh; with its segmentation ``mask`` and ``geometry``, also its distance to the mask's boundary.

    The boundary is the unsmoothed 0.5 iso-surface of the binary mask (flying edges), so a perfectly faithful
    mesh measures 0 mm; the distances are taken from every vertex of ``mesh``.
    """
    if mesh.n_faces == 0:
        return MeshMetrics(0, mesh.n_points, 0.0, 0.0, False, False, 0, 0.0, 0.0, 0.0)
    edges, counts = edge_counts(mesh.faces)
    watertight = bool(np.all(counts == 2))
    # Manifold: every edge used by at most two triangles, and consistent winding (each directed edge used once).
    directed = mesh.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    dkeys = np.sort(directed[:, 0] * (int(mesh.faces.max()) + 1) + directed[:, 1])
    dcounts = np.array([2]) if np.any(dkeys[1:] == dkeys[:-1]) else np.array([1])
    manifold = bool(np.all(counts <= 2) and np.all(dcounts == 1))
    used = np.unique(mesh.faces)
    euler = int(len(used) - len(edges) + mesh.n_faces)
    angles = min_angles_deg(mesh)
    mean = maximum = None
    if mask is not None:
        if geometry is None:
            raise ValueError("the boundary distance needs the mask's geometry")
        from imaging.meshing import mesh_from_mask

        boundary = mesh_from_mask(mask, geometry, smoothing_iterations=0)
        if boundary.n_faces:
            d = distance_to_surface(mesh.points[used], boundary)
            mean, maximum = float(d.mean()), float(d.max())
    return MeshMetrics(
        mesh.n_faces, mesh.n_points, mesh.volume_ml(), mesh.area_mm2(), watertight, manifold, euler,
        float(angles.min()), float(np.percentile(angles, 5)), float(np.median(angles)), mean, maximum,
    )
