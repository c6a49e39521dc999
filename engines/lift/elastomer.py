"""PCP stator elastomer ageing by the Arrhenius law, with chemical and abrasion modifiers.

The degradation rate is k(T) = A exp(-Ea / (R T)) (T in K), so the life at temperature T is

    L(T) = L_ref * exp(Ea / R * (1/T - 1/T_ref)) / m,

where ``L_ref`` is the nominal life at the reference temperature ``T_ref`` and ``m >= 1`` multiplies the
rate for swelling, H2S/CO2 and abrasion. This module uses Arrhenius with one constant Ea per elastomer
everywhere (the physics); the "life halves per 10 degC" rule of thumb is then only approximately true
(factor exp(Ea/R (1/T - 1/(T+10))): 1.9-2.4 between 60 and 120 degC for 80 kJ/mol).

Database (engineering defaults; nominal lives as the design brief gives them, reference temperatures
chosen well below each compound's service rating so that field temperatures give field lives):

| elastomer | nominal life | T_ref | rating | Ea |
| NBR  | 10 y | 60 degC | ~110 degC | 80 kJ/mol |
| HNBR | 15 y | 85 degC | ~150 degC | 90 kJ/mol |
| FKM  | 20 y | 110 degC | ~190 degC | 100 kJ/mol |

With these, NBR at 85 degC gives ~1.5 y, HNBR at 120 degC ~1 y, FKM at 150 degC ~1 y: the 1-3 year
run lives seen in PCP fields, not the nominal decades.

Activation energies lie in the 60-120 kJ/mol range reported for thermo-oxidative ageing of rubbers
(Gillen, Celina & Bernstein 2003, Polym. Degrad. Stab. 82, 25-35); 80 kJ/mol reproduces "halving per
10 degC" between 80 and 120 degC. Remaining life over a temperature history is integrated with
Miner's linear damage rule: damage = sum(dt_i / L(T_i)).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

R_J_MOL_K = 8.314_462_618
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Elastomer:
    """Ageing parameters: nominal life (days) at ``reference_temperature_c``, Ea (J/mol), rating (degC),
    and chemical susceptibilities (rate increase per mol% H2S / CO2)."""

    name: str
    nominal_life_days: float
    reference_temperature_c: float
    activation_energy_j_mol: float
    max_rating_c: float
    h2s_per_mol_pct: float
    co2_per_mol_pct: float


ELASTOMERS: dict[str, Elastomer] = {
    "NBR": Elastomer("NBR", 10 * DAYS_PER_YEAR, 60.0, 80_000.0, 110.0, 0.5, 0.05),
    "HNBR": Elastomer("HNBR", 15 * DAYS_PER_YEAR, 85.0, 90_000.0, 150.0, 0.2, 0.03),
    "FKM": Elastomer("FKM", 20 * DAYS_PER_YEAR, 110.0, 100_000.0, 190.0, 0.05, 0.01),
}


@dataclass(frozen=True)
class Environment:
    """Service conditions that accelerate ageing: volume swell (%), H2S and CO2 (mol % in gas), sand (vol %)."""

    swell_pct: float = 0.0
    h2s_mol_pct: float = 0.0
    co2_mol_pct: float = 0.0
    sand_pct: float = 0.0

    def __post_init__(self) -> None:
        for name in ("swell_pct", "h2s_mol_pct", "co2_mol_pct", "sand_pct"):
            v = getattr(self, name)
            if not (0 <= v <= 100):
                raise ValueError(f"{name} must be in [0, 100], got {v}")


def get_elastomer(name: str) -> Elastomer:
    try:
        return ELASTOMERS[name.upper()]
    except KeyError:
        raise ValueError(f"unknown elastomer {name!r}; choose one of {sorted(ELASTOMERS)}") from None


def rate_multiplier(elastomer: Elastomer, env: Environment) -> float:
    """Rate multiplier m >= 1: (1 + 0.05 swell%) (1 + s_H2S H2S%) (1 + s_CO2 CO2%) (1 + 0.5 sand%).

    Linear engineering modifiers (documented defaults, not fitted to a data set): 10 % swell adds 50 %
    to the rate; the H2S/CO2 susceptibilities per elastomer are in :data:`ELASTOMERS`.
    """
    return ((1.0 + 0.05 * env.swell_pct) * (1.0 + elastomer.h2s_per_mol_pct * env.h2s_mol_pct)
            * (1.0 + elastomer.co2_per_mol_pct * env.co2_mol_pct) * (1.0 + 0.5 * env.sand_pct))


def life_days(elastomer: Elastomer | str, temperature_c, env: Environment | None = None) -> np.ndarray:
    """Arrhenius life (days) at temperature(s) ``temperature_c``; 0 above the elastomer's rating."""
    el = get_elastomer(elastomer) if isinstance(elastomer, str) else elastomer
    t = np.asarray(temperature_c, dtype=float)
    if not np.all(np.isfinite(t)) or np.any(t <= -273.15):
        raise ValueError("temperature_c must be finite and above absolute zero")
    m = rate_multiplier(el, env or Environment())
    t_k, t_ref = t + 273.15, el.reference_temperature_c + 273.15
    life = el.nominal_life_days * np.exp(el.activation_energy_j_mol / R_J_MOL_K * (1.0 / t_k - 1.0 / t_ref)) / m
    return np.where(t > el.max_rating_c, 0.0, life)


def derated_max_temperature_c(elastomer: Elastomer | str, target_life_days: float, env: Environment | None = None) -> float:
    """Highest temperature (degC) that still gives ``target_life_days`` (capped at the rating)."""
    el = get_elastomer(elastomer) if isinstance(elastomer, str) else elastomer
    if not target_life_days > 0:
        raise ValueError("target_life_days must be positive")
    m = rate_multiplier(el, env or Environment())
    inv_t = 1.0 / (el.reference_temperature_c + 273.15) + R_J_MOL_K / el.activation_energy_j_mol * np.log(target_life_days * m / el.nominal_life_days)
    return float(min(1.0 / inv_t - 273.15, el.max_rating_c))


@dataclass(frozen=True)
class RemainingLife:
    """Miner damage consumed (fraction) and remaining days at the last (or a given) temperature."""

    damage_frac: float
    remaining_days: float
    life_at_current_days: float


def remaining_life(elastomer: Elastomer | str, time_days, temperature_c, env: Environment | None = None,
                   future_temperature_c: float | None = None) -> RemainingLife:
    """Integrate Arrhenius damage over a history (time stamps in days, temperature in degC, trapezoid).

    The remaining days are those left at ``future_temperature_c`` (default: the last temperature).
    """
    t = np.asarray(time_days, dtype=float)
    temp = np.asarray(temperature_c, dtype=float)
    if t.ndim != 1 or t.shape != temp.shape or t.size < 1:
        raise ValueError("time_days and temperature_c must be 1-D arrays of equal, non-zero length")
    if np.any(np.diff(t) < 0):
        raise ValueError("time_days must be non-decreasing")
    life = life_days(elastomer, temp, env)
    with np.errstate(divide="ignore"):
        rate = np.where(life > 0, 1.0 / np.where(life > 0, life, 1.0), np.inf)
    damage = float(np.sum(0.5 * (rate[1:] + rate[:-1]) * np.diff(t))) if t.size > 1 else 0.0
    damage = min(damage, 1.0)
    t_future = temp[-1] if future_temperature_c is None else future_temperature_c
    l_now = float(life_days(elastomer, t_future, env))
    return RemainingLife(damage, max(0.0, 1.0 - damage) * l_now, l_now)
