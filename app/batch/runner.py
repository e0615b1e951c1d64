"""The batch driver: skip finished items, submit the rest to Dask, show progress, collect a summary.

A local cluster of worker *processes* (``dask.distributed.LocalCluster``) by default, or an existing scheduler
(``tcp://host:port``) whose workers see the same input and output paths.  Each item is one task running
:func:`app.batch.pipeline.run_item`; Dask reschedules the tasks of a worker that dies, and since an item only appears
in ``items/<id>`` once complete, a lost worker costs time, never results.  An item counts as finished when
``items/<id>/manifest.json`` exists with the input hash the item has now (spec, inputs and SurgiTwin version).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .pipeline import MANIFEST, input_hash, run_item
from .spec import BatchSpec

__all__ = ["BatchError", "BatchReport", "ItemOutcome", "finished_hash", "format_summary", "run_batch"]


class BatchError(RuntimeError):
    """The batch cannot run at all (no scheduler at that address, output folder unusable): one line."""


@dataclass
class ItemOutcome:
    """What happened to one item in this run."""

    id: str
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    error: str | None = None
    manifest: dict[str, Any] | None = None


@dataclass
class BatchReport:
    """Every item's outcome, in spec order, and the wall time of the run."""

    outcomes: list[ItemOutcome] = field(default_factory=list)
    seconds: float = 0.0
    scheduler: str = ""

    def count(self, status: str) -> int:
        """Number of items with ``status``."""
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return self.count("failed") == 0


def _finished_manifest(out_root: Path, item_id: str) -> dict[str, Any] | None:
    try:
        manifest = json.loads((out_root / "items" / item_id / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def finished_hash(out_root: Path, item_id: str) -> str | None:
    """The input hash recorded by a finished item, or None when it has not finished."""
    value = (_finished_manifest(out_root, item_id) or {}).get("input_hash")
    return value if isinstance(value, str) else None


class _ProgressBar:
    """A one-line text progress bar on a terminal; one line per finished item otherwise (logs, pipes)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream = total, stream
        self.done = self.failed = 0
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def update(self, outcome: ItemOutcome) -> None:
        self.done += 1
        self.failed += outcome.status == "failed"
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        text = f"[{bar}] {self.done}/{self.total} items, {self.failed} failed  ({outcome.id}: {outcome.status})"
        if self.tty:
            self.stream.write("\r" + text.ljust(100))
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _client(scheduler: str | None, workers: int | None) -> tuple[Any, Any, str]:
    from dask.distributed import Client, LocalCluster

    # distributed logs every connection at INFO through the root logger: keep the terminal to progress and summary.
    for name in ("distributed", "tornado"):
        if logging.getLogger(name).getEffectiveLevel() < logging.WARNING:
            logging.getLogger(name).setLevel(logging.ERROR)
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__}); start it "
                             "with `dask scheduler` or leave out --scheduler for a local cluster") from exc
        return client, None, scheduler
    n = workers or max(1, min(4, os.cpu_count() or 1))
    # Loopback only; the scheduler's HTTP endpoint on a free port (the default 8787 clashes with any other cluster).
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    from app.batch.worker_logs import QuietWorkerLogs

    client.register_plugin(QuietWorkerLogs())
    return client, cluster, f"local cluster, {n} worker process(es)"


def run_batch(
    spec: BatchSpec,
    *,
    out_dir: Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    force: bool = False,
    progress: TextIO | None = None,
    on_submitted: Callable[[], None] | None = None,
) -> BatchReport:
    """Run ``spec`` on Dask and return what happened to every item.

    Parameters
    ----------
    spec : BatchSpec
        The parsed spec.
    out_dir : Path, optional
        Output folder (default: the spec's ``output``).
    scheduler : str, optional
        ``tcp://host:port`` of a running Dask scheduler; a local cluster of worker processes by default.
    workers : int, optional
        Local cluster size (default: the number of CPUs, at most 4).
    force : bool
        Redo finished items too.
    progress : text stream, optional
        Where the progress bar goes (stderr by default; ``None`` keeps stderr).
    on_submitted : callable, optional
        Called once every task is submitted (tests use it to disturb a running batch).

    Returns
    -------
    BatchReport

    Raises
    ------
    BatchError
        No output folder, or the scheduler cannot be reached.
    """
    from importlib.metadata import PackageNotFoundError, version

    started = time.perf_counter()
    root = out_dir or spec.output
    if root is None:
        raise BatchError("no output folder: give --out DIR or `output:` in the spec")
    root = Path(root).resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"cannot create the output folder {root} ({exc.strerror})") from exc
    shutil.rmtree(root / ".staging", ignore_errors=True)  # leftovers of killed workers or an interrupted run
    try:
        surgitwin_version = version("surgitwin")
    except PackageNotFoundError:
        surgitwin_version = "0+unknown"
    pipeline = spec.pipeline_dict()
    outcomes: dict[str, ItemOutcome] = {}
    todo = []
    for item in spec.items:
        item_hash = input_hash(item, pipeline, surgitwin_version)
        manifest = None if force else _finished_manifest(root, item.id)
        if manifest is not None and manifest.get("input_hash") == item_hash:
            outcomes[item.id] = ItemOutcome(item.id, "skipped", manifest=manifest)
        else:
            todo.append((item, item_hash))
    report = BatchReport(scheduler="none needed (every item finished)")
    if todo:
        stream = progress if progress is not None else sys.stderr
        client, cluster, report.scheduler = _client(scheduler, workers)
        try:
            from dask.distributed import as_completed

            futures = {
                client.submit(run_item, item, spec.pipeline, str(root), item_hash, key=f"surgitwin-{item.id}-"
                              f"{item_hash[:12]}", pure=False): item.id
                for item, item_hash in todo
            }
            if on_submitted is not None:
                on_submitted()
            bar = _ProgressBar(len(futures), stream)
            for future in as_completed(futures):
                item_id = futures[future]
                try:
                    result = future.result()
                    outcome = ItemOutcome(item_id, result["status"], result["seconds"], result.get("error"),
                                          result.get("manifest"))
                except Exception as exc:
                    outcome = ItemOutcome(item_id, "failed", 0.0, f"{type(exc).__name__}: {exc}"[:300])
                outcomes[item_id] = outcome
                bar.update(outcome)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        shutil.rmtree(root / ".staging", ignore_errors=True)  # every task has returned: nothing writes there now
    report.outcomes = [outcomes[item.id] for item in spec.items]
    report.seconds = time.perf_counter() - started
    summary = {
        "scheduler": report.scheduler, "seconds": round(report.seconds, 2),
        "items": [{"id": o.id, "status": o.status, "seconds": round(o.seconds, 2), "error": o.error}
                  for o in report.outcomes],
    }
    (root / "batch-summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return report


def format_summary(report: BatchReport) -> str:
    """The summary table: one row per item (status, seconds, segments, outputs, error) and the totals."""
    rows = [("item", "status", "seconds", "segments (mL)", "outputs", "error")]
    for o in report.outcomes:
        segments = outputs = ""
        if o.manifest is not None:
            facts = o.manifest.get("summary", {}).get("segments", [])
            segments = ", ".join(f"{f['name']} {f['volume_ml']:.1f}" for f in facts)
            outputs = str(len(o.manifest.get("outputs", {})))
        seconds = f"{o.seconds:.1f}" if o.status != "skipped" else ""
        rows.append((o.id, o.status, seconds, segments, outputs, o.error or ""))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    lines = []
    for r in rows:
        line = "  ".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True))
        lines.append((line + "  " + r[-1]).rstrip())
    lines.insert(1, "-" * min(120, max(len(x) for x in lines)))
    lines.append(f"{report.count('done')} done, {report.count('skipped')} skipped (already finished), "
                 f"{report.count('failed')} failed in {report.seconds:.1f} s on {report.scheduler}")
    return "\n".join(lines)
