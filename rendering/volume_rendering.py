"""Direct volume rendering of a CT or MR volume in the 3-D scene, on the GPU when there is one.

The mapper is chosen at run time (:func:`choose_mapper_kind`):

* ``gpu``: :class:`vtkGPUVolumeRayCastMapper` (OpenGL ray casting), when the OpenGL renderer is a real GPU;
* ``cpu``: :class:`vtkFixedPointVolumeRayCastMapper`, multi-threaded ray casting on the CPU, when OpenGL is
  software (Mesa llvmpipe/softpipe, as under Xvfb or EGL without a GPU). Measured on the 2-core machines, the GPU
  ray caster on llvmpipe draws the same image 4-5x slower than the CPU ray caster (0.5 s against 0.11 s per
  300x300 frame of the 128x128x96 phantom), so the CPU mapper is the right choice there, not a fallback.

``SURGITWIN_VOLUME_MAPPER=gpu|cpu|auto`` overrides the choice. Both mappers give the same picture (same transfer
function, shading and sample distance); the rendering tests compare it against reviewed reference images.

Level of detail: while the user drags the camera (:meth:`VolumeRendering.set_interacting`), rays are cast for every
second pixel (``ImageSampleDistance`` 2, raised up to 6 when frames stay slower than the target) and sampled half as
densely along each ray; the full-quality image is drawn once the mouse is released.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from typing import Literal

from vtkmodules.vtkCommonDataModel import vtkPlaneCollection
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow, vtkVolume, vtkVolumeProperty
from vtkmodules.vtkRenderingVolume import vtkFixedPointVolumeRayCastMapper, vtkGPUVolumeRayCastMapper

import rendering.vtk_init  # noqa: F401  (registers the OpenGL volume mappers)
from imaging.volume import Volume
from rendering.transfer_functions import TransferFunction, load_preset
from rendering.vtk_convert import image_placement_matrix, volume_to_image_data

__all__ = [
    "MAPPER_ENV",
    "MapperKind",
    "VolumeRendering",
    "VolumeRenderingError",
    "choose_mapper_kind",
    "is_software_renderer",
    "opengl_renderer_name",
]

log = logging.getLogger(__name__)

MapperKind = Literal["gpu", "cpu"]
MAPPER_ENV = "SURGITWIN_VOLUME_MAPPER"
_SOFTWARE_GL = re.compile(r"llvmpipe|softpipe|swrast|software|lavapipe|swiftshader|gdi generic", re.IGNORECASE)

INTERACTIVE_FRAME_S = 0.05
"""Target time of one frame while the camera moves (20 frames per second)."""


class VolumeRenderingError(ValueError):
    """The volume cannot be rendered (wrong shape or type, or an unknown mapper requested)."""


def opengl_renderer_name(window: vtkRenderWindow | None = None) -> str:
    """The OpenGL renderer string of ``window`` (rendered once if needed), e.g. ``"llvmpipe (LLVM 15.0.6, 256 bits)"``.

    Without a window, a 1x1 offscreen window is made for the question; the answer is then cached.
    """
    if window is None:
        return _probe_renderer_name()
    report = window.ReportCapabilities() or ""
    if "renderer string" not in report:
        window.Render()
        report = window.ReportCapabilities() or ""
    match = re.search(r"OpenGL renderer string:\s*(.+)", report)
    return match.group(1).strip() if match else ""


@functools.cache
def _probe_renderer_name() -> str:
    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(1, 1)
    window.AddRenderer(vtkRenderer())
    try:
        window.Render()
        report = window.ReportCapabilities() or ""
    finally:
        window.Finalize()
    match = re.search(r"OpenGL renderer string:\s*(.+)", report)
    return match.group(1).strip() if match else ""


def is_software_renderer(name: str) -> bool:
    """Whether an OpenGL renderer string names a software rasteriser (Mesa llvmpipe, softpipe, SwiftShader...)."""
    return not name or bool(_SOFTWARE_GL.search(name))


def choose_mapper_kind(window: vtkRenderWindow | None = None) -> MapperKind:
    """``"gpu"`` on a hardware OpenGL renderer, ``"cpu"`` on software OpenGL; ``$SURGITWIN_VOLUME_MAPPER`` wins.

    Raises
    ------
    VolumeRenderingError
        If ``$SURGITWIN_VOLUME_MAPPER`` is set to something other than ``gpu``, ``cpu`` or ``auto``.
    """
    forced = os.environ.get(MAPPER_ENV, "auto").strip().lower()
    if forced in ("gpu", "cpu"):
        return forced  # type: ignore[return-value]
    if forced not in ("", "auto"):
        raise VolumeRenderingError(f"{MAPPER_ENV} must be gpu, cpu or auto, got {forced!r}")
    return "cpu" if is_software_renderer(opengl_renderer_name(window)) else "gpu"


class VolumeRendering:
    """One volume drawn by ray casting with a :class:`~rendering.transfer_functions.TransferFunction`.

    Add :attr:`prop` to a renderer (``renderer.AddVolume``); :class:`~rendering.scene3d.Scene3D` does it for you.

    Parameters
    ----------
    mapper_kind : {"gpu", "cpu"}, optional
        Which ray caster to use; chosen by :func:`choose_mapper_kind` when omitted.
    transfer_function : TransferFunction, optional
        Initial transfer function (default: the ``ct_bone`` preset).

    Raises
    ------
    VolumeRenderingError
        If ``mapper_kind`` is not ``"gpu"`` or ``"cpu"``.
    """

    def __init__(self, mapper_kind: MapperKind | None = None, *,
                 transfer_function: TransferFunction | None = None) -> None:
        kind = mapper_kind or choose_mapper_kind()
        if kind not in ("gpu", "cpu"):
            raise VolumeRenderingError(f"mapper kind must be 'gpu' or 'cpu', got {kind!r}")
        self.mapper_kind: MapperKind = kind
        self.mapper = vtkGPUVolumeRayCastMapper() if kind == "gpu" else vtkFixedPointVolumeRayCastMapper()
        # Sample distances are set explicitly (still vs interacting) so that a frame's cost is predictable.
        self.mapper.AutoAdjustSampleDistancesOff()
        if kind == "cpu":
            self.mapper.LockSampleDistanceToInputSpacingOff()
            self.mapper.SetNumberOfThreads(os.cpu_count() or 1)
        self.property = vtkVolumeProperty()
        self.prop = vtkVolume()
        self.prop.SetMapper(self.mapper)
        self.prop.SetProperty(self.property)
        self.prop.SetVisibility(False)
        self.prop.PickableOff()
        self.volume: Volume | None = None
        self._transfer_function = transfer_function or load_preset("ct_bone")
        self._transfer_function.apply_to(self.property)
        self._base_sample_mm = 1.0
        self._interacting = False
        self.interactive_image_sample_distance = 2.0
        self.max_image_sample_distance = 6.0
        self.interactive_sample_factor = 2.0

    # --- data -----------------------------------------------------------------------------------------------------
    def set_volume(self, volume: Volume | None) -> None:
        """Render ``volume`` (None removes it). The voxels are shared with VTK, not copied.

        Raises
        ------
        VolumeRenderingError
            If the volume holds complex or non-numeric values.
        """
        self.volume = volume
        if volume is None:
            self.prop.SetVisibility(False)
            return
        dtype = volume.array.dtype
        if dtype.kind not in "iuf" or (dtype.itemsize > 4 and dtype.kind != "f"):
            raise VolumeRenderingError(f"cannot volume-render voxels of type {volume.array.dtype}; expected integers "
                                       "up to 32 bits or floats")
        self.mapper.SetInputData(volume_to_image_data(volume))
        self.prop.SetUserMatrix(image_placement_matrix(volume))
        spacing = min(volume.spacing)
        # Half a voxel along each ray on the GPU (Slicer's "normal" quality); one voxel on the CPU keeps software
        # frames affordable, with linear interpolation and shading hiding the difference at these resolutions.
        self._base_sample_mm = spacing * (0.5 if self.mapper_kind == "gpu" else 1.0)
        self._apply_quality()

    @property
    def transfer_function(self) -> TransferFunction:
        """The transfer function in use."""
        return self._transfer_function

    def set_transfer_function(self, transfer_function: TransferFunction) -> None:
        """Use ``transfer_function`` (takes effect at the next render)."""
        self._transfer_function = transfer_function
        transfer_function.apply_to(self.property)

    # --- display --------------------------------------------------------------------------------------------------
    @property
    def visible(self) -> bool:
        """Whether the volume is drawn."""
        return bool(self.prop.GetVisibility())

    def set_visible(self, visible: bool) -> None:
        """Show or hide the volume (hidden while there is none)."""
        self.prop.SetVisibility(bool(visible) and self.volume is not None)

    def set_clipping_planes(self, planes: vtkPlaneCollection | None) -> None:
        """Clip the volume by ``planes`` (world coordinates, the normal pointing to the kept side)."""
        self.mapper.RemoveAllClippingPlanes()
        if planes is not None and planes.GetNumberOfItems():
            self.mapper.SetClippingPlanes(planes)

    def bounds(self) -> tuple[float, ...] | None:
        """World (LPS) bounds of the volume, or None without one."""
        if self.volume is None:
            return None
        return tuple(self.prop.GetBounds())

    # --- level of detail ------------------------------------------------------------------------------------------
    @property
    def interacting(self) -> bool:
        """Whether the coarse interactive settings are in use."""
        return self._interacting

    def set_interacting(self, interacting: bool) -> None:
        """Coarse, fast rays while the camera moves (True); full quality when it stops (False)."""
        self._interacting = bool(interacting)
        self._apply_quality()

    def adapt_to_frame_time(self, seconds: float, target_s: float = INTERACTIVE_FRAME_S) -> None:
        """While interacting, make the next frames coarser when the last took longer than ``target_s``, finer when
        it took less than half (the image sample distance stays between the interactive minimum and maximum)."""
        if not self._interacting:
            return
        distance = self.mapper.GetImageSampleDistance()
        if seconds > target_s:
            distance = min(distance * 1.25, self.max_image_sample_distance)
        elif seconds < 0.5 * target_s:
            distance = max(distance / 1.25, self.interactive_image_sample_distance)
        self.mapper.SetImageSampleDistance(distance)

    def _apply_quality(self) -> None:
        if self._interacting:
            self.mapper.SetImageSampleDistance(max(self.mapper.GetImageSampleDistance(),
                                                   self.interactive_image_sample_distance))
            self.mapper.SetSampleDistance(self._base_sample_mm * self.interactive_sample_factor)
        else:
            self.mapper.SetImageSampleDistance(1.0)
            self.mapper.SetSampleDistance(self._base_sample_mm)
