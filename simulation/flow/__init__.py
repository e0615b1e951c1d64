"""1-D nonlinear blood flow in arterial networks (openBF-compatible models and results).

``run_model(path)`` reads an openBF YAML model, runs the finite-volume solver over all vessels at once and returns
the last cardiac cycle's waveforms; ``write_waveforms`` writes them in openBF's reference CSV layout.
"""

from simulation.flow.network import Network, build_network
from simulation.flow.openbf_io import FlowModelError, load_openbf_model
from simulation.flow.results import write_waveforms
from simulation.flow.solver_1d import SimulationResult, run_model, simulate

__all__ = [
    "FlowModelError", "Network", "SimulationResult", "build_network", "load_openbf_model", "run_model", "simulate",
    "write_waveforms",
]
