"""MeshNet brain tissue on the real T1 against the reference label map; conforming geometry; modality check."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.ai import AIInputError
from imaging.ai.meshnet import CONFORMED_SHAPE, run_meshnet
from imaging.volume import Volume
from tests.conftest import require_data

T1 = "mr-t1-3d-philips-mprage/reference/dcm2niix_v1.0.20260724/WIP_ADNI_Sag3D_MPRAGE_1301.nii.gz"


def test_brain_tissue_matches_reference() -> None:
    nib = pytest.importorskip("nibabel")
    from imaging.image_io import read_image

    require_data("models/meshnet_model5_gw_ae.json")
    image = read_image(require_data(T1))
    reference = nib.load(require_data("models/reference/seg_model5_gw_ae.nii.gz"))
    result = run_meshnet(image, "brain-tissue", threads=2)
    assert result.names == ["background", "White Matter", "Grey Matter"]
    assert result.conformed_labels.shape == CONFORMED_SHAPE
    np.testing.assert_allclose(result.conformed_affine, reference.affine, atol=1e-3)
    ref = np.asarray(reference.dataobj)
    ours = result.conformed_labels
    assert np.mean(ours == ref) >= 0.98
    brain = (ours > 0) | (ref > 0)
    assert np.count_nonzero((ours == ref) & brain) / np.count_nonzero(brain) >= 0.98
    for label, ml in ((1, 512.4), (2, 594.0)):  # reference volumes (1 mm voxels)
        assert np.count_nonzero(ours == label) / 1000 == pytest.approx(ml, rel=0.02)
    back = result.labels
    assert back.array.shape == image.array.shape
    assert back.array.dtype == np.uint8
    assert back.geometry == image.geometry
    wm_native = np.count_nonzero(back.array == 1) * float(np.prod(image.spacing)) / 1000
    assert wm_native == pytest.approx(512.4, rel=0.03)


SUBCORTICAL_ML = {"Thalamus": 18.6, "Caudate": 8.0, "Putamen": 10.8, "Hippocampus": 9.1, "Brain-Stem": 23.9,
                  "Lateral-Ventricle": 22.4, "Cerebellum-Cortex": 117.3, "Cerebral-Cortex": 506.4}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "reference_file", "volumes_ml"),
    [
        ("brain-subcortical", "seg_model18cls.nii.gz", SUBCORTICAL_ML),
        ("brain-mask", "seg_mindgrab.nii.gz", {"brain": 1622.8}),
    ],
)
def test_subcortical_and_brain_mask_match_reference(model: str, reference_file: str, volumes_ml: dict) -> None:
    """Cropped to the head, the labels still agree with the whole-cube reference run; volumes within 3 %.

    The subcortical volumes are the orientation check: a transposed input still gives plausible tissue volumes but
    no thalamus or caudate (models/SOURCE.md).
    """
    nib = pytest.importorskip("nibabel")
    from imaging.image_io import read_image

    image = read_image(require_data(T1))
    ref = np.asarray(nib.load(require_data(f"models/reference/{reference_file}")).dataobj)
    result = run_meshnet(image, model, threads=2)
    ours = result.conformed_labels
    assert np.mean(ours == ref) >= 0.98
    inside = (ours > 0) | (ref > 0)
    assert np.count_nonzero((ours == ref) & inside) / np.count_nonzero(inside) >= 0.98
    for name, ml in volumes_ml.items():
        label = result.names.index(name)
        assert np.count_nonzero(ours == label) / 1000 == pytest.approx(ml, rel=0.03), name
    named = {s["name"] if isinstance(s, dict) else s for s in result.labels.metadata["labels"]}
    assert set(volumes_ml) <= named


def test_refuses_ct() -> None:
    require_data("models/meshnet_model5_gw_ae.json")
    ct = Volume(np.full((8, 8, 8), -1000, np.int16), metadata={"modality": "CT"})
    with pytest.raises(AIInputError, match="CT"):
        run_meshnet(ct, "brain-tissue")
    hu = Volume(np.full((8, 8, 8), -1000, np.int16))
    with pytest.raises(AIInputError, match="CT"):
        run_meshnet(hu, "brain-tissue")
