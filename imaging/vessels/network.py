"""A vessel network graph from centrelines: segments between junctions and ends, inlet and outlets, user edits.

Nodes are branch ends and junctions; segments carry their polyline (mm) and radii. The inlet is the widest end
unless the user marks another; every other end is an outlet. Edits (``prune``, ``set_inlet``) keep the graph
consistent (a junction left with two segments is merged away). ``to_openbf`` gives vessel dictionaries in openBF's
model layout (SI units), oriented from the inlet, ready for :mod:`simulation.flow` (no import of it here).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from imaging.vessels.centreline import Centrelines

__all__ = ["Segment", "VesselNetwork", "network_from_centrelines"]


@dataclass
class Segment:
    """A vessel segment from node ``start`` to node ``end`` along ``points`` (mm) with ``radii`` (mm)."""

    start: int
    end: int
    points: np.ndarray
    radii: np.ndarray
    name: str = ""

    @property
    def length_mm(self) -> float:
        """Arc length along the polyline."""
        return float(np.sum(np.linalg.norm(np.diff(self.points, axis=0), axis=1)))

    def reversed(self) -> Segment:
        """The same segment run the other way."""
        return Segment(self.end, self.start, self.points[::-1].copy(), self.radii[::-1].copy(), self.name)


@dataclass
class VesselNetwork:
    """Nodes (positions, mm) and segments; ``inlet`` is a node id; outlets are the other degree-1 nodes."""

    nodes: dict[int, np.ndarray]
    segments: list[Segment]
    inlet: int = -1
    names: dict[int, str] = field(default_factory=dict)

    def degree(self, node: int) -> int:
        """Number of segment ends at ``node``."""
        return sum((s.start == node) + (s.end == node) for s in self.segments)

    @property
    def ends(self) -> list[int]:
        """Degree-1 nodes."""
        return [n for n in self.nodes if self.degree(n) == 1]

    @property
    def outlets(self) -> list[int]:
        """Ends other than the inlet."""
        return [n for n in self.ends if n != self.inlet]

    @property
    def junctions(self) -> list[int]:
        """Nodes joining three or more segments."""
        return [n for n in self.nodes if self.degree(n) >= 3]

    def set_inlet(self, node: int) -> None:
        """Mark ``node`` (an end) as the inlet and orient every segment away from it."""
        if node not in self.nodes or self.degree(node) != 1:
            raise ValueError(f"node {node} is not a vessel end")
        self.inlet = node
        self._orient()

    def prune(self, index: int) -> None:
        """Remove segment ``index`` (a side branch or a spurious spur); merge a junction left with two segments."""
        if not 0 <= index < len(self.segments):
            raise ValueError(f"no segment {index}")
        seg = self.segments.pop(index)
        for n in (seg.start, seg.end):
            if self.degree(n) == 0:
                self.nodes.pop(n, None)
        for n in (seg.start, seg.end):
            if n in self.nodes and self.degree(n) == 2:
                self._merge_at(n)
        if self.inlet not in self.nodes or self.degree(self.inlet) != 1:
            self.inlet = self._widest_end()
        self._orient()

    def _merge_at(self, node: int) -> None:
        a, b = [s for s in self.segments if node in (s.start, s.end)]
        a = a if a.end == node else a.reversed()
        b = b if b.start == node else b.reversed()
        merged = Segment(a.start, b.end, np.concatenate([a.points, b.points[1:]]),
                         np.concatenate([a.radii, b.radii[1:]]), a.name or b.name)
        self.segments = [s for s in self.segments if node not in (s.start, s.end)] + [merged]
        self.nodes.pop(node)

    def _widest_end(self) -> int:
        def end_radius(n: int) -> float:
            s = next(s for s in self.segments if n in (s.start, s.end))
            r = s.radii if s.start == n else s.radii[::-1]
            return float(np.median(r[: max(3, len(r) // 5)]))

        ends = self.ends
        return max(ends, key=end_radius) if ends else -1

    def _orient(self) -> None:
        """Segments point away from the inlet (breadth-first), as a 1-D model's sn -> tn."""
        if self.inlet < 0:
            return
        seen, frontier, done = {self.inlet}, [self.inlet], []
        remaining = list(self.segments)
        while frontier:
            n = frontier.pop(0)
            for s in [s for s in remaining if n in (s.start, s.end)]:
                remaining.remove(s)
                s2 = s if s.start == n else s.reversed()
                done.append(s2)
                if s2.end not in seen:
                    seen.add(s2.end)
                    frontier.append(s2.end)
        self.segments = done + remaining

    @staticmethod
    def _end_radii(s: Segment, ends: set) -> tuple[float, float]:
        """Radii (mm) near both ends: medians over a fifth of the segment, leaving out the rounded cap (one radius)
        at a vessel end, where the inscribed sphere shrinks."""
        arc = _arc(s.points)
        r_mid = float(np.median(s.radii))
        lo = r_mid if s.start in ends else 0.0
        hi = arc[-1] - (r_mid if s.end in ends else 0.0)
        keep = (arc >= lo) & (arc <= hi)
        if keep.sum() < 3:
            return r_mid, r_mid
        arc, r = arc[keep], s.radii[keep]
        span = max(arc[-1] - arc[0], 1e-9)
        head, tail = arc <= arc[0] + 0.2 * span, arc >= arc[-1] - 0.2 * span
        return float(np.median(r[head])), float(np.median(r[tail]))

    def to_openbf(self, young_pa: float = 4.0e5, outlet_resistance: dict | None = None) -> list[dict]:
        """Vessel dictionaries in openBF's layout (m, Pa): label, sn, tn, L, Rp, Rd, E (+ R1/R2/Cc if given
        per outlet node in ``outlet_resistance`` as {node: (R1, R2, Cc)})."""
        ids = {n: i + 1 for i, n in enumerate([self.inlet] + [n for n in self.nodes if n != self.inlet])}
        out = []
        ends = set(self.ends)
        for k, s in enumerate(self.segments):
            rp, rd = self._end_radii(s, ends)
            v = {"label": s.name or f"segment{k + 1}", "sn": ids[s.start], "tn": ids[s.end],
                 "L": s.length_mm * 1e-3, "E": young_pa, "Rp": rp * 1e-3, "Rd": rd * 1e-3}
            if outlet_resistance and s.end in outlet_resistance:
                v["R1"], v["R2"], v["Cc"] = outlet_resistance[s.end]
            out.append(v)
        return out


def _arc(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def network_from_centrelines(c: Centrelines, join_tolerance_mm: float = 1.5) -> VesselNetwork:
    """Split the branches at the points where later branches join them; inlet = the widest end."""
    cuts: dict[int, list[int]] = {i: [] for i in range(len(c.paths))}
    joins = []
    for i, parent in enumerate(c.parents):
        if parent < 0:
            continue
        start = c.paths[i][0]
        d = np.linalg.norm(c.paths[parent] - start, axis=1)
        j = int(np.argmin(d))
        if d[j] > join_tolerance_mm + float(c.radii[parent][j]):
            raise ValueError(f"branch {i} does not start on its parent branch")
        cuts[parent].append(j)
        joins.append((i, parent, j))
    nodes: dict[int, np.ndarray] = {}
    node_at: dict[tuple[int, int], int] = {}

    def node(branch: int, k: int) -> int:
        key = (branch, k)
        if key not in node_at:
            node_at[key] = len(nodes)
            nodes[node_at[key]] = c.paths[branch][k].copy()
        return node_at[key]

    for i, parent, j in joins:
        node_at[(i, 0)] = node(parent, j)  # the branch starts at its junction on the parent
    segments = []
    for i, path in enumerate(c.paths):
        ks = sorted({0, len(path) - 1, *cuts[i]})
        for a, b in itertools.pairwise(ks):
            if b > a:
                segments.append(Segment(node(i, a), node(i, b), path[a:b + 1].copy(), c.radii[i][a:b + 1].copy()))
    net = VesselNetwork(nodes, segments)
    net.inlet = net._widest_end()
    net._orient()
    return net
