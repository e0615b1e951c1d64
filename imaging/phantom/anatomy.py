"""Synthetic contrast-enhanced abdominal CT phantom (the built-in demo case and test input).

The phantom is built from smooth analytic shapes (ellipsoids, elliptic cylinders, tubes swept along spline
centrelines) evaluated as approximate signed distances on the voxel grid, slab by slab along ``z`` so that memory stays
bounded for large grids.  Edges are anti-aliased with a linear partial-volume ramp one voxel wide, and correlated
Gaussian noise is added, so that thresholding, region growing, meshing and flow simulation see something that behaves
like a real arterial-phase CT.

Geometry
--------
Fixed physical field of view, whatever the grid size: 400 x 400 mm axially and 300 mm cranio-caudally.  Axial slices
with identity direction (``x`` index -> patient Left, ``y`` -> Posterior, ``z`` -> Superior), the grid centred on
``(0, 0, Z_CENTRE_MM)`` with slice 0 the most inferior.  Patient supine, head first (DICOM ``HFS``).

Hounsfield units (other code relies on these)
----------------------------------------------
* air -1000, bowel gas about -900, lung about -850, fat about -100;
* skin and muscle 40-60, liver 60, tumour 25 (hypodense), spleen 55, kidney 150 (stays below 180 after noise for all
  but a tiny fraction of voxels), inferior vena cava 110 (arterial phase, not yet opacified);
* contrast blood in the aorta, renal and common iliac arteries 300 +- noise: more than 99 % of the voxels labelled
  ``aorta`` lie in the 200..420 "vessel" window (the label marks the lumen core, see below);
* cancellous bone 550 and cortical bone 1150 with 1.5 mm shells, so every voxel labelled bone is above the 450 "bone"
  threshold;
* noise: Gaussian, 12 HU standard deviation, slightly correlated in-plane like real CT texture.

At least 9 mm of soft tissue separates every arterial lumen from every bone, so that the arterial tree is its own
connected component in the 200..420 window even though the partial-volume shells around bones also fall in it.

Labels
------
``LABEL_NAMES`` maps the ground-truth label values to names.  A voxel gets a structure's label when its centre lies
inside the structure, except for the arterial lumen (label 9, ``aorta``, which includes the renal and common iliac
arteries): it is labelled only where the partial-volume occupancy is at least 0.8, i.e. the lumen core whose HU is
guaranteed to be in the vessel window; the thin partial-volume rim carries the ``vessel_wall`` label.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from imaging.volume import Volume

__all__ = [
    "FOV_MM",
    "HU_AIR",
    "HU_BLOOD_CONTRAST",
    "HU_BONE_CANCELLOUS",
    "HU_BONE_CORTICAL",
    "HU_BOWEL_GAS",
    "HU_FAT",
    "HU_KIDNEY",
    "HU_LIVER",
    "HU_MUSCLE",
    "HU_SKIN",
    "HU_SPLEEN",
    "HU_TUMOUR",
    "LABEL_NAMES",
    "NOISE_STD_HU",
    "Z_CENTRE_MM",
    "AbdomenPhantom",
    "CancelToken",
    "PhantomCancelled",
    "ProgressCallback",
    "generate_abdomen",
]

# --- geometry ----------------------------------------------------------------------------------------------------
FOV_MM: tuple[float, float, float] = (400.0, 400.0, 300.0)
"""Physical field of view (x, y, z) in millimetres, independent of the grid size."""
Z_CENTRE_MM = 0.0
"""LPS ``z`` of the grid centre; anatomy is laid out for z in [-150, 150] mm (L5/pelvic brim up to the liver dome)."""
MIN_SIZE, MAX_SIZE = 16, 1024

# --- Hounsfield units --------------------------------------------------------------------------------------------
HU_AIR = -1000.0
HU_BOWEL_GAS = -900.0
HU_LUNG = -850.0
HU_FAT = -100.0
HU_SKIN = 50.0
HU_MUSCLE = 50.0
HU_VESSEL_WALL = 40.0
HU_LIVER = 60.0
HU_TUMOUR = 25.0
HU_SPLEEN = 55.0
HU_KIDNEY = 150.0
HU_IVC = 110.0
HU_BOWEL = 30.0
HU_BOWEL_FLUID = 15.0
HU_CSF = 10.0
HU_DISC = 85.0
HU_BLOOD_CONTRAST = 300.0
HU_BONE_CANCELLOUS = 550.0
HU_BONE_CORTICAL = 1150.0
NOISE_STD_HU = 12.0
NOISE_CORRELATION_VOXELS = 0.7  # in-plane Gaussian sigma that gives the noise a CT-like grain

CORTEX_MM = 1.5
BONE_LABEL_MIN_HU = 520.0  # noise-free HU below which a partial-volume bone voxel is not labelled bone
VESSEL_WALL_MM = 1.5
LUMEN_LABEL_OCCUPANCY = 0.8  # 0.8 * 300 + 0.2 * 40 = 248 HU: four noise sigmas above the 200 HU window floor

LABEL_NAMES: dict[int, str] = {
    0: "background",
    1: "skin",
    2: "fat",
    3: "muscle",
    4: "bone",
    5: "liver",
    6: "tumour",
    7: "kidney_left",
    8: "kidney_right",
    9: "aorta",
    10: "spleen",
    11: "bowel_gas",
    12: "bowel",
    13: "inferior_vena_cava",
    14: "lung",
    15: "spinal_canal",
    16: "intervertebral_disc",
    17: "vessel_wall",
}
_L = {name: value for value, name in LABEL_NAMES.items()}


class PhantomCancelled(Exception):
    """Raised by :func:`generate_abdomen` when its ``cancel`` token is set between two slabs."""


class CancelToken(Protocol):
    """Anything with ``is_set()``, e.g. :class:`threading.Event`."""

    def is_set(self) -> bool:
        """Return True once cancellation has been requested."""
        ...


ProgressCallback = Callable[[float, str], object]


@dataclass(frozen=True)
class AbdomenPhantom:
    """A generated phantom: CT volume, ground-truth labels and a few anatomical landmarks.

    Parameters
    ----------
    ct : Volume
        int16 Hounsfield units, ``(z, y, x)`` array, LPS geometry.
    labels : numpy.ndarray
        uint8 label per voxel, same shape as ``ct.array``; values are keys of ``label_names``.
    label_names : dict of int to str
        Names of the labels (a copy of :data:`LABEL_NAMES`).
    landmarks : dict of str to tuple of float
        LPS millimetre positions of notable points (``tumour_centre``, ``aortic_bifurcation``, ...).
    tumour_radius_mm : float
        Radius of the (spherical) liver tumour.

    """

    ct: Volume
    labels: npt.NDArray[np.uint8]
    label_names: dict[int, str] = field(default_factory=lambda: dict(LABEL_NAMES))
    landmarks: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    tumour_radius_mm: float = 0.0


# =================================================================================================================
# Signed-distance primitives.  All work on broadcast coordinate views X (1,1,nx), Y (1,ny,1), Z (nz,1,1) in mm, in
# float32, and return a distance that is exact on the surface and a good first-order estimate near it, which is all
# the partial-volume ramp and the thin shells need.
# =================================================================================================================
Arr = npt.NDArray[np.float32]


def _ellipse_ratio(q: Arr, g: Arr, amin: float | Arr, amax: float | Arr) -> Arr:
    # (q - 1) / |grad q| with |grad q| = sqrt(g) / q; the ratio q / sqrt(g) is bounded by the semi-axes, which also
    # gives a sane value at the centre where both vanish.
    ratio = q / np.sqrt(np.maximum(g, np.float32(1e-12)))
    return np.clip(ratio, amin, amax)


def _ellipsoid_sdf(x: Arr, y: Arr, z: Arr, centre: Sequence[float], axes: Sequence[float]) -> Arr:
    ax, ay, az = (np.float32(a) for a in axes)
    u, v, w = (x - np.float32(centre[0])) / ax, (y - np.float32(centre[1])) / ay, (z - np.float32(centre[2])) / az
    q2 = u * u + v * v + w * w
    g = (u / ax) ** 2 + (v / ay) ** 2 + (w / az) ** 2
    q = np.sqrt(q2)
    return (q - 1.0) * _ellipse_ratio(q, g, min(axes), max(axes))


def _ellipse_sdf(
    x: Arr, y: Arr, cx: float | Arr, cy: float | Arr, ax: float | Arr, ay: float | Arr
) -> Arr:
    """Distance to an elliptic cylinder along z; centre and semi-axes may vary with z (arrays shaped (nz,1,1))."""
    u, v = (x - cx) / ax, (y - cy) / ay
    q = np.sqrt(u * u + v * v)
    g = (u / ax) ** 2 + (v / ay) ** 2
    return (q - 1.0) * _ellipse_ratio(q, g, np.minimum(ax, ay), np.maximum(ax, ay))


def _catmull_rom(points: Sequence[Sequence[float]], step_mm: float = 2.5) -> npt.NDArray[np.float64]:
    """Sample a uniform Catmull-Rom spline through ``points`` (n, k) every ~``step_mm`` (first 3 columns = xyz)."""
    p = np.asarray(points, dtype=np.float64)
    ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])  # reflected end points keep the ends straight
    out = [p[:1]]
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        n = max(2, math.ceil(np.linalg.norm(p2[:3] - p1[:3]) / step_mm))
        t = np.linspace(0.0, 1.0, n + 1)[1:, None]
        seg = 0.5 * (
            2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
        )
        out.append(seg)
    return np.vstack(out)


@dataclass(frozen=True)
class _Tubes:
    """Union of capsule segments with linearly varying radius: a tube tree swept along sampled centrelines."""

    a: npt.NDArray[np.float64]  # (n, 3) segment starts
    b: npt.NDArray[np.float64]  # (n, 3) segment ends
    ra: npt.NDArray[np.float64]
    rb: npt.NDArray[np.float64]

    @classmethod
    def from_paths(cls, paths: Sequence[Sequence[Sequence[float]]], step_mm: float = 2.5) -> _Tubes:
        """Build from control polylines whose rows are ``(x, y, z, radius)``."""
        a, b = [], []
        for path in paths:
            s = _catmull_rom(path, step_mm)
            a.append(s[:-1])
            b.append(s[1:])
        sa, sb = np.vstack(a), np.vstack(b)
        return cls(sa[:, :3], sb[:, :3], sa[:, 3], sb[:, 3])

    def bounds(self, pad: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        r = np.maximum(self.ra, self.rb)[:, None] + pad
        return np.minimum(self.a, self.b) - r, np.maximum(self.a, self.b) + r


# =================================================================================================================
# Slab painter
# =================================================================================================================
Box = tuple[slice, slice, slice]


class _Slab:
    """One z-slab of the output: HU accumulator, label array and painting helpers."""

    def __init__(self, x: Arr, y: Arr, z: Arr, ramp_mm: float) -> None:
        self.x, self.y, self.z = x, y, z
        self.shape = (len(z), len(y), len(x))
        self.hu = np.full(self.shape, HU_AIR, dtype=np.float32)
        self.lab = np.zeros(self.shape, dtype=np.uint8)
        self.inv_ramp = np.float32(1.0 / ramp_mm)
        self.reach = 0.5 * ramp_mm + 1e-3  # occupancy is zero beyond half a ramp outside a surface
        self.full: Box = (slice(0, self.shape[0]), slice(0, self.shape[1]), slice(0, self.shape[2]))

    def box(self, lo: Sequence[float], hi: Sequence[float]) -> Box | None:
        """Index box of the voxels within the mm box ``lo..hi`` (x, y, z) grown by the ramp reach, or None."""
        out = []
        for coord, a, b in zip((self.x, self.y, self.z), lo, hi, strict=True):
            i0 = int(np.searchsorted(coord, a - self.reach, "left"))
            i1 = int(np.searchsorted(coord, b + self.reach, "right"))
            if i1 <= i0:
                return None
            out.append(slice(i0, i1))
        return out[2], out[1], out[0]

    def coords(self, box: Box) -> tuple[Arr, Arr, Arr]:
        """Broadcastable x (1,1,n), y (1,n,1), z (n,1,1) millimetre coordinates of ``box``."""
        sz, sy, sx = box
        return self.x[sx][None, None, :], self.y[sy][None, :, None], self.z[sz][:, None, None]

    def paint(self, box: Box, d: Arr, value: float, label: int, threshold: float = 0.5) -> None:
        """Composite ``value`` over the slab with the partial-volume occupancy of the region ``d < 0``."""
        shape = tuple(s.stop - s.start for s in box)
        occ = np.broadcast_to(np.clip(np.float32(0.5) - d * self.inv_ramp, 0.0, 1.0), shape)
        hu = self.hu[box]
        hu += (np.float32(value) - hu) * occ  # "over" compositing: a voxel half covered gets half the new value
        self.lab[box][occ >= threshold] = label

    def paint_bone(self, box: Box, d: Arr) -> None:
        """Bone with a cortical shell and cancellous core.

        Edge voxels whose partial-volume mixture stays below ``BONE_LABEL_MIN_HU`` (a rib against lung, say) keep
        their previous label, so every voxel labelled bone is above the 450 HU bone threshold.
        """
        before = self.lab[box].copy()
        self.paint(box, d, HU_BONE_CORTICAL, _L["bone"])
        self.paint(box, d + np.float32(CORTEX_MM), HU_BONE_CANCELLOUS, _L["bone"])
        lab = self.lab[box]
        faint = (lab == _L["bone"]) & (self.hu[box] < BONE_LABEL_MIN_HU)
        lab[faint] = before[faint]

    def tubes_sdf(self, tubes: _Tubes) -> tuple[Box, Arr] | None:
        """Signed distance to a tube tree over the slab region it can touch (None if it misses the slab)."""
        lo, hi = tubes.bounds(0.0)
        keep = (hi[:, 2] >= self.z[0] - self.reach) & (lo[:, 2] <= self.z[-1] + self.reach)
        if not keep.any():
            return None
        box = self.box(lo[keep].min(axis=0), hi[keep].max(axis=0))
        if box is None:
            return None
        shape = tuple(s.stop - s.start for s in box)
        dist = np.full(shape, np.float32(1e4), dtype=np.float32)
        for n in np.flatnonzero(keep):
            sub = self.box(lo[n], hi[n])
            if sub is None:
                continue
            local = tuple(slice(s.start - o.start, s.stop - o.start) for s, o in zip(sub, box, strict=True))
            x, y, z = self.coords(sub)
            a, b = tubes.a[n].astype(np.float32), tubes.b[n].astype(np.float32)
            ab = b - a
            px, py, pz = x - a[0], y - a[1], z - a[2]
            t = np.clip((px * ab[0] + py * ab[1] + pz * ab[2]) * np.float32(1.0 / max(ab @ ab, 1e-9)), 0.0, 1.0)
            dx, dy, dz = px - t * ab[0], py - t * ab[1], pz - t * ab[2]
            d = np.sqrt(dx * dx + dy * dy + dz * dz) - (
                np.float32(tubes.ra[n]) + t * np.float32(tubes.rb[n] - tubes.ra[n])
            )
            view = dist[local]
            np.minimum(view, d, out=view)
        return box, dist


# =================================================================================================================
# Anatomy
# =================================================================================================================
def _body_a(z: Arr) -> Arr:
    """Lateral semi-axis of the body outline: a little wider at the pelvis and at the lower rib cage."""
    return np.float32(160.0) + 7.0 * np.tanh((-z - 95.0) / 25.0) + 5.0 * np.tanh((z - 70.0) / 30.0)


BODY_B, BODY_YC = 118.0, 15.0
BODY_Y_BACK = BODY_YC + 0.92 * BODY_B  # supine: the back is flattened against the table
SKIN_MM, MUSCLE_WALL_MM = 2.0, 10.0
VB_B = 17.0  # antero-posterior semi-axis of the vertebral bodies
VERTEBRA_PERIOD, DISC_MM, VERTEBRA_Z0 = 35.0, 9.0, -140.0


def _spine_y(z: Arr | float) -> Arr | float:
    """Vertebral body centre y (posterior), with a gentle lumbar lordosis bringing L3/L4 forward."""
    return 50.0 - 7.0 * np.exp(-(((np.asarray(z) + 40.0) / 110.0) ** 2))


def _vb_a(z: Arr | float) -> Arr | float:
    """Lateral semi-axis of the vertebral bodies: lumbar bodies are wider than thoracic ones."""
    return 22.0 + 3.0 * np.clip(-np.asarray(z) / 150.0, -1.0, 1.0)


def _aorta_radius(z: float) -> float:
    return 9.5 + 2.0 * (z + 58.0) / 223.0  # tapers from ~11.5 mm at the diaphragm to 9.5 mm at the bifurcation


def _aorta_centre(z: float) -> tuple[float, float]:
    x = 8.0 + 7.0 * (z + 58.0) / 223.0
    # 9 mm of soft tissue (vessel wall included) between the lumen and the front of the vertebral bodies
    y = float(_spine_y(z)) - VB_B - _aorta_radius(z) - 9.0
    return x, y


def _fat_thickness(y: Arr) -> Arr:
    return np.float32(15.0) - 4.0 * (y - BODY_YC) / BODY_B  # thicker anteriorly


@dataclass(frozen=True)
class _Layout:
    """Seed-dependent anatomy: everything analytic that :func:`_paint_slab` draws."""

    arteries: _Tubes
    ivc: _Tubes
    ribs: _Tubes
    colon: _Tubes
    loops: list[tuple[tuple[float, float, float], tuple[float, float, float], bool]]
    tumour_centre: tuple[float, float, float]
    tumour_radius: float
    landmarks: dict[str, tuple[float, float, float]]


LIVER_RIGHT = ((-68.0, -2.0, 72.0), (64.0, 66.0, 78.0))
LIVER_LEFT = ((-5.0, -48.0, 100.0), (58.0, 28.0, 40.0))
SPLEEN = ((98.0, 42.0, 85.0), (25.0, 45.0, 45.0))
STOMACH = ((55.0, -25.0, 88.0), (40.0, 32.0, 38.0))
KIDNEYS = {  # label: (centre, semi-axes, hilum notch centre, notch semi-axes)
    "kidney_left": ((80.0, 48.0, 20.0), (23.0, 30.0, 52.0), (58.0, 40.0, 20.0), (12.0, 12.0, 20.0)),
    "kidney_right": ((-80.0, 48.0, 2.0), (23.0, 30.0, 52.0), (-58.0, 40.0, 2.0), (12.0, 12.0, 20.0)),
}
LUNGS = [((s * 85.0, 35.0, 200.0), (58.0, 60.0, 80.0)) for s in (-1.0, 1.0)]
ILIAC_WINGS = [((s * 112.0, 50.0, -165.0), (26.0, 40.0, 75.0)) for s in (-1.0, 1.0)]


def _liver_sdf(x: Arr, y: Arr, z: Arr) -> Arr:
    return np.minimum(_ellipsoid_sdf(x, y, z, *LIVER_RIGHT), _ellipsoid_sdf(x, y, z, *LIVER_LEFT))


def _make_layout(seed: int) -> _Layout:
    rng = np.random.default_rng([seed, 0x5A17])  # anatomy stream, independent of the noise stream

    # Arterial tree: aorta, bifurcation, common iliacs down past the bottom, renal arteries into the hila.
    aorta = [(*_aorta_centre(z), z, _aorta_radius(z)) for z in (170.0, 130.0, 95.0, 60.0, 25.0, -10.0, -40.0, -58.0)]
    xb, yb = _aorta_centre(-58.0)
    iliac_offsets = [(0.0, 0.0, -48.0, 8.5), (8.0, 1.0, -68.0, 6.6), (24.0, 3.0, -92.0, 6.0),
                     (42.0, 7.0, -120.0, 5.7), (55.0, 12.0, -148.0, 5.5), (60.0, 14.0, -175.0, 5.3)]  # fmt: skip
    iliacs = [[(xb + s * dx, yb + dy, z, r) for dx, dy, z, r in iliac_offsets] for s in (1.0, -1.0)]
    xa, ya = _aorta_centre(24.0)
    renal_left = [(xa + 4.0, ya + 1.0, 26.0, 3.2), (24.0, 12.0, 25.0, 3.0), (38.0, 20.0, 24.0, 3.0),
                  (50.0, 30.0, 22.0, 3.0), (62.0, 38.0, 20.0, 2.9), (69.0, 41.0, 19.0, 2.8)]  # fmt: skip
    # the right renal artery passes behind the IVC and in front of the vertebral bodies, keeping >= 9 mm from bone
    renal_right = [(xa - 4.0, ya + 1.0, 24.0, 3.2), (-6.0, 15.0, 22.0, 3.0), (-20.0, 21.0, 19.0, 3.0),
                   (-34.0, 29.0, 15.0, 3.0), (-50.0, 37.0, 9.0, 2.9), (-66.0, 41.0, 4.0, 2.8)]  # fmt: skip
    arteries = _Tubes.from_paths([aorta, *iliacs, renal_left, renal_right], step_mm=2.0)

    ivc = _Tubes.from_paths([[(-30.0, float(_spine_y(z)) - 45.0, z, 10.0) for z in (170.0, 100.0, 30.0, -30.0, -60.0)]])

    ribs = []
    for z_head, phi_end in ((178.0, -60.0), (150.0, -55.0), (122.0, -45.0), (94.0, -20.0), (66.0, 15.0)):
        for side in (-1.0, 1.0):
            ys = float(_spine_y(z_head))
            pts = [
                (side * (float(_vb_a(z_head)) + 9.0), ys + 27.0, z_head, 4.5),
                (side * 45.0, ys + 44.0, z_head - 2.0, 5.0),
            ]
            a_r, b_r = float(_body_a(np.float32(z_head))) - 22.0, BODY_B - 22.0
            for phi in np.arange(62.0, phi_end - 1e-6, -16.0):
                frac = (62.0 - phi) / 125.0
                rad = math.radians(phi)
                pts.append((side * a_r * math.cos(rad), BODY_YC + b_r * math.sin(rad), z_head - 5.0 - 45.0 * frac, 5.0))
            ribs.append(pts)
    rib_tubes = _Tubes.from_paths(ribs, step_mm=4.0)

    colon = _Tubes.from_paths([[
        (10.0, -30.0, -160.0, 15.0), (60.0, -20.0, -135.0, 16.0), (100.0, 8.0, -100.0, 17.0), (104.0, 8.0, -20.0, 17.0),
        (100.0, -10.0, 45.0, 18.0), (60.0, -65.0, 40.0, 18.0), (0.0, -70.0, 30.0, 19.0), (-60.0, -65.0, 40.0, 20.0),
        (-100.0, -20.0, 30.0, 21.0), (-102.0, -5.0, -40.0, 22.0), (-95.0, -10.0, -95.0, 23.0),
    ]], step_mm=4.0)  # fmt: skip

    loops = []
    for cx in (-62.0, -22.0, 22.0, 62.0):
        for cz in (-115.0, -72.0, -30.0):
            centre = (cx + rng.uniform(-6, 6), -45.0 + rng.uniform(-5, 5), cz + rng.uniform(-6, 6))
            axes = (22.0 + rng.uniform(-3, 3), 19.0 + rng.uniform(-3, 2), 20.0 + rng.uniform(-3, 3))
            loops.append((centre, axes, bool(rng.uniform() < 0.5)))

    # Tumour: somewhere in the right lobe, well inside the liver capsule.
    while True:
        radius = 17.0 + rng.uniform(-3.0, 4.0)
        centre = np.array([-78.0, -12.0, 68.0]) + rng.uniform(-9.0, 9.0, 3)
        c32 = [np.float32(v) for v in centre]
        if float(_liver_sdf(*c32)) <= -(radius + 8.0):
            break

    landmarks = {
        "tumour_centre": tuple(float(v) for v in centre),
        "aortic_bifurcation": (xb, yb, -58.0),
        "renal_artery_origin_left": (xa + 4.0, ya + 1.0, 26.0),
        "renal_artery_origin_right": (xa - 4.0, ya + 1.0, 24.0),
        "kidney_left_hilum": renal_left[-1][:3],
        "kidney_right_hilum": renal_right[-1][:3],
    }
    return _Layout(arteries, ivc, rib_tubes, colon, loops, landmarks["tumour_centre"], float(radius), landmarks)


def _paint_slab(s: _Slab, lay: _Layout) -> None:
    """Draw every structure into one slab, back to front (later structures win where they overlap)."""
    f32 = np.float32
    x, y, z = s.coords(s.full)

    # Body wall: skin, subcutaneous fat, muscle ring, then visceral fat filling the cavity.
    a = _body_a(z)
    d_body = np.maximum(_ellipse_sdf(x, y, f32(0.0), f32(BODY_YC), a, f32(BODY_B)), y - f32(BODY_Y_BACK))
    fat = _fat_thickness(y)
    s.paint(s.full, d_body, HU_SKIN, _L["skin"])
    s.paint(s.full, d_body + f32(SKIN_MM), HU_FAT, _L["fat"])
    d_wall = d_body + (f32(SKIN_MM) + fat)
    s.paint(s.full, d_wall, HU_MUSCLE, _L["muscle"])
    d_cavity = d_wall + f32(MUSCLE_WALL_MM)
    s.paint(s.full, d_cavity, HU_FAT, _L["fat"])

    def region(lo: Sequence[float], hi: Sequence[float]) -> tuple[Box, Arr, Arr, Arr] | None:
        box = s.box(lo, hi)
        return None if box is None else (box, *s.coords(box))

    def ellipsoid_box(centre: Sequence[float], axes: Sequence[float]) -> tuple[Box, Arr, Arr, Arr] | None:
        return region(
            [c - r for c, r in zip(centre, axes, strict=True)], [c + r for c, r in zip(centre, axes, strict=True)]
        )

    # Posterior muscles: paraspinals (kept under the subcutaneous fat) and psoas (grows towards the pelvis).
    for side in (-1.0, 1.0):
        if (r := region((side * 30 - 23, 60, -200), (side * 30 + 23, 120, 200))) is not None:
            box, xx, yy, zz = r
            d = _ellipse_sdf(xx, yy, f32(side * 30.0), _spine_y(zz) + 43.0, f32(22.0), f32(17.0))
            s.paint(box, np.maximum(d, d_wall[box]), HU_MUSCLE, _L["muscle"])
        if (r := region((side * 52 - 25, 15, -200), (side * 52 + 25, 75, 80))) is not None:
            box, xx, yy, zz = r
            rp = 6.0 + 16.0 * np.clip((60.0 - zz) / 180.0, 0.0, 1.0)
            d = _ellipse_sdf(xx, yy, side * (_vb_a(zz) + rp + 2.0), _spine_y(zz) + 2.0, rp, 0.9 * rp)
            s.paint(box, np.maximum(d, zz - f32(75.0)), HU_MUSCLE, _L["muscle"])

    # Bowel: colon frame and small-bowel loops (wall, fluid, anterior gas because the patient is supine).
    if (t := s.tubes_sdf(lay.colon)) is not None:
        box, d = t
        s.paint(box, np.maximum(d, d_cavity[box]), HU_BOWEL, _L["bowel"])
        s.paint(box, np.maximum(d + f32(3.0), d_cavity[box]), HU_BOWEL_GAS, _L["bowel_gas"])
    for centre, axes, gas in lay.loops:
        if (r := ellipsoid_box(centre, axes)) is not None:
            box, xx, yy, zz = r
            d = np.maximum(_ellipsoid_sdf(xx, yy, zz, centre, axes), d_cavity[box])
            s.paint(box, d, HU_BOWEL, _L["bowel"])
            s.paint(box, d + f32(3.0), HU_BOWEL_FLUID, _L["bowel"])
            if gas:
                s.paint(
                    box, np.maximum(d + f32(3.0), yy - f32(centre[1] - 0.35 * axes[1])), HU_BOWEL_GAS, _L["bowel_gas"]
                )

    # Stomach with an anterior air cap.
    if (r := ellipsoid_box(*STOMACH)) is not None:
        box, xx, yy, zz = r
        d = np.maximum(_ellipsoid_sdf(xx, yy, zz, *STOMACH), d_cavity[box])
        s.paint(box, d, HU_BOWEL, _L["bowel"])
        s.paint(box, d + f32(4.0), HU_BOWEL_FLUID, _L["bowel"])
        s.paint(box, np.maximum(d + f32(4.0), yy - f32(STOMACH[0][1] - 12.0)), HU_BOWEL_GAS, _L["bowel_gas"])

    # Liver (right lobe + left lobe), clipped to the abdominal cavity, with its hypodense tumour.
    (c1, a1), (c2, a2) = LIVER_RIGHT, LIVER_LEFT
    lo = np.minimum(np.subtract(c1, a1), np.subtract(c2, a2))
    hi = np.maximum(np.add(c1, a1), np.add(c2, a2))
    if (r := region(lo, hi)) is not None:
        box, xx, yy, zz = r
        s.paint(box, np.maximum(_liver_sdf(xx, yy, zz), d_cavity[box]), HU_LIVER, _L["liver"])
    rt = lay.tumour_radius
    if (r := ellipsoid_box(lay.tumour_centre, (rt, rt, rt))) is not None:
        box, xx, yy, zz = r
        s.paint(box, _ellipsoid_sdf(xx, yy, zz, lay.tumour_centre, (rt, rt, rt)), HU_TUMOUR, _L["tumour"])

    if (r := ellipsoid_box(*SPLEEN)) is not None:
        box, xx, yy, zz = r
        s.paint(box, np.maximum(_ellipsoid_sdf(xx, yy, zz, *SPLEEN), d_cavity[box]), HU_SPLEEN, _L["spleen"])

    # Kidneys: ellipsoids with a medial notch (the renal sinus, fat) that makes the bean shape.
    for name, (centre, axes, notch_c, notch_a) in KIDNEYS.items():
        if (r := ellipsoid_box(centre, axes)) is not None:
            box, xx, yy, zz = r
            d = np.maximum(_ellipsoid_sdf(xx, yy, zz, centre, axes), -_ellipsoid_sdf(xx, yy, zz, notch_c, notch_a))
            s.paint(box, d, HU_KIDNEY, _L[name])

    # Lung bases behind the liver dome and spleen.
    for centre, axes in LUNGS:
        if (r := ellipsoid_box(centre, axes)) is not None:
            box, xx, yy, zz = r
            s.paint(box, np.maximum(_ellipsoid_sdf(xx, yy, zz, centre, axes), d_cavity[box]), HU_LUNG, _L["lung"])

    # Vessels: IVC, then the arterial wall and the contrast-filled lumen (label only in the lumen core).
    if (t := s.tubes_sdf(lay.ivc)) is not None:
        s.paint(*t, HU_IVC, _L["inferior_vena_cava"])
    if (t := s.tubes_sdf(lay.arteries)) is not None:
        box, d = t
        s.paint(box, d - f32(VESSEL_WALL_MM), HU_VESSEL_WALL, _L["vessel_wall"])
        s.paint(box, d, HU_BLOOD_CONTRAST, _L["aorta"], threshold=LUMEN_LABEL_OCCUPANCY)

    # Spine: disc column, vertebral bodies, posterior arch with canal, transverse and spinous processes.
    if (r := region((-30, 20, -200), (30, 115, 200))) is not None:
        box, xx, yy, zz = r
        ys, va = _spine_y(zz), _vb_a(zz)
        d_col = _ellipse_sdf(xx, yy, f32(0.0), ys, va, f32(VB_B))
        s.paint(box, d_col, HU_DISC, _L["intervertebral_disc"])
        zc = VERTEBRA_Z0 + VERTEBRA_PERIOD * np.round((zz - VERTEBRA_Z0) / VERTEBRA_PERIOD)
        d_z = np.abs(zz - zc) - f32(0.5 * (VERTEBRA_PERIOD - DISC_MM))  # bony levels, discs in between
        s.paint_bone(box, np.maximum(d_col, d_z))
        d_arch = _ellipse_sdf(xx, yy, f32(0.0), ys + 30.0, f32(15.0), f32(14.0))
        for side in (-1.0, 1.0):
            d_arch = np.minimum(d_arch, _ellipse_sdf(xx, yy, f32(side * 10.0), ys + 20.0, f32(5.0), f32(8.0)))
            d_arch = np.minimum(d_arch, _ellipse_sdf(xx, yy, side * (va + 8.0), ys + 27.0, f32(17.0), f32(5.0)))
        d_arch = np.minimum(d_arch, _ellipse_sdf(xx, yy, f32(0.0), ys + 45.0, f32(5.0), f32(11.0)))
        # canal first, then the arch with the canal cut out, so CSF never dilutes voxels already labelled bone
        d_canal = _ellipse_sdf(xx, yy, f32(0.0), ys + 30.0, f32(8.0), f32(8.0))
        s.paint(box, d_canal, HU_CSF, _L["spinal_canal"])
        s.paint_bone(box, np.maximum(np.maximum(d_arch, d_z + f32(2.0)), -d_canal))

    if (t := s.tubes_sdf(lay.ribs)) is not None:
        s.paint_bone(*t)
    for centre, axes in ILIAC_WINGS:
        if (r := ellipsoid_box(centre, axes)) is not None:
            box, xx, yy, zz = r
            s.paint_bone(box, np.maximum(_ellipsoid_sdf(xx, yy, zz, centre, axes), d_body[box] + f32(14.0)))


def _check_size(size_xyz: object) -> tuple[int, int, int]:
    try:
        values = tuple(size_xyz)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(f"size_xyz must be three integers (nx, ny, nz), got {size_xyz!r}") from None
    ok = len(values) == 3 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values
    )
    if not ok:
        raise ValueError(f"size_xyz must be three integers (nx, ny, nz), got {size_xyz!r}")
    if not all(MIN_SIZE <= int(v) <= MAX_SIZE for v in values):
        raise ValueError(f"each phantom dimension must be between {MIN_SIZE} and {MAX_SIZE} voxels, got {values}")
    return int(values[0]), int(values[1]), int(values[2])


def _noise_factor(sigma: float) -> float:
    """Return the standard deviation left after smoothing unit white noise with a 2-D Gaussian of ``sigma``."""
    radius = int(4.0 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    return float(np.sum(k**2))  # the variance is (sum k^2)^2 for the separable 2-D kernel; this is its square root


def generate_abdomen(
    size_xyz: tuple[int, int, int] = (256, 256, 200),
    *,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> AbdomenPhantom:
    """Generate the synthetic arterial-phase abdominal CT phantom.

    Parameters
    ----------
    size_xyz : tuple of int
        Grid size ``(nx, ny, nz)``, each in 16..1024.  The physical field of view is fixed (400 x 400 x 300 mm), so
        the size only sets the voxel spacing: ``(256, 256, 200)`` gives 1.5625 x 1.5625 x 1.5 mm.
    seed : int
        Seeds the noise and small anatomical variations (tumour position and size, bowel loops).  The same seed and
        size always give the same phantom.
    progress : callable, optional
        ``progress(fraction, message)`` called after each slab with ``fraction`` in (0, 1].
    cancel : object with ``is_set()``, optional
        Checked before each slab (e.g. a :class:`threading.Event`).

    Returns
    -------
    AbdomenPhantom
        int16 HU volume, uint8 ground-truth labels (see :data:`LABEL_NAMES`) and landmarks.

    Raises
    ------
    ValueError
        If ``size_xyz`` is not three integers in 16..1024.
    PhantomCancelled
        If ``cancel.is_set()`` became true during generation.

    Notes
    -----
    HU values follow the module constants (air -1000, fat -100, muscle 50, liver 60, tumour 25, kidney 150, contrast
    blood 300, bone >= 550 with 1150 HU cortex, noise 12 HU std).  Arterial lumina stay >= 9 mm from any bone so the
    arterial tree is a connected component of its own in the 200..420 HU window.

    """
    nx, ny, nz = _check_size(size_xyz)
    seed = int(seed)
    spacing = (FOV_MM[0] / nx, FOV_MM[1] / ny, FOV_MM[2] / nz)
    origin = (
        -0.5 * (nx - 1) * spacing[0],
        -0.5 * (ny - 1) * spacing[1],
        Z_CENTRE_MM - 0.5 * (nz - 1) * spacing[2],
    )
    xs = (origin[0] + spacing[0] * np.arange(nx)).astype(np.float32)
    ys = (origin[1] + spacing[1] * np.arange(ny)).astype(np.float32)
    zs = (origin[2] + spacing[2] * np.arange(nz)).astype(np.float32)
    ramp = float(np.mean(spacing))  # one voxel of partial-volume transition across every surface

    layout = _make_layout(seed)
    noise_rng = np.random.default_rng([seed, 0x401E])
    noise_scale = NOISE_STD_HU / _noise_factor(NOISE_CORRELATION_VOXELS)

    ct = np.empty((nz, ny, nx), dtype=np.int16)
    labels = np.empty((nz, ny, nx), dtype=np.uint8)
    slab_len = max(1, min(nz, 4_000_000 // (nx * ny)))  # ~16 MB float32 slabs keep temporaries small
    for k0 in range(0, nz, slab_len):
        if cancel is not None and cancel.is_set():
            raise PhantomCancelled("phantom generation was cancelled")
        k1 = min(nz, k0 + slab_len)
        slab = _Slab(xs, ys, zs[k0:k1], ramp)
        _paint_slab(slab, layout)
        noise = noise_rng.standard_normal(slab.shape, dtype=np.float32)
        noise = ndimage.gaussian_filter(noise, sigma=(0.0, NOISE_CORRELATION_VOXELS, NOISE_CORRELATION_VOXELS))
        slab.hu += noise * np.float32(noise_scale)
        np.rint(slab.hu, out=slab.hu)
        np.clip(slab.hu, -1024, 3071, out=slab.hu)
        ct[k0:k1] = slab.hu
        labels[k0:k1] = slab.lab
        if progress is not None:
            progress(k1 / nz, f"phantom slices {k1}/{nz}")

    volume = Volume(
        ct,
        spacing,
        origin,
        np.eye(3),
        {
            "modality": "CT",
            "units": "HU",
            "series_description": "SurgiTwin abdomen phantom",
            "phantom_seed": seed,
            "patient_position": "HFS",
        },
    )
    return AbdomenPhantom(volume, labels, dict(LABEL_NAMES), dict(layout.landmarks), layout.tumour_radius)
