"""Measurements on markups: angles and closed curves (LPS millimetres)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["angle_deg", "closed_curve_area_mm2", "closed_curve_length_mm", "sample_closed_curve"]


def angle_deg(a: npt.ArrayLike, vertex: npt.ArrayLike, c: npt.ArrayLike) -> float:
    """Angle ``a-vertex-c`` in degrees (0..180).

    Raises
    ------
    ValueError
        An arm has zero length.
    """
    u = np.asarray(a, float) - np.asarray(vertex, float)
    v = np.asarray(c, float) - np.asarray(vertex, float)
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if nu == 0 or nv == 0:
        raise ValueError("an angle needs three distinct points (an arm has zero length)")
    # atan2 of |u x v| and u.v stays accurate near 0 and 180 degrees, where arccos of the cosine does not.
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(u, v)), float(np.dot(u, v)))))


def sample_closed_curve(points: npt.ArrayLike, *, per_segment: int = 16, spline: bool = True) -> np.ndarray:
    """Dense samples of the closed curve through ``points``.

    Parameters
    ----------
    points : array-like, shape (n, 3)
        Control points in order, n >= 3.
    per_segment : int, default 16
        Samples between two control points.
    spline : bool, default True
        A closed centripetal Catmull-Rom spline through the points (as 3D Slicer's closed curve); False gives the
        polygon itself.

    Returns
    -------
    numpy.ndarray, shape (m, 3)
        The curve, not repeating its first point.
    """
    p = np.asarray(points, float).reshape(-1, 3)
    if len(p) < 3:
        raise ValueError(f"a closed curve needs at least 3 points, got {len(p)}")
    if not spline:
        return p.copy()
    n = len(p)
    out = []
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    for i in range(n):
        p0, p1, p2, p3 = p[(i - 1) % n], p[i], p[(i + 1) % n], p[(i + 2) % n]
        # Centripetal parameterisation (alpha = 1/2): no cusps or self-intersections between control points.
        d01, d12, d23 = (max(float(np.linalg.norm(b - a)) ** 0.5, 1e-9) for a, b in ((p0, p1), (p1, p2), (p2, p3)))
        t0, t1 = 0.0, d01
        t2, t3 = t1 + d12, t1 + d12 + d23
        tt = t1 + t * (t2 - t1)
        a1 = (t1 - tt) / (t1 - t0) * p0 + (tt - t0) / (t1 - t0) * p1
        a2 = (t2 - tt) / (t2 - t1) * p1 + (tt - t1) / (t2 - t1) * p2
        a3 = (t3 - tt) / (t3 - t2) * p2 + (tt - t2) / (t3 - t2) * p3
        b1 = (t2 - tt) / (t2 - t0) * a1 + (tt - t0) / (t2 - t0) * a2
        b2 = (t3 - tt) / (t3 - t1) * a2 + (tt - t1) / (t3 - t1) * a3
        out.append((t2 - tt) / (t2 - t1) * b1 + (tt - t1) / (t2 - t1) * b2)
    return np.concatenate(out)


def closed_curve_area_mm2(points: npt.ArrayLike, **kwargs) -> float:
    """Area enclosed by the closed curve through ``points`` (square millimetres).

    The curve is sampled by :func:`sample_closed_curve` (keywords pass on); the area is the norm of the polygon's
    vector area (Newell), exact for a planar polygon in any orientation.
    """
    s = sample_closed_curve(points, **kwargs)
    vector_area = 0.5 * np.cross(s, np.roll(s, -1, axis=0)).sum(axis=0)
    return float(np.linalg.norm(vector_area))


def closed_curve_length_mm(points: npt.ArrayLike, **kwargs) -> float:
    """Perimeter of the closed curve through ``points`` (millimetres)."""
    s = sample_closed_curve(points, **kwargs)
    return float(np.linalg.norm(np.roll(s, -1, axis=0) - s, axis=1).sum())
