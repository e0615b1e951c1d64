"""Box prompts from the viewer and the propagation's geometric priors, on synthetic masks and grids."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from imaging.ai import AIInputError
from imaging.ai.litemedsam import get_slice
from imaging.ai.plugins import PluginError, available_plugins, run_plugin
from imaging.ai.prompts import slice_box_from_points
from imaging.ai.propagate import box_cuts, intensity_band
from imaging.volume import Volume, VolumeGeometry

AXIAL_N, CORONAL_N, SAGITTAL_N = (0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)


def _geometry(direction=None) -> VolumeGeometry:
    direction = np.eye(3) if direction is None else direction
    return Volume(np.zeros((20, 30, 40), np.int16), spacing=(0.5, 0.8, 2.0), origin=(-10.0, 5.0, 30.0),
                  direction=direction).geometry


@pytest.mark.parametrize(
    ("normal", "axis", "index", "box"),
    [(AXIAL_N, "axial", 7, (3, 4, 12, 20)), (CORONAL_N, "coronal", 4, (3, 7, 12, 7)),
     (SAGITTAL_N, "sagittal", 3, (4, 7, 20, 7))],
)
def test_box_from_two_corners_on_each_view(normal, axis, index, box) -> None:
    geometry = _geometry()
    # Corners at voxel (i, j, k) = (3, 4, 7) and (12, 20, 7) for the axial view; the other views see the same
    # corners on their own slice axes (the slice index is the mean of the two corners along the normal).
    a = geometry.index_to_point([3, 4, 7])
    b = geometry.index_to_point([12, 20, 7])
    if axis == "coronal":
        b = geometry.index_to_point([12, 4, 7])
    if axis == "sagittal":
        a, b = geometry.index_to_point([3, 4, 7]), geometry.index_to_point([3, 20, 7])
    if axis == "axial":
        prompt = slice_box_from_points(geometry, b, a, normal)  # corner order does not matter
        assert (prompt.axis, prompt.index, prompt.box) == (axis, index, box)
        return
    with pytest.raises(AIInputError, match="no area"):
        slice_box_from_points(geometry, a, b, normal)


def test_box_follows_the_array_axes_of_a_rotated_scan() -> None:
    # A scan whose k axis runs along patient y (a coronal acquisition): an axial view box is a box across k slices.
    direction = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
    geometry = _geometry(direction)
    a, b = geometry.index_to_point([2, 5, 3]), geometry.index_to_point([10, 5, 15])
    prompt = slice_box_from_points(geometry, a, b, AXIAL_N)  # axial normal = patient z = the scan's j axis
    assert prompt.axis == "coronal"
    assert prompt.index == 5
    assert prompt.box == (2, 3, 10, 15)  # coronal slice: rows = k (z of the array), columns = i


def test_box_outside_the_image_is_refused() -> None:
    geometry = _geometry()
    far = geometry.index_to_point([500, 500, 7])
    with pytest.raises(AIInputError):
        slice_box_from_points(geometry, far, far + 10, AXIAL_N)
    with pytest.raises(AIInputError, match="outside"):
        slice_box_from_points(geometry, geometry.index_to_point([1, 1, 99]), geometry.index_to_point([9, 9, 99]),
                              AXIAL_N)


def test_box_cuts_are_sides_the_structure_crosses() -> None:
    mask = np.zeros((60, 60), bool)
    mask[10:59, 25:35] = True  # a vessel running down through the bottom side of the box
    assert box_cuts(mask, (15, 5, 45, 50)).names() == ["bottom"]
    blob = np.zeros((60, 60), bool)
    yy, xx = np.mgrid[:60, :60]
    blob[(yy - 30) ** 2 + (xx - 30) ** 2 < 15**2] = True  # an organ inside a tight box touches it at four points
    assert box_cuts(blob, (15, 15, 45, 45)).names() == []
    tight = box_cuts(mask, (25, 5, 34, 50))  # no margin drawn beside the vessel: the cut lies at the side itself
    assert tight.names() == ["bottom"]
    assert tight.margin == 0
    clipped = tight.clip_mask(mask.copy())
    assert not clipped[51:].any()
    assert clipped[:51].sum() == mask[:51].sum()


def test_a_box_cut_lies_as_far_inside_the_side_as_the_margin_drawn_around_the_object() -> None:
    mask = np.zeros((60, 60), bool)
    mask[10:59, 25:35] = True
    mask[8:10, 29:31] = True  # a tapering tip nearer the top side: not the margin the user drew
    cuts = box_cuts(mask, (20, 5, 39, 50))  # 5 voxels each side of the vessel's body, 5 above its end
    assert cuts.names() == ["bottom"]
    assert cuts.margin == 5
    assert cuts.clip_box((10, 0, 50, 59)) == (10, 0, 50, 50)  # the model's boxes still reach the side
    clipped = cuts.clip_mask(mask.copy())
    assert not clipped[46:].any()
    assert clipped[:46].sum() == mask[:46].sum()
    assert box_cuts(mask, (22, 5, 37, 50)).margin == 3  # the smallest gap on a free side


def test_intensity_band_keeps_the_object_and_drops_brighter_and_darker_neighbours() -> None:
    rng = np.random.default_rng(0)
    liver = rng.normal(60, 8, 5000)
    lo, hi = intensity_band(liver)
    assert lo < 55
    assert 70 < hi < 100  # a kidney at 150 HU or contrast at 300 falls above
    assert np.mean((liver >= lo) & (liver <= hi)) > 0.85


def test_get_slice_views_share_memory() -> None:
    array = np.zeros((4, 5, 6), np.uint8)
    get_slice(array, "sagittal", 2)[...] = 1
    assert array[:, :, 2].all()


def test_plugins_absent_give_install_hints(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert [p.available for p in available_plugins()] == [False, False]
    volume = Volume(np.zeros((4, 4, 4), np.int16))
    with pytest.raises(PluginError, match=r"TotalSegmentator is not installed.*pip install TotalSegmentator"):
        run_plugin("totalsegmentator", volume)
    with pytest.raises(PluginError, match="unknown plug-in"):
        run_plugin("nosuchtool", volume)


def test_plugin_outputs_become_named_masks(tmp_path, monkeypatch) -> None:
    """A stand-in with TotalSegmentator's command line (TotalSegmentator's weights cannot be fetched here): it
    writes one NIfTI per structure into the output folder, as the real tool does, and the runner reads them back."""
    script = tmp_path / "bin" / "TotalSegmentator"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, nibabel as nib, numpy as np\n"
        "args = sys.argv[1:]; src = args[args.index('-i') + 1]; out = args[args.index('-o') + 1]\n"
        "img = nib.load(src); data = np.asarray(img.dataobj)\n"
        "print('predicting', flush=True)\n"
        "for name, thr in (('kidney_left', 100), ('liver', 50)):\n"
        "    nib.save(nib.Nifti1Image((data >= thr).astype(np.uint8), img.affine), f'{out}/{name}.nii.gz')\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    array = np.zeros((6, 7, 8), np.int16)
    array[2:4, 2:5, 3:6] = 60
    array[3, 3, 4] = 150
    volume = Volume(array, spacing=(0.7, 0.8, 2.5), origin=(1.0, 2.0, 3.0))
    messages = []
    masks = run_plugin("totalsegmentator", volume, progress=lambda f, m: messages.append(m))
    assert set(masks) == {"kidney left", "liver"}
    np.testing.assert_array_equal(masks["liver"], array >= 50)
    np.testing.assert_array_equal(masks["kidney left"], array >= 100)
    assert "predicting" in messages
