"""Segmentation tools on the abdomen phantom and on synthetic shapes with known answers.

Ground truth on the phantom (imaging.phantom.anatomy.LABEL_NAMES):
* bone = label 4 (voxels whose centre is in bone and whose noise-free HU is >= 520);
* liver = labels 5 | 6: the liver including its tumour, as a liver segment for volumetry is drawn;
* contrast-filled lumen = label 9 (lumen core, occupancy >= 0.8) plus the voxels of label 17 (the partial-volume
  rim) whose noise-free HU lies in the vessel window (>= 200 HU, i.e. lumen occupancy >= 0.62).  The noise-free HU
  comes from the same phantom generated with NOISE_STD_HU = 0 (labels are identical).  This is what a perfect
  contrast-window segmentation would select; Dice against the core alone is reported as well (lower bound 0.88).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import imaging.phantom.anatomy as anatomy
from imaging.segmentation import (
    EditMask,
    LabelEdit,
    apply_mask_edit,
    closing,
    confidence_connected,
    connected_threshold,
    disc_brush,
    fill_between_slices,
    find_terminology,
    grow,
    hollow,
    intersect,
    invert,
    joint_smooth,
    keep_islands_with_seeds,
    keep_largest_island,
    load_terminology,
    load_threshold_presets,
    margin,
    median_smooth,
    opening,
    paint_disc,
    paint_sphere,
    remove_small_islands,
    scissors,
    shrink,
    sphere_brush,
    subtract,
    threshold_mask,
    union,
)
from imaging.volume import Volume, VolumeGeometry

SIZE = (96, 96, 72)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


@pytest.fixture(scope="module")
def phantom():
    return anatomy.generate_abdomen(SIZE, seed=7)


@pytest.fixture(scope="module")
def clean_hu():
    saved = anatomy.NOISE_STD_HU
    anatomy.NOISE_STD_HU = 0.0
    try:
        return anatomy.generate_abdomen(SIZE, seed=7).ct.array
    finally:
        anatomy.NOISE_STD_HU = saved


def deepest_point(geometry: VolumeGeometry, mask: np.ndarray) -> np.ndarray:
    k, j, i = np.unravel_index(np.argmax(ndimage.distance_transform_edt(mask)), mask.shape)
    return geometry.index_to_point([i, j, k])


# --- segmentations of the phantom ------------------------------------------------------------------------------
def test_bone_preset_dice(phantom):
    preset = load_threshold_presets()["bone"]
    bone = threshold_mask(phantom.ct, preset.lower, preset.upper)
    assert dice(bone, phantom.labels == 4) >= 0.95


def test_vessels_window_minus_bone_margin_largest_island(phantom, clean_hu):
    ct, labels, g = phantom.ct, phantom.labels, phantom.ct.geometry
    presets = load_threshold_presets()
    bone = threshold_mask(ct, presets["bone"].lower, presets["bone"].upper)
    window = threshold_mask(ct, presets["contrast_vessels"].lower, presets["contrast_vessels"].upper)
    vessels = keep_largest_island(subtract(window, grow(bone, g, 3.0)))
    truth = (labels == 9) | ((labels == 17) & (clean_hu >= 200))
    assert dice(vessels, truth) >= 0.95
    assert dice(vessels, labels == 9) >= 0.88


def test_liver_region_growing_then_islands_and_closing(phantom):
    ct, labels, g = phantom.ct, phantom.labels, phantom.ct.geometry
    liver_truth = (labels == 5) | (labels == 6)
    seed = deepest_point(g, labels == 5)
    smooth = ct.with_array(ndimage.gaussian_filter(ct.array.astype(np.float32), 0.7))
    core = connected_threshold(smooth, [seed], 45, 80)  # noise-robust core, no leak into muscle (50 HU)
    core = keep_islands_with_seeds(opening(core, g, 4.5), g, [seed])  # cut thin bridges to neighbours
    rim = grow(core, g, 6.0) & threshold_mask(ct, -15, 85)  # partial-volume border, masked by intensity
    liver = closing(core | rim, g, 8.5)  # fills the tumour and vessel gaps
    assert dice(liver, liver_truth) >= 0.95


def test_confidence_connected_grows_inside_a_uniform_region(rng):
    array = rng.normal(0, 5, (30, 40, 40)).astype(np.float32)
    array[5:25, 10:30, 10:30] += 100
    volume = Volume(array, spacing=(1.0, 1.0, 2.0))
    grown = confidence_connected(volume, [volume.geometry.index_to_point([20, 20, 15])], multiplier=3.0)
    box = np.zeros_like(grown)
    box[5:25, 10:30, 10:30] = True
    assert dice(grown, box) > 0.97


def test_region_growing_errors(phantom):
    with pytest.raises(ValueError, match="outside the image"):
        connected_threshold(phantom.ct, [(1e4, 0, 0)], 0, 100)
    with pytest.raises(ValueError, match="lower <= upper"):
        connected_threshold(phantom.ct, [(0, 0, 0)], 100, 0)
    with pytest.raises(ValueError, match="multiplier"):
        confidence_connected(phantom.ct, [(0, 0, 0)], multiplier=0)


# --- islands --------------------------------------------------------------------------------------------------
def test_islands():
    g = VolumeGeometry((20, 20, 20), spacing=(1.0, 1.0, 2.0))
    mask = np.zeros(g.shape, bool)
    mask[2:6, 2:6, 2:6] = True  # 64 voxels = 128 mm3
    mask[10:12, 10:12, 10:12] = True  # 8 voxels = 16 mm3
    mask[15, 15, 15] = True  # 2 mm3
    assert keep_largest_island(mask).sum() == 64
    seed = g.index_to_point([10, 10, 10])
    assert keep_islands_with_seeds(mask, g, [seed]).sum() == 8
    assert remove_small_islands(mask, g, 10.0).sum() == 72
    with pytest.raises(ValueError, match="not inside"):
        keep_islands_with_seeds(mask, g, [g.index_to_point([0, 0, 0])])
    with pytest.raises(ValueError, match=">= 0"):
        remove_small_islands(mask, g, -1)


# --- margins, hollow, logic, smoothing --------------------------------------------------------------------------
def test_margin_is_in_millimetres_on_anisotropic_grids():
    g = VolumeGeometry((41, 81, 81), spacing=(0.5, 0.5, 2.0))  # x, y 0.5 mm, slices 2 mm
    mask = np.zeros(g.shape, bool)
    mask[20, 40, 40] = True
    grown = grow(mask, g, 6.0)
    z, _y, x = np.nonzero(grown)
    assert (x.max() - x.min()) * 0.5 == pytest.approx(12.0)
    assert (z.max() - z.min()) * 2.0 == pytest.approx(12.0)
    ball = shrink(grown, g, 4.0)
    zb, _, xb = np.nonzero(ball)
    assert (xb.max() - xb.min()) * 0.5 == pytest.approx(4.0, abs=0.5)
    assert (zb.max() - zb.min()) * 2.0 == pytest.approx(4.0, abs=0.01)
    assert np.array_equal(margin(mask, g, 6.0), grown)
    assert np.array_equal(margin(grown, g, -4.0), ball)
    with pytest.raises(ValueError, match="finite"):
        margin(mask, g, float("nan"))


def test_hollow_thickness():
    g = VolumeGeometry((60, 60, 60), spacing=(1.0, 1.0, 1.0))
    z, y, x = np.mgrid[:60, :60, :60]
    r = np.sqrt((x - 30) ** 2 + (y - 30) ** 2 + (z - 30) ** 2)
    sphere = r <= 20
    shell = hollow(sphere, g, 3.0, side="inside")
    assert shell.sum() == pytest.approx(4 / 3 * np.pi * (20**3 - 17**3), rel=0.05)
    assert not (shell & ~sphere).any()
    outer = hollow(sphere, g, 3.0, side="outside")
    assert not (outer & sphere).any()
    assert outer.sum() == pytest.approx(4 / 3 * np.pi * (23**3 - 20**3), rel=0.05)
    with pytest.raises(ValueError, match="thickness"):
        hollow(sphere, g, 0)
    with pytest.raises(ValueError, match="side"):
        hollow(sphere, g, 1, side="sideways")


def test_logical_operations():
    a = np.array([1, 1, 0, 0], bool)
    b = np.array([1, 0, 1, 0], bool)
    assert union(a, b).tolist() == [1, 1, 1, 0]
    assert intersect(a, b).tolist() == [1, 0, 0, 0]
    assert subtract(a, b).tolist() == [0, 1, 0, 0]
    assert invert(a, within=b).tolist() == [0, 0, 1, 0]


def test_smoothing_tools():
    g = VolumeGeometry((30, 30, 30))
    mask = np.zeros(g.shape, bool)
    mask[5:25, 5:25, 5:25] = True
    holey = mask.copy()
    holey[15, 15, 15] = False
    spur = mask.copy()
    spur[15, 15, 25:28] = True
    assert np.array_equal(closing(holey, g, 2.0), mask)
    assert np.array_equal(median_smooth(holey, g, 3.0), median_smooth(mask, g, 3.0))
    assert not opening(spur, g, 2.0)[15, 15, 26]
    labels = np.zeros(g.shape, np.uint8)
    labels[5:25, 5:25, 5:15] = 1
    labels[5:25, 5:25, 15:25] = 2
    noisy = labels.copy()
    noisy[10, 10, 14] = 2
    smooth = joint_smooth(noisy, g, 1.5)
    assert set(np.unique(smooth)) == {0, 1, 2}
    assert smooth[10, 10, 14] == 1
    # no gaps: every voxel that held a label still holds one of them inside the block
    assert np.all(smooth[8:22, 8:22, 8:22] > 0)


# --- edits, brushes, masking ----------------------------------------------------------------------------------
def test_label_edit_round_trip_and_memory():
    labelmap = np.zeros((100, 200, 200), np.uint8)
    labelmap[40:60, 50:80, 50:80] = 3
    before = labelmap.copy()
    g = VolumeGeometry(labelmap.shape)
    edit = paint_sphere(labelmap, g, g.index_to_point([100, 100, 50]), 5.0, 1)
    after = labelmap.copy()
    assert isinstance(edit, LabelEdit)
    assert edit.changed_voxels == np.count_nonzero(before != after) > 0
    assert edit.nbytes == 2 * 11**3  # the 11-voxel box, not the 4 MB volume
    edit.revert(labelmap)
    assert np.array_equal(labelmap, before)
    edit.apply(labelmap)
    assert np.array_equal(labelmap, after)


def test_sphere_and_disc_brush_radius():
    g = VolumeGeometry((40, 80, 80), spacing=(0.5, 0.5, 2.0))
    centre = g.index_to_point([40, 40, 20])
    mask, _ = sphere_brush(g, centre, 10.0)
    assert mask.sum() * 0.5 * 0.5 * 2.0 == pytest.approx(4 / 3 * np.pi * 1000, rel=0.05)
    assert mask.shape[0] == 11
    assert mask.shape[2] == 41
    disc, _offset = disc_brush(g, centre, 5.0, (0, 0, 1))  # axial slice
    assert disc.sum() * 0.25 == pytest.approx(np.pi * 25, rel=0.05)
    assert np.nonzero(disc.any(axis=(1, 2)))[0].size == 1
    sag, _ = disc_brush(g, centre, 5.0, (1, 0, 0))  # sagittal slice: one column of voxels
    assert np.nonzero(sag.any(axis=(0, 1)))[0].size == 1
    assert sag.sum() * 0.5 * 2.0 == pytest.approx(np.pi * 25, rel=0.15)
    oblique, _ = disc_brush(g, centre, 5.0, (1, 1, 0))
    assert oblique.any()
    with pytest.raises(ValueError, match="radius"):
        sphere_brush(g, centre, 0)
    with pytest.raises(ValueError, match="normal"):
        disc_brush(g, centre, 1, (0, 0, 0))


def test_masking_and_locks():
    g = VolumeGeometry((20, 20, 20))
    labels = np.zeros(g.shape, np.uint8)
    labels[:, :, :10] = 2  # locked segment on the left half
    intensity = np.zeros(g.shape, np.int16)
    intensity[:, :10, :] = 100
    centre = g.index_to_point([10, 10, 10])
    paint_sphere(labels, g, centre, 6.0, 1, locked=[2])
    assert not np.any(labels[:, :, :10] == 1)
    assert np.any(labels[:, :, 10:] == 1)
    labels2 = np.zeros(g.shape, np.uint8)
    labels2[:, :, :10] = 2
    rule = EditMask(intensity=intensity, intensity_range=(50, 200), locked=(2,))
    paint_disc(labels2, g, centre, 6.0, (0, 0, 1), 1, allowed=rule)
    painted = labels2 == 1
    assert painted.any()
    assert not painted[:, 10:, :].any()
    assert not painted[:, :, :10].any()
    labels3 = np.zeros(g.shape, np.uint8)
    labels3[8:12] = 4
    paint_sphere(labels3, g, centre, 6.0, 1, allowed=EditMask(inside=4))
    assert set(np.unique(np.nonzero(labels3 == 1)[0])) <= {8, 9, 10, 11}
    erase = paint_sphere(labels3, g, centre, 3.0, 1, erase=True)
    assert erase.changed_voxels > 0
    assert not np.any(labels3[9:12, 9:12, 9:12] == 1)
    with pytest.raises(ValueError, match="mode"):
        apply_mask_edit(labels3, labels3 > 0, 1, mode="smudge")
    with pytest.raises(ValueError, match="range"):
        EditMask(intensity=intensity, intensity_range=(5, 1))


def test_fill_between_slices_interpolates_shapes():
    g = VolumeGeometry((21, 40, 40), spacing=(1.0, 1.0, 2.0))
    y, x = np.mgrid[:40, :40]
    drawn = np.zeros(g.shape, bool)
    drawn[0] = (x - 20) ** 2 + (y - 20) ** 2 <= 4**2
    drawn[20] = (x - 20) ** 2 + (y - 20) ** 2 <= 12**2
    filled = fill_between_slices(drawn, g, axis=0)
    assert np.array_equal(filled[0], drawn[0])
    assert np.array_equal(filled[20], drawn[20])
    radii = [np.sqrt(filled[k].sum() / np.pi) for k in range(21)]
    assert radii[10] == pytest.approx(8.0, abs=0.6)  # halfway between radius 4 and 12
    assert np.all(np.diff(radii) >= -0.2)
    with pytest.raises(ValueError, match="two slices"):
        fill_between_slices(drawn & False, g)


def _orthographic_axial() -> np.ndarray:
    """Camera looking along -z (LPS): NDC x = L / 50, y = P / 50."""
    m = np.eye(4)
    m[0, 0] = m[1, 1] = 1 / 50
    m[2, 2] = -1 / 500
    return m


def test_scissors_inside_and_outside():
    g = VolumeGeometry((20, 40, 40), spacing=(2.0, 2.0, 2.0), origin=(-40, -40, -20))
    labels = np.zeros(g.shape, np.uint8)
    labels[2:18, 5:35, 5:35] = 1
    square = np.array([[-0.21, -0.21], [0.21, -0.21], [0.21, 0.21], [-0.21, 0.21]])  # +-10.5 mm in x and y
    inside = labels.copy()
    edit = scissors(inside, g, 1, square, _orthographic_axial(), inside=True)
    lps = g.index_to_point(np.stack(np.nonzero(labels)[::-1], axis=1))
    in_prism = (np.abs(lps[:, 0]) < 10.5) & (np.abs(lps[:, 1]) < 10.5)
    assert edit.changed_voxels == in_prism.sum()
    outside = labels.copy()
    scissors(outside, g, 1, square, _orthographic_axial(), inside=False)
    assert np.count_nonzero(outside) == in_prism.sum()
    pixels = (square + 1) / 2 * [800, 600]  # the same polygon in display pixels of an 800x600 view
    viewport = labels.copy()
    scissors(viewport, g, 1, pixels, _orthographic_axial(), inside=True, viewport=(800, 600))
    assert np.array_equal(viewport, inside)
    with pytest.raises(ValueError, match="polygon"):
        scissors(labels, g, 1, square[:2], _orthographic_axial())


def test_terminology():
    terms = load_terminology()
    for key in ("liver", "kidney_left", "aorta", "inferior_vena_cava", "portal_vein", "spleen", "pancreas", "bone",
                "vertebra", "rib", "tumour", "lung", "heart", "brain", "skin"):
        assert key in terms
        assert all(0 <= c <= 1 for c in terms[key].color)
    assert terms["liver"].color_255 == (221, 130, 101)
    assert find_terminology("Vena cava").key == "inferior_vena_cava"
    assert find_terminology("tumor").key == "tumour"
    assert find_terminology("flux capacitor") is None
