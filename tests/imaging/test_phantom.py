"""Tests of the synthetic abdomen phantom and its DICOM writer."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import dcm2niix
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage

from imaging.phantom import (
    LABEL_NAMES,
    AbdomenPhantom,
    PhantomCancelled,
    generate_abdomen,
    write_ct_series,
    write_phantom_series,
)
from imaging.volume import Volume

SMALL = (64, 64, 48)
L = {name: value for value, name in LABEL_NAMES.items()}


@pytest.fixture(scope="module")
def small() -> AbdomenPhantom:
    """Small."""
    return generate_abdomen(SMALL, seed=3)


@pytest.fixture(scope="module")
def medium() -> AbdomenPhantom:
    """Medium."""
    # 1.5625 x 1.5625 x 1.5 mm: fine enough to resolve the 3 mm renal arteries (about 2 s to build).
    return generate_abdomen((256, 256, 200), seed=0)


def _dcm2niix() -> str:
    """Path of the dcm2niix executable shipped by the PyPI wheel."""
    return str(dcm2niix.bin)


# --- generation --------------------------------------------------------------------------------------------------
def test_deterministic_for_seed_and_different_across_seeds(small: AbdomenPhantom) -> None:
    """Deterministic for seed and different across seeds."""
    again = generate_abdomen(SMALL, seed=3)
    assert np.array_equal(again.ct.array, small.ct.array)
    assert np.array_equal(again.labels, small.labels)
    other = generate_abdomen(SMALL, seed=4)
    assert not np.array_equal(other.ct.array, small.ct.array)
    assert other.landmarks["tumour_centre"] != small.landmarks["tumour_centre"]


def test_geometry_is_fixed_field_of_view(small: AbdomenPhantom) -> None:
    """Geometry is fixed field of view."""
    ct = small.ct
    assert ct.array.shape == (48, 64, 64)
    assert ct.array.dtype == np.int16
    assert small.labels.shape == ct.array.shape
    assert small.labels.dtype == np.uint8
    assert ct.spacing == pytest.approx((6.25, 6.25, 6.25))
    assert np.array_equal(ct.direction, np.eye(3))
    centre = ct.geometry.center_lps()
    assert centre == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)
    assert ct.origin[2] < 0  # slice 0 is the most inferior
    nz, _ny, nx = ct.array.shape
    assert ct.spacing[0] * nx == pytest.approx(400.0)
    assert ct.spacing[2] * nz == pytest.approx(300.0)


def test_geometry_of_default_size(medium: AbdomenPhantom) -> None:
    """Geometry of default size."""
    assert medium.ct.spacing == pytest.approx((1.5625, 1.5625, 1.5))
    assert medium.ct.origin == pytest.approx((-199.21875, -199.21875, -149.25))


@pytest.mark.parametrize(
    "size", [(15, 64, 64), (64, 64, 1025), (64, 64), (64, 64, 64, 1), (64.0, 64, 64), (True, 64, 64), "abc", 64]
)
def test_bad_sizes_raise(size: object) -> None:
    """Bad sizes raise."""
    with pytest.raises(ValueError, match=r"size_xyz|between"):
        generate_abdomen(size)  # type: ignore[arg-type]


def test_progress_and_cancel() -> None:
    """Progress and cancel."""
    calls: list[float] = []
    generate_abdomen(SMALL, progress=lambda f, _m: calls.append(f))
    assert calls
    assert calls[-1] == pytest.approx(1.0)
    assert calls == sorted(calls)

    event = threading.Event()
    event.set()
    with pytest.raises(PhantomCancelled):
        generate_abdomen(SMALL, cancel=event)

    # cancel between slabs of a multi-slab run
    late = threading.Event()
    with pytest.raises(PhantomCancelled):
        generate_abdomen((256, 256, 200), progress=lambda _f, _m: late.set(), cancel=late)


def test_organs_have_plausible_volumes(medium: AbdomenPhantom) -> None:
    """Organs have plausible volumes."""
    ml = float(np.prod(medium.ct.spacing)) / 1000.0
    expected = {  # mL, generous physiological ranges
        "liver": (1000, 2200),
        "tumour": (5, 80),
        "kidney_left": (90, 250),
        "kidney_right": (90, 250),
        "spleen": (100, 400),
        "aorta": (50, 200),
        "bone": (300, 2000),
        "bowel_gas": (20, 2000),
    }
    for name, (lo, hi) in expected.items():
        volume = np.count_nonzero(medium.labels == L[name]) * ml
        assert lo <= volume <= hi, f"{name}: {volume:.0f} mL"


def test_hu_constraints(medium: AbdomenPhantom) -> None:
    """Hu constraints."""
    ct, lab = medium.ct.array, medium.labels
    lumen = ct[lab == L["aorta"]]
    assert np.mean((lumen >= 200) & (lumen <= 420)) > 0.99
    assert np.all(ct[lab == L["bone"]] > 450)
    kidney = ct[(lab == L["kidney_left"]) | (lab == L["kidney_right"])]
    assert np.median(kidney) == pytest.approx(150, abs=10)
    assert np.mean(kidney < 180) > 0.98
    assert np.median(ct[lab == L["liver"]]) == pytest.approx(60, abs=5)
    assert np.median(ct[lab == L["tumour"]]) == pytest.approx(25, abs=5)
    assert np.median(ct[lab == L["fat"]]) == pytest.approx(-100, abs=10)
    assert np.median(ct[lab == L["bowel_gas"]]) < -800
    assert np.median(ct[lab == L["background"]]) < -950
    assert not np.any((ct > 450) & (lab == L["aorta"]))


def test_anatomical_sides(medium: AbdomenPhantom) -> None:
    """Anatomical sides."""
    lab, geo = medium.labels, medium.ct.geometry

    def centroid(name: str) -> np.ndarray:
        """Centroid."""
        k, j, i = np.argwhere(lab == L[name]).mean(axis=0)
        return geo.index_to_point([i, j, k])

    assert centroid("liver")[0] < 0 < centroid("spleen")[0]  # liver on the patient's right (LPS x negative)
    assert centroid("kidney_right")[0] < 0 < centroid("kidney_left")[0]
    assert centroid("aorta")[1] < centroid("bone")[1]  # aorta anterior to the spine


def test_tumour_inside_liver(medium: AbdomenPhantom) -> None:
    """Tumour inside liver."""
    lab = medium.labels
    tumour = lab == L["tumour"]
    shell = ndimage.binary_dilation(tumour, iterations=2) & ~tumour
    assert np.all(lab[shell] == L["liver"])
    centre_index = medium.ct.geometry.point_to_index(medium.landmarks["tumour_centre"])
    i, j, k = np.rint(centre_index).astype(int)
    assert lab[k, j, i] == L["tumour"]


def test_arterial_tree_is_its_own_component(medium: AbdomenPhantom) -> None:
    """Arterial tree is its own component."""
    ct, lab = medium.ct.array, medium.labels
    window = (ct >= 200) & (ct <= 420)
    components, _ = ndimage.label(window, structure=np.ones((3, 3, 3), bool))
    lumen = lab == L["aorta"]
    ids, counts = np.unique(components[lumen], return_counts=True)
    tree_id = ids[np.argmax(counts)]
    assert tree_id != 0
    tree = components == tree_id
    assert np.mean(tree[lumen]) > 0.99  # the whole lumen, renal arteries and iliacs included, is one component
    assert not np.any(tree & (lab == L["bone"]))
    # a bone partial-volume shell joining would add a large number of non-vessel voxels
    vessel_like = lumen | (lab == L["vessel_wall"])
    assert np.count_nonzero(tree & ~vessel_like) < 0.1 * np.count_nonzero(tree)
    # the component reaches both renal hila, and the bottom slice (iliacs leave the volume)
    geo = medium.ct.geometry
    for hilum in ("kidney_left_hilum", "kidney_right_hilum"):
        i, j, k = np.rint(geo.point_to_index(medium.landmarks[hilum])).astype(int)
        assert tree[k - 1 : k + 2, j - 1 : j + 2, i - 1 : i + 2].any(), hilum
    assert ndimage.label(tree[0])[1] == 2  # left and right common iliac in the most inferior slice


def test_bone_threshold_excludes_vessels(medium: AbdomenPhantom) -> None:
    """Bone threshold excludes vessels."""
    bone = medium.ct.array > 450
    assert not np.any(bone & (medium.labels == L["aorta"]))
    assert np.mean(bone[medium.labels == L["bone"]]) == 1.0


# --- DICOM ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def series(small: AbdomenPhantom, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Series."""
    folder = tmp_path_factory.mktemp("dicom") / "series"
    return folder, write_ct_series(small.ct, folder, seed=3)


def test_dicom_headers(series: tuple[Path, list[Path]], small: AbdomenPhantom) -> None:
    """Dicom headers."""
    folder, files = series
    assert [f.name for f in files][:2] == ["IM00001.dcm", "IM00002.dcm"]
    assert len(files) == 48
    assert sorted(folder.iterdir()) == files  # no temporary files left behind
    first, last = pydicom.dcmread(files[0]), pydicom.dcmread(files[-1])
    assert first.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert first.SOPClassUID == pydicom.uid.CTImageStorage
    assert first.Modality == "CT"
    assert first.PatientID == "SURGITWIN-PHANTOM-3"
    assert first.RescaleIntercept == -1024
    assert first.RescaleSlope == 1
    assert first.PixelRepresentation == 0
    assert [float(v) for v in first.PixelSpacing] == pytest.approx([6.25, 6.25])
    assert [float(v) for v in first.ImagePositionPatient] == pytest.approx(small.ct.origin)
    assert float(last.SliceLocation) - float(first.SliceLocation) == pytest.approx(47 * 6.25)
    assert first.SeriesInstanceUID == last.SeriesInstanceUID
    assert first.SOPInstanceUID != last.SOPInstanceUID
    for uid in (first.StudyInstanceUID, first.SeriesInstanceUID, first.SOPInstanceUID, first.FrameOfReferenceUID):
        assert pydicom.uid.UID(uid).is_valid


def test_dicom_uids_deterministic(small: AbdomenPhantom, tmp_path: Path) -> None:
    """Dicom uids deterministic."""
    a = write_ct_series(small.ct, tmp_path / "a", seed=3)
    b = write_ct_series(small.ct, tmp_path / "b", seed=3)
    c = write_ct_series(small.ct, tmp_path / "c", seed=4)
    assert a[5].read_bytes() == b[5].read_bytes()
    assert pydicom.dcmread(a[5]).StudyInstanceUID != pydicom.dcmread(c[5]).StudyInstanceUID


def test_refuses_non_empty_folder(small: AbdomenPhantom, tmp_path: Path) -> None:
    """Refuses non empty folder."""
    (tmp_path / "junk.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        write_ct_series(small.ct, tmp_path)
    with pytest.raises(ValueError, match="empty"):
        write_phantom_series(tmp_path, SMALL)


def test_read_back_pydicom(series: tuple[Path, list[Path]], small: AbdomenPhantom) -> None:
    """Read back pydicom."""
    _, files = series
    slices = [pydicom.dcmread(f) for f in files]
    hu = np.stack([s.pixel_array.astype(np.int32) * int(s.RescaleSlope) + int(s.RescaleIntercept) for s in slices])
    assert np.array_equal(hu, small.ct.array)


def test_read_back_simpleitk(series: tuple[Path, list[Path]], small: AbdomenPhantom) -> None:
    """Read back simpleitk."""
    folder, _ = series
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    volume = Volume.from_simpleitk(reader.Execute())
    assert volume.geometry.is_close(small.ct.geometry, tol_mm=1e-3)
    assert np.array_equal(volume.array.astype(np.int32), small.ct.array)


def test_read_back_dcm2niix(series: tuple[Path, list[Path]], small: AbdomenPhantom, tmp_path: Path) -> None:
    """Read back dcm2niix."""
    folder, _ = series
    result = subprocess.run(
        [_dcm2niix(), "-z", "n", "-b", "n", "-f", "phantom", "-o", str(tmp_path), str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    image = sitk.ReadImage(str(tmp_path / "phantom.nii"))  # ITK converts the NIfTI RAS header to LPS
    nifti = Volume.from_simpleitk(image)
    # dcm2niix may flip axes (it stores rows bottom-up): compare physically, corner set and resampled values.
    ours = small.ct.geometry.corner_points_lps()
    theirs = nifti.geometry.corner_points_lps()
    assert np.abs(np.sort(ours, axis=0) - np.sort(theirs, axis=0)).max() < 1e-2
    resampled = sitk.Resample(image, small.ct.to_simpleitk(), sitk.Transform(), sitk.sitkNearestNeighbor, -5000.0)
    assert np.array_equal(np.rint(sitk.GetArrayFromImage(resampled)).astype(np.int32), small.ct.array)


def test_write_phantom_series(tmp_path: Path) -> None:
    """Write phantom series."""
    fractions: list[float] = []
    phantom = write_phantom_series(tmp_path / "out", (32, 32, 16), seed=1, progress=lambda f, _m: fractions.append(f))
    assert len(list((tmp_path / "out").glob("IM*.dcm"))) == 16
    assert phantom.ct.array.shape == (16, 32, 32)
    assert fractions[-1] == pytest.approx(1.0)
    assert fractions == sorted(fractions)


@pytest.mark.slow
def test_full_resolution_generation() -> None:
    """Full resolution generation."""
    phantom = generate_abdomen((512, 512, 400), seed=0)
    assert phantom.ct.array.shape == (400, 512, 512)
    assert phantom.ct.spacing == pytest.approx((0.78125, 0.78125, 0.75))
    lumen = phantom.ct.array[phantom.labels == L["aorta"]]
    assert np.mean((lumen >= 200) & (lumen <= 420)) > 0.99
