"""Surgical planning geometry: measurements, resection by a plane or a curved surface, safety margins, trajectories.

Pure numpy/scipy (and VTK/manifold3d geometry filters, no rendering): every function takes and returns plain values in
LPS millimetres, so the GUI, the CLI and tests share it.
"""

from imaging.planning.measure import angle_deg, closed_curve_area_mm2, closed_curve_length_mm, sample_closed_curve
from imaging.planning.resection import (
    CurvedCutSurface,
    CutPlane,
    MarginResult,
    PlanningError,
    ResectionResult,
    margin_band_mask,
    resect,
    safety_margin,
    split_mask,
    split_mesh,
)
from imaging.planning.trajectory import Clearance, Trajectory, structure_clearance, trajectory_report

__all__ = [
    "Clearance",
    "CurvedCutSurface",
    "CutPlane",
    "MarginResult",
    "PlanningError",
    "ResectionResult",
    "Trajectory",
    "angle_deg",
    "closed_curve_area_mm2",
    "closed_curve_length_mm",
    "margin_band_mask",
    "resect",
    "safety_margin",
    "sample_closed_curve",
    "split_mask",
    "split_mesh",
    "structure_clearance",
    "trajectory_report",
]
