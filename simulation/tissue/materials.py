"""Linear-elastic parameter presets of soft tissues (small-strain moduli; the solvers add geometric nonlinearity).

Values are representative of ex-vivo/in-vivo indentation and elastography literature; soft-tissue moduli vary by a
factor of 2-10 between studies, strain rates and species, so these are plausible defaults for rehearsal, not
patient-specific properties.  Poisson's ratios near 0.5 reflect the near-incompressibility of water-rich tissue.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from simulation.tissue.tetmesh import TissueInputError

__all__ = ["PRESETS", "Material", "material"]


@dataclass(frozen=True)
class Material:
    """Isotropic elastic material with mass-proportional damping.

    Parameters
    ----------
    name : str
        Preset name.
    young_pa : float
        Young's modulus E (Pa), > 0.
    poisson : float
        Poisson's ratio, -1 < nu < 0.5.
    density_kg_m3 : float
        Mass density (kg/m³), > 0.
    damping_per_s : float
        Mass-proportional (Rayleigh alpha) damping coefficient (1/s), >= 0.
    """

    name: str
    young_pa: float
    poisson: float
    density_kg_m3: float = 1060.0
    damping_per_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.young_pa > 0:
            raise TissueInputError(f"Young's modulus must be positive, got {self.young_pa} Pa")
        if not -1.0 < self.poisson < 0.5:
            raise TissueInputError(f"Poisson's ratio must be in (-1, 0.5), got {self.poisson}")
        if not self.density_kg_m3 > 0:
            raise TissueInputError(f"density must be positive, got {self.density_kg_m3} kg/m³")
        if not self.damping_per_s >= 0:
            raise TissueInputError(f"damping must be non-negative, got {self.damping_per_s} 1/s")

    @property
    def mu_pa(self) -> float:
        """Shear modulus (first Lamé parameter's partner) mu = E / (2 (1 + nu))."""
        return self.young_pa / (2.0 * (1.0 + self.poisson))

    @property
    def lambda_pa(self) -> float:
        """Lamé's first parameter lambda = E nu / ((1 + nu)(1 - 2 nu))."""
        return self.young_pa * self.poisson / ((1.0 + self.poisson) * (1.0 - 2.0 * self.poisson))

    def with_(self, **changes: float) -> Material:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]


PRESETS: dict[str, Material] = {
    # Liver: ~4-7 kPa in vivo by MR/transient elastography of healthy liver (Yeh et al., Ultrasound Med Biol 2002,
    # 28:467; Sandrin et al., Ultrasound Med Biol 2003, 29:1705, healthy < 7 kPa); density 1060 kg/m³ (ICRP 89).
    "liver": Material("liver", young_pa=5.0e3, poisson=0.45, density_kg_m3=1060.0),
    # Kidney: cortex ~ 10 kPa in ex-vivo indentation (Nasseri et al., Biorheology 2002, 39:123; Grenier et al.,
    # Eur Radiol 2013 review 5-15 kPa); density 1050 kg/m³ (ICRP 89).
    "kidney": Material("kidney", young_pa=1.0e4, poisson=0.45, density_kg_m3=1050.0),
    # Brain: ~1-3 kPa (Budday et al., J Mech Behav Biomed Mater 2015, 46:318: grey 1.4 kPa, white 1.9 kPa);
    # nearly incompressible; density 1040 kg/m³.
    "brain": Material("brain", young_pa=1.5e3, poisson=0.49, density_kg_m3=1040.0),
    # Skeletal muscle, passive, along/across fibres ~ 10-50 kPa (Gennisson et al., Ultrasound Med Biol 2010,
    # 36:789 shear-wave elastography); density 1060 kg/m³.
    "muscle": Material("muscle", young_pa=2.5e4, poisson=0.45, density_kg_m3=1060.0),
    # Subcutaneous fat ~ 1-3 kPa (Samani et al., Phys Med Biol 2007, 52:1565: fat 3.25 kPa); density 920 kg/m³.
    "fat": Material("fat", young_pa=3.0e3, poisson=0.45, density_kg_m3=920.0),
    # Arterial wall, small-strain incremental modulus ~ 0.5-1 MPa (Holzapfel et al., Am J Physiol 2005, 289:H2048;
    # Riley et al. 1992 carotid ~ 0.6 MPa); density 1100 kg/m³.
    "vessel_wall": Material("vessel_wall", young_pa=6.0e5, poisson=0.45, density_kg_m3=1100.0),
}


def material(name: str, **overrides: float) -> Material:
    """The preset ``name`` (case-insensitive, ``-`` or ``_``), optionally with fields overridden.

    Raises
    ------
    TissueInputError
        For an unknown preset.
    """
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in PRESETS:
        raise TissueInputError(f"unknown material {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[key].with_(**overrides) if overrides else PRESETS[key]
