"""VR: per-frame VTK render time for both eyes of the demo case at 2 x 1852x2056 (Valve Index per-eye size)
through the real OpenXR path on Monado (session, swapchains, located views, GPU blit, projection layer), with and
without level of detail, and the triangle count that fits the 90 Hz budget (11.1 ms) from the measured scaling.

The render time is measured from the first eye's swapchain acquire to the second eye's blit, after ``glFinish``
(so the software GL's work is included and the compositor's 20 Hz pacing is not). The peer is plain VTK drawing
the same scene twice (one image per eye) in an offscreen window of the same size: the cost of VTK alone, with no
runtime in the loop. Needs Monado (``../shared/tools/openxr-monado/build.sh``, built by ``make test``).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Table, median

EYE_SIZE = (1852, 2056)
TOOLS = Path(os.environ.get("VR_TOOLS", Path(__file__).resolve().parents[2] / "shared" / "tools"))


def _monado_env() -> dict[str, str] | None:
    script = TOOLS / "openxr-monado" / "build.sh"
    if not script.is_file():
        return None
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    env = {}
    for line in done.stdout.strip().splitlines()[-3:]:
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    return env


def _scene(quick: bool):
    from app.pipelines.demo_case import DEMO_SIZE, build_demo_case
    from rendering.scene3d import Scene3D

    case = build_demo_case((128, 128, 100) if quick else DEMO_SIZE)
    scene = Scene3D()
    for node in case.meshes:
        scene.set_mesh(node.id, node.mesh, color=node.color)
    keys = scene.keys()
    return scene, [scene.actor(k) for k in keys]


def _run(props, frames: int, lod=None, formats=None):
    from rendering.vr.engine import VREngine
    from rendering.vr.openxr_backend import OpenXRBackend

    engine = VREngine(props, OpenXRBackend(controllers=False, swapchain_formats=formats), eye_size=EYE_SIZE,
                      sync_timing=True, lod=lod, overlay=False)
    result = engine.run(frames=frames + 2, timeout_s=600)
    if result.outcome != "completed":
        raise RuntimeError(f"VR session ended early: {result.message}")
    return result.stats.render_ms[2:]  # the first two frames build GL resources


def _plain_vtk(props, frames: int, mapping_frame) -> list[float]:
    """Peer: the same eyes drawn by VTK alone (two offscreen renders of the eye size), glFinish included."""
    from OpenGL import GL
    from vtkmodules.vtkRenderingCore import vtkRenderer

    from rendering.vr.camera import set_eye_camera
    from rendering.vr.gl import make_vr_window

    mapping, eyes = mapping_frame
    renderer = vtkRenderer()
    for prop in props:
        renderer.AddViewProp(prop)
    window = make_vr_window(EYE_SIZE, renderer)
    times = []
    try:
        for i in range(frames + 2):
            t = time.perf_counter()
            for eye in eyes:
                set_eye_camera(renderer.GetActiveCamera(), eye.eye_to_stage, eye.fov, mapping)
                window.Render()
            GL.glFinish()
            if i >= 2:
                times.append((time.perf_counter() - t) * 1000)
    finally:
        for prop in props:
            renderer.RemoveViewProp(prop)
        window.Finalize()
    return times


def _tissue_frames(tissue, tools, window, renderer, frames: int, synchronous: bool) -> tuple[list, list]:
    """Frame times and solver step times (ms) of a loop that drags the grasped tissue and draws two eyes,
    stepping the solver itself (synchronous) or leaving it to the worker (asynchronous)."""
    from OpenGL import GL

    grasp = tissue.latest().positions_mm[tissue.sim.solver.fixed.argmin()]
    tissue.grab(grasp, radius_mm=tools.grasp_radius_mm)
    times, steps = [], []
    for i in range(frames):
        t = time.perf_counter()
        tissue.drag(np.add(grasp, [0.0, -15.0 * np.sin(i / 10.0), 0.0]))
        if synchronous:
            steps.append(tissue.step_now().step_ms)
        tools.before_render()
        for _ in range(2):  # two eyes
            window.Render()
        GL.glFinish()
        times.append((time.perf_counter() - t) * 1000.0)
    tissue.release()
    return times, steps


def run_tissue(table: Table, *, quick: bool) -> None:
    """Frame time with the soft-tissue solver stepped in the frame loop (synchronous) and in its worker thread."""
    from vtkmodules.vtkRenderingCore import vtkRenderer

    from rendering.vr.async_sim import AsyncTissue
    from rendering.vr.gl import make_vr_window
    from rendering.vr.tissue_tools import VRTissueTools
    from simulation.tissue import TissueSimulation, box_mesh, material

    cells = (10, 8, 6) if quick else (20, 14, 12)
    mesh = box_mesh((80.0, 60.0, 50.0), cells)
    sim = TissueSimulation(mesh, material("liver"), fixed=mesh.points[:, 2] < 1e-6)
    tissue = AsyncTissue(sim)
    tools = VRTissueTools(tissue, own_worker=False)
    renderer = vtkRenderer()
    tools.attach(renderer)
    window = make_vr_window((960, 1066), renderer)  # about half an Index eye a side: the software GL's share
    renderer.ResetCamera()
    frames = 20 if quick else 60
    try:
        tissue.step_now()  # the solver's first factorisation, outside the measurement
        sync, step_times = _tissue_frames(tissue, tools, window, renderer, frames, synchronous=True)
        steps_before = tissue.steps
        tissue.start()
        begun = time.perf_counter()
        async_, _ = _tissue_frames(tissue, tools, window, renderer, frames, synchronous=False)
        rate = (tissue.steps - steps_before) / (time.perf_counter() - begun)
        tissue.stop()
    finally:
        tools.detach()
        window.Finalize()
    step_ms = median(step_times)
    note = (f"{mesh.n_tets:,} tetrahedra, step {step_ms:.0f} ms; p95 {np.percentile(async_, 95):.0f} vs "
            f"{np.percentile(sync, 95):.0f} ms; worker {rate:.0f} steps/s meanwhile")
    table.add("vr: frame with tissue simulation, async worker (ms)", median(async_), median(sync), unit="ms",
              peer_name="solver stepped in the frame", note=note)


def run(table: Table, *, quick: bool, reps: int) -> None:
    """OpenXR render time with and without LOD, the triangle budget, and plain VTK beside them; frame time with
    the tissue simulation synchronous and asynchronous."""
    run_tissue(table, quick=quick)
    env = _monado_env()
    if env is None:
        print("  skipped: Monado not available (run `make test` as root, or ../shared/tools/openxr-monado/build.sh)")
        return
    os.environ.update(env)
    from rendering.vr.engine import VREngine
    from rendering.vr.lod import LODController, fit_triangle_budget
    from rendering.vr.openxr_backend import OpenXRBackend
    from rendering.vr.timing import BUDGET_90HZ_MS

    _scene_alive, props = _scene(quick)  # the Scene3D owns the actors
    frames = 5 if quick else max(10, 2 * reps)
    full_tris = sum(a.GetMapper().GetInput().GetNumberOfPolys() for a in props)
    print(f"  demo case: {full_tris:,} triangles; {frames} frames per measurement at 2 x {EYE_SIZE[0]}x{EYE_SIZE[1]}")

    # One short session to get real located views for the peer.
    captured = {}

    def grab(frame, engine):
        captured["views"] = (engine.mapping, frame.eyes)

    VREngine(props, OpenXRBackend(controllers=False), eye_size=EYE_SIZE, overlay=False).run(
        frames=1, on_frame=grab, timeout_s=120)

    no_lod = _run(props, frames)
    peer = _plain_vtk(props, frames, captured["views"])
    table.add("vr: OpenXR frame, both eyes, no LOD (ms)", median(no_lod), median(peer), unit="ms",
              peer_name="plain VTK, 2 offscreen renders", note=f"{full_tris:,} triangles, p95 "
              f"{np.percentile(no_lod, 95):.0f} ms")

    from OpenGL import GL

    linear = _run(props, frames, formats=[GL.GL_RGBA8])
    table.add("vr: OpenXR frame, both eyes, RGBA8 swapchain (ms)", median(linear), median(no_lod), unit="ms",
              peer_name="sRGB swapchain", note="the sRGB blit is slow on software GL only")

    adaptive = LODController(props, every=3)
    with_lod = _run(props, frames + 9, lod=adaptive)[-frames:]  # after the controller settled
    shown = adaptive.triangles_at(adaptive.last_level)
    table.add("vr: OpenXR frame, both eyes, adaptive LOD (ms)", median(with_lod), median(no_lod), unit="ms",
              peer_name="no LOD", note=f"settled at level {adaptive.last_level} ({shown:,} triangles)")

    fixed = LODController(props, adaptive=False)
    levels = range(len(fixed.fractions))
    per_level = _interleaved_levels(props, fixed, levels, rounds=2 if quick else reps)
    fixed.restore()
    triangles = [fixed.triangles_at(level) for level in levels]
    times = [median(per_level[level]) for level in levels]
    for level in levels:
        print(f"    level {level}: {triangles[level]:>9,} triangles  {times[level]:7.1f} ms per frame")
    fixed_ms, per_million, budget = fit_triangle_budget(triangles, times, BUDGET_90HZ_MS)
    table.add("vr: triangles within 11.1 ms, both eyes (count)", budget, None, unit="triangles",
              note=f"fit: {fixed_ms:.1f} ms + {per_million:.0f} ms per million triangles; the triangles alone "
              f"would allow {1e6 * BUDGET_90HZ_MS / per_million:,.0f}")


def _interleaved_levels(props, lod, levels, rounds: int) -> dict[int, list[float]]:
    """Render times per LOD level in one session, levels taken in turn (A B C A B C) so load drifts hit all."""
    from rendering.vr.engine import VREngine
    from rendering.vr.openxr_backend import OpenXRBackend

    engine = VREngine(props, OpenXRBackend(controllers=False), eye_size=EYE_SIZE, sync_timing=True, lod=lod,
                      overlay=False)
    times: dict[int, list[float]] = {level: [] for level in levels}
    engine.start()
    outcome, message = None, ""
    try:
        for _ in range(rounds):
            for level in levels:
                lod.set_level(level)
                before = engine.stats.submitted
                while outcome is None and engine.stats.submitted < before + 3:
                    outcome, message = engine.step()
                times[level].extend(engine.stats.render_ms[-2:])  # the first frame at a level uploads its mesh
    finally:
        engine.finish(outcome or "stopped", message)
    if outcome is not None:
        raise RuntimeError(f"VR session ended early: {message}")
    return times
