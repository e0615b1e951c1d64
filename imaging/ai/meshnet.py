"""brainchop MeshNet on a T1 MR: conform to 256^3 1 mm LIA, min-max scale, label, resample back to the image grid.

Conforming follows ``nibabel.processing.conform(order=1, orientation='LIA')`` as the reference run did (see the
manifests): the image axes are reoriented to the nearest LIA axes (keeping any obliquity), the 256^3 1 mm grid is
centred on the image's voxel ``(shape - 1) // 2``, intensities are resampled trilinearly (0 outside), scaled with
``(x - min) / (p99.9 - min) * 255`` clipped and truncated to uint8, then min-max normalised to [0, 1].  The network's
``(D, H, W)`` axes are the conformed ``(i, j, k)`` axes.  Labels go back to the image grid nearest-neighbour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from imaging.ai.manifests import AIInputError, ModelManifest, load_manifest
from imaging.ai.runner import OnnxRunner
from imaging.volume import Volume

__all__ = ["CONFORMED_SHAPE", "MeshNetResult", "check_t1", "conform", "conformed_affine", "head_box", "run_meshnet"]

CONFORMED_SHAPE = (256, 256, 256)
_LIA = ((0, -1.0), (2, -1.0), (1, 1.0))  # per output axis: (RAS world axis, sign)


def conformed_affine(ras_affine: npt.NDArray[np.float64], shape_ijk: tuple[int, int, int]) -> npt.NDArray[np.float64]:
    """The 4x4 RAS affine of the 256^3 1 mm LIA grid that nibabel's ``conform`` builds for an image.

    Parameters
    ----------
    ras_affine : numpy.ndarray
        Image ``(i, j, k) -> RAS`` affine.
    shape_ijk : tuple of int
        Image size in ``(i, j, k)`` order.
    """
    a = np.asarray(ras_affine, np.float64)
    rzs = a[:3, :3]
    # nearest world axis of each image axis (greedy on the largest cosines, as io_orientation)
    cos = np.abs(rzs / np.linalg.norm(rzs, axis=0))
    world_of = {}
    work = cos.copy()
    for _ in range(3):
        w, c = np.unravel_index(np.argmax(work), work.shape)
        world_of[int(w)] = int(c)
        work[w, :] = -1
        work[:, c] = -1
    cols, shape, origin = [], [], a[:3, 3].copy()
    for world, sign in _LIA:
        c = world_of[world]
        col = rzs[:, c].copy()
        if np.sign(col[world]) != sign:
            origin = origin + col * (shape_ijk[c] - 1)
            col = -col
        cols.append(col)
        shape.append(shape_ijk[c])
    reoriented = np.eye(4)
    reoriented[:3, :3] = np.stack(cols, axis=1)
    reoriented[:3, 3] = origin
    zooms = np.linalg.norm(reoriented[:3, :3], axis=0)
    rzs_out = reoriented[:3, :3] / zooms  # 1 mm voxels
    centroid = reoriented[:3, :3] @ ((np.asarray(shape) - 1) // 2) + reoriented[:3, 3]
    out = np.eye(4)
    out[:3, :3] = rzs_out
    out[:3, 3] = centroid - rzs_out @ ((np.asarray(CONFORMED_SHAPE) - 1) // 2)
    return out


def check_t1(volume: Volume) -> None:
    """Raise :class:`AIInputError` unless ``volume`` can be a T1 MR (not a CT, no negative HU-like values)."""
    modality = str(volume.metadata.get("modality", "")).upper()
    if modality and modality != "MR":
        raise AIInputError(f"the brain models need a T1-weighted MR, this image is {modality}")
    if float(volume.array.min()) < -100:
        raise AIInputError("the brain models need a T1-weighted MR; this image has negative values (a CT in HU?)")


def conform(volume: Volume) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]:
    """Resample ``volume`` to the conformed grid; returns the float32 ``[i, j, k]`` array and its RAS affine."""
    src = volume.geometry.index_to_ras
    nz, ny, nx = volume.array.shape
    out_aff = conformed_affine(src, (nx, ny, nz))
    m = np.linalg.inv(src) @ out_aff  # conformed (a, b, c) -> image (i, j, k)
    perm = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1.0]])  # (i, j, k) -> array (k, j, i)
    m = perm @ m
    data = volume.array if volume.array.dtype == np.float32 else volume.array.astype(np.float32)
    out = ndimage.affine_transform(
        data, m[:3, :3], m[:3, 3], output_shape=CONFORMED_SHAPE, output=np.float32, order=1, mode="constant", cval=0.0
    )
    return out, out_aff


def _scale(conformed: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    lo = float(conformed.min())
    hi = float(np.percentile(conformed, 99.9))
    x = (conformed - np.float32(lo)) * np.float32(255.0 / max(hi - lo, 1e-8))
    np.clip(x, 0, 255, out=x)
    x = x.astype(np.uint8).astype(np.float32)
    lo8, hi8 = float(x.min()), float(x.max())
    x -= np.float32(lo8)
    x *= np.float32(1.0 / max(hi8 - lo8, 1e-8))
    return x


def head_box(x: npt.NDArray[np.float32], margin: int = 16, level: float = 0.1) -> tuple[slice, slice, slice]:
    """Bounding box of the head in the scaled conformed volume ``x`` (values in [0, 1]), padded by ``margin``.

    The head is what stays above ``level`` after an opening that removes background noise specks. MeshNet is fully
    convolutional, so the air around the head only costs time; its dilated layers see about 45 voxels, and a
    16-voxel margin keeps the labels within the brain identical to the whole-cube run on > 99 % of voxels.
    """
    head = ndimage.binary_opening(x > level, iterations=2)
    if not head.any():
        return tuple(slice(0, n) for n in x.shape)  # type: ignore[return-value]
    box = []
    for axis, n in enumerate(x.shape):
        hit = np.flatnonzero(head.any(axis=tuple(a for a in range(3) if a != axis)))
        box.append(slice(max(int(hit[0]) - margin, 0), min(int(hit[-1]) + 1 + margin, n)))
    return tuple(box)  # type: ignore[return-value]


@dataclass
class MeshNetResult:
    """MeshNet labels on the image grid and on the conformed grid, with names and timing."""

    labels: Volume
    conformed_labels: npt.NDArray[np.uint8]
    conformed_affine: npt.NDArray[np.float64]
    names: list[str]
    seconds: dict[str, float] = field(default_factory=dict)


def run_meshnet(
    volume: Volume,
    model: str = "brain-tissue",
    *,
    manifest: ModelManifest | None = None,
    threads: int | None = None,
    crop_margin: int | None = 16,
) -> MeshNetResult:
    """Label a T1 MR brain with a MeshNet model.

    Parameters
    ----------
    volume : Volume
        T1-weighted MR (LPS).
    model : str
        ``brain-tissue`` (white / grey matter), ``brain-subcortical`` (18 classes) or ``brain-mask``.
    manifest : ModelManifest, optional
        Overrides the manifest lookup.
    threads : int, optional
        onnxruntime threads.
    crop_margin : int or None, default 16
        Run the network on the head's bounding box in the conformed grid plus this many voxels (see
        :func:`head_box`) instead of the whole 256^3 cube; None runs the whole cube as the reference did.

    Raises
    ------
    AIInputError
        The image is not an MR (a CT, or negative HU values).
    ModelError
        The model is missing or corrupt.
    """
    manifest = manifest or load_manifest(model)
    check_t1(volume)
    t0 = time.perf_counter()
    conformed, aff = conform(volume)
    x = _scale(conformed)
    del conformed
    t1 = time.perf_counter()
    runner = OnnxRunner(manifest.onnx_path(), threads=threads, max_input_bytes=1 << 28)
    box = head_box(x, crop_margin) if crop_margin is not None else tuple(slice(0, n) for n in x.shape)
    (labels,) = runner.run({"input": np.ascontiguousarray(x[box])[None, None]})
    del x
    conf_labels = np.zeros(CONFORMED_SHAPE, np.uint8)
    conf_labels[box] = labels[0]
    t2 = time.perf_counter()
    # back to the image grid: image (k, j, i) -> conformed (a, b, c), nearest neighbour
    perm = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1.0]])
    m = np.linalg.inv(aff) @ volume.geometry.index_to_ras @ perm
    back = ndimage.affine_transform(
        conf_labels,
        m[:3, :3],
        m[:3, 3],
        output_shape=volume.array.shape,
        output=np.uint8,
        order=0,
        mode="constant",
        cval=0,
    )
    t3 = time.perf_counter()
    out = volume.with_array(back)
    out.metadata = {"modality": "SEG", "labels": manifest.labels}
    return MeshNetResult(
        out, conf_labels, aff, manifest.labels, {"conform": t1 - t0, "model": t2 - t1, "resample": t3 - t2}
    )
