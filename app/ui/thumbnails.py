"""Series thumbnails: the middle image of a series, windowed for a glance, decoded off the GUI thread and cached.

:func:`thumbnail_pixels` runs in a worker thread (numpy + pydicom only); :func:`to_qimage` turns its result into a
``QImage`` on the GUI thread.  :class:`ThumbnailLoader` decodes a queue of series one by one in a background thread
and reports each as it is ready.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage

from imaging.dicom import SeriesInfo
from imaging.dicom.headers import read_header
from imaging.dicom.pixels import decode_file

__all__ = ["CT_WINDOW", "THUMBNAIL_SIZE", "ThumbnailLoader", "thumbnail_pixels", "to_qimage"]

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 80
#: Soft-tissue window (width, level) in HU for CT thumbnails.
CT_WINDOW = (400.0, 40.0)
_CACHE_SIZE = 512
_cache: OrderedDict[tuple[str, int], tuple[npt.NDArray[np.uint8], float]] = OrderedDict()
_cache_lock = threading.Lock()


def _cache_key(series: SeriesInfo) -> tuple[str, int]:
    middle = len(series.files) // 2
    header = series.slices[middle] if len(series.slices) == len(series.files) else None
    return (str(series.files[middle]), (header.frame or 0) if header is not None else 0)


def window_to_uint8(values: npt.NDArray, modality: str) -> npt.NDArray[np.uint8]:
    """CT: the soft-tissue window 400/40 HU; other modalities (and CT with nothing in that window): percentiles."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float32))
    if modality.upper() == "CT":
        width, level = CT_WINDOW
        windowed = _window(values, level - width / 2, level + width / 2)
        if windowed.std() >= 2.0:
            return windowed
        # Nothing in the soft-tissue range (a scout, air, a test object): show the image's own range instead.
    low, high = (float(v) for v in np.percentile(values, (1.0, 99.5)))
    return _window(values, low, max(high, low + 1.0))


def _window(values: npt.NDArray[np.float32], low: float, high: float) -> npt.NDArray[np.uint8]:
    return np.clip((values - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)


def thumbnail_pixels(series: SeriesInfo, size: int = THUMBNAIL_SIZE) -> tuple[npt.NDArray[np.uint8], float]:
    """The windowed middle image of ``series`` (cached) and its physical aspect (height/width in millimetres).

    The image is reduced by striding to at most ``2 * size`` pixels per side (the GUI smooths the last step).

    Raises
    ------
    DicomError
        The middle file cannot be decoded.
    """
    key = _cache_key(series)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    middle = len(series.files) // 2
    header = series.slices[middle] if len(series.slices) == len(series.files) else read_header(series.files[middle])
    decoded = decode_file(series.files[middle], header.rows, header.columns)
    index = min(header.frame or 0, decoded.frames.shape[0] - 1)
    values = decoded.frames[index].astype(np.float32) * decoded.slopes[index] + decoded.intercepts[index]
    pixels = window_to_uint8(values, series.modality)
    if decoded.photometric == "MONOCHROME1":
        pixels = 255 - pixels
    step = max(1, max(pixels.shape) // (2 * size))
    pixels = np.ascontiguousarray(pixels[::step, ::step])
    row_mm, col_mm = header.pixel_spacing or (1.0, 1.0)
    aspect = (header.rows * row_mm) / max(header.columns * col_mm, 1e-6)
    result = (pixels, float(aspect))
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def cached_thumbnail(series: SeriesInfo) -> tuple[npt.NDArray[np.uint8], float] | None:
    """The cached thumbnail of ``series``, or None when it was not decoded yet."""
    with _cache_lock:
        return _cache.get(_cache_key(series))


def to_qimage(pixels: npt.NDArray[np.uint8], aspect: float, size: int = THUMBNAIL_SIZE) -> QImage:
    """A ``size``-pixel square image with the thumbnail centred, physical aspect kept, on black."""
    height, width = pixels.shape
    image = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    if aspect >= 1:
        target_h, target_w = size, max(1, round(size / aspect))
    else:
        target_h, target_w = max(1, round(size * aspect)), size
    scaled = image.scaled(target_w, target_h, Qt.AspectRatioMode.IgnoreAspectRatio,
                          Qt.TransformationMode.SmoothTransformation)
    canvas = QImage(size, size, QImage.Format.Format_RGB32)
    canvas.fill(Qt.GlobalColor.black)
    from PySide6.QtGui import QPainter

    painter = QPainter(canvas)
    painter.drawImage((size - target_w) // 2, (size - target_h) // 2, scaled)
    painter.end()
    return canvas


class ThumbnailLoader(QObject):
    """Decodes thumbnails one by one in a background thread.

    Signals
    -------
    ready(int, object, float)
        ``(index, uint8 pixels, aspect)`` for the series at ``index`` of the list given to :meth:`start`.
    failed(int, str)
        The series' middle image could not be decoded (reason).
    """

    ready = Signal(int, object, float)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, series: list[SeriesInfo], order: Iterable[int]) -> None:
        """Decode the thumbnails of ``series`` in the given index ``order`` (e.g. the pre-selected one first)."""
        self.stop()
        self._cancel = threading.Event()
        cancel, queue = self._cancel, list(order)

        def work() -> None:
            for index in queue:
                if cancel.is_set():
                    return
                try:
                    pixels, aspect = thumbnail_pixels(series[index])
                except Exception as exc:  # a thumbnail is a convenience: never let it break the browser
                    if not cancel.is_set():
                        self.failed.emit(index, f"{type(exc).__name__}: {exc}")
                    continue
                if not cancel.is_set():
                    self.ready.emit(index, pixels, aspect)

        self._thread = threading.Thread(target=work, name="series-thumbnails", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop decoding and wait for the thread (at most ``timeout`` seconds: one image is being decoded)."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        """True while thumbnails are being decoded."""
        return self._thread is not None and self._thread.is_alive()
