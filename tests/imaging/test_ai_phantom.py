"""One LiteMedSAM box per organ on the built-in phantom, propagated through the volume, against the ground truth.

The issue's goal: liver, each kidney and the tumour reach Dice >= 0.90 from one box each. The box is the structure's
bounding box on its largest axial slice, padded by 5 voxels, as a user drags it. The organs run on a 192x192x144
phantom (2.1 mm pixels; the whole volume, so a leak anywhere would count); the tumour, 25 mm across, on the default
256x256x200 grid cropped to the slices around it (the crop only bounds where propagation could leak to, six slices
each way).
"""

from __future__ import annotations

import numpy as np
import pytest

from imaging.ai.litemedsam import LiteMedSAM
from imaging.ai.propagate import propagate_box
from imaging.phantom import generate_abdomen
from imaging.volume import Volume
from tests.conftest import require_data

pytestmark = pytest.mark.slow

LIVER, TUMOUR, KIDNEY_LEFT, KIDNEY_RIGHT = 5, 6, 7, 8


@pytest.fixture(scope="module")
def model() -> LiteMedSAM:
    require_data("models/litemedsam.json")
    return LiteMedSAM(threads=2, cache_slices=256)


@pytest.fixture(scope="module")
def phantom():
    return generate_abdomen((192, 192, 144), seed=0)


@pytest.fixture(scope="module")
def phantom_ct(phantom) -> Volume:
    """One volume object for the three organs, so that they share the model's cached slice embeddings."""
    ct = phantom.ct
    return Volume(ct.array, spacing=ct.spacing, origin=ct.origin, metadata={"modality": "CT"})


def _box_on_largest_slice(truth: np.ndarray, pad: int = 5) -> tuple[int, tuple[int, int, int, int]]:
    k = int(np.argmax(truth.sum(axis=(1, 2))))
    rows, cols = np.nonzero(truth[k])
    h, w = truth.shape[1:]
    return k, (max(cols.min() - pad, 0), max(rows.min() - pad, 0), min(cols.max() + pad, w - 1),
               min(rows.max() + pad, h - 1))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


@pytest.mark.parametrize(("labels", "name"), [((LIVER, TUMOUR), "liver"), ((KIDNEY_LEFT,), "left kidney"),
                                              ((KIDNEY_RIGHT,), "right kidney")])
def test_one_box_segments_an_organ(model, phantom, phantom_ct, labels, name) -> None:
    truth = np.isin(phantom.labels, labels)  # the liver's segment includes its tumour, as a surgeon draws it
    k, box = _box_on_largest_slice(truth)
    result = propagate_box(model, phantom_ct, box, k, "axial")
    assert _dice(result.mask, truth) >= 0.90, name
    extent = np.nonzero(truth.any(axis=(1, 2)))[0]
    assert abs(min(result.slices) - extent[0]) <= 10, result.stopped  # found where the organ ends, both ways
    assert abs(max(result.slices) - extent[-1]) <= 10, result.stopped


def test_one_box_segments_the_hypodense_tumour(model) -> None:
    phantom = generate_abdomen((256, 256, 200), seed=0)
    truth = phantom.labels == TUMOUR
    extent = np.nonzero(truth.any(axis=(1, 2)))[0]
    z0, z1 = extent[0] - 6, extent[-1] + 7
    ct = Volume(np.ascontiguousarray(phantom.ct.array[z0:z1]), spacing=phantom.ct.spacing, metadata={"modality": "CT"})
    truth = truth[z0:z1]
    k, box = _box_on_largest_slice(truth)
    result = propagate_box(model, ct, box, k, "axial")
    assert _dice(result.mask, truth) >= 0.90
    # It stops where the tumour ends instead of running on into the (brighter) liver around it.
    assert not result.mask[:4].any()
    assert not result.mask[-4:].any()
