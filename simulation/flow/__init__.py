"""Blood flow in arterial networks: 1-D (openBF-compatible) and 0-D (svZeroDSolver-compatible) models.

``run_model(path)`` reads an openBF YAML model, runs the finite-volume solver over all vessels at once (numba
kernel when installed, numpy otherwise) and returns the last cardiac cycle's waveforms; ``write_waveforms`` writes
them in openBF's reference CSV layout. ``simulate_0d`` runs a svZeroDSolver JSON model. ``run_scenario`` compares a
model with a clamp / stenosis / stent / bypass / resection of it; ``calibrate`` fits outlets and inflow to measured
pressures, heart rate and cardiac output.
"""

from simulation.flow.compare import Comparison, load_model, run_any, run_scenario
from simulation.flow.network import Network, build_network
from simulation.flow.openbf_io import FlowModelError, load_openbf_model
from simulation.flow.personalise import Calibration, Measurements, calibrate, read_measurements_csv
from simulation.flow.results import write_waveforms, write_zerod_result
from simulation.flow.scenarios import Scenario, apply_scenario, parse_scenario
from simulation.flow.solver_0d import ZeroDResult, simulate_0d
from simulation.flow.solver_1d import SimulationResult, run_model, simulate
from simulation.flow.zerod_io import ZeroDModel, load_zerod_model

__all__ = [
    "Calibration", "Comparison", "FlowModelError", "Measurements", "Network", "Scenario", "SimulationResult",
    "ZeroDModel", "ZeroDResult", "apply_scenario", "build_network", "calibrate", "load_model", "load_openbf_model",
    "load_zerod_model", "parse_scenario", "read_measurements_csv", "run_any", "run_model", "run_scenario",
    "simulate", "simulate_0d", "write_waveforms", "write_zerod_result",
]
