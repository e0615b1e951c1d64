"""Single-threaded BLAS around the time step.

The step makes hundreds of small BLAS calls (dot products, SuperLU's triangular kernels).  OpenBLAS wakes its
thread pool for each and the idle workers then spin-wait; on a loaded 2-core machine that spinning stole the main
thread's CPU and made a 20k-tetrahedron step 5-8x slower (measured: 560 ms against 68 ms with one thread).  This is
the few lines of threadpoolctl we need, without the dependency: find the OpenBLAS libraries numpy/scipy loaded and
set their thread count for the duration of a block.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["single_threaded_blas"]

_SYMBOLS = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
            ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
            ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
            ("openblas_get_num_threads", "openblas_set_num_threads"))
_lock = threading.Lock()
_libs: list[tuple[ctypes._CFuncPtr, ctypes._CFuncPtr]] | None = None


def _openblas() -> list[tuple[ctypes._CFuncPtr, ctypes._CFuncPtr]]:
    global _libs
    if _libs is None:
        found = []
        try:
            with open("/proc/self/maps") as maps:
                paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
        except OSError:  # not Linux: leave BLAS alone
            paths = []
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for get_name, set_name in _SYMBOLS:
                if hasattr(lib, get_name) and hasattr(lib, set_name):
                    found.append((getattr(lib, get_name), getattr(lib, set_name)))
                    break
        _libs = found
    return _libs


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with OpenBLAS limited to one thread, restoring the previous counts afterwards."""
    with _lock:
        libs = _openblas()
        previous = [get() for get, _ in libs]
        for _, set_ in libs:
            set_(1)
    try:
        yield
    finally:
        with _lock:
            for (_, set_), count in zip(libs, previous, strict=True):
                set_(count)
