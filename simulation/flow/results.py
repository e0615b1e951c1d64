"""Writing results: 1-D waveforms in openBF's reference CSV layout (``<vessel>_<P|Q|A|u>.csv``); 0-D results as
``<vessel>_0d.csv`` plus ``result.json`` in svZeroDSolver's column layout (name, time, flow_in, flow_out,
pressure_in, pressure_out; one row per vessel and time), so they compare with its stored results directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["HEADER", "HEADER_0D", "write_waveforms", "write_zerod_result"]

HEADER = "t_s,node1_inlet,node_0.25M,node_0.5M,node_0.75M,node_M_outlet"
HEADER_0D = "t,pressure_in,pressure_out,flow_in,flow_out"


def write_waveforms(result, out_dir: str | Path, fields=("P", "Q", "A", "u")) -> list[Path]:
    """One CSV per vessel and field (time, then inlet, 1/4, 1/2, 3/4, outlet); returns the written paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for label, per_field in result.waveforms.items():
        for f in fields:
            path = out / f"{label}_{f}.csv"
            np.savetxt(path, per_field[f], delimiter=",", header=HEADER, comments="", fmt="%.10e")
            written.append(path)
    return written


def write_zerod_result(result, out_dir: str | Path) -> list[Path]:
    """``<vessel>_0d.csv`` per vessel and ``result.json`` (svZeroDSolver's layout); returns the written paths."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    cols = {"name": [], "time": [], "flow_in": [], "flow_out": [], "pressure_in": [], "pressure_out": []}
    for k, name in enumerate(result.names):
        table = np.column_stack([result.t_s, result.pressure_in[:, k], result.pressure_out[:, k],
                                 result.flow_in[:, k], result.flow_out[:, k]])
        path = out / f"{name}_0d.csv"
        np.savetxt(path, table, delimiter=",", header=HEADER_0D, comments="", fmt="%.10e")
        written.append(path)
        cols["name"] += [name] * result.t_s.size
        cols["time"] += [None if not np.isfinite(t) else float(t) for t in result.t_s]
        for key in ("flow_in", "flow_out", "pressure_in", "pressure_out"):
            cols[key] += [float(x) for x in getattr(result, key)[:, k]]
    doc = {key: {str(i): v for i, v in enumerate(vals)} for key, vals in cols.items()}
    path = out / "result.json"
    path.write_text(json.dumps(doc))
    written.append(path)
    return written
