"""All junctions of the network solved together: one Newton iteration on the junction pressure per junction.

Equations per junction of k vessel ends (openBF): the outgoing characteristic of each vessel is kept
(u + 4c for a parent's outlet, u - 4c for a daughter's inlet, c = k_j s_j with s = A^(1/4), k_j = sqrt(1.5 gamma)),
mass is conserved (sum of signed u s^4 = 0) and the static pressure is continuous.

openBF solves these 2k equations for (u, s) with a dense Newton step. Continuity makes every s_j a function of the
common pressure P (s_j^2 = sqrt(A0_j) (1 + P / beta_j)) and the kept characteristic makes u_j one of s_j, so the
system reduces to one scalar equation per junction, mass(P) = 0: same root, no linear solves, and every junction
end of the network lives in one flat array (sums per junction with ``np.add.reduceat``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["JunctionSet"]


class JunctionSet:
    """Flat arrays of all junction ends, sorted by junction (``offsets`` = first end of each junction)."""

    def __init__(self, junctions, first: np.ndarray, last: np.ndarray, gamma, beta, area0) -> None:
        vessels = [np.asarray(v, dtype=np.int64) for v, _ in junctions]
        signs = [np.asarray(s, dtype=float) for _, s in junctions]
        sizes = np.array([len(v) for v in vessels], dtype=np.int64)
        self.n = len(vessels)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        v = np.concatenate(vessels) if vessels else np.zeros(0, dtype=np.int64)
        self.signs = np.concatenate(signs) if signs else np.zeros(0)
        self.cells = np.where(self.signs > 0, last[v], first[v]).astype(np.int64)
        c = self.cells
        self.kc4 = 4.0 * np.sqrt(1.5 * gamma[c])       # 4 k_j: the characteristic is u +- 4 k_j s_j
        self.beta = beta[c].astype(float)
        self.sqrt_a0 = np.sqrt(area0[c])
        self.junction_of_end = np.repeat(np.arange(self.n), sizes)

    def solve(self, area: np.ndarray, q: np.ndarray, u: np.ndarray, iterations: int = 30) -> None:
        """Overwrite A, Q, u at every junction end in place (u must hold Q/A at the junction cells)."""
        if self.n == 0:
            return
        c, sg, kc4, beta, sa0 = self.cells, self.signs, self.kc4, self.beta, self.sqrt_a0
        starts = self.offsets[:-1]
        s = np.sqrt(np.sqrt(area[c]))
        w = u[c] + sg * kc4 * s                         # the kept characteristic of each end
        # start from the pressure of each junction's first end (the previous step's junction pressure)
        p = (beta * (s * s / sa0 - 1.0))[starts]
        for _ in range(iterations):
            pe = p[self.junction_of_end]
            s2 = sa0 * (1.0 + pe / beta)
            s = np.sqrt(s2)
            s4 = s2 * s2
            uu = w - sg * kc4 * s
            mass = np.add.reduceat(sg * uu * s4, starts)
            # d(sg u s^4)/dP = (4 sg u s^3 - kc4 s^4) ds/dP with ds/dP = sqrt(A0) / (2 s beta)
            dmass = np.add.reduceat((4.0 * sg * uu - kc4 * s) * s2 * sa0 / (2.0 * beta), starts)
            dp = mass / dmass
            p = p - dp
            if np.all(np.abs(dp) <= 1e-11 * (np.abs(p) + beta[starts])):
                break
        pe = p[self.junction_of_end]
        s2 = sa0 * (1.0 + pe / beta)
        s = np.sqrt(s2)
        a = s2 * s2
        uu = w - sg * kc4 * s
        area[c] = a
        u[c] = uu
        q[c] = uu * a
