"""Plane cuts through a tetrahedral mesh: crossed tetrahedra are split, the two sides separated.

Every tetrahedron the plane crosses is split exactly along it (one node apart: a tetrahedron and a prism; two and
two: two prisms), prisms into three tetrahedra with the diagonal rule of Dompierre et al. ("How to subdivide
pyramids, prisms and hexahedra into tetrahedra", IMR 1999: each quadrilateral is split through its lowest global
node) so that neighbouring elements stay conforming.  The new nodes on the cut are then duplicated, one copy per
side, which opens the cut.  No material is removed, so the parts' volumes add up to the whole (to rounding).

Nodes closer to the plane than 1 % of the mean edge length are classified as if they sat that far away, so no
sliver with a near-zero edge fraction appears; the cut surface then deviates from the plane by at most that much.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from simulation.tissue.tetmesh import TetMesh, TissueInputError, boundary_faces, tet_volumes

__all__ = ["CutResult", "connected_parts", "cut_plane"]

Arr = npt.NDArray[np.float64]
IntArr = npt.NDArray[np.int64]

# Rotations/reflections of a prism (bottom 0 1 2, top 3 4 5, node i + 3 above node i) that bring node k to slot 0.
_PRISM_ROT = np.array([[0, 1, 2, 3, 4, 5], [1, 2, 0, 4, 5, 3], [2, 0, 1, 5, 3, 4],
                       [3, 5, 4, 0, 2, 1], [4, 3, 5, 1, 0, 2], [5, 4, 3, 2, 1, 0]])
_SPLIT_15 = np.array([[0, 1, 2, 5], [0, 1, 5, 4], [0, 4, 5, 3]])  # quad 1-2-5-4 split along 1-5
_SPLIT_24 = np.array([[0, 1, 2, 4], [0, 4, 2, 5], [0, 4, 5, 3]])  # ... along 2-4


@dataclass
class CutResult:
    """A cut mesh and how it maps to the mesh before the cut.

    Attributes
    ----------
    mesh : TetMesh
        The new mesh (rest positions interpolated along the cut edges).
    node_source : numpy.ndarray
        ``(n_new, 2)`` old node pair each new node interpolates (equal indices for kept nodes).
    node_weight : numpy.ndarray
        ``(n_new,)`` weight of the second of the pair: ``new = (1 - w) old[src0] + w old[src1]``.
    tet_parent : numpy.ndarray
        ``(m_new,)`` old tetrahedron each new one came from.
    tet_side : numpy.ndarray
        ``(m_new,)`` +1 on the side the normal points to, -1 on the other.
    cut_faces : numpy.ndarray
        ``(k, 3)`` boundary triangles lying on the cut (both sides), outward-wound.
    volume_positive_mm3, volume_negative_mm3 : float
        Rest volumes of the two sides.
    split_tets : int
        Tetrahedra the plane crossed.
    """

    mesh: TetMesh
    node_source: IntArr
    node_weight: Arr
    tet_parent: IntArr
    tet_side: npt.NDArray[np.int8]
    cut_faces: IntArr
    volume_positive_mm3: float
    volume_negative_mm3: float
    split_tets: int

    def transfer(self, values: Arr) -> Arr:
        """Carry per-node values (positions, velocities) of the old mesh over to the new one."""
        w = self.node_weight[:, None]
        return (1.0 - w) * values[self.node_source[:, 0]] + w * values[self.node_source[:, 1]]


def _prism_tets(prisms: IntArr) -> IntArr:
    """Three tetrahedra per prism, diagonals by the lowest-global-node rule (conforming across shared quads)."""
    if not len(prisms):
        return np.zeros((0, 4), np.int64)
    v = np.take_along_axis(prisms, _PRISM_ROT[np.argmin(prisms, axis=1)], axis=1)
    use_15 = np.minimum(v[:, 1], v[:, 5]) < np.minimum(v[:, 2], v[:, 4])
    tets = np.where(use_15[:, None, None], v[:, _SPLIT_15], v[:, _SPLIT_24])
    return tets.reshape(-1, 4)


def cut_plane(
    mesh: TetMesh,
    point_mm: npt.ArrayLike,
    normal: npt.ArrayLike,
    positions_mm: Arr | None = None,
) -> CutResult:
    """Cut ``mesh`` along a plane.

    Parameters
    ----------
    mesh : TetMesh
        The mesh; its ``points`` are the rest positions.
    point_mm, normal : array-like
        A point on the plane and its normal (any length > 0).
    positions_mm : numpy.ndarray, optional
        ``(n, 3)`` current (deformed) positions, where the blade is applied (default: rest positions).

    Returns
    -------
    CutResult

    Raises
    ------
    TissueInputError
        A zero normal, or a plane that misses the mesh.
    """
    p0 = np.asarray(point_mm, np.float64).reshape(3)
    nrm = np.asarray(normal, np.float64).reshape(3)
    length = float(np.linalg.norm(nrm))
    if not (np.isfinite(length) and length > 0 and np.isfinite(p0).all()):
        raise TissueInputError(f"a cut needs a finite point and a non-zero normal, got {p0}, {nrm}")
    nrm = nrm / length
    current = mesh.points if positions_mm is None else np.asarray(positions_mm, np.float64).reshape(-1, 3)
    if current.shape != mesh.points.shape:
        raise TissueInputError(f"positions must be ({mesh.n_points}, 3), got {current.shape}")
    n, tets = mesh.n_points, mesh.tets
    dist = (current - p0) @ nrm
    edges_all = mesh.edges()
    tol = 0.01 * float(np.linalg.norm(current[edges_all[:, 0]] - current[edges_all[:, 1]], axis=1).mean())
    dist = np.where(dist >= 0, np.maximum(dist, tol), np.minimum(dist, -tol))
    positive = dist > 0
    pos_count = positive[tets].sum(axis=1)
    if pos_count.min() == 4 or pos_count.max() == 0:
        raise TissueInputError("the cut plane does not cross the mesh")

    # One new node per crossed edge (shared by every tetrahedron around the edge).
    crossed = edges_all[positive[edges_all[:, 0]] != positive[edges_all[:, 1]]]
    weight_edge = dist[crossed[:, 0]] / (dist[crossed[:, 0]] - dist[crossed[:, 1]])
    key_crossed = crossed[:, 0] * n + crossed[:, 1]
    order = np.argsort(key_crossed)
    key_sorted = key_crossed[order]

    def edge_node(a: IntArr, b: IntArr) -> IntArr:
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        return n + order[np.searchsorted(key_sorted, lo * n + hi)]

    pieces_pos: list[IntArr] = [tets[pos_count == 4]]
    pieces_neg: list[IntArr] = [tets[pos_count == 0]]
    parent_pos: list[IntArr] = [np.nonzero(pos_count == 4)[0]]
    parent_neg: list[IntArr] = [np.nonzero(pos_count == 0)[0]]

    # One node alone on its side (1 vs 3): a tetrahedron there, a prism on the other side.
    for alone_positive, count in ((True, 1), (False, 3)):
        sel = np.nonzero(pos_count == count)[0]
        if not len(sel):
            continue
        t = tets[sel]
        side = positive[t] if alone_positive else ~positive[t]
        lone = np.argmax(side, axis=1)
        others = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[lone]
        a = t[np.arange(len(t)), lone]
        bcd = np.take_along_axis(t, others, axis=1)
        p = np.column_stack([edge_node(a, bcd[:, k]) for k in range(3)])
        small = np.column_stack([a, p])
        prism = _prism_tets(np.column_stack([bcd, p]))
        prism_parent = np.repeat(sel, 3)
        if alone_positive:
            pieces_pos.append(small), parent_pos.append(sel)
            pieces_neg.append(prism), parent_neg.append(prism_parent)
        else:
            pieces_neg.append(small), parent_neg.append(sel)
            pieces_pos.append(prism), parent_pos.append(prism_parent)

    # Two and two: two prisms.
    sel = np.nonzero(pos_count == 2)[0]
    if len(sel):
        t = tets[sel]
        order_side = np.argsort(~positive[t], axis=1, kind="stable")  # positive nodes first
        a, b, c, d = (np.take_along_axis(t, order_side[:, k : k + 1], axis=1)[:, 0] for k in range(4))
        pac, pad, pbc, pbd = edge_node(a, c), edge_node(a, d), edge_node(b, c), edge_node(b, d)
        pieces_pos.append(_prism_tets(np.column_stack([a, pac, pad, b, pbc, pbd])))
        pieces_neg.append(_prism_tets(np.column_stack([c, pac, pbc, d, pad, pbd])))
        parent_pos.append(np.repeat(sel, 3))
        parent_neg.append(np.repeat(sel, 3))

    tets_pos = np.concatenate(pieces_pos)
    tets_neg = np.concatenate(pieces_neg)
    # Open the cut: the negative side gets its own copy of every new node.
    k = len(crossed)
    tets_neg = np.where(tets_neg >= n, tets_neg + k, tets_neg)
    all_tets = np.concatenate([tets_pos, tets_neg])
    source = np.concatenate([np.column_stack([np.arange(n), np.arange(n)]), crossed, crossed])
    weight = np.concatenate([np.zeros(n), weight_edge, weight_edge])
    rest = (1.0 - weight[:, None]) * mesh.points[source[:, 0]] + weight[:, None] * mesh.points[source[:, 1]]
    vols = tet_volumes(rest, all_tets)
    flip = vols < 0
    all_tets[flip] = all_tets[flip][:, [0, 2, 1, 3]]
    vols = np.abs(vols)
    side = np.concatenate([np.ones(len(tets_pos), np.int8), -np.ones(len(tets_neg), np.int8)])
    parent = np.concatenate(parent_pos + parent_neg)
    new_mesh = TetMesh(rest, all_tets, {**mesh.metadata, "cuts": mesh.metadata.get("cuts", 0) + 1})
    faces = boundary_faces(new_mesh.tets)
    cut_faces = faces[(faces >= n).all(axis=1)]
    return CutResult(
        mesh=new_mesh,
        node_source=source,
        node_weight=weight,
        tet_parent=parent,
        tet_side=side,
        cut_faces=cut_faces,
        volume_positive_mm3=float(vols[side > 0].sum()),
        volume_negative_mm3=float(vols[side < 0].sum()),
        split_tets=int((~((pos_count == 0) | (pos_count == 4))).sum()),
    )


def connected_parts(mesh: TetMesh) -> tuple[int, IntArr]:
    """Number of connected pieces (through shared nodes) and the piece of each tetrahedron."""
    m = mesh.n_tets
    rows = np.repeat(np.arange(m), 4)
    incidence = sp.csr_matrix((np.ones(4 * m), (rows, mesh.tets.ravel())), shape=(m, mesh.n_points))
    count, labels = connected_components(incidence @ incidence.T, directed=False)
    return int(count), labels.astype(np.int64)
