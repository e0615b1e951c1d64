"""Plane cuts: exact volume bookkeeping, conforming splits, the phantom liver, and simulating on after a cut."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from imaging.mesh import SurfaceMesh
from simulation.tissue import (
    TissueInputError,
    TissueSimulation,
    connected_parts,
    cut_plane,
    material,
    mesh_label,
    select_nodes,
    tetrahedralize,
)
from simulation.tissue.tetmesh import boundary_faces


def _area(points: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (points[faces[:, i]] for i in range(3))
    return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())


@pytest.fixture(scope="module")
def ball():
    s = trimesh.creation.icosphere(3, radius=50.0)
    return tetrahedralize(SurfaceMesh(np.asarray(s.vertices), np.asarray(s.faces)), target_tets=4000)


def test_cut_splits_a_ball_into_two_exact_halves(ball) -> None:
    offset = np.array([3.0, 2.0, 1.0])
    normal = np.array([1.0, 0.3, 0.2])
    result = cut_plane(ball, offset, normal)
    total = result.volume_positive_mm3 + result.volume_negative_mm3
    assert total == pytest.approx(ball.volume(), rel=1e-12)  # nothing removed, nothing overlapping
    count, _ = connected_parts(result.mesh)
    assert count == 2
    # each side of the plane is one part, and every node of the positive part is on the positive side (to 1 %
    # of an edge: the classification margin)
    unit = normal / np.linalg.norm(normal)
    side_of_node = (result.mesh.points - offset) @ unit
    pos_nodes = np.unique(result.mesh.tets[result.tet_side > 0])
    assert side_of_node[pos_nodes].min() > -0.05 * ball.mean_edge_length()
    # cap volume of a sphere cut at distance d: pi (R - d)^2 (2R + d) / 3; the polyhedral ball is 1.2 % smaller
    d = float(offset @ unit)
    cap = np.pi * (50 - d) ** 2 * (100 + d) / 3
    assert result.volume_positive_mm3 / result.volume_negative_mm3 == pytest.approx(
        cap / (4 / 3 * np.pi * 50**3 - cap), rel=0.01)
    # conforming: the new boundary is exactly the old boundary plus the two cut faces (no spurious inner faces)
    boundary = boundary_faces(result.mesh.tets)
    cut_area = _area(result.mesh.points, result.cut_faces)
    assert _area(result.mesh.points, boundary) == pytest.approx(_area(ball.points, ball.boundary()) + cut_area)
    assert cut_area == pytest.approx(2 * np.pi * (50**2 - d**2), rel=0.02)  # the two disc faces
    assert result.split_tets > 0
    assert (result.mesh.volumes() > 0).all()


def test_cut_that_misses_or_has_no_normal_is_refused(ball) -> None:
    with pytest.raises(TissueInputError, match="does not cross"):
        cut_plane(ball, (0.0, 0.0, 80.0), (0.0, 0.0, 1.0))
    with pytest.raises(TissueInputError, match="non-zero normal"):
        cut_plane(ball, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))


@pytest.fixture(scope="module")
def liver():
    from imaging.phantom import generate_abdomen

    phantom = generate_abdomen((96, 96, 80), seed=0)
    liver_label = next(k for k, v in phantom.label_names.items() if v == "liver")
    return mesh_label(phantom.labels, phantom.ct.geometry, liver_label, target_tets=3000)


def test_phantom_liver_cut_in_two_keeps_its_volume(liver) -> None:
    tets, fine = liver
    enclosed = trimesh.Trimesh(fine.points, fine.faces).volume
    assert tets.volume() == pytest.approx(enclosed, rel=0.03)  # the decimated simulation mesh fills the organ
    centre = tets.points.mean(axis=0)
    result = cut_plane(tets, centre, (0.2, 0.1, 1.0))
    parts = [result.volume_positive_mm3, result.volume_negative_mm3]
    assert min(parts) > 0.1 * tets.volume()
    assert sum(parts) == pytest.approx(tets.volume(), rel=0.01)  # the acceptance criterion (actually ~1e-12)
    count, labels = connected_parts(result.mesh)
    volumes = np.bincount(labels, result.mesh.volumes())
    assert volumes.sum() == pytest.approx(tets.volume(), rel=1e-9)
    assert count >= 2


@pytest.mark.slow
def test_simulation_keeps_running_after_a_cut(liver) -> None:
    tets, fine = liver
    sim = TissueSimulation(tets, material("liver"), fixed=select_nodes("x>85%", tets.points), display=fine,
                           gravity=(0.0, 9.81, 0.0), iterations=6)
    sim.step(10)
    report = sim.cut(tets.points.mean(axis=0), (1.0, 0.0, 0.0))
    assert sum(report.part_volumes_mm3) == pytest.approx(report.volume_before_mm3, rel=1e-9)
    assert report.resected_volume_mm3 > 0
    free_part = sim.positions_mm.copy()
    sim.step(20)
    moved = sim.positions_mm
    assert np.isfinite(moved).all()
    # the part cut free of its attachment falls along +y (posterior, gravity of a supine patient) ...
    free_side = sim.mesh.points[:, 0] < tets.points.mean(axis=0)[0] - 5
    assert (moved - free_part)[free_side, 1].mean() > 5.0
    # ... while the attached part stays connected to its fixed nodes and moves much less
    attached = select_nodes("x>95%", sim.mesh.points)
    assert np.abs(moved - free_part)[attached].max() < 1e-9
    surface = sim.surface()
    assert len(surface.faces) > len(tets.boundary())  # cut faces are part of the rendered surface
    assert sim.display_surface().n_points == fine.n_points
    cut = sim.cut_surface()
    assert len(cut.faces) == len(report.cut_faces) > 0
    # both faces of the cut, moved with the tissue (the free part has fallen and sagged, but not torn)
    assert cut.area_mm2() == pytest.approx(_area(sim.mesh.points, report.cut_faces), rel=0.3)
