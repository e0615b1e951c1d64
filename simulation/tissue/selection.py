"""Node selections by text: the fixed regions and grasp points of the CLI and of batch scripts.

Grammar (coordinates in mm in the mesh's frame; percentages are positions within the mesh's bounding box along
that axis, 0 % at the minimum)::

    z<10%            nodes in the lowest tenth along z          x>120       nodes with x > 120 mm
    box:X0,Y0,Z0,X1,Y1,Z1                                       sphere:X,Y,Z,R
    nearest:X,Y,Z    the single node nearest to the point
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from simulation.tissue.tetmesh import TissueInputError

__all__ = ["parse_vector", "select_nodes"]

_AXIS = re.compile(r"^\s*([xyz])\s*([<>])\s*(-?[0-9.eE+-]+)\s*(%?)\s*$")


def parse_vector(text: str, count: int = 3, what: str = "vector") -> npt.NDArray[np.float64]:
    """``count`` comma-separated finite numbers, or :class:`TissueInputError` naming ``what``."""
    try:
        values = np.array([float(v) for v in text.split(",")], np.float64)
    except ValueError:
        values = np.zeros(0)
    if values.shape != (count,) or not np.isfinite(values).all():
        raise TissueInputError(f"{what} needs {count} comma-separated numbers, got {text!r}")
    return values


def select_nodes(spec: str, points: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Mask of the nodes ``spec`` selects (grammar in the module docstring).

    Raises
    ------
    TissueInputError
        For a malformed specification or one that selects no node.
    """
    points = np.asarray(points, np.float64)
    text = spec.strip().lower()
    match = _AXIS.match(text)
    if match:
        axis = "xyz".index(match.group(1))
        try:
            value = float(match.group(3))
        except ValueError as exc:
            raise TissueInputError(f"bad number in selection {spec!r}") from exc
        coord = points[:, axis]
        if match.group(4):
            lo, hi = float(coord.min()), float(coord.max())
            value = lo + value / 100.0 * (hi - lo)
        mask = coord < value if match.group(2) == "<" else coord > value
    elif text.startswith("box:"):
        b = parse_vector(text[4:], 6, "box:X0,Y0,Z0,X1,Y1,Z1")
        lo, hi = np.minimum(b[:3], b[3:]), np.maximum(b[:3], b[3:])
        mask = ((points >= lo) & (points <= hi)).all(axis=1)
    elif text.startswith("sphere:"):
        s = parse_vector(text[7:], 4, "sphere:X,Y,Z,R")
        if s[3] <= 0:
            raise TissueInputError(f"sphere radius must be positive in {spec!r}")
        mask = np.linalg.norm(points - s[:3], axis=1) <= s[3]
    elif text.startswith("nearest:"):
        p = parse_vector(text[8:], 3, "nearest:X,Y,Z")
        mask = np.zeros(len(points), bool)
        mask[int(np.argmin(np.linalg.norm(points - p, axis=1)))] = True
    else:
        raise TissueInputError(
            f"cannot read node selection {spec!r}: use e.g. 'z<10%', 'x>120', 'box:X0,Y0,Z0,X1,Y1,Z1', "
            "'sphere:X,Y,Z,R' or 'nearest:X,Y,Z'"
        )
    if not mask.any():
        raise TissueInputError(f"node selection {spec!r} selects no node")
    return mask
