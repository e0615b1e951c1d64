"""Real-time soft-tissue dynamics: stable neo-Hookean tetrahedra, implicit Euler by prefactored quasi-Newton.

Each time step minimises the incremental potential of implicit Euler (inertia + elastic energy - work of gravity +
grasp springs + probe contact) with a few L-BFGS iterations whose initial inverse Hessian is a prefactored
constant matrix ``A = c M + w L`` (Liu, Bouaziz & Kavan, "Quasi-Newton methods for real-time simulation of
hyperelastic materials", ACM TOG 2017): the same one-factorisation-per-topology cost as projective dynamics, but for
a real hyperelastic energy, so it converges to the true implicit-Euler step (which can only dissipate energy), and
the backtracking line search makes every iteration lower the step's potential.

Material: stable neo-Hookean (Smith, de Goes & Kim, ACM TOG 2018),

    Psi(F) = mu'/2 (I_C - 3) + lambda'/2 (J - alpha)² - mu'/2 log(I_C + 1) - Psi(I),
    mu' = 4/3 mu, lambda' = lambda + 5/6 mu, alpha = 1 + mu'/lambda' - mu'/(4 lambda'),

which matches linear elasticity at small strain, is zero under rigid motion, and stays defined through inversion.
Its stress needs no polar decomposition: P = mu'(1 - 1/(I_C + 1)) F + lambda'(J - alpha) cof F, with the cofactor
columns the cross products of F's columns.  All element maths is component-wise on (m,) arrays (PERFORMANCE.md:
~10x faster than batched 3x3 matmul in numpy), gathers and scatters are sparse products, so a step costs
O(elements) plus the preconditioner (an exact LU for small meshes, a linear-cost two-level Schwarz one for large).
SI units inside (m, kg, s, Pa); positions in and out are millimetres.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from simulation.tissue._blas import single_threaded_blas
from simulation.tissue.fem import shape_gradients
from simulation.tissue.materials import Material
from simulation.tissue.preconditioner import DirectInverse, TwoLevelInverse
from simulation.tissue.tetmesh import TetMesh, TissueInputError

__all__ = ["TissueSolver"]

Arr = npt.NDArray[np.float64]
MM = 1e-3  # metres per millimetre
# Above this many free nodes "auto" switches from the exact LU (fill, and so cost per node, grows with the mesh) to the
# two-level preconditioner (cost per node flat): the crossover measured here in CPU time per solve, 376 ns per node
# with the LU at 1.2k free nodes, 632 at 2.3k; two-level 584-613 from 3.5k to 9.2k.
TWO_LEVEL_ABOVE_NODES = 2000
# Elements per block of the element maths (see TissueSolver._energy_grad): a block's gradients and ~30 temporaries
# (64 kB each) stay in cache, and blocks are big enough that numpy's per-call overhead is noise (per element,
# 1024-element blocks cost 2x 8192-element ones here).
ELEMENT_BLOCK = 8192
# Keep the L-BFGS curvature pairs from one step to the next (until the constraints or the mesh change): the
# Hessian changes little between steps, and the carried-over pairs cut the iterations needed by ~2x.
WARM_START = True


def _as_view(array: Arr, shape: tuple[int, ...]) -> Arr:
    """``array`` reshaped without copying (raises instead of copying: the element maths write through these)."""
    view = array.view()
    view.shape = shape
    return view


class TissueSolver:
    """Implicit-Euler dynamics of a tetrahedral body.

    Parameters
    ----------
    mesh : TetMesh
        Rest shape (mm).
    material : Material
        Elastic constants, density and damping.
    dt : float, default 1/60
        Time step (s).
    iterations : int, default 4
        Most L-BFGS iterations per step (the cost per step is proportional).  The curvature pairs carry over
        between steps, so few are needed: a liver ball dragged 20 mm around a circle by a hard grasp stays within
        0.13 mm (5k tetrahedra) / 0.29 mm (20k) of fully converged steps with 4, 0.04 / 0.16 mm with 6 (without
        the carried-over pairs 4 iterations gave 0.45 / 1.1 mm).
    tolerance_mm : float, default 1e-4
        A step stops iterating early once an iteration moves no node by more than this (0: always iterate).
    gravity : sequence of 3 float, default (0, 0, 0)
        Acceleration (m/s²) in the mesh's axes.
    fixed : numpy.ndarray of bool, optional
        ``(n,)`` nodes held at their rest positions.
    history : int, default 5
        L-BFGS memory.
    preconditioner : {"auto", "direct", "two-level"}
        Inverse of the constant matrix (:mod:`simulation.tissue.preconditioner`); "auto" picks by size.
    backend : {"numpy", "numba"}
        Element kernel: the numpy reference or the compiled one (:mod:`simulation.tissue.kernels_numba`).
    """

    def __init__(
        self,
        mesh: TetMesh,
        material: Material,
        *,
        dt: float = 1.0 / 60.0,
        iterations: int = 4,
        tolerance_mm: float = 1e-4,
        gravity: tuple[float, float, float] | npt.ArrayLike = (0.0, 0.0, 0.0),
        fixed: npt.NDArray[np.bool_] | None = None,
        history: int = 5,
        preconditioner: str = "auto",
        backend: str = "numpy",
    ) -> None:
        if backend not in ("numpy", "numba"):
            raise TissueInputError(f"backend must be numpy or numba, got {backend!r}")
        if backend == "numba":
            try:
                from simulation.tissue import kernels_numba
            except ImportError as exc:  # pragma: no cover - numba missing
                raise TissueInputError("the numba backend needs numba installed") from exc
            self._numba = kernels_numba
        self.backend = backend
        if preconditioner not in ("auto", "direct", "two-level"):
            raise TissueInputError(f"preconditioner must be auto, direct or two-level, got {preconditioner!r}")
        self.preconditioner = preconditioner
        if not (np.isfinite(dt) and 0 < dt <= 1.0):
            raise TissueInputError(f"time step must be in (0, 1] s, got {dt}")
        if iterations < 1 or history < 0 or not tolerance_mm >= 0:
            raise TissueInputError(f"need >= 1 iteration, >= 0 history and tolerance >= 0, got {iterations}, "
                                   f"{history}, {tolerance_mm}")
        g = np.asarray(gravity, np.float64).reshape(-1)
        if g.shape != (3,) or not np.isfinite(g).all():
            raise TissueInputError(f"gravity must be three finite numbers (m/s²), got {gravity!r}")
        self.mesh = mesh
        self.material = material
        self.dt = float(dt)
        self.iterations = int(iterations)
        self.tolerance_m = float(tolerance_mm) * MM
        self.last_iterations = 0
        self.history = int(history)
        self.gravity = g
        n, m = mesh.n_points, mesh.n_tets
        self.rest = mesh.points * MM
        grads, vols = shape_gradients(self.rest, mesh.tets)
        self.volumes = vols
        # D maps one coordinate of every node to the matching row of every deformation gradient, block by block of
        # ELEMENT_BLOCK elements and element-fastest inside a block: (D @ x[i])[3 lo + j b + (e - lo)] = F_e[i, j]
        # for element e of block [lo, lo + b).  Coordinates are stored as (3, n), so every F_e[i, j] of a block is a
        # contiguous (b,) array and the component-wise algebra streams memory instead of striding through (m, 3, 3).
        # One block's gradients are made right before its maths (self._d_blocks), so they never leave the cache.
        self._blocks = [(lo, min(lo + ELEMENT_BLOCK, m)) for lo in range(0, m, ELEMENT_BLOCK)]
        e = np.arange(m)
        lo_of = (e // ELEMENT_BLOCK) * ELEMENT_BLOCK
        size_of = np.minimum(ELEMENT_BLOCK, m - lo_of)
        rows = (3 * lo_of[:, None, None] + np.arange(3)[None, None, :] * size_of[:, None, None]
                + (e - lo_of)[:, None, None]).repeat(4, axis=1)  # (m, 4, 3)
        cols = np.broadcast_to(mesh.tets[:, :, None], (m, 4, 3))
        self._d = sp.csr_matrix((grads.ravel(), (rows.ravel(), cols.ravel())), shape=(3 * m, n))
        self._d_blocks = [self._d[3 * lo : 3 * hi] for lo, hi in self._blocks]
        self._row_volumes = np.concatenate([np.tile(vols[lo:hi], 3) for lo, hi in self._blocks])
        self._dtv = (self._d.T @ sp.diags(self._row_volumes)).tocsr()  # D^T V: the stress scatter
        self._m = m
        self._grads = np.ascontiguousarray(grads)
        self._forces = np.empty((m, 4, 3)) if backend == "numba" else None
        self._total_volume = float(vols.sum())
        self.mass = np.bincount(mesh.tets.ravel(), np.repeat(vols * material.density_kg_m3 / 4.0, 4), minlength=n)
        if not (self.mass > 0).all():
            raise TissueInputError(f"{int((self.mass <= 0).sum())} nodes belong to no tetrahedron (massless nodes "
                                   "would make the solver singular): drop them from the mesh")
        self.mu = 4.0 / 3.0 * material.mu_pa
        self.lam = material.lambda_pa + 5.0 / 6.0 * material.mu_pa
        self.alpha = 1.0 + self.mu / self.lam - self.mu / (4.0 * self.lam)
        # Psi(I): subtracted so that the rest shape (and any rigid motion of it) has zero energy
        self._psi0 = self.lam / 2.0 * (1.0 - self.alpha) ** 2 - self.mu / 2.0 * np.log(4.0)
        self.x = np.ascontiguousarray(self.rest.T)  # (3, n) metres
        self.v = np.zeros_like(self.x)
        self.time_s = 0.0
        self.steps = 0
        self._fixed = np.zeros(n, bool) if fixed is None else self._node_mask(fixed)
        self._targets = self.x.copy()  # prescribed positions of fixed nodes
        self._spring_nodes = np.zeros(0, np.int64)
        self._spring_targets = np.zeros((3, 0))
        self._spring_k = 0.0
        self._probe: tuple[Arr, float, float] | None = None
        self._factor: DirectInverse | TwoLevelInverse | None = None
        self._free = np.nonzero(~self._fixed)[0]
        self._hist: tuple[list[Arr], list[Arr], list[float]] = ([], [], [])
        self._hist_free: npt.NDArray[np.int64] | None = None
        self._c = 1.0
        self.last_residual = 0.0

    # ------------------------------------------------------------------ constraints
    def _node_mask(self, nodes: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        arr = np.asarray(nodes)
        n = self.mesh.n_points
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise TissueInputError(f"a node mask must have {n} entries, got {arr.shape}")
            return arr.copy()
        idx = arr.astype(np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise TissueInputError(f"node indices must be in 0..{n - 1}")
        mask = np.zeros(n, bool)
        mask[idx] = True
        return mask

    @property
    def fixed(self) -> npt.NDArray[np.bool_]:
        """Nodes whose positions are prescribed (copy)."""
        return self._fixed.copy()

    def set_fixed(self, nodes: npt.ArrayLike) -> None:
        """Prescribe the positions of ``nodes`` (mask or indices) to where they are now.  Refactors."""
        mask = self._node_mask(nodes)
        if mask.all():
            raise TissueInputError("every node is fixed: nothing left to simulate")
        self._fixed = mask
        self._targets = self.x.copy()
        self._factor = None

    def move_fixed(self, nodes: npt.ArrayLike, positions_mm: npt.ArrayLike) -> None:
        """New prescribed positions (mm, ``(k, 3)`` or one point) for fixed ``nodes`` (a dragged hard grasp)."""
        idx = np.nonzero(self._node_mask(nodes))[0] if np.asarray(nodes).dtype == bool else \
            np.asarray(nodes, np.int64).ravel()
        if not self._fixed[idx].all():
            raise TissueInputError("move_fixed: some of the nodes are not fixed")
        pos = np.broadcast_to(np.asarray(positions_mm, np.float64) * MM, (len(idx), 3))
        self._targets[:, idx] = pos.T

    def set_springs(self, nodes: npt.ArrayLike, targets_mm: npt.ArrayLike, stiffness_n_per_m: float) -> None:
        """Zero-length springs from ``nodes`` to ``targets_mm`` (a soft grasp); replaces earlier ones.  Refactors."""
        idx = np.asarray(nodes, np.int64).ravel()
        if not (np.isfinite(stiffness_n_per_m) and stiffness_n_per_m > 0):
            raise TissueInputError(f"spring stiffness must be positive, got {stiffness_n_per_m}")
        self._node_mask(idx)
        if len(np.unique(idx)) != len(idx):
            raise TissueInputError("a node can carry only one grasp spring")
        self._spring_nodes = idx
        self._spring_targets = np.broadcast_to(np.asarray(targets_mm, np.float64) * MM, (len(idx), 3)).T.copy()
        self._spring_k = float(stiffness_n_per_m)
        self._factor = None

    def move_springs(self, targets_mm: npt.ArrayLike) -> None:
        """New spring anchor positions (mm, ``(k, 3)`` or one point); no refactor."""
        k = len(self._spring_nodes)
        self._spring_targets = np.broadcast_to(np.asarray(targets_mm, np.float64) * MM, (k, 3)).T.copy()

    def clear_springs(self) -> None:
        """Remove the grasp springs.  Refactors."""
        self._spring_nodes = np.zeros(0, np.int64)
        self._spring_targets = np.zeros((3, 0))
        self._factor = None

    def spring_force_n(self) -> npt.NDArray[np.float64]:
        """Total force (N) the grasp springs exert on the instrument (pulling back towards the tissue)."""
        if not len(self._spring_nodes):
            return np.zeros(3)
        return self._spring_k * (self.x[:, self._spring_nodes] - self._spring_targets).sum(axis=1)

    def set_probe(self, centre_mm: npt.ArrayLike | None, radius_mm: float = 5.0, stiffness_n_per_m: float = 0.0) \
            -> None:
        """A rigid spherical probe pressing on the tissue (penalty contact); ``None`` removes it.

        ``stiffness_n_per_m`` 0 picks a contact stiffness per node of 200 E h (h the mean edge length: ~200x the
        tissue's own stiffness at a node) plus 50 m / dt² (inertia), which keeps penetration to a few percent.
        """
        if centre_mm is None:
            self._probe = None
            return
        if not radius_mm > 0:
            raise TissueInputError(f"probe radius must be positive, got {radius_mm}")
        edge = self.mesh.mean_edge_length() * MM
        k = stiffness_n_per_m or 200.0 * self.material.young_pa * edge + 50.0 * float(self.mass.max()) / self.dt**2
        self._probe = (np.asarray(centre_mm, np.float64).reshape(3, 1) * MM, radius_mm * MM, k)

    # ------------------------------------------------------------------ state and energy
    @property
    def positions_mm(self) -> Arr:
        """Current node positions ``(n, 3)`` (mm, copy)."""
        return self.x.T / MM

    @positions_mm.setter
    def positions_mm(self, value: npt.ArrayLike) -> None:
        self.x = np.ascontiguousarray((np.asarray(value, np.float64).reshape(self.rest.shape) * MM).T)

    @property
    def velocities_mm_s(self) -> Arr:
        """Current node velocities ``(n, 3)`` (mm/s, copy)."""
        return self.v.T / MM

    @velocities_mm_s.setter
    def velocities_mm_s(self, value: npt.ArrayLike) -> None:
        self.v = np.ascontiguousarray((np.asarray(value, np.float64).reshape(self.rest.shape) * MM).T)

    def set_state(self, positions_mm: npt.ArrayLike, velocities_mm_s: npt.ArrayLike | None = None) -> None:
        """Replace positions (and velocities, default zero); fixed nodes are then held where they now are."""
        self.positions_mm = positions_mm  # type: ignore[assignment]
        self.v = np.zeros_like(self.x) if velocities_mm_s is None else \
            np.ascontiguousarray((np.asarray(velocities_mm_s, np.float64).reshape(self.rest.shape) * MM).T)
        self._targets = self.x.copy()

    def _energy_grad(self, x: Arr, need_grad: bool = True) -> tuple[float, Arr | None]:
        """Elastic energy (J) and its gradient ``(3, n)`` (N) at positions ``x`` ``(3, n)`` (m)."""
        if self.backend == "numba":
            grad = np.empty_like(x)
            energy = self._numba.energy_grad(np.ascontiguousarray(x), self.mesh.tets, self._grads, self.volumes,
                                             self.mu, self.lam, self.alpha, self._forces, grad)
            return energy - self._psi0 * self._total_volume, (grad if need_grad else None)
        stress = np.empty((3, 3 * self._m)) if need_grad else None
        f_buffer = np.empty((3, 3 * ELEMENT_BLOCK))
        # Element maths block by block: a block's gradients and few dozen temporaries stay in the CPU cache, where
        # whole-mesh arrays (0.4 MB each at 50k elements) would stream through memory and make the cost per element
        # grow with the mesh (3x per element from 5k to 50k elements measured here without blocking).
        psi_volume = 0.0
        for (lo, hi), d_block in zip(self._blocks, self._d_blocks, strict=True):
            b = hi - lo
            f = _as_view(f_buffer[:, : 3 * b], (3, 3, b))
            for i in range(3):
                f[i] = (d_block @ x[i]).reshape(3, b)
            psi_volume += self._element_block(
                f, self.volumes[lo:hi], None if stress is None else _as_view(stress[:, 3 * lo : 3 * hi], (3, 3, b)))
        energy = psi_volume - self._psi0 * self._total_volume
        if stress is None:
            return energy, None
        grad = np.empty_like(x)
        for i in range(3):
            grad[i] = self._dtv @ stress[i]
        return energy, grad

    def _element_block(self, f: Arr, volumes: Arr, stress: Arr | None) -> float:
        """Energy (J) of a block of elements from their deformation gradients ``f`` ``(3, 3, b)``; their first
        Piola-Kirchhoff stresses go into ``stress`` ``(3, 3, b)`` when given."""
        a0, a1, a2 = f[0, 0], f[1, 0], f[2, 0]  # column 0 of F
        b0, b1, b2 = f[0, 1], f[1, 1], f[2, 1]  # column 1
        c0, c1, c2 = f[0, 2], f[1, 2], f[2, 2]  # column 2
        # cofactor = dJ/dF, column by column: col1 x col2, col2 x col0, col0 x col1
        k00, k10, k20 = b1 * c2 - b2 * c1, b2 * c0 - b0 * c2, b0 * c1 - b1 * c0
        j = a0 * k00 + a1 * k10 + a2 * k20
        ic = (f * f).sum(axis=(0, 1))
        mu, lam = self.mu, self.lam
        jm = j - self.alpha
        psi = (mu / 2.0) * (ic - 3.0) + (lam / 2.0) * jm * jm - (mu / 2.0) * np.log1p(ic)
        if stress is None:
            return float(psi @ volumes)
        s = mu - mu / (ic + 1.0)
        r = lam * jm
        np.multiply(f, s, out=stress)
        stress[0, 0] += r * k00
        stress[1, 0] += r * k10
        stress[2, 0] += r * k20
        stress[0, 1] += r * (c1 * a2 - c2 * a1)
        stress[1, 1] += r * (c2 * a0 - c0 * a2)
        stress[2, 1] += r * (c0 * a1 - c1 * a0)
        stress[0, 2] += r * (a1 * b2 - a2 * b1)
        stress[1, 2] += r * (a2 * b0 - a0 * b2)
        stress[2, 2] += r * (a0 * b1 - a1 * b0)
        return float(psi @ volumes)

    def elastic_energy(self) -> float:
        """Strain energy (J) of the current configuration."""
        return self._energy_grad(self.x, need_grad=False)[0]

    def kinetic_energy(self) -> float:
        """Kinetic energy (J)."""
        return float(0.5 * ((self.v**2).sum(axis=0) @ self.mass))

    def gravity_energy(self) -> float:
        """Potential energy of gravity (J) relative to the rest shape."""
        return float(-(self.gravity @ (self.x - self.rest.T)) @ self.mass)

    def total_energy(self) -> float:
        """Kinetic + elastic + gravitational energy (J)."""
        return self.kinetic_energy() + self.elastic_energy() + self.gravity_energy()

    # ------------------------------------------------------------------ stepping
    def _factorise(self) -> None:
        free = ~self._fixed
        c = (1.0 + self.material.damping_per_s * self.dt) / self.dt**2
        # Weight of the Laplacian: the material's rest-state Hessian is bounded by (2 mu + lambda) times it (the
        # pressure waves), so a full step never overshoots the stiffest mode; L-BFGS recovers the softer ones.
        w = 1.5 * self.mu + self.lam
        lap = (self._d.T @ sp.diags(self._row_volumes * w) @ self._d).tocsr()
        diag = c * self.mass
        if len(self._spring_nodes):
            diag = diag + np.bincount(self._spring_nodes, minlength=len(diag)) * self._spring_k
        a = (lap + sp.diags(diag)).tocsr()[free][:, free].tocsc()
        self._free = np.nonzero(free)[0]
        self._c = c
        use_two_level = self.preconditioner == "two-level" or (
            self.preconditioner == "auto" and len(self._free) > TWO_LEVEL_ABOVE_NODES)
        self._factor = TwoLevelInverse(a, self.rest[self._free]) if use_two_level else DirectInverse(a)

    def _objective(self, x: Arr, y: Arr, f_ext: Arr) -> tuple[float, Arr]:
        """Incremental potential of implicit Euler and its gradient at ``x`` (3, n)."""
        energy, grad = self._energy_grad(x)
        assert grad is not None
        dx = x - y
        md = dx * self.mass
        value = energy + 0.5 * self._c * float(np.vdot(md, dx)) - float(np.vdot(f_ext, x))
        grad += self._c * md
        grad -= f_ext
        if len(self._spring_nodes):
            ds = x[:, self._spring_nodes] - self._spring_targets
            value += 0.5 * self._spring_k * float(np.vdot(ds, ds))
            grad[:, self._spring_nodes] += self._spring_k * ds
        if self._probe is not None:
            centre, radius, k = self._probe
            rel = x - centre
            dist = np.sqrt((rel**2).sum(axis=0))
            inside = dist < radius
            if inside.any():
                depth = radius - dist[inside]
                value += 0.5 * k * float(depth @ depth)
                grad[:, inside] -= k * depth * rel[:, inside] / np.maximum(dist[inside], 1e-12)
        return value, grad

    def step(self, n: int = 1) -> None:
        """Advance ``n`` time steps."""
        with single_threaded_blas():
            for _ in range(n):
                self._step()

    def _precondition(self, g: Arr) -> Arr:
        assert self._factor is not None
        return self._factor.solve(g)

    def _step(self) -> None:
        if self._factor is None:
            self._factorise()
        h = self.dt
        damping = self.material.damping_per_s * h
        y = (self.x + h * self.v + damping * self.x) / (1.0 + damping)
        f_ext = self.gravity[:, None] * self.mass[None, :]
        x_prev = self.x
        x = y.copy()
        fixed = self._fixed
        x[:, fixed] = self._targets[:, fixed]
        free = self._free
        value, grad = self._objective(x, y, f_ext)
        # Curvature pairs carry over from the previous step (WARM_START): the Hessian changes little between steps.
        if not WARM_START or self._hist_free is not free:
            self._hist = ([], [], [])
            self._hist_free = free
        s_hist, y_hist, rho_hist = self._hist
        done = 0
        for done in range(1, self.iterations + 1):  # noqa: B007 - the count is reported
            g = grad[:, free]
            # L-BFGS two-loop recursion with the prefactored A as the initial inverse Hessian.
            q = g.copy()
            alphas = []
            for s_k, y_k, rho in zip(reversed(s_hist), reversed(y_hist), reversed(rho_hist), strict=True):
                a_k = rho * float(np.vdot(s_k, q))
                alphas.append(a_k)
                q -= a_k * y_k
            r = self._precondition(q)
            for s_k, y_k, rho, a_k in zip(s_hist, y_hist, rho_hist, reversed(alphas), strict=True):
                r += (a_k - rho * float(np.vdot(y_k, r))) * s_k
            direction = -r
            slope = float(np.vdot(g, direction))
            if slope >= 0:  # stale curvature pairs: restart from the plain preconditioned gradient
                s_hist.clear()
                y_hist.clear()
                rho_hist.clear()
                direction = -self._precondition(g)
                slope = float(np.vdot(g, direction))
            if slope >= 0:
                break
            step_len = 1.0
            for _ls in range(10):  # backtracking (Armijo): the incremental potential must go down
                trial = x.copy()
                trial[:, free] += step_len * direction
                t_value, t_grad = self._objective(trial, y, f_ext)
                if t_value <= value + 1e-4 * step_len * slope:
                    break
                step_len *= 0.5
            else:
                break  # no decrease at this precision: as converged as it gets
            s_new = step_len * direction
            y_new = t_grad[:, free] - g
            sy = float(np.vdot(s_new, y_new))
            if sy > 0 and self.history:
                s_hist.append(s_new)
                y_hist.append(y_new)
                rho_hist.append(1.0 / sy)
                if len(s_hist) > self.history:
                    del s_hist[0], y_hist[0], rho_hist[0]
            x, value, grad = trial, t_value, t_grad
            if np.abs(s_new).max() < self.tolerance_m:
                break
        self.last_iterations = done
        self.last_residual = float(np.abs(grad[:, free]).max()) if len(free) else 0.0
        self.v = (x - x_prev) / h
        self.x = x
        self.time_s += h
        self.steps += 1
