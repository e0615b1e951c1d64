"""Resection of the phantom liver (known shapes and labels): volumes add up, margins match the analytic tumour."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.meshing import mesh_from_mask
from imaging.phantom.anatomy import generate_abdomen
from imaging.planning import CurvedCutSurface, CutPlane, resect

LIVER, TUMOUR = 5, 6


@pytest.fixture(scope="module")
def phantom():
    return generate_abdomen((128, 128, 96), seed=0)


@pytest.fixture(scope="module")
def liver(phantom):
    mask = phantom.labels == LIVER
    return mask, mesh_from_mask(mask, phantom.ct.geometry)


def test_a_plane_resection_of_the_phantom_liver_adds_up_and_measures_the_margin(phantom, liver):
    mask, mesh = liver
    tumour = phantom.labels == TUMOUR
    centre, radius = np.asarray(phantom.landmarks["tumour_centre"]), phantom.tumour_radius_mm
    # A sagittal-ish plane 25 mm medial of the tumour centre (the tumour is in the right lobe, at negative x).
    plane = CutPlane(centre + np.array([25.0, 0, 0]), [1.0, 0.0, 0.2])
    analytic_margin = float(np.dot(centre - plane.point, -plane.normal)) - radius
    tumour_mesh = mesh_from_mask(tumour, phantom.ct.geometry)
    result = resect(mask, phantom.ct.geometry, plane, organ_mesh=mesh, target_mask=tumour,
                    target_points=tumour_mesh.points)
    assert result.resected_ml + result.remnant_ml == pytest.approx(result.total_ml, rel=1e-12)
    assert abs(result.mesh_resected_ml + result.mesh_remnant_ml - result.mesh_total_ml) < 0.005 * result.mesh_total_ml
    assert result.mesh_resected_ml == pytest.approx(result.resected_ml, rel=0.03)
    assert 0 < result.remnant_fraction < 1
    # The tumour mesh lies at the 0.5 iso-level of a 3.125 mm voxelisation: within a third of a voxel.
    assert result.margin.min_margin_mm == pytest.approx(analytic_margin, abs=1.0)
    assert (result.cut.side([centre]) > 0).all()  # the tumour's side is the resected one


def test_a_curved_resection_of_the_phantom_liver_adds_up(phantom, liver):
    mask, mesh = liver
    centre = np.asarray(phantom.landmarks["tumour_centre"])
    # A gently curved surface medial of the tumour, through 9 control points.
    control = [centre + np.array([25.0 + 0.004 * (dy**2 + dz**2), dy, dz])
               for dy in (-60, 0, 60) for dz in (-60, 0, 60)]
    cut = CurvedCutSurface(control)
    result = resect(mask, phantom.ct.geometry, cut, organ_mesh=mesh, target_mask=phantom.labels == TUMOUR)
    assert result.resected_ml + result.remnant_ml == pytest.approx(result.total_ml, rel=1e-12)
    assert abs(result.mesh_resected_ml + result.mesh_remnant_ml - result.mesh_total_ml) < 0.005 * result.mesh_total_ml
    assert result.mesh_resected_ml == pytest.approx(result.resected_ml, rel=0.03)
    assert result.margin.min_margin_mm > 0
