"""Cuts by a swept blade: an incision of any shape and depth, opened along the surface the blade swept.

A blade edge (a segment: the scalpel's cutting edge, or an electrode's tip dragged at a depth) moved through the
tissue sweeps a surface; :func:`swept_surface` makes it a strip of triangles from the edge's successive positions.
The incision follows that surface by node snapping (Nienhuys & van der Stappen, "A surgery simulation supporting
cuts and finite element deformation", MICCAI 2001): nodes within a fraction of an edge length of the surface move
onto it, the mesh faces whose three nodes now lie on it are the incision's faces, and every node on such a face is
duplicated once per group of its tetrahedra still joined by uncut faces.  Nothing is removed and no element is
added, so the volume is conserved up to the snapping's shift of the surface, the mesh stays conforming, and an
incision that stops inside the organ ends in a crack tip whose nodes stay shared (the tissue holds together there).

Of every edge the surface crosses, the endpoint nearer to it snaps, so no edge crosses any more and the faces on the
surface separate the two sides.  A tetrahedron whose four nodes all snap lies flat on the surface (as does one
flattened by more than :data:`MAX_SHRINK` of its volume): it would stall the solver and holds no material, so it
is dropped and its rest volume reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from simulation.tissue.tetmesh import TetMesh, TissueInputError, boundary_faces, tet_volumes

__all__ = ["MAX_SHRINK", "SweptCutResult", "cut_swept", "swept_surface"]

Arr = npt.NDArray[np.float64]
IntArr = npt.NDArray[np.int64]

MAX_SHRINK = 0.999  # a tetrahedron flattened to under 0.1 % of its rest volume holds no material: dropped
_FACES = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])  # outward for positively oriented tetrahedra
ROUNDS = 4  # re-choices of the snapped endpoint around inverted tetrahedra (two settle it in practice)
_EDGES = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])


@dataclass
class SweptCutResult:
    """A mesh opened along a swept blade's surface.

    Attributes
    ----------
    mesh : TetMesh
        The new mesh (rest shape, snapped nodes moved onto the incision).
    node_origin : numpy.ndarray
        ``(n_new,)`` node of the old mesh each new node copies.
    positions_mm : numpy.ndarray
        ``(n_new, 3)`` current positions (snapped nodes on the blade's surface).
    cut_faces : numpy.ndarray
        ``(k, 3)`` boundary triangles the incision opened (both sides), outward-wound.
    snapped_nodes, opened_faces : int
        Nodes moved onto the surface; interior faces opened.
    dropped_volume_mm3 : float
        Rest volume of the tetrahedra the snapping flattened onto the surface, dropped from the mesh.
    tet_origin : numpy.ndarray
        ``(m_new,)`` tetrahedron of the old mesh each new one is (tetrahedra keep their identity; only their nodes
        may be copies), so whatever is embedded in an element stays on its side of the incision.
    """

    mesh: TetMesh
    node_origin: IntArr
    positions_mm: Arr
    cut_faces: IntArr
    snapped_nodes: int
    opened_faces: int
    dropped_volume_mm3: float = 0.0
    tet_origin: IntArr | None = None

    def transfer(self, values: Arr) -> Arr:
        """Carry per-node values (velocities, flags) of the old mesh over to the new one."""
        return np.asarray(values)[self.node_origin]


def swept_surface(edge_starts: npt.ArrayLike, edge_ends: npt.ArrayLike) -> Arr:
    """Triangles swept by a blade edge: ``(2 (T - 1), 3, 3)`` from its ``T`` successive positions.

    Parameters
    ----------
    edge_starts, edge_ends : array-like
        ``(T, 3)`` the two ends of the cutting edge at each sampled instant (mm), ``T >= 2``.
    """
    a = np.asarray(edge_starts, np.float64).reshape(-1, 3)
    b = np.asarray(edge_ends, np.float64).reshape(-1, 3)
    if a.shape != b.shape or len(a) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise TissueInputError("a swept blade needs at least two finite positions of both ends of its edge")
    tri1 = np.stack([a[:-1], b[:-1], b[1:]], axis=1)
    tri2 = np.stack([a[:-1], b[1:], a[1:]], axis=1)
    triangles = np.concatenate([tri1, tri2])
    areas = 0.5 * np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1)
    triangles = triangles[areas > 1e-9]
    if not len(triangles):
        raise TissueInputError("the blade did not move (or has no length): it swept no surface")
    return triangles


def _closest_points(points: Arr, triangles: Arr, chunk: int = 4096) -> tuple[Arr, Arr, IntArr]:
    """Distance from each point to the nearest triangle, that nearest point and the triangle's index (Ericson,
    Real-Time Collision Detection, 5.1.5), vectorised over points and triangles in chunks."""
    best_d = np.full(len(points), np.inf)
    best_p = np.zeros_like(points)
    best_t = np.zeros(len(points), np.int64)
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    ab, ac = b - a, c - a
    for start in range(0, len(points), chunk):
        p = points[start : start + chunk, None, :]  # (P, 1, 3) against (T, 3)
        ap = p - a
        d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
        bp = p - b
        d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
        cp = p - c
        d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
        va = d3 * d6 - d5 * d4
        vb = d5 * d2 - d1 * d6
        vc = d1 * d4 - d3 * d2
        denom = va + vb + vc
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(denom != 0, vb / denom, 0.0)
            w = np.where(denom != 0, vc / denom, 0.0)
            # regions outside the triangle: clamp to the edges and vertices
            v_ab = np.clip(np.where(d1 - d3 != 0, d1 / (d1 - d3), 0.0), 0, 1)
            w_ac = np.clip(np.where(d2 - d6 != 0, d2 / (d2 - d6), 0.0), 0, 1)
            w_bc = np.clip(np.where((d4 - d3) + (d5 - d6) != 0, (d4 - d3) / ((d4 - d3) + (d5 - d6)), 0.0), 0, 1)
        q = a + v[..., None] * ab + w[..., None] * ac
        outside_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
        q = np.where(outside_ab[..., None], a + v_ab[..., None] * ab, q)
        outside_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
        q = np.where(outside_ac[..., None], a + w_ac[..., None] * ac, q)
        outside_bc = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
        q = np.where(outside_bc[..., None], b + w_bc[..., None] * (c - b), q)
        q = np.where(((d1 <= 0) & (d2 <= 0))[..., None], a, q)
        q = np.where(((d3 >= 0) & (d4 <= d3))[..., None], b, q)
        q = np.where(((d6 >= 0) & (d5 <= d6))[..., None], c, q)
        dist = np.linalg.norm(p - q, axis=-1)
        nearest = np.argmin(dist, axis=1)
        rows = np.arange(len(nearest))
        best_d[start : start + chunk] = dist[rows, nearest]
        best_p[start : start + chunk] = q[rows, nearest]
        best_t[start : start + chunk] = nearest
    return best_d, best_p, best_t


def _deformation_inverse_per_node(rest: Arr, current: Arr, tets: IntArr, n: int) -> Arr:
    """Mean over its tetrahedra of F^-1 at each node: maps a displacement in the deformed shape back to rest."""
    dm = (rest[tets[:, 1:]] - rest[tets[:, :1]]).transpose(0, 2, 1)
    ds = (current[tets[:, 1:]] - current[tets[:, :1]]).transpose(0, 2, 1)
    f_inv = dm @ np.linalg.inv(ds)  # (X) = F^-1 (x) with F = Ds Dm^-1
    sums = np.zeros((n, 3, 3))
    np.add.at(sums, tets.ravel(), np.repeat(f_inv, 4, axis=0))
    counts = np.bincount(tets.ravel(), minlength=n)
    return sums / np.maximum(counts, 1)[:, None, None]


def cut_swept(
    mesh: TetMesh,
    triangles: npt.ArrayLike,
    positions_mm: Arr | None = None,
) -> SweptCutResult:
    """Open ``mesh`` along the surface ``triangles`` swept by a blade (see the module notes).

    Parameters
    ----------
    mesh : TetMesh
        The mesh; its ``points`` are the rest positions.
    triangles : array-like
        ``(k, 3, 3)`` the swept surface (mm, in the current shape), e.g. from :func:`swept_surface`.
    positions_mm : numpy.ndarray, optional
        ``(n, 3)`` current positions (default: rest positions).

    Raises
    ------
    TissueInputError
        Bad triangles or positions, or a blade that passes through no tissue.
    """
    tri = np.asarray(triangles, np.float64)
    if tri.ndim != 3 or tri.shape[1:] != (3, 3) or not len(tri) or not np.isfinite(tri).all():
        raise TissueInputError(f"the blade's surface must be (k, 3, 3) finite triangles, got shape {tri.shape}")
    n, tets = mesh.n_points, mesh.tets
    current = mesh.points if positions_mm is None else np.asarray(positions_mm, np.float64).reshape(-1, 3)
    if current.shape != mesh.points.shape:
        raise TissueInputError(f"positions must be ({n}, 3), got {current.shape}")
    edges = mesh.edges()
    edge_length = float(np.linalg.norm(current[edges[:, 0]] - current[edges[:, 1]], axis=1).mean())

    # 1. Every mesh edge the blade's surface crosses gets its endpoint nearer to the surface snapped onto it: no
    #    edge then passes through the surface, so the faces lying on it separate the two sides (Nienhuys 2001).
    dist, nearest, which = _closest_points(current, tri)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    signed = np.einsum("ij,ij->i", current - nearest, normals[which])
    i, j = edges[:, 0], edges[:, 1]
    straddle = (np.sign(signed[i]) != np.sign(signed[j])) & (np.minimum(dist[i], dist[j]) < edge_length)
    straddle &= np.maximum(dist[i], dist[j]) < 2.0 * edge_length
    if straddle.any():
        si, sj = signed[i[straddle]], signed[j[straddle]]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(si != sj, si / (si - sj), 0.5)
        crossing = current[i[straddle]] + t[:, None] * (current[j[straddle]] - current[i[straddle]])
        inside, _, _ = _closest_points(crossing, tri)
        crossed = np.nonzero(straddle)[0][inside < 0.05 * edge_length]
    else:
        crossed = np.zeros(0, np.int64)
    f_inv = _deformation_inverse_per_node(mesh.points, current, tets, n)
    rest_shift = np.einsum("nij,nj->ni", f_inv, nearest - current)
    vol0 = tet_volumes(mesh.points, tets)
    # The nearer endpoint snaps; where that turns a tetrahedron inside out, its crossed edges snap their other
    # endpoint instead (a few rounds settle it; a tetrahedron still inverted then is dropped below).
    take_first = np.abs(signed[edges[crossed, 0]]) <= np.abs(signed[edges[crossed, 1]])
    crossed_keys = edges[crossed, 0] * n + edges[crossed, 1]
    for _ in range(ROUNDS):
        snapped = np.zeros(n, bool)
        snapped[np.where(take_first, edges[crossed, 0], edges[crossed, 1])] = True
        ratio = tet_volumes(mesh.points + np.where(snapped[:, None], rest_shift, 0.0), tets) / vol0
        inverted = ratio < 0
        if not inverted.any():
            break
        bad_edges = np.sort(tets[inverted][:, _EDGES].reshape(-1, 2), axis=1)
        flip = np.isin(crossed_keys, bad_edges[:, 0] * n + bad_edges[:, 1])
        take_first = np.where(flip, ~take_first, take_first)
    if not snapped.any():
        raise TissueInputError("the blade's path passes through no tissue")
    shift = np.where(snapped[:, None], nearest - current, 0.0)
    rest = mesh.points + np.where(snapped[:, None], rest_shift, 0.0)
    moved = current + shift
    # Tetrahedra flattened onto the surface (all four nodes on it, or nearly) carry no material worth keeping; one
    # still inside out after the rounds above is dropped too (a pit in the cut face rather than a solver failure).
    ratio = tet_volumes(rest, tets) / vol0
    keep = (ratio > (1.0 - MAX_SHRINK)) & ~snapped[tets].all(axis=1)
    dropped_volume = float(vol0[~keep].sum())
    tets = tets[keep]
    tet_origin = np.nonzero(keep)[0]

    # 2. Faces with three snapped nodes whose centre lies on the surface are the incision.
    faces = np.sort(tets[:, _FACES].reshape(-1, 3), axis=1)  # (4m, 3), owner tet = row // 4
    owner = np.repeat(np.arange(len(tets)), 4)
    order = np.lexsort(faces.T[::-1])
    faces, owner = faces[order], owner[order]
    same = (faces[1:] == faces[:-1]).all(axis=1)
    first = np.nonzero(same)[0]  # interior faces: rows first and first + 1
    inner_faces = faces[first]
    tet_a, tet_b = owner[first], owner[first + 1]
    on_blade = snapped[inner_faces].all(axis=1)
    if on_blade.any():
        centres = moved[inner_faces[on_blade]].mean(axis=1)
        centre_dist, _, _ = _closest_points(centres, tri)
        on_blade[np.nonzero(on_blade)[0][centre_dist > 0.05 * edge_length]] = False
    opened = int(on_blade.sum())
    if not opened:
        raise TissueInputError("the blade's path crosses no element faces (too short, or only grazes the tissue)")

    # 3. Duplicate nodes: the corners of each tetrahedron stay joined to their neighbours' across every uncut face.
    m = len(tets)
    incidence = np.arange(4 * m).reshape(m, 4)  # (tet, corner) -> graph vertex
    kept = ~on_blade
    rows, cols = [], []
    for k in range(3):
        node = inner_faces[kept, k]
        ca = np.argmax(tets[tet_a[kept]] == node[:, None], axis=1)
        cb = np.argmax(tets[tet_b[kept]] == node[:, None], axis=1)
        rows.append(incidence[tet_a[kept], ca])
        cols.append(incidence[tet_b[kept], cb])
    rows_all, cols_all = np.concatenate(rows), np.concatenate(cols)
    graph = sp.coo_matrix((np.ones(len(rows_all)), (rows_all, cols_all)), shape=(4 * m, 4 * m))
    _, component = connected_components(graph, directed=False)
    # Vertices of one node in one component are one new node; keep node numbers where no split happened.
    key = tets.ravel().astype(np.int64) * (4 * m) + component
    unique_keys, new_index = np.unique(key, return_inverse=True)
    node_origin = unique_keys // (4 * m)
    new_tets = new_index.reshape(m, 4)

    new_mesh = TetMesh(rest[node_origin], new_tets, {**mesh.metadata, "cuts": mesh.metadata.get("cuts", 0) + 1})
    boundary = boundary_faces(new_tets)
    old_boundary = {tuple(f) for f in np.sort(boundary_faces(mesh.tets), axis=1)}
    mapped = np.sort(node_origin[boundary], axis=1)
    is_cut = np.array([tuple(f) not in old_boundary for f in mapped], bool) if len(mapped) else np.zeros(0, bool)
    return SweptCutResult(new_mesh, node_origin, moved[node_origin], boundary[is_cut], int(snapped.sum()), opened,
                          dropped_volume, tet_origin)
