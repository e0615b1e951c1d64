"""Box prompts from the viewer: two LPS corners on a slice view -> the array slice and voxel box LiteMedSAM takes.

A slice view shows a plane of patient space; the model works on 2-D slices of the ``(z, y, x)`` array. The array
axis closest to the view's normal gives the model's slice direction (``axial`` = array axis 0, ``coronal`` = 1,
``sagittal`` = 2 in :mod:`imaging.ai.litemedsam` terms, whatever the scan's orientation), the corners' continuous
indices along the other two axes give the box, rounded outwards and clipped to the slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from imaging.ai.litemedsam import AXES
from imaging.ai.manifests import AIInputError
from imaging.volume import VolumeGeometry

__all__ = ["SliceBox", "slice_box_from_points"]


@dataclass(frozen=True)
class SliceBox:
    """A box prompt in the model's terms: ``axis`` and slice ``index`` of the array, ``box`` = ``(x0, y0, x1, y1)``."""

    axis: str
    index: int
    box: tuple[int, int, int, int]


def slice_box_from_points(
    geometry: VolumeGeometry, p1_lps: npt.ArrayLike, p2_lps: npt.ArrayLike, normal_lps: npt.ArrayLike
) -> SliceBox:
    """The slice box spanned by two opposite corners picked on a view whose plane has normal ``normal_lps``.

    Raises
    ------
    AIInputError
        The box has no area, or lies outside the image.
    """
    direction = np.asarray(geometry.direction, float)  # columns: i, j, k axes in LPS
    normal = np.asarray(normal_lps, float)
    along = int(np.argmax(np.abs(direction.T @ normal)))  # index axis i=0, j=1, k=2 closest to the normal
    axis = AXES[2 - along]  # array (z, y, x) = (k, j, i)
    ijk = geometry.point_to_index(np.stack([np.asarray(p1_lps, float), np.asarray(p2_lps, float)]))
    nx, ny, nz = geometry.size_xyz
    sizes = (nx, ny, nz)
    index = round(float(ijk[:, along].mean()))
    if not 0 <= index < sizes[along]:
        raise AIInputError("the box is outside the image")
    # The slice's (row, column) index axes, as litemedsam.get_slice lays them out.
    row_axis, col_axis = {2: (1, 0), 1: (2, 0), 0: (2, 1)}[along]
    lo, hi = ijk.min(axis=0), ijk.max(axis=0)
    x0, x1 = int(np.floor(lo[col_axis] + 0.5)), int(np.ceil(hi[col_axis] - 0.5))
    y0, y1 = int(np.floor(lo[row_axis] + 0.5)), int(np.ceil(hi[row_axis] - 0.5))
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, sizes[col_axis] - 1), min(y1, sizes[row_axis] - 1)
    if x1 <= x0 or y1 <= y0:
        raise AIInputError("the box has no area inside the image: drag a rectangle around the structure")
    return SliceBox(axis, index, (x0, y0, x1, y1))
