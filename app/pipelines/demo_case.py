"""The demo case: the built-in abdomen phantom, loaded from DICOM, with bone and vessels segmented and meshed."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import ndimage

from app.case import Case, MeshNode, SegmentationNode, VolumeNode
from imaging.dicom import read_dicom_volume
from imaging.meshing import mesh_from_mask
from imaging.phantom import write_phantom_series
from imaging.segmentation import keep_largest_components, load_threshold_presets, threshold_mask
from imaging.volume import Volume

__all__ = ["DEMO_SIZE", "build_demo_case", "demo_series_dir", "segment_bone_and_vessels"]

DEMO_SIZE = (256, 256, 200)
Progress = Callable[[float, str], None]


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "surgitwin"


def demo_series_dir(size_xyz: tuple[int, int, int] = DEMO_SIZE, seed: int = 0, *, progress: Progress | None = None,
                    cancel=None) -> Path:
    """Folder holding the phantom's DICOM series, generated on first use and cached per size and seed."""
    folder = _cache_root() / f"phantom-{size_xyz[0]}x{size_xyz[1]}x{size_xyz[2]}-seed{seed}"
    if (folder / ".complete").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".phantom-", dir=folder.parent))
    try:
        write_phantom_series(staging / "dicom", size_xyz, seed=seed, progress=progress, cancel=cancel)
        (staging / "dicom" / ".complete").touch()
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging / "dicom", folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def segment_bone_and_vessels(ct: Volume) -> dict[str, np.ndarray]:
    """Bone and contrast-filled vessels of a CT by the shipped threshold presets.

    Bone is every voxel in the bone window. Vessels are the contrast window minus a 2-voxel margin around bone
    (the partial-volume rim of bone falls in the contrast window), reduced to the largest connected tree.
    """
    presets = load_threshold_presets()
    bone_preset, vessel_preset = presets["bone"], presets["contrast_vessels"]
    bone = threshold_mask(ct, bone_preset.lower, bone_preset.upper)
    bone = ndimage.binary_opening(bone, iterations=1) | (bone & ndimage.binary_erosion(bone))
    vessels = threshold_mask(ct, vessel_preset.lower, vessel_preset.upper)
    vessels &= ~ndimage.binary_dilation(bone, iterations=2)
    vessels = keep_largest_components(vessels, max(vessel_preset.keep_largest, 1))
    return {"Bone": bone, "Vessels": vessels}


def build_demo_case(
    size_xyz: tuple[int, int, int] = DEMO_SIZE,
    seed: int = 0,
    *,
    progress: Progress | None = None,
    cancel=None,
) -> Case:
    """Phantom CT (through the DICOM reader), bone and vessel segments, and their surface models.

    Parameters
    ----------
    size_xyz : tuple of int
        Phantom grid size.
    seed : int
        Phantom seed.
    progress : callable, optional
        ``progress(fraction, message)``.
    cancel : threading.Event-like, optional
        Checked between steps.
    """

    def report(fraction: float, message: str) -> None:
        if cancel is not None and cancel.is_set():
            raise InterruptedError("cancelled")
        if progress is not None:
            progress(fraction, message)

    report(0.0, "Preparing the phantom series")
    folder = demo_series_dir(size_xyz, seed, progress=lambda f, m: report(0.3 * f, m), cancel=cancel)
    report(0.3, "Reading DICOM")
    ct = read_dicom_volume(folder, progress=lambda f, m: report(0.3 + 0.2 * f, m), cancel=cancel)
    case = Case("Demo: abdomen phantom")
    volume_node = case.add(VolumeNode(ct, "Abdomen CT (phantom)"))
    report(0.5, "Segmenting bone and vessels")
    masks = segment_bone_and_vessels(ct)
    presets = load_threshold_presets()
    segmentation = case.add(SegmentationNode.empty_like(volume_node, "Thresholds"))
    colours = {"Bone": presets["bone"].color, "Vessels": presets["contrast_vessels"].color}
    segments = [segmentation.add_segment(name, colours[name], mask) for name, mask in masks.items()]
    for i, segment in enumerate(segments):
        report(0.6 + 0.35 * i / len(segments), f"Meshing {segment.name.lower()}")
        mesh = mesh_from_mask(masks[segment.name], ct.geometry)
        case.add(MeshNode(mesh, segment.name, color=segment.color, segmentation_id=segmentation.id,
                          label_value=segment.label_value))
    report(1.0, "Demo case ready")
    return case
