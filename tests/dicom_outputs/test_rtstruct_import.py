"""RTSTRUCT import: structure sets made by plastimatch from known masks come back as the same masks on the grid.

Tolerance: plastimatch turns each mask into polygons by marching squares on the slice (vertices half-way between
voxel centres) and we fill the voxels whose *centres* lie inside.  On a voxel-exact mask that gives the mask back,
except where a contour pinches: structures one voxel thin, diagonal single-voxel bridges and holes that plastimatch
joins to the outline by a "keyhole" cut.  Dice >= 0.95 per structure leaves room for those few boundary voxels of a
real, ragged CT threshold mask, yet fails a misplaced import: the same contours one slice off score below 0.95 for
every structure here (checked below; 0.91 for the large, smooth liver, far less for the small ones).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imaging.dicom_outputs import DicomImportError, import_dicom_segmentation, read_rtstruct, read_source_series
from imaging.dicom_outputs.importing import rasterize_polygon
from imaging.volume import Volume
from tests.dicom_outputs.dicom_tools import PhantomSeries, require_tool

MIN_DICE = 0.95


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / max(np.count_nonzero(a) + np.count_nonzero(b), 1)


def _plastimatch_rtstruct(masks: dict[str, np.ndarray], volume: Volume, ct_dir: Path, work: Path) -> Path:
    """Write one NRRD per structure and let plastimatch make an RTSTRUCT referencing ``ct_dir``."""
    import SimpleITK as sitk

    plastimatch = require_tool("plastimatch", "plastimatch")
    prefix = work / "masks"
    prefix.mkdir()
    for name, mask in masks.items():
        sitk.WriteImage(volume.with_array(mask.astype(np.uint8)).to_simpleitk(), str(prefix / f"{name}.nrrd"))
    out = work / "rtss"
    result = subprocess.run([plastimatch, "convert", "--input-prefix", str(prefix), "--referenced-ct", str(ct_dir),
                             "--output-dicom", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    files = sorted(out.glob("rtss*.dcm"))
    assert len(files) == 1, sorted(p.name for p in out.iterdir())
    return files[0]


def test_plastimatch_rtstruct_of_the_phantom_imports_exactly(phantom_series: PhantomSeries, tmp_path: Path) -> None:
    names = {4: "bone", 5: "liver", 7: "kidney_left", 9: "aorta", 10: "spleen", 6: "tumour"}
    masks = {name: phantom_series.labels == value for value, name in names.items()}
    rtss = _plastimatch_rtstruct(masks, phantom_series.volume, phantom_series.folder, tmp_path)
    ds = pydicom.dcmread(rtss)
    assert ds.Modality == "RTSTRUCT"
    source = read_source_series(phantom_series.folder)
    imported = import_dicom_segmentation(rtss, source.geometry, frame_of_reference_uid=source.frame_of_reference_uid)
    assert imported.warnings == []
    assert sorted(s.name for s in imported.segments) == sorted(masks)
    for name, mask in masks.items():
        dice = _dice(imported.mask(name), mask)
        print(f"{name}: Dice {dice:.4f} ({np.count_nonzero(mask)} voxels)")  # shown with pytest -s
        assert dice >= MIN_DICE, f"{name}: Dice {dice:.3f}"
    # The tolerance is meaningful: the same contours one slice off fail it, for every structure.
    for name, mask in masks.items():
        assert _dice(np.roll(imported.mask(name), 1, axis=0), mask) < MIN_DICE, name


def test_plastimatch_rtstruct_of_a_real_ct_imports(head_ct_dir: Path, tmp_path: Path) -> None:
    from imaging.segmentation import keep_largest_island, load_threshold_presets, threshold_mask

    source = read_source_series(head_ct_dir)
    volume = source.load_volume()
    presets = load_threshold_presets()
    bone = keep_largest_island(threshold_mask(volume, presets["bone"].lower, presets["bone"].upper))
    soft = keep_largest_island(threshold_mask(volume, presets["soft_tissue"].lower, presets["soft_tissue"].upper))
    masks = {"bone": bone, "soft_tissue": soft & ~bone}
    rtss = _plastimatch_rtstruct(masks, volume, head_ct_dir, tmp_path)
    # The head's outline and skull contours run to ~2500 points: over 64 KiB of text, which DCMTK (plastimatch)
    # writes as UN with a 4-byte length; the importer reads those too.
    ds = pydicom.dcmread(rtss)
    assert any(c["ContourData"].VR == "UN" for r in ds.ROIContourSequence for c in r.ContourSequence)
    imported = read_rtstruct(rtss, source.geometry, frame_of_reference_uid=source.frame_of_reference_uid)
    assert imported.warnings == []
    for name, mask in masks.items():
        dice = _dice(imported.mask(name), mask)
        print(f"{name}: Dice {dice:.4f} ({np.count_nonzero(mask)} voxels)")  # shown with pytest -s
        assert dice >= MIN_DICE, f"{name}: Dice {dice:.3f}"


def test_polygon_fill_counts_voxel_centres_and_cuts_holes() -> None:
    square = rasterize_polygon(np.array([1.5, 5.5, 5.5, 1.5]), np.array([0.5, 0.5, 3.5, 3.5]), (6, 8))
    expected = np.zeros((6, 8), bool)
    expected[1:4, 2:6] = True
    assert np.array_equal(square, expected)
    outer = rasterize_polygon(np.array([-0.5, 6.5, 6.5, -0.5]), np.array([-0.5, -0.5, 6.5, 6.5]), (7, 7))
    inner = rasterize_polygon(np.array([1.5, 4.5, 4.5, 1.5]), np.array([1.5, 1.5, 4.5, 4.5]), (7, 7))
    ring = outer ^ inner
    assert outer.all()
    assert inner.sum() == 9
    assert ring.sum() == 49 - 9


def test_contours_off_the_slices_are_refused(phantom_series: PhantomSeries, tmp_path: Path) -> None:
    masks = {"liver": phantom_series.labels == 5}
    rtss = _plastimatch_rtstruct(masks, phantom_series.volume, phantom_series.folder, tmp_path)
    ds = pydicom.dcmread(rtss)
    half = phantom_series.volume.spacing[2] / 2
    for contour in ds.ROIContourSequence[0].ContourSequence:
        points = np.asarray(contour.ContourData, float).reshape(-1, 3)
        points[:, 2] += half
        contour.ContourData = [f"{v:.4f}" for v in points.ravel()]
    moved = tmp_path / "moved.dcm"
    ds.save_as(moved)
    source = read_source_series(phantom_series.folder)
    with pytest.raises(DicomImportError, match="between image slices"):
        read_rtstruct(moved, source.geometry)
    with pytest.raises(DicomImportError, match="neither a DICOM SEG nor an RTSTRUCT"):
        import_dicom_segmentation(next(phantom_series.folder.glob("*.dcm")), source.geometry)
