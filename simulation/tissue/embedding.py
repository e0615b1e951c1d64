"""Barycentric embedding of a fine surface in a coarse tetrahedral mesh: the display follows the physics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from simulation.tissue.tetmesh import TetMesh, TissueInputError

__all__ = ["Embedding", "carry_over", "embed_points", "torn_faces"]

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
