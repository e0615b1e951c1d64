"""``segment`` and ``mesh`` run as real processes (``python -m app.cli.segment_commands``) on the phantom."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import trimesh

from imaging.image_io import read_image
from tests.conftest import REPO_ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli.segment_commands", *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def bone_seg(small_phantom_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "bone.nii.gz"
    result = run("segment", small_phantom_dir, "--threshold", "226:3071", "--min-island-mm3", "50", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_segment_dicom_and_mesh_stl(bone_seg, tmp_path):
    seg = read_image(bone_seg)
    assert seg.array.dtype == np.uint8
    assert set(np.unique(seg.array)) == {0, 1}
    out = tmp_path / "bone.stl"
    result = run("mesh", bone_seg, "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    mesh = trimesh.load(out, force="mesh")
    assert summary["meshes"][0]["triangles"] == len(mesh.faces)
    assert summary["meshes"][0]["watertight"]
    assert mesh.is_watertight
    assert summary["meshes"][0]["volume_ml"] == pytest.approx(mesh.volume / 1000, rel=1e-3)


def test_mesh_options(bone_seg, tmp_path):
    r1 = run("mesh", bone_seg, "--out", tmp_path / "lps.ply", "--smooth", "0")
    r2 = run("mesh", bone_seg, "--out", tmp_path / "ras.glb", "--ras", "--decimate", "0.5", "--label", "1")
    assert r1.returncode == 0, r1.stderr
    assert r2.returncode == 0, r2.stderr
    assert "triangles" in r1.stdout
    assert "watertight" in r1.stdout
    a = trimesh.load(tmp_path / "lps.ply", force="mesh")
    b = trimesh.load(tmp_path / "ras.glb", force="mesh")
    assert len(b.faces) <= 0.55 * len(a.faces)
    assert np.allclose(b.bounds[1][:2], -a.bounds[0][:2], atol=3.0)


def test_segment_with_preset_seed_and_negative_threshold(small_phantom_dir, tmp_path):
    out = tmp_path / "air.nrrd"
    result = run("segment", small_phantom_dir, "--threshold=-1000:-400", "--largest-island", "--out", out)
    assert result.returncode == 0, result.stderr
    seg = read_image(out)
    k, j, i = np.argwhere(seg.array)[0]
    corner = seg.geometry.index_to_point([i, j, k])
    seeded = tmp_path / "seeded.mha"
    result = run("segment", out, "--threshold", "1:1", "--seed=" + ",".join(f"{v:.3f}" for v in corner),
                 "--out", seeded)
    assert result.returncode == 0, result.stderr
    assert np.array_equal(read_image(seeded).array, seg.array)
    assert run("segment", small_phantom_dir, "--preset", "bone", "--out", tmp_path / "b.nii.gz").returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["segment", "/no/such/folder", "--threshold", "0:1", "--out", "x.nii.gz"], "no such file"),
        (["segment", "/no/such", "--threshold", "5:1", "--out", "x.nii.gz"], "above the upper"),
        (["segment", "/no/such", "--preset", "unobtainium", "--out", "x.nii.gz"], "unknown preset"),
        (["segment", "/no/such", "--threshold", "0:1", "--out", "x.png"], "unsupported label map"),
        (["mesh", "/no/such.nii.gz", "--out", "x.stl"], "no such file"),
        (["mesh", "/no/such.nii.gz", "--out", "x.stl", "--decimate", "2"], "fraction"),
    ],
)
def test_errors_are_one_line(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
