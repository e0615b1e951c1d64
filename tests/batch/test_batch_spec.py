"""The batch spec: items, variants and pipeline parsed; every mistake named in one line; the CLI says it with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.batch import BatchSpecError, load_spec
from app.batch.pipeline import content_hash, input_hash


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_items_variants_and_pipeline_are_parsed(tmp_path: Path) -> None:
    (tmp_path / "study").mkdir()
    spec = load_spec(_write(tmp_path, """
output: results
pipeline:
  segment: [bone, {preset: contrast_vessels, name: Vessels, largest_island: true, min_island_mm3: 20}]
  mesh: {smooth: 3, decimate: 0.5}
  export: [labelmap, dicom_seg]
  seg_kind: labelmap
items:
  - {id: study-1, dicom: study}
variants:
  phantom: {size: 48x48x40, seeds: 3-5}
"""))
    assert spec.output == (tmp_path / "results").resolve()
    assert [i.id for i in spec.items] == ["study-1", "phantom-003", "phantom-004", "phantom-005"]
    assert spec.items[0].dicom == str((tmp_path / "study").resolve())
    assert spec.items[1].phantom_size == (48, 48, 40)
    assert spec.items[3].phantom_seed == 5
    steps = spec.pipeline.segment
    assert [s.name for s in steps] == ["Bone", "Vessels"]
    assert steps[1].largest_island
    assert steps[1].min_island_mm3 == 20
    assert spec.pipeline.decimate == 0.5
    assert spec.pipeline.seg_kind == "labelmap"
    assert load_spec(spec.source, output=tmp_path / "elsewhere").output == (tmp_path / "elsewhere").resolve()


@pytest.mark.parametrize(("text", "message"), [
    ("items: [{id: a, phantom: {seed: 1}}]\npipeline: {segment: [nonsense]}", "unknown preset 'nonsense'"),
    ("items: [{id: a, phantom: {seed: 1}}]\npipeline: {segment: [bone], export: [pdf]}", "pipeline.export"),
    ("items: [{id: 'a/b', phantom: {seed: 1}}]\npipeline: {segment: [bone]}", "id must be"),
    ("items: [{id: a, dicom: missing}]\npipeline: {segment: [bone]}", "does not exist"),
    ("items: [{id: a, phantom: {seed: 1}}, {id: a, phantom: {seed: 2}}]\npipeline: {segment: [bone]}",
     "repeated: a"),
    ("variants: {phantom: {seeds: 9-1}}\npipeline: {segment: [bone]}", "LO <= HI"),
    ("variants: {phantom: {size: 8x8x8}}\npipeline: {segment: [bone]}", "three numbers 16..1024"),
    ("items: [{id: a, phantom: {seed: 1}}]\npipeline: {segment: [bone], colour: red}", "unknown key(s) colour"),
    ("items: [{id: a, phantom: {seed: 1}}]\npipeline: {}", "pipeline.segment is empty"),
    ("items: [{id: a, scenarios: ['clamp:x']}]\npipeline: {}", "need pipeline.flow"),
    ("items: [a: b: c", "not valid YAML (line 1)"),
    ("pipeline: {segment: [bone]}", "no items"),
])
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BatchSpecError) as caught:
        load_spec(_write(tmp_path, text))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_cli_reports_a_bad_spec_on_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "items: [{id: a, phantom: {seed: 1}}]\npipeline: {segment: [nonsense]}")
    result = subprocess.run([sys.executable, "-m", "app.cli.main", "batch", str(path), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "unknown preset 'nonsense'" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "app.cli.main", "batch", str(path), "--scheduler", "localhost:1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "tcp://HOST:PORT" in result.stderr


def test_input_hash_follows_inputs_and_pipeline(tmp_path: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    (study / "a.dcm").write_bytes(b"one")
    spec = load_spec(_write(tmp_path, "items: [{id: s, dicom: study}]\npipeline: {segment: [bone]}"))
    item, pipeline = spec.items[0], spec.pipeline_dict()
    first = input_hash(item, pipeline, "1.0")
    assert input_hash(item, pipeline, "1.0") == first
    assert input_hash(item, pipeline, "1.1") != first
    assert input_hash(item, {**pipeline, "smooth": 99}, "1.0") != first
    (study / "a.dcm").write_bytes(b"two")
    assert input_hash(item, pipeline, "1.0") != first
    text = tmp_path / "x.txt"
    text.write_bytes(b"abc")
    assert content_hash(text) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")
