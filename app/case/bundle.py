"""Case bundles on disk: a folder (or ``.zip`` of it) holding ``manifest.json`` and standard files.

Layout (format ``surgitwin-case``, version 1)::

    manifest.json                 format, version, case name, nodes and their display properties
    volumes/<id>.nrrd             images (NRRD keeps LPS geometry exactly)
    segmentations/<id>.nrrd       label maps; segment names/colours/values are in the manifest
    meshes/<id>.vtp               surfaces in LPS mm
    results/<id>.npz              arrays of simulation results

Saving is atomic: everything is written under a temporary name next to the target and renamed into place only when
complete, so an interrupted save (crash, full disk, exception in a writer) leaves the previous bundle untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from app.case.case import Case
from app.case.nodes import MeshNode, Node, PlanNode, ResultNode, Segment, SegmentationNode, VolumeNode
from imaging.image_io import ImageIOError, read_image, write_image
from imaging.mesh_io import MeshIOError, read_mesh, write_mesh

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "CaseBundleError", "load_case", "save_case"]

BUNDLE_FORMAT = "surgitwin-case"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"


class CaseBundleError(OSError):
    """A case bundle could not be written or is not a readable SurgiTwin case."""


def _jsonable(value: Any) -> Any:
    """Keep what JSON can hold; drop the rest (metadata may contain arbitrary objects)."""
    if isinstance(value, dict):
        return {str(k): v for k, v in ((k, _jsonable(v)) for k, v in value.items()) if v is not _DROP}
    if isinstance(value, list | tuple):
        return [v for v in (_jsonable(v) for v in value) if v is not _DROP]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.size <= 64:
        return value.tolist()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return _DROP


_DROP = object()


def _node_entry(node: Node, folder: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": node.kind, "id": node.id, "name": node.name, "visible": node.visible}
    if isinstance(node, VolumeNode):
        entry["file"] = f"volumes/{node.id}.nrrd"
        entry["window_level"] = list(node.window_level)
        if node.volume_rendering is not None:
            entry["volume_rendering"] = node.volume_rendering
        entry["metadata"] = _jsonable(node.volume.metadata)
        write_image(node.volume, folder / entry["file"], compress=True)
    elif isinstance(node, SegmentationNode):
        entry["file"] = f"segmentations/{node.id}.nrrd"
        entry["reference_volume_id"] = node.reference_volume_id
        entry["opacity"] = node.opacity
        entry["segments"] = [
            {"name": s.name, "color": list(s.color), "label_value": s.label_value, "visible": s.visible,
             "locked": s.locked}
            for s in node.segments
        ]
        write_image(node.labelmap, folder / entry["file"], compress=True)
    elif isinstance(node, MeshNode):
        entry["file"] = f"meshes/{node.id}.vtp"
        entry.update(
            color=list(node.color),
            opacity=node.opacity,
            segmentation_id=node.segmentation_id,
            label_value=node.label_value,
            metadata=_jsonable(node.mesh.metadata),
        )
        write_mesh(node.mesh, folder / entry["file"])
    elif isinstance(node, PlanNode):
        entry.update(plan_type=node.plan_type, data=_jsonable(node.data))
    elif isinstance(node, ResultNode):
        entry.update(result_type=node.result_type, data=_jsonable(node.data))
        if node.arrays:
            entry["arrays"] = f"results/{node.id}.npz"
            np.savez_compressed(folder / entry["arrays"], **node.arrays)
    else:
        raise CaseBundleError(f"cannot save a node of kind {node.kind!r}")
    return entry


def _write_folder(case: Case, folder: Path) -> None:
    for sub in ("volumes", "segmentations", "meshes", "results"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "name": case.name,
        "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nodes": [_node_entry(node, folder) for node in case],
    }
    with open(folder / MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())


def save_case(case: Case, path: str | Path, *, mark_saved: bool = True) -> Path:
    """Save ``case`` atomically as a bundle folder, or as a zip when ``path`` ends in ``.zip``.

    Parameters
    ----------
    case : Case
        The document.
    path : str or Path
        Destination; an existing bundle there is replaced only once the new one is complete.
    mark_saved : bool, default True
        Record ``path`` as the case's home and clear its unsaved-changes flag; an autosave copy does neither.

    Returns
    -------
    Path
        ``path``. The case is marked saved there.

    Raises
    ------
    CaseBundleError
        Writing failed; the previous bundle at ``path``, if any, is unchanged.
    """
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.is_dir() and any(path.iterdir()) and not (path / MANIFEST).is_file():
        raise CaseBundleError(f"{path} is a folder that is not a SurgiTwin case; choose another name")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.saving-", dir=path.parent))
    try:
        _write_folder(case, staging)
        if path.suffix.lower() == ".zip":
            archive = staging.with_suffix(".zip")
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
                for file in sorted(staging.rglob("*")):
                    if file.is_file():
                        zf.write(file, file.relative_to(staging).as_posix())
            os.replace(archive, path)
        else:
            _replace_folder(staging, path)
    except (OSError, ImageIOError, MeshIOError, ValueError) as exc:
        raise CaseBundleError(f"could not save the case to {path}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        staging.with_suffix(".zip").unlink(missing_ok=True)
    if mark_saved:
        case.mark_saved(path)
    return path


def _replace_folder(staging: Path, target: Path) -> None:
    """Swap ``staging`` in for ``target`` with renames only (each atomic on one file system)."""
    if not target.exists():
        os.replace(staging, target)
        return
    backup = target.with_name(f".{target.name}.previous")
    shutil.rmtree(backup, ignore_errors=True)
    os.replace(target, backup)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def load_case(path: str | Path) -> Case:
    """Load a case bundle (folder or ``.zip``).

    Raises
    ------
    CaseBundleError
        Missing, corrupt, of a newer format version, or referring to files that are not there.
    """
    path = Path(path).absolute()
    if not path.exists():
        backup = path.with_name(f".{path.name}.previous")
        if backup.is_dir():  # a save was interrupted between its two renames: the previous bundle is intact here
            path = backup
        else:
            raise CaseBundleError(f"{path}: no such case")
    if path.is_dir():
        case = _read_folder(path)
    elif zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="surgitwin-case-") as tmp:
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise CaseBundleError(f"{path.name}: unsafe member name {member!r} in the archive")
                zf.extractall(tmp)
            case = _read_folder(Path(tmp))
    else:
        raise CaseBundleError(f"{path.name} is neither a case folder nor a case zip")
    case.mark_saved(path)
    return case


def _read_folder(folder: Path) -> Case:
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise CaseBundleError(f"{folder.name}: no {MANIFEST}; this is not a SurgiTwin case")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CaseBundleError(f"{folder.name}: {MANIFEST} is corrupt ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise CaseBundleError(f"{folder.name}: {MANIFEST} does not describe a SurgiTwin case")
    version = manifest.get("version")
    if not isinstance(version, int) or version > BUNDLE_VERSION:
        raise CaseBundleError(
            f"{folder.name} was saved in case format version {version}; this SurgiTwin reads up to "
            f"{BUNDLE_VERSION}. Update SurgiTwin to open it."
        )
    case = Case(str(manifest.get("name", folder.stem)))
    for entry in manifest.get("nodes", []):
        try:
            case.add(_read_node(entry, folder))
        except (KeyError, TypeError, ValueError, ImageIOError, MeshIOError) as exc:
            what = entry.get("name", "?") if isinstance(entry, dict) else "?"
            raise CaseBundleError(f"{folder.name}: node {what!r} cannot be read: {exc}") from exc
    return case


def _read_node(entry: dict[str, Any], folder: Path) -> Node:
    kind, common = entry["kind"], {"node_id": entry["id"], "visible": bool(entry.get("visible", True))}
    if kind == "volume":
        volume = read_image(folder / entry["file"], metadata=entry.get("metadata", {}))
        return VolumeNode(volume, entry["name"], window_level=tuple(entry["window_level"]),
                          volume_rendering=entry.get("volume_rendering"), **common)
    if kind == "segmentation":
        labelmap = read_image(folder / entry["file"], metadata={"modality": "SEG"})
        segments = [Segment(s["name"], tuple(s["color"]), s["label_value"], s.get("visible", True),
                            s.get("locked", False)) for s in entry["segments"]]
        return SegmentationNode(
            labelmap, segments, entry["name"], reference_volume_id=entry.get("reference_volume_id"),
            opacity=entry.get("opacity", 0.5), **common,
        )
    if kind == "mesh":
        mesh = read_mesh(folder / entry["file"])
        mesh.metadata = dict(entry.get("metadata", {}))
        return MeshNode(
            mesh, entry["name"], color=tuple(entry["color"]), opacity=entry.get("opacity", 1.0),
            segmentation_id=entry.get("segmentation_id"), label_value=entry.get("label_value"), **common,
        )
    if kind == "plan":
        return PlanNode(entry["name"], entry["plan_type"], entry.get("data", {}), **common)
    if kind == "result":
        arrays: dict[str, np.ndarray] = {}
        if entry.get("arrays"):
            with np.load(folder / entry["arrays"], allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        return ResultNode(entry["name"], entry["result_type"], entry.get("data", {}), arrays, **common)
    raise ValueError(f"unknown node kind {kind!r}")
