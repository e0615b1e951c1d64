"""Helpers of the DICOM output tests: system tools (dcmdump, dciodvfy, plastimatch) and the phantom's data."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from imaging.volume import Volume


def require_tool(name: str, package: str) -> str:
    """Path of a command-line tool; skip without it, but fail under ``CI=true`` (``make test`` installs it)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package {package}; `make system-deps` installs it as root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def dcmdump_ok(path: Path) -> str:
    """Run dcmtk's dcmdump on ``path``; assert it parsed the whole file without an error, return the dump."""
    dcmdump = require_tool("dcmdump", "dcmtk")
    result = subprocess.run([dcmdump, "-q", "+E", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "E:" not in result.stderr, result.stderr
    dump = subprocess.run([dcmdump, str(path)], capture_output=True, text=True, timeout=60)
    assert dump.returncode == 0, dump.stderr
    return dump.stdout


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines of dicom3tools' IOD validator (an empty list: the object is valid)."""
    dciodvfy = require_tool("dciodvfy", "dicom3tools")
    result = subprocess.run([dciodvfy, "-new", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


@dataclass
class PhantomSeries:
    """The phantom's DICOM folder, the volume read from it and its ground-truth labels on the same grid."""

    folder: Path
    volume: Volume
    labels: np.ndarray
    names: dict[int, str]
