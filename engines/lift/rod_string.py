"""Sucker-rod string properties for the damped wave equation (oilfield units in, consistent units out).

A rod string is a list of tapers from the surface down. Each taper carries its elastic modulus
``E`` (psi), cross-section ``A`` (in^2), specific weight (lbf/ft^3) and length (ft). From these come
the axial stiffness ``EA`` (lbf), the mass per foot (slug/ft) and the wave speed
``v = sqrt(EA / m')`` (ft/s): 16,980 ft/s for plain steel (E = 30.5e6 psi, 490 lbf/ft^3), close to
the 16,300 ft/s Gibbs (1963) used for rods with couplings (Takacs, *Sucker-Rod Pumping Handbook*,
2015, ch. 4). Minimum tensile strengths by API 11B grade are from API Spec 11B / Takacs (2015), Table 2.4.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

G_FT_S2 = 32.174
#: Young's modulus (psi) and specific weight (lbf/ft^3) by rod material.
MATERIALS: dict[str, tuple[float, float]] = {"steel": (30.5e6, 490.0), "fiberglass": (7.2e6, 150.0)}
#: Minimum tensile strength T (psi) by API grade (API Spec 11B; Takacs 2015, Table 2.4).
TENSILE_STRENGTH_PSI: dict[str, float] = {"C": 90_000.0, "K": 90_000.0, "D": 115_000.0, "KD": 115_000.0, "HS": 140_000.0, "FG": 115_000.0}


@dataclass(frozen=True)
class RodTaper:
    """One taper: diameter (in), length (ft), grade and material (``steel`` or ``fiberglass``)."""

    diameter_in: float
    length_ft: float
    grade: str = "D"
    material: str = "steel"

    def __post_init__(self) -> None:
        if not (0.25 < self.diameter_in <= 2.0):
            raise ValueError(f"rod diameter_in must be in (0.25, 2.0], got {self.diameter_in}")
        if not self.length_ft > 0:
            raise ValueError(f"rod length_ft must be positive, got {self.length_ft}")
        if self.material not in MATERIALS:
            raise ValueError(f"rod material must be one of {sorted(MATERIALS)}, got {self.material!r}")
        if self.grade not in TENSILE_STRENGTH_PSI:
            raise ValueError(f"rod grade must be one of {sorted(TENSILE_STRENGTH_PSI)}, got {self.grade!r}")

    @property
    def area_in2(self) -> float:
        return float(np.pi * self.diameter_in**2 / 4.0)

    @property
    def ea_lbf(self) -> float:
        """Axial stiffness E*A (lbf)."""
        return MATERIALS[self.material][0] * self.area_in2

    @property
    def weight_lbf_per_ft(self) -> float:
        """Weight in air (lbf/ft)."""
        return MATERIALS[self.material][1] * self.area_in2 / 144.0

    @property
    def mass_slug_per_ft(self) -> float:
        return self.weight_lbf_per_ft / G_FT_S2

    @property
    def wave_speed_ft_s(self) -> float:
        return float(np.sqrt(self.ea_lbf / self.mass_slug_per_ft))


@dataclass(frozen=True)
class RodString:
    """Tapers from the surface down (tuple of :class:`RodTaper`)."""

    tapers: tuple[RodTaper, ...]

    def __post_init__(self) -> None:
        if not self.tapers:
            raise ValueError("rod string needs at least one taper")

    @classmethod
    def uniform(cls, diameter_in: float, length_ft: float, grade: str = "D", material: str = "steel") -> "RodString":
        return cls((RodTaper(diameter_in, length_ft, grade, material),))

    @property
    def length_ft(self) -> float:
        return float(sum(t.length_ft for t in self.tapers))

    def weight_in_air_lbf(self) -> float:
        return float(sum(t.weight_lbf_per_ft * t.length_ft for t in self.tapers))

    def buoyant_weight_lbf(self, fluid_sg: float) -> float:
        """Rod weight in the produced fluid (lbf): air weight times (1 - rho_fluid/rho_rod) per taper."""
        if not fluid_sg >= 0:
            raise ValueError("fluid_sg must be non-negative")
        return float(sum(t.weight_lbf_per_ft * t.length_ft * (1.0 - 62.4 * fluid_sg / MATERIALS[t.material][1]) for t in self.tapers))

    def buoyant_weight_below_lbf(self, fluid_sg: float) -> np.ndarray:
        """Buoyant weight hanging below the top of each taper (lbf), one value per taper."""
        w = np.array([t.weight_lbf_per_ft * t.length_ft * (1.0 - 62.4 * fluid_sg / MATERIALS[t.material][1]) for t in self.tapers])
        return np.cumsum(w[::-1])[::-1]

    def damping_coefficient_1_s(self, damping_factor: float) -> float:
        """Gibbs damping coefficient c = pi * v * nu / (2 L) (1/s), nu dimensionless (Gibbs 1963; Takacs 2015, ch. 4).

        v is the length-weighted travel-time average wave speed, L the total length.
        """
        if not damping_factor >= 0:
            raise ValueError("damping_factor must be non-negative")
        travel_s = sum(t.length_ft / t.wave_speed_ft_s for t in self.tapers)
        v_avg = self.length_ft / travel_s
        return float(np.pi * v_avg * damping_factor / (2.0 * self.length_ft))
