"""Writing waveforms in openBF's reference CSV layout: ``<vessel>_<P|Q|A|u>.csv``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["HEADER", "write_waveforms"]

HEADER = "t_s,node1_inlet,node_0.25M,node_0.5M,node_0.75M,node_M_outlet"


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
