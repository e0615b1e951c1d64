"""What a plan report says: gathered once from the case, then written as HTML or PDF by the writers.

Everything here is plain data (strings, numbers, PNG bytes), so the writers stay small and the content is easy to
test. The report carries no patient identity: the case keeps none (volumes hold series-level metadata only), and
the report adds none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from app.case import Case, PlanNode, ResultNode, SegmentationNode

__all__ = ["Figure", "ReportContent", "Table", "build_report_content"]


@dataclass(frozen=True)
class Figure:
    """A picture in the report: PNG bytes and a caption."""

    png: bytes
    caption: str


@dataclass(frozen=True)
class Table:
    """A titled table: header and rows of already formatted cells; ``alerts`` marks rows to highlight."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    alerts: frozenset[int] = frozenset()
    note: str = ""


@dataclass(frozen=True)
class ReportContent:
    """The whole report."""

    title: str
    case_name: str
    created: str
    software: str
    figures: tuple[Figure, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def _segment_table(case: Case) -> Table | None:
    rows = []
    for node in case.of_kind(SegmentationNode):
        array = node.labelmap.array
        segments = node.segments
        if not segments:
            continue
        counts = np.bincount(array.ravel(), minlength=max(s.label_value for s in segments) + 1)
        voxel_ml = float(np.prod(node.labelmap.spacing)) / 1000.0
        for s in segments:
            count = int(counts[s.label_value])
            rows.append((s.name, node.name, f"{count * voxel_ml:.1f}", f"{count:,}"))
    if not rows:
        return None
    return Table("Segment volumes", ("Segment", "Segmentation", "Volume (mL)", "Voxels"), tuple(rows),
                 note="Volumes count whole voxels of the label map.")


def _measurement_table(plans: Sequence[PlanNode], summary: Callable[[PlanNode], str]) -> Table | None:
    kinds = {"ruler": "Ruler", "angle": "Angle", "point_list": "Point list", "closed_curve": "Closed curve"}
    rows = tuple((n.name, kinds[n.plan_type], summary(n)) for n in plans if n.plan_type in kinds)
    return Table("Measurements", ("Name", "Type", "Value"), rows) if rows else None


def _resection_tables(plans: Sequence[PlanNode]) -> list[Table]:
    tables = []
    for node in plans:
        if node.plan_type != "resection":
            continue
        result = node.data.get("result") or {}
        if not result:
            continue
        rows = [
            ("Organ, whole", f"{result.get('total_ml', float('nan')):.1f} mL"),
            ("Resected", f"{result.get('resected_ml', float('nan')):.1f} mL"),
            ("Remnant", f"{result.get('remnant_ml', float('nan')):.1f} mL"),
            ("Remnant (future liver remnant for a liver)", f"{result.get('remnant_percent', float('nan')):.1f} %"),
        ]
        if result.get("mesh_total_ml") is not None:
            rows.append(("Surface model: resected + remnant",
                         f"{result['mesh_resected_ml']:.1f} + {result['mesh_remnant_ml']:.1f} mL "
                         f"of {result['mesh_total_ml']:.1f} mL"))
        alerts = set()
        if result.get("min_margin_mm") is not None:
            wanted = result.get("wanted_margin_mm")
            label = "Smallest margin to the target" + (f" (wanted {float(wanted):.0f} mm)" if wanted else "")
            rows.append((label, f"{result['min_margin_mm']:.1f} mm"))
            if wanted is not None and result["min_margin_mm"] < float(wanted):
                alerts.add(len(rows) - 1)
        tables.append(Table(f"Resection: {node.name}", ("Quantity", "Value"), tuple(rows), frozenset(alerts)))
    return tables


def _trajectory_tables(plans: Sequence[PlanNode]) -> list[Table]:
    tables = []
    for node in plans:
        if node.plan_type != "trajectory":
            continue
        data = node.data
        rows, alerts = [], set()
        for i, row in enumerate(data.get("clearances") or []):
            critical = bool(row.get("critical"))
            rows.append((str(row.get("structure", "")), "yes" if critical else "",
                         f"{float(row.get('min_distance_mm', float('nan'))):.1f}",
                         "COLLISION" if row.get("collision") else ""))
            if row.get("collision"):
                alerts.add(i)
        length, radius = float(data.get("length_mm", 0.0)), float(data.get("radius_mm", 0.0))
        note = f"Path {length:.1f} mm, tool radius {radius:.1f} mm."
        tables.append(Table(f"Trajectory: {node.name}", ("Structure", "Critical", "Clearance (mm)", ""), tuple(rows),
                            frozenset(alerts), note))
    return tables


def _results_table(case: Case) -> Table | None:
    rows = []
    for node in case.of_kind(ResultNode):
        for key, value in node.data.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append((node.name, key.replace("_", " "), f"{value:.4g}"))
    return Table("Simulation results", ("Run", "Quantity", "Value"), tuple(rows)) if rows else None


def build_report_content(
    case: Case,
    figures: Sequence[Figure] = (),
    *,
    summary: Callable[[PlanNode], str] | None = None,
    software: str = "SurgiTwin",
    now: dt.datetime | None = None,
    title: str = "Surgical plan report",
) -> ReportContent:
    """Gather the report of ``case``: figures, segment volumes, measurements, planning and simulation results.

    Parameters
    ----------
    case : Case
        The document.
    figures : sequence of Figure
        Screenshots to include, in order.
    summary : callable, optional
        ``summary(plan_node) -> str``: the measurement as the workstation shows it.
    software : str
        Name and version for the footer.
    now : datetime, optional
        Creation time (default: now, local time).
    title : str
        Report title.
    """
    summary = summary or (lambda node: "")
    plans = case.plans
    tables = [t for t in (_segment_table(case), _measurement_table(plans, summary)) if t is not None]
    tables += _resection_tables(plans) + _trajectory_tables(plans)
    results = _results_table(case)
    if results is not None:
        tables.append(results)
    created = (now or dt.datetime.now().astimezone()).strftime("%Y-%m-%d %H:%M %Z").strip()
    notes = ("For planning and rehearsal only; not for diagnostic use.",
             "No patient identity is included in this report.")
    return ReportContent(title, case.name, created, software, tuple(figures), tuple(tables), notes)
