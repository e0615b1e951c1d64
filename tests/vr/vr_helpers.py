"""Helpers of the VR tests (a scene with a marker, where the marker appears and should appear)."""

from __future__ import annotations

import numpy as np

MARKER_RADIUS_MM = 20.0


def marker_scene():
    """A flat red sphere (radius 20 mm) at LPS (0, 0, 0) and a grey slab 60 mm posterior to it.

    The sphere is unlit (flat colour), so its pixels are found exactly and its centroid is its projected centre.
    """
    from vtkmodules.vtkFiltersSources import vtkCubeSource, vtkSphereSource
    from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

    import rendering.vtk_init  # noqa: F401

    sphere = vtkSphereSource()
    sphere.SetRadius(MARKER_RADIUS_MM)
    sphere.SetThetaResolution(48)
    sphere.SetPhiResolution(48)
    slab = vtkCubeSource()
    slab.SetBounds(-80, 80, 60, 70, -120, 120)
    actors = []
    for source, colour, lit in ((sphere, (1.0, 0.0, 0.0), False), (slab, (0.6, 0.6, 0.6), True)):
        source.Update()
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(source.GetOutput())
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*colour)
        if not lit:
            actor.GetProperty().LightingOff()
        actors.append(actor)
    return actors


def red_centroid(image: np.ndarray) -> tuple[float, float] | None:
    """(x, y) pixel centroid of the pure red marker in a top-row-first RGB image, None when not visible."""
    r, g, b = (image[..., i].astype(int) for i in range(3))
    mask = (r > 200) & (g < 40) & (b < 40)
    if mask.sum() < 4:
        return None
    ys, xs = np.nonzero(mask)
    return float(xs.mean() + 0.5), float(ys.mean() + 0.5)


def predicted_pixel(point_lps, eye_to_stage, fov, mapping, size) -> tuple[float, float]:
    """Where a model point should appear in an eye's image (top-row-first pixels), from the runtime's view."""
    from rendering.vr.maths import projection_from_fov

    p_stage = mapping.lps_to_stage(point_lps)[0]
    p_eye = np.linalg.inv(eye_to_stage) @ np.append(p_stage, 1.0)
    clip = projection_from_fov(fov, 0.05, 20.0) @ p_eye
    ndc = clip[:3] / clip[3]
    w, h = size
    return (ndc[0] + 1) / 2 * w, (1 - ndc[1]) / 2 * h


def sample_session(engine, frames: int = 100, every: int = 10, timeout_s: float = 60):
    """Run ``engine`` for ``frames`` frames; every ``every`` frames read both eyes back (tests only).

    Returns the result and ``{(frame, eye): {"image", "predicted", "eye_to_stage"}}``.
    """
    samples: dict[tuple[int, int], dict] = {}

    def on_eye(eye, texture, size, frame, engine):
        if frame.index <= 2 or frame.index % every == 0:
            view = frame.eyes[eye]
            samples[(frame.index, eye)] = {
                "image": engine.blitter.read_texture(texture, size),
                "predicted": predicted_pixel((0, 0, 0), view.eye_to_stage, view.fov, engine.mapping, size),
                "eye_to_stage": view.eye_to_stage,
            }

    result = engine.run(frames=frames, on_eye=on_eye, timeout_s=timeout_s)
    return result, samples


def assert_stereo_and_head_motion(samples) -> None:
    """Both eyes drawn from the located views: marker where the runtime's view puts it, parallax, head motion."""
    import pytest

    frames = sorted({f for f, _ in samples})
    assert len(frames) >= 5
    for f in frames:
        left, right = samples[(f, 0)], samples[(f, 1)]
        ipd = np.linalg.norm(left["eye_to_stage"][:3, 3] - right["eye_to_stage"][:3, 3])
        assert 0.05 < ipd < 0.08  # the runtime's interpupillary distance
        for s in (left, right):
            measured = red_centroid(s["image"])
            assert measured is not None, f"marker not visible in frame {f}"
            assert np.allclose(measured, s["predicted"], atol=1.5), (f, measured, s["predicted"])
        # Parallax: a point in front of the eyes appears further right in the left eye than in the right one,
        # by the disparity the two located views predict.
        disparity = red_centroid(left["image"])[0] - red_centroid(right["image"])[0]
        assert disparity > 10
        assert disparity == pytest.approx(left["predicted"][0] - right["predicted"][0], abs=1.5)
        assert np.abs(left["image"].astype(int) - right["image"].astype(int)).mean() > 0.5
    # The simulated head moves: the marker moves in the image and the pictures change.
    first, last = samples[(frames[0], 0)], samples[(frames[-1], 0)]
    assert np.linalg.norm(np.subtract(first["predicted"], last["predicted"])) > 2.0
    assert np.linalg.norm(np.subtract(red_centroid(first["image"]), red_centroid(last["image"]))) > 2.0
    assert np.abs(first["image"].astype(int) - last["image"].astype(int)).mean() > 0.5
