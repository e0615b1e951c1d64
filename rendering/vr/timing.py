"""Per-frame timing statistics (median and 95th percentile) and the 90 Hz budget."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["BUDGET_90HZ_MS", "FrameStats"]

#: Both eyes of one frame at 90 Hz.
BUDGET_90HZ_MS = 1000.0 / 90.0


@dataclass
class FrameStats:
    """Render times of the frames of one session, in milliseconds."""

    render_ms: list[float] = field(default_factory=list)
    submitted: int = 0
    empty: int = 0

    def add(self, ms: float) -> None:
        """One rendered frame (both eyes)."""
        self.render_ms.append(float(ms))

    @property
    def median_ms(self) -> float:
        """Median render time (nan before the first frame)."""
        return float(np.median(self.render_ms)) if self.render_ms else float("nan")

    @property
    def p95_ms(self) -> float:
        """95th percentile render time."""
        return float(np.percentile(self.render_ms, 95)) if self.render_ms else float("nan")

    def over_budget_fraction(self, budget_ms: float = BUDGET_90HZ_MS) -> float:
        """Share of frames slower than ``budget_ms``."""
        if not self.render_ms:
            return 0.0
        return float(np.mean(np.asarray(self.render_ms) > budget_ms))

    def summary(self) -> str:
        """One line: frames submitted and render time statistics."""
        return (f"{self.submitted} frames submitted; render time per frame (both eyes) median "
                f"{self.median_ms:.1f} ms, 95th percentile {self.p95_ms:.1f} ms "
                f"(90 Hz budget {BUDGET_90HZ_MS:.1f} ms, {100 * self.over_budget_fraction():.0f} % of frames over)")
