"""Shared fixtures: where the real test data lives, and small synthetic inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_data_root() -> Path:
    """``$SURGITWIN_TEST_DATA`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("SURGITWIN_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))


def require_data(relative: str) -> Path:
    """Path of a folder of real test data; skip when absent, but fail under ``CI=true`` where it must exist."""
    path = test_data_root() / relative
    if not path.exists():
        message = f"real test data {relative!r} not found under {test_data_root()} (set SURGITWIN_TEST_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session", autouse=True)
def private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep the DICOM index cache, the demo phantom and autosaves of the test run out of the user's own folders."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    autosaves = tmp_path_factory.mktemp("autosave")
    previous = {key: os.environ.get(key) for key in ("XDG_CACHE_HOME", "SURGITWIN_AUTOSAVE_DIR")}
    os.environ["XDG_CACHE_HOME"] = str(folder)
    os.environ["SURGITWIN_AUTOSAVE_DIR"] = str(autosaves)  # the workstation's crash copies stay out of the user's
    yield folder
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _release_windows(request: pytest.FixtureRequest):
    """After a test that used Qt, delete its closed windows and collect them, so that VTK closes their X connections
    while the X server (pytest-xvfb's) still runs; one left open ends the run with Xlib's fatal I/O error."""
    yield
    if not {"qtbot", "qapp"} & set(request.fixturenames):
        return
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    gc.collect()


@pytest.fixture(scope="session")
def small_phantom_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64x64x48 phantom DICOM series, written once per test session."""
    from imaging.phantom import write_phantom_series

    folder = tmp_path_factory.mktemp("phantom") / "dicom"
    write_phantom_series(folder, (64, 64, 48), seed=3)
    return folder


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator."""
    return np.random.default_rng(1234)
