"""One batch item in this process: the optional simulation steps, atomic publication, failures returned not raised."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from app.batch import load_spec, run_item
from app.batch.pipeline import MANIFEST
from tests.conftest import require_data


def test_phantom_item_with_tissue_and_flow_scenarios(tmp_path: Path) -> None:
    model = require_data("haemo-0d-svzerodsolver/cases/pulsatileFlow_R_RCR.json")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(f"""
pipeline:
  segment: [{{preset: bone}}, {{preset: contrast_vessels, name: Vessels, largest_island: true}}]
  mesh: {{smooth: 3}}
  export: [labelmap, meshes, screenshots]
  tissue: {{segment: Vessels, args: [--material, vessel_wall, --steps, "3", --tets, "400", --fix, "z<10%"]}}
  flow: {{model: {model}, args: [--cycles, "2"]}}
items:
  - {{id: p1, phantom: {{size: 48x48x40, seed: 2}}, scenarios: ["stenosis:branch0_seg0:50"]}}
  - {{id: tight, scenarios: ["stenosis:branch0_seg0:80"]}}
""")
    spec = load_spec(spec_path)
    out = tmp_path / "out"
    result = run_item(spec.items[0], spec.pipeline, str(out), "h" * 64)
    assert result["status"] == "done", result.get("error")
    outputs = result["manifest"]["outputs"]
    assert {"segmentation.nrrd", "meshes/bone.stl", "meshes/vessels.stl", "screenshots/four-up.png",
            "dicom/screenshot.dcm"} <= set(outputs)
    screenshot = pydicom.dcmread(out / "items" / "p1" / "dicom" / "screenshot.dcm")
    assert screenshot.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture, in the phantom's study
    assert screenshot.pixel_array.std() > 10  # views, not a blank frame
    assert any(name.startswith("tissue/") and name.endswith(".stl") for name in outputs)
    assert "flow/comparison.csv" in outputs
    assert result["manifest"]["summary"]["scenarios"] == ["stenosis:branch0_seg0:50"]
    manifest = json.loads((out / "items" / "p1" / MANIFEST).read_text())
    assert manifest["input_hash"] == "h" * 64
    assert all((out / "items" / "p1" / name).is_file() for name in outputs)

    # A scenario variant without an image runs the flow step only.
    result = run_item(spec.items[1], spec.pipeline, str(out), "c" * 64)
    assert result["status"] == "done", result.get("error")
    assert {n.split("/")[0] for n in result["manifest"]["outputs"]} == {"flow"}


def test_a_failing_item_leaves_nothing_behind_and_an_outdated_item_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text("""
pipeline: {segment: [bone], mesh: false, export: [labelmap]}
items:
  - {id: nothing, dicom: empty}
  - {id: p, phantom: {size: 32x32x24, seed: 4}}
""")
    spec = load_spec(spec_path)
    out = tmp_path / "out"
    failed = run_item(spec.items[0], spec.pipeline, str(out), "x" * 64)
    assert failed["status"] == "failed"
    assert "no DICOM series that forms a 3-D volume" in failed["error"]
    assert not (out / "items" / "nothing").exists()
    assert list((out / ".staging").iterdir()) == []

    first = run_item(spec.items[1], spec.pipeline, str(out), "1" * 64)
    second = run_item(spec.items[1], spec.pipeline, str(out), "2" * 64)
    assert first["status"] == second["status"] == "done"
    assert json.loads((out / "items" / "p" / MANIFEST).read_text())["input_hash"] == "2" * 64
    assert first["manifest"]["outputs"] == second["manifest"]["outputs"]  # same inputs, same bytes
    assert sorted(p.name for p in (out / "items").iterdir()) == ["p"]  # the outdated copy is gone


@pytest.mark.filterwarnings("ignore:The string .* person name:UserWarning")  # highdicom on the sample's PatientName
def test_real_study_item(tmp_path: Path) -> None:
    import highdicom as hd
    import numpy as np

    from imaging.image_io import read_image

    study = require_data("ct-head-phantom-philips/dicom")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(f"""
pipeline: {{segment: [{{preset: bone, largest_island: true}}], mesh: false, export: [labelmap, dicom_seg]}}
items: [{{id: head, dicom: {study}}}]
""")
    spec = load_spec(spec_path)
    out = tmp_path / "out"
    result = run_item(spec.items[0], spec.pipeline, str(out), "r" * 64)
    assert result["status"] == "done", result.get("error")
    assert result["manifest"]["summary"]["image"]["size"] == [512, 512, 28]
    labels = read_image(out / "items" / "head" / "segmentation.nrrd")
    seg = hd.seg.segread(out / "items" / "head" / "dicom" / "segmentation.dcm")
    assert seg.get_segment_description(1).segment_label == "Bone"
    assert seg.FrameOfReferenceUID  # placed in the study's frame of reference
    frames = sum(np.count_nonzero(labels.array[k]) > 0 for k in range(labels.array.shape[0]))
    assert int(seg.NumberOfFrames) == frames  # one frame per slice holding bone (empty frames omitted)
