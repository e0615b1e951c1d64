"""``surgitwin vr``: check the VR runtime and headset, or show a case in the headset.

Wiring into :mod:`app.cli.main`::

    from app.cli.vr_commands import COMMANDS as VR_COMMANDS, add_parsers as add_vr_parsers
    add_vr_parsers(sub)                          # in build_parser()
    # and in main(): commands = {..., **VR_COMMANDS}

``surgitwin vr --check [--backend openxr|openvr]`` prints the runtime's name, the headset's name and the
recommended per-eye size and exits 0 when ready; otherwise one line naming what is missing and exit status 1.
``surgitwin vr [PATH] [--frames N] [--stats] [--backend ...]`` opens PATH (a case bundle, DICOM folder, image or
surface file; the demo case without one) in the headset; a runtime that goes away mid-session ends the command
with a plain message (exit status 1), never a traceback. Runs standalone too:
``python -m app.cli.vr_commands vr --check``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from app.cli.standalone import positive_int, run_subcommands

__all__ = ["COMMANDS", "add_parsers", "cmd_vr", "load_vr_case", "main", "segments_of"]

_MESH_SUFFIXES = (".stl", ".obj", ".ply", ".vtp")
_IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


class VRCliError(ValueError):
    """A user error (bad path, bad argument): one line on stderr, exit status 2."""


def _eye_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("×", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"eye size must look like 1852x2056, got {text!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"eye size must be between 16 and 8192 pixels a side, got {text!r}")
    return w, h


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``vr`` on ``subparsers`` (sets ``func``)."""
    p = subparsers.add_parser("vr", help="show a case in a VR headset (OpenXR or OpenVR), or check the runtime")
    p.add_argument("path", nargs="?", type=Path, default=None,
                   help="case bundle, DICOM folder, image or surface file (default: the demo case)")
    p.add_argument("--check", action="store_true", help="find the runtime and headset, print them, exit 0 if ready")
    p.add_argument("--backend", choices=("openxr", "openvr"), default=None,
                   help="VR API (default: OpenXR, then OpenVR)")
    p.add_argument("--frames", type=positive_int, default=None, help="exit after this many frames")
    p.add_argument("--stats", action="store_true",
                   help="print frames submitted and the per-frame render time (median, 95th percentile)")
    p.add_argument("--eye-size", type=_eye_size, default=None, metavar="WxH",
                   help="per-eye image size (default: the runtime's recommendation)")
    p.add_argument("--no-lod", action="store_true", help="always draw the full-resolution meshes")
    p.add_argument("--timeout", type=positive_int, default=None, metavar="S", help="end the session after S seconds")
    p.add_argument("--preview", type=Path, default=None, metavar="DIR",
                   help="no headset: write stereo previews (the exact per-eye cameras) along a walk around the "
                        "table to DIR (--frames images, default 8)")
    p.add_argument("--anaglyph", action="store_true", help="with --preview: red/cyan images instead of side by side")
    p.set_defaults(func=cmd_vr)


def load_vr_case(path: Path | None, progress=None):
    """The case to show: PATH read as a bundle, DICOM folder, image or surface file; the demo case without one.

    A case without surface models gets bone and vessel surfaces from the shipped CT thresholds (as the demo).
    """
    from app.case import Case, MeshNode

    if path is None:
        from app.pipelines.demo_case import build_demo_case

        return build_demo_case(progress=progress)
    if not path.exists():
        raise VRCliError(f"{path}: no such file or folder")
    name = path.name.lower()
    if name.endswith(_MESH_SUFFIXES):
        from imaging.mesh_io import read_mesh_lps

        mesh, _ = read_mesh_lps(path)
        case = Case(path.stem)
        case.add(MeshNode(mesh, path.stem))
        return case
    if (path.is_dir() and (path / "manifest.json").is_file()) or name.endswith(".zip"):
        from app.case.bundle import load_case

        case = load_case(path)
    elif path.is_file() and name.endswith(_IMAGE_SUFFIXES):
        from app.case import VolumeNode
        from imaging.image_io import read_image

        case = Case(path.stem)
        case.add(VolumeNode(read_image(path), path.stem))
    else:
        from app.case import VolumeNode
        from imaging.dicom import read_dicom_volume

        folder = path if path.is_dir() else path.parent
        case = Case(folder.name)
        case.add(VolumeNode(read_dicom_volume(folder, progress=progress), folder.name))
    if not case.meshes and case.volumes:
        _add_threshold_models(case)
    if not case.meshes:
        raise VRCliError(f"{path}: nothing to show in 3-D (no surface models and no image to segment)")
    return case


def _add_threshold_models(case) -> None:
    from app.case import MeshNode
    from app.pipelines.demo_case import segment_bone_and_vessels
    from imaging.meshing import mesh_from_mask
    from imaging.segmentation import load_threshold_presets

    volume = case.volumes[0].volume
    presets = load_threshold_presets()
    colours = {"Bone": presets["bone"].color, "Vessels": presets["contrast_vessels"].color}
    for name, mask in segment_bone_and_vessels(volume).items():
        if mask.any():
            case.add(MeshNode(mesh_from_mask(mask, volume.geometry), name, color=colours[name]))


def _ready_runtime(backend: str | None):
    """The runtime and headset found for ``backend``; None after saying on stderr what is missing."""
    from rendering.vr.check import find_runtime
    from rendering.vr.errors import VRError

    try:
        return find_runtime(backend)
    except VRError as exc:
        print(f"surgitwin vr: not ready: {exc}", file=sys.stderr)
        return None


def _check(args: argparse.Namespace) -> int:
    info = _ready_runtime(args.backend)
    if info is None:
        return 1
    w, h = info.recommended_size
    print(f"backend:     {info.backend}")
    print(f"runtime:     {info.runtime_name}")
    print(f"headset:     {info.system_name}")
    print(f"per eye:     {w}x{h} recommended" + (f", {info.refresh_hz:.0f} Hz" if info.refresh_hz else ""))
    print(f"VR ready: {info.summary()}")
    return 0


def _scene_of(case):
    from rendering.scene3d import Scene3D

    scene = Scene3D()
    for node in case.meshes:
        scene.set_mesh(node.id, node.mesh, color=node.color, opacity=node.opacity, visible=node.visible)
    return scene


def segments_of(case, scene) -> dict:
    """The case's surface models by name (made unique) -> the scene's actors: the VR panel's segment toggles."""
    segments: dict = {}
    for node in case.meshes:
        if node.id not in scene:
            continue
        name, n = node.name or "Model", 2
        while name in segments:
            name, n = f"{node.name} ({n})", n + 1
        segments[name] = scene.actor(node.id)
    return segments


def _preview(args: argparse.Namespace) -> int:
    from rendering.vr.preview import StereoPreview, orbit_head_path
    from rendering.vr.stage import StageMapping

    try:
        case = load_vr_case(args.path)
    except VRCliError as exc:
        print(f"surgitwin: error: {exc}", file=sys.stderr)
        return 2
    scene = _scene_of(case)
    bounds = scene.visible_bounds()
    mapping = StageMapping.in_front_of(bounds)  # a user at the stage origin, as at the start of a session
    centre = mapping.lps_to_stage(bounds.mean(axis=0))[0]
    heads = orbit_head_path(centre, radius_m=0.6, height_m=1.65, n=args.frames or 8, start_deg=0, end_deg=90)
    keys = scene.keys()
    size = args.eye_size or (640, 640)
    preview = StereoPreview([scene.actor(k) for k in keys], mapping, eye_size=size)
    try:
        images = preview.render_path(heads, args.preview, mode="anaglyph" if args.anaglyph else "side-by-side",
                                     convergence_m=0.6)
    finally:
        preview.close()
    print(f"wrote {len(images)} stereo previews ({'anaglyph' if args.anaglyph else 'side by side'}, "
          f"{size[0]}x{size[1]} per eye) of {case.name} to {args.preview}")
    return 0


def cmd_vr(args: argparse.Namespace) -> int:
    """Handler of ``surgitwin vr``."""
    if args.check:
        return _check(args)
    from rendering.vr.check import make_backend
    from rendering.vr.errors import VRError

    if args.path is not None and not args.path.exists():  # before waking the runtime
        print(f"surgitwin: error: {args.path}: no such file or folder", file=sys.stderr)
        return 2
    if args.preview is not None:
        return _preview(args)
    info = _ready_runtime(args.backend)
    if info is None:
        return 1
    t0 = time.perf_counter()
    try:
        case = load_vr_case(args.path)
    except VRCliError as exc:
        print(f"surgitwin: error: {exc}", file=sys.stderr)
        return 2
    from rendering.vr.engine import VREngine
    from rendering.vr.lod import LODController

    scene = _scene_of(case)
    print(f"{case.name}: {len(case.meshes)} models, "
          f"{sum(n.mesh.n_faces for n in case.meshes):,} triangles, ready in {time.perf_counter() - t0:.1f} s; "
          f"{info.summary()}", flush=True)
    from rendering.vr.controls import VRControls

    controls = VRControls(segments=segments_of(case, scene))  # the floating panel, tools and controllers
    engine = VREngine.for_scene(scene, make_backend(info.backend), sync_timing=args.stats, eye_size=args.eye_size,
                                interaction=controls)
    if not args.no_lod:
        engine.lod = LODController(engine.props)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl+C ends the session cleanly
    try:
        result = engine.run(frames=args.frames, timeout_s=args.timeout, stop=stop)
    except VRError as exc:
        print(f"surgitwin vr: could not start the session: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
    if result.outcome == "lost":
        print(f"surgitwin vr: {result.message}", file=sys.stderr)
        return 1
    w, h = result.eye_size
    line = f"{result.backend}: {result.stats.submitted} frames submitted at {w}x{h} per eye ({result.outcome})"
    if args.stats:
        line = f"{result.backend} at {w}x{h} per eye ({result.outcome}): {result.stats.summary()}"
    print(line)
    return 0 if result.ok else 1


COMMANDS = {"vr": cmd_vr}


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (``python -m app.cli.vr_commands vr --check``)."""
    return run_subcommands(add_parsers, argv)


if __name__ == "__main__":
    sys.exit(main())
