"""LiteMedSAM: a box on a 2-D slice of a CT/MR volume -> a mask on that slice.

Pre- and post-processing follow ``litemedsam.json`` (bowang-lab/MedSAM ``pre_CT_MR.py`` and
``CVPR24_LiteMedSAM_infer.py``):

1. intensities to uint8: CT in HU is windowed to [-160, 240]; any other image is clipped to the 0.5 / 99.5
   percentiles of the volume's non-zero voxels, rescaled to 0..255 with zeros kept at 0, then truncated to uint8;
2. three identical channels;
3. resize so the longest side is 256 by area averaging (``cv2.INTER_AREA``, kept in float32 as the reference
   ``check.py`` does: this reproduces its masks pixel for pixel);
4. min-max normalise to [0, 1]; 5. zero-pad bottom/right to 256 x 256.

The decoder takes one box ``[x0, y0, x1, y1]`` scaled by ``256 / max(H, W)``; its 256 x 256 logits are cropped to the
resized image, upsampled bilinearly (``align_corners=False``) to the slice and thresholded at 0.

Slices and boxes
----------------
``axis`` picks the 2-D slice of the ``(z, y, x)`` volume array: ``axial`` -> ``array[k]`` (rows = y, columns = x),
``coronal`` -> ``array[:, k, :]`` (rows = z, columns = x), ``sagittal`` -> ``array[:, :, k]`` (rows = z,
columns = y).  A box ``(x0, y0, x1, y1)`` is in voxel indices of that 2-D array exactly as numpy shows it (no display
flip): ``x`` = column index, ``y`` = row index, corners inclusive, ``x0 <= x1`` and ``y0 <= y1``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from imaging.ai.manifests import AIInputError, ModelManifest, load_manifest
from imaging.ai.runner import OnnxRunner
from imaging.volume import Volume

__all__ = [
    "AXES",
    "LiteMedSAM",
    "SliceResult",
    "area_resize_matrix",
    "bilinear_resize_matrix",
    "get_slice",
    "slice_count",
]

AXES = ("axial", "coronal", "sagittal")
MODEL_SIZE = 256
CT_WINDOW = (-160.0, 240.0)


def _axis_index(axis: str) -> int:
    if axis not in AXES:
        raise AIInputError(f"axis must be one of {', '.join(AXES)}, got {axis!r}")
    return AXES.index(axis)


def slice_count(shape: tuple[int, ...], axis: str) -> int:
    """Number of slices along ``axis`` of a ``(z, y, x)`` array."""
    return int(shape[_axis_index(axis)])


def get_slice(array: npt.NDArray[Any], axis: str, index: int) -> npt.NDArray[Any]:
    """The 2-D slice (a view) of a ``(z, y, x)`` array, see the module notes for the row/column order."""
    a = _axis_index(axis)
    n = array.shape[a]
    if not 0 <= index < n:
        raise AIInputError(f"{axis} slice {index} is outside the volume (0..{n - 1})")
    return array[index] if a == 0 else array[:, index, :] if a == 1 else array[:, :, index]


def area_resize_matrix(n_in: int, n_out: int) -> npt.NDArray[np.float32]:
    """``(n_out, n_in)`` area-averaging weights: output pixel ``o`` covers input ``[o, o+1) * n_in / n_out``."""
    scale = n_in / n_out
    lo = np.arange(n_out)[:, None] * scale
    hi = lo + scale
    i = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, i + 1) - np.maximum(lo, i), 0.0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def bilinear_resize_matrix(n_in: int, n_out: int) -> npt.NDArray[np.float32]:
    """``(n_out, n_in)`` bilinear weights as ``torch.nn.functional.interpolate(align_corners=False)``."""
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, None)
    i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = src - i0
    m = np.zeros((n_out, n_in), np.float32)
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1.0 - w1)
    np.add.at(m, (rows, i1), w1)
    return m


@dataclass
class SliceResult:
    """A mask on one slice and what the model said about it."""

    mask: npt.NDArray[np.bool_]
    iou_pred: float
    box: tuple[int, int, int, int]


class LiteMedSAM:
    """Box-prompted 2-D segmentation with an encoder-embedding cache.

    Parameters
    ----------
    manifest : ModelManifest, optional
        Default :func:`load_manifest` ``("litemedsam")``.
    threads : int, optional
        onnxruntime intra-op threads.
    cache_slices : int
        Embeddings kept (4 MiB each), least recently used dropped first.
    """

    def __init__(
        self, manifest: ModelManifest | None = None, *, threads: int | None = None, cache_slices: int = 64
    ) -> None:
        self.manifest = manifest or load_manifest("litemedsam")
        # Slice-sized tensors, run once per slice and once per box: the arena's buffers are reused every time.
        self.encoder = OnnxRunner(self.manifest.onnx_path("litemedsam_encoder.onnx"), threads=threads,
                                  memory_arena=True)
        self.decoder = OnnxRunner(self.manifest.onnx_path("litemedsam_decoder.onnx"), threads=threads,
                                  memory_arena=True)
        self.cache_slices = int(cache_slices)
        self._embeddings: OrderedDict[tuple[Any, ...], npt.NDArray[np.float32]] = OrderedDict()
        self._windows: dict[Any, tuple[str, float, float]] = {}
        # The viewer computes embeddings ahead in a background thread while boxes are answered on another.
        self._lock = threading.RLock()
        self.timings: dict[str, list[float]] = {"encoder": [], "decoder": []}

    # --- intensity recipe -------------------------------------------------------------------------------------
    @staticmethod
    def volume_key(volume: Volume) -> tuple[Any, ...]:
        """Identity of a volume's voxels for the caches (buffer address, shape, dtype)."""
        a = volume.array
        return (a.__array_interface__["data"][0], a.shape, a.dtype.str, id(volume))

    def window(self, volume: Volume, recipe: str = "auto") -> tuple[str, float, float]:
        """The intensity recipe and window for ``volume``: ``("ct", -160, 240)`` or ``("nonct", p0.5, p99.5)``.

        ``recipe`` is ``ct``, ``nonct`` or ``auto`` (CT when the metadata modality is CT, else non-CT).
        """
        if recipe not in ("auto", "ct", "nonct"):
            raise AIInputError(f"intensity recipe must be auto, ct or nonct, got {recipe!r}")
        if recipe == "auto":
            recipe = "ct" if str(volume.metadata.get("modality", "")).upper() == "CT" else "nonct"
        key = (self.volume_key(volume), recipe)
        if key not in self._windows:
            if recipe == "ct":
                self._windows[key] = ("ct", *CT_WINDOW)
            else:
                a = volume.array
                nonzero = a[a != 0]
                if nonzero.size == 0:
                    raise AIInputError("the image is empty (every voxel is 0)")
                lo, hi = np.percentile(nonzero, [0.5, 99.5])
                self._windows[key] = ("nonct", float(lo), float(hi))
        return self._windows[key]

    @staticmethod
    def to_uint8(image: npt.NDArray[Any], window: tuple[str, float, float]) -> npt.NDArray[np.uint8]:
        """Step 1 of the recipe on one 2-D slice."""
        kind, lo, hi = window
        x = np.clip(image.astype(np.float32), lo, hi)
        x = (x - np.float32(lo)) / np.float32(max(hi - lo, 1e-8)) * np.float32(255.0)
        if kind == "nonct":
            x[image == 0] = 0
        return x.astype(np.uint8)

    @staticmethod
    def model_input(image8: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], tuple[int, int]]:
        """Steps 2-5: the ``(1, 3, 256, 256)`` encoder input and the resized size ``(newh, neww)``."""
        h, w = image8.shape
        scale = MODEL_SIZE / max(h, w)
        newh, neww = int(h * scale + 0.5), int(w * scale + 0.5)
        resized = area_resize_matrix(h, newh) @ image8.astype(np.float32) @ area_resize_matrix(w, neww).T
        lo, hi = float(resized.min()), float(resized.max())
        norm = (resized - lo) / max(hi - lo, 1e-8)
        out = np.zeros((1, 3, MODEL_SIZE, MODEL_SIZE), np.float32)
        out[0, :, :newh, :neww] = norm
        return out, (newh, neww)

    # --- model ---------------------------------------------------------------------------------------------------
    def embedding(
        self, volume: Volume, axis: str, index: int, recipe: str = "auto"
    ) -> tuple[npt.NDArray[np.float32], tuple[int, int]]:
        """Encoder embedding of one slice (cached by volume, axis, slice and recipe) and the resized size."""
        window = self.window(volume, recipe)
        image = get_slice(volume.array, axis, index)
        key = (self.volume_key(volume), axis, int(index), window[0])
        h, w = image.shape
        scale = MODEL_SIZE / max(h, w)
        size = (int(h * scale + 0.5), int(w * scale + 0.5))
        with self._lock:
            if key in self._embeddings:
                self._embeddings.move_to_end(key)
                return self._embeddings[key], size
        tensor, size = self.model_input(self.to_uint8(image, window))
        t0 = time.perf_counter()
        (emb,) = self.encoder.run({"image": tensor}, ["image_embedding"])
        with self._lock:
            self.timings["encoder"].append(time.perf_counter() - t0)
            self._embeddings[key] = emb
            while len(self._embeddings) > max(self.cache_slices, 1):
                self._embeddings.popitem(last=False)
        return emb, size

    def has_embedding(self, volume: Volume, axis: str, index: int, recipe: str = "auto") -> bool:
        """Whether the embedding of that slice is cached."""
        key = (self.volume_key(volume), axis, int(index), self.window(volume, recipe)[0])
        with self._lock:
            return key in self._embeddings

    def clear_cache(self) -> None:
        """Forget every cached embedding and window."""
        with self._lock:
            self._embeddings.clear()
            self._windows.clear()

    @staticmethod
    def check_box(box: tuple[float, float, float, float], shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """Validate a box ``(x0, y0, x1, y1)`` (inclusive voxel indices) against a slice of ``shape`` (rows, cols)."""
        try:
            x0, y0, x1, y1 = (round(float(v)) for v in box)
        except (TypeError, ValueError):
            raise AIInputError(f"a box is four numbers x0,y0,x1,y1, got {box!r}") from None
        h, w = shape
        if x1 <= x0 or y1 <= y0:
            raise AIInputError(f"box {x0},{y0},{x1},{y1} has zero size (need x0 < x1 and y0 < y1)")
        if x0 < 0 or y0 < 0 or x1 > w - 1 or y1 > h - 1:
            raise AIInputError(f"box {x0},{y0},{x1},{y1} is outside the slice (columns 0..{w - 1}, rows 0..{h - 1})")
        return x0, y0, x1, y1

    def segment_slice(
        self,
        volume: Volume,
        box: tuple[float, float, float, float],
        index: int,
        axis: str = "axial",
        recipe: str = "auto",
    ) -> SliceResult:
        """Mask of the object inside ``box`` on slice ``index`` along ``axis``.

        Raises
        ------
        AIInputError
            Bad axis, slice index or box (zero size, outside the slice).
        ModelError
            The model files are missing or corrupt.
        """
        shape = get_slice(volume.array, axis, index).shape
        ibox = self.check_box(box, shape)
        emb, (newh, neww) = self.embedding(volume, axis, index, recipe)
        h, w = shape
        scale = MODEL_SIZE / max(h, w)
        boxes = (np.asarray(ibox, np.float32) * np.float32(scale))[None, :]
        t0 = time.perf_counter()
        logits, iou = self.decoder.run({"image_embedding": emb, "boxes": boxes}, ["low_res_logits", "iou_pred"])
        self.timings["decoder"].append(time.perf_counter() - t0)
        low = logits[0, 0, :newh, :neww]
        up = bilinear_resize_matrix(newh, h) @ low @ bilinear_resize_matrix(neww, w).T
        return SliceResult(up > 0, float(np.asarray(iou).ravel()[0]), ibox)
