"""Level of detail chosen by the frame budget (90 Hz: 11.1 ms for both eyes).

Each model gets decimated versions (quadric decimation, fast-simplification) made once before the session. While
the session runs, the render time of recent frames gives the cost of a triangle on this machine; the controller
picks the finest level whose estimated time fits the budget, with hysteresis so that it does not flicker between
levels. The desktop's actors are shared with the headset, so their full meshes are put back by :meth:`restore`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkProp

from rendering.vr.timing import BUDGET_90HZ_MS, FrameStats

__all__ = ["LODController", "decimate_polydata", "fit_triangle_budget", "triangle_count"]

log = logging.getLogger(__name__)

DEFAULT_FRACTIONS = (1.0, 0.5, 0.25, 0.1, 0.04)


def triangle_count(polydata: vtkPolyData) -> int:
    """Number of polygons (triangles) of ``polydata``."""
    return int(polydata.GetNumberOfPolys())


def _triangles(polydata: vtkPolyData) -> tuple[np.ndarray, np.ndarray]:
    points = vtk_to_numpy(polydata.GetPoints().GetData()).astype(np.float64)
    polys = polydata.GetPolys()
    offsets = vtk_to_numpy(polys.GetOffsetsArray())
    if not np.all(np.diff(offsets) == 3):
        raise ValueError("level of detail needs a triangle mesh")
    faces = vtk_to_numpy(polys.GetConnectivityArray()).reshape(-1, 3)
    return points, faces


def _polydata(points: np.ndarray, faces: np.ndarray) -> vtkPolyData:
    from vtkmodules.vtkFiltersCore import vtkPolyDataNormals

    out = vtkPolyData()
    vtk_points = vtkPoints()
    vtk_points.SetData(numpy_to_vtk(np.ascontiguousarray(points, dtype=np.float32), deep=True))
    out.SetPoints(vtk_points)
    cells = vtkCellArray()
    offsets = np.arange(0, 3 * len(faces) + 1, 3, dtype=np.int64)
    cells.SetData(numpy_to_vtkIdTypeArray(offsets, deep=True),
                  numpy_to_vtkIdTypeArray(np.ascontiguousarray(faces, dtype=np.int64).ravel(), deep=True))
    out.SetPolys(cells)
    normals = vtkPolyDataNormals()
    normals.SetInputData(out)
    normals.SplittingOff()
    normals.ConsistencyOff()
    normals.Update()
    return normals.GetOutput()


def decimate_polydata(polydata: vtkPolyData, fraction: float) -> vtkPolyData:
    """A copy of a triangle mesh with about ``fraction`` of its triangles (quadric decimation), with normals."""
    import fast_simplification

    if fraction >= 1.0:
        return polydata
    points, faces = _triangles(polydata)
    if len(faces) < 200:
        return polydata
    new_points, new_faces = fast_simplification.simplify(points, faces, target_reduction=1.0 - fraction)
    return _polydata(new_points, new_faces)


def fit_triangle_budget(triangles: Sequence[float], render_ms: Sequence[float],
                        budget_ms: float = BUDGET_90HZ_MS) -> tuple[float, float, float]:
    """Least-squares line ``ms = fixed + per_triangle * n`` and the triangle count that fits ``budget_ms``.

    Returns
    -------
    (fixed_ms, ms_per_million_triangles, triangles_within_budget)
        The budget is 0 when the fixed cost alone exceeds it.
    """
    n = np.asarray(triangles, dtype=float)
    t = np.asarray(render_ms, dtype=float)
    if len(n) < 2 or np.ptp(n) == 0:
        raise ValueError("need render times at two or more different triangle counts")
    slope, intercept = np.polyfit(n, t, 1)
    slope = max(float(slope), 1e-12)
    budget = max(0.0, (budget_ms - intercept) / slope)
    return float(intercept), slope * 1e6, float(budget)


class LODController:
    """Switch the models' meshes between detail levels so that a frame fits the budget.

    Parameters
    ----------
    props : iterable of vtkProp
        The shown actors (others are ignored).
    budget_ms : float
        Target render time for both eyes.
    fractions : sequence of float
        Triangle fractions of the levels, finest first.
    every : int
        Frames between decisions.
    adaptive : bool
        Choose levels by the budget; False holds the level set by :meth:`set_level` (measurements).
    """

    def __init__(self, props: Iterable[vtkProp], *, budget_ms: float = BUDGET_90HZ_MS,
                 fractions: Sequence[float] = DEFAULT_FRACTIONS, every: int = 5, adaptive: bool = True) -> None:
        self.adaptive = adaptive
        self.budget_ms = float(budget_ms)
        self.fractions = tuple(fractions)
        self.every = every
        self.actors = [p for p in props if isinstance(p, vtkActor) and p.GetMapper() is not None
                       and isinstance(p.GetMapper().GetInput(), vtkPolyData)]
        self._originals = [a.GetMapper().GetInput() for a in self.actors]
        self.levels: list[list[vtkPolyData]] | None = None
        self.level = 0
        self.last_level = 0  # kept after restore(): what the session ended with
        self.history: list[int] = []
        self._last_decision = 0

    def build(self) -> None:
        """Make the decimated levels (once; a second or two for a few hundred thousand triangles)."""
        if self.levels is None:
            self.levels = [[decimate_polydata(pd, f) for f in self.fractions] for pd in self._originals]

    def triangles_at(self, level: int) -> int:
        """Visible triangles drawn at ``level``."""
        self.build()
        return sum(triangle_count(lv[level]) for a, lv in zip(self.actors, self.levels, strict=True)
                   if a.GetVisibility())

    def set_level(self, level: int) -> None:
        """Show every model at ``level`` (0 = full detail)."""
        self.build()
        level = int(np.clip(level, 0, len(self.fractions) - 1))
        for actor, levels in zip(self.actors, self.levels, strict=True):
            if actor.GetMapper().GetInput() is not levels[level]:
                actor.GetMapper().SetInputData(levels[level])
        self.level = self.last_level = level

    def before_frame(self, stats: FrameStats) -> None:
        """Every ``every`` frames, pick the level from the recent render times."""
        self.build()
        n = len(stats.render_ms)
        self.history.append(self.level)
        if not self.adaptive or n < self.every or n - self._last_decision < self.every:
            return
        self._last_decision = n
        recent = float(np.median(stats.render_ms[-self.every:]))
        current = max(self.triangles_at(self.level), 1)
        per_triangle = recent / current  # proportional model: conservative (it ignores the fixed cost)
        best = len(self.fractions) - 1
        for level in range(len(self.fractions)):
            estimate = per_triangle * self.triangles_at(level)
            # finer than now: only with margin (hysteresis); coarser or same: when it fits
            limit = self.budget_ms * (0.7 if level < self.level else 1.0)
            if estimate <= limit:
                best = level
                break
        if best != self.level:
            log.info("LOD level %d -> %d (%.1f ms for %d triangles)", self.level, best, recent, current)
            self.set_level(best)

    def restore(self) -> None:
        """Put the full meshes back on the (shared) actors."""
        for actor, original in zip(self.actors, self._originals, strict=True):
            actor.GetMapper().SetInputData(original)
        self.level = 0
