"""Fixtures for the VR tests: the real runtimes (Monado, OpenComposite over Monado) and a scene with a marker.

The runtimes are built once per machine by ``make test`` (``../shared/tools``); here their scripts only print the
environment of the cached build. Without them the runtime tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("VR_TOOLS", REPO_ROOT.parent / "shared" / "tools"))
# The session-wide private_cache_home fixture swaps XDG_CACHE_HOME for the test run; the runtimes were built (by
# `make test`) under the user's own cache folder, so remember it before that happens.
_USER_CACHE = os.environ.get("XDG_CACHE_HOME")


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def script_env(script: Path, n_lines: int, *, timeout: float = 900) -> dict[str, str]:
    """Run a runtime build script (cached: instant after the first build) and parse its ``export K=V`` lines."""
    if not script.is_file():
        _unavailable(f"{script} not found (the VR runtimes come from ../shared/tools; set VR_TOOLS)")
    env = dict(os.environ)
    if _USER_CACHE is None:
        env.pop("XDG_CACHE_HOME", None)
    else:
        env["XDG_CACHE_HOME"] = _USER_CACHE
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        _unavailable(f"{script.name} failed (run `make test` as root to build it): {done.stderr.strip()[-300:]}")
    result = {}
    for line in done.stdout.strip().splitlines()[-n_lines:]:
        key, _, value = line.removeprefix("export ").partition("=")
        result[key] = value
    return result


@pytest.fixture(scope="session")
def monado_env() -> dict[str, str]:
    """Environment that points the OpenXR loader at Monado (simulated headset, headless compositor)."""
    return script_env(TOOLS / "openxr-monado" / "build.sh", 3)


@pytest.fixture(scope="session")
def opencomposite_env() -> dict[str, str]:
    """Monado's environment plus OpenComposite's (OpenVR over OpenXR) plus our runtime-loss OpenXR layer's, which
    the OpenVR backend enables for OpenComposite (``SURGITWIN_XR_LOSS_LAYER``: its manifest)."""
    env = script_env(TOOLS / "openvr-opencomposite" / "build.sh", 6)
    return {**env, **script_env(REPO_ROOT / "rendering" / "vr" / "xr_loss_layer" / "build.sh", 1, timeout=120)}


def _require_display() -> None:
    if not os.environ.get("DISPLAY"):
        _unavailable("no X display (pytest-xvfb provides one; install xvfb)")


@pytest.fixture
def openxr_runtime(monado_env, monkeypatch) -> dict[str, str]:
    """Monado is the OpenXR runtime of this test."""
    _require_display()
    for key, value in monado_env.items():
        monkeypatch.setenv(key, value)
    return monado_env


@pytest.fixture(scope="session")
def display24():
    """A 24-bit Xvfb display of our own.

    OpenComposite makes its GLX context from the screen's first frame-buffer configuration; on a 16-bit screen
    (pytest-xvfb's default) that context cannot share with the application's and session creation aborts the
    process. Real desktops (and ``xvfb-run``) are 24-bit.
    """
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        _unavailable("Xvfb not found (make test installs the xvfb package)")
    read_fd, write_fd = os.pipe()
    # -noreset: without it the server resets whenever its last client leaves, refusing connections meanwhile
    command = [xvfb, "-displayfd", str(write_fd), "-screen", "0", "640x480x24", "-nolisten", "tcp", "-noreset"]
    proc = subprocess.Popen(command, pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        _unavailable("Xvfb did not start")
    yield f":{number}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def openvr_runtime(opencomposite_env, display24, monkeypatch) -> dict[str, str]:
    """OpenComposite over Monado is the OpenVR runtime of this test, on a 24-bit X display."""
    for key, value in opencomposite_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DISPLAY", display24)
    monkeypatch.delenv("XAUTHORITY", raising=False)
    return {**opencomposite_env, "DISPLAY": display24}


@pytest.fixture(scope="session")
def monado_service_env(monado_env) -> dict[str, str]:
    """Monado built as a service (``tests/vr/build_monado_service.sh``, built by ``make test``)."""
    return script_env(Path(__file__).with_name("build_monado_service.sh"), 4)


@pytest.fixture
def monado_service(monado_service_env, tmp_path, monkeypatch):
    """A running ``monado-service`` (out-of-process runtime) that the test may kill; the client env is set."""
    runtime_dir = tmp_path / "xdg-runtime"
    runtime_dir.mkdir(mode=0o700)
    env = {**os.environ, **monado_service_env, "XDG_RUNTIME_DIR": str(runtime_dir), "XRT_LOG": "error"}
    # The service quits on a key press on stdin, so stdin must be a pipe it can poll.
    proc = subprocess.Popen([monado_service_env["MONADO_SERVICE"]], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socket = runtime_dir / "monado_comp_ipc"
    for _ in range(200):
        if socket.exists() or proc.poll() is not None:
            break
        import time

        time.sleep(0.05)
    if not socket.exists():
        proc.kill()
        _unavailable("monado-service did not start")
    for key in ("XR_RUNTIME_JSON", "XRT_COMPOSITOR_NULL", "SIMULATED_ENABLE"):
        monkeypatch.setenv(key, monado_service_env[key])
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
