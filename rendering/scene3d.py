"""The 3-D view: surface models in LPS millimetres, lit for anatomy, a volume rendering, clipping, an orientation
marker, standard cameras, and level of detail while the camera moves.

Level of detail: models above :data:`LOD_MIN_FACES` triangles get a decimated copy (vertex clustering, fast enough
to make when the model is set) that is drawn while the user drags the camera; the volume casts coarser rays
(:meth:`~rendering.volume_rendering.VolumeRendering.set_interacting`). :meth:`Scene3D.set_interacting` switches both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkPolyData
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer, vtkRenderWindow, vtkTextActor

import rendering.vtk_init  # noqa: F401
from imaging.mesh import SurfaceMesh
from imaging.volume import Volume
from rendering.clipping import Clipping
from rendering.transfer_functions import TransferFunction
from rendering.volume_rendering import MapperKind, VolumeRendering
from rendering.vtk_convert import mesh_to_polydata

__all__ = ["LOD_MIN_FACES", "OrientationMarker", "Scene3D"]

LOD_MIN_FACES = 20_000
"""Models with more triangles than this get a decimated copy for interaction."""
LOD_DIVISIONS = 64
"""Vertex-clustering bins along a model's longest side for its interactive copy (the 256x256x200 phantom's bones:
200k triangles -> about 20k)."""

BACKGROUND_BOTTOM = (0.08, 0.09, 0.12)
BACKGROUND_TOP = (0.30, 0.33, 0.40)
BACKGROUND_MOVING = tuple(0.5 * (b + t) for b, t in zip(BACKGROUND_BOTTOM, BACKGROUND_TOP, strict=True))

# Camera directions (projection, view up) for the standard 3-D views, in LPS.
CAMERA_VIEWS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "anterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "posterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "left": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "right": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "superior": ((0.0, 0.0, -1.0), (0.0, -1.0, 0.0)),
    "inferior": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
}


class OrientationMarker:
    """A small cube labelled with the patient directions (L/R, A/P, S/I) in a corner, turning with the camera.

    It lives in its own renderer on layer 1 of the window, so it works offscreen as well as in a Qt view (unlike
    vtkOrientationMarkerWidget, which needs an interactor).
    """

    def __init__(self, scene_renderer: vtkRenderer, size_fraction: float = 0.2) -> None:
        self.size_fraction = float(size_fraction)
        self.renderer = vtkRenderer()
        self.renderer.SetViewport(0.0, 0.0, size_fraction, size_fraction)
        self.renderer.SetLayer(1)
        self.renderer.InteractiveOff()
        cube = self.cube = vtkAnnotatedCubeActor()
        # LPS: +x = patient left, +y = posterior, +z = superior.
        cube.SetXPlusFaceText("L")
        cube.SetXMinusFaceText("R")
        cube.SetYPlusFaceText("P")
        cube.SetYMinusFaceText("A")
        cube.SetZPlusFaceText("S")
        cube.SetZMinusFaceText("I")
        cube.SetFaceTextScale(0.65)
        cube.GetCubeProperty().SetColor(0.35, 0.38, 0.45)
        cube.GetTextEdgesProperty().SetColor(0.9, 0.9, 0.9)
        for getter, colour in ((cube.GetXPlusFaceProperty, (0.95, 0.55, 0.45)),
                               (cube.GetXMinusFaceProperty, (0.95, 0.55, 0.45)),
                               (cube.GetYPlusFaceProperty, (0.55, 0.9, 0.55)),
                               (cube.GetYMinusFaceProperty, (0.55, 0.9, 0.55)),
                               (cube.GetZPlusFaceProperty, (0.55, 0.7, 1.0)),
                               (cube.GetZMinusFaceProperty, (0.55, 0.7, 1.0))):
            getter().SetColor(*colour)
        self.renderer.AddViewProp(cube)
        self._scene_renderer = scene_renderer
        scene_renderer.AddObserver("StartEvent", self._follow)

    @property
    def visible(self) -> bool:
        """Whether the marker is drawn."""
        return bool(self.cube.GetVisibility())

    def set_visible(self, visible: bool) -> None:
        """Show or hide the marker."""
        self.cube.SetVisibility(bool(visible))

    def _follow(self, *_args) -> None:
        """Look at the cube from the scene camera's direction, at a fixed distance, in a square corner."""
        window = self._scene_renderer.GetRenderWindow()
        if window is not None:
            width, height = window.GetSize()
            if width > 0 and height > 0:
                side = float(np.clip(self.size_fraction * min(width, height), 40.0, 120.0))
                self.renderer.SetViewport(0.0, 0.0, min(side / width, 1.0), min(side / height, 1.0))
        camera = self._scene_renderer.GetActiveCamera()
        direction = np.asarray(camera.GetDirectionOfProjection())
        marker_camera = self.renderer.GetActiveCamera()
        marker_camera.SetFocalPoint(0.0, 0.0, 0.0)
        marker_camera.SetPosition(*(-4.0 * direction))
        marker_camera.SetViewUp(*camera.GetViewUp())
        marker_camera.ParallelProjectionOff()
        marker_camera.SetViewAngle(30.0)
        self.renderer.ResetCameraClippingRange()


def _decimated(polydata: vtkPolyData) -> vtkPolyData:
    """A coarse copy for interaction (vertex clustering: linear time, a fraction of a second for 1 M triangles)."""
    from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkQuadricClustering

    clustering = vtkQuadricClustering()
    clustering.SetInputData(polydata)
    # Cubic bins, LOD_DIVISIONS along the longest side (VTK's own auto-adjustment ignores the requested count).
    b = np.asarray(polydata.GetBounds(), float).reshape(3, 2)
    extent = np.maximum(b[:, 1] - b[:, 0], 1e-6)
    divisions = np.maximum(np.ceil(extent * LOD_DIVISIONS / extent.max()), 2).astype(int)
    clustering.SetNumberOfDivisions(*(int(n) for n in divisions))
    clustering.AutoAdjustNumberOfDivisionsOff()
    clustering.Update()
    normals = vtkPolyDataNormals()
    normals.SetInputData(clustering.GetOutput())
    normals.SplittingOff()
    normals.ConsistencyOff()
    normals.Update()
    return normals.GetOutput()


class Scene3D:
    """Surface models keyed by an id (the case node id) and one volume rendering, shown in one renderer.

    Parameters
    ----------
    renderer : vtkRenderer, optional
        Renderer to draw into; a new one is made when omitted.
    mapper_kind : {"gpu", "cpu"}, optional
        Volume ray caster (see :func:`~rendering.volume_rendering.choose_mapper_kind`); chosen when first needed.
    """

    def __init__(self, renderer: vtkRenderer | None = None, *, mapper_kind: MapperKind | None = None) -> None:
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
        self._mapper_kind = mapper_kind
        self._volume_rendering: VolumeRendering | None = None
        self._full: dict[str, vtkPolyData] = {}
        self._coarse: dict[str, vtkPolyData] = {}
        self._interacting = False
        self.clipping = Clipping()
        self.orientation_marker = OrientationMarker(self.renderer)
        self.last_frame_s = 0.0
        self._frame_started = 0.0
        self.renderer.AddObserver("StartEvent", self._frame_start)
        self.renderer.AddObserver("EndEvent", self._frame_end)

    def _frame_start(self, *_args) -> None:
        self._frame_started = time.perf_counter()

    def _frame_end(self, *_args) -> None:
        """Remember the frame time; while interacting, let the volume coarsen or refine to hold the frame rate."""
        self.last_frame_s = time.perf_counter() - self._frame_started
        if self._interacting and self._volume_rendering is not None and self._volume_rendering.visible:
            self._volume_rendering.adapt_to_frame_time(self.last_frame_s)

    @property
    def renderers(self) -> list[vtkRenderer]:
        """Every renderer of the scene (the models, then the orientation marker's overlay); see :meth:`attach`."""
        return [self.renderer, self.orientation_marker.renderer]

    def attach(self, window: vtkRenderWindow) -> None:
        """Add the scene's renderers to ``window`` (two layers: the scene, the orientation marker)."""
        window.SetNumberOfLayers(max(window.GetNumberOfLayers(), 2))
        for renderer in self.renderers:
            window.AddRenderer(renderer)

    def detach(self, window: vtkRenderWindow) -> None:
        """Remove the scene's renderers from ``window``."""
        for renderer in self.renderers:
            window.RemoveRenderer(renderer)

    def render_to_array(self, size: tuple[int, int] = (400, 400)) -> np.ndarray:
        """Render the scene (with the orientation marker) offscreen; ``(height, width, 3)`` uint8, top row first."""
        from rendering.offscreen import capture_window

        window = vtkRenderWindow()
        window.SetOffScreenRendering(True)
        window.SetMultiSamples(0)
        window.SetSize(*size)
        self.attach(window)
        try:
            return capture_window(window)
        finally:
            self.detach(window)
            window.Finalize()

    # --- volume rendering -----------------------------------------------------------------------------------------
    @property
    def has_volume_rendering(self) -> bool:
        """Whether :attr:`volume_rendering` has been made (asking for it makes it and chooses its mapper)."""
        return self._volume_rendering is not None

    @property
    def volume_rendering(self) -> VolumeRendering:
        """The volume rendering (made, and its mapper chosen, on first use)."""
        if self._volume_rendering is None:
            self._volume_rendering = VolumeRendering(self._mapper_kind)
            self._volume_rendering.set_clipping_planes(self.clipping.to_vtk() if self.clipping.active else None)
            self._volume_rendering.set_interacting(self._interacting)
            self.renderer.AddVolume(self._volume_rendering.prop)
        return self._volume_rendering

    def set_volume(self, volume: Volume | None, *, transfer_function: TransferFunction | None = None,
                   visible: bool | None = None) -> None:
        """Volume-render ``volume`` (None removes it), optionally with a transfer function and visibility."""
        vr = self.volume_rendering
        vr.set_volume(volume)
        if transfer_function is not None:
            vr.set_transfer_function(transfer_function)
        if visible is not None:
            vr.set_visible(visible)

    # --- clipping -------------------------------------------------------------------------------------------------
    def set_clipping(self, clipping: Clipping) -> None:
        """Clip every model and the volume (raises :class:`~rendering.clipping.ClippingError` beyond six planes)."""
        planes = clipping.to_vtk() if clipping.active else None  # validates before anything changes
        self.clipping = clipping
        for actor in self._actors.values():
            self._clip_mapper(actor.GetMapper(), planes)
        if self._volume_rendering is not None:
            self._volume_rendering.set_clipping_planes(planes)

    @staticmethod
    def _clip_mapper(mapper, planes) -> None:
        mapper.RemoveAllClippingPlanes()
        if planes is not None and planes.GetNumberOfItems():
            mapper.SetClippingPlanes(planes)

    # --- level of detail ------------------------------------------------------------------------------------------
    @property
    def interacting(self) -> bool:
        """Whether the interactive (coarse) level of detail is in use."""
        return self._interacting

    def set_interacting(self, interacting: bool) -> None:
        """Draw decimated models and coarse volume rays while the camera moves (True); full detail after (False)."""
        self._interacting = bool(interacting)
        # A gradient background is a full-window shaded quad: ~15 ms per 800x600 frame on llvmpipe, as much as the
        # models. While moving, the flat mean colour; the gradient comes back with the full-detail frame.
        self.renderer.SetGradientBackground(not self._interacting)
        self.renderer.SetBackground(*(BACKGROUND_MOVING if self._interacting else BACKGROUND_BOTTOM))
        for key, actor in self._actors.items():
            polydata = self._coarse.get(key) if self._interacting else None
            actor.GetMapper().SetInputData(polydata if polydata is not None else self._full[key])
        if self._volume_rendering is not None:
            self._volume_rendering.set_interacting(self._interacting)

    def triangle_count(self) -> int:
        """Triangles of the visible models as currently drawn (the coarse copies while interacting)."""
        return sum(a.GetMapper().GetInput().GetNumberOfCells() for a in self._actors.values()
                   if a.GetVisibility() and a.GetMapper().GetInput() is not None)

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
            self._clip_mapper(mapper, self.clipping.to_vtk() if self.clipping.active else None)
        polydata = mesh_to_polydata(mesh)
        if mesh.n_faces:
            from vtkmodules.vtkFiltersCore import vtkPolyDataNormals

            normals = vtkPolyDataNormals()
            normals.SetInputData(polydata)
            normals.SplittingOff()
            normals.ConsistencyOff()
            normals.Update()
            polydata = normals.GetOutput()
        self._full[key] = polydata
        self._coarse.pop(key, None)
        if mesh.n_faces > LOD_MIN_FACES:
            self._coarse[key] = _decimated(polydata)
        coarse = self._coarse.get(key) if self._interacting else None
        actor.GetMapper().SetInputData(coarse if coarse is not None else polydata)
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
        self._full.pop(key, None)
        self._coarse.pop(key, None)
        if actor is not None:
            self.renderer.RemoveActor(actor)

    def clear(self) -> None:
        """Remove every model."""
        for key in list(self._actors):
            self.remove(key)

    def visible_bounds(self) -> np.ndarray | None:
        """``(2, 3)`` LPS bounds of the visible models and volume, or None when nothing is shown."""
        bounds = [a.GetBounds() for a in self._actors.values() if a.GetVisibility() and a.GetMapper().GetInput()
                  and a.GetMapper().GetInput().GetNumberOfPoints()]
        if self._volume_rendering is not None and self._volume_rendering.visible:
            bounds.append(self._volume_rendering.bounds())
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
