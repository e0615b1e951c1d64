"""Slice views and the 3-D scene rendered offscreen: orientation conventions, window/level, overlays, navigation."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.meshing import mesh_from_mask
from imaging.volume import Volume
from rendering.offscreen import render_to_array, render_to_png
from rendering.orientation import SliceOrientation
from rendering.scene3d import Scene3D
from rendering.slice_view import SliceView

SIZE = (200, 200)


@pytest.fixture(scope="module")
def marker_volume() -> Volume:
    """A 60 mm cube of -1000 HU with bright markers at the patient's left, anterior and superior sides."""
    array = np.full((30, 30, 30), -1000, np.int16)
    array[10:20, 10:20, 24:28] = 1000  # x high = patient left
    array[10:20, 2:6, 10:20] = 1000  # y low = anterior
    array[24:28, 10:20, 10:20] = 1000  # z high = superior
    return Volume(array, (2.0, 2.0, 2.0), (-29.0, -29.0, -29.0), metadata={"modality": "CT"})


def _bright_centroid(pixels: np.ndarray) -> np.ndarray:
    grey = pixels.mean(axis=2)
    rows, cols = np.nonzero(grey > 200)
    return np.array([rows.mean() / pixels.shape[0], cols.mean() / pixels.shape[1]])


def _render(view: SliceView, point) -> np.ndarray:
    def fit() -> None:
        view.reset_camera()
        view.set_slice_point(point)

    return render_to_array(view.renderer, SIZE, before_render=fit)


def test_axial_view_is_radiological(marker_volume: Volume) -> None:
    view = SliceView(SliceOrientation.AXIAL)
    view.set_volume(marker_volume, (2000, 0))
    # Through z index 15: the left marker and the anterior marker are both in this slice.
    image = _render(view, (0.0, 0.0, 1.0))
    grey = image.mean(axis=2)
    h, w = grey.shape
    right_half = grey[int(0.3 * h) : int(0.7 * h), w // 2 :]
    left_half = grey[int(0.3 * h) : int(0.7 * h), : w // 2]
    assert (right_half > 200).sum() > 50, "the patient's left must be on the screen's right"
    assert (left_half > 200).sum() < 10
    top, bottom = grey[: h // 2, int(0.3 * w) : int(0.7 * w)], grey[h // 2 :, int(0.3 * w) : int(0.7 * w)]
    assert (top > 200).sum() > 50, "anterior must be at the top"
    assert (bottom > 200).sum() < 10


def test_coronal_and_sagittal_put_superior_at_the_top(marker_volume: Volume) -> None:
    for orientation, point in ((SliceOrientation.CORONAL, (0.0, 0.0, 0.0)), (SliceOrientation.SAGITTAL, (0, 0, 0))):
        view = SliceView(orientation)
        view.set_volume(marker_volume, (2000, 0))
        image = _render(view, point)
        centroid = _bright_centroid(image[10:-10, 10:-10])
        assert centroid[0] < 0.4, f"{orientation}: superior marker should be in the upper part, got {centroid}"


def test_sagittal_shows_anterior_on_the_left(marker_volume: Volume) -> None:
    view = SliceView(SliceOrientation.SAGITTAL)
    view.set_volume(marker_volume, (2000, 0))
    image = _render(view, (0.0, 0.0, -10.0))
    grey = image.mean(axis=2)
    h, w = grey.shape
    grey = grey[int(0.3 * h) : int(0.75 * h)]  # below the superior marker
    assert (grey[:, : w // 2] > 200).sum() > 50
    assert (grey[:, w // 2 :] > 200).sum() < 10


def test_window_level_changes_brightness(marker_volume: Volume) -> None:
    view = SliceView(SliceOrientation.AXIAL)
    view.set_volume(marker_volume, (400, 40))
    dark = _render(view, (0, 0, 1))
    view.set_window_level(100, -1100)  # air is now above the window: white
    bright = _render(view, (0, 0, 1))
    assert bright.mean() > dark.mean() + 100
    with pytest.raises(ValueError, match="positive"):
        view.set_window_level(0, 10)


def test_label_overlay_is_drawn_in_the_segment_colour(marker_volume: Volume) -> None:
    view = SliceView(SliceOrientation.AXIAL)
    view.set_volume(marker_volume, (400, 40))
    labels = marker_volume.with_array((marker_volume.array > 0).astype(np.uint8))
    view.set_labelmap(labels, {1: (0.0, 1.0, 0.0)}, opacity=1.0)
    image = _render(view, (0, 0, 1)).astype(int)
    green = (image[..., 1] > 200) & (image[..., 0] < 60) & (image[..., 2] < 60)
    assert green.sum() > 100
    view.set_label_colours({}, opacity=1.0)  # hidden segment
    image = _render(view, (0, 0, 1)).astype(int)
    green = (image[..., 1] > 200) & (image[..., 0] < 60) & (image[..., 2] < 60)
    assert green.sum() == 0


def test_slice_navigation_is_clamped_and_counts_slices(marker_volume: Volume) -> None:
    view = SliceView(SliceOrientation.AXIAL)
    view.set_volume(marker_volume)
    assert view.slice_count == 30
    assert view.slice_index == 15  # reset goes to the middle (index 14.5 rounds to the upper slice)
    view.set_slice_index(3)
    assert view.slice_index == 3
    view.move_slice(-10)
    assert view.slice_index == 0
    view.move_slice(1000)
    assert view.slice_index == 29
    assert view.slice_offset_mm == pytest.approx(29.0)


def test_scene3d_shows_and_hides_models(tmp_path, marker_volume: Volume) -> None:
    scene = Scene3D()
    mask = marker_volume.array > 0
    scene.set_mesh("markers", mesh_from_mask(mask, marker_volume.geometry), color=(1.0, 0.1, 0.1))
    scene.reset_camera("anterior")
    image = render_to_array(scene.renderer, SIZE).astype(int)
    red = (image[..., 0] > 120) & (image[..., 1] < 80)
    assert red.sum() > 200
    scene.set_display("markers", visible=False)
    image = render_to_array(scene.renderer, SIZE).astype(int)
    assert ((image[..., 0] > 120) & (image[..., 1] < 80)).sum() == 0
    with pytest.raises(ValueError, match="unknown view"):
        scene.reset_camera("sideways")
    path = render_to_png(scene.renderer, tmp_path / "scene.png", SIZE)
    assert path.stat().st_size > 500


def test_crosshair_lines_cross_at_the_point(marker_volume: Volume) -> None:
    view = SliceView(SliceOrientation.AXIAL)
    view.set_volume(marker_volume, (2000, 3000))  # everything black: only the lines are bright
    point = (10.0, -10.0, 0.0)
    view.set_crosshair(point)
    assert view.crosshair_visible

    def fit() -> None:
        view.reset_camera()
        view.set_slice_point(point)

    image = render_to_array(view.renderer, SIZE, before_render=fit).astype(int)
    cyan = (image[..., 2] > 60) & (image[..., 0] < image[..., 2] - 20)
    rows, cols = np.nonzero(cyan)
    assert cyan.sum() > 100
    # x = +10 mm (patient left: screen right of centre), y = -10 mm (anterior: above centre).
    column = np.bincount(cols).argmax() / SIZE[0]
    row = np.bincount(rows).argmax() / SIZE[1]
    assert column > 0.55
    assert row < 0.45
    view.move_slice(-8)  # towards the camera: the lines follow the slice and stay visible
    image = render_to_array(view.renderer, SIZE).astype(int)
    assert ((image[..., 2] > 60) & (image[..., 0] < image[..., 2] - 20)).sum() > 100
    view.set_crosshair(None)
    assert not view.crosshair_visible


def test_labels_above_the_coloured_range_stay_hidden_and_in_place_edits_redraw(marker_volume: Volume) -> None:
    view = SliceView(SliceOrientation.AXIAL)
    view.set_volume(marker_volume, (400, 40))
    labels = marker_volume.with_array((marker_volume.array > 0).astype(np.uint8) * 5)  # label 5: a hidden segment
    view.set_labelmap(labels, {1: (0.0, 1.0, 0.0)}, opacity=1.0)

    def green(image: np.ndarray) -> int:
        image = image.astype(int)
        return int(((image[..., 1] > 200) & (image[..., 0] < 60) & (image[..., 2] < 60)).sum())

    assert green(_render(view, (0, 0, 1))) == 0
    labels.array[labels.array == 5] = 1  # painted in place, as the editor does
    view.labelmap_modified()
    assert green(_render(view, (0, 0, 1))) > 100
