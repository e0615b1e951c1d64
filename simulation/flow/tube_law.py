"""The elastic tube law of openBF: P = Pext + beta (sqrt(A/A0) - 1), beta = sqrt(pi/A0) h0 E / (1 - sigma^2)."""

from __future__ import annotations

import numpy as np

POISSON_RATIO = 0.5
# openBF's empirical wall thickness h0(R0) = R0 (a exp(b R0) + c exp(d R0)), R0 in metres.
_H_A, _H_B, _H_C, _H_D = 0.2802, -5.053e2, 0.1324, -0.1114e2


def wall_thickness_m(radius_m: np.ndarray) -> np.ndarray:
    """Default wall thickness (m) for a lumen radius (m), as openBF uses when ``h0`` is not given."""
    r = np.asarray(radius_m, dtype=float)
    return r * (_H_A * np.exp(_H_B * r) + _H_C * np.exp(_H_D * r))


def stiffness_beta_pa(area0_m2: np.ndarray, h0_m: np.ndarray, young_pa: np.ndarray) -> np.ndarray:
    """beta (Pa) such that P - Pext = beta (sqrt(A/A0) - 1)."""
    return np.sqrt(np.pi / area0_m2) * h0_m * young_pa / (1.0 - POISSON_RATIO**2)


def pressure_pa(area_m2: np.ndarray, area0_m2: np.ndarray, beta_pa: np.ndarray, pext_pa: np.ndarray | float = 0.0):
    """Transmural-plus-external pressure (Pa) from the cross-sectional area."""
    return pext_pa + beta_pa * (np.sqrt(area_m2 / area0_m2) - 1.0)


def area_m2(p_pa: np.ndarray, area0_m2: np.ndarray, beta_pa: np.ndarray, pext_pa: np.ndarray | float = 0.0):
    """Inverse tube law: area (m^2) at pressure ``p_pa``."""
    return area0_m2 * ((p_pa - pext_pa) / beta_pa + 1.0) ** 2


def flux_gamma(beta_pa: np.ndarray, area0_m2: np.ndarray, rho_kg_m3: float) -> np.ndarray:
    """gamma = beta / (3 rho sqrt(A0)): the momentum flux is Q^2/A + gamma A^(3/2)."""
    return beta_pa / (3.0 * rho_kg_m3 * np.sqrt(area0_m2))


def wave_speed_m_s(area_m2_: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Pulse wave speed c = sqrt(A/rho dP/dA) = sqrt(1.5 gamma sqrt(A)) (m/s)."""
    return np.sqrt(1.5 * gamma * np.sqrt(area_m2_))


def stiffness_slope_pa(radius_m: np.ndarray, h0_m: np.ndarray, young_pa: float, radius_slope: float) -> np.ndarray:
    """openBF's dTau/dx of a tapered vessel with the default wall thickness (its empirical expression, kept as is)."""
    r = np.asarray(radius_m, dtype=float)
    dh = _H_A * _H_B * np.exp(_H_B * r) + _H_C * _H_D * np.exp(_H_D * r)
    return np.sqrt(np.pi) * young_pa * radius_slope * 1.3 * (h0_m / r + r * dh)
