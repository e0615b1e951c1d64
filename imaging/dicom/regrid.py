"""Optional regridding of a loaded stack: gantry-tilt correction and resampling to uniform slice spacing.

Both work slice by slice on a preallocated output in the stack's own dtype (integer data is interpolated in float32
per slice and rounded back), never on a float64 copy of the volume.  NumPy only (no scipy import on this path).

* :func:`correct_tilt` -- as dcm2niix's ``_Tilt_1`` output: every slice is shifted in-plane by its offset from the
  slice normal through the first slice (linear interpolation), the in-plane grid grows to hold the sheared content,
  and the output grid is orthogonal (z along the slice normal).  The first slice stays in place.
* :func:`resample_uniform` -- as dcm2niix's "equalised" ``_Eq`` output: linear interpolation along the slice axis
  onto a uniform grid from the first to the last slice position at the smallest (or the modal) step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from imaging.volume import VolumeGeometry

__all__ = ["correct_tilt", "in_plane_offsets", "resample_uniform", "slice_positions"]

_EPS_PX = 1e-3


def slice_positions(ipps: Sequence[Sequence[float]], geometry: VolumeGeometry) -> npt.NDArray[np.float64]:
    """Positions (mm) of the slices along ``geometry``'s slice axis (the normal, or the table for a sheared grid),
    relative to the first."""
    ipp = np.asarray(ipps, dtype=np.float64)
    return (ipp - ipp[0]) @ geometry.direction[:, 2]


def in_plane_offsets(ipps: Sequence[Sequence[float]], geometry: VolumeGeometry) -> npt.NDArray[np.float64]:
    """Offsets ``(n, 2)`` in pixels along x (rows direction) and y (columns direction) of each slice's origin from
    the normal through the first slice's origin: zero for every slice of an untilted stack."""
    ipp = np.asarray(ipps, dtype=np.float64)
    d = ipp - ipp[0]
    return np.stack(
        [d @ geometry.direction[:, 0] / geometry.spacing[0], d @ geometry.direction[:, 1] / geometry.spacing[1]],
        axis=1,
    )


def _shift_axis(image: npt.NDArray[np.float32], shift: float, axis: int, size: int, fill: float) -> npt.NDArray:
    """``out[j] = image[j - shift]`` along ``axis`` by linear interpolation, on an axis of ``size`` samples."""
    j = np.arange(size, dtype=np.float64) - shift
    j0 = np.floor(j).astype(np.int64)
    w = (j - j0).astype(np.float32)
    n = image.shape[axis]
    # A sample is inside when its upper neighbour is (or it falls exactly on a pixel); a missing lower neighbour is
    # clamped to the edge.  This half-pixel convention is dcm2niix's (in DICOM row order), and makes our output
    # voxel-identical to its _Tilt_1 images.
    shape = [size if ax == axis else 1 for ax in range(2)]
    w = w.reshape(shape)
    inside = (((j0 + 1 >= 0) & (j0 + 1 < n)) | ((w.ravel() == 0) & (j0 >= 0) & (j0 < n))).reshape(shape)
    a = np.take(image, np.clip(j0, 0, n - 1), axis=axis)
    b = np.take(image, np.clip(j0 + 1, 0, n - 1), axis=axis)
    # Exact sample positions (w == 0) give the input value untouched.
    return np.where(inside, np.where(w == 0, a, a * (1 - w) + b * w), np.float32(fill))


def _store(out: npt.NDArray, k: int, values: npt.NDArray[np.float32]) -> None:
    if np.issubdtype(out.dtype, np.integer):
        info = np.iinfo(out.dtype)
        out[k] = np.clip(np.rint(values), info.min, info.max)
    else:
        out[k] = values


def correct_tilt(
    stack: npt.NDArray,
    geometry: VolumeGeometry,
    ipps: Sequence[Sequence[float]],
    *,
    fill: float | None = None,
) -> tuple[npt.NDArray, VolumeGeometry, str | None]:
    """Shear every slice in-plane so that the stack lies on an orthogonal grid.

    Parameters
    ----------
    stack : numpy.ndarray
        ``(z, y, x)`` slices in order, as placed by ``geometry`` (z along the slice normal).
    geometry : VolumeGeometry
        Grid of the uncorrected stack (origin = first slice's ImagePositionPatient).
    ipps : sequence of 3-vectors
        ImagePositionPatient of each slice, in stack order.
    fill : float, optional
        Value of voxels outside every slice (default: the stack's minimum, i.e. air for CT).

    Returns
    -------
    stack, geometry, message
        The corrected stack and grid (unchanged, message None, when the stack is not tilted).
    """
    offsets = in_plane_offsets(ipps, geometry)
    if np.abs(offsets).max(initial=0.0) <= 0.01:
        return stack, geometry, None
    nz, ny, nx = stack.shape
    lo = np.floor(np.minimum(offsets.min(axis=0), 0.0) + _EPS_PX).astype(int)
    hi = np.ceil(np.maximum(offsets.max(axis=0), 0.0) - _EPS_PX).astype(int)
    out_nx, out_ny = nx + int(hi[0] - lo[0]), ny + int(hi[1] - lo[1])
    if fill is None:
        fill = float(stack.min()) if stack.size else 0.0
    out = np.empty((nz, out_ny, out_nx), dtype=stack.dtype)
    for k in range(nz):
        image = stack[k].astype(np.float32)
        sx, sy = offsets[k, 0] - lo[0], offsets[k, 1] - lo[1]
        image = _shift_axis(image, sy, 0, out_ny, fill)
        image = _shift_axis(image, sx, 1, out_nx, fill)
        _store(out, k, image)
    rows, columns = geometry.direction[:, 0], geometry.direction[:, 1]
    normal = np.cross(rows, columns)
    normal /= np.linalg.norm(normal)
    # The input grid may be sheared (its slice axis follows the table); the corrected one steps along the normal.
    step_along_normal = geometry.spacing[2] * float(np.dot(geometry.direction[:, 2], normal))
    direction = np.column_stack([rows, columns, normal])
    origin = np.asarray(geometry.origin) + lo[0] * geometry.spacing[0] * rows
    origin = origin + lo[1] * geometry.spacing[1] * columns
    new_geometry = VolumeGeometry(
        (nz, out_ny, out_nx), (geometry.spacing[0], geometry.spacing[1], step_along_normal), tuple(origin), direction
    )
    shift_mm = float(np.abs(offsets * np.asarray(geometry.spacing[:2])).max())
    message = (
        f"gantry tilt corrected: each slice shifted in-plane by its offset from the slice normal (up to "
        f"{shift_mm:.2f} mm, linear interpolation); grid enlarged from {nx}x{ny} to {out_nx}x{out_ny} pixels "
        f"(new voxels = {fill:g}); the output grid is orthogonal"
    )
    return out, new_geometry, message


def resample_uniform(
    stack: npt.NDArray,
    geometry: VolumeGeometry,
    positions: npt.ArrayLike,
    *,
    step: str | float = "smallest",
    tolerance: float = 0.01,
) -> tuple[npt.NDArray, VolumeGeometry, str | None]:
    """Resample the slices (at ``positions`` mm along the normal, ascending) onto a uniform grid.

    Parameters
    ----------
    step : "smallest", "modal" or float
        The new slice step: the smallest or the most frequent step of the input, or a value in millimetres.  It is
        adjusted slightly so that the last slice position is kept.
    tolerance : float
        Relative step deviation below which the stack counts as uniform already (nothing done).

    Returns
    -------
    stack, geometry, message
        Unchanged with message None when the spacing is uniform already.
    """
    t = np.asarray(positions, dtype=np.float64) - float(positions[0])
    steps = np.diff(t)
    if steps.size == 0:
        return stack, geometry, None
    if isinstance(step, str):
        if step == "smallest":
            base = float(steps.min())
        elif step == "modal":
            values, counts = np.unique(np.round(steps, 3), return_counts=True)
            base = float(values[np.argmax(counts)])
        else:
            raise ValueError(f"step must be 'smallest', 'modal' or a number of millimetres, got {step!r}")
    else:
        base = float(step)
    if base <= 0:
        raise ValueError(f"slice step must be positive, got {base}")
    if np.abs(steps - base).max() <= max(tolerance * base, 1e-3):
        return stack, geometry, None
    n_out = max(2, int(np.rint(t[-1] / base)) + 1)
    new_step = t[-1] / (n_out - 1)
    targets = np.arange(n_out) * new_step
    nz, ny, nx = stack.shape
    out = np.empty((n_out, ny, nx), dtype=stack.dtype)
    upper = np.clip(np.searchsorted(t, targets, side="left"), 1, nz - 1)
    interpolated = 0
    for k, p in enumerate(targets):
        b = int(upper[k])
        a = b - 1
        w = (p - t[a]) / (t[b] - t[a])
        if abs(w) < 1e-6 or abs(w - 1) < 1e-6:
            out[k] = stack[a] if abs(w) < 1e-6 else stack[b]
            continue
        interpolated += 1
        values = stack[a].astype(np.float32) * np.float32(1 - w) + stack[b].astype(np.float32) * np.float32(w)
        _store(out, k, values)
    new_geometry = VolumeGeometry((n_out, ny, nx), (*geometry.spacing[:2], new_step), geometry.origin,
                                  geometry.direction)
    message = (
        f"resampled to uniform slice spacing: {nz} slices at irregular steps ({_steps_text(steps)} mm) -> {n_out} "
        f"slices every {new_step:.4g} mm from the first to the last slice position ({interpolated} slice(s) "
        "interpolated linearly along the slice normal)"
    )
    return out, new_geometry, message


def _steps_text(steps: npt.NDArray[np.float64]) -> str:
    values = sorted({round(float(s), 3) for s in steps})
    text = ", ".join(f"{v:g}" for v in values[:5])
    return text + (", ..." if len(values) > 5 else "")

