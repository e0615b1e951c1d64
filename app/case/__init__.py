"""The case document: everything known about one patient's surgical twin, with change events and no GUI.

The model imports neither Qt nor VTK rendering (an import-linter contract in ``pyproject.toml`` enforces it), so the
CLI, batch runs and tests use exactly the code the GUI uses.
"""

from app.case.bundle import BUNDLE_FORMAT, BUNDLE_VERSION, CaseBundleError, load_case, save_case
from app.case.case import Case, switch_node_handlers
from app.case.nodes import (
    MeshNode,
    Node,
    PlanNode,
    ResultNode,
    Segment,
    SegmentationNode,
    VolumeNode,
)

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "Case",
    "CaseBundleError",
    "MeshNode",
    "Node",
    "PlanNode",
    "ResultNode",
    "Segment",
    "SegmentationNode",
    "VolumeNode",
    "load_case",
    "save_case",
    "switch_node_handlers",
]
