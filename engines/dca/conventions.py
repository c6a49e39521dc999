"""Decline-rate conventions and their conversions.

Arps declines come in three flavours that differ by large factors, so every conversion lives here:

* **nominal** decline ``D = -d ln q / dt`` (instantaneous, per unit time). This is the ``D`` of
  Arps' equations and the one the engine stores, always **per day** internally.
* **tangent effective** decline over a period ``T``: ``De = 1 - exp(-D T)`` (exponential
  decline; the drop of an exponential rate over one period).
* **secant effective** decline over a period ``T`` for a hyperbolic of exponent ``b``:
  ``Des = 1 - (1 + b D T) ** (-1 / b)`` (the drop of the hyperbolic rate over its first period;
  tends to the tangent effective decline as ``b -> 0``).

Periods: one year is ``DAYS_PER_YEAR = 365.25`` days and one month ``DAYS_PER_MONTH =
365.25 / 12 = 30.4375`` days (the same constants as petbox-dca).

Sources: Arps, J.J. (1945) "Analysis of Decline Curves", Trans. AIME 160, 228-247;
SPEE Monograph 4 (2016) "Estimating Ultimate Recovery of Developed Wells in Low-Permeability
Reservoirs", section 2 (nominal, tangent and secant effective declines).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

DAYS_PER_YEAR: float = 365.25
DAYS_PER_MONTH: float = DAYS_PER_YEAR / 12.0

#: exponents below this are evaluated with the exponential (b = 0) limit
B_EXPONENTIAL_EPS: float = 1e-12


def _as_float(x: ArrayLike) -> NDArray[np.float64] | float:
    arr = np.asarray(x, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr


def rescale_nominal(d_nominal: ArrayLike, from_days: float, to_days: float) -> NDArray[np.float64] | float:
    """Nominal decline per ``from_days``-day period -> per ``to_days``-day period (a pure ratio).

    Example: per day -> per month is ``rescale_nominal(d, 1.0, DAYS_PER_MONTH)``."""
    if from_days <= 0 or to_days <= 0:
        raise ValueError("period lengths must be positive days")
    return _as_float(np.asarray(d_nominal, dtype=np.float64) * (to_days / from_days))


def tangent_effective_from_nominal(d_nominal: ArrayLike) -> NDArray[np.float64] | float:
    """Tangent effective decline ``1 - exp(-D)`` (fraction) from the nominal decline ``D`` per the same period."""
    return _as_float(-np.expm1(-np.asarray(d_nominal, dtype=np.float64)))


def nominal_from_tangent_effective(d_effective: ArrayLike) -> NDArray[np.float64] | float:
    """Nominal decline ``-ln(1 - De)`` per period from the tangent effective decline ``De`` (fraction < 1)."""
    de = np.asarray(d_effective, dtype=np.float64)
    if np.any(de >= 1.0):
        raise ValueError("effective decline must be below 1 (100 %)")
    return _as_float(-np.log1p(-de))


def secant_effective_from_nominal(d_nominal: ArrayLike, b: ArrayLike) -> NDArray[np.float64] | float:
    """Secant effective decline ``1 - (1 + b D)^(-1/b)`` (fraction) from the nominal ``D`` per the same period.

    ``b = 0`` gives the tangent effective decline (the exponential limit)."""
    d = np.asarray(d_nominal, dtype=np.float64)
    bb = np.asarray(b, dtype=np.float64)
    small = bb < B_EXPONENTIAL_EPS
    b_safe = np.where(small, 1.0, bb)
    hyp = -np.expm1(-np.log1p(b_safe * d) / b_safe)
    return _as_float(np.where(small, -np.expm1(-d), hyp))


def nominal_from_secant_effective(d_effective: ArrayLike, b: ArrayLike) -> NDArray[np.float64] | float:
    """Nominal decline per period ``((1 - Des)^(-b) - 1) / b`` from the secant effective ``Des``.

    ``b = 0`` gives ``-ln(1 - Des)``. This is petbox-dca's ``Di`` (secant effective per year)
    divided into a nominal rate; divide the per-year result by ``DAYS_PER_YEAR`` for per day."""
    de = np.asarray(d_effective, dtype=np.float64)
    if np.any(de >= 1.0):
        raise ValueError("effective decline must be below 1 (100 %)")
    bb = np.asarray(b, dtype=np.float64)
    small = bb < B_EXPONENTIAL_EPS
    b_safe = np.where(small, 1.0, bb)
    log_term = -np.log1p(-de)
    return _as_float(np.where(small, log_term, np.expm1(b_safe * log_term) / b_safe))
