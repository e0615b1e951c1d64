"""Image volumes with explicit physical geometry (DICOM LPS millimetres).

A :class:`Volume` is the value type that every layer passes around: a voxel array in ``(z, y, x)`` order plus the
geometry that places it in patient space.  Geometry follows the ITK / DICOM convention:

* ``spacing`` is ``(sx, sy, sz)`` in millimetres, along the array axes ``x``, ``y``, ``z`` (the last array axis first);
* ``origin`` is the LPS position in millimetres of the centre of voxel ``[0, 0, 0]``;
* ``direction`` is a 3x3 matrix whose *columns* are the LPS unit vectors of the ``x``, ``y`` and ``z`` index axes.

The physical point of the voxel at array index ``[k, j, i]`` is ``origin + direction @ (spacing * (i, j, k))``.
Conversions to other conventions (SimpleITK, NIfTI/RAS, VTK) live here, one function each.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["GeometryError", "Volume", "VolumeGeometry"]


class GeometryError(ValueError):
    """A volume's geometry is impossible (non-positive spacing, singular direction, wrong shapes)."""


@dataclass(frozen=True)
class VolumeGeometry:
    """Placement of a voxel grid in patient space (LPS, millimetres).

    Parameters
    ----------
    shape : tuple of int
        Array shape in ``(z, y, x)`` order.
    spacing : tuple of float
        Voxel size in millimetres along ``(x, y, z)``.
    origin : tuple of float
        LPS position (mm) of the centre of voxel ``[0, 0, 0]``.
    direction : numpy.ndarray
        3x3 matrix; column ``c`` is the LPS unit vector of index axis ``c`` (``x``, ``y``, ``z``).
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: npt.NDArray[np.float64] = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape)
        spacing = tuple(float(s) for s in self.spacing)
        origin = tuple(float(o) for o in self.origin)
        direction = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        if len(shape) != 3 or min(shape) < 1:
            raise GeometryError(f"a volume needs three positive dimensions, got shape {shape}")
        if len(spacing) != 3 or not all(np.isfinite(spacing)) or min(spacing) <= 0:
            raise GeometryError(f"voxel spacing must be three positive finite millimetre values, got {spacing}")
        if len(origin) != 3 or not all(np.isfinite(origin)):
            raise GeometryError(f"origin must be three finite millimetre values, got {origin}")
        if not np.all(np.isfinite(direction)) or abs(np.linalg.det(direction)) < 1e-6:
            raise GeometryError("direction cosines are singular or not finite")
        direction.setflags(write=False)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VolumeGeometry):
            return NotImplemented
        return self.is_close(other, tol_mm=0.0)

    def __hash__(self) -> int:
        return hash((self.shape, self.spacing, self.origin, self.direction.tobytes()))

    def is_close(self, other: VolumeGeometry, *, tol_mm: float = 1e-4) -> bool:
        """Return True when both grids have the same shape and their voxel centres agree within ``tol_mm``."""
        if self.shape != other.shape:
            return False
        a, b = self.corner_points_lps(), other.corner_points_lps()
        return bool(np.abs(a - b).max() <= tol_mm)

    @property
    def size_xyz(self) -> tuple[int, int, int]:
        """Grid size in ``(x, y, z)`` order, as ITK and DICOM tools print it."""
        return (self.shape[2], self.shape[1], self.shape[0])

    @property
    def index_to_lps(self) -> npt.NDArray[np.float64]:
        """4x4 affine taking a homogeneous ``(i, j, k, 1)`` index (x, y, z order) to LPS millimetres."""
        m = np.eye(4)
        m[:3, :3] = self.direction * np.asarray(self.spacing)[None, :]
        m[:3, 3] = self.origin
        return m

    @property
    def index_to_ras(self) -> npt.NDArray[np.float64]:
        """4x4 affine from ``(i, j, k, 1)`` to RAS millimetres, as NIfTI and nibabel expect."""
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.index_to_lps

    def index_to_point(self, ijk: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map continuous indices ``(..., 3)`` in ``(i, j, k)`` = ``(x, y, z)`` order to LPS millimetres."""
        ijk = np.asarray(ijk, dtype=np.float64)
        return ijk * np.asarray(self.spacing) @ self.direction.T + np.asarray(self.origin)

    def point_to_index(self, lps: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map LPS points ``(..., 3)`` to continuous ``(i, j, k)`` indices."""
        lps = np.asarray(lps, dtype=np.float64) - np.asarray(self.origin)
        return lps @ np.linalg.inv(self.direction).T / np.asarray(self.spacing)

    def corner_points_lps(self) -> npt.NDArray[np.float64]:
        """LPS positions of the eight corner voxel centres, in a fixed index order."""
        nx, ny, nz = self.size_xyz
        corners = np.array([[i, j, k] for k in (0, nz - 1) for j in (0, ny - 1) for i in (0, nx - 1)], float)
        return self.index_to_point(corners)

    def center_lps(self) -> npt.NDArray[np.float64]:
        """LPS position of the grid's centre."""
        nx, ny, nz = self.size_xyz
        return self.index_to_point([(nx - 1) / 2, (ny - 1) / 2, (nz - 1) / 2])

    def extent_mm(self) -> tuple[float, float, float]:
        """Physical size of the grid along its own axes, centre to centre, in millimetres."""
        return tuple(float((n - 1) * s) for n, s in zip(self.size_xyz, self.spacing, strict=True))  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, sizes in ``(x, y, z)`` order and ``direction`` flattened row by row (ITK order)."""
        return {
            "size": list(self.size_xyz),
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": [float(v) for v in self.direction.ravel()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VolumeGeometry:
        """Inverse of :meth:`to_dict`."""
        nx, ny, nz = (int(v) for v in data["size"])
        return cls((nz, ny, nx), tuple(data["spacing"]), tuple(data["origin"]), np.asarray(data["direction"]))


@dataclass
class Volume:
    """A scalar image on a physical grid.

    Parameters
    ----------
    array : numpy.ndarray
        Voxel values in ``(z, y, x)`` order (CT in Hounsfield units once rescaled).
    spacing, origin, direction
        Geometry, see :class:`VolumeGeometry`.
    metadata : dict
        Series-level description (modality, series description, UIDs, warnings). Never holds patient identity
        unless the caller put it there; exporters de-identify.
    """

    array: npt.NDArray[Any]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: npt.NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        if self.array.ndim != 3:
            raise GeometryError(f"a volume array must be 3-D (z, y, x), got {self.array.ndim}-D")
        geometry = VolumeGeometry(self.array.shape, self.spacing, self.origin, self.direction)  # validates
        self.spacing, self.origin, self.direction = geometry.spacing, geometry.origin, geometry.direction

    @property
    def geometry(self) -> VolumeGeometry:
        """The grid this volume lives on."""
        return VolumeGeometry(self.array.shape, self.spacing, self.origin, self.direction)

    @classmethod
    def from_geometry(
        cls, array: npt.NDArray[Any], geometry: VolumeGeometry, metadata: dict[str, Any] | None = None
    ) -> Volume:
        """Wrap ``array`` (shape must match) on ``geometry``."""
        if tuple(array.shape) != geometry.shape:
            raise GeometryError(f"array shape {array.shape} does not match the grid {geometry.shape}")
        return cls(array, geometry.spacing, geometry.origin, geometry.direction, dict(metadata or {}))

    def with_array(self, array: npt.NDArray[Any], **metadata: Any) -> Volume:
        """A new volume on the same grid holding ``array``."""
        return Volume.from_geometry(array, self.geometry, {**self.metadata, **metadata})

    def copy(self) -> Volume:
        """Deep copy of voxels and metadata."""
        return replace(self, array=self.array.copy(), metadata=dict(self.metadata))

    # --- conversions -------------------------------------------------------------------------------------------
    def to_simpleitk(self) -> Any:
        """Convert to a ``SimpleITK.Image`` (ITK also uses LPS; the array is shared in z, y, x order)."""
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(tuple(float(v) for v in self.direction.ravel()))
        return image

    @classmethod
    def from_simpleitk(cls, image: Any, metadata: dict[str, Any] | None = None) -> Volume:
        """Convert a 3-D ``SimpleITK.Image`` (LPS) to a volume."""
        import SimpleITK as sitk

        if image.GetDimension() != 3:
            raise GeometryError(f"expected a 3-D image, got {image.GetDimension()}-D")
        return cls(
            sitk.GetArrayFromImage(image),
            image.GetSpacing(),
            image.GetOrigin(),
            np.asarray(image.GetDirection()).reshape(3, 3),
            dict(metadata or {}),
        )
