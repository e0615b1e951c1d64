"""Render a case's standard views (three slice views and the 3-D view) to PNG files without a window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from app.case import Case, SegmentationNode
from rendering.offscreen import render_to_array
from rendering.orientation import SliceOrientation
from rendering.scene3d import Scene3D
from rendering.slice_view import SliceView

__all__ = ["focus_point", "render_case_views"]


def focus_point(case: Case) -> np.ndarray | None:
    """LPS point the views should pass through: the centroid of the first segmentation's last segment.

    The demo's last segment is the vessel tree, whose centroid lies on the aorta, so the coronal and sagittal
    slices show the aorta along its length.
    """
    for segmentation in case.segmentations:
        if segmentation.segments:
            label = segmentation.segments[-1].label_value
            idx = np.argwhere(segmentation.labelmap.array == label)
            if len(idx):
                centroid_zyx = idx.mean(axis=0)
                return segmentation.labelmap.geometry.index_to_point(centroid_zyx[::-1])
    return None


def _label_colours(segmentation: SegmentationNode) -> dict[int, tuple[float, float, float]]:
    return {s.label_value: s.color for s in segmentation.segments if s.visible}


def render_case_views(case: Case, out_dir: str | Path, *, size: tuple[int, int] = (800, 800)) -> list[Path]:
    """Write ``axial.png``, ``coronal.png``, ``sagittal.png``, ``3d.png`` and a ``four-up.png`` montage.

    Returns
    -------
    list of Path
        The files written, montage last.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    volumes = case.volumes
    segmentation = next((s for s in case.segmentations if s.visible), None)
    focus = focus_point(case)
    images: dict[str, np.ndarray] = {}
    if volumes:
        volume_node = volumes[0]
        for orientation in SliceOrientation:
            view = SliceView(orientation)
            view.set_volume(volume_node.volume, volume_node.window_level)
            if segmentation is not None:
                view.set_labelmap(segmentation.labelmap, _label_colours(segmentation), opacity=segmentation.opacity)

            def fit(view: SliceView = view) -> None:
                view.reset_camera()
                if focus is not None:
                    view.set_slice_point(focus)

            images[orientation.name.lower()] = render_to_array(view.renderer, size, before_render=fit)
    scene = Scene3D()
    for mesh_node in case.meshes:
        scene.set_mesh(mesh_node.id, mesh_node.mesh, color=mesh_node.color, opacity=mesh_node.opacity,
                       visible=mesh_node.visible)
    images["3d"] = render_to_array(scene.renderer, size, before_render=lambda: scene.reset_camera("anterior", zoom=1.1))
    files = []
    for name, pixels in images.items():
        path = out_dir / f"{name}.png"
        Image.fromarray(pixels).save(path)
        files.append(path)
    if len(images) == 4:
        h, w, _ = images["3d"].shape
        montage = np.zeros((2 * h + 4, 2 * w + 4, 3), np.uint8)
        for (r, c), name in zip(((0, 0), (0, 1), (1, 0), (1, 1)), ("axial", "3d", "coronal", "sagittal"), strict=True):
            montage[r * (h + 4): r * (h + 4) + h, c * (w + 4): c * (w + 4) + w] = images[name]
        path = out_dir / "four-up.png"
        Image.fromarray(montage).save(path)
        files.append(path)
    return files
