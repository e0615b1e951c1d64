"""Planning geometry against analytic answers: angles, curve areas, resection volumes, margins, trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.meshing import mesh_from_mask
from imaging.planning import (
    CurvedCutSurface,
    CutPlane,
    PlanningError,
    Trajectory,
    angle_deg,
    closed_curve_area_mm2,
    margin_band_mask,
    resect,
    safety_margin,
    structure_clearance,
    trajectory_report,
)
from imaging.volume import VolumeGeometry


def _sphere_mask(shape, spacing, centre_mm, radius_mm, origin=(0.0, 0.0, 0.0)):
    geometry = VolumeGeometry(shape, spacing, origin)
    nz, ny, nx = shape
    k, j, i = np.mgrid[:nz, :ny, :nx]
    lps = geometry.index_to_point(np.stack([i, j, k], -1).reshape(-1, 3)).reshape(*shape, 3)
    return np.linalg.norm(lps - np.asarray(centre_mm), axis=-1) <= radius_mm, geometry


def test_angle_and_closed_curve_area_match_their_analytic_values():
    assert angle_deg([10, 0, 0], [0, 0, 0], [3, 3 * np.sqrt(3), 0]) == pytest.approx(60.0, abs=1e-9)
    assert angle_deg([1, 0, 0], [0, 0, 0], [-1, 1e-9, 0]) == pytest.approx(180.0, abs=1e-6)
    # A rectangle as a polygon, tilted in 3-D: exactly its area.
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    rect = np.array([[0, 0, 0], [30, 0, 0], [30, 20, 0], [0, 20, 0]], float) @ rotation.T
    assert closed_curve_area_mm2(rect, spline=False) == pytest.approx(600.0, rel=1e-12)
    # Twelve points on a circle: the closed spline through them encloses the circle's area within 0.3 %.
    th = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    circle = np.c_[40 * np.cos(th), 40 * np.sin(th), np.zeros(12)] @ rotation.T
    assert closed_curve_area_mm2(circle) == pytest.approx(np.pi * 40**2, rel=0.003)
    with pytest.raises(ValueError, match="three distinct points"):
        angle_deg([0, 0, 0], [0, 0, 0], [1, 0, 0])


def test_a_plane_resection_partitions_the_voxels_exactly_and_the_mesh_into_two_closed_parts():
    organ, geometry = _sphere_mask((60, 60, 60), (1.0, 1.0, 1.0), (30, 30, 30), 25.0)
    mesh = mesh_from_mask(organ, geometry)
    target, _ = _sphere_mask((60, 60, 60), (1.0, 1.0, 1.0), (42, 30, 30), 5.0)
    plane = CutPlane([33.0, 0, 0], [1.0, 0, 0])
    result = resect(organ & ~target, geometry, plane, organ_mesh=mesh, target_mask=target)
    assert result.resected_ml + result.remnant_ml == pytest.approx(result.total_ml, rel=1e-12)
    assert not (result.resected_mask & result.remnant_mask).any()
    # The cap of a sphere beyond x = 33 (3 mm from the centre), analytically.
    h = 25.0 - 3.0
    cap_ml = np.pi * h**2 * (3 * 25.0 - h) / 3 / 1000
    assert result.mesh_resected_ml == pytest.approx(cap_ml, rel=0.02)
    assert result.mesh_resected_ml + result.mesh_remnant_ml == pytest.approx(result.mesh_total_ml, rel=1e-5)
    for part in (result.resected_mesh, result.remnant_mesh):
        edges = np.sort(np.r_[part.faces[:, [0, 1]], part.faces[:, [1, 2]], part.faces[:, [2, 0]]], axis=1)
        _, counts = np.unique(edges, axis=0, return_counts=True)
        assert (counts == 2).all()  # watertight: every edge shared by exactly two triangles
    # The target (centre x = 42, radius 5) is on the resected side, 4 mm beyond the plane: margin 9 - 5 = 4 mm.
    assert result.margin.min_margin_mm == pytest.approx(4.0, abs=1.0)  # voxel-centre target points


def test_a_curved_resection_adds_up_and_its_margin_matches_the_analytic_distance():
    organ, geometry = _sphere_mask((60, 60, 60), (1.0, 1.0, 1.0), (30, 30, 30), 25.0)
    mesh = mesh_from_mask(organ, geometry)
    # Control points on the cylinder x = 10 + sqrt(R^2 - (y-30)^2)... use a paraboloid-like bowl x = 30 + (y-30)^2/50.
    ys, zs = np.meshgrid(np.linspace(5, 55, 6), np.linspace(5, 55, 6))
    control = np.c_[30 + (ys.ravel() - 30) ** 2 / 50, ys.ravel(), zs.ravel()]
    cut = CurvedCutSurface(control)
    result = resect(organ, geometry, cut, organ_mesh=mesh)
    assert result.resected_ml + result.remnant_ml == pytest.approx(result.total_ml, rel=1e-12)
    assert result.mesh_resected_ml + result.mesh_remnant_ml == pytest.approx(result.mesh_total_ml, rel=5e-3)
    assert result.resected_ml == pytest.approx(result.mesh_resected_ml, rel=0.03)
    # The surface passes through its control points and its distance is Euclidean.
    assert np.abs(cut.side(control)).max() < 1e-6
    plane_cut = CurvedCutSurface([[40, 0, 0], [40, 10, 0], [40, 0, 10], [40, 10, 10]], orientation=[1, 0, 0])
    sphere = np.random.default_rng(1).normal(size=(500, 3))
    sphere = np.r_[52 + 6 * sphere / np.linalg.norm(sphere, axis=1, keepdims=True), [[46.0, 52, 52]]]
    assert safety_margin(plane_cut, sphere).min_margin_mm == pytest.approx(52 - 6 - 40, abs=0.01)
    # A curved surface: a cylinder of radius 30 about the z axis through (0, 0); target sphere at radius 50.
    th = np.linspace(-0.8, 0.8, 7)
    control = np.array([[30 * np.cos(a), 30 * np.sin(a), z] for a in th for z in (-20.0, 0.0, 20.0)])
    bowl = CurvedCutSurface(control, orientation=[1, 0, 0])
    target = np.random.default_rng(2).normal(size=(2000, 3))
    target = np.r_[np.array([50.0, 0, 0]) + 8.0 * target / np.linalg.norm(target, axis=1, keepdims=True),
                   [[42.0, 0, 0]]]  # the target's point nearest to the surface
    assert safety_margin(bowl, target).min_margin_mm == pytest.approx(50 - 8 - 30, abs=0.15)


def test_cuts_that_cannot_work_say_why():
    organ, geometry = _sphere_mask((20, 20, 20), (1.0, 1.0, 1.0), (10, 10, 10), 6.0)
    with pytest.raises(PlanningError, match="does not pass through the organ"):
        resect(organ, geometry, CutPlane([50.0, 0, 0], [1.0, 0, 0]))
    with pytest.raises(PlanningError, match="one line"):
        CurvedCutSurface([[0, 0, 0], [1, 1, 1], [2, 2, 2]])
    with pytest.raises(PlanningError, match="draw a line"):
        CutPlane.from_line([1, 1, 1], [1, 1, 1], [0, 0, 1])
    band = margin_band_mask(organ, geometry, 3.0)
    assert band.any()
    assert not (band & organ).any()


def test_trajectory_clearances_match_analytic_distances_and_flag_critical_collisions():
    vessel, geometry = _sphere_mask((80, 80, 80), (1.0, 1.0, 1.0), (40, 40, 40), 10.0)
    vessel_mesh = mesh_from_mask(vessel, geometry)
    far, _ = _sphere_mask((80, 80, 80), (1.0, 1.0, 1.0), (20, 60, 40), 6.0)
    far_mesh = mesh_from_mask(far, geometry)
    # Path along x at y = 40 + 15, z = 40: the axis passes 15 mm from the vessel's centre, 5 mm from its surface.
    trajectory = Trajectory([0, 55, 40], [79, 55, 40], radius_mm=2.0)
    clearance = structure_clearance(trajectory, vessel_mesh, "vessel", critical=True)
    assert clearance.min_distance_mm == pytest.approx(15 - 10 - 2, abs=0.35)
    assert clearance.depth_mm == pytest.approx(40.0, abs=1.0)
    assert not clearance.collision
    # Far sphere: centre (20, 60, 40) is 5 mm from the axis, radius 6: the tool passes through it.
    report = trajectory_report(Trajectory([0, 55, 40], [79, 55, 40], radius_mm=4.0),
                               {"vessel": vessel_mesh, "nerve": far_mesh}, critical={"vessel", "nerve"})
    by_name = {c.name: c for c in report}
    # Deepest axis point is 6 - 5 = 1 mm inside the sphere: clearance -(6 - 5) - 4 mm.
    assert by_name["nerve"].min_distance_mm == pytest.approx(-(6 - 5) - 4, abs=0.35)
    assert by_name["nerve"].collision
    assert by_name["vessel"].min_distance_mm == pytest.approx(15 - 10 - 4, abs=0.35)
    assert not by_name["vessel"].collision
    with pytest.raises(PlanningError, match="same place"):
        Trajectory([1, 2, 3], [1, 2, 3])
