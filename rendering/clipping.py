"""Clipping of the 3-D view: half-space planes and an axis-aligned box, applied to every model and the volume.

:class:`Clipping` is a plain value. VTK's mappers take at most six clipping planes, so axis-aligned planes are folded
into the box when both are on (an axis-aligned box cut by an axis-aligned plane is still a box); oblique planes are
kept as they are. :class:`ClippingBoxWidget` lets the user drag the box's faces in a view (vtkBoxWidget2 without
rotation, so that the box stays aligned with the patient axes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkPlane, vtkPlaneCollection
from vtkmodules.vtkInteractionWidgets import vtkBoxRepresentation, vtkBoxWidget2
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindowInteractor

__all__ = [
    "AXES",
    "MAX_PLANES",
    "ClipPlane",
    "Clipping",
    "ClippingBoxWidget",
    "ClippingError",
    "axis_plane",
]

MAX_PLANES = 6
"""Most clipping planes a VTK mapper honours."""

AXES = {"sagittal": 0, "coronal": 1, "axial": 2}
"""Anatomical plane name -> LPS axis of its normal (x = left, y = posterior, z = superior)."""


class ClippingError(ValueError):
    """Too many clipping planes, a zero normal or an empty box."""


@dataclass(frozen=True)
class ClipPlane:
    """A half-space: points ``p`` with ``dot(p - origin, normal) >= 0`` stay visible.

    Parameters
    ----------
    origin : (3,) float
        A point of the plane, LPS millimetres.
    normal : (3,) float
        Points to the side that is kept; normalised on creation.
    """

    origin: tuple[float, float, float]
    normal: tuple[float, float, float]

    def __post_init__(self) -> None:
        normal = np.asarray(self.normal, float)
        length = float(np.linalg.norm(normal))
        if normal.shape != (3,) or length < 1e-12:
            raise ClippingError(f"a clipping plane needs a non-zero 3-D normal, got {self.normal}")
        object.__setattr__(self, "normal", tuple(float(v) for v in normal / length))
        object.__setattr__(self, "origin", tuple(float(v) for v in np.asarray(self.origin, float).reshape(3)))

    @property
    def axis(self) -> int | None:
        """0, 1 or 2 when the normal is along x, y or z, else None."""
        normal = np.abs(np.asarray(self.normal))
        axis = int(np.argmax(normal))
        return axis if normal[axis] > 1.0 - 1e-9 else None

    def keeps(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask of the ``(n, 3)`` points on the kept side."""
        return (np.asarray(points, float) - self.origin) @ np.asarray(self.normal) >= 0.0


def axis_plane(name: str, position_mm: float, *, keep: str = "above") -> ClipPlane:
    """A plane of a standard orientation at ``position_mm`` along its normal axis.

    Parameters
    ----------
    name : {"axial", "coronal", "sagittal"}
        The plane's orientation (its normal is z, y or x).
    position_mm : float
        Coordinate along that axis (LPS: x grows to the left, y to posterior, z to superior).
    keep : {"above", "below"}
        Keep coordinates greater (above) or smaller (below) than ``position_mm``.

    Raises
    ------
    ClippingError
        If ``name`` or ``keep`` is unknown.
    """
    if name not in AXES:
        raise ClippingError(f"unknown plane {name!r}; choose one of {', '.join(AXES)}")
    if keep not in ("above", "below"):
        raise ClippingError(f"keep must be 'above' or 'below', got {keep!r}")
    normal = np.zeros(3)
    normal[AXES[name]] = 1.0 if keep == "above" else -1.0
    origin = np.zeros(3)
    origin[AXES[name]] = float(position_mm)
    return ClipPlane(tuple(origin), tuple(normal))


def _box_planes(bounds: np.ndarray) -> list[ClipPlane]:
    planes = []
    for axis in range(3):
        for side, sign in ((0, 1.0), (1, -1.0)):
            normal = np.zeros(3)
            normal[axis] = sign
            origin = np.zeros(3)
            origin[axis] = bounds[side, axis]
            planes.append(ClipPlane(tuple(origin), tuple(normal)))
    return planes


@dataclass(frozen=True)
class Clipping:
    """What the 3-D view cuts away: half-space planes and an optional axis-aligned box (everything outside goes).

    Parameters
    ----------
    planes : sequence of ClipPlane
        Each keeps the side its normal points to.
    box : (2, 3) array, optional
        ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]`` in LPS millimetres; None for no box.
    """

    planes: tuple[ClipPlane, ...] = ()
    box: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "planes", tuple(self.planes))
        if self.box is not None:
            box = np.asarray(self.box, float).reshape(2, 3)
            if np.any(box[1] <= box[0]):
                raise ClippingError(f"a clipping box needs min < max on every axis, got {box.tolist()}")
            object.__setattr__(self, "box", box)

    @property
    def active(self) -> bool:
        """Whether anything is clipped."""
        return bool(self.planes) or self.box is not None

    def effective_planes(self) -> list[ClipPlane]:
        """The planes to give VTK: the box (narrowed by axis-aligned planes) and the oblique planes.

        Raises
        ------
        ClippingError
            If more than :data:`MAX_PLANES` planes would be needed.
        """
        if self.box is None:
            planes = list(self.planes)
        else:
            box = self.box.copy()
            oblique = []
            for plane in self.planes:
                axis = plane.axis
                if axis is None:
                    oblique.append(plane)
                elif plane.normal[axis] > 0:
                    box[0, axis] = max(box[0, axis], plane.origin[axis])
                else:
                    box[1, axis] = min(box[1, axis], plane.origin[axis])
            planes = _box_planes(box) + oblique
        if len(planes) > MAX_PLANES:
            raise ClippingError(f"at most {MAX_PLANES} clipping planes can be applied at once, got {len(planes)}; "
                                "turn off a plane or the box")
        return planes

    def to_vtk(self) -> vtkPlaneCollection:
        """The planes as a ``vtkPlaneCollection`` (empty when nothing is clipped)."""
        collection = vtkPlaneCollection()
        for plane in self.effective_planes():
            vtk_plane = vtkPlane()
            vtk_plane.SetOrigin(*plane.origin)
            vtk_plane.SetNormal(*plane.normal)
            collection.AddItem(vtk_plane)
        return collection

    def keeps(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask of the ``(n, 3)`` LPS points that stay visible."""
        points = np.asarray(points, float).reshape(-1, 3)
        mask = np.ones(len(points), bool)
        for plane in self.effective_planes():
            mask &= plane.keeps(points)
        return mask


class ClippingBoxWidget:
    """An interactive box in a 3-D view whose faces the user drags; reports the new bounds on every move.

    Parameters
    ----------
    interactor : vtkRenderWindowInteractor
        The view's interactor.
    renderer : vtkRenderer, optional
        The renderer the box lives in (default: the one under the mouse when enabled).
    on_change : callable
        Called with the ``(2, 3)`` bounds while the user drags a face or moves the box.
    """

    def __init__(self, interactor: vtkRenderWindowInteractor, renderer: vtkRenderer | None = None,
                 on_change: Callable[[np.ndarray], None] | None = None) -> None:
        self.representation = vtkBoxRepresentation()
        self.representation.SetPlaceFactor(1.0)
        self.representation.GetOutlineProperty().SetColor(1.0, 0.85, 0.35)
        self.widget = vtkBoxWidget2()
        self.widget.SetInteractor(interactor)
        self.widget.SetRepresentation(self.representation)
        if renderer is not None:
            self.widget.SetCurrentRenderer(renderer)
        self.widget.RotationEnabledOff()  # keep the box aligned with the patient axes (see Clipping)
        self.on_change = on_change
        self.placed = False
        self.widget.AddObserver("InteractionEvent", self._changed)
        self.widget.AddObserver("EndInteractionEvent", self._changed)

    def place(self, bounds: Sequence[Sequence[float]] | np.ndarray) -> None:
        """Put the box on ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]``."""
        b = np.asarray(bounds, float).reshape(2, 3)
        self.representation.PlaceWidget([b[0, 0], b[1, 0], b[0, 1], b[1, 1], b[0, 2], b[1, 2]])
        self.placed = True

    @property
    def bounds(self) -> np.ndarray:
        """Current ``(2, 3)`` bounds of the box."""
        b = self.representation.GetBounds()
        return np.array([[b[0], b[2], b[4]], [b[1], b[3], b[5]]])

    def set_enabled(self, enabled: bool) -> None:
        """Show the box's handles and let the user drag them (or hide them)."""
        self.widget.SetEnabled(bool(enabled))

    @property
    def enabled(self) -> bool:
        """Whether the handles are shown."""
        return bool(self.widget.GetEnabled())

    def _changed(self, *_args) -> None:
        if self.on_change is not None:
            self.on_change(self.bounds)
