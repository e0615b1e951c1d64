"""Swept-blade cuts: a blade dragged right through a ball separates it; one stopped half-way opens an incision that
holds together at its tip; the solver keeps running on the cut mesh."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from imaging.mesh import SurfaceMesh
from simulation.tissue import TissueInputError, TissueSimulation, connected_parts, material, tetrahedralize
from simulation.tissue.blade import _closest_points, cut_swept, swept_surface

R = 50.0


@pytest.fixture(scope="module")
def ball():
    s = trimesh.creation.icosphere(3, radius=R)
    return tetrahedralize(SurfaceMesh(np.asarray(s.vertices), np.asarray(s.faces)), target_tets=4000)


def _area(points: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (points[faces[:, i]] for i in range(3))
    return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())


def blade_stroke(depth_to: float, x: float = 4.0, steps: int = 12):
    """A vertical blade edge (z from -70 to +70 mm) in the plane x = ``x``, drawn along y from -70 to ``depth_to``."""
    y = np.linspace(-70.0, depth_to, steps)
    starts = np.column_stack([np.full(steps, x), y, np.full(steps, -70.0)])
    ends = np.column_stack([np.full(steps, x), y, np.full(steps, 70.0)])
    return starts, ends


def test_closest_points_match_dense_sampling(rng) -> None:
    tri = np.array([[[0.0, 0, 0], [10, 0, 0], [0, 10, 0]], [[0, 0, 5], [0, 10, 5], [10, 0, 8]]])
    points = rng.uniform(-6, 16, size=(300, 3))
    dist, nearest, _ = _closest_points(points, tri)
    u, v = np.meshgrid(np.linspace(0, 1, 201), np.linspace(0, 1, 201))
    keep = u + v <= 1
    samples = np.concatenate([t[0] + u[keep, None] * (t[1] - t[0]) + v[keep, None] * (t[2] - t[0]) for t in tri])
    brute = np.min(np.linalg.norm(points[:, None] - samples[None], axis=-1), axis=1)
    assert np.all(dist <= brute + 1e-9)  # exact distance is never above a sampled one
    assert np.allclose(dist, brute, atol=0.06)  # sample spacing 0.05 mm
    assert np.allclose(np.linalg.norm(points - nearest, axis=1), dist)


def test_a_blade_drawn_right_through_separates_the_ball(ball) -> None:
    result = cut_swept(ball, swept_surface(*blade_stroke(70.0)))
    count, labels = connected_parts(result.mesh)
    assert count == 2
    volumes = np.bincount(labels, result.mesh.volumes())
    assert volumes.sum() == pytest.approx(ball.volume(), rel=0.01)  # nothing removed; snapping shifts the rim a bit
    # the parts are the two sides of x = 4: sphere caps
    cap = np.pi * (R - 4.0) ** 2 * (2 * R + 4.0) / 3
    assert volumes.min() / volumes.sum() == pytest.approx(cap / (4 / 3 * np.pi * R**3), abs=0.02)
    # both faces of the x = 4 disc; a few snapped slivers dropped off the plane leave pits that add a little area
    assert _area(result.mesh.points, result.cut_faces) == pytest.approx(2 * np.pi * (R**2 - 16.0), rel=0.03)
    assert result.dropped_volume_mm3 < 0.02 * ball.volume()
    assert (result.mesh.volumes() > 0).all()
    assert np.allclose(result.positions_mm, result.mesh.points)  # cut at rest: current = rest


def test_a_blade_stopped_half_way_opens_an_incision_that_holds_at_its_tip(ball) -> None:
    result = cut_swept(ball, swept_surface(*blade_stroke(0.0)))  # stops at the ball's centre line
    count, _ = connected_parts(result.mesh)
    assert count == 1
    cut_points = result.mesh.points[np.unique(result.cut_faces)]
    on_plane = np.abs(cut_points[:, 0] - 4.0) < 1e-6
    assert on_plane.mean() > 0.95  # the incision lies on the blade's plane (but for the pit of a dropped sliver)
    assert cut_points[on_plane, 1].max() <= 0.0 + 1e-6  # and stops where the blade stopped
    # both faces of a half disc (the part of the x = 4 disc with y < 0)
    half_disc = 0.5 * np.pi * (R**2 - 16.0)
    assert _area(result.mesh.points, result.cut_faces) == pytest.approx(2 * half_disc, rel=0.12)
    assert len(result.node_origin) > ball.n_points  # nodes were duplicated along the incision


def test_the_incision_gapes_when_a_flap_is_pulled_and_the_solver_keeps_running(ball) -> None:
    fixed = ball.points[:, 1] > 0.8 * R  # held at the far side
    sim = TissueSimulation(ball, material("liver"), fixed=fixed, iterations=6)
    report = sim.cut_swept(*blade_stroke(0.0))
    assert report.opened_faces > 0
    assert len(report.part_volumes_mm3) == 1  # a partial incision: still one piece
    # the two copies of every node along the incision share a rest position
    rest = sim.mesh.points
    by_rest: dict[tuple[float, ...], list[int]] = {}
    for node, point in enumerate(np.round(rest, 9)):
        by_rest.setdefault(tuple(point), []).append(node)
    pairs = np.array([nodes for nodes in by_rest.values() if len(nodes) == 2])
    assert len(pairs) > 20
    # pull the flap on the +x side of the incision sideways, away from the other
    sim.grab((20.0, -30.0, 0.0), radius_mm=8.0, hard=True)
    sim.drag((35.0, -30.0, 0.0))
    sim.step(30)
    positions = sim.positions_mm
    assert np.isfinite(positions).all()
    gap = np.linalg.norm(positions[pairs[:, 0]] - positions[pairs[:, 1]], axis=1)
    assert np.median(gap) > 2.0  # the incision opens ...
    assert np.abs(positions - rest).max() < R  # ... without the mesh exploding
    assert len(sim.cut_surface().faces) == len(report.cut_faces)


def test_bad_blades_are_refused(ball) -> None:
    starts, ends = blade_stroke(70.0)
    with pytest.raises(TissueInputError, match="did not move"):
        swept_surface(starts[:1].repeat(2, 0), ends[:1].repeat(2, 0))
    with pytest.raises(TissueInputError, match="at least two"):
        swept_surface(starts[:1], ends[:1])
    away = np.array([200.0, 0.0, 0.0])
    with pytest.raises(TissueInputError, match="no tissue"):
        cut_swept(ball, swept_surface(starts + away, ends + away))
    with pytest.raises(TissueInputError, match=r"\(k, 3, 3\)"):
        cut_swept(ball, np.zeros((2, 3)))


def test_the_display_surface_opens_along_the_incision_without_stretched_triangles(ball) -> None:
    fine = trimesh.creation.icosphere(4, radius=R - 0.5)  # 4x finer than the ball's own boundary
    display = SurfaceMesh(np.asarray(fine.vertices), np.asarray(fine.faces))
    fixed = ball.points[:, 1] > 0.8 * R
    sim = TissueSimulation(ball, material("liver"), fixed=fixed, iterations=6, display=display)
    before = sim.display_surface()
    sim.cut_swept(*blade_stroke(0.0))
    sim.grab((20.0, -30.0, 0.0), radius_mm=8.0, hard=True)
    sim.drag((35.0, -30.0, 0.0))
    sim.step(30)
    after = sim.display_surface()
    torn = len(before.faces) - len(after.faces)
    assert torn > 10  # the blade's trace on the surface
    # the torn triangles are those crossing the blade's half plane (x = 4, y < 0) at rest, and others within an
    # element of it (the blade snaps the elements' nodes onto it; a display vertex stays with its element)
    rest = display.points[display.faces]
    crosses = (rest[:, :, 0].min(axis=1) < 4.0) & (rest[:, :, 0].max(axis=1) > 4.0) & (rest[:, :, 1].max(axis=1) < 0)
    kept = {tuple(f) for f in after.faces.tolist()}
    gone = np.array([tuple(f) not in kept for f in display.faces.tolist()])
    assert gone[crosses].mean() > 0.5  # the slit follows the blade (a crossing triangle whose corners sit in
    # elements of one side stays: it does not stretch)
    near = (np.abs(rest[:, :, 0] - 4.0).min(axis=1) < ball.mean_edge_length()) & (rest[:, :, 1].min(axis=1) < 2.0)
    assert not gone[~near].any()
    # no display triangle stretches across the opened gap: edges stay within 2x their rest length
    def edge_ratio(points, faces):
        a, b = points[faces], np.roll(points[faces], 1, axis=1)
        return np.linalg.norm(a - b, axis=2) / np.linalg.norm(display.points[faces] - np.roll(display.points[faces], 1,
                                                                                             axis=1), axis=2)
    assert edge_ratio(after.points, after.faces).max() < 2.5  # 3.7 with the torn ones kept
    # the vertices either side follow their own side: the flap (x > 4) moved towards +x, the other side did not
    moved = after.points - display.points
    flap = (display.points[:, 0] > 6.0) & (display.points[:, 1] < -20.0) & (np.abs(display.points[:, 2]) < 20.0)
    other = (display.points[:, 0] < 2.0) & (display.points[:, 1] < -20.0) & (np.abs(display.points[:, 2]) < 20.0)
    assert np.median(moved[flap, 0]) - np.median(moved[other, 0]) > 2.0
    walls = sim.incision_surface()
    assert len(walls.faces) >= len(sim.cuts[-1].cut_faces) > 0


def test_a_plane_cut_after_an_incision_leaves_the_display_whole_on_both_sides_and_the_incision_open(ball) -> None:
    fine = trimesh.creation.icosphere(4, radius=R - 0.5)
    display = SurfaceMesh(np.asarray(fine.vertices), np.asarray(fine.faces))
    fixed = ball.points[:, 1] > 0.8 * R
    sim = TissueSimulation(ball, material("liver"), fixed=fixed, iterations=6, display=display)
    sim.cut_swept(*blade_stroke(0.0))  # the incision in x = 4 for y < 0
    report = sim.cut((0.0, 0.0, 25.0), (0.0, 0.0, 1.0))  # then a plane across it: the cap z > 25 comes off
    assert len(report.part_volumes_mm3) == 2
    assert report.tet_parent is not None
    # every display vertex hangs in an element on its own side of the plane
    tet_side = report.tet_side[sim.display_embedding.tet]
    vertex_side = np.where(display.points[:, 2] > 25.0, 1, -1)
    clear = np.abs(display.points[:, 2] - 25.0) > 1.0
    assert np.array_equal(tet_side[clear], vertex_side[clear])
    # pull the incision's flap (x > 4) below the plane: no kept display triangle stretches, across either cut
    sim.grab((20.0, -30.0, 0.0), radius_mm=8.0, hard=True)
    sim.drag((35.0, -30.0, 0.0))
    sim.step(30)
    after = sim.display_surface()
    edges = after.points[after.faces] - np.roll(after.points[after.faces], 1, axis=1)
    rest = display.points[after.faces] - np.roll(display.points[after.faces], 1, axis=1)
    assert (np.linalg.norm(edges, axis=2) / np.linalg.norm(rest, axis=2)).max() < 2.5
    moved = after.points - display.points
    flap = (display.points[:, 0] > 6.0) & (display.points[:, 1] < -20.0) & (np.abs(display.points[:, 2]) < 20.0)
    other = (display.points[:, 0] < 2.0) & (display.points[:, 1] < -20.0) & (np.abs(display.points[:, 2]) < 20.0)
    assert np.median(moved[flap, 0]) - np.median(moved[other, 0]) > 2.0  # the incision still opens
