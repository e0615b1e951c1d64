"""Triangle surface meshes in patient space (LPS millimetres)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["SurfaceMesh"]


@dataclass
class SurfaceMesh:
    """A triangle surface.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, 3)`` vertex positions in LPS millimetres.
    faces : numpy.ndarray
        ``(m, 3)`` vertex indices of each triangle, counter-clockwise seen from outside.
    metadata : dict
        Provenance (source segment, algorithm, parameters); never patient identity.
    """

    points: npt.NDArray[np.float64]
    faces: npt.NDArray[np.int64]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = np.ascontiguousarray(self.points, dtype=np.float64).reshape(-1, 3)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int64).reshape(-1, 3)
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= len(self.points)):
            raise ValueError(
                f"mesh faces refer to vertex {int(self.faces.max())} but the mesh has {len(self.points)} vertices"
            )

    @property
    def n_points(self) -> int:
        """Number of vertices."""
        return len(self.points)

    @property
    def n_faces(self) -> int:
        """Number of triangles."""
        return len(self.faces)

    def bounds(self) -> npt.NDArray[np.float64]:
        """``(2, 3)`` array of the minimum and maximum LPS coordinates."""
        if not self.n_points:
            return np.zeros((2, 3))
        return np.stack([self.points.min(axis=0), self.points.max(axis=0)])

    def area_mm2(self) -> float:
        """Total surface area in square millimetres."""
        a, b, c = (self.points[self.faces[:, i]] for i in range(3))
        return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())

    def volume_ml(self) -> float:
        """Enclosed volume in millilitres (meaningful for closed, consistently oriented surfaces)."""
        a, b, c = (self.points[self.faces[:, i]] for i in range(3))
        return float(abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0 / 1000.0)
