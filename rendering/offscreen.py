"""Render views to PNG files without a screen (EGL/Mesa offscreen), for `demo --offscreen`, reports and tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkIOImage import vtkPNGWriter
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow, vtkWindowToImageFilter

import rendering.vtk_init  # noqa: F401

__all__ = ["capture_window", "render_to_array", "render_to_png"]


def _offscreen_window(renderer: vtkRenderer, size: tuple[int, int]) -> vtkRenderWindow:
    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetMultiSamples(0)  # multisampling costs 3-4x in software GL (PERFORMANCE.md)
    window.SetSize(*size)
    window.AddRenderer(renderer)
    return window


def capture_window(window: vtkRenderWindow) -> np.ndarray:
    """The window's current image as an ``(height, width, 3)`` uint8 array, top row first."""
    window.Render()
    grab = vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    image = grab.GetOutput()
    width, height, _ = image.GetDimensions()
    pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    return np.ascontiguousarray(pixels[::-1, :, :3])


def render_to_array(renderer: vtkRenderer, size: tuple[int, int] = (800, 800), *, before_render=None) -> np.ndarray:
    """Render ``renderer`` alone in an offscreen window and return the RGB image.

    Parameters
    ----------
    renderer : vtkRenderer
        What to draw (a :class:`~rendering.slice_view.SliceView` or :class:`~rendering.scene3d.Scene3D` renderer).
    size : (int, int)
        Width and height in pixels.
    before_render : callable, optional
        Called with no argument once the renderer has a window (to fit cameras to its aspect).
    """
    window = _offscreen_window(renderer, size)
    try:
        if before_render is not None:
            before_render()
        return capture_window(window)
    finally:
        window.RemoveRenderer(renderer)
        window.Finalize()


def render_to_png(renderer: vtkRenderer, path: str | Path, size: tuple[int, int] = (800, 800), *,
                  before_render=None) -> Path:
    """Render ``renderer`` offscreen to a PNG file and return its path."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData

    pixels = render_to_array(renderer, size, before_render=before_render)
    height, width, _ = pixels.shape
    image = vtkImageData()
    image.SetDimensions(width, height, 1)
    flat = np.ascontiguousarray(pixels[::-1]).reshape(-1, 3)
    image.GetPointData().SetScalars(numpy_to_vtk(flat, deep=True))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = vtkPNGWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(image)
    writer.Write()
    return path
