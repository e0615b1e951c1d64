"""The case document: events, batching, save/load round trips and atomic saves."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from app.case import (
    Case,
    CaseBundleError,
    MeshNode,
    PlanNode,
    ResultNode,
    SegmentationNode,
    VolumeNode,
    load_case,
    save_case,
)
from app.case import bundle as bundle_module
from imaging.mesh import SurfaceMesh
from imaging.volume import GeometryError, Volume


def _ct(rng: np.random.Generator) -> Volume:
    array = rng.integers(-1000, 1500, size=(12, 20, 24)).astype(np.int16)
    direction = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # oblique-like permutation
    return Volume(array, (0.7, 0.8, 2.5), (-100.5, 20.25, 300.0), direction, {"modality": "CT", "description": "t"})


def _tetrahedron() -> SurfaceMesh:
    points = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], float)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return SurfaceMesh(points, faces, {"algorithm": "hand"})


@pytest.fixture
def full_case(rng: np.random.Generator) -> Case:
    case = Case("Liver resection")
    volume = case.add(VolumeNode(_ct(rng), "CT arterial"))
    segmentation = case.add(SegmentationNode.empty_like(volume, "Segments"))
    mask = volume.volume.array > 800
    segmentation.add_segment("Bone", (0.9, 0.9, 0.8), mask)
    segmentation.add_segment("Liver", (0.6, 0.2, 0.1), volume.volume.array < -900)
    segmentation.set_segment_locked(2, True)
    case.add(MeshNode(_tetrahedron(), "Bone model", color=(0.9, 0.9, 0.8), opacity=0.7,
                      segmentation_id=segmentation.id, label_value=1))
    case.add(PlanNode("Resection plane", "plane", {"origin": [1.0, 2.0, 3.0], "normal": [0.0, 0.0, 1.0]}))
    case.add(ResultNode("Clamp scenario", "haemodynamics", {"max_pressure_pa": 16000.0},
                        {"time_s": np.linspace(0, 1, 5), "pressure_pa": np.arange(5.0)}))
    return case


def test_events_report_additions_changes_and_removals(full_case: Case) -> None:
    added, changed, removed = [], [], []
    full_case.node_added.connect(added.append)
    full_case.node_changed.connect(lambda node, what: changed.append((node.id, what)))
    full_case.node_removed.connect(removed.append)
    mesh = full_case.meshes[0]
    mesh.color = (1.0, 0.0, 0.0)
    mesh.name = "Spine"
    mesh.mesh = _tetrahedron()
    extra = full_case.add(PlanNode("Landmark", "point", {"lps": [0, 0, 0]}))
    full_case.remove(extra.id)
    assert changed == [(mesh.id, "display"), (mesh.id, "name"), (mesh.id, "data")]
    assert mesh.name == "Spine"
    assert added == [extra]
    assert removed == [extra]
    assert extra not in full_case


def test_setting_the_same_value_emits_nothing(full_case: Case) -> None:
    changed = []
    full_case.node_changed.connect(lambda node, what: changed.append(what))
    volume = full_case.volumes[0]
    volume.window_level = volume.window_level
    volume.visible = True
    assert changed == []


def test_recolouring_a_segment_recolours_its_model(full_case: Case) -> None:
    segmentation, mesh = full_case.segmentations[0], full_case.meshes[0]
    segmentation.set_segment_color(1, (0.1, 0.2, 0.3))
    assert mesh.color == (0.1, 0.2, 0.3)
    segmentation.set_segment_color(2, (0.5, 0.5, 0.5))  # another segment: the bone model keeps its colour
    assert mesh.color == (0.1, 0.2, 0.3)


def test_batch_collapses_bursts_into_one_event_per_kind(full_case: Case) -> None:
    changed = []
    full_case.node_changed.connect(lambda node, what: changed.append((node.id, what)))
    volume = full_case.volumes[0]
    with full_case.batch():
        for width in range(100, 200):
            volume.window_level = (width, 40)
        volume.name = "renamed"
        assert changed == []
    assert changed == [(volume.id, "display"), (volume.id, "name")]


def test_display_changes_do_not_mark_the_case_modified(full_case: Case, tmp_path) -> None:
    save_case(full_case, tmp_path / "c")
    assert not full_case.modified
    full_case.volumes[0].window_level = (1500, 300)
    assert not full_case.modified
    full_case.volumes[0].name = "other"
    assert full_case.modified


def test_invalid_values_are_refused_with_clear_messages(full_case: Case) -> None:
    volume = full_case.volumes[0]
    with pytest.raises(ValueError, match="window width"):
        volume.window_level = (0, 40)
    with pytest.raises(ValueError, match="colour"):
        full_case.meshes[0].color = (2.0, 0.0, 0.0)
    segmentation = full_case.segmentations[0]
    with pytest.raises(ValueError, match="already used"):
        segmentation._insert(segmentation.segments[0])
    with pytest.raises(GeometryError, match="spacing"):
        Volume(np.zeros((2, 2, 2)), (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="vertex"):
        SurfaceMesh(np.zeros((3, 3)), [[0, 1, 5]])


@pytest.mark.parametrize("name", ["case-folder", "case.zip"])
def test_save_and_load_round_trip(full_case: Case, tmp_path, name: str) -> None:
    path = save_case(full_case, tmp_path / name)
    loaded = load_case(path)
    assert [(n.kind, n.id, n.name) for n in loaded] == [(n.kind, n.id, n.name) for n in full_case]
    original, copy = full_case.volumes[0], loaded.volumes[0]
    np.testing.assert_array_equal(copy.volume.array, original.volume.array)
    assert copy.volume.array.dtype == original.volume.array.dtype
    assert copy.volume.geometry.is_close(original.volume.geometry, tol_mm=1e-6)
    assert copy.window_level == original.window_level
    assert copy.volume.metadata["modality"] == "CT"
    seg, seg_copy = full_case.segmentations[0], loaded.segmentations[0]
    np.testing.assert_array_equal(seg_copy.labelmap.array, seg.labelmap.array)
    assert seg_copy.segments == seg.segments
    assert seg_copy.locked_labels == (2,)
    assert seg_copy.reference_volume_id == original.id
    mesh, mesh_copy = full_case.meshes[0], loaded.meshes[0]
    np.testing.assert_allclose(mesh_copy.mesh.points, mesh.mesh.points)
    np.testing.assert_array_equal(mesh_copy.mesh.faces, mesh.mesh.faces)
    assert (mesh_copy.color, mesh_copy.opacity, mesh_copy.label_value) == (mesh.color, 0.7, 1)
    assert loaded.plans[0].data == full_case.plans[0].data
    np.testing.assert_array_equal(loaded.results[0].arrays["pressure_pa"], np.arange(5.0))
    assert loaded.results[0].data == {"max_pressure_pa": 16000.0}
    assert not loaded.modified


def test_manifest_is_versioned_and_files_are_standard(full_case: Case, tmp_path) -> None:
    import SimpleITK as sitk

    path = save_case(full_case, tmp_path / "bundle")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "surgitwin-case"
    assert manifest["version"] == 1
    volume_file = path / manifest["nodes"][0]["file"]
    image = sitk.ReadImage(str(volume_file))  # a standard NRRD any tool reads
    assert image.GetSize() == (24, 20, 12)
    np.testing.assert_allclose(image.GetOrigin(), (-100.5, 20.25, 300.0))


def test_interrupted_save_leaves_the_previous_bundle_intact(full_case: Case, tmp_path, monkeypatch) -> None:
    target = tmp_path / "case"
    save_case(full_case, target)
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    manifest_before = (target / "manifest.json").read_text()
    full_case.volumes[0].name = "changed after first save"

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bundle_module, "write_mesh", disk_full)
    with pytest.raises(CaseBundleError, match="No space left"):
        save_case(full_case, target)
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    assert (target / "manifest.json").read_text() == manifest_before
    assert [p.name for p in tmp_path.iterdir()] == ["case"], "temporary files were left behind"
    assert full_case.modified, "a failed save must not mark the case saved"
    assert load_case(target).volumes[0].name == "CT arterial"


def test_save_killed_between_renames_is_recovered(full_case: Case, tmp_path) -> None:
    target = tmp_path / "case"
    save_case(full_case, target)
    # A crash after moving the old bundle aside and before renaming the new one in leaves only the backup.
    target.rename(tmp_path / ".case.previous")
    assert load_case(target).volumes[0].name == "CT arterial"


def test_zip_save_is_atomic(full_case: Case, tmp_path, monkeypatch) -> None:
    target = tmp_path / "case.zip"
    save_case(full_case, target)
    data = target.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("simulated crash while writing")

    monkeypatch.setattr(bundle_module, "write_image", crash)
    with pytest.raises(CaseBundleError):
        save_case(full_case, target)
    assert target.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.zip"]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("{not json", "corrupt"),
        ('{"format": "something-else", "version": 1}', "does not describe"),
        ('{"format": "surgitwin-case", "version": 99, "nodes": []}', "version 99"),
        ('{"format": "surgitwin-case", "version": 1, "nodes": [{"kind": "volume", "id": "a", "name": "CT",'
         ' "file": "volumes/a.nrrd", "window_level": [400, 40]}]}', "no such file"),
    ],
)
def test_bad_bundles_give_specific_errors(tmp_path, manifest: str, message: str) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "manifest.json").write_text(manifest)
    with pytest.raises(CaseBundleError, match=message):
        load_case(folder)


def test_refuses_to_overwrite_a_folder_that_is_not_a_case(full_case: Case, tmp_path) -> None:
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(CaseBundleError, match="not a SurgiTwin case"):
        save_case(full_case, precious)
    assert (precious / "thesis.txt").read_text() == "do not delete"


def test_hostile_zip_members_are_refused(tmp_path) -> None:
    import zipfile

    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../escape.txt", "x")
        zf.writestr("manifest.json", '{"format": "surgitwin-case", "version": 1, "nodes": []}')
    with pytest.raises(CaseBundleError, match="unsafe"):
        load_case(path)
    assert not (tmp_path.parent / "escape.txt").exists()


def test_model_imports_neither_qt_nor_vtk_rendering() -> None:
    code = (
        "import sys, app.case, imaging.meshing, imaging.segmentation, imaging.dicom, imaging.phantom\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyvista', 'rendering'))"
        " or 'vtkRendering' in m]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
