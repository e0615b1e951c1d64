"""Workstation interactivity on this machine's OpenGL (software Mesa llvmpipe on the 2-core machines): frame times of
the 3-D view while the camera turns, with the phantom's meshes and with volume rendering, with and without level of
detail; and the time to reslice and draw a slice view of a 512x512x300 volume while scrolling.

Peers, measured in the same run on the same data and window size:

* 3-D meshes: a plain pyvista ``Plotter`` with ``add_mesh`` at default settings;
* volume: a plain pyvista ``Plotter.add_volume`` at default settings (``smart`` mapper: GPU ray casting, which runs
  on llvmpipe here) with the same transfer function;
* slices: VTK's ``vtkImageViewer2`` (reslice into a 2-D image + image actor), the classic plain-VTK slice viewer,
  scrolling the same way.

Every frame is one ``Render()`` of an offscreen window after turning the camera 4 degrees (3-D) or moving one slice
(2-D); the figures are the median and the 95th percentile of the frame times (goal: < 50 ms 3-D while interacting,
< 30 ms per slice update).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

import rendering.vtk_init  # noqa: F401  (EGL without a display; the OpenGL back ends)
from benchmarks.common import Table

WINDOW = (800, 600)
SLICE_WINDOW = (512, 512)
TURN_DEG = 4.0


class FrameTimes(np.ndarray):
    """Wall-clock seconds per frame, with ``cpu_s``: the process's CPU seconds per frame (all its threads, Mesa's
    included), which the other processes on a loaded machine do not inflate."""

    cpu_s: float = 0.0


def _frame_times(render: Callable[[], None], step: Callable[[], None], frames: int, warmup: int = 2) -> FrameTimes:
    """Seconds per frame of ``step(); render()``, after ``warmup`` untimed frames."""
    for _ in range(warmup):
        step()
        render()
    times = []
    cpu = 0.0
    for _ in range(frames):
        step()
        start, start_cpu = time.perf_counter(), time.process_time()
        render()
        times.append(time.perf_counter() - start)
        cpu += time.process_time() - start_cpu
    result = np.asarray(times).view(FrameTimes)
    result.cpu_s = cpu / frames
    return result


def _stats(times: np.ndarray) -> tuple[float, float]:
    return float(np.median(times)), float(np.percentile(times, 95))


def _add(table: Table, path: str, ours: FrameTimes, peer: FrameTimes | None, peer_name: str, note: str = "") -> None:
    ours_median, ours_p95 = _stats(ours)
    peer_median, peer_p95 = _stats(peer) if peer is not None else (None, None)
    cpu = f"CPU {ours.cpu_s * 1e3:.0f} ms/frame" + (f" (peer {peer.cpu_s * 1e3:.0f})" if peer is not None else "")
    table.add(f"{path}, median", ours_median * 1e3, peer_median * 1e3 if peer_median else None, unit="ms",
              peer_name=peer_name, note="; ".join(n for n in (note, cpu) if n))
    table.add(f"{path}, p95", ours_p95 * 1e3, peer_p95 * 1e3 if peer_p95 else None, unit="ms", peer_name=peer_name)


def _scene_window(scene):
    from vtkmodules.vtkRenderingCore import vtkRenderWindow

    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetMultiSamples(0)
    window.SetSize(*WINDOW)
    scene.attach(window)
    return window


def _pyvista_plotter():
    import pyvista as pv

    plotter = pv.Plotter(off_screen=True, window_size=list(WINDOW))
    return plotter


def _turn(renderer) -> Callable[[], None]:
    camera = renderer.GetActiveCamera()

    def step() -> None:
        camera.Azimuth(TURN_DEG)
        renderer.ResetCameraClippingRange()

    return step


def _meshes(table: Table, phantom, frames: int) -> None:
    import pyvista as pv

    from imaging.meshing import mesh_from_mask
    from rendering.scene3d import Scene3D
    from rendering.vtk_convert import mesh_to_polydata

    geometry = phantom.ct.geometry
    meshes = {"bone": (mesh_from_mask(phantom.labels == 4, geometry), (0.95, 0.91, 0.80)),
              "vessels": (mesh_from_mask(phantom.labels == 9, geometry), (0.85, 0.12, 0.12))}
    triangles = sum(m.n_faces for m, _ in meshes.values())
    scene = Scene3D(mapper_kind="cpu")
    for key, (mesh, colour) in meshes.items():
        scene.set_mesh(key, mesh, color=colour)
    scene.reset_camera("anterior", zoom=1.1)
    window = _scene_window(scene)
    full = _frame_times(window.Render, _turn(scene.renderer), frames)
    scene.set_interacting(True)
    coarse_triangles = scene.triangle_count()
    lod = _frame_times(window.Render, _turn(scene.renderer), frames)
    scene.set_interacting(False)
    scene.detach(window)
    window.Finalize()

    plotter = _pyvista_plotter()
    for mesh, colour in meshes.values():
        plotter.add_mesh(pv.wrap(mesh_to_polydata(mesh)), color=colour)
    plotter.view_xz()
    plotter.show(auto_close=False)  # pyvista's render() draws nothing before the first show()
    peer = _frame_times(plotter.render_window.Render, _turn(plotter.renderer), frames)
    plotter.close()
    _add(table, f"3D meshes ({triangles:,} triangles), full detail", full, peer, "pyvista add_mesh")
    _add(table, f"3D meshes while interacting, LOD ({coarse_triangles:,} triangles)", lod, peer, "pyvista add_mesh",
         note="goal < 50 ms")


def _volume(table: Table, phantom, frames: int) -> None:
    import pyvista as pv

    from rendering.scene3d import Scene3D
    from rendering.transfer_functions import load_preset
    from rendering.volume_rendering import choose_mapper_kind
    from rendering.vtk_convert import volume_to_image_data

    tf = load_preset("ct_angio")
    kind = choose_mapper_kind()
    scene = Scene3D(mapper_kind=kind)
    scene.set_volume(phantom.ct, transfer_function=tf, visible=True)
    scene.reset_camera("anterior", zoom=1.1)
    window = _scene_window(scene)
    still = _frame_times(window.Render, _turn(scene.renderer), frames)
    scene.set_interacting(True)
    lod = _frame_times(window.Render, _turn(scene.renderer), frames, warmup=6)  # lets the adaptive LOD settle
    isd = scene.volume_rendering.mapper.GetImageSampleDistance()
    scene.set_interacting(False)
    scene.detach(window)
    window.Finalize()

    plotter = _pyvista_plotter()
    grid = pv.wrap(volume_to_image_data(phantom.ct))
    actor = plotter.add_volume(grid, scalars="values", show_scalar_bar=False)
    actor.GetProperty().SetScalarOpacity(tf.opacity_function())
    actor.GetProperty().SetColor(tf.color_function())
    plotter.view_xz()
    plotter.show(auto_close=False)
    peer_frames = max(3, frames // 4)  # the GPU ray caster on llvmpipe takes seconds per frame
    peer = _frame_times(plotter.render_window.Render, _turn(plotter.renderer), peer_frames, warmup=1)
    mapper_name = type(actor.GetMapper()).__name__
    plotter.close()
    size = "x".join(str(n) for n in phantom.ct.array.shape[::-1])
    _add(table, f"3D volume {size} ({kind} ray casting), full quality", still, peer,
         f"pyvista add_volume ({mapper_name})")
    _add(table, f"3D volume while interacting, LOD (image sample distance {isd:.1f})", lod, peer,
         f"pyvista add_volume ({mapper_name})", note="goal < 50 ms")


def _synthetic_ct(shape_zyx: tuple[int, int, int]):
    """A 512x512x300-like int16 CT: a body cylinder with bright rods and noise (reslicing cost does not depend on
    what the voxels show, only on their number and type)."""
    from imaging.volume import Volume

    nz, ny, nx = shape_zyx
    y, x = np.mgrid[:ny, :nx]
    body = ((x - nx / 2) ** 2 + (y - ny / 2) ** 2 < (0.45 * nx) ** 2)
    plane = np.where(body, 40, -1000).astype(np.int16)
    rng = np.random.default_rng(0)
    array = np.empty(shape_zyx, np.int16)
    for k in range(nz):
        array[k] = plane + rng.integers(-20, 20, size=plane.shape, dtype=np.int16)
    array[:, ny // 2 - 20: ny // 2 + 20, nx // 2 - 20: nx // 2 + 20] = 700
    return Volume(array, (0.7, 0.7, 1.0), (-179.0, -179.0, -150.0), metadata={"modality": "CT"})


def _slices(table: Table, shape_zyx: tuple[int, int, int], frames: int) -> None:
    from vtkmodules.vtkInteractionImage import vtkImageViewer2
    from vtkmodules.vtkRenderingCore import vtkRenderWindow

    from rendering.orientation import SliceOrientation
    from rendering.slice_view import SliceView
    from rendering.vtk_convert import volume_to_image_data

    volume = _synthetic_ct(shape_zyx)
    size = "x".join(str(n) for n in shape_zyx[::-1])
    for orientation in SliceOrientation:
        view = SliceView(orientation)
        window = vtkRenderWindow()
        window.SetOffScreenRendering(True)
        window.SetMultiSamples(0)
        window.SetSize(*SLICE_WINDOW)
        window.AddRenderer(view.renderer)
        view.set_volume(volume, (400.0, 40.0))
        view.reset_camera()
        direction = [1]

        def scroll(view=view, direction=direction) -> None:
            if not 0 < view.slice_index + direction[0] < view.slice_count - 1:
                direction[0] = -direction[0]
            view.move_slice(direction[0])

        ours = _frame_times(window.Render, scroll, frames)
        window.RemoveRenderer(view.renderer)
        window.Finalize()

        viewer = vtkImageViewer2()
        viewer.SetInputData(volume_to_image_data(volume))
        viewer.SetColorWindow(400.0)
        viewer.SetColorLevel(40.0)
        viewer.GetRenderWindow().SetOffScreenRendering(True)
        viewer.GetRenderWindow().SetMultiSamples(0)
        viewer.SetSize(*SLICE_WINDOW)
        {SliceOrientation.AXIAL: viewer.SetSliceOrientationToXY, SliceOrientation.CORONAL:
         viewer.SetSliceOrientationToXZ, SliceOrientation.SAGITTAL: viewer.SetSliceOrientationToYZ}[orientation]()
        viewer.Render()
        peer_direction = [1]

        def peer_scroll(viewer=viewer, direction=peer_direction) -> None:
            nxt = viewer.GetSlice() + direction[0]
            if not viewer.GetSliceMin() < nxt < viewer.GetSliceMax():
                direction[0] = -direction[0]
                nxt = viewer.GetSlice() + direction[0]
            viewer.SetSlice(nxt)

        peer = _frame_times(viewer.Render, peer_scroll, frames)
        viewer.GetRenderWindow().Finalize()
        _add(table, f"slice view {orientation.label.lower()} scroll, {size} int16", ours, peer, "vtkImageViewer2",
             note="goal < 30 ms")


def run(table: Table, *, quick: bool = False, reps: int = 5) -> None:
    """Frame times of the 3-D view (meshes, volume; with and without LOD) and slice-view reslicing."""
    from imaging.phantom import generate_abdomen
    from rendering.volume_rendering import opengl_renderer_name

    print(f"  OpenGL renderer: {opengl_renderer_name()}; window {WINDOW[0]}x{WINDOW[1]} (3-D), "
          f"{SLICE_WINDOW[0]}x{SLICE_WINDOW[1]} (slices); load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs (frame times scale with it)", flush=True)
    frames = max(10, 6 * reps)
    phantom = generate_abdomen((128, 128, 96) if quick else (256, 256, 200), seed=0)
    _meshes(table, phantom, frames)
    _volume(table, phantom, frames)
    _slices(table, (120, 256, 256) if quick else (300, 512, 512), frames)
