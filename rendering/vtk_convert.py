"""Conversions from SurgiTwin value types to VTK objects, in one place.

VTK's world coordinates are LPS millimetres throughout SurgiTwin. Images are handed to VTK in index space scaled by
spacing and placed by an actor matrix (direction and origin), which every VTK image mapper honours.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from imaging.mesh import SurfaceMesh
from imaging.mesh_io import to_vtk_polydata
from imaging.volume import Volume

__all__ = ["image_placement_matrix", "mesh_to_polydata", "volume_to_image_data"]


def volume_to_image_data(volume: Volume) -> vtkImageData:
    """``vtkImageData`` of the voxels with spacing but origin 0 and no rotation (see :func:`image_placement_matrix`).

    The voxels are shared with ``volume.array`` when it is C-contiguous, so no copy of a large CT is made.
    """
    array = np.ascontiguousarray(volume.array)
    image = vtkImageData()
    image.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    image.SetSpacing(volume.spacing)
    image.SetOrigin(0.0, 0.0, 0.0)
    scalars = numpy_to_vtk(array.ravel(), deep=False)
    scalars.SetName("values")
    image.GetPointData().SetScalars(scalars)
    image._numpy_reference = array  # type: ignore[attr-defined]  # keeps the shared buffer alive
    return image


def image_placement_matrix(volume: Volume) -> vtkMatrix4x4:
    """Actor matrix placing :func:`volume_to_image_data` output in LPS: rotate by direction, translate by origin."""
    matrix = vtkMatrix4x4()
    for r in range(3):
        for c in range(3):
            matrix.SetElement(r, c, float(volume.direction[r, c]))
        matrix.SetElement(r, 3, float(volume.origin[r]))
    return matrix


def mesh_to_polydata(mesh: SurfaceMesh) -> vtkPolyData:
    """``vtkPolyData`` of a surface (coordinates already LPS)."""
    return to_vtk_polydata(mesh)
