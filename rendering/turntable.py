"""Turntable movies of a 3-D view: the camera circles the anatomy once; frames go to MP4 or animated PNG.

MP4 (H.264, yuv420p, so every player and PowerPoint opens it) is written through the ffmpeg binary that the
``imageio-ffmpeg`` wheel ships; animated PNG (lossless, plays in every browser) needs nothing beyond Pillow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow

from rendering.offscreen import capture_window

__all__ = ["MOVIE_SUFFIXES", "MovieError", "turntable_frames", "write_movie"]

MOVIE_SUFFIXES = (".mp4", ".png", ".apng")


class MovieError(RuntimeError):
    """A movie could not be written (unknown format, no encoder, disk full); the message says which."""


def turntable_frames(
    renderer: vtkRenderer, window: vtkRenderWindow, frames: int = 72, degrees: float = 360.0
) -> Iterator[npt.NDArray[np.uint8]]:
    """Render the view while its camera turns about the view-up axis through the focal point.

    Parameters
    ----------
    renderer, window : vtkRenderer, vtkRenderWindow
        The 3-D view (its current camera is the first frame's; it is put back afterwards, even when the
        iteration is abandoned).
    frames : int
        Number of frames for the whole turn.
    degrees : float
        Angle of the whole turn (360: back to the start; the last frame stops one step short so the loop is
        seamless).

    Yields
    ------
    ndarray
        ``(height, width, 3)`` uint8 RGB images, top row first.
    """
    if frames < 2:
        raise ValueError(f"a turntable needs at least 2 frames, got {frames}")
    camera = renderer.GetActiveCamera()
    saved = (camera.GetPosition(), camera.GetFocalPoint(), camera.GetViewUp(), camera.GetViewAngle())
    step = degrees / frames
    try:
        for i in range(frames):
            if i:
                camera.Azimuth(step)
                camera.OrthogonalizeViewUp()
                renderer.ResetCameraClippingRange()
            yield capture_window(window)
    finally:
        camera.SetPosition(saved[0])
        camera.SetFocalPoint(saved[1])
        camera.SetViewUp(saved[2])
        camera.SetViewAngle(saved[3])
        renderer.ResetCameraClippingRange()


def write_movie(
    frames: Iterable[npt.NDArray[np.uint8]],
    path: str | Path,
    fps: float = 24.0,
    progress: Callable[[int], Any] | None = None,
) -> Path:
    """Write RGB ``frames`` as an MP4 (``.mp4``) or animated PNG (``.png``/``.apng``) movie.

    The file appears only when complete (written beside it, then renamed).

    Parameters
    ----------
    frames : iterable of ndarray
        ``(height, width, 3)`` uint8 images, all the same size.
    path : str or Path
        Destination; the suffix picks the format.
    fps : float
        Frames per second.
    progress : callable, optional
        ``progress(frames_written)``; raising from it (e.g. :class:`InterruptedError` on Cancel) stops the movie
        and leaves no file.

    Raises
    ------
    MovieError
        Unknown suffix, no frames, frames of different sizes, or the encoder failed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MOVIE_SUFFIXES:
        raise MovieError(f"{path.name}: a movie is .mp4 or animated .png, not {suffix or 'no extension'}")
    if fps <= 0:
        raise MovieError(f"frames per second must be positive, got {fps}")
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        count = _write_mp4(frames, partial, fps, progress) if suffix == ".mp4" else _write_apng(
            frames, partial, fps, progress)
        if count == 0:
            raise MovieError("the movie has no frames")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _checked(frame: npt.NDArray[Any], shape: tuple[int, ...] | None) -> npt.NDArray[np.uint8]:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise MovieError(f"frames must be (height, width, 3) uint8 RGB images, got {frame.shape} {frame.dtype}")
    if shape is not None and frame.shape != shape:
        raise MovieError(f"all frames must have the same size ({shape[1]}x{shape[0]}), got {frame.shape[1]}x"
                         f"{frame.shape[0]}")
    return frame


def _write_apng(frames, path: Path, fps: float, progress) -> int:
    from PIL import Image

    images: list[Image.Image] = []
    shape = None
    for frame in frames:
        frame = _checked(frame, shape)
        shape = frame.shape
        images.append(Image.fromarray(frame))
        if progress is not None:
            progress(len(images))
    if not images:
        return 0
    images[0].save(path, format="PNG", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return len(images)


def _write_mp4(frames, path: Path, fps: float, progress) -> int:
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a runtime dependency; only a broken install lacks it
        raise MovieError("MP4 needs the imageio-ffmpeg package; save an animated .png instead") from exc
    writer = None
    count = 0
    shape = None
    try:
        for frame in frames:
            frame = _checked(frame, shape)
            shape = frame.shape
            # H.264 in yuv420p needs even sides: pad by one edge pixel rather than scale (keeps pixels exact).
            height, width = frame.shape[0] + frame.shape[0] % 2, frame.shape[1] + frame.shape[1] % 2
            if (height, width) != frame.shape[:2]:
                frame = np.pad(frame, ((0, height - frame.shape[0]), (0, width - frame.shape[1]), (0, 0)), mode="edge")
            if writer is None:
                writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=fps, codec="libx264",
                                                     pix_fmt_out="yuv420p", quality=8, macro_block_size=1,
                                                     ffmpeg_log_level="error")
                writer.send(None)
            writer.send(np.ascontiguousarray(frame))
            count += 1
            if progress is not None:
                progress(count)
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, MovieError):
            raise
        raise MovieError(f"the MP4 encoder failed: {exc}") from exc
    finally:
        if writer is not None:
            writer.close()
    return count
