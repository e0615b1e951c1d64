"""Inverses of the solver's constant matrix ``A = c M + w L`` (scalar, one row per free node, same for x, y, z).

``direct``: a sparse LU (SuperLU, minimum degree on A + A^T, symmetric mode): exact, but its fill grows faster than
the node count in 3-D (solve 0.3 ms at 1.2k nodes, 2 ms at 3.4k, 13 ms at 8.7k on this machine).

``two-level``: a symmetric two-level Schwarz preconditioner whose cost is linear in the nodes: exact solves on
spatial blocks of ~600 nodes (block Jacobi, recursive coordinate bisection) balanced by a coarse-space correction on
aggregates of ~32 nodes with a smoothed piecewise-constant prolongation (the smoothed-aggregation idea of Vaněk,
Mandel & Brezina 1996), so long-wavelength motion, which blocks alone pass on only one block per iteration, is
resolved at once.  Applied as ``B = C + (I - C A) J (I - A C)`` (C coarse, J blocks): symmetric positive definite,
as L-BFGS needs of its initial inverse Hessian.  The coarse problem is solved exactly up to 600 aggregates and by
the same construction one level down beyond (a multilevel hierarchy that deepens with the mesh), because a direct
solve of it fills in as any 3-D LU does and would, alone, make the cost per node grow with the mesh.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = ["DirectInverse", "TwoLevelInverse", "bisect"]

Arr = npt.NDArray[np.float64]

COARSE_DIRECT_NODES = 600
"""Largest coarse problem solved by LU; larger ones get a two-level inverse of their own."""
COARSE_BLOCK_NODES = 150
"""Block size on coarse levels, whose Galerkin matrices couple each aggregate to two rings of neighbours."""


def _lu(a: sp.spmatrix) -> spla.SuperLU:
    # Symmetric mode with minimum degree on A + A^T: ~1/3 less fill and 1.5x faster solves than COLAMD here.
    return spla.splu(sp.csc_matrix(a), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                     options={"SymmetricMode": True})


class _Inverse:
    """An (approximate) inverse applied to ``(n, k)`` row blocks (``apply``) or to the solver's ``(3, n)`` vectors."""

    def apply(self, r: Arr) -> Arr:  # pragma: no cover - every inverse defines it
        raise NotImplementedError

    def solve(self, g: Arr) -> Arr:
        """(Approximately) ``A^-1 g`` for ``g`` of shape ``(3, n)``."""
        return self.apply(np.ascontiguousarray(g.T)).T


class DirectInverse(_Inverse):
    """Exact ``A^-1`` by sparse LU."""

    def __init__(self, a: sp.spmatrix) -> None:
        self._lu = _lu(a)
        self.levels = 1

    def apply(self, r: Arr) -> Arr:
        """``A^-1 r`` for a C-contiguous ``r`` of shape ``(n, k)``."""
        return self._lu.solve(r)

    @property
    def entries_per_apply(self) -> int:
        """Stored matrix and factor entries one :meth:`apply` reads (its work, up to a constant)."""
        return int(self._lu.L.nnz + self._lu.U.nnz)


def bisect(points: Arr, size: int) -> npt.NDArray[np.int64]:
    """Part index of each point after recursive coordinate bisection into ``ceil(n / size)`` parts of equal size.

    Each split cuts along the longest axis in proportion to the parts on either side, so every part holds ``n / k``
    points (+-1) and the part size does not jump between ``size / 2`` and ``size`` with the mesh as halving does;
    the coarse space, and so the cost per node, stays the same from one mesh size to the next.
    """
    part = np.zeros(len(points), np.int64)
    stack = [(np.arange(len(points)), max(1, -(-len(points) // size)))]
    next_id = 0
    while stack:
        idx, k = stack.pop()
        if k == 1:
            part[idx] = next_id
            next_id += 1
            continue
        p = points[idx]
        axis = int(np.argmax(p.max(axis=0) - p.min(axis=0)))
        k_left = k // 2
        cut = round(len(idx) * k_left / k)
        order = np.argpartition(p[:, axis], cut)
        stack.append((idx[order[cut:]], k - k_left))
        stack.append((idx[order[:cut]], k_left))
    return part


class TwoLevelInverse(_Inverse):
    """Symmetric two-level Schwarz approximation of ``A^-1`` (module docstring); linear cost in the nodes."""

    def __init__(self, a: sp.spmatrix, points: Arr, *, block_nodes: int = 600, aggregate_nodes: int = 32,
                 coarse_direct_nodes: int = COARSE_DIRECT_NODES) -> None:
        a = sp.csr_matrix(a)
        self._a = a
        n = a.shape[0]
        # Block Jacobi as one LU of A's block-diagonal part (couplings between blocks dropped): SuperLU's ordering
        # keeps the blocks apart, so this is the blocks' own factors, solved in one call instead of a Python loop
        # of gathers (1.5x faster at 9k nodes).  Blocks of 600 nodes: the step's accuracy is that of 1500-node
        # blocks (a dragged liver ball within 0.86 mm of converged steps at 51k tetrahedra either way) at half the
        # fill per node, which keeps the solve's cost per node flat as the mesh grows.
        blocks = bisect(points, block_nodes)
        self.n_blocks = int(blocks.max()) + 1
        coo = a.tocoo()
        inside = blocks[coo.row] == blocks[coo.col]
        # The factors in single precision: a preconditioner needs no more than 1e-6 relative accuracy, and the solve
        # streams its factors once per call, so half the bytes keep its cost per node flat once they outgrow the
        # CPU cache (230 -> 364 ns per node from 1.2k to 33k nodes in double, 250 -> 230 in single, measured here).
        self._block_lu = _lu(sp.csc_matrix((coo.data[inside].astype(np.float32), (coo.row[inside], coo.col[inside])),
                                           shape=a.shape))
        agg = bisect(points, aggregate_nodes)
        p0 = sp.csr_matrix((np.ones(n), (np.arange(n), agg)), shape=(n, int(agg.max()) + 1))
        # one damped-Jacobi smoothing of the prolongation (omega = 2/3 over the diagonal)
        smoother = sp.eye(n) - sp.diags((2.0 / 3.0) / a.diagonal()) @ a
        self._p = sp.csr_matrix(smoother @ p0)
        self._pt = sp.csr_matrix(self._p.T)
        coarse = sp.csr_matrix(self._pt @ a @ self._p)
        # The coarse matrix's LU fills in as a 3-D direct solve does (entries per row 49 at 64 aggregates, 375 at
        # 1024): past coarse_direct_nodes it gets a two-level inverse of its own on the aggregates' centroids, so the
        # hierarchy deepens with the mesh and every level's cost stays proportional to its nodes.
        if coarse.shape[0] > coarse_direct_nodes:
            centroids = (p0.T @ points) / np.asarray(p0.sum(axis=0)).reshape(-1, 1)
            self._coarse: DirectInverse | TwoLevelInverse = TwoLevelInverse(
                coarse, centroids, block_nodes=min(block_nodes, COARSE_BLOCK_NODES), aggregate_nodes=aggregate_nodes,
                coarse_direct_nodes=coarse_direct_nodes)
        else:
            self._coarse = DirectInverse(coarse)
        self.levels = 1 + self._coarse.levels

    def _c(self, r: Arr) -> Arr:  # coarse correction, r (n, 3)
        return self._p @ self._coarse.apply(np.ascontiguousarray(self._pt @ r))

    def _j(self, r: Arr) -> npt.NDArray[np.float32]:  # block Jacobi
        return self._block_lu.solve(r.astype(np.float32))

    @property
    def entries_per_apply(self) -> int:
        """Stored matrix and factor entries one :meth:`apply` reads (its work, up to a constant)."""
        blocks = self._block_lu.L.nnz + self._block_lu.U.nnz
        coarse = self._p.nnz + self._pt.nnz + self._coarse.entries_per_apply
        return int(blocks + 2 * self._a.nnz + 2 * coarse)

    def apply(self, r: Arr) -> Arr:
        """Approximate ``A^-1 r`` for a C-contiguous ``r`` of shape ``(n, k)``."""
        x = self._c(r)
        x += self._j(r - self._a @ x)
        x += self._c(r - self._a @ x)
        return x

