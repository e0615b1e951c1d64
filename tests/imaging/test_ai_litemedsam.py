"""LiteMedSAM against the reference run (reference/check_litemedsam.json), the phantom, and bad inputs."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from scipy import ndimage

from imaging.ai import AIInputError, ModelError, load_manifest
from imaging.ai.litemedsam import LiteMedSAM, area_resize_matrix, bilinear_resize_matrix, get_slice
from tests.conftest import require_data


@pytest.fixture(scope="module")
def model() -> LiteMedSAM:
    require_data("models/litemedsam.json")
    return LiteMedSAM(threads=2)


@pytest.fixture(scope="module")
def aorta():
    from imaging.image_io import read_image

    folder = require_data("anatomy-vmtk-aorta")
    image = read_image(folder / "image" / "aorta.mha")
    truth = read_image(folder / "segmentation" / "aorta-final-levelset.mha").array <= 0
    return image, truth


def test_resize_matrices_preserve_constants() -> None:
    assert np.allclose(area_resize_matrix(393, 256).sum(axis=1), 1.0)
    assert np.allclose(bilinear_resize_matrix(102, 157).sum(axis=1), 1.0)
    up = area_resize_matrix(4, 8) @ np.arange(4, dtype=np.float32)
    assert np.array_equal(up, np.repeat(np.arange(4, dtype=np.float32), 2))  # integer upscale replicates


def test_slice_axes() -> None:
    a = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    assert get_slice(a, "axial", 1).shape == (3, 4)
    assert get_slice(a, "coronal", 2).shape == (2, 4)
    assert get_slice(a, "sagittal", 3).shape == (2, 3)
    with pytest.raises(AIInputError, match="outside"):
        get_slice(a, "axial", 2)


def test_matches_reference_dice(model: LiteMedSAM, aorta) -> None:
    """Same boxes as the reference run: Dice per slice within 0.02, window as SOURCE.md states."""
    image, truth = aorta
    reference = json.loads((require_data("models/reference") / "check_litemedsam.json").read_text())
    kind, lo, hi = model.window(image)
    assert kind == "nonct"
    assert lo == pytest.approx(13.4, abs=0.05)
    assert hi == pytest.approx(1803.4, abs=0.05)
    for z, entry in reference.items():
        result = model.segment_slice(image, entry["box_xyxy"], int(z))
        a, b = result.mask, truth[int(z)]
        dice = 2 * np.count_nonzero(a & b) / (a.sum() + b.sum())
        assert dice == pytest.approx(entry["dice"], abs=0.02), z
        assert result.iou_pred == pytest.approx(entry["iou_pred"], abs=0.02), z
    # the embedding is cached: a second box on slice 12 costs only the decoder
    t0 = time.perf_counter()
    model.segment_slice(image, (61, 121, 86, 182), 12)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize(
    ("box", "message"),
    [((10, 10, 10, 40), "zero size"), ((-1, 0, 20, 20), "outside"), ((0, 0, 20, 400), "outside")],
)
def test_bad_boxes(model: LiteMedSAM, aorta, box, message) -> None:
    image, _ = aorta
    with pytest.raises(AIInputError, match=message):
        model.segment_slice(image, box, 12)


def test_missing_and_corrupt_models(tmp_path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_manifest("litemedsam", tmp_path / "nowhere")
    (tmp_path / "litemedsam.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        load_manifest("litemedsam", tmp_path)
    source = require_data("models") / "litemedsam.json"
    (tmp_path / "litemedsam.json").write_text(source.read_text())
    with pytest.raises(ModelError, match="missing"):
        load_manifest("litemedsam", tmp_path)
    for name in ("litemedsam_encoder.onnx", "litemedsam_decoder.onnx"):
        (tmp_path / name).write_bytes(b"not an onnx model")
    broken = LiteMedSAM(load_manifest("litemedsam", tmp_path))
    from imaging.volume import Volume

    volume = Volume(np.ones((2, 32, 32), np.float32))
    with pytest.raises(ModelError, match="corrupt"):
        broken.segment_slice(volume, (2, 2, 20, 20), 0)


@pytest.mark.slow
def test_propagation_from_one_box_follows_the_real_aorta(model: LiteMedSAM, aorta) -> None:
    """One box on slice 12 of vmtk's CTA, propagated both ways, against vmtk's level set (inside <= 0).

    The issue's goal is a mean Dice of 0.80 over the 15 vessel slices; measured 0.811 (0.94-0.975 on slices 11-19).
    vmtk ran its level set in a region of interest (rows 80-182, columns 53-98, slices 5-27) and the zero level stays
    about four voxels inside its faces, so the reference stops at rows 84 and 178 and on slices 9 and 23 where the
    vessel goes on; the iliac branches followed up past row 84 on slices 19-23 count against us. The box was drawn
    five voxels wide of the aorta on its free sides, so its bottom side, which cuts the aorta, clips the segment five
    voxels inside (row 177); clipped at the side itself (row 182) the mean was 0.793.

    Before the mask could run into a side of its box, the boxes came from the model's whole mask and the pieces
    did not need to continue what was kept (0.785): on slices 22-23 the boxes, carried by a mask spread over the
    dim tissue below the left iliac, added a neighbouring vessel and a blob lower down, and the left iliac was
    followed only partly. Now both branches are followed whole and nothing else.
    """
    from imaging.ai.propagate import propagate_box

    volume, reference = aorta
    result = propagate_box(model, volume, (61, 121, 86, 182), 12, "axial")
    slices = [z for z in range(reference.shape[0]) if reference[z].any()]
    dice = [2 * (result.mask[z] & reference[z]).sum() / (result.mask[z].sum() + reference[z].sum()) for z in slices]
    assert np.mean(dice) >= 0.80, np.round(dice, 3)
    assert min(dice[1:3]) >= 0.8, "where the aorta narrows the mask must not bleed"
    assert min(dice[3:11]) >= 0.88, "both iliac branches are followed through the bifurcation"
    assert set(range(9, 24)) <= set(result.slices)
    for z in (21, 22, 23):  # the two iliac branches, left and right of the midline, and no neighbour beside them
        labels, count = ndimage.label(result.mask[z], np.ones((3, 3), bool))
        columns = sorted(np.nonzero(labels == i)[1].mean() for i in range(1, count + 1))
        assert count == 2, (z, columns)
        assert columns[0] < 70 < columns[1], (z, columns)
    assert result.cuts.names() == ["bottom"]  # the aorta runs on below the box: the user cut it there
    assert result.cuts.margin == 5  # as far inside the side as the box was drawn wide of the aorta
    assert not result.mask[:, 178:, :].any()
    assert result.mask[12:19, 177, :].sum(axis=1).min() >= 5  # the aorta is kept up to the line
