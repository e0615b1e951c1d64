"""The ``surgitwin`` command line, run as the installed console script (a real subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(sys.executable).with_name("surgitwin")


def run(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the CLI with its cache (the demo's phantom series) in a private folder."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "app.cli.main"]
    env = {**os.environ, "XDG_CACHE_HOME": str((cwd or Path.cwd()) / ".cache")} if cwd else None
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("surgitwin ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "/no/such/folder"], "no such file or folder"),
        (["open", "/no/such/folder"], "no such file or folder"),
        (["phantom", "OUT", "--size", "12x12"], "size must be three numbers"),
        (["phantom", "OUT", "--size", "axbxc"], "size must look like"),
        (["frobnicate"], "invalid choice"),
        (["info"], "required"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_phantom_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("user data")
    result = run("phantom", str(tmp_path), "--size", "32x32x20")
    assert result.returncode == 2
    assert "not an empty folder" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "user data"


def test_info_on_a_folder_without_dicom(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    result = run("info", str(tmp_path))
    assert result.returncode == 2
    assert "no DICOM image series" in result.stderr


def test_phantom_then_info_reports_the_geometry(tmp_path: Path) -> None:
    out = tmp_path / "ph"
    result = run("phantom", str(out), "--size", "80x72x40", "--seed", "5")
    assert result.returncode == 0, result.stderr
    assert len(list(out.glob("*.dcm"))) == 40
    info = run("info", str(out), "--json")
    assert info.returncode == 0, info.stderr
    series = json.loads(info.stdout)["series"]
    assert len(series) == 1
    s = series[0]
    assert s["modality"] == "CT"
    assert s["size"] == [80, 72, 40]
    # The phantom's field of view is fixed: 400 x 400 x 300 mm centred on the isocentre.
    np.testing.assert_allclose(s["spacing"], [400 / 80, 400 / 72, 300 / 40], rtol=1e-6)
    np.testing.assert_allclose(s["direction"], np.eye(3).ravel(), atol=1e-9)
    far_corner = np.asarray(s["origin"]) + np.asarray(s["spacing"]) * (np.asarray(s["size"]) - 1)
    np.testing.assert_allclose((np.asarray(s["origin"]) + far_corner)[:2] / 2, [0.0, 0.0], atol=1e-4)  # DS precision
    assert s["warnings"] == []
    text = run("info", str(out))
    assert "80 x 72 x 40" in text.stdout
    assert "LPS" in text.stdout


def test_info_geometry_matches_dcm2niix(tmp_path: Path) -> None:
    import SimpleITK as sitk

    dcm2niix = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
    if not Path(dcm2niix).exists():
        pytest.fail("dcm2niix (the PyPI wheel in the test dependencies) is not installed")
    out = tmp_path / "ph"
    assert run("phantom", str(out), "--size", "96x96x60").returncode == 0
    s = json.loads(run("info", str(out), "--json").stdout)["series"][0]
    subprocess.run([dcm2niix, "-z", "y", "-o", str(tmp_path), "-f", "ref", str(out)], check=True, capture_output=True)
    ref = sitk.ReadImage(str(tmp_path / "ref.nii.gz"))

    def corners(size, spacing, origin, direction):
        d = np.asarray(direction, float).reshape(3, 3)
        idx = np.array([[i, j, k] for i in (0, size[0] - 1) for j in (0, size[1] - 1) for k in (0, size[2] - 1)])
        return np.array(sorted(map(tuple, np.round(np.asarray(origin) + (idx * spacing) @ d.T, 4))))

    ours = corners(s["size"], s["spacing"], s["origin"], s["direction"])
    theirs = corners(ref.GetSize(), ref.GetSpacing(), ref.GetOrigin(), ref.GetDirection())
    assert np.abs(ours - theirs).max() < 1e-3


@pytest.mark.slow
def test_demo_offscreen_writes_views_with_visible_anatomy(tmp_path: Path) -> None:
    from PIL import Image

    result = run("demo", "--offscreen", str(tmp_path / "shots"), "--size", "96x96x72", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "shots").glob("*.png"))
    assert names == ["3d.png", "axial.png", "coronal.png", "four-up.png", "sagittal.png"]
    for name in names:
        pixels = np.asarray(Image.open(tmp_path / "shots" / name).convert("RGB"), float)
        assert pixels.std() > 20, f"{name} looks blank"
    # The 3-D view shows the red vessel tree and the ivory bone.
    view3d = np.asarray(Image.open(tmp_path / "shots" / "3d.png").convert("RGB"), int)
    red = (view3d[..., 0] > 120) & (view3d[..., 1] < 80) & (view3d[..., 2] < 80)
    ivory = (view3d[..., 0] > 150) & (view3d[..., 1] > 140) & (view3d[..., 2] > 110)
    assert red.sum() > 500
    assert ivory.sum() > 2000


def test_deidentify_exports_a_loadable_series_without_identity(tmp_path: Path) -> None:
    import pydicom

    source = tmp_path / "ph"
    assert run("phantom", str(source), "--size", "32x32x16", "--seed", "9").returncode == 0
    original = pydicom.dcmread(next(source.glob("*.dcm")))
    out = tmp_path / "export"
    result = run("deidentify", str(source), str(out), "--pseudonym", "SUBJ-001", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["series"][0]["files"] == 16
    files = sorted(out.rglob("*.dcm"))
    assert len(files) == 16
    for path in files:
        data = path.read_bytes()
        assert b"Phantom^Abdomen" not in data
        assert original.StudyInstanceUID.encode() not in data
        assert original.PatientID.encode() not in data
    ds = pydicom.dcmread(files[0])
    assert ds.PatientName == "SUBJ-001"
    assert ds.PatientIdentityRemoved == "YES"
    info = json.loads(run("info", str(out), "--json").stdout)["series"][0]
    assert info["size"] == [32, 32, 16]
    assert run("deidentify", str(source), str(out)).returncode == 2, "refuses a non-empty destination"
