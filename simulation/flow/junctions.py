"""All junctions of the network solved together: batched Newton on (u, A^(1/4)) per attached vessel end.

Equations per junction of k vessel ends (openBF): the outgoing characteristic of each vessel is kept
(u + 4c for a parent's outlet, u - 4c for a daughter's inlet, c = k_j s_j with s = A^(1/4), k_j = sqrt(1.5 gamma)),
mass is conserved (sum of signed u s^4 = 0) and the static pressure is continuous.
"""

from __future__ import annotations

import numpy as np

__all__ = ["JunctionSet"]


class JunctionSet:
    """Junctions grouped by their number of vessels so that each group is one batched linear solve."""

    def __init__(self, junctions, first: np.ndarray, last: np.ndarray, gamma, beta, area0) -> None:
        self.groups = []
        sizes = sorted({len(v) for v, _ in junctions})
        for k in sizes:
            sel = [(v, s) for v, s in junctions if len(v) == k]
            vessels = np.array([v for v, _ in sel])
            signs = np.array([s for _, s in sel], dtype=float)
            cells = np.where(signs > 0, last[vessels], first[vessels])
            self.groups.append({
                "cells": cells, "signs": signs, "kc": np.sqrt(1.5 * gamma[cells]),
                "beta": beta[cells], "isa0": 1.0 / np.sqrt(area0[cells]),
            })

    def solve(self, area: np.ndarray, q: np.ndarray, u: np.ndarray, iterations: int = 12) -> None:
        """Overwrite A, Q, u at every junction end in place."""
        for g in self.groups:
            cells, sg, kc, beta, isa0 = g["cells"], g["signs"], g["kc"], g["beta"], g["isa0"]
            nj, k = cells.shape
            uu = u[cells].copy()
            s = np.sqrt(np.sqrt(area[cells]))
            w = uu + sg * 4.0 * kc * s
            jac = np.zeros((nj, 2 * k, 2 * k))
            rows = np.arange(k)
            jac[:, rows, rows] = 1.0
            jac[:, rows, k + rows] = sg * 4.0 * kc
            for _ in range(iterations):
                s2 = s * s
                s4 = s2 * s2
                p = beta * (s2 * isa0 - 1.0)
                f = np.empty((nj, 2 * k))
                f[:, :k] = uu + sg * 4.0 * kc * s - w
                f[:, k] = np.sum(sg * uu * s4, axis=1)
                f[:, k + 1:] = p[:, :1] - p[:, 1:]
                jac[:, k, :k] = sg * s4
                jac[:, k, k:] = sg * 4.0 * uu * s2 * s
                dp = 2.0 * beta * s * isa0
                jac[:, k + 1:, k:] = 0.0
                jac[:, k + 1:, k] = dp[:, :1]
                jac[:, k + 1 + np.arange(k - 1), k + 1 + np.arange(k - 1)] = -dp[:, 1:]
                d = np.linalg.solve(jac, -f[..., None])[..., 0]
                uu += d[:, :k]
                s += d[:, k:]
                if np.max(np.abs(d[:, k:]) / s) < 1e-12 and np.max(np.abs(d[:, :k])) < 1e-10:
                    break
            a = s**4
            area[cells] = a
            u[cells] = uu
            q[cells] = uu * a
