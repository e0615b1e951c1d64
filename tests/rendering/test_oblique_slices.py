"""Oblique reslicing and the scale bar of the slice views, rendered offscreen."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.volume import Volume
from rendering.offscreen import render_to_array
from rendering.orientation import SliceOrientation
from rendering.slice_view import SliceView, label_outline, nice_length

SIZE = (240, 240)
TILT_DEG = 30.0


@pytest.fixture(scope="module")
def tilted_plate() -> Volume:
    """A 2 mm thick bright plate through the centre, tilted 30 degrees from axial about the left-right axis."""
    shape = (60, 60, 60)  # z, y, x at 1 mm
    z, y, _ = np.indices(shape, dtype=float) - 29.5
    normal = np.array([0.0, np.sin(np.radians(TILT_DEG)), np.cos(np.radians(TILT_DEG))])  # (x, y, z) in LPS
    distance = y * normal[1] + z * normal[2]
    array = np.where(np.abs(distance) <= 1.0, 1000, -1000).astype(np.int16)
    return Volume(array, (1.0, 1.0, 1.0), (-29.5, -29.5, -29.5), metadata={"modality": "CT"})


def bright_fraction(view: SliceView) -> float:
    pixels = render_to_array(view.renderer, SIZE)
    return float((pixels.mean(axis=2) > 200).mean())


def test_tilting_the_axial_plane_onto_an_oblique_plate_shows_the_whole_plate(tilted_plate: Volume) -> None:
    view = SliceView(SliceOrientation.AXIAL)
    view.set_volume(tilted_plate, (2000, 0))
    view.set_slice_point((0.0, 0.0, 0.0))
    across = bright_fraction(view)  # the axial plane cuts the plate in a thin band
    # Tilt about the screen's horizontal (left-right) axis until the plane lies in the plate.
    view.rotate_plane(-TILT_DEG, "horizontal", point=(0.0, 0.0, 0.0))
    normal = np.asarray(view.axes.normal)
    expected = np.array([0.0, np.sin(np.radians(TILT_DEG)), np.cos(np.radians(TILT_DEG))])
    if abs(normal @ expected) < 0.99:  # the other sense of rotation is the same plane tilted the other way
        view.rotate_plane(2 * TILT_DEG, "horizontal", point=(0.0, 0.0, 0.0))
        normal = np.asarray(view.axes.normal)
    assert abs(normal @ expected) == pytest.approx(1.0, abs=1e-9)
    along = bright_fraction(view)
    assert view.oblique
    assert across < 0.08
    assert along > 0.35  # most of the 60 mm plate fills the view (the rest is outside the cube's corners)
    assert along > 5 * across


def test_oblique_letters_step_and_reset(tilted_plate: Volume) -> None:
    view = SliceView(SliceOrientation.CORONAL)
    view.set_volume(tilted_plate, (2000, 0))
    standard = view.axes
    view.rotate_plane(45.0, "vertical")
    # Coronal seen from the front (R on the left); a 45 degree turn about S mixes left/right with front/back.
    assert sorted(view.axes.left) == sorted("RA") or sorted(view.axes.left) == sorted("RP")
    assert view.axes.top == "S"
    assert view.slice_step_mm == pytest.approx(1.0)
    n = np.asarray(view.axes.normal)
    assert np.degrees(np.arccos(n @ standard.normal)) == pytest.approx(45.0, abs=1e-6)
    picked = view.pick_point(100.0, 80.0)
    focal = np.asarray(view.renderer.GetActiveCamera().GetFocalPoint())
    assert (picked - focal) @ n == pytest.approx(0.0, abs=1e-6)  # picks land on the oblique plane
    view.reset_plane()
    assert view.axes == standard
    assert not view.oblique
    with pytest.raises(ValueError, match="parallel"):
        view.set_plane((0, 0, 1), (0, 0, 2))
    with pytest.raises(ValueError, match="'vertical' or 'horizontal'"):
        view.rotate_plane(5, "diagonal")


def test_nice_lengths() -> None:
    assert [nice_length(v) for v in (0.7, 1.0, 1.9, 4.99, 7.0, 19.0, 49.0, 120.0)] == [
        0.5, 1.0, 1.0, 2.0, 5.0, 10.0, 20.0, 100.0]
    with pytest.raises(ValueError, match="positive"):
        nice_length(0.0)


def test_scale_bar_is_as_long_as_it_says(tilted_plate: Volume) -> None:
    view = SliceView(SliceOrientation.AXIAL)
    view.set_volume(tilted_plate, (2000, 0))
    for zoom in (1.0, 3.0):
        def fit(zoom=zoom) -> None:
            view.reset_camera()
            camera = view.renderer.GetActiveCamera()
            camera.SetParallelScale(camera.GetParallelScale() / zoom)

        pixels = render_to_array(view.renderer, SIZE, before_render=fit)
        mm_per_pixel = 2.0 * view.renderer.GetActiveCamera().GetParallelScale() / SIZE[1]
        length = view.scale_bar_mm
        assert length is not None
        # The bar is the long run of the letter colour in the bottom rows (right of the slice information).
        bottom = pixels[SIZE[1] - 24 : SIZE[1] - 10, SIZE[0] // 2 :].astype(int)
        yellow = (bottom[..., 0] > 180) & (bottom[..., 1] > 150) & (bottom[..., 2] < 140)
        row = yellow[np.argmax(yellow.sum(axis=1))]
        columns = np.nonzero(row)[0]
        assert (columns.max() - columns.min()) * mm_per_pixel == pytest.approx(length, abs=2.5 * mm_per_pixel)
        assert 0.08 * SIZE[0] <= length / mm_per_pixel <= 0.21 * SIZE[0]


def test_label_outline_is_one_voxel_inside_each_segment() -> None:
    labels = np.zeros((5, 12, 12), np.uint8)
    labels[:, 2:8, 2:8] = 1  # a 6x6 square prism
    labels[:, 8:11, 2:8] = 2  # touching a second segment below it
    outline = label_outline(labels, (1, 2))  # axial: rows and columns
    assert set(np.unique(outline)) == {0, 1, 2}
    assert (outline[2] == 1).sum() == 20  # the 6x6 square's ring
    assert (outline[2] == 2).sum() == 3 * 6 - 1 * 4  # 3x6 block: all but its 4 interior voxels
    assert np.all((outline == 0) | (outline == labels))
    # Along z the prism runs through: with the slice axis left out, no cap voxels appear.
    assert (label_outline(labels, (1, 2))[0] == 1).sum() == 20


def test_outlined_segments_draw_their_rim_only(tilted_plate: Volume) -> None:
    labels = np.zeros(tilted_plate.array.shape, np.uint8)
    z, y, x = np.indices(labels.shape) - 29.5
    labels[x**2 + y**2 + z**2 < 20.0**2] = 1
    labelmap = Volume(labels, tilted_plate.spacing, tilted_plate.origin)
    view = SliceView(SliceOrientation.AXIAL)
    view.set_volume(tilted_plate, (2000, -5000))  # a black image: only the overlay shows
    view.set_labelmap(labelmap, {1: (1.0, 0.0, 0.0)}, opacity=1.0)

    def red_pixels() -> np.ndarray:
        image = render_to_array(view.renderer, SIZE, before_render=view.reset_camera).astype(int)
        return (image[..., 0] > 150) & (image[..., 1] < 80)

    filled = red_pixels()
    view.set_overlay_style(fill=False, outline=True)
    ring = red_pixels()
    assert view.overlay_style == (False, True)
    assert ring.sum() < 0.25 * filled.sum()
    rows, cols = np.nonzero(ring)
    radius = np.hypot(rows - rows.mean(), cols - cols.mean())
    assert radius.std() < 0.08 * radius.mean()  # a circle's rim, not a disc
    view.set_overlay_style(fill=False, outline=False)
    assert red_pixels().sum() == 0


def test_an_edit_redraws_the_outline_where_it_changed_as_a_full_redraw_would(tilted_plate: Volume) -> None:
    from rendering.slice_view import changed_region

    labels = np.zeros(tilted_plate.array.shape, np.uint8)
    labels[10:40, 12:30, 12:30] = 1
    labelmap = Volume(labels, tilted_plate.spacing, tilted_plate.origin)
    view = SliceView(SliceOrientation.AXIAL)
    view.set_volume(tilted_plate, (2000, -5000))
    view.set_labelmap(labelmap, {1: (1.0, 0.0, 0.0), 2: (0.0, 1.0, 0.0)}, opacity=1.0)
    view.set_overlay_style(fill=False, outline=True)
    shown = view._outline_slice.GetMapper().GetInput()
    for stroke in ((slice(20, 23), slice(25, 35), slice(25, 35), 2),  # a brush stroke across the edge, other label
                   (slice(0, 60), slice(12, 30), slice(12, 14), 0),  # an erase along the whole stack
                   (slice(59, 60), slice(0, 3), slice(57, 60), 1)):  # a corner voxel block at the volume's edge
        *box, value = stroke
        labels[tuple(box)] = value
        view.labelmap_modified()
        assert view._outline_slice.GetMapper().GetInput() is shown  # updated in place, not rebuilt
        assert np.array_equal(view._outline_voxels, label_outline(labels, (1, 2)))
    view.labelmap_modified()  # no change: nothing to do
    assert changed_region(labels, labels.copy()) is None
    assert changed_region(np.pad(labels[:1, :1, :1], 1), np.zeros((3, 3, 3), np.uint8)) in (
        None, (slice(1, 2), slice(1, 2), slice(1, 2)))
