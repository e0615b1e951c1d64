"""Grasp (hard and spring), retract and hold, probe, the barycentric display embedding, and solver input errors."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.mesh import SurfaceMesh
from simulation.tissue import TissueInputError, TissueSimulation, TissueSolver, box_mesh, embed_points, material


@pytest.fixture
def slab():
    return box_mesh((60.0, 30.0, 10.0), (12, 6, 2))


def _attached(mesh):
    return np.isclose(mesh.points[:, 0], 0.0)


def test_hard_grasp_follows_the_instrument_and_the_tissue_follows(slab) -> None:
    sim = TissueSimulation(slab, material("liver"), fixed=_attached(slab), iterations=8)
    corner = np.array([60.0, 15.0, 10.0])
    nodes = sim.grab(corner, hard=True)
    assert len(nodes) == 1
    for k in range(1, 31):  # retract 20 mm upward over half a second, then hold
        sim.drag(corner + np.array([0.0, 0.0, 20.0 * min(k, 20) / 20]))
        sim.step()
    pos = sim.positions_mm
    assert pos[nodes[0]] == pytest.approx(corner + np.array([0.0, 0.0, 20.0]), abs=1e-9)
    lift = (pos - slab.points)[:, 2]
    # the lift decays towards the attachment: tip region high, middle lower, attached edge not at all
    far = np.isclose(slab.points[:, 0], 60.0)
    middle = np.isclose(slab.points[:, 0], 30.0)
    assert lift[far].mean() > 5.0
    assert 0.5 < lift[middle].mean() < lift[far].mean()
    assert np.abs(lift[_attached(slab)]).max() == 0.0
    sim.release()
    sim.step(30)
    assert sim.positions_mm[nodes[0], 2] < corner[2] + 20.0 - 5.0  # let go: it springs back


def test_spring_grasp_pulls_with_a_force_towards_the_tissue(slab) -> None:
    sim = TissueSimulation(slab, material("liver"), fixed=_attached(slab), iterations=8)
    grip = np.array([60.0, 15.0, 5.0])
    nodes = sim.grab(grip, radius_mm=6.0)
    assert len(nodes) > 1
    for _ in range(40):
        sim.drag(grip + np.array([15.0, 0.0, 0.0]))
        sim.step()
    moved = sim.positions_mm[nodes].mean(axis=0) - slab.points[nodes].mean(axis=0)
    assert 8.0 < moved[0] < 15.0  # follows, lagging by the spring stretch
    force = sim.instrument_force_n()
    assert force[0] < 0  # the tissue pulls the instrument back along -x
    assert abs(force[0]) > 10 * max(abs(force[1]), abs(force[2]))
    with pytest.raises(TissueInputError, match="attached"):
        sim.grab((0.0, 15.0, 5.0))


def test_probe_presses_a_dent(slab) -> None:
    sim = TissueSimulation(slab, material("liver"), fixed=np.isclose(slab.points[:, 2], 0.0), iterations=8)
    sim.probe((30.0, 15.0, 10.0 + 6.0 - 3.0), radius_mm=6.0)  # sphere sunk 3 mm below the top surface
    sim.step(30)
    pos = sim.positions_mm
    below = np.linalg.norm(pos - [30.0, 15.0, 13.0], axis=1)
    assert below.min() > 6.0 * 0.9  # no node deep inside the probe
    top_centre = int(np.argmin(np.linalg.norm(slab.points - [30.0, 15.0, 10.0], axis=1)))
    assert pos[top_centre, 2] < 10.0 - 2.0  # dented by most of the 3 mm
    sim.probe(None)
    sim.step(40)
    assert sim.positions_mm[top_centre, 2] > 10.0 - 0.5  # and it recovers


def test_embedding_carries_a_fine_surface(slab, rng: np.random.Generator) -> None:
    inside = rng.uniform([1, 1, 1], [59, 29, 9], size=(200, 3))
    emb = embed_points(slab, inside)
    assert emb.outside_mm.max() == 0.0
    assert emb.weights.min() >= -1e-12
    assert emb.weights.sum(axis=1) == pytest.approx(np.ones(200))
    assert emb.apply(slab.points) == pytest.approx(inside)
    # an affine motion of the nodes moves embedded points by the same affine map (linear shape functions)
    a = np.array([[1.1, 0.2, 0.0], [0.0, 0.9, 0.1], [0.05, 0.0, 1.2]])
    assert emb.apply(slab.points @ a.T + [3, 4, 5]) == pytest.approx(inside @ a.T + [3, 4, 5])
    outside = embed_points(slab, np.array([[61.0, 15.0, 5.0]]))
    assert 0 < outside.outside_mm[0] < 5.0
    assert outside.apply(slab.points)[0] == pytest.approx([61.0, 15.0, 5.0])  # extrapolated exactly
    fine = SurfaceMesh(inside[:3], np.array([[0, 1, 2]]))
    sim = TissueSimulation(slab, material("liver"), fixed=_attached(slab), display=fine, gravity=(0, 0, -9.81))
    sim.step(5)
    shown = sim.display_surface()
    assert shown.points == pytest.approx(emb.apply(sim.positions_mm)[:3])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dt": 0.0}, "time step"),
        ({"dt": float("nan")}, "time step"),
        ({"iterations": 0}, "iteration"),
        ({"gravity": (0.0, 9.81)}, "gravity"),
        ({"fixed": np.ones(3, bool)}, "node mask"),
    ],
)
def test_solver_refuses_impossible_parameters(slab, kwargs: dict, message: str) -> None:
    with pytest.raises(TissueInputError, match=message):
        TissueSolver(slab, material("liver"), **kwargs)


def test_nodes_outside_every_tetrahedron_are_refused(slab) -> None:
    from simulation.tissue import TetMesh

    loose = TetMesh(np.vstack([slab.points, [[100.0, 0.0, 0.0]]]), slab.tets)
    with pytest.raises(TissueInputError, match="1 nodes belong to no tetrahedron"):
        TissueSolver(loose, material("liver"))


def test_everything_fixed_or_bad_springs_are_refused(slab) -> None:
    solver = TissueSolver(slab, material("liver"))
    with pytest.raises(TissueInputError, match="every node is fixed"):
        solver.set_fixed(np.ones(slab.n_points, bool))
    with pytest.raises(TissueInputError, match="stiffness"):
        solver.set_springs([1], [[0.0, 0.0, 0.0]], -5.0)
    with pytest.raises(TissueInputError, match=r"node indices must be in 0\.\.272"):
        solver.set_springs([10_000], [[0.0, 0.0, 0.0]], 5.0)
    with pytest.raises(TissueInputError, match="grasp"):
        TissueSimulation(slab, material("liver")).drag((0.0, 0.0, 0.0))
    with pytest.raises(TissueInputError, match="three finite coordinates"):
        TissueSimulation(slab, material("liver")).grab((np.nan, 0.0, 0.0))


def test_two_level_preconditioner_gives_the_same_motion_as_the_exact_one() -> None:
    from simulation.tissue.preconditioner import TwoLevelInverse

    mesh = box_mesh((80.0, 30.0, 20.0), (16, 6, 4))
    paths = {}
    for kind in ("direct", "two-level", "three-level"):
        solver = TissueSolver(mesh, material("liver"), fixed=np.isclose(mesh.points[:, 0], 0.0), iterations=30,
                              tolerance_mm=1e-7, gravity=(0.0, 0.0, -9.81),
                              preconditioner="direct" if kind == "direct" else "two-level")
        if kind != "direct":  # force several blocks and aggregates (and a coarse level of its own) on a small mesh
            solver._factorise()
            a = solver._factor
            assert isinstance(a, TwoLevelInverse)
            solver._factor = TwoLevelInverse(a._a, solver.rest[solver._free], block_nodes=150, aggregate_nodes=8,
                                             coarse_direct_nodes=20 if kind == "three-level" else 600)
            assert solver._factor.n_blocks > 2
            assert solver._factor.levels == (3 if kind == "three-level" else 2)
        solver.step(20)
        paths[kind] = solver.positions_mm
    sag = np.abs(paths["direct"] - mesh.points).max()
    assert sag > 1.0
    for kind in ("two-level", "three-level"):  # all converge to the same steps
        assert np.abs(paths[kind] - paths["direct"]).max() < 1e-3 * sag
    with pytest.raises(TissueInputError, match="preconditioner"):
        TissueSolver(mesh, material("liver"), preconditioner="multigrid")


def test_multilevel_preconditioner_is_symmetric_positive_definite() -> None:
    from simulation.tissue.preconditioner import TwoLevelInverse

    mesh = box_mesh((80.0, 30.0, 20.0), (16, 6, 4))
    solver = TissueSolver(mesh, material("liver"), fixed=np.isclose(mesh.points[:, 0], 0.0),
                          preconditioner="two-level")
    solver._factorise()
    a = solver._factor._a
    b = TwoLevelInverse(a, solver.rest[solver._free], block_nodes=150, aggregate_nodes=8, coarse_direct_nodes=20)
    dense = b.apply(np.eye(a.shape[0]))
    # symmetric up to the single-precision block factors, and positive definite, as L-BFGS needs of it
    assert np.abs(dense - dense.T).max() < 1e-5 * np.abs(dense).max()
    assert np.linalg.eigvalsh(0.5 * (dense + dense.T)).min() > 0


def test_bisection_makes_parts_of_equal_size() -> None:
    from simulation.tissue.preconditioner import bisect

    points = np.random.default_rng(3).random((9652, 3)) * [100.0, 40.0, 20.0]
    part = bisect(points, 32)
    sizes = np.bincount(part)
    assert len(sizes) == -(-9652 // 32)  # ceil(n / size) parts ...
    assert sizes.max() <= 32
    assert sizes.max() - sizes.min() <= 1  # ... of equal size
    # each part is spatially compact: far smaller than the body
    spans = [np.ptp(points[part == k], axis=0).max() for k in range(0, len(sizes), 37)]
    assert max(spans) < 40.0


def test_numba_backend_matches_numpy(rng: np.random.Generator) -> None:
    pytest.importorskip("numba")
    mesh = box_mesh((40.0, 20.0, 10.0), (8, 4, 2))
    solvers = {b: TissueSolver(mesh, material("kidney"), fixed=np.isclose(mesh.points[:, 0], 0.0),
                               gravity=(0.0, 0.0, -9.81), tolerance_mm=0.0, backend=b) for b in ("numpy", "numba")}
    x = solvers["numpy"].x + rng.normal(size=solvers["numpy"].x.shape) * 1e-3  # 1 mm random distortion
    e_np, g_np = solvers["numpy"]._energy_grad(x)
    e_nb, g_nb = solvers["numba"]._energy_grad(x)
    assert e_nb == pytest.approx(e_np, rel=1e-10)
    assert np.abs(g_nb - g_np).max() < 1e-10 * np.abs(g_np).max()
    for solver in solvers.values():
        solver.step(10)
    moved = np.abs(solvers["numpy"].positions_mm - mesh.points).max()
    assert moved > 0.1
    assert np.abs(solvers["numba"].positions_mm - solvers["numpy"].positions_mm).max() < 1e-6 * moved
    with pytest.raises(TissueInputError, match="backend"):
        TissueSolver(mesh, material("liver"), backend="cuda")


def test_preconditioner_work_per_node_stays_flat_as_the_mesh_grows() -> None:
    """The cost of one preconditioner application, counted as the matrix and factor entries it reads, is linear in
    the nodes: from 6.5k to 49k free nodes the entries per node stay within 8 % (a direct coarse solve grows 20 %
    over the same range, its LU filling in as 3-D direct solves do)."""
    per_node, levels = {}, {}
    for cells in (18, 36):
        mesh = box_mesh((100.0, 100.0, 100.0), (cells, cells, cells))
        solver = TissueSolver(mesh, material("liver"), fixed=mesh.points[:, 2] < 1e-9, preconditioner="two-level")
        solver._factorise()
        factor = solver._factor
        per_node[cells] = factor.entries_per_apply / len(solver._free)
        levels[cells] = factor.levels
    assert per_node[36] < 1.08 * per_node[18]
    assert levels == {18: 2, 36: 3}  # the hierarchy deepens with the mesh
