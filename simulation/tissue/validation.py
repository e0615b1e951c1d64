"""Standard validation problems for the tissue solvers: Cook's membrane and a cantilever under its own weight.

Kept in the package (not only in tests) so the benchmark and the tests solve exactly the same problems.  Units:
mm, N, MPa (= N/mm²), tonne/mm³.

Cook's membrane (Cook 1974; definition as in the solids4foam benchmark cases): the trapezoid (0,0), (48,44), (48,60),
(0,44) mm in plane strain, clamped at x = 0, a uniform shear traction along the right edge x = 48 (dead load, per
undeformed length).  Linear: E = 70 MPa, nu = 1/3, 6.25 kPa, tip (48,60) u_y ≈ 32.3 µm.  Neo-Hookean
(Pelteret & McBride's deal.II code-gallery form, :func:`simulation.tissue.fem.neo_hookean_stress`): E = 1.0985 MPa,
nu = 0.3, 62.5 kPa, point (48,52) u_y ≈ 14.73 mm.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simulation.tissue.fem import linear_stress, neo_hookean_stress, shape_gradients, solve_static

__all__ = ["cantilever_2d", "cooks_membrane", "cooks_membrane_tip", "lame", "richardson"]

Arr = npt.NDArray[np.float64]
IntArr = npt.NDArray[np.int64]


def lame(young: float, poisson: float) -> tuple[float, float]:
    """``(mu, lambda)`` from Young's modulus and Poisson's ratio."""
    return young / (2 * (1 + poisson)), young * poisson / ((1 + poisson) * (1 - 2 * poisson))


def _structured_triangles(xs: Arr, ys: Arr) -> tuple[Arr, IntArr]:
    """Triangles of a logically rectangular grid of node coordinates ``(nx+1, ny+1)``, diagonals alternating
    (a "union jack"-like pattern, so the mesh has no preferred direction to bias the bending response)."""
    nx, ny = xs.shape[0] - 1, xs.shape[1] - 1
    pts = np.column_stack([xs.ravel(), ys.ravel()])
    i, j = (a.ravel() for a in np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij"))

    def idx(a: IntArr, b: IntArr) -> IntArr:
        return a * (ny + 1) + b

    a, b, c, d = idx(i, j), idx(i + 1, j), idx(i + 1, j + 1), idx(i, j + 1)
    flip = ((i + j) % 2 == 0)[:, None]
    t1 = np.where(flip, np.column_stack([a, b, c]), np.column_stack([a, b, d]))
    t2 = np.where(flip, np.column_stack([a, c, d]), np.column_stack([b, c, d]))
    return pts, np.concatenate([t1, t2]).astype(np.int64)


def cooks_membrane(n: int) -> tuple[Arr, IntArr]:
    """Cook's membrane with ``n`` x ``n`` quadrilateral cells, each split into two triangles."""
    xi, eta = np.meshgrid(np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1), indexing="ij")
    bottom, top = 44.0 * xi, 44.0 + 16.0 * xi
    return _structured_triangles(48.0 * xi, bottom + eta * (top - bottom))


def _edge_traction(points: Arr, nodes: IntArr, along: Arr, traction: Arr) -> Arr:
    """Consistent nodal forces of a uniform traction on the polyline through ``nodes`` sorted by ``along``."""
    nodes = nodes[np.argsort(along)]
    lengths = np.linalg.norm(np.diff(points[nodes], axis=0), axis=1)
    force = np.zeros_like(points)
    np.add.at(force, nodes[:-1], 0.5 * lengths[:, None] * traction)
    np.add.at(force, nodes[1:], 0.5 * lengths[:, None] * traction)
    return force


def cooks_membrane_tip(n: int, model: str = "linear", load_steps: int = 5) -> float:
    """Vertical displacement (mm) of Cook's membrane's reference point on an ``n`` x ``n`` mesh.

    ``model`` "linear" (point (48, 60)) or "neo-hookean" (point (48, 52); ``n`` must be even).
    """
    pts, tri = cooks_membrane(n)
    right = np.nonzero(np.isclose(pts[:, 0], 48.0))[0]
    if model == "linear":
        mu, lam = lame(70.0, 1.0 / 3.0)
        stress, traction, point, steps = linear_stress(mu, lam), 6.25e-3, (48.0, 60.0), 1
    elif model == "neo-hookean":
        mu, lam = lame(1.0985, 0.3)
        stress, traction, point, steps = neo_hookean_stress(mu, lam), 62.5e-3, (48.0, 52.0), load_steps
    else:
        raise ValueError(f"unknown model {model!r}")
    force = _edge_traction(pts, right, pts[right, 1], np.array([0.0, traction]))
    result = solve_static(pts, tri, stress, force, np.isclose(pts[:, 0], 0.0), load_steps=steps)
    if not result.converged:
        raise RuntimeError(f"Cook's membrane ({model}, n={n}) did not converge")
    tip = int(np.argmin(np.linalg.norm(pts - point, axis=1)))
    return float(result.displacement[tip, 1])


def cantilever_2d(nx: int, ny: int, *, length: float = 100.0, height: float = 10.0, young: float = 100.0,
                  density: float = 1e-9, gravity: float = 9810.0) -> tuple[float, float, float]:
    """Plane-strain cantilever (nu = 0) under its own weight: (FEM tip deflection, Euler-Bernoulli, Timoshenko).

    Clamped at x = 0; with nu = 0 plane strain equals plane stress, so beam theory applies per unit thickness:
    q = rho g h, I = h³/12, EB tip deflection q L⁴ / (8 E I), Timoshenko adds q L² / (2 k G A) with k = 5/6.
    """
    xs, ys = np.meshgrid(np.linspace(0, length, nx + 1), np.linspace(0, height, ny + 1), indexing="ij")
    pts, tri = _structured_triangles(xs, ys)
    _, area = shape_gradients(pts, tri)
    force = np.zeros_like(pts)
    np.add.at(force[:, 1], tri.ravel(), np.repeat(-density * gravity * area / 3.0, 3))
    mu, lam = lame(young, 0.0)
    result = solve_static(pts, tri, linear_stress(mu, lam), force, np.isclose(pts[:, 0], 0.0))
    tip = np.isclose(pts[:, 0], length)
    q, inertia = density * gravity * height, height**3 / 12.0
    eb = q * length**4 / (8.0 * young * inertia)
    timoshenko = eb + q * length**2 / (2.0 * 5.0 / 6.0 * mu * height)
    return float(-result.displacement[tip, 1].mean()), eb, timoshenko


def richardson(coarse: float, medium: float, fine: float) -> float:
    """Richardson extrapolation of three results on meshes refined by 2 each time (observed order)."""
    ratio = (medium - coarse) / (fine - medium)
    if ratio <= 1.0:  # not in the asymptotic range: no trustworthy extrapolation
        return fine
    return fine + (fine - medium) / (ratio - 1.0)
