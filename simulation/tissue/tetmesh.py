"""Tetrahedral meshes: the value type the tissue solvers, cutting and embedding share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["TetMesh", "TissueInputError", "boundary_faces", "tet_volumes"]

# The four faces of a tetrahedron (a, b, c, d), each wound counter-clockwise seen from outside for a positively
# oriented tetrahedron (det[b - a, c - a, d - a] > 0).
FACES = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])


class TissueInputError(ValueError):
    """Impossible input to the tissue tools: empty or broken meshes, impossible parameters, unknown materials."""


def tet_volumes(points: npt.NDArray[np.float64], tets: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Signed volumes of the tetrahedra (positive when ``det[b - a, c - a, d - a] > 0``)."""
    a = points[tets[:, 0]]
    e1, e2, e3 = (points[tets[:, i]] - a for i in (1, 2, 3))
    return np.einsum("ij,ij->i", e1, np.cross(e2, e3)) / 6.0


def boundary_faces(tets: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Faces used by exactly one tetrahedron, wound outward (for positively oriented tetrahedra)."""
    faces = tets[:, FACES].reshape(-1, 3)
    key = np.sort(faces, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    return faces[counts[inverse.ravel()] == 1]


@dataclass
class TetMesh:
    """Linear tetrahedra in millimetres.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, 3)`` node positions, mm (LPS when the mesh comes from a scan).
    tets : numpy.ndarray
        ``(m, 4)`` node indices, positively oriented (reoriented on construction).
    metadata : dict
        Provenance: source surface, meshing parameters.
    """

    points: npt.NDArray[np.float64]
    tets: npt.NDArray[np.int64]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = np.ascontiguousarray(self.points, dtype=np.float64).reshape(-1, 3)
        self.tets = np.ascontiguousarray(self.tets, dtype=np.int64).reshape(-1, 4)
        if not len(self.tets):
            raise TissueInputError("the tetrahedral mesh is empty (no tetrahedra)")
        if self.tets.min() < 0 or self.tets.max() >= len(self.points):
            raise TissueInputError(
                f"tetrahedra refer to node {int(self.tets.max())} but the mesh has {len(self.points)} nodes"
            )
        if not np.isfinite(self.points).all():
            raise TissueInputError("the tetrahedral mesh has non-finite node coordinates")
        vol = tet_volumes(self.points, self.tets)
        flip = vol < 0
        if flip.any():  # swapping two nodes turns a negatively oriented tetrahedron positive
            self.tets[flip] = self.tets[flip][:, [0, 2, 1, 3]]
        if np.any(np.abs(vol) <= 1e-12 * max(float(np.abs(vol).max()), 1e-300)):
            raise TissueInputError("the tetrahedral mesh has degenerate (zero-volume) tetrahedra")

    @property
    def n_points(self) -> int:
        """Number of nodes."""
        return len(self.points)

    @property
    def n_tets(self) -> int:
        """Number of tetrahedra."""
        return len(self.tets)

    def volumes(self, points: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float64]:
        """Signed volume of each tetrahedron (mm³) at ``points`` (default: the rest positions)."""
        return tet_volumes(self.points if points is None else points, self.tets)

    def volume(self, points: npt.NDArray[np.float64] | None = None) -> float:
        """Total volume (mm³)."""
        return float(self.volumes(points).sum())

    def boundary(self) -> npt.NDArray[np.int64]:
        """Outward-wound boundary triangles ``(k, 3)``."""
        return boundary_faces(self.tets)

    def edges(self) -> npt.NDArray[np.int64]:
        """Unique edges ``(e, 2)``, smaller node first."""
        pairs = self.tets[:, [0, 0, 0, 1, 1, 2, 1, 2, 3, 2, 3, 3]].reshape(-1, 2, 6).transpose(0, 2, 1)
        pairs = np.sort(pairs.reshape(-1, 2), axis=1)
        return np.unique(pairs, axis=0)

    def mean_edge_length(self) -> float:
        """Mean edge length (mm)."""
        e = self.edges()
        return float(np.linalg.norm(self.points[e[:, 0]] - self.points[e[:, 1]], axis=1).mean())

    def surface_points_and_faces(
        self, points: npt.NDArray[np.float64] | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Boundary surface compacted to its own vertices: ``(points, faces)`` at ``points`` (default rest)."""
        faces = self.boundary()
        used, inverse = np.unique(faces, return_inverse=True)
        pts = (self.points if points is None else points)[used]
        return pts, inverse.reshape(-1, 3).astype(np.int64)
