"""Tetrahedral meshing, quality measures, materials and node selections, including their bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from imaging.mesh import SurfaceMesh
from simulation.tissue import (
    TetMesh,
    TissueInputError,
    box_mesh,
    material,
    quality_report,
    select_nodes,
    tetrahedralize,
)
from simulation.tissue.quality import dihedral_angles_deg, radius_ratios


def _sphere(radius: float = 30.0, subdivisions: int = 3) -> SurfaceMesh:
    s = trimesh.creation.icosphere(subdivisions, radius=radius)
    return SurfaceMesh(np.asarray(s.vertices), np.asarray(s.faces))


def test_sphere_meets_the_target_count_and_fills_the_surface() -> None:
    surface = _sphere()
    enclosed = trimesh.Trimesh(surface.points, surface.faces).volume
    for target in (3000, 12000):
        mesh = tetrahedralize(surface, target_tets=target)
        assert 0.75 * target <= mesh.n_tets <= 1.3 * target
        assert mesh.volume() == pytest.approx(enclosed, rel=1e-9)  # tetgen keeps the boundary exactly
        assert (mesh.volumes() > 0).all()
        report = quality_report(mesh)
        assert report.min_dihedral_deg > 4.0  # tetgen -q1.5/10, optimised to 165 degrees: no slivers
        assert report.min_radius_ratio > 0.05
        assert report.radius_ratio_below_0_1 < 1e-3
        assert report.mean_radius_ratio > 0.6


def test_coarse_option_decimates_a_fine_surface_first() -> None:
    fine = _sphere(subdivisions=5)  # 20k triangles: tetgen alone would need > 40k tetrahedra
    coarse = tetrahedralize(fine, target_tets=2000, coarse=True)
    assert coarse.n_tets < 4000
    assert coarse.metadata["coarse"] is True


def test_quality_measures_of_known_tetrahedra() -> None:
    regular = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    tets = np.array([[0, 1, 2, 3]])
    assert dihedral_angles_deg(regular, tets) == pytest.approx(np.full((1, 6), np.degrees(np.arccos(1 / 3))))
    assert radius_ratios(regular, tets)[0] == pytest.approx(1.0)
    sliver = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 1e-3]], float)
    assert radius_ratios(sliver, tets)[0] < 0.01
    assert dihedral_angles_deg(sliver, tets).min() < 1.0


def test_box_mesh_is_conforming() -> None:
    mesh = box_mesh((10.0, 4.0, 2.0), (5, 2, 1))
    assert mesh.n_tets == 60
    assert mesh.volume() == pytest.approx(80.0)
    assert len(mesh.boundary()) == 2 * 2 * (5 * 2 + 5 * 1 + 2 * 1)  # two triangles per boundary square


@pytest.mark.parametrize(
    ("surface", "kwargs", "message"),
    [
        (SurfaceMesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64)), {}, "empty"),
        ("open", {}, "not watertight"),
        ("sphere", {"target_tets": 3}, "at least 10"),
        ("sphere", {"min_dihedral_deg": 45.0}, "dihedral"),
    ],
)
def test_bad_meshing_input_is_refused(surface: object, kwargs: dict, message: str) -> None:
    if surface == "sphere":
        surface = _sphere()
    elif surface == "open":
        s = _sphere()
        surface = SurfaceMesh(s.points, s.faces[:-3])
    with pytest.raises(TissueInputError, match=message):
        tetrahedralize(surface, **kwargs)  # type: ignore[arg-type]


def test_tet_mesh_refuses_empty_and_degenerate_input() -> None:
    with pytest.raises(TissueInputError, match="empty"):
        TetMesh(np.zeros((4, 3)), np.zeros((0, 4), np.int64))
    with pytest.raises(TissueInputError, match="degenerate"):
        TetMesh(np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0.0]]), np.array([[0, 1, 2, 3]]))
    with pytest.raises(TissueInputError, match="refer to node"):
        TetMesh(np.zeros((3, 3)), np.array([[0, 1, 2, 3]]))
    flipped = TetMesh(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]]), np.array([[0, 2, 1, 3]]))
    assert flipped.volumes()[0] == pytest.approx(1 / 6)  # reoriented on construction


def test_material_presets_and_errors() -> None:
    liver = material("Liver")
    assert 1e3 < liver.young_pa < 2e4
    assert 0.4 < liver.poisson < 0.5
    assert material("vessel-wall").young_pa > 100 * material("brain").young_pa
    assert liver.mu_pa == pytest.approx(liver.young_pa / (2 * 1.45))
    with pytest.raises(TissueInputError, match="unknown material 'bone'; choose from liver"):
        material("bone")
    with pytest.raises(TissueInputError, match="Poisson"):
        material("liver", poisson=0.5)
    with pytest.raises(TissueInputError, match="Young"):
        material("liver", young_pa=-1.0)


def test_node_selection_grammar() -> None:
    pts = np.column_stack([np.linspace(0, 100, 101), np.zeros(101), np.linspace(-50, 50, 101)])
    assert select_nodes("x<10%", pts).sum() == 10
    assert select_nodes("z>40", pts).sum() == 10
    assert select_nodes(" X > 95 % ", pts).sum() == 5
    assert select_nodes("box:0,-1,-50,5,1,50", pts).sum() == 6
    assert select_nodes("sphere:50,0,0,1.5", pts).sum() == 3
    assert np.nonzero(select_nodes("nearest:20.2,3,-29.8", pts))[0].tolist() == [20]
    with pytest.raises(TissueInputError, match="selects no node"):
        select_nodes("x>200", pts)
    with pytest.raises(TissueInputError, match="cannot read node selection"):
        select_nodes("left side", pts)
    with pytest.raises(TissueInputError, match="6 comma-separated numbers"):
        select_nodes("box:1,2,3", pts)


def test_tetgen_that_does_not_finish_is_stopped_with_a_message() -> None:
    """tetgen runs in a child process: a run past its time limit is killed and reported, the caller never hangs."""
    import time

    sphere = trimesh.creation.icosphere(subdivisions=4, radius=40.0)
    surface = SurfaceMesh(np.asarray(sphere.vertices, float), np.asarray(sphere.faces, np.int64))
    started = time.perf_counter()
    with pytest.raises(TissueInputError, match="did not finish within"):
        tetrahedralize(surface, target_tets=200_000, timeout_s=0.05)
    assert time.perf_counter() - started < 10
