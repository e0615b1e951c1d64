"""Resection planning: split an organ's voxels and surface by a plane or a curved surface, and measure the margin.

The cut surface is an implicit *side function* ``f(p)``: positive on the side to resect. Voxels are assigned by the
sign of ``f`` at their centres, so the two parts partition the organ exactly and their volumes add up to the whole to
the voxel. Surfaces are split with manifold3d (a robust mesh boolean), so both parts stay closed and their volumes
add up to the organ's to floating-point precision.

A plane is ``f(p) = (p - point) . normal``. A curved surface (:class:`CurvedCutSurface`) is a thin-plate-spline
height field over the best-fit plane of its control points: ``f(p) = (p - c) . n - h(u, v)``, where ``(u, v)`` are
``p``'s coordinates in that plane. Its sign is the side; the true Euclidean distance (for margins) is measured
against a dense sampling of the surface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.interpolate import RBFInterpolator
from scipy.spatial import cKDTree

from imaging.mesh import SurfaceMesh
from imaging.volume import VolumeGeometry

__all__ = [
    "CurvedCutSurface",
    "CutPlane",
    "CutSurface",
    "MarginResult",
    "PlanningError",
    "ResectionResult",
    "margin_band_mask",
    "resect",
    "safety_margin",
    "split_mask",
    "split_mesh",
]


class PlanningError(ValueError):
    """A plan cannot be computed from what was given (too few points, empty organ, broken surface...)."""


class CutSurface(Protocol):
    """What a resection needs from a cut: a side function, a distance and a way to draw it."""

    def side(self, points: npt.ArrayLike) -> np.ndarray:
        """Side function, positive on the side the normal points to."""
        ...

    def distance(self, points: npt.ArrayLike) -> np.ndarray:
        """Unsigned Euclidean distance to the surface (mm)."""
        ...

    def flipped(self) -> CutSurface:
        """The same surface with its sides exchanged."""
        ...

    def mesh(self, centre: npt.ArrayLike, half_size_mm: float, step_mm: float = 2.0) -> SurfaceMesh:
        """A patch of the surface around ``centre`` for display."""
        ...


def _unit(v: npt.ArrayLike) -> np.ndarray:
    v = np.asarray(v, float).reshape(3)
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n == 0:
        raise PlanningError("the cut needs a direction: the points given are all at one place")
    return v / n


def _basis(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane orthogonal to ``normal``."""
    helper = np.eye(3)[int(np.argmin(np.abs(normal)))]
    u = _unit(np.cross(normal, helper))
    return u, np.cross(normal, u)


def _grid_mesh(origin: np.ndarray, u: np.ndarray, v: np.ndarray, offsets: np.ndarray, heights_fn,
               normal: np.ndarray, half: float, step: float) -> SurfaceMesh:
    n = max(2, int(np.ceil(2 * half / step)) + 1)
    s = np.linspace(-half, half, n)
    uu, vv = np.meshgrid(s, s, indexing="ij")
    uv = np.c_[uu.ravel(), vv.ravel()] + offsets
    h = heights_fn(uv)
    points = origin + uv[:, :1] * u + uv[:, 1:] * v + h[:, None] * normal
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.r_[np.c_[a, b, c], np.c_[a, c, d]]
    return SurfaceMesh(points, faces, {"kind": "cut surface"})


@dataclass(frozen=True)
class CutPlane:
    """A resection plane through ``point`` with unit ``normal`` (positive side = where the normal points)."""

    point: np.ndarray
    normal: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "point", np.asarray(self.point, float).reshape(3))
        object.__setattr__(self, "normal", _unit(self.normal))

    @classmethod
    def from_line(cls, p1: npt.ArrayLike, p2: npt.ArrayLike, view_normal: npt.ArrayLike) -> CutPlane:
        """The plane through the line ``p1``-``p2`` drawn on a slice, perpendicular to that slice."""
        p1, p2 = np.asarray(p1, float), np.asarray(p2, float)
        if np.linalg.norm(p2 - p1) < 1e-6:
            raise PlanningError("draw a line, not a point, to place a resection plane")
        return cls(p1, np.cross(p2 - p1, _unit(view_normal)))

    @classmethod
    def through_points(cls, points: npt.ArrayLike) -> CutPlane:
        """Least-squares plane through three or more points."""
        p = np.asarray(points, float).reshape(-1, 3)
        if len(p) < 3:
            raise PlanningError(f"a plane needs 3 points, got {len(p)}")
        centre = p.mean(axis=0)
        _, sv, vt = np.linalg.svd(p - centre)
        if sv[1] < 1e-6 * max(sv[0], 1e-12):
            raise PlanningError("the points lie on one line; a plane needs points that span an area")
        return cls(centre, vt[2])

    def side(self, points: npt.ArrayLike) -> np.ndarray:
        """Signed distance (mm), positive on the normal's side."""
        return (np.asarray(points, float).reshape(-1, 3) - self.point) @ self.normal

    def distance(self, points: npt.ArrayLike) -> np.ndarray:
        """Unsigned distance to the plane (mm)."""
        return np.abs(self.side(points))

    def flipped(self) -> CutPlane:
        """The plane with its sides exchanged."""
        return CutPlane(self.point, -self.normal)

    def mesh(self, centre: npt.ArrayLike, half_size_mm: float, step_mm: float = 0.0) -> SurfaceMesh:
        """A square of the plane, centred on ``centre``'s projection, for display."""
        c = np.asarray(centre, float)
        c = c - float(np.dot(c - self.point, self.normal)) * self.normal
        u, v = _basis(self.normal)
        return _grid_mesh(c, u, v, np.zeros(2), lambda uv: np.zeros(len(uv)), self.normal, half_size_mm,
                          step_mm or 2 * half_size_mm)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"type": "plane", "point": self.point.tolist(), "normal": self.normal.tolist()}


class CurvedCutSurface:
    """A smooth curved cut through control points: a thin-plate-spline height field over their best-fit plane.

    Parameters
    ----------
    control_points : array-like, shape (n, 3)
        Points the surface passes through (n >= 3, not all on one line), LPS mm.
    smoothing : float, default 0
        0 interpolates the points exactly; larger values give a smoother surface that passes near them.
    orientation : array-like, optional
        A direction the positive side should face (the best-fit normal is flipped to agree with it).
    """

    def __init__(self, control_points: npt.ArrayLike, *, smoothing: float = 0.0,
                 orientation: npt.ArrayLike | None = None) -> None:
        p = np.asarray(control_points, float).reshape(-1, 3)
        if len(p) < 3:
            raise PlanningError(f"a curved cut needs at least 3 control points, got {len(p)}")
        self.control_points = p
        self.smoothing = float(smoothing)
        self.centre = p.mean(axis=0)
        _, sv, vt = np.linalg.svd(p - self.centre)
        if sv[1] < 1e-6 * max(sv[0], 1e-12):
            raise PlanningError("the control points lie on one line; add a point off that line")
        self.u, self.v, self.normal = vt[0], vt[1], vt[2]
        if orientation is not None and float(np.dot(self.normal, orientation)) < 0:
            self.normal, self.v = -self.normal, -self.v  # keep (u, v, n) right-handed
        self._sign = 1.0
        uvh = self._local(p)
        self._spline = RBFInterpolator(uvh[:, :2], uvh[:, 2], kernel="thin_plate_spline", smoothing=self.smoothing,
                                       degree=1)
        self._tree: tuple[cKDTree, np.ndarray] | None = None

    def _local(self, points: np.ndarray) -> np.ndarray:
        d = np.asarray(points, float).reshape(-1, 3) - self.centre
        return np.c_[d @ self.u, d @ self.v, d @ self.normal]

    def height(self, uv: npt.ArrayLike) -> np.ndarray:
        """Height of the surface above the base plane at in-plane coordinates ``uv`` (mm)."""
        return self._spline(np.asarray(uv, float).reshape(-1, 2))

    def side(self, points: npt.ArrayLike) -> np.ndarray:
        """Height of ``points`` above the surface along its base normal (sign = side; zero on the surface)."""
        local = self._local(np.asarray(points, float))
        out = np.empty(len(local))
        for start in range(0, len(local), 200_000):  # RBF evaluation memory grows with the batch
            chunk = local[start:start + 200_000]
            out[start:start + 200_000] = chunk[:, 2] - self.height(chunk[:, :2])
        return self._sign * out

    def flipped(self) -> CurvedCutSurface:
        """The same surface with its sides exchanged."""
        other = object.__new__(CurvedCutSurface)
        other.__dict__.update(self.__dict__)
        other._sign = -self._sign
        return other

    def surface_points(self, centre: npt.ArrayLike, half_size_mm: float, step_mm: float) -> np.ndarray:
        """Points of the surface on a square (u, v) grid around ``centre``'s projection."""
        return self.mesh(centre, half_size_mm, step_mm).points

    def distance(self, points: npt.ArrayLike, *, step_mm: float = 0.5, reach_mm: float = 150.0) -> np.ndarray:
        """Unsigned Euclidean distance to the surface (mm), from a dense sampling refined by projection.

        The nearest sample of a ``step_mm`` grid is refined by a few Newton steps on the foot point, so the
        result is accurate to far better than the grid step.
        """
        pts = np.asarray(points, float).reshape(-1, 3)
        centre = pts.mean(axis=0)
        key = (tuple(np.round(centre, 3)), step_mm, reach_mm)
        if self._tree is None or self._tree[1] != key:
            samples = self.surface_points(centre, reach_mm, step_mm)
            self._tree = (cKDTree(samples), key)  # type: ignore[assignment]
        tree = self._tree[0]
        _, idx = tree.query(pts)
        foot_uv = self._local(tree.data[idx])[:, :2]
        local = self._local(pts)
        eps = 1e-3
        for _ in range(6):
            # Minimise |q - S(uv)|^2 by Gauss-Newton on the foot point (finite-difference tangents).
            h = self.height(foot_uv)
            hu = (self.height(foot_uv + np.array([eps, 0.0])) - h) / eps
            hv = (self.height(foot_uv + np.array([0.0, eps])) - h) / eps
            r = np.c_[foot_uv - local[:, :2], h - local[:, 2]]
            j_u, j_v = np.c_[np.ones_like(hu), np.zeros_like(hu), hu], np.c_[np.zeros_like(hv), np.ones_like(hv), hv]
            a11, a12, a22 = (j_u * j_u).sum(1), (j_u * j_v).sum(1), (j_v * j_v).sum(1)
            b1, b2 = (j_u * r).sum(1), (j_v * r).sum(1)
            det = a11 * a22 - a12 ** 2
            foot_uv = foot_uv - np.c_[(a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det]
        h = self.height(foot_uv)
        return np.linalg.norm(np.c_[foot_uv - local[:, :2], h - local[:, 2]], axis=1)

    def mesh(self, centre: npt.ArrayLike, half_size_mm: float, step_mm: float = 2.0) -> SurfaceMesh:
        """A square patch of the surface around ``centre``'s projection on the base plane."""
        offset = self._local(np.asarray(centre, float))[0, :2]
        return _grid_mesh(self.centre, self.u, self.v, offset, self.height, self.normal, half_size_mm, step_mm)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"type": "curved", "control_points": self.control_points.tolist(), "smoothing": self.smoothing}


# --- voxels -----------------------------------------------------------------------------------------------------
def _voxel_centres(mask: np.ndarray, geometry: VolumeGeometry) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    zyx = np.nonzero(mask)
    ijk = np.c_[zyx[2], zyx[1], zyx[0]]
    return zyx, geometry.index_to_point(ijk)


def split_mask(mask: npt.NDArray[np.bool_], geometry: VolumeGeometry, cut: CutSurface
               ) -> tuple[np.ndarray, np.ndarray]:
    """Partition ``mask`` by the side of ``cut`` at each voxel centre: (positive side, the rest).

    Every voxel of ``mask`` is in exactly one of the two masks.
    """
    mask = np.asarray(mask, bool)
    if mask.shape != geometry.shape:
        raise PlanningError(f"mask shape {mask.shape} does not match its grid {geometry.shape}")
    zyx, centres = _voxel_centres(mask, geometry)
    positive = np.zeros_like(mask)
    positive[tuple(a[cut.side(centres) > 0] for a in zyx)] = True
    return positive, mask & ~positive


# --- meshes -----------------------------------------------------------------------------------------------------
def _manifold(mesh: SurfaceMesh):
    import manifold3d

    m = manifold3d.Manifold(manifold3d.Mesh(np.ascontiguousarray(mesh.points, np.float32),
                                            np.ascontiguousarray(mesh.faces, np.uint32)))
    if m.status() != manifold3d.Error.NoError:
        raise PlanningError(f"the organ surface is not a closed manifold ({m.status().name}); remesh the segment")
    return m


def _from_manifold(m, metadata: dict[str, Any]) -> SurfaceMesh:
    out = m.to_mesh()
    return SurfaceMesh(np.asarray(out.vert_properties[:, :3], float), np.asarray(out.tri_verts, np.int64),
                       dict(metadata))


def _cutter_solid(cut: CurvedCutSurface, mesh: SurfaceMesh, step_mm: float) -> SurfaceMesh:
    """A closed solid bounded by the curved surface on one side, reaching past ``mesh`` on the positive side."""
    local = cut._local(mesh.points)
    lo, hi = local.min(axis=0) - 10.0, local.max(axis=0) + 10.0
    nu = max(2, int(np.ceil((hi[0] - lo[0]) / step_mm)) + 1)
    nv = max(2, int(np.ceil((hi[1] - lo[1]) / step_mm)) + 1)
    uu, vv = np.meshgrid(np.linspace(lo[0], hi[0], nu), np.linspace(lo[1], hi[1], nv), indexing="ij")
    uv = np.c_[uu.ravel(), vv.ravel()]
    h = cut.height(uv)
    # Positive side is +normal (times the sign); the cap lies beyond both the surface and the organ.
    s = cut._sign
    far = (max(float(np.max(s * h)), float(np.max(s * local[:, 2]))) + 20.0) * s
    bottom = cut.centre + uv[:, :1] * cut.u + uv[:, 1:] * cut.v + h[:, None] * cut.normal
    top = cut.centre + uv[:, :1] * cut.u + uv[:, 1:] * cut.v + far * cut.normal
    idx = np.arange(nu * nv).reshape(nu, nv)
    off = nu * nv
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = [np.c_[a, c, b], np.c_[a, d, c], np.c_[a + off, b + off, c + off], np.c_[a + off, c + off, d + off]]
    ring = np.r_[idx[:, 0], idx[-1, 1:], idx[-2::-1, -1], idx[0, -2:0:-1]]  # boundary loop of the grid
    r0, r1 = ring, np.roll(ring, -1)
    faces += [np.c_[r0, r1, r1 + off], np.c_[r0, r1 + off, r0 + off]]
    solid = SurfaceMesh(np.r_[bottom, top], np.concatenate(faces))
    if _signed_volume(solid) < 0:
        solid = SurfaceMesh(solid.points, solid.faces[:, ::-1])
    return solid


def _signed_volume(mesh: SurfaceMesh) -> float:
    a, b, c = (mesh.points[mesh.faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def split_mesh(mesh: SurfaceMesh, cut: CutSurface, *, step_mm: float = 1.5) -> tuple[SurfaceMesh, SurfaceMesh]:
    """Split a closed organ surface by ``cut``: (positive side, the rest), both closed (capped on the cut).

    Parameters
    ----------
    mesh : SurfaceMesh
        Closed, consistently oriented surface (as :func:`imaging.meshing.mesh_from_mask` makes).
    cut : CutPlane or CurvedCutSurface
        The cut.
    step_mm : float, default 1.5
        Grid step of the curved surface's triangulation.

    Raises
    ------
    PlanningError
        The mesh is not a closed manifold.
    """
    organ = _manifold(mesh)
    if isinstance(cut, CutPlane):
        positive, negative = organ.split_by_plane(tuple(cut.normal), float(np.dot(cut.point, cut.normal)))
    elif isinstance(cut, CurvedCutSurface):
        positive, negative = organ.split(_manifold(_cutter_solid(cut, mesh, step_mm)))
    else:
        raise PlanningError(f"cannot cut with a {type(cut).__name__}")
    meta = {k: v for k, v in mesh.metadata.items() if isinstance(v, str | int | float)}
    return _from_manifold(positive, meta), _from_manifold(negative, meta)


# --- margins ----------------------------------------------------------------------------------------------------
@dataclass
class MarginResult:
    """The safety margin between a target and the cut.

    Attributes
    ----------
    min_margin_mm : float
        Smallest distance from the target's surface to the cut, positive while the whole target stays on the
        resected side, negative when the cut passes through the target (by how far it reaches across).
    target_point, surface_point : numpy.ndarray
        Where the minimum is: on the target and its nearest point on the cut.
    """

    min_margin_mm: float
    target_point: np.ndarray
    surface_point: np.ndarray


def safety_margin(cut: CutSurface, target_points: npt.ArrayLike) -> MarginResult:
    """Margin from the target's surface points to ``cut``; the target should lie on its positive side.

    Parameters
    ----------
    cut : CutPlane or CurvedCutSurface
        Oriented so that the resected side (the target's) is positive.
    target_points : array-like, shape (n, 3)
        Points of the target's surface (e.g. its mesh vertices), LPS mm.
    """
    pts = np.asarray(target_points, float).reshape(-1, 3)
    if not len(pts):
        raise PlanningError("the target is empty: segment it before measuring a margin")
    signed = np.sign(cut.side(pts)) * cut.distance(pts)
    i = int(np.argmin(signed))
    p = pts[i]
    if isinstance(cut, CutPlane):
        foot = p - float(cut.side(p)[0]) * cut.normal
    else:
        local = cut._local(p)
        # The foot lies along the surface normal; approximate it with the base normal for display.
        foot = p - (local[0, 2] - float(cut.height(local[:, :2])[0])) * cut.normal
    return MarginResult(float(signed[i]), p, foot)


def margin_band_mask(target: npt.NDArray[np.bool_], geometry: VolumeGeometry, margin_mm: float) -> np.ndarray:
    """Voxels within ``margin_mm`` of the target, outside it: the safety band a cut should stay out of."""
    target = np.asarray(target, bool)
    if margin_mm <= 0:
        raise PlanningError(f"the safety margin must be positive, got {margin_mm} mm")
    spacing_zyx = np.asarray(geometry.spacing[::-1], float)
    band = np.zeros_like(target)
    if not target.any():
        return band
    # Only the target's box grown by the margin can hold band voxels: the distance transform runs there alone.
    idx = np.argwhere(target)
    pad = np.ceil(margin_mm / spacing_zyx).astype(int) + 1
    lo = np.maximum(idx.min(axis=0) - pad, 0)
    hi = np.minimum(idx.max(axis=0) + pad + 1, target.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    distance = ndimage.distance_transform_edt(~target[box], sampling=tuple(spacing_zyx))
    band[box] = (distance <= margin_mm) & ~target[box]
    return band


# --- the whole resection ----------------------------------------------------------------------------------------
@dataclass
class ResectionResult:
    """Volumes of a resection.

    Attributes
    ----------
    resected_ml, remnant_ml, total_ml : float
        From the voxel partition (exact: they add up to the organ's voxel volume).
    mesh_resected_ml, mesh_remnant_ml, mesh_total_ml : float or None
        From the split surfaces, when a surface was given.
    cut : CutPlane or CurvedCutSurface
        Oriented so that the resected side is positive.
    resected_mask, remnant_mask : numpy.ndarray
        The voxel partition.
    resected_mesh, remnant_mesh : SurfaceMesh or None
        The closed parts of the surface.
    margin : MarginResult or None
        Safety margin to the target, when a target was given.
    """

    resected_ml: float
    remnant_ml: float
    total_ml: float
    cut: Any
    resected_mask: np.ndarray = field(repr=False)
    remnant_mask: np.ndarray = field(repr=False)
    resected_mesh: SurfaceMesh | None = field(default=None, repr=False)
    remnant_mesh: SurfaceMesh | None = field(default=None, repr=False)
    mesh_resected_ml: float | None = None
    mesh_remnant_ml: float | None = None
    mesh_total_ml: float | None = None
    margin: MarginResult | None = None

    @property
    def remnant_fraction(self) -> float:
        """Remnant over the whole organ (the future liver remnant, FLR, for a liver)."""
        return self.remnant_ml / self.total_ml if self.total_ml else 0.0

    def summary(self) -> dict[str, float | None]:
        """Numbers for a report or a plan node."""
        return {
            "resected_ml": self.resected_ml, "remnant_ml": self.remnant_ml, "total_ml": self.total_ml,
            "remnant_percent": 100.0 * self.remnant_fraction, "mesh_resected_ml": self.mesh_resected_ml,
            "mesh_remnant_ml": self.mesh_remnant_ml, "mesh_total_ml": self.mesh_total_ml,
            "min_margin_mm": self.margin.min_margin_mm if self.margin else None,
        }


def resect(organ_mask: npt.NDArray[np.bool_], geometry: VolumeGeometry, cut: CutSurface, *,
           organ_mesh: SurfaceMesh | None = None, target_mask: npt.NDArray[np.bool_] | None = None,
           target_points: npt.ArrayLike | None = None) -> ResectionResult:
    """Resect an organ by ``cut``: the part on the target's side (or else the smaller part) is resected.

    Parameters
    ----------
    organ_mask : numpy.ndarray of bool
        The organ's voxels on ``geometry``.
    geometry : VolumeGeometry
        Grid of the masks.
    cut : CutPlane or CurvedCutSurface
        The cut (either orientation; it is flipped so that the resected side is positive).
    organ_mesh : SurfaceMesh, optional
        Closed surface of the organ, split too.
    target_mask : numpy.ndarray of bool, optional
        The target (tumour): decides the resected side and is measured for the margin.
    target_points : array-like, optional
        Points on the target's surface for the margin (default: the centres of its boundary voxels).

    Raises
    ------
    PlanningError
        Empty organ, or a cut that misses it.
    """
    organ_mask = np.asarray(organ_mask, bool)
    if not organ_mask.any():
        raise PlanningError("the organ segment is empty: nothing to resect")
    voxel_ml = float(np.prod(geometry.spacing)) / 1000.0
    if target_mask is not None and np.asarray(target_mask).any():
        _, centres = _voxel_centres(np.asarray(target_mask, bool), geometry)
        if float(np.mean(cut.side(centres))) < 0:
            cut = cut.flipped()
    positive, negative = split_mask(organ_mask, geometry, cut)
    if target_mask is None and positive.sum() > negative.sum():
        cut = cut.flipped()
        positive, negative = negative, positive
    if not positive.any() or not negative.any():
        raise PlanningError("the cut does not pass through the organ: move it so that it divides the organ")
    result = ResectionResult(float(positive.sum()) * voxel_ml, float(negative.sum()) * voxel_ml,
                             float(organ_mask.sum()) * voxel_ml, cut, positive, negative)
    if organ_mesh is not None and organ_mesh.n_faces:
        res_mesh, rem_mesh = split_mesh(organ_mesh, cut)
        result.resected_mesh, result.remnant_mesh = res_mesh, rem_mesh
        result.mesh_resected_ml, result.mesh_remnant_ml = res_mesh.volume_ml(), rem_mesh.volume_ml()
        result.mesh_total_ml = organ_mesh.volume_ml()
    if target_points is None and target_mask is not None and np.asarray(target_mask).any():
        target = np.asarray(target_mask, bool)
        _, target_points = _voxel_centres(target & ~ndimage.binary_erosion(target), geometry)
    if target_points is not None:
        result.margin = safety_margin(cut, target_points)
    return result
