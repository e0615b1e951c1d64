"""Meshing, decimation, metrics and export (STL, OBJ, PLY, GLB, 3MF; LPS and RAS) on the abdomen phantom."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
import trimesh

from imaging.mesh_io import NamedMesh, read_mesh, write_mesh, write_meshes
from imaging.mesh_quality import distance_to_surface, mesh_metrics
from imaging.meshing import decimate_mesh, mesh_from_labelmap, mesh_from_mask, repair_mesh
from imaging.phantom import generate_abdomen
from imaging.volume import VolumeGeometry
from tests.conftest import require_data


@pytest.fixture(scope="module")
def phantom():
    return generate_abdomen((96, 96, 72), seed=7)


@pytest.fixture(scope="module")
def kidney(phantom):
    mask = phantom.labels == 7
    return mask, mesh_from_mask(mask, phantom.ct.geometry)


@pytest.mark.parametrize("labels", [(5, 6), (7,), (8,), (10,)])
def test_mesh_volume_matches_voxels_and_lies_on_the_boundary(phantom, labels):
    g = phantom.ct.geometry
    mask = np.isin(phantom.labels, labels)  # liver with its tumour, kidneys, spleen
    mesh = mesh_from_mask(mask, g)
    voxel_ml = mask.sum() * np.prod(g.spacing) / 1000
    m = mesh_metrics(mesh, mask, g)
    assert m.volume_ml == pytest.approx(voxel_ml, rel=0.02)
    assert m.watertight
    assert m.manifold
    assert m.boundary_mean_mm < 0.5 * min(g.spacing)


def test_cavity_keeps_inward_normals(phantom):
    g = phantom.ct.geometry
    liver = phantom.labels == 5  # the tumour is a hole in it
    mesh = mesh_from_mask(liver, g)
    assert mesh.volume_ml() == pytest.approx(liver.sum() * np.prod(g.spacing) / 1000, rel=0.02)


def test_labelmap_decimate_repair_metrics(phantom, kidney):
    g = phantom.ct.geometry
    meshes = mesh_from_labelmap(phantom.labels, g, labels=[7, 8])
    assert set(meshes) == {7, 8}
    assert all(m.n_faces for m in meshes.values())
    mask, mesh = kidney
    small = decimate_mesh(mesh, fraction=0.25)
    assert small.n_faces <= 0.26 * mesh.n_faces
    assert small.volume_ml() == pytest.approx(mesh.volume_ml(), rel=0.02)
    assert decimate_mesh(mesh, target_faces=500).n_faces <= 500
    fixed = repair_mesh(small)
    metrics = mesh_metrics(fixed, mask, g)
    assert metrics.watertight
    assert metrics.euler_characteristic == 2
    assert 0 < metrics.min_angle_deg <= metrics.min_angle_p5_deg <= metrics.min_angle_median_deg < 60.01
    assert json.dumps(metrics.to_dict())
    with pytest.raises(ValueError, match="either"):
        decimate_mesh(mesh)
    with pytest.raises(ValueError, match="fraction"):
        decimate_mesh(mesh, fraction=1.5)


def _load_3mf(path):
    ns = {"m": "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"}
    with zipfile.ZipFile(path) as z:
        root = ET.fromstring(z.read("3D/3dmodel.model"))
    assert root.get("unit") == "millimeter"
    obj = root.find(".//m:object", ns)
    v = np.array([[float(e.get(a)) for a in "xyz"] for e in obj.iter(f"{{{ns['m']}}}vertex")])
    f = np.array([[int(e.get(a)) for a in ("v1", "v2", "v3")] for e in obj.iter(f"{{{ns['m']}}}triangle")])
    return trimesh.Trimesh(v, f, process=True), obj.get("name")


@pytest.mark.parametrize("suffix", [".stl", ".obj", ".ply", ".glb", ".3mf"])
def test_export_is_watertight_and_lands_on_the_image(phantom, kidney, tmp_path, suffix):
    g = phantom.ct.geometry
    mask, mesh = kidney
    path = write_mesh(mesh, tmp_path / f"kidney{suffix}", name="Left kidney", color=(0.73, 0.4, 0.33))
    loaded, name = _load_3mf(path) if suffix == ".3mf" else (trimesh.load(path, force="mesh"), None)
    assert loaded.is_watertight
    assert loaded.volume / 1000 == pytest.approx(mesh.volume_ml(), rel=1e-3)  # positive: normals outward
    from imaging.mesh import SurfaceMesh

    boundary = mesh_from_mask(mask, g, smoothing_iterations=0)
    d = distance_to_surface(np.asarray(loaded.vertices), boundary)
    assert d.mean() < 0.5 * min(g.spacing)
    if suffix == ".3mf":
        assert name == "Left kidney"
    if suffix in (".stl", ".obj", ".ply"):
        back = read_mesh(path)
        assert isinstance(back, SurfaceMesh)
        assert back.n_faces == mesh.n_faces
    blob = path.read_bytes()
    assert b"PatientName" not in blob
    assert b"Phantom^" not in blob


def test_ras_export_flips_x_y_and_keeps_outward_normals(kidney, tmp_path):
    _, mesh = kidney
    lps = trimesh.load(write_mesh(mesh, tmp_path / "lps.stl"), force="mesh")
    ras = trimesh.load(write_mesh(mesh, tmp_path / "ras.stl", coordinates="RAS"), force="mesh")
    assert np.allclose(ras.bounds[0], [-lps.bounds[1][0], -lps.bounds[1][1], lps.bounds[0][2]], atol=1e-4)
    assert ras.volume > 0
    assert ras.volume == pytest.approx(lps.volume, rel=1e-6)
    assert ras.is_winding_consistent


def test_glb_has_names_and_colours(phantom, tmp_path):
    meshes = mesh_from_labelmap(phantom.labels, phantom.ct.geometry, labels=[7, 10])
    items = [NamedMesh(meshes[7], "Left kidney", (0.73, 0.4, 0.33)), NamedMesh(meshes[10], "Spleen", (0.6, 0.4, 0.6))]
    scene = trimesh.load(write_meshes(items, tmp_path / "organs.glb"))
    assert {"Left kidney", "Spleen"} <= set(scene.geometry)
    colour = scene.geometry["Spleen"].visual.material.baseColorFactor
    assert np.allclose(np.asarray(colour[:3]) / (255 if np.max(colour) > 1 else 1), (0.6, 0.4, 0.6), atol=0.01)


def test_meshing_errors():
    g = VolumeGeometry((4, 4, 4))
    with pytest.raises(OSError, match="coordinates"):
        write_mesh(mesh_from_mask(np.ones((4, 4, 4), bool), g), "x.stl", coordinates="XYZ")
    with pytest.raises(OSError, match="unsupported"):
        write_mesh(mesh_from_mask(np.ones((4, 4, 4), bool), g), "x.dxf")


def test_vmtk_aorta_level_set_matches_vmtk_surface():
    from imaging.image_io import read_image
    from imaging.mesh import SurfaceMesh
    from imaging.segmentation import keep_largest_island

    root = require_data("anatomy-vmtk-aorta")
    level = read_image(root / "segmentation" / "aorta-final-levelset.mha")
    mask = keep_largest_island(level.array <= 0)
    mesh = mesh_from_mask(mask, level.geometry)
    ref = trimesh.load(root / "surface" / "aorta-surface.stl", force="mesh")
    ref_lps = SurfaceMesh(np.asarray(ref.vertices) * [-1.0, -1.0, 1.0], np.asarray(ref.faces))  # file is RAS
    ours = trimesh.Trimesh(mesh.points, mesh.faces)
    a, _ = trimesh.sample.sample_surface(ours, 20000, seed=1)
    b, _ = trimesh.sample.sample_surface(trimesh.Trimesh(ref_lps.points, ref_lps.faces), 20000, seed=2)
    mean = (distance_to_surface(a, ref_lps).mean() + distance_to_surface(b, mesh).mean()) / 2
    assert mean <= 0.5
    assert ours.is_watertight


def test_pinched_sheets_are_split_so_the_mesh_stays_watertight_through_stl(tmp_path) -> None:
    from imaging.mesh import SurfaceMesh
    from imaging.mesh_io import write_mesh
    from imaging.meshing import PINCH_SEPARATION_MM, split_nonmanifold_edges

    # Two closed tetrahedra on either side of the edge 0-1, which four triangles share (a pinch).
    points = np.array([[0, 0, 0], [0, 0, 10], [8, 3, 5], [8, -3, 5], [-8, 3, 5], [-8, -3, 5]], float)
    tetra = [[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]]
    other = [[0, 4, 1], [0, 5, 4], [0, 1, 5], [1, 4, 5]]
    pinched = SurfaceMesh(points, np.array(tetra + other))
    before = trimesh.Trimesh(pinched.points, pinched.faces, process=False)
    assert not before.is_watertight

    split = split_nonmanifold_edges(pinched)
    assert split.n_points == 8, "vertices 0 and 1 each get one copy"
    moved = np.linalg.norm(split.points[6:] - points[[0, 1]], axis=1)
    np.testing.assert_allclose(moved, PINCH_SEPARATION_MM, rtol=1e-9)
    path = write_mesh(split, tmp_path / "pinch.stl")
    reloaded = trimesh.load(path)  # STL stores no shared vertices: trimesh welds them by position
    assert reloaded.is_watertight
    assert reloaded.volume == pytest.approx(before.volume, rel=5e-3)  # the 0.01 mm nudge on a 10 mm solid
    manifold = SurfaceMesh(points[:4], np.array(tetra))
    assert split_nonmanifold_edges(manifold) is manifold


@pytest.mark.slow
def test_bone_and_vessel_models_keep_their_voxel_volume_at_clinical_resolution() -> None:
    """At ~2 mm voxels (coarser than any surgical CT) the smoothed meshes stay within 2 % of the voxel volume.

    At the 4 mm test grid the thin vessels lose more (their radius is under three voxels); 2 mm is the coarsest
    spacing the acceptance is meant for.
    """
    from app.pipelines.demo_case import segment_bone_and_vessels

    phantom = generate_abdomen((192, 192, 150), seed=0)
    geometry = phantom.ct.geometry
    voxel_ml = float(np.prod(geometry.spacing)) / 1000.0
    for name, mask in segment_bone_and_vessels(phantom.ct).items():
        mesh = mesh_from_mask(mask, geometry)
        assert mesh.volume_ml() == pytest.approx(mask.sum() * voxel_ml, rel=0.02), name
