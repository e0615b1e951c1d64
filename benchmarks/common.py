"""Timing helpers shared by the benchmark groups: interleaved A/B runs, medians, the result table, page cache."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Table", "drop_page_cache", "interleave", "median"]


def median(values: Iterable[float]) -> float:
    """Median of ``values``."""
    return float(statistics.median(list(values)))


def interleave(candidates: dict[str, Callable[[], Any]], reps: int, before: Callable[[], None] | None = None,
               clock: Callable[[], float] = time.perf_counter) -> dict:
    """Run every candidate once per round, ``reps`` rounds (A B C A B C ...), after one untimed warm-up each.

    ``before`` runs (untimed) before every timed call, e.g. to drop the page cache; ``clock`` is wall time unless
    given (``time.process_time`` counts only this process's CPU time).  Returns name -> list of seconds.
    """
    for fn in candidates.values():
        if before is not None:
            before()
        fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(reps):
        for name, fn in candidates.items():
            if before is not None:
                before()
            t = clock()
            fn()
            times[name].append(clock() - t)
    return times


def drop_page_cache(paths: Iterable[str | os.PathLike[str]]) -> bool:
    """Ask the kernel to forget the cached pages of ``paths`` (``posix_fadvise(DONTNEED)``); False if unsupported."""
    if not hasattr(os, "posix_fadvise"):
        return False
    ok = True
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            ok = False
        finally:
            os.close(fd)
    return ok


class Table:
    """Rows of ``path | ours | peer | ratio``; ``ratio`` is ours/peer of the medians (< 1: ours is faster)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        path: str,
        ours: float,
        peer: float | None,
        *,
        unit: str = "s",
        peer_name: str = "",
        note: str = "",
        higher_is_better: bool = False,
    ) -> None:
        """Add one row; for rates (files/s) pass ``higher_is_better`` and the ratio is still ours/peer."""
        ratio = ours / peer if peer else None
        self.rows.append(
            {
                "path": path,
                "ours": ours,
                "peer": peer,
                "peer_name": peer_name,
                "unit": unit,
                "ratio": ratio,
                "higher_is_better": higher_is_better,
                "note": note,
            }
        )
        print(f"  {path}: ours {_fmt(ours, unit)} | {peer_name or 'peer'} {_fmt(peer, unit)} | ratio {_ratio(ratio)}")

    def print(self) -> None:
        """The table, aligned."""
        lines = [("path", "ours", "peer", "ratio (ours/peer)", "note")]
        for r in self.rows:
            peer = f"{_fmt(r['peer'], r['unit'])} {r['peer_name']}".strip() if r["peer"] is not None else "-"
            hint = " (higher is better)" if r["higher_is_better"] else ""
            lines.append((r["path"], _fmt(r["ours"], r["unit"]), peer, _ratio(r["ratio"]) + hint, r["note"]))
        widths = [max(len(line[i]) for line in lines) for i in range(5)]
        for i, line in enumerate(lines):
            print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
            if i == 0:
                print("-+-".join("-" * w for w in widths))


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "files/s":
        return f"{value:,.0f} files/s"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.3g} {unit}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
