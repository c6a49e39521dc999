"""Rod-string loading by the modified Goodman diagram and the rod-fall (free-fall) speed limit.

Modified Goodman diagram (API RP 11BR; Takacs, *Sucker-Rod Pumping Handbook*, 2015, ch. 4): the allowable maximum stress is

    S_A = (T / 4 + 0.5625 S_min) * SF      (psi),

with T the minimum tensile strength of the grade (psi), S_min the minimum rod stress and SF the
service factor (1.0 non-corrosive, 0.9 salt water, 0.7 H2S). Rod loading (%) = (S_max - S_min) /
(S_A - S_min) * 100; above 100 % the taper is overloaded.

Rod-fall limit: with harmonic polished-rod motion the downstroke acceleration peaks at (S/2) w^2; the
rods fall freely at g, so N_free = (60 / 2 pi) sqrt(2 g / S) = sqrt(70,471.2 / S_in) strokes/min
(Takacs 2015, ch. 3, g = 32.2 ft/s^2). Fluid buoyancy and friction slow the fall, so practice
keeps the speed to a fraction of N_free (``rod_fall_fraction``, 0.5 by default).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.lift.rod_string import TENSILE_STRENGTH_PSI, RodString


@dataclass(frozen=True)
class TaperLoading:
    """Goodman check of one taper: stresses (psi) and loading (%)."""

    max_stress_psi: float
    min_stress_psi: float
    allowable_stress_psi: float
    loading_pct: float


def goodman_allowable_stress_psi(tensile_strength_psi: float, min_stress_psi: float, service_factor: float = 1.0) -> float:
    """S_A = (T/4 + 0.5625 S_min) SF (psi), API RP 11BR modified Goodman diagram."""
    if not (tensile_strength_psi > 0 and 0 < service_factor <= 1.0):
        raise ValueError("tensile_strength_psi must be > 0 and service_factor in (0, 1]")
    return (tensile_strength_psi / 4.0 + 0.5625 * min_stress_psi) * service_factor


def goodman_loading_pct(max_stress_psi: float, min_stress_psi: float, tensile_strength_psi: float, service_factor: float = 1.0) -> float:
    """Rod loading (%) = (S_max - S_min) / (S_A - S_min) * 100."""
    s_a = goodman_allowable_stress_psi(tensile_strength_psi, min_stress_psi, service_factor)
    room = s_a - min_stress_psi
    if room <= 0:
        return float("inf")
    return float(100.0 * (max_stress_psi - min_stress_psi) / room)


def rod_string_loading(rods: RodString, taper_top_load_lbf: np.ndarray, service_factor: float = 1.0) -> list[TaperLoading]:
    """Goodman loading of every taper from its top-of-taper load history (lbf, shape (n_tapers, n_points))."""
    loads = np.asarray(taper_top_load_lbf, dtype=float)
    if loads.ndim != 2 or loads.shape[0] != len(rods.tapers):
        raise ValueError("taper_top_load_lbf must have one row per taper")
    out = []
    for taper, row in zip(rods.tapers, loads):
        s_max, s_min = float(row.max()) / taper.area_in2, float(row.min()) / taper.area_in2
        t = TENSILE_STRENGTH_PSI[taper.grade]
        out.append(TaperLoading(s_max, s_min, goodman_allowable_stress_psi(t, s_min, service_factor),
                                goodman_loading_pct(s_max, s_min, t, service_factor)))
    return out


def free_fall_spm(stroke_in: float) -> float:
    """Harmonic free-fall speed N = sqrt(70,471.2 / S) (strokes/min), S in inches (Takacs 2015, ch. 3)."""
    if not stroke_in > 0:
        raise ValueError("stroke_in must be positive")
    return float(np.sqrt(70471.2 / stroke_in))


def rod_fall_limit_spm(stroke_in: float, rod_fall_fraction: float = 0.5) -> float:
    """Practical maximum speed: ``rod_fall_fraction`` of the free-fall speed (strokes/min)."""
    if not (0 < rod_fall_fraction <= 1):
        raise ValueError("rod_fall_fraction must be in (0, 1]")
    return rod_fall_fraction * free_fall_spm(stroke_in)
