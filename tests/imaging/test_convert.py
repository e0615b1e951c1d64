"""``surgitwin convert`` and the loader options behind it (synthetic series, fast)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from app.cli.main import main
from imaging.dicom import load_series, scan_folder
from tests.imaging.test_dicom_reader import write_slice

REPO_ROOT = Path(__file__).resolve().parents[2]


def _series(folder: Path, uid: str, positions, **kwargs) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, z in enumerate(positions):
        write_slice(folder / f"{uid[-3:]}_{k}.dcm", series_uid=uid, instance=k + 1, ipp=(0.0, 0.0, z), **kwargs)
    return folder


def test_convert_writes_the_only_volume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _series(tmp_path / "in", "1.2.3.100", [0, 1, 2])
    assert main(["convert", str(src), str(tmp_path / "out.nrrd")]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out
    assert "5x6x3" in out
    assert (tmp_path / "out.nrrd").stat().st_size > 0


def test_convert_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _series(tmp_path / "in", "1.2.3.100", [0, 1, 2])
    assert main(["convert", str(src), str(tmp_path / "out.png")]) == 2
    assert main(["convert", str(tmp_path / "nope"), str(tmp_path / "out.nii.gz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert all(line.startswith("surgitwin: error:") for line in err)


def test_convert_several_volumes_needs_series(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    _series(src, "1.2.3.100", [0, 1, 2], series_number=1)
    _series(src, "1.2.3.200", [0, 1, 2, 3], series_number=2)
    assert main(["convert", str(src), str(tmp_path / "o.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert "2 volume series found" in err
    assert "1.2.3.100" in err
    assert "1.2.3.200" in err
    assert main(["convert", str(src), str(tmp_path / "o.nii.gz"), "--series", "1.2.3.2"]) == 0
    assert "1.2.3.200" in capsys.readouterr().out
    assert main(["convert", str(src), str(tmp_path / "o.nii.gz"), "--series", "1.2.3"]) == 2  # ambiguous prefix


def test_resample_uniform_fills_missing_slice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _series(tmp_path / "in", "1.2.3.100", [0, 2, 4, 8])  # slice at 6 mm missing
    series = scan_folder(src).volumes[0]
    assert any("missing slice" in w for w in series.warnings)
    volume = load_series(series, resample_uniform=True)
    assert volume.array.shape == (5, 6, 5)
    assert volume.spacing[2] == pytest.approx(2.0)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array[3], (volume.array[2].astype(int) + volume.array[4]) // 2)
    assert not any("missing slice" in w for w in volume.metadata["warnings"])
    assert any(w.startswith("resampled to uniform") for w in volume.metadata["warnings"])
    assert main(["convert", str(src), str(tmp_path / "o.mha"), "--resample-uniform"]) == 0
    assert "warning: resampled to uniform slice spacing" in capsys.readouterr().err


def test_tilt_correction_gives_orthogonal_grid(tmp_path: Path) -> None:
    # Slices move 1 pixel (0.8 mm, PixelSpacing row) along y per 2 mm step: a tilted stack.
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(4):
        pixels = np.zeros((6, 5), np.int16)
        pixels[2, 2] = 100
        write_slice(folder / f"{k}.dcm", series_uid="1.2.3.5", instance=k + 1, ipp=(0.0, 0.8 * k, 2.0 * k),
                    pixels=pixels, intercept=0)
    series = scan_folder(folder).volumes[0]
    assert any("gantry tilt" in w for w in series.warnings)
    volume = load_series(series, tilt_correct=True)
    assert volume.array.shape == (4, 9, 5)
    # The bright pixel now sits at the same physical (x, y) in every slice: on one line along z.
    rows = [int(np.argmax(volume.array[k].max(axis=1))) for k in range(4)]
    assert rows == [2, 3, 4, 5]
    np.testing.assert_allclose(volume.direction, np.eye(3))
    pts = [volume.geometry.index_to_point([2, rows[k], k]) for k in range(4)]
    assert all(np.allclose(p[:2], pts[0][:2] + np.array([0.0, 0.8 * k])) for k, p in enumerate(pts))


def test_monochrome1_is_inverted_and_flagged(tmp_path: Path) -> None:
    src = _series(tmp_path / "in", "1.2.3.100", [0, 1, 2], intercept=0)
    for f in src.iterdir():
        ds = pydicom.dcmread(f)
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.save_as(f)
    volume = load_series(scan_folder(src).volumes[0])
    assert volume.metadata["monochrome1_inverted"]
    assert any("MONOCHROME1" in w for w in volume.metadata["warnings"])
    expected = -1 - (np.arange(30).reshape(6, 5) + 100)  # signed: v -> -1 - v
    np.testing.assert_array_equal(volume.array[0], expected)


def test_rescale_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for k, slope in enumerate([1.0, 2.0, 0.5]):
        write_slice(folder / f"{k}.dcm", series_uid="1.2.3.7", instance=k + 1, ipp=(0, 0, k), slope=slope,
                    intercept=-10)
    volume = load_series(scan_folder(folder).volumes[0])
    assert volume.array.dtype == np.float32
    for k, slope in enumerate([1.0, 2.0, 0.5]):
        stored = np.arange(30).reshape(6, 5) + 100 * (k + 1)
        np.testing.assert_allclose(volume.array[k], stored * slope - 10)


def test_convert_path_imports_no_gui_no_vtk_no_scipy(tmp_path: Path) -> None:
    src = _series(tmp_path / "in", "1.2.3.100", [0, 1, 2])
    code = (
        "import sys; from app.cli.main import main; "
        f"rc = main(['convert', {str(src)!r}, {str(tmp_path / 'o.nii.gz')!r}]); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules}"
        " & {'vtk', 'vtkmodules', 'PySide6', 'scipy', 'pyvista'}); "
        "print(rc, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stderr


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz"])
def test_convert_of_the_phantom_equals_simpleitk(small_phantom_dir: Path, tmp_path: Path, suffix: str) -> None:
    """NRRD is filled in place through a memory map (no second copy); both formats must read back exactly."""
    import SimpleITK as sitk

    out = tmp_path / f"ct{suffix}"
    assert main(["convert", str(small_phantom_dir), str(out)]) == 0
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(small_phantom_dir)))
    expected = reader.Execute()
    ours = sitk.ReadImage(str(out))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(expected))
    np.testing.assert_allclose(ours.GetOrigin(), expected.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(ours.GetSpacing(), expected.GetSpacing(), rtol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [out.name], "no temporary file is left"
