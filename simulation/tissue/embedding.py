"""Barycentric embedding of a fine surface in a coarse tetrahedral mesh: the display follows the physics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from simulation.tissue.tetmesh import TetMesh, TissueInputError

__all__ = ["Embedding", "carry_over", "carry_over_split", "embed_points", "torn_faces"]

Arr = npt.NDArray[np.float64]


@dataclass
class Embedding:
    """Each embedded point as a fixed combination of the four nodes of one tetrahedron.

    Attributes
    ----------
    tet : numpy.ndarray
        ``(k,)`` host tetrahedron of each point.
    weights : numpy.ndarray
        ``(k, 4)`` barycentric coordinates (sum 1; slightly negative for points just outside the mesh, which are
        then extrapolated from the nearest tetrahedron).
    nodes : numpy.ndarray
        ``(k, 4)`` node indices of the host tetrahedra.
    outside_mm : numpy.ndarray
        ``(k,)`` how far outside its host each point lies (0 inside), a quality check of the embedding.
    """

    tet: npt.NDArray[np.int64]
    weights: Arr
    nodes: npt.NDArray[np.int64]
    outside_mm: Arr

    def apply(self, positions_mm: Arr) -> Arr:
        """Embedded point positions ``(k, 3)`` for node positions ``(n, 3)``."""
        return np.einsum("ka,kaj->kj", self.weights, positions_mm[self.nodes])


def _barycentric(points: Arr, corners: Arr) -> Arr:
    """Barycentric coordinates ``(..., 4)`` of points ``(..., 3)`` in tetrahedra ``(..., 4, 3)``."""
    a = corners[..., 0, :]
    m = np.stack([corners[..., i, :] - a for i in (1, 2, 3)], axis=-1)
    lam = np.linalg.solve(m, (points - a)[..., None])[..., 0]
    return np.concatenate([1.0 - lam.sum(axis=-1, keepdims=True), lam], axis=-1)


def embed_points(mesh: TetMesh, points_mm: npt.ArrayLike, *, candidates: int = 16) -> Embedding:
    """Embed ``points_mm`` (rest configuration) in ``mesh``.

    Each point goes to the tetrahedron, among the ``candidates`` with the nearest centroids, whose smallest
    barycentric coordinate is largest: the containing one when there is one, otherwise the closest.

    Raises
    ------
    TissueInputError
        For an empty or malformed point array.
    """
    pts = np.asarray(points_mm, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or not len(pts):
        raise TissueInputError(f"points to embed must be a non-empty (k, 3) array, got shape {pts.shape}")
    centroids = mesh.points[mesh.tets].mean(axis=1)
    k = min(candidates, mesh.n_tets)
    _, cand = cKDTree(centroids).query(pts, k=k)
    cand = cand.reshape(len(pts), k)
    bary = _barycentric(pts[:, None, :].repeat(k, axis=1), mesh.points[mesh.tets[cand]])
    best = np.argmax(bary.min(axis=2), axis=1)
    rows = np.arange(len(pts))
    tet = cand[rows, best]
    weights = bary[rows, best]
    # distance outside: how far the point is from its extrapolated host, measured via the negative coordinates
    # scaled by the host's size (a cheap, monotone proxy that is 0 inside)
    size = np.cbrt(np.abs(mesh.volumes()[tet]) * 6.0)
    outside = np.maximum(-weights.min(axis=1), 0.0) * size
    return Embedding(tet, weights, mesh.tets[tet], outside)


def carry_over(embedding: Embedding, mesh: TetMesh, tet_origin: npt.ArrayLike, points_mm: npt.ArrayLike) -> Embedding:
    """The same points after a cut that kept the elements' identities (a swept blade: nodes are copied, elements
    stay): each point stays in its own element, now made of the new mesh's nodes, so the points on either side of an
    incision follow their own side.  Re-embedding by position instead could tie a point on the incision to the other
    side's elements, which coincide there at rest.  Points whose element was removed are embedded afresh.

    Parameters
    ----------
    embedding : Embedding
        The points' embedding in the mesh before the cut.
    mesh : TetMesh
        The mesh after the cut.
    tet_origin : array-like of int
        ``(m_new,)`` element of the old mesh each new element is.
    points_mm : array-like
        ``(k, 3)`` the embedded points' rest positions, for those needing a fresh embedding.
    """
    origin = np.asarray(tet_origin, np.int64)
    new_of_old = np.full(int(max(origin.max(initial=-1), embedding.tet.max(initial=-1))) + 1, -1, np.int64)
    new_of_old[origin] = np.arange(len(origin))
    tet = new_of_old[embedding.tet]
    weights, outside = embedding.weights.copy(), embedding.outside_mm.copy()
    lost = tet < 0
    if lost.any():
        fresh = embed_points(mesh, np.asarray(points_mm, np.float64)[lost])
        tet[lost], weights[lost], outside[lost] = fresh.tet, fresh.weights, fresh.outside_mm
    return Embedding(tet, weights, mesh.tets[tet], outside)


def torn_faces(faces: npt.ArrayLike, before: Embedding, after: Embedding) -> npt.NDArray[np.bool_]:
    """Triangles of an embedded surface that a cut tore: two of their corners sat in elements that shared a node
    before the cut and share none after it, so the triangle spans the incision and would stretch across its gap.

    Parameters
    ----------
    faces : array-like of int
        ``(f, 3)`` the surface's triangles (indices into the embedded points).
    before, after : Embedding
        The points' embedding before and after the cut (see :func:`carry_over`).
    """
    tri = np.asarray(faces, np.int64).reshape(-1, 3)

    def share(nodes: npt.NDArray[np.int64], i: int, j: int) -> npt.NDArray[np.bool_]:
        a, b = nodes[tri[:, i]], nodes[tri[:, j]]
        return (a[:, :, None] == b[:, None, :]).any(axis=(1, 2))

    torn = np.zeros(len(tri), bool)
    for i, j in ((0, 1), (1, 2), (2, 0)):
        torn |= share(before.nodes, i, j) & ~share(after.nodes, i, j)
    return torn


def carry_over_split(
    embedding: Embedding,
    mesh: TetMesh,
    tet_parent: npt.ArrayLike,
    tet_side: npt.ArrayLike,
    points_mm: npt.ArrayLike,
    point_side: npt.ArrayLike,
) -> Embedding:
    """The same points after a plane cut that split elements: each point goes to a piece of its previous host on its
    own side of the plane (the one containing it best), so points near earlier incisions keep their side there too.

    Parameters
    ----------
    embedding : Embedding
        The embedding before the cut of the first ``len(embedding.tet)`` points; any further points (e.g. vertices a
        display split added on the plane) are embedded afresh among the elements of their side.
    mesh : TetMesh
        The mesh after the cut.
    tet_parent, tet_side : array-like of int
        ``(m_new,)`` old element each new one came from, and its side of the plane (+1 / -1).
    points_mm : array-like
        ``(k, 3)`` rest positions of all the points.
    point_side : array-like of int
        ``(k,)`` each point's side (+1 / -1), from its position when the cut was made.
    """
    parent = np.asarray(tet_parent, np.int64)
    side_of_tet = np.asarray(tet_side, np.int64)
    pts = np.asarray(points_mm, np.float64).reshape(-1, 3)
    side = np.where(np.asarray(point_side).reshape(-1) > 0, 1, -1)
    k_old = len(embedding.tet)
    tet = np.full(len(pts), -1, np.int64)
    weights = np.zeros((len(pts), 4))
    outside = np.zeros(len(pts))
    # children of every old element, side by side: (old element, side) -> up to `width` new elements
    key = parent * 2 + (side_of_tet > 0)
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=2 * (int(parent.max()) + 1) if len(parent) else 0)
    starts = np.concatenate([[0], np.cumsum(counts)])
    width = int(counts.max()) if len(counts) else 0
    if k_old and width:
        want = np.clip(embedding.tet * 2 + (side[:k_old] > 0), 0, len(counts) - 1)
        n_children = counts[want]
        slot = np.arange(width)[None, :]
        cand = np.where(slot < n_children[:, None], order[np.minimum(starts[want][:, None] + slot, len(order) - 1)], -1)
        valid = cand >= 0
        corners = mesh.points[mesh.tets[np.maximum(cand, 0)]]  # (k, width, 4, 3)
        bary = _barycentric(np.repeat(pts[:k_old, None, :], width, axis=1), corners)
        score = np.where(valid, bary.min(axis=2), -np.inf)
        best = np.argmax(score, axis=1)
        rows = np.arange(k_old)
        found = valid[rows, best]
        tet[:k_old][found] = cand[rows, best][found]
        weights[:k_old][found] = bary[rows, best][found]
        size = np.cbrt(np.abs(mesh.volumes()[tet[:k_old][found]]) * 6.0)
        outside[:k_old][found] = np.maximum(-weights[:k_old][found].min(axis=1), 0.0) * size
    for s in (1, -1):  # the rest: new points, and hosts without a piece on the point's side
        todo = (tet < 0) & (side == s)
        if not todo.any():
            continue
        ids = np.nonzero(side_of_tet == s)[0]
        if not len(ids):
            raise TissueInputError("the cut left one side without tissue")
        fresh = embed_points(TetMesh(mesh.points, mesh.tets[ids]), pts[todo])
        tet[todo], weights[todo], outside[todo] = ids[fresh.tet], fresh.weights, fresh.outside_mm
    return Embedding(tet, weights, mesh.tets[tet], outside)
