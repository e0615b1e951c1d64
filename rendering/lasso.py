"""A free-hand outline drawn over a view (the scissors' lasso), in display pixels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor2D, vtkPolyDataMapper2D, vtkRenderer

import rendering.vtk_init  # noqa: F401

__all__ = ["LassoOverlay"]


class LassoOverlay:
    """A closed polyline in display coordinates (pixels, origin bottom-left) on top of ``renderer``."""

    def __init__(self, renderer: vtkRenderer, colour: tuple[float, float, float] = (1.0, 0.85, 0.2)) -> None:
        self.renderer = renderer
        self._polydata = vtkPolyData()
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self._polydata)
        self.actor = vtkActor2D()
        self.actor.SetMapper(mapper)
        self.actor.GetProperty().SetColor(*colour)
        self.actor.GetProperty().SetLineWidth(2.0)
        self.actor.VisibilityOff()
        renderer.AddViewProp(self.actor)

    def set_points(self, points: Sequence[tuple[float, float]], *, closed: bool = True) -> None:
        """Show the outline through ``points``, closed back to the first one unless ``closed`` is False (a stroke)."""
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(xy) < 2:
            self.clear()
            return
        xyz = np.column_stack([xy, np.zeros(len(xy))])
        vtk_points = vtkPoints()
        vtk_points.SetData(numpy_to_vtk(xyz, deep=True))
        ids = np.arange(len(xy) + int(closed)).astype(np.int64) % len(xy)
        lines = vtkCellArray()
        lines.SetData(numpy_to_vtkIdTypeArray(np.array([0, len(ids)], np.int64), deep=True),
                      numpy_to_vtkIdTypeArray(ids, deep=True))
        self._polydata.SetPoints(vtk_points)
        self._polydata.SetLines(lines)
        self._polydata.Modified()
        self.actor.VisibilityOn()

    def clear(self) -> None:
        """Hide the outline."""
        self.actor.VisibilityOff()
