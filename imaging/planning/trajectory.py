"""Trajectory planning: a straight tool (needle, probe, drill) of some radius from an entry to a target point.

For every structure the report gives the smallest distance between the tool's surface and the structure's surface
(negative when they overlap) and where along the path it occurs; structures marked critical that the tool touches
are flagged as collisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkDoubleArray, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkImplicitPolyDataDistance

from imaging.mesh import SurfaceMesh
from imaging.planning.resection import PlanningError

__all__ = ["Clearance", "Trajectory", "structure_clearance", "trajectory_report"]


@dataclass(frozen=True)
class Trajectory:
    """A straight path from ``entry`` to ``target`` (LPS mm) for a tool of radius ``radius_mm``."""

    entry: np.ndarray
    target: np.ndarray
    radius_mm: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "entry", np.asarray(self.entry, float).reshape(3))
        object.__setattr__(self, "target", np.asarray(self.target, float).reshape(3))
        if self.length_mm < 1e-6:
            raise PlanningError("the entry and the target are at the same place; place them apart")
        if not (np.isfinite(self.radius_mm) and self.radius_mm >= 0):
            raise PlanningError(f"the tool radius must be zero or positive, got {self.radius_mm} mm")

    @property
    def length_mm(self) -> float:
        """Path length from entry to target."""
        return float(np.linalg.norm(self.target - self.entry))

    def at(self, t: npt.ArrayLike) -> np.ndarray:
        """Points at fractions ``t`` (0 = entry, 1 = target) of the path."""
        t = np.asarray(t, float).reshape(-1, 1)
        return self.entry + t * (self.target - self.entry)


@dataclass
class Clearance:
    """How close the tool comes to one structure.

    Attributes
    ----------
    name : str
        The structure.
    min_distance_mm : float
        Smallest distance between the tool's surface and the structure's (negative: they overlap).
    depth_mm : float
        Distance from the entry, along the path, where it occurs.
    point : numpy.ndarray
        That point on the path's axis.
    critical : bool
        Whether the structure was marked critical.
    """

    name: str
    min_distance_mm: float
    depth_mm: float
    point: np.ndarray
    critical: bool = False

    @property
    def collision(self) -> bool:
        """A critical structure that the tool touches or passes through."""
        return self.critical and self.min_distance_mm <= 0.0


def _polydata(mesh: SurfaceMesh) -> vtkPolyData:
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(mesh.points), deep=True))
    cells = vtkCellArray()
    offsets = np.arange(0, 3 * mesh.n_faces + 1, 3, dtype=np.int64)
    cells.SetData(numpy_to_vtk(offsets, deep=True), numpy_to_vtk(mesh.faces.ravel().astype(np.int64), deep=True))
    poly = vtkPolyData()
    poly.SetPoints(points)
    poly.SetPolys(cells)
    return poly


def structure_clearance(trajectory: Trajectory, mesh: SurfaceMesh, name: str = "", *, critical: bool = False,
                        step_mm: float = 0.5) -> Clearance:
    """Smallest distance between the tool and a closed structure surface.

    The signed distance from the path's axis to the surface (negative inside) is sampled every ``step_mm`` and the
    smallest sample refined by a bounded 1-D minimisation; the tool's radius is then subtracted.
    """
    if not mesh.n_faces:
        raise PlanningError(f"the structure {name or '?'} has no surface")
    implicit = vtkImplicitPolyDataDistance()
    implicit.SetInput(_polydata(mesh))
    n = max(2, int(np.ceil(trajectory.length_mm / step_mm)) + 1)
    t = np.linspace(0.0, 1.0, n)
    xyz = numpy_to_vtk(np.ascontiguousarray(trajectory.at(t)), deep=True)
    values = vtkDoubleArray()
    implicit.FunctionValue(xyz, values)
    d = vtk_to_numpy(values).astype(float)
    i = int(np.argmin(d))
    dt = 1.0 / (n - 1)
    refined = minimize_scalar(lambda s: implicit.EvaluateFunction(*trajectory.at(s)[0]),
                              bounds=(max(0.0, t[i] - dt), min(1.0, t[i] + dt)), method="bounded",
                              options={"xatol": 1e-4 / max(trajectory.length_mm, 1.0)})
    best_t, best_d = (float(refined.x), float(refined.fun)) if refined.fun < d[i] else (float(t[i]), float(d[i]))
    return Clearance(name, best_d - trajectory.radius_mm, best_t * trajectory.length_mm, trajectory.at(best_t)[0],
                     critical)


def trajectory_report(trajectory: Trajectory, structures: Mapping[str, SurfaceMesh],
                      critical: Iterable[str] = ()) -> list[Clearance]:
    """Clearance to every structure, closest first; structures named in ``critical`` are flagged on contact."""
    critical = set(critical)
    report = [structure_clearance(trajectory, mesh, name, critical=name in critical)
              for name, mesh in structures.items() if mesh.n_faces]
    return sorted(report, key=lambda c: c.min_distance_mm)
