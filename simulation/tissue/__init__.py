"""Soft-tissue biomechanics: tetrahedral meshing, a real-time hyperelastic solver, grasping, probing and cutting.

Layers: :mod:`tetmesh` (value type), :mod:`meshing` (tetgen), :mod:`quality`, :mod:`materials` (presets with
sources), :mod:`fem` (static Newton solver, the validation reference), :mod:`dynamics` (real-time implicit solver),
:mod:`cutting`, :mod:`embedding`, :mod:`selection` and :mod:`simulation` (the interaction API).
"""

from simulation.tissue.blade import SweptCutResult, cut_swept, swept_surface
from simulation.tissue.cutting import CutResult, connected_parts, cut_plane
from simulation.tissue.dynamics import TissueSolver
from simulation.tissue.embedding import Embedding, carry_over, carry_over_split, embed_points, torn_faces
from simulation.tissue.materials import PRESETS, Material, material
from simulation.tissue.meshing import box_mesh, check_watertight, mesh_label, tetrahedralize
from simulation.tissue.quality import QualityReport, quality_report
from simulation.tissue.selection import parse_vector, select_nodes
from simulation.tissue.simulation import CutReport, TissueSimulation
from simulation.tissue.tetmesh import TetMesh, TissueInputError

__all__ = [
    "PRESETS",
    "CutReport",
    "CutResult",
    "Embedding",
    "Material",
    "QualityReport",
    "SweptCutResult",
    "TetMesh",
    "TissueInputError",
    "TissueSimulation",
    "TissueSolver",
    "box_mesh",
    "carry_over",
    "carry_over_split",
    "check_watertight",
    "connected_parts",
    "cut_plane",
    "cut_swept",
    "embed_points",
    "material",
    "mesh_label",
    "parse_vector",
    "quality_report",
    "select_nodes",
    "swept_surface",
    "tetrahedralize",
    "torn_faces",
]
