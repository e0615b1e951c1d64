"""The 3-D view: surface models in LPS millimetres, lit for anatomy, with a standard anterior camera."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer, vtkTextActor

import rendering.vtk_init  # noqa: F401
from imaging.mesh import SurfaceMesh
from rendering.vtk_convert import mesh_to_polydata

__all__ = ["Scene3D"]

BACKGROUND_BOTTOM = (0.08, 0.09, 0.12)
BACKGROUND_TOP = (0.30, 0.33, 0.40)

# Camera directions (projection, view up) for the standard 3-D views, in LPS.
CAMERA_VIEWS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "anterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "posterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "left": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "right": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "superior": ((0.0, 0.0, -1.0), (0.0, -1.0, 0.0)),
    "inferior": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
}


class Scene3D:
    """Surface models keyed by an id (the case node id), shown in one renderer.

    Parameters
    ----------
    renderer : vtkRenderer, optional
        Renderer to draw into; a new one is made when omitted.
    """

    def __init__(self, renderer: vtkRenderer | None = None) -> None:
        self.renderer = renderer or vtkRenderer()
        self.renderer.GradientBackgroundOn()
        self.renderer.SetBackground(*BACKGROUND_BOTTOM)
        self.renderer.SetBackground2(*BACKGROUND_TOP)
        self._actors: dict[str, vtkActor] = {}
        self._title = vtkTextActor()
        self._title.SetInput("3D")
        self._title.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self._title.SetPosition(0.01, 0.99)
        self._title.GetTextProperty().SetVerticalJustificationToTop()
        self._title.GetTextProperty().SetFontSize(14)
        self._title.GetTextProperty().SetColor(1.0, 0.85, 0.35)
        self.renderer.AddViewProp(self._title)

    def __contains__(self, key: str) -> bool:
        return key in self._actors

    def keys(self) -> Iterator[str]:
        """Ids of the models shown."""
        return iter(list(self._actors))

    def actor(self, key: str) -> vtkActor:
        """The VTK actor of model ``key``."""
        return self._actors[key]

    def set_mesh(
        self,
        key: str,
        mesh: SurfaceMesh,
        *,
        color: tuple[float, float, float] = (0.9, 0.8, 0.7),
        opacity: float = 1.0,
        visible: bool = True,
    ) -> vtkActor:
        """Show (or replace) model ``key``."""
        actor = self._actors.get(key)
        if actor is None:
            actor = vtkActor()
            mapper = vtkPolyDataMapper()
            mapper.ScalarVisibilityOff()
            actor.SetMapper(mapper)
            prop = actor.GetProperty()
            prop.SetInterpolationToPhong()
            prop.SetSpecular(0.25)
            prop.SetSpecularPower(30.0)
            prop.SetDiffuse(0.8)
            prop.SetAmbient(0.12)
            self.renderer.AddActor(actor)
            self._actors[key] = actor
        polydata = mesh_to_polydata(mesh)
        if mesh.n_faces:
            from vtkmodules.vtkFiltersCore import vtkPolyDataNormals

            normals = vtkPolyDataNormals()
            normals.SetInputData(polydata)
            normals.SplittingOff()
            normals.ConsistencyOff()
            normals.Update()
            polydata = normals.GetOutput()
        actor.GetMapper().SetInputData(polydata)
        self.set_display(key, color=color, opacity=opacity, visible=visible)
        return actor

    def set_display(
        self,
        key: str,
        *,
        color: tuple[float, float, float] | None = None,
        opacity: float | None = None,
        visible: bool | None = None,
    ) -> None:
        """Change how model ``key`` looks without touching its geometry."""
        actor = self._actors[key]
        prop = actor.GetProperty()
        if color is not None:
            prop.SetColor(*color)
        if opacity is not None:
            prop.SetOpacity(float(opacity))
        if visible is not None:
            actor.SetVisibility(bool(visible))

    def remove(self, key: str) -> None:
        """Remove model ``key`` if shown."""
        actor = self._actors.pop(key, None)
        if actor is not None:
            self.renderer.RemoveActor(actor)

    def clear(self) -> None:
        """Remove every model."""
        for key in list(self._actors):
            self.remove(key)

    def visible_bounds(self) -> np.ndarray | None:
        """``(2, 3)`` LPS bounds of the visible models, or None when nothing is shown."""
        bounds = [a.GetBounds() for a in self._actors.values() if a.GetVisibility() and a.GetMapper().GetInput()
                  and a.GetMapper().GetInput().GetNumberOfPoints()]
        if not bounds:
            return None
        b = np.asarray(bounds)
        return np.array([[b[:, 0].min(), b[:, 2].min(), b[:, 4].min()], [b[:, 1].max(), b[:, 3].max(), b[:, 5].max()]])

    def reset_camera(self, view: str = "anterior", *, zoom: float = 1.0) -> None:
        """Frame the visible models from a standard direction (``anterior``, ``left``, ``superior``...)."""
        if view not in CAMERA_VIEWS:
            raise ValueError(f"unknown view {view!r}; choose one of {', '.join(CAMERA_VIEWS)}")
        projection, up = CAMERA_VIEWS[view]
        camera = self.renderer.GetActiveCamera()
        camera.ParallelProjectionOff()
        bounds = self.visible_bounds()
        centre = bounds.mean(axis=0) if bounds is not None else np.zeros(3)
        camera.SetFocalPoint(*centre)
        camera.SetPosition(*(centre - 500.0 * np.asarray(projection)))
        camera.SetViewUp(*up)
        self.renderer.ResetCamera()
        camera.Zoom(zoom)
        self.renderer.ResetCameraClippingRange()
