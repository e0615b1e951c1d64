"""The 3-D view rendered offscreen: volume-rendering presets, models, clipping, orientation marker and level of
detail, compared against reviewed reference images (tests/rendering/references).

Regenerate the references after an intended change with ``SURGITWIN_UPDATE_REFERENCES=1`` and look at every
image before committing it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow

from imaging.meshing import mesh_from_mask
from imaging.phantom import generate_abdomen
from rendering.clipping import Clipping, ClippingError, ClipPlane, axis_plane
from rendering.scene3d import LOD_MIN_FACES, Scene3D
from rendering.transfer_functions import TransferFunction, TransferFunctionError, load_preset, preset_names
from rendering.volume_rendering import (
    MAPPER_ENV,
    VolumeRendering,
    VolumeRenderingError,
    choose_mapper_kind,
    is_software_renderer,
    opengl_renderer_name,
)

REFERENCES = Path(__file__).parent / "references"
UPDATE = os.environ.get("SURGITWIN_UPDATE_REFERENCES") == "1"
SIZE = (160, 160)
PHANTOM_SIZE = (80, 80, 60)  # 5 x 5 x 5 mm voxels: small enough for ~0.3 s per software frame

# Tolerances: the same mapper on another Mesa/VTK build differs by a few grey levels on edges; a wrong transfer
# function, preset, placement or clipping changes far more (see test_comparison_detects_a_broken_pipeline).
MAX_MEAN_ABS_DIFF = 4.0
MAX_BAD_FRACTION = 0.02
BAD_PIXEL_DIFF = 48
# The GPU ray caster samples twice as densely: thin structures differ more, the picture stays the same.
GPU_MAX_MEAN_ABS_DIFF = 10.0
GPU_MAX_BAD_FRACTION = 0.12


@dataclass
class Comparison:
    """How far an image is from its reference."""

    mean_abs_diff: float
    bad_fraction: float

    def ok(self, mean_tol: float = MAX_MEAN_ABS_DIFF, fraction_tol: float = MAX_BAD_FRACTION) -> bool:
        return self.mean_abs_diff <= mean_tol and self.bad_fraction <= fraction_tol

    def __str__(self) -> str:
        return f"mean |diff| {self.mean_abs_diff:.2f} grey levels, {100 * self.bad_fraction:.2f} % pixels off"


def compare(image: np.ndarray, reference: np.ndarray) -> Comparison:
    """Mean absolute difference over all channels and the fraction of pixels off by more than BAD_PIXEL_DIFF."""
    assert image.shape == reference.shape, f"image {image.shape} vs reference {reference.shape}"
    diff = np.abs(image.astype(np.int16) - reference.astype(np.int16))
    return Comparison(float(diff.mean()), float((diff.max(axis=2) > BAD_PIXEL_DIFF).mean()))


def reference(name: str, image: np.ndarray | None = None) -> np.ndarray:
    """The stored reference ``name`` (written from ``image``, when given, while updating references)."""
    path = REFERENCES / f"{name}.png"
    if UPDATE and image is not None:
        REFERENCES.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
    if not path.exists():
        pytest.fail(f"reference image {path} is missing; run with SURGITWIN_UPDATE_REFERENCES=1 and review it")
    return np.asarray(Image.open(path).convert("RGB"))


def assert_matches(name: str, image: np.ndarray, *, update: bool = True, **tolerances: float) -> None:
    result = compare(image, reference(name, image if update else None))
    if not result.ok(**tolerances):
        failed = Path(tempfile.gettempdir()) / f"surgitwin-failed-{name}.png"
        Image.fromarray(image).save(failed)
        pytest.fail(f"{name}: {result}; the image is in {failed}")


@pytest.fixture(scope="module")
def phantom():
    return generate_abdomen(PHANTOM_SIZE, seed=0)


@pytest.fixture(scope="module")
def phantom_meshes(phantom):
    geometry = phantom.ct.geometry
    return {name: mesh_from_mask(phantom.labels == label, geometry) for name, label in (("bone", 4), ("aorta", 9))}


def volume_scene(phantom, preset: str | TransferFunction, *, kind: str = "cpu", view: str = "anterior",
                 clipping: Clipping | None = None) -> Scene3D:
    scene = Scene3D(mapper_kind=kind)
    tf = load_preset(preset) if isinstance(preset, str) else preset
    scene.set_volume(phantom.ct, transfer_function=tf, visible=True)
    if clipping is not None:
        scene.set_clipping(clipping)
    scene.reset_camera(view, zoom=1.3)
    return scene


# --- reference images ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["ct_bone", "ct_angio", "ct_soft_tissue", "mr_default"])
def test_preset_matches_reference(phantom, preset: str) -> None:
    image = volume_scene(phantom, preset).render_to_array(SIZE)
    assert_matches(f"volume_{preset}", image)


def test_meshes_match_reference(phantom_meshes) -> None:
    scene = Scene3D(mapper_kind="cpu")
    scene.set_mesh("bone", phantom_meshes["bone"], color=(0.95, 0.91, 0.80))
    scene.set_mesh("aorta", phantom_meshes["aorta"], color=(0.85, 0.12, 0.12))
    scene.reset_camera("left", zoom=1.0)
    assert_matches("meshes_left", scene.render_to_array(SIZE))


def test_clipped_volume_and_meshes_match_reference(phantom, phantom_meshes) -> None:
    """Box and plane clip the models and the volume alike (the volume is placed off the origin, so a plane applied in
    the wrong frame would show)."""
    clipping = Clipping((axis_plane("coronal", 10.0, keep="above"),), box=[[-200, -200, -150], [60, 200, 100]])
    scene = volume_scene(phantom, "ct_bone", clipping=clipping)
    scene.set_mesh("aorta", phantom_meshes["aorta"], color=(0.2, 0.4, 1.0))
    assert_matches("clipped_anterior", scene.render_to_array(SIZE))


# --- the comparison must catch a broken pipeline -------------------------------------------------------------------
def test_comparison_detects_a_broken_pipeline(phantom) -> None:
    bone_reference = reference("volume_ct_bone")
    empty = load_preset("ct_bone").with_opacity_points([(-3024, 0.0), (3071, 0.0)])
    broken = {
        "empty transfer function": volume_scene(phantom, empty),
        "wrong preset": volume_scene(phantom, "ct_angio"),
        "shifted transfer function": volume_scene(phantom, load_preset("ct_bone").shifted(300)),
        "clipped away": volume_scene(phantom, "ct_bone", clipping=Clipping((axis_plane("axial", 60.0),))),
    }
    unplaced = volume_scene(phantom, "ct_bone")
    unplaced.volume_rendering.prop.SetUserMatrix(None)  # voxels at the origin instead of their LPS position
    broken["volume not placed in LPS"] = unplaced
    for what, scene in broken.items():
        result = compare(scene.render_to_array(SIZE), bone_reference)
        assert not result.ok(), f"{what} was not detected: {result}"


# --- mappers ------------------------------------------------------------------------------------------------------
def test_gpu_ray_caster_draws_the_same_picture(phantom) -> None:
    """vtkGPUVolumeRayCastMapper (used on a real GPU) against the CPU reference; it also runs on Mesa, slowly."""
    image = volume_scene(phantom, "ct_bone", kind="gpu").render_to_array(SIZE)
    assert_matches("volume_ct_bone", image, update=False, mean_tol=GPU_MAX_MEAN_ABS_DIFF,
                   fraction_tol=GPU_MAX_BAD_FRACTION)


def test_mapper_is_chosen_from_the_opengl_renderer(monkeypatch) -> None:
    assert is_software_renderer("llvmpipe (LLVM 15.0.6, 256 bits)")
    assert is_software_renderer("softpipe")
    assert not is_software_renderer("NVIDIA H200/PCIe/SSE2")
    assert not is_software_renderer("AMD Radeon Pro W7900 (radeonsi, navi31, LLVM 15.0.7, DRM 3.54)")
    monkeypatch.delenv(MAPPER_ENV, raising=False)
    name = opengl_renderer_name()
    assert name, "the OpenGL renderer string could not be read"
    window = vtkRenderWindow()  # a view's own window gives the same answer (rendered once to ask)
    window.SetOffScreenRendering(True)
    window.SetSize(8, 8)
    window.AddRenderer(vtkRenderer())
    assert opengl_renderer_name(window) == name
    window.Finalize()
    assert choose_mapper_kind() == ("cpu" if is_software_renderer(name) else "gpu")
    monkeypatch.setenv(MAPPER_ENV, "gpu")
    assert choose_mapper_kind() == "gpu"
    monkeypatch.setenv(MAPPER_ENV, "fast")
    with pytest.raises(VolumeRenderingError, match="gpu, cpu or auto"):
        choose_mapper_kind()
    with pytest.raises(VolumeRenderingError, match="'gpu' or 'cpu'"):
        VolumeRendering("vulkan")  # type: ignore[arg-type]


def test_complex_voxels_are_refused(phantom) -> None:
    vr = VolumeRendering("cpu")
    with pytest.raises(VolumeRenderingError, match="complex128"):
        vr.set_volume(phantom.ct.with_array(phantom.ct.array.astype(np.complex128)))


# --- orientation marker, camera presets ---------------------------------------------------------------------------
def test_orientation_marker_turns_with_the_camera(phantom_meshes) -> None:
    scene = Scene3D(mapper_kind="cpu")
    scene.set_mesh("bone", phantom_meshes["bone"])
    corners = {}
    for view in ("anterior", "left"):
        scene.reset_camera(view)
        corners[view] = scene.render_to_array(SIZE)[-40:, :40].astype(int)  # bottom-left: the marker
    assert corners["anterior"].std() > 10, "the marker should be drawn in the bottom-left corner"
    assert np.abs(corners["anterior"] - corners["left"]).mean() > 5, "the marker should show another face"
    scene.orientation_marker.set_visible(False)
    scene.reset_camera("anterior")
    hidden = scene.render_to_array(SIZE)[-40:, :40].astype(int)
    assert np.abs(hidden - corners["anterior"]).mean() > 5


def test_camera_presets_look_from_the_named_side(phantom_meshes) -> None:
    """The aorta lies anterior to the spine: seen from the front, it covers the vertebrae (red in the middle)."""
    scene = Scene3D(mapper_kind="cpu")
    scene.set_mesh("bone", phantom_meshes["bone"], color=(1.0, 1.0, 1.0))
    scene.set_mesh("aorta", phantom_meshes["aorta"], color=(1.0, 0.0, 0.0))
    red = {}
    for view in ("anterior", "posterior"):
        scene.reset_camera(view, zoom=1.3)
        image = scene.render_to_array(SIZE).astype(int)
        red[view] = ((image[..., 0] > 120) & (image[..., 1] < 60)).sum()
    assert red["anterior"] > 3 * max(red["posterior"], 1), red
    with pytest.raises(ValueError, match="unknown view"):
        scene.reset_camera("dorsal")


# --- clipping semantics -------------------------------------------------------------------------------------------
def test_axial_plane_keeps_the_chosen_side(phantom) -> None:
    for keep in ("above", "below"):
        scene = volume_scene(phantom, "ct_bone", clipping=Clipping((axis_plane("axial", 0.0, keep=keep),)))
        grey = scene.render_to_array(SIZE).astype(int).sum(axis=2)
        background = grey[:, -3:-2]  # per row: the background is a vertical gradient
        drawn = np.abs(grey - background) > 60
        drawn[-45:, :45] = False  # the orientation marker
        upper, lower = drawn[: SIZE[1] // 2 - 4].sum(), drawn[SIZE[1] // 2 + 4 :].sum()
        kept, removed = (upper, lower) if keep == "above" else (lower, upper)  # superior is up seen from the front
        assert kept > 500, (keep, upper, lower)
        assert removed < 0.05 * kept, (keep, upper, lower)


def test_clipping_merges_box_and_axis_planes() -> None:
    box = [[-10, -10, -10], [10, 10, 10]]
    clipping = Clipping((axis_plane("axial", 5.0, keep="below"), axis_plane("sagittal", -20.0)), box=box)
    planes = clipping.effective_planes()
    assert len(planes) == 6
    assert clipping.keeps([[0, 0, 4], [0, 0, 6], [-15, 0, 0]]).tolist() == [True, False, False]
    oblique = [ClipPlane((0, 0, 0), (1, 1, 0))]
    assert len(Clipping(tuple(oblique)).effective_planes()) == 1
    with pytest.raises(ClippingError, match="at most 6"):
        Clipping(tuple(oblique), box=box).to_vtk()
    with pytest.raises(ClippingError, match="min < max"):
        Clipping(box=[[0, 0, 0], [0, 1, 1]])
    with pytest.raises(ClippingError, match="non-zero"):
        ClipPlane((0, 0, 0), (0, 0, 0))
    with pytest.raises(ClippingError, match="unknown plane"):
        axis_plane("transverse", 0.0)


def test_scene_refuses_too_many_planes_and_keeps_the_previous_clipping(phantom_meshes) -> None:
    scene = Scene3D(mapper_kind="cpu")
    scene.set_mesh("bone", phantom_meshes["bone"])
    scene.set_clipping(Clipping((axis_plane("axial", 0.0),)))
    planes = [ClipPlane((0, 0, 0), (1, 0.1 * i, 0.2)) for i in range(7)]
    with pytest.raises(ClippingError):
        scene.set_clipping(Clipping(tuple(planes)))
    assert scene.actor("bone").GetMapper().GetClippingPlanes().GetNumberOfItems() == 1


# --- level of detail ----------------------------------------------------------------------------------------------
def test_level_of_detail_while_interacting(phantom) -> None:
    """Big models are swapped for decimated copies and the volume casts fewer rays while the camera moves."""
    big = generate_abdomen((160, 160, 120), seed=0)
    mesh = mesh_from_mask(big.labels == 4, big.ct.geometry)
    assert mesh.n_faces > LOD_MIN_FACES
    scene = volume_scene(phantom, "ct_bone")
    scene.set_mesh("bone", mesh)
    full = scene.triangle_count()
    scene.set_interacting(True)
    assert scene.triangle_count() < full / 3
    vr = scene.volume_rendering
    assert vr.mapper.GetImageSampleDistance() >= 2.0
    coarse = scene.render_to_array(SIZE)
    assert not scene.renderer.GetGradientBackground()
    scene.set_interacting(False)
    assert scene.triangle_count() == full
    assert vr.mapper.GetImageSampleDistance() == 1.0
    fine = scene.render_to_array(SIZE)
    # Coarser, yet the same picture: LOD must not change what is shown (the background turns flat while moving:
    # a shade of grey everywhere, but few pixels far off).
    result = compare(coarse, fine)
    assert result.mean_abs_diff < 25, str(result)
    assert result.bad_fraction < 0.10, str(result)
    assert scene.renderer.GetGradientBackground()


def test_interactive_frame_time_adapts(phantom) -> None:
    vr = volume_scene(phantom, "ct_bone").volume_rendering
    vr.set_interacting(True)
    start = vr.mapper.GetImageSampleDistance()
    for _ in range(10):
        vr.adapt_to_frame_time(0.2)
    assert vr.mapper.GetImageSampleDistance() == pytest.approx(vr.max_image_sample_distance)
    for _ in range(10):
        vr.adapt_to_frame_time(0.001)
    assert vr.mapper.GetImageSampleDistance() == pytest.approx(start)


# --- transfer functions -------------------------------------------------------------------------------------------
def test_presets_hold_slicer_values() -> None:
    assert preset_names()[:4] == ["ct_bone", "ct_angio", "ct_soft_tissue", "mr_default"]
    bone = load_preset("CT bone")
    assert bone.scalar_opacity[2] == pytest.approx((641.385, 0.715686))
    assert bone.shading.specular_power == 10.0
    angio = load_preset("ct_angio")
    assert angio.opacity_at(300.0) > 0.6
    assert angio.opacity_at(100.0) == 0.0
    assert load_preset("mr_default").modality == "MR"
    with pytest.raises(TransferFunctionError, match="unknown volume rendering preset"):
        load_preset("ct_lungs")


def test_transfer_function_edits_and_validation() -> None:
    tf = load_preset("ct_bone")
    shifted = tf.shifted(100.0)
    assert shifted.opacity_at(741.385) == pytest.approx(tf.opacity_at(641.385))
    assert shifted.color_at(741.385) == pytest.approx(tf.color_at(641.385))
    assert TransferFunction.from_dict(tf.to_dict()) == tf
    assert tf.with_opacity_points([(0, 0), (1, 0)]).is_empty
    with pytest.raises(TransferFunctionError, match="strictly increasing"):
        tf.with_opacity_points([(0, 0.0), (0, 1.0)])
    with pytest.raises(TransferFunctionError, match="between 0 and 1"):
        tf.with_opacity_points([(0, 0.0), (10, 1.5)])
    with pytest.raises(TransferFunctionError, match="at least 2"):
        tf.with_color_points([(0, 1, 1, 1)])
    with pytest.raises(TransferFunctionError, match="missing 'color'"):
        TransferFunction.from_dict({"scalar_opacity": [[0, 0], [1, 1]]})
