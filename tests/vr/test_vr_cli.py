"""``surgitwin vr``: the check and short sessions, as a user runs them, against the real runtimes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def run_vr(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli.main", "vr", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def clean_env(tmp_path: Path, extra: dict[str, str] | None = None, *, display: bool = True,
              empty_home: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XR_", "XRT_", "VR_", "SIMULATED_", "PYOPENGL_", "VTK_DEFAULT_OPENGL"))}
    if empty_home:  # no ~/.config/openvr/openvrpaths.vrpath, no ~/.config/openxr: no SteamVR, no active runtime
        env.setdefault("XAUTHORITY", str(Path.home() / ".Xauthority"))  # X clients look for the cookie in HOME
        env["HOME"] = str(tmp_path)
        env.pop("XDG_CONFIG_HOME", None)
    if not display:
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
    env.update(extra or {})
    return env


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    from vtkmodules.vtkFiltersSources import vtkSphereSource
    from vtkmodules.vtkIOGeometry import vtkSTLWriter

    sphere = vtkSphereSource()
    sphere.SetRadius(40)
    sphere.SetThetaResolution(32)
    sphere.SetPhiResolution(32)
    path = tmp_path_factory.mktemp("vr-model") / "organ.stl"
    writer = vtkSTLWriter()
    writer.SetFileName(str(path))
    writer.SetInputConnection(sphere.GetOutputPort())
    writer.Write()
    return path


def test_check_names_the_simulated_headset(monado_env, tmp_path):
    done = run_vr(["--check"], clean_env(tmp_path, monado_env, display=False))
    assert done.returncode == 0, done.stderr
    assert "Monado" in done.stdout
    assert "Simulated HMD" in done.stdout
    assert "320x240" in done.stdout


def test_check_without_any_runtime_fails_in_plain_words(tmp_path):
    done = run_vr(["--check"], clean_env(tmp_path, {"XR_RUNTIME_JSON": str(tmp_path / "missing.json")},
                                         empty_home=True))
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert "missing.json" in out
    assert "does not exist" in out
    assert "SteamVR is not installed" in out


def test_check_openvr_backend_is_ready_on_opencomposite(openvr_runtime, tmp_path):
    done = run_vr(["--check", "--backend", "openvr"], clean_env(tmp_path, openvr_runtime))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "backend:     openvr" in done.stdout
    assert "320x240" in done.stdout


def test_session_without_display_uses_egl_and_reports_stats(monado_env, small_model, tmp_path):
    done = run_vr([str(small_model), "--frames", "30", "--stats"], clean_env(tmp_path, monado_env, display=False))
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("openxr at 320x240 per eye (completed): 30 frames submitted")
    median, p95 = (float(v) for v in re.search(r"median ([\d.]+) ms, 95th percentile ([\d.]+) ms", last).groups())
    assert 0 < median <= p95


def test_openvr_session_submits_frames(openvr_runtime, small_model, tmp_path):
    done = run_vr([str(small_model), "--backend", "openvr", "--frames", "30"], clean_env(tmp_path, openvr_runtime))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "openvr: 30 frames submitted at 320x240 per eye (completed)"


def test_missing_case_path_is_a_one_line_error(monado_env, tmp_path):
    done = run_vr([str(tmp_path / "nowhere"), "--frames", "3"], clean_env(tmp_path, monado_env, display=False))
    assert done.returncode == 2
    assert done.stderr.strip() == f"surgitwin: error: {tmp_path / 'nowhere'}: no such file or folder"


def test_preview_without_a_headset_writes_stereo_images(small_model, tmp_path):
    out = tmp_path / "preview"
    done = run_vr([str(small_model), "--preview", str(out), "--frames", "2", "--eye-size", "200x160"],
                  clean_env(tmp_path, {"XR_RUNTIME_JSON": str(tmp_path / "none.json")}, display=False))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith(f"of organ to {out}")
    from PIL import Image

    images = sorted(out.glob("preview-*.png"))
    assert [p.name for p in images] == ["preview-000.png", "preview-001.png"]
    assert Image.open(images[0]).size == (400, 160)
