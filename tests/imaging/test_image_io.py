"""NIfTI / NRRD / MetaImage round trips with their LPS geometry, checked with independent readers."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from imaging.image_io import ImageIOError, read_image, write_image
from imaging.volume import Volume


def _oblique_volume() -> Volume:
    angle = np.radians(20)
    direction = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    array = (np.arange(4 * 5 * 6).reshape(4, 5, 6) - 60).astype(np.int16)
    return Volume(array, (0.7, 0.8, 2.5), (-10.0, 20.0, 30.0), direction)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_round_trip_keeps_values_type_and_geometry(tmp_path: Path, suffix: str) -> None:
    volume = _oblique_volume()
    back = read_image(write_image(volume, tmp_path / f"v{suffix}"))
    assert back.array.dtype == np.int16
    np.testing.assert_array_equal(back.array, volume.array)
    assert back.geometry.is_close(volume.geometry, tol_mm=1e-4)


def test_nifti_affine_is_ras(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    volume = _oblique_volume()
    image = nib.load(str(write_image(volume, tmp_path / "v.nii.gz")))
    expected = np.diag([-1.0, -1.0, 1.0, 1.0]) @ volume.geometry.index_to_lps
    np.testing.assert_allclose(image.affine, expected, atol=1e-4)
    np.testing.assert_allclose(volume.geometry.index_to_ras, expected)
    # nibabel's array is (x, y, z): our (z, y, x) transposed.
    np.testing.assert_array_equal(np.asarray(image.dataobj), volume.array.transpose(2, 1, 0))


def test_nrrd_header_says_lps(tmp_path: Path) -> None:
    volume = _oblique_volume()
    path = write_image(volume, tmp_path / "v.nrrd", compress=False)
    header = path.read_bytes().split(b"\n\n", 1)[0].decode("ascii")
    assert "space: left-posterior-superior" in header
    assert "space origin: (-10,20,30)" in header.replace(" ", "").replace("spaceorigin:", "space origin: ")


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageIOError, match="unsupported"):
        write_image(_oblique_volume(), tmp_path / "v.png")
    with pytest.raises(ImageIOError, match="no such file"):
        read_image(tmp_path / "missing.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(gzip.compress(b"not an image"))
    with pytest.raises(ImageIOError):
        read_image(bad)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32])
def test_native_nrrd_writer_is_read_back_exactly_by_simpleitk(tmp_path, compress: bool, dtype) -> None:
    import SimpleITK as sitk

    from imaging.nrrd_writer import write_nrrd

    rng = np.random.default_rng(5)
    array = (rng.normal(0, 300, size=(7, 9, 11))).astype(dtype)
    direction = np.array([[0.0, 0.6, 0.8], [0.0, 0.8, -0.6], [1.0, 0.0, 0.0]])  # oblique, right-handed
    volume = Volume(array, (0.7, 1.3, 2.9), (-12.5, 40.125, 7.0), direction)
    path = write_nrrd(volume, tmp_path / "v.nrrd", compress=compress)
    image = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), array)
    np.testing.assert_allclose(image.GetSpacing(), volume.spacing, rtol=1e-12)
    np.testing.assert_allclose(image.GetOrigin(), volume.origin, atol=1e-12)
    np.testing.assert_allclose(np.reshape(image.GetDirection(), (3, 3)), direction, atol=1e-12)
    assert [p.name for p in tmp_path.iterdir()] == ["v.nrrd"], "no temporary file is left behind"


def test_native_nrrd_writer_refuses_complex_voxels(tmp_path) -> None:
    from imaging.nrrd_writer import write_nrrd

    with pytest.raises(ValueError, match="cannot hold"):
        write_nrrd(Volume(np.zeros((2, 2, 2), np.complex64)), tmp_path / "c.nrrd")
