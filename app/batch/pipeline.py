"""One batch item, start to finish, in a worker process: load, segment by presets, mesh, export, simulate, publish.

:func:`run_item` is what the Dask workers execute.  It works in a private staging folder and publishes the item by
renaming that folder to ``items/<id>`` only once everything, including ``manifest.json`` (the done-marker), is
written -- so a worker killed half-way leaves only a staging folder, which the next run removes, and never a partial
item.  Outputs are reproducible: DICOM UIDs derive from the item's input hash, and the manifest's hashes of DICOM
files leave out the attributes that record *when* they were made.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import struct
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .spec import ItemSpec, PipelineSpec

__all__ = ["MANIFEST", "ItemError", "content_hash", "input_hash", "run_item"]

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
#: DICOM attributes that record when an object was made: left out of the manifest's content hashes.
_TIME_KEYWORDS = frozenset({
    "ContentDate", "ContentTime", "SeriesDate", "SeriesTime", "InstanceCreationDate", "InstanceCreationTime",
    "AcquisitionDateTime", "ContributionDateTime",
})


class ItemError(RuntimeError):
    """An item failed for a reason the user can act on (one line)."""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _time_element_pattern() -> re.Pattern[bytes]:
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    alternatives = []
    for keyword in sorted(_TIME_KEYWORDS):
        tag = tag_for_keyword(keyword)
        assert tag is not None
        group, element = tag >> 16, tag & 0xFFFF
        alternatives.append(re.escape(struct.pack("<HH", group, element) + dictionary_VR(tag).encode()))
    # Explicit VR little endian, short-length VRs (DA, TM, DT): tag, VR, 2-byte length, value.
    return re.compile(b"(?:" + b"|".join(alternatives) + b")(..)", re.DOTALL)


_TIME_ELEMENTS = _time_element_pattern()


def content_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file; for DICOM (``.dcm``) files, with the values of the creation date/time elements zeroed.

    Our DICOM writers use explicit VR little endian, where a date/time element is its tag, VR and a 2-byte length
    followed by the value: those values are overwritten in the byte stream (no re-encoding of the dataset, which
    costs 0.5 s for a SEG with hundreds of frames).  Identical objects made at different times hash the same.
    """
    path = Path(path)
    if path.suffix.lower() != ".dcm":
        return _sha256_file(path)
    data = bytearray(path.read_bytes())
    for match in _TIME_ELEMENTS.finditer(data):
        (length,) = struct.unpack("<H", match.group(1))
        data[match.end():match.end() + length] = b"0" * length
    return hashlib.sha256(data).hexdigest()


def input_hash(item: ItemSpec, pipeline: dict[str, Any], version: str) -> str:
    """Hash of everything an item's outputs depend on: the item, the pipeline, SurgiTwin's version, input files."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"item": asdict(item), "pipeline": pipeline, "version": version},
                             sort_keys=True, default=str).encode())
    if item.dicom is not None:
        root = Path(item.dicom)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for f in files:
            digest.update(str(f.relative_to(root) if root.is_dir() else f.name).encode())
            digest.update(_sha256_file(f).encode())
    flow = pipeline.get("flow")
    if flow:
        digest.update(_sha256_file(Path(flow["model"])).encode())
    return digest.hexdigest()


def _segment(volume: Any, pipeline: PipelineSpec) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Label map of the pipeline's preset segments (later segments win where they overlap) and their facts."""
    from imaging.segmentation import (
        keep_largest_components,
        keep_largest_island,
        load_threshold_presets,
        remove_small_islands,
        threshold_mask,
    )

    presets = load_threshold_presets()
    labels = np.zeros(volume.array.shape, dtype=np.uint8)
    voxel_ml = float(np.prod(volume.spacing)) / 1000.0
    facts = []
    for value, step in enumerate(pipeline.segment, start=1):
        preset = presets[step.preset]
        mask = threshold_mask(volume, preset.lower, preset.upper)
        if mask.any() and (step.largest_island or preset.keep_largest == 1):
            mask = keep_largest_island(mask)
        elif mask.any() and preset.keep_largest > 1:
            mask = keep_largest_components(mask, preset.keep_largest)
        if step.min_island_mm3 > 0:
            mask = remove_small_islands(mask, volume.geometry, step.min_island_mm3)
        labels[mask] = value
        facts.append({"label": value, "name": step.name, "preset": step.preset, "color": list(preset.color)})
    for fact in facts:
        fact["volume_ml"] = round(int(np.count_nonzero(labels == fact["label"])) * voxel_ml, 4)
    return labels, facts


def _run_cli(argv: list[str], what: str) -> None:
    """Run a ``surgitwin`` subcommand in this process (the same code as the command line) or raise ItemError."""
    from app.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    if status != 0:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        raise ItemError(f"{what} failed: {lines[-1] if lines else f'exit status {status}'}")


def _image_steps(item: ItemSpec, pipeline: PipelineSpec, stage: Path, scratch: Path, seed_text: str,
                 summary: dict[str, Any]) -> None:
    from imaging.dicom_outputs import OutputOptions, SegmentInfo, read_source_series
    from imaging.dicom_outputs import write_segmentation as write_seg
    from imaging.image_io import write_image

    if item.phantom_size is not None:
        from imaging.phantom import write_phantom_series

        source_dir = scratch / "phantom"
        write_phantom_series(source_dir, item.phantom_size, seed=item.phantom_seed)
    else:
        source_dir = Path(str(item.dicom))
    source = read_source_series(source_dir, series_uid=item.series)
    volume = source.load_volume()
    summary["image"] = {"size": list(volume.geometry.size_xyz), "spacing_mm": [round(s, 6) for s in volume.spacing]}
    labels, facts = _segment(volume, pipeline)
    summary["segments"] = facts
    label_volume = volume.with_array(labels)
    label_volume.metadata = {"modality": "SEG"}
    if "labelmap" in pipeline.export or pipeline.tissue is not None:
        write_image(label_volume, stage / "segmentation.nrrd")
    if "dicom_seg" in pipeline.export:
        infos = [SegmentInfo(f["label"], f["name"], tuple(f["color"]), f"SurgiTwin threshold preset {f['preset']}")
                 for f in facts]
        write_seg(label_volume, infos, source, stage / "dicom" / "segmentation.dcm", kind=pipeline.seg_kind,
                  options=OutputOptions(series_number=901, series_description="SurgiTwin segmentation",
                                        uid_seed=f"{seed_text}/seg"))
    meshes: dict[str, Any] = {}
    if pipeline.mesh:
        meshes = _mesh_steps(pipeline, facts, labels, volume, source, stage, seed_text)
    if "screenshots" in pipeline.export:
        _screenshots(volume, label_volume, facts, meshes, source, stage, seed_text)
    if pipeline.tissue is not None:
        label = next(f["label"] for f in facts if f["name"] == pipeline.tissue["segment"])
        _run_cli(["tissue", str(stage / "segmentation.nrrd"), "--out", str(stage / "tissue"), "--label", str(label),
                  *pipeline.tissue["args"]], "soft-tissue simulation")


def _screenshots(volume: Any, label_volume: Any, facts: list[dict[str, Any]], meshes: dict[str, Any], source: Any,
                 stage: Path, seed_text: str) -> None:
    """The axial, coronal, sagittal and 3-D views as PNG files, and the four-up montage as DICOM Secondary Capture."""
    from PIL import Image

    from app.case import Case, MeshNode, Segment, SegmentationNode, VolumeNode
    from app.render_case import render_case_views
    from imaging.dicom_outputs import OutputOptions, write_secondary_capture

    case = Case("batch item")
    volume_node = case.add(VolumeNode(volume, "Image"))
    segments = [Segment(f["name"], tuple(f["color"]), f["label"]) for f in facts]
    segmentation = case.add(SegmentationNode(label_volume, segments, "Segments", reference_volume_id=volume_node.id))
    for fact in facts:
        if fact["name"] in meshes:
            case.add(MeshNode(meshes[fact["name"]], fact["name"], color=tuple(fact["color"]),
                              segmentation_id=segmentation.id, label_value=fact["label"]))
    files = render_case_views(case, stage / "screenshots", size=(320, 320))
    with Image.open(files[-1]) as image:
        pixels = np.asarray(image.convert("RGB"))
    write_secondary_capture(pixels, source, stage / "dicom" / "screenshot.dcm", title="SurgiTwin views",
                            options=OutputOptions(series_number=903, series_description="SurgiTwin views",
                                                  uid_seed=f"{seed_text}/screenshot"))


def _mesh_steps(pipeline: PipelineSpec, facts: list[dict[str, Any]], labels: np.ndarray, volume: Any, source: Any,
                stage: Path, seed_text: str) -> dict[str, Any]:
    """Mesh every non-empty segment; write STL files and encapsulated STL objects as the export asks."""
    from imaging.dicom_outputs import OutputOptions, write_encapsulated_stl
    from imaging.mesh_io import write_mesh
    from imaging.meshing import decimate_mesh, mesh_from_mask

    meshes = {}
    for number, fact in enumerate(facts, start=1):
        mask = labels == fact["label"]
        if not mask.any():
            fact["triangles"] = 0
            continue
        mesh = mesh_from_mask(mask, volume.geometry, smoothing_iterations=pipeline.smooth)
        if pipeline.decimate is not None and pipeline.decimate < 1:
            mesh = decimate_mesh(mesh, fraction=pipeline.decimate)
        fact["triangles"] = mesh.n_faces
        slug = "".join(c if c.isalnum() else "_" for c in fact["name"].lower())
        if "meshes" in pipeline.export:
            (stage / "meshes").mkdir(exist_ok=True)
            write_mesh(mesh, stage / "meshes" / f"{slug}.stl", name=fact["name"], color=tuple(fact["color"]))
        if "dicom_stl" in pipeline.export:
            write_encapsulated_stl(
                mesh, source, stage / "dicom" / f"model_{slug}.dcm", title=fact["name"],
                options=OutputOptions(series_number=902, series_description="SurgiTwin 3-D models",
                                      uid_seed=f"{seed_text}/stl/{number}"),
            )
        meshes[fact["name"]] = mesh
    return meshes


def run_item(item: ItemSpec, pipeline: PipelineSpec, out_root: str, item_hash: str) -> dict[str, Any]:
    """Run the pipeline on one item and publish ``out_root/items/<id>`` atomically.

    Parameters
    ----------
    item : ItemSpec
        The item.
    pipeline : PipelineSpec
        The steps.
    out_root : str
        The batch output folder (shared by driver and workers).
    item_hash : str
        :func:`input_hash` of the item, recorded in the manifest (finished items with the same hash are skipped).

    Returns
    -------
    dict
        ``{"id", "status": "done" | "failed", "seconds", "error" (failed only), "manifest" (done only)}``.  Errors
        are returned, not raised, so one item's failure never stops the others.
    """
    os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")
    started = time.perf_counter()
    root = Path(out_root)
    staging_root = root / ".staging"
    staging_root.mkdir(parents=True, exist_ok=True)
    stage = staging_root / f"{item.id}-{uuid.uuid4().hex[:12]}"
    stage.mkdir()
    scratch = Path(tempfile.mkdtemp(prefix=f".{item.id}-scratch-", dir=staging_root))
    try:
        summary: dict[str, Any] = {}
        if item.has_image:
            _image_steps(item, pipeline, stage, scratch, item_hash, summary)
        if pipeline.flow is not None and (item.scenarios is not None or not item.has_image or
                                          pipeline.flow["scenarios"]):
            scenarios = list(item.scenarios if item.scenarios is not None else pipeline.flow["scenarios"])
            argv = ["flow", pipeline.flow["model"], "--out", str(stage / "flow"), *pipeline.flow["args"]]
            for scenario in scenarios:
                argv += ["--scenario", scenario]
            _run_cli(argv, "flow simulation")
            summary["scenarios"] = scenarios
        outputs = {p.relative_to(stage).as_posix(): content_hash(p)
                   for p in sorted(stage.rglob("*")) if p.is_file()}
        manifest = {"version": MANIFEST_VERSION, "id": item.id, "input_hash": item_hash, "outputs": outputs,
                    "summary": summary}
        tmp = stage / f".{MANIFEST}.partial"
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, stage / MANIFEST)
        _publish(stage, root / "items" / item.id)
        return {"id": item.id, "status": "done", "seconds": time.perf_counter() - started, "manifest": manifest}
    except Exception as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        return {"id": item.id, "status": "failed", "seconds": time.perf_counter() - started,
                "error": f"{type(exc).__name__}: {message}"[:300]}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(stage, ignore_errors=True)


def _publish(stage: Path, final: Path) -> None:
    """Move the finished staging folder to ``final``, replacing an outdated item (rename, never copy)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    os.replace(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
