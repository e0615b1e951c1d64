"""Reading openBF's YAML model files (``project_name``, ``blood``, ``solver``, ``network``, inlet ``.dat`` file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FlowModel", "FlowModelError", "load_openbf_model", "read_number"]


class FlowModelError(ValueError):
    """A model that cannot be read or simulated (one-line message)."""


@dataclass
class FlowModel:
    """An openBF model: blood, solver settings, vessel dictionaries and the inlet flow waveform."""

    name: str
    rho_kg_m3: float
    mu_pa_s: float
    ccfl: float
    cycles: int
    jump: int
    convergence_tolerance_mmhg: float
    vessels: list[dict[str, Any]]
    inlet_t_s: np.ndarray
    inlet_q_m3_s: np.ndarray
    pout_pa: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def period_s(self) -> float:
        """Cardiac period: the last time of the inlet file."""
        return float(self.inlet_t_s[-1])


def read_number(
    d: dict, key: str, where: str, default: float | None = None, *, above: float | None = None,
    at_least: float | None = None,
) -> float:
    """``d[key]`` as a finite float (``default`` when absent; required when ``default`` is None).

    Raises
    ------
    FlowModelError
        Missing, not a number, not finite, not greater than ``above`` or less than ``at_least``.
    """
    if key not in d:
        if default is None:
            raise FlowModelError(f"{where}: missing {key!r}")
        return default
    try:
        value = float(d[key])
    except (TypeError, ValueError):
        raise FlowModelError(f"{where}: {key!r} must be a number, got {d[key]!r}") from None
    if not np.isfinite(value):
        raise FlowModelError(f"{where}: {key!r} must be finite, got {d[key]!r}")
    if above is not None and not value > above:
        kind = "positive number" if above == 0 else f"number above {above:g}"
        raise FlowModelError(f"{where}: {key!r} must be a {kind}, got {d[key]!r}")
    if at_least is not None and value < at_least:
        kind = "non-negative number" if at_least == 0 else f"number of at least {at_least:g}"
        raise FlowModelError(f"{where}: {key!r} must be a {kind}, got {d[key]!r}")
    return value


def _number(d: dict, key: str, where: str, default: float | None = None, positive: bool = True) -> float:
    return read_number(d, key, where, default, above=0.0 if positive else None)


def load_openbf_model(path: str | Path) -> FlowModel:
    """Read an openBF YAML model and its inlet file (``inlet_file`` or ``<project_name>_inlet.dat`` beside it)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FlowModelError(f"model file not found: {path}")
    try:
        config = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FlowModelError(f"{path.name}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict) or not isinstance(config.get("network"), list) or not config["network"]:
        raise FlowModelError(f"{path.name}: not an openBF model (needs a non-empty 'network' list)")
    name = str(config.get("project_name", path.stem))
    blood = config.get("blood") or {}
    solver = config.get("solver") or {}
    if not isinstance(blood, dict) or not isinstance(solver, dict):
        raise FlowModelError(f"{path.name}: 'blood' and 'solver' must be mappings")
    rho = _number(blood, "rho", "blood")
    mu = _number(blood, "mu", "blood")
    ccfl = _number(solver, "Ccfl", "solver", 0.9)
    if ccfl > 1:
        raise FlowModelError(f"solver: Ccfl must be in (0, 1], got {ccfl}")
    cycles = int(_number(solver, "cycles", "solver", 100))
    jump = int(_number(solver, "jump", "solver", 100))
    tol = _number(solver, "convergence_tolerance", "solver", 1.0, positive=False)
    vessels = []
    for i, v in enumerate(config["network"]):
        if not isinstance(v, dict):
            raise FlowModelError(f"network entry {i + 1} is not a mapping")
        where = f"vessel {v.get('label', i + 1)!r}"
        for key in ("sn", "tn"):
            _number(v, key, where)
        for key in ("L", "E"):
            _number(v, key, where)
        if not any(k in v for k in ("R0", "Rp")):
            raise FlowModelError(f"{where}: missing radius (R0 or Rp)")
        for key in ("R0", "Rp", "Rd", "h0", "M"):
            if key in v:
                _number(v, key, where)
        for key in ("R1", "R2", "Cc", "Rt"):
            if key in v:
                _number(v, key, where, positive=False)
        if float(v.get("R1", 0.0)) > 0 and float(v.get("Cc", 0.0)) <= 0:
            raise FlowModelError(f"{where}: a Windkessel outlet (R1 > 0) needs a positive Cc")
        vessels.append(dict(v, label=str(v.get("label", f"vessel{i + 1}"))))
    inlet_name = config.get("inlet_file", f"{name}_inlet.dat")
    inlet = path.parent / str(inlet_name)
    if not inlet.is_file():
        raise FlowModelError(f"inlet file not found: {inlet}")
    try:
        data = np.loadtxt(inlet, ndmin=2)
    except ValueError as exc:
        raise FlowModelError(f"{inlet.name}: not a two-column t Q table ({exc})") from None
    # openBF takes the first table segment that contains t, so (as in the circle-of-Willis file) a few times may
    # step back; the period is the last time, which must be the largest.
    ok = data.ndim == 2 and data.shape[1] >= 2 and data.shape[0] >= 2 and np.all(np.isfinite(data[:, :2]))
    if not ok or data[-1, 0] <= 0 or data[-1, 0] < data[:, 0].max() or data[0, 0] > 0:
        raise FlowModelError(f"{inlet.name}: needs two columns (t [s], Q [m^3/s]) from t = 0 to the period")
    return FlowModel(name, rho, mu, ccfl, cycles, jump, tol, vessels, data[:, 0].copy(), data[:, 1].copy(),
                     pout_pa=float(config.get("Pout", 0.0) or 0.0))
