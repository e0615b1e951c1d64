"""onnxruntime sessions: created lazily, CPU provider (plus CUDA when installed), bounded threads and memory."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from imaging.ai.manifests import AIInputError, ModelError

__all__ = ["OnnxRunner", "default_threads"]


def default_threads() -> int:
    """Intra-op threads: ``$SURGITWIN_AI_THREADS`` or the CPU count capped at 8."""
    env = os.environ.get("SURGITWIN_AI_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return max(1, min(8, os.cpu_count() or 1))


class OnnxRunner:
    """A lazily created ``onnxruntime.InferenceSession`` for one ONNX file.

    Parameters
    ----------
    path : Path
        The ONNX file.
    threads : int, optional
        Intra-op thread count (default :func:`default_threads`).
    use_gpu : bool
        Put the CUDA provider first when onnxruntime offers it (CPU stays as the fallback).
    max_input_bytes : int
        Refuse inputs larger than this (a memory bound; default 1 GiB).
    memory_arena : bool
        Keep onnxruntime's CPU memory arena. Off by default: a volumetric model's activations are gigabytes, and the
        arena would hold them after the run. A model run again and again on small inputs (a slice encoder) should
        keep it: reusing its buffers saves about a sixth of each run.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int | None = None,
        use_gpu: bool = True,
        max_input_bytes: int = 1 << 30,
        memory_arena: bool = False,
    ) -> None:
        self.path = Path(path)
        self.threads = threads or default_threads()
        self.use_gpu = use_gpu
        self.max_input_bytes = int(max_input_bytes)
        self.memory_arena = bool(memory_arena)
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def providers(self) -> list[str]:
        """Execution providers used: CUDA first when available and wanted, then CPU."""
        import onnxruntime as ort

        available = ort.get_available_providers()
        wanted = ["CUDAExecutionProvider"] if self.use_gpu else []
        return [p for p in wanted if p in available] + ["CPUExecutionProvider"]

    @property
    def session(self) -> Any:
        """The inference session, created on first use."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._create()
        return self._session

    def _create(self) -> Any:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ModelError("onnxruntime is not installed (pip install 'onnxruntime>=1.17')") from exc
        if not self.path.is_file():
            raise ModelError(f"model file {self.path} is missing (set SURGITWIN_MODELS to the models folder)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = self.memory_arena
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.path), sess_options=options, providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf classes
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"model file {self.path.name} is corrupt or unreadable: {first}") from exc

    def run(self, inputs: dict[str, npt.NDArray[Any]], outputs: list[str] | None = None) -> list[npt.NDArray[Any]]:
        """Run the model on named inputs; returns the outputs (all, or those named) as numpy arrays."""
        total = sum(np.asarray(v).nbytes for v in inputs.values())
        if total > self.max_input_bytes:
            raise AIInputError(
                f"model input of {total / 2**20:.0f} MiB exceeds the {self.max_input_bytes / 2**20:.0f} MiB bound"
            )
        try:
            return list(self.session.run(outputs, inputs))
        except ModelError:
            raise
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"running {self.path.name} failed: {first}") from exc
