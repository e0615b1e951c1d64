"""Static finite elements on linear simplices (triangles in plane strain, tetrahedra): the accuracy reference.

A Newton solver with load stepping for linear elasticity and a compressible neo-Hookean solid (the decoupled form
of Pelteret & McBride's deal.II code-gallery example, which produced the neo-Hookean Cook's membrane reference):

    Psi(F) = kappa/4 (J² - 1 - 2 ln J) + mu/2 (J^(-2/3) tr(F^T F) - 3),   kappa = lambda + 2 mu / 3.

This is where validation happens (Cook's membrane, cantilever, volume under near-incompressibility); the real-time
solver in :mod:`simulation.tissue.dynamics` shares the element geometry.  Not performance-critical: batched einsum
and a finite-difference material tangent keep it short and obviously right.  Units: the caller's consistent set
(mm, N, MPa in the validation tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from simulation.tissue._blas import single_threaded_blas
from simulation.tissue.tetmesh import TissueInputError

__all__ = ["StaticResult", "linear_stress", "neo_hookean_energy", "neo_hookean_stress", "shape_gradients",
           "solve_static", "strain_energy"]

Arr = npt.NDArray[np.float64]
StressFn = Callable[[Arr], Arr]


def shape_gradients(points: Arr, cells: npt.NDArray[np.int64]) -> tuple[Arr, Arr]:
    """Gradients of the linear shape functions and the cell sizes.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, d)`` rest positions, d = 2 or 3.
    cells : numpy.ndarray
        ``(m, d + 1)`` simplices.

    Returns
    -------
    (grads, sizes)
        ``grads`` ``(m, d + 1, d)`` with ``F = sum_a x_a ⊗ grads[:, a]``; ``sizes`` ``(m,)`` areas/volumes (> 0).
    """
    d = points.shape[1]
    dm = np.stack([points[cells[:, a]] - points[cells[:, 0]] for a in range(1, d + 1)], axis=2)  # columns = edges
    det = np.linalg.det(dm)
    if np.any(np.abs(det) <= 1e-14 * np.abs(det).max()):
        raise TissueInputError("the mesh has degenerate elements")
    inv = np.linalg.inv(dm)
    grads = np.empty((len(cells), d + 1, d))
    grads[:, 1:] = inv
    grads[:, 0] = -inv.sum(axis=1)
    return grads, np.abs(det) / (2.0 if d == 2 else 6.0)


def _embed(f: Arr) -> Arr:
    """2x2 plane-strain deformation gradients as 3x3 (F33 = 1); 3x3 unchanged."""
    if f.shape[-1] == 3:
        return f
    out = np.zeros((*f.shape[:-2], 3, 3))
    out[..., :2, :2] = f
    out[..., 2, 2] = 1.0
    return out


def linear_stress(mu: float, lam: float) -> StressFn:
    """Small-strain stress ``P = lambda tr(eps) I + 2 mu eps`` as a function of F ``(m, 3, 3)``."""

    def stress(f: Arr) -> Arr:
        eps = 0.5 * (f + np.swapaxes(f, 1, 2)) - np.eye(3)
        return lam * np.trace(eps, axis1=1, axis2=2)[:, None, None] * np.eye(3) + 2.0 * mu * eps

    return stress


def neo_hookean_energy(f: Arr, mu: float, lam: float) -> Arr:
    """Energy density of the decoupled compressible neo-Hookean solid (module docstring) at F ``(m, 3, 3)``."""
    kappa = lam + 2.0 * mu / 3.0
    j = np.linalg.det(f)
    if np.any(j <= 0):
        raise FloatingPointError("inverted element")
    i1 = np.einsum("mij,mij->m", f, f)
    return kappa / 4.0 * (j**2 - 1.0 - 2.0 * np.log(j)) + mu / 2.0 * (j ** (-2.0 / 3.0) * i1 - 3.0)


def neo_hookean_stress(mu: float, lam: float) -> StressFn:
    """First Piola-Kirchhoff stress of :func:`neo_hookean_energy` as a function of F."""
    kappa = lam + 2.0 * mu / 3.0

    def stress(f: Arr) -> Arr:
        j = np.linalg.det(f)
        if np.any(j <= 0):
            raise FloatingPointError("inverted element")
        f_inv_t = np.swapaxes(np.linalg.inv(f), 1, 2)
        i1 = np.einsum("mij,mij->m", f, f)
        p_vol = (kappa / 2.0 * (j**2 - 1.0))[:, None, None] * f_inv_t
        p_iso = (mu * j ** (-2.0 / 3.0))[:, None, None] * (f - (i1 / 3.0)[:, None, None] * f_inv_t)
        return p_vol + p_iso

    return stress


def strain_energy(points: Arr, cells: npt.NDArray[np.int64], u: Arr, energy: Callable[[Arr], Arr]) -> float:
    """Total strain energy ``sum V Psi(F)`` of displacement ``u`` for an energy density ``energy(F (m,3,3))``."""
    grads, sizes = shape_gradients(points, cells)
    f = _deformation_gradient(grads, cells, u)
    return float((sizes * energy(_embed(f))).sum())


def _deformation_gradient(grads: Arr, cells: npt.NDArray[np.int64], u: Arr) -> Arr:
    d = grads.shape[2]
    return np.eye(d) + np.einsum("mai,maj->mij", u[cells], grads)


def _tangent(stress: StressFn, f3: Arr, d: int, step: float = 1e-6) -> Arr:
    """dP/dF on the in-plane block ``(m, d, d, d, d)`` by central differences (exact for the linear law)."""
    out = np.empty((len(f3), d, d, d, d))
    for k in range(d):
        for l_ in range(d):
            fp, fm = f3.copy(), f3.copy()
            fp[:, k, l_] += step
            fm[:, k, l_] -= step
            out[:, :, :, k, l_] = ((stress(fp) - stress(fm)) / (2 * step))[:, :d, :d]
    return out


@dataclass
class StaticResult:
    """Displacements ``(n, d)`` and the Newton history."""

    displacement: Arr
    load_steps: int
    newton_iterations: int
    converged: bool


def solve_static(
    points: Arr,
    cells: npt.NDArray[np.int64],
    stress: StressFn,
    external_force: Arr,
    fixed: npt.NDArray[np.bool_],
    *,
    load_steps: int = 1,
    tolerance: float = 1e-9,
    max_iterations: int = 25,
) -> StaticResult:
    """Equilibrium under dead loads by Newton's method with load stepping.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, d)`` rest positions (d = 2: plane strain, unit thickness; d = 3: solid).
    cells : numpy.ndarray
        ``(m, d + 1)`` linear simplices.
    stress : callable
        ``P(F)`` on ``(m, 3, 3)`` arrays, e.g. :func:`linear_stress` or :func:`neo_hookean_stress`.
    external_force : numpy.ndarray
        ``(n, d)`` nodal forces at full load (reference configuration).
    fixed : numpy.ndarray of bool
        ``(n, d)`` or ``(n,)`` clamped degrees of freedom (zero displacement).
    load_steps : int
        Equal load increments.
    tolerance : float
        Convergence when the residual norm falls below ``tolerance`` times the load norm.

    Returns
    -------
    StaticResult
    """
    points = np.asarray(points, np.float64)
    n, d = points.shape
    cells = np.asarray(cells, np.int64)
    if d not in (2, 3) or cells.shape[1] != d + 1:
        raise TissueInputError(f"need triangles in 2-D or tetrahedra in 3-D, got points {points.shape}, cells "
                               f"{cells.shape}")
    if load_steps < 1:
        raise TissueInputError(f"load steps must be >= 1, got {load_steps}")
    fixed = np.broadcast_to(np.asarray(fixed, bool).reshape(n, -1), (n, d)).ravel()
    if fixed.all():
        raise TissueInputError("every degree of freedom is fixed")
    grads, sizes = shape_gradients(points, cells)
    k = d + 1
    dofs = (cells[:, :, None] * d + np.arange(d)).reshape(len(cells), -1)  # (m, k d)
    rows = np.repeat(dofs, k * d, axis=1).ravel()
    cols = np.tile(dofs, (1, k * d)).ravel()
    free = ~fixed
    u = np.zeros((n, d))
    f_full = np.asarray(external_force, np.float64).reshape(n, d)
    scale = max(float(np.linalg.norm(f_full)), 1e-300)
    total_iterations, converged = 0, True
    for step in range(1, load_steps + 1):
        f_ext = f_full * (step / load_steps)
        for _ in range(max_iterations):
            f3 = _embed(_deformation_gradient(grads, cells, u))
            p = stress(f3)[:, :d, :d]
            f_int_e = sizes[:, None, None] * np.einsum("mij,maj->mai", p, grads)  # (m, k, d)
            f_int = np.zeros(n * d)
            np.add.at(f_int, dofs.ravel(), f_int_e.ravel())  # fine here: the static solver is not time-critical
            residual = (f_ext.ravel() - f_int)[free]
            total_iterations += 1
            if np.linalg.norm(residual) <= tolerance * scale:
                break
            a = _tangent(stress, f3, d)
            ke = sizes[:, None, None, None, None] * np.einsum("mijkl,maj,mbl->maibk", a, grads, grads)
            kmat = sp.csc_matrix((ke.ravel(), (rows, cols)), shape=(n * d, n * d))
            du = np.zeros(n * d)
            with single_threaded_blas():  # SuperLU's many small BLAS calls crawl when OpenBLAS threads spin
                du[free] = spla.spsolve(kmat[free][:, free].tocsc(), residual, permc_spec="MMD_AT_PLUS_A")
            u += du.reshape(n, d)
        else:
            converged = False
    return StaticResult(u, load_steps, total_iterations, converged)
