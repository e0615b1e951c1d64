"""``TissueSimulation``: the headless interaction API (grab, drag, release, probe, cut, step, surfaces).

One object owns the mesh, the solver and the embedded display surface, so the CLI, tests and the 3-D view (from a
worker thread: the object is not thread-safe, call it from one thread and copy :meth:`surface` out) drive the same
code.  Positions are millimetres in the mesh's frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from imaging.mesh import SurfaceMesh
from simulation.tissue.blade import cut_swept, swept_surface
from simulation.tissue.cutting import CutResult, connected_parts, cut_plane
from simulation.tissue.dynamics import TissueSolver
from simulation.tissue.embedding import Embedding, carry_over, carry_over_split, embed_points, torn_faces
from simulation.tissue.materials import Material
from simulation.tissue.tetmesh import TetMesh, TissueInputError, boundary_faces

__all__ = ["CutReport", "TissueSimulation"]

Arr = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CutReport:
    """What a cut did: the tetrahedra a plane split (or the faces a swept blade opened), the rest volumes of every
    separated part (largest first) and the faces the cut opened (node indices of the mesh right after the cut, both
    sides)."""

    split_tets: int
    part_volumes_mm3: tuple[float, ...]
    volume_before_mm3: float
    cut_faces: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 3), np.int64), repr=False)
    opened_faces: int = 0
    tet_origin: npt.NDArray[np.int64] | None = field(default=None, repr=False)
    """For a swept cut, the element of the mesh before the cut each element is (elements keep their identity)."""
    tet_parent: npt.NDArray[np.int64] | None = field(default=None, repr=False)
    """For a plane cut, the element of the mesh before the cut each element came from ..."""
    tet_side: npt.NDArray[np.int8] | None = field(default=None, repr=False)
    """... and its side of the plane (+1 where the normal points)."""

    @property
    def resected_volume_mm3(self) -> float:
        """Volume of everything but the largest part."""
        return float(sum(self.part_volumes_mm3[1:]))


def _point(value: npt.ArrayLike, what: str) -> Arr:
    p = np.asarray(value, np.float64).reshape(-1)
    if p.shape != (3,) or not np.isfinite(p).all():
        raise TissueInputError(f"the {what} must be three finite coordinates (mm), got {value!r}")
    return p


class TissueSimulation:
    """An organ being handled.

    Parameters
    ----------
    mesh : TetMesh
        Simulation mesh (mm).
    material : Material
        Tissue parameters.
    fixed : numpy.ndarray of bool, optional
        Attached nodes (ligaments, vessels, bone contact).
    display : SurfaceMesh, optional
        A finer surface to embed and drive (default: the tetrahedral mesh's own boundary).
    **solver_options
        Passed to :class:`TissueSolver` (``dt``, ``iterations``, ``gravity``).
    """

    def __init__(
        self,
        mesh: TetMesh,
        material: Material,
        *,
        fixed: npt.NDArray[np.bool_] | None = None,
        display: SurfaceMesh | None = None,
        **solver_options: object,
    ) -> None:
        self.material = material
        self._options = solver_options
        self.solver = TissueSolver(mesh, material, fixed=fixed, **solver_options)  # type: ignore[arg-type]
        self.display = display
        self._embedding: Embedding | None = embed_points(mesh, display.points) if display is not None else None
        # display triangles torn by swept cuts (they would stretch across the incision's gap)
        self._torn = np.zeros(len(display.faces) if display is not None else 0, bool)
        # nodes on the faces swept blades opened, carried through later cuts: the incisions' walls
        self._incised = np.zeros(mesh.n_points, bool)
        self._grab_nodes = np.zeros(0, np.int64)
        self._grab_offsets = np.zeros((0, 3))
        self._grab_hard = False
        self._base_fixed = self.solver.fixed
        self.cuts: list[CutReport] = []

    @property
    def mesh(self) -> TetMesh:
        """Current simulation mesh (rest shape; changes with cuts)."""
        return self.solver.mesh

    @property
    def positions_mm(self) -> Arr:
        """Node positions now ``(n, 3)``."""
        return self.solver.positions_mm

    # ------------------------------------------------------------------ instrument
    def grab(self, point_mm: npt.ArrayLike, *, radius_mm: float = 0.0, hard: bool = False,
             stiffness_n_per_m: float = 0.0) -> npt.NDArray[np.int64]:
        """Grasp the tissue at ``point_mm``: the nearest node, plus every node within ``radius_mm`` of it.

        ``hard`` makes the grasped nodes follow the instrument exactly; otherwise zero-length springs of
        ``stiffness_n_per_m`` (0: a stiffness from the nodes' mass and the time step, effectively rigid at
        interactive rates without being infinitely stiff) pull them.  Returns the grasped node indices.
        """
        if len(self._grab_nodes):
            self.release()
        p = _point(point_mm, "grasp point")
        pos = self.positions_mm
        dist = np.linalg.norm(pos - p, axis=1)
        nearest = int(np.argmin(dist))
        nodes = np.nonzero(np.linalg.norm(pos - pos[nearest], axis=1) <= radius_mm)[0] if radius_mm > 0 \
            else np.array([nearest])
        nodes = nodes[~self.solver.fixed[nodes]]
        if not len(nodes):
            raise TissueInputError("the grasp point is on an attached (fixed) region")
        self._grab_nodes = nodes
        self._grab_offsets = pos[nodes] - p
        self._grab_hard = hard
        if hard:
            fixed = self.solver.fixed
            self._base_fixed = fixed.copy()
            fixed[nodes] = True
            self.solver.set_fixed(fixed)
        else:
            k = stiffness_n_per_m or 20.0 * float(self.solver.mass[nodes].sum()) / self.solver.dt**2
            self.solver.set_springs(nodes, pos[nodes], k)
        return nodes.copy()

    def drag(self, target_mm: npt.ArrayLike) -> None:
        """Move the instrument (the grasp point) to ``target_mm``; the tissue follows over the next steps."""
        if not len(self._grab_nodes):
            raise TissueInputError("drag without a grasp: call grab() first")
        targets = _point(target_mm, "drag target")[None, :] + self._grab_offsets
        if self._grab_hard:
            self.solver.move_fixed(self._grab_nodes, targets)
        else:
            self.solver.move_springs(targets)

    def release(self) -> None:
        """Let go."""
        if self._grab_hard and len(self._grab_nodes):
            self.solver.set_fixed(self._base_fixed)
        elif len(self._grab_nodes):
            self.solver.clear_springs()
        self._grab_nodes = np.zeros(0, np.int64)
        self._grab_hard = False

    def instrument_force_n(self) -> Arr:
        """Force on the instrument (N) from a spring grasp (zero for a hard grasp or none)."""
        return self.solver.spring_force_n()

    def probe(self, centre_mm: npt.ArrayLike | None, radius_mm: float = 5.0) -> None:
        """Press a spherical probe at ``centre_mm`` (``None`` lifts it)."""
        self.solver.set_probe(centre_mm, radius_mm)

    # ------------------------------------------------------------------ time and topology
    def step(self, n: int = 1) -> None:
        """Advance ``n`` time steps."""
        self.solver.step(n)

    def cut(self, point_mm: npt.ArrayLike, normal: npt.ArrayLike) -> CutReport:
        """Cut along a plane through the current (deformed) shape; the grasp is released.

        The state (positions, velocities) carries over; the solver is rebuilt on the new mesh.
        """
        self.release()
        old = self.solver
        result: CutResult = cut_plane(old.mesh, point_mm, normal, old.positions_mm)
        fixed_old = old.fixed.astype(np.float64)
        # a new node on an edge between two attached nodes stays attached
        fixed = result.transfer(fixed_old[:, None])[:, 0] > 0.999
        solver = TissueSolver(result.mesh, self.material, fixed=fixed, **self._options)  # type: ignore[arg-type]
        solver.set_state(result.transfer(old.positions_mm), result.transfer(old.velocities_mm_s))
        self.solver = solver
        self._incised = result.transfer(self._incised.astype(np.float64)[:, None])[:, 0] > 0.999
        if self.display is not None and self._embedding is not None:
            # each display vertex goes to a piece of its element on its own side (sides from where it is now)
            before = self._embedding
            side = (before.apply(old.positions_mm) - _point(point_mm, "cut point")) @ np.asarray(normal, np.float64)
            self._embedding = carry_over_split(before, result.mesh, result.tet_parent, result.tet_side,
                                               self.display.points, side)
            self._torn |= torn_faces(self.display.faces, before, self._embedding)
        count, labels = connected_parts(result.mesh)
        vols = np.bincount(labels, result.mesh.volumes(), minlength=count)
        report = CutReport(result.split_tets, tuple(sorted(map(float, vols), reverse=True)), old.mesh.volume(),
                           result.cut_faces, tet_parent=result.tet_parent, tet_side=result.tet_side)
        self.cuts.append(report)
        return report

    def cut_swept(self, edge_starts_mm: npt.ArrayLike, edge_ends_mm: npt.ArrayLike) -> CutReport:
        """Cut where a blade's edge swept: ``(T, 3)`` successive positions of its two ends (mm, deformed shape).

        The incision may stop inside the organ (a partial cut); the grasp is released and the state carries over.
        """
        self.release()
        old = self.solver
        result = cut_swept(old.mesh, swept_surface(edge_starts_mm, edge_ends_mm), old.positions_mm)
        fixed = result.transfer(old.fixed)
        solver = TissueSolver(result.mesh, self.material, fixed=fixed, **self._options)  # type: ignore[arg-type]
        solver.set_state(result.positions_mm, result.transfer(old.velocities_mm_s))
        self.solver = solver
        self._incised = result.transfer(self._incised)
        self._incised[result.cut_faces.ravel()] = True
        if self.display is not None and self._embedding is not None:
            before = self._embedding
            self._embedding = carry_over(before, result.mesh, result.tet_origin, self.display.points)
            self._torn |= torn_faces(self.display.faces, before, self._embedding)
        count, labels = connected_parts(result.mesh)
        vols = np.bincount(labels, result.mesh.volumes(), minlength=count)
        report = CutReport(0, tuple(sorted(map(float, vols), reverse=True)), old.mesh.volume(), result.cut_faces,
                           opened_faces=result.opened_faces, tet_origin=result.tet_origin)
        self.cuts.append(report)
        return report

    # ------------------------------------------------------------------ output
    def surface(self) -> SurfaceMesh:
        """The deformed boundary of the simulation mesh (including cut faces)."""
        pts, faces = self.mesh.surface_points_and_faces(self.positions_mm)
        return SurfaceMesh(pts, faces, {"source": "tissue simulation", "steps": self.solver.steps})

    def cut_surface(self) -> SurfaceMesh:
        """The faces opened by the latest cut, deformed (empty before any cut): to draw the cut in its own colour."""
        faces = self.cuts[-1].cut_faces if self.cuts else np.zeros((0, 3), np.int64)
        used, inverse = np.unique(faces, return_inverse=True)
        return SurfaceMesh(self.positions_mm[used], inverse.reshape(-1, 3), {"source": "tissue cut"})

    @property
    def display_embedding(self) -> Embedding | None:
        """How the display surface's vertices hang in the elements (None without a display surface)."""
        return self._embedding

    def incision_faces(self) -> npt.NDArray[np.int64]:
        """The walls of every swept-blade incision so far: boundary faces ``(k, 3)`` (node indices) whose three nodes
        lie on faces a blade opened (none before any incision)."""
        faces = boundary_faces(self.mesh.tets)
        return faces[self._incised[faces].all(axis=1)]

    def incision_surface(self) -> SurfaceMesh:
        """:meth:`incision_faces`, deformed: drawn with :meth:`display_surface` they close the slit it leaves."""
        used, inverse = np.unique(self.incision_faces(), return_inverse=True)
        return SurfaceMesh(self.positions_mm[used], inverse.reshape(-1, 3), {"source": "tissue incisions"})

    def display_surface(self) -> SurfaceMesh:
        """The fine display surface moved by the embedding (the boundary mesh when none was given).

        Across a cut each display vertex follows its own side, and the display triangles the cut tore are left out
        (the slit; display triangles are not split): :meth:`incision_surface` gives a blade incision's walls,
        :meth:`surface` the whole boundary with every cut face.
        """
        if self.display is None or self._embedding is None:
            return self.surface()
        return SurfaceMesh(self._embedding.apply(self.positions_mm), self.display.faces[~self._torn],
                           {**self.display.metadata, "deformed": True})

    def volume_mm3(self) -> float:
        """Current (deformed) volume."""
        return self.mesh.volume(self.positions_mm)
