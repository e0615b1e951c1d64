"""Fixtures of the DICOM output tests: a small phantom series with its true labels, and the real head CT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_data
from tests.dicom_outputs.dicom_tools import PhantomSeries


@pytest.fixture(scope="session")
def phantom_series(tmp_path_factory: pytest.TempPathFactory) -> PhantomSeries:
    """A 48x48x40 phantom written as DICOM (seed 1) with its true labels."""
    from imaging.dicom import read_dicom_volume
    from imaging.phantom import LABEL_NAMES, write_phantom_series

    folder = tmp_path_factory.mktemp("seg-phantom") / "ct"
    phantom = write_phantom_series(folder, (48, 48, 40), seed=1)
    volume = read_dicom_volume(folder, cache=None)
    assert volume.geometry.is_close(phantom.ct.geometry)
    return PhantomSeries(folder, volume, phantom.labels.astype(np.uint8), dict(LABEL_NAMES))


@pytest.fixture(scope="session")
def head_ct_dir() -> Path:
    """The real Philips head CT series (28 slices of 512x512)."""
    return require_data("ct-head-phantom-philips/dicom")
