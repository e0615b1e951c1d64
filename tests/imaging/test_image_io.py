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
