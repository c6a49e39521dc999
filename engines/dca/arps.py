"""Closed-form Arps decline curves: rate, cumulative, time to a rate, EUR (vectorized).

All four candidate models are one family with parameters ``(qi, D, b, D_lim)``:

=====================  =========================  ===========================
model                  exponent ``b``             terminal decline ``D_lim``
=====================  =========================  ===========================
exponential            0                          0 (none)
hyperbolic             0 < b <= b_max (2)         0 (none)
harmonic               1                          0 (none)
modified hyperbolic    0 < b <= b_max             > 0
=====================  =========================  ===========================

with ``qi`` the rate at ``t = 0`` (bbl/d), ``D`` the initial *nominal* decline (1/day) and
``t`` in days. Arps (1945):

* rate ``q = qi (1 + b D t)^(-1/b)``; ``b -> 0``: ``qi exp(-D t)``; ``b = 1``: ``qi / (1 + D t)``.
* cumulative ``Np = qi / ((1 - b) D) [1 - (1 + b D t)^(1 - 1/b)]``; ``b = 0``:
  ``(qi - q) / D``; ``b = 1``: ``(qi / D) ln(1 + D t)``.
* instantaneous decline ``D(t) = D / (1 + b D t)``.

Modified hyperbolic (Robertson 1988, SPE-18731-MS): the hyperbolic runs until its instantaneous
decline falls to ``D_lim`` at ``t_sw = (D / D_lim - 1) / (b D)``, then continues exponentially at
``D_lim`` from ``(t_sw, q_sw, Np_sw)``, so rate and cumulative are continuous at the switch.
``D_lim`` is a floor: if ``D <= D_lim`` the curve is exponential at ``D_lim`` from ``t = 0``.
A ``D_lim`` of 0 means no switch. Same definition as petbox-dca's ``MH`` (whose ``Dterm`` is a
tangent effective annual decline: ``D_lim = -ln(1 - Dterm) / 365.25``).

Every function broadcasts over ``t`` and the parameters, so one call evaluates many Monte Carlo
trials at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engines.dca.conventions import B_EXPONENTIAL_EPS

#: ``|1 - b|`` below this is evaluated with the harmonic (b = 1) closed form
B_HARMONIC_EPS: float = 1e-12

Array = NDArray[np.float64]


def _f(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def _full(x: Array, shape: tuple[int, ...]) -> Array:
    return x if x.shape == shape else np.broadcast_to(x, shape).copy()


def _hyp_rate(t: Array, qi: Array, d: Array, b: Array) -> Array:
    small = b < B_EXPONENTIAL_EPS
    if not small.any():
        return qi * np.exp(-np.log1p(b * d * t) / b)
    if small.all():
        return qi * np.exp(-d * t)
    b_safe = np.where(small, 1.0, b)
    hyp = qi * np.exp(-np.log1p(b_safe * d * t) / b_safe)
    return np.where(small, qi * np.exp(-d * t), hyp)


def _hyp_cum(t: Array, qi: Array, d: Array, b: Array) -> Array:
    """Hyperbolic cumulative; each of the exponential / harmonic / hyperbolic closed forms is evaluated
    only where it applies (the parameters of Monte Carlo trials mix all three)."""
    small = b < B_EXPONENTIAL_EPS
    harmonic = np.abs(1.0 - b) < B_HARMONIC_EPS
    if not small.any() and not harmonic.any():
        return qi / ((1.0 - b) * d) * -np.expm1((1.0 - 1.0 / b) * np.log1p(b * d * t))
    if small.all():
        return qi / d * -np.expm1(-d * t)
    if harmonic.all():
        return qi / d * np.log1p(d * t)
    tt, q_, d_, b_ = np.broadcast_arrays(t, qi, d, b)
    sm, hm = np.broadcast_to(small, tt.shape), np.broadcast_to(harmonic, tt.shape)
    hy = ~(sm | hm)
    out = np.empty(tt.shape)
    out[sm] = q_[sm] / d_[sm] * -np.expm1(-d_[sm] * tt[sm])
    out[hm] = q_[hm] / d_[hm] * np.log1p(d_[hm] * tt[hm])
    bh = b_[hy]
    out[hy] = q_[hy] / ((1.0 - bh) * d_[hy]) * -np.expm1((1.0 - 1.0 / bh) * np.log1p(bh * d_[hy] * tt[hy]))
    return out


def _hyp_time_to_rate(q: Array, qi: Array, d: Array, b: Array) -> Array:
    log_ratio = np.log(qi / q)
    small = b < B_EXPONENTIAL_EPS
    b_safe = np.where(small, 1.0, b)
    return np.where(small, log_ratio / d, np.expm1(b_safe * log_ratio) / (b_safe * d))


def switch_time_days(d_per_day: ArrayLike, b: ArrayLike, d_lim_per_day: ArrayLike) -> Array:
    """Time (days) at which ``D(t) = D / (1 + b D t)`` reaches ``D_lim``; ``inf`` without a switch.

    ``0`` when ``D <= D_lim`` (already at the floor); ``inf`` when ``D_lim = 0`` or ``b = 0``."""
    d, bb, dl = np.broadcast_arrays(_f(d_per_day), _f(b), _f(d_lim_per_day))
    no_switch = (dl <= 0.0) | ((bb < B_EXPONENTIAL_EPS) & (d > dl))
    dl_safe = np.where(dl > 0.0, dl, 1.0)
    b_safe = np.where(bb < B_EXPONENTIAL_EPS, 1.0, bb)
    t_sw = np.maximum((d / dl_safe - 1.0) / (b_safe * d), 0.0)
    return np.where(no_switch, np.inf, t_sw)


def _segments(qi: Array, d: Array, b: Array, d_lim: Array, *, with_cum: bool = True) -> tuple[Array, Array, Array, Array]:
    """Switch time, switch rate, switch cumulative (0 unless ``with_cum``) and terminal decline (safe where no switch)."""
    t_sw = switch_time_days(d, b, d_lim)
    finite = np.isfinite(t_sw)
    if not finite.any():
        return t_sw, np.zeros_like(qi), np.zeros_like(qi), np.ones_like(qi)
    t_sw_safe = np.where(finite, t_sw, 0.0)
    q_sw = _hyp_rate(t_sw_safe, qi, d, b)
    np_sw = _hyp_cum(t_sw_safe, qi, d, b) if with_cum else np.zeros_like(qi)
    d_term = np.where(finite, np.where(d_lim > 0.0, d_lim, 1.0), 1.0)
    return t_sw, q_sw, np_sw, d_term


def _validate(qi: Array, d: Array, b: Array, d_lim: Array) -> None:
    if np.any(~(qi > 0.0)):
        raise ValueError("qi_bpd must be positive and finite")
    if np.any(~(d > 0.0)):
        raise ValueError("d_per_day (nominal initial decline) must be positive and finite")
    if np.any(~(b >= 0.0)) or np.any(~np.isfinite(b)):
        raise ValueError("b must be finite and >= 0")
    if np.any(~(d_lim >= 0.0)):
        raise ValueError("d_lim_per_day must be >= 0")


def _params(qi_bpd: ArrayLike, d_per_day: ArrayLike, b: ArrayLike, d_lim_per_day: ArrayLike) -> tuple[Array, ...]:
    qi, d, bb, dl = np.broadcast_arrays(_f(qi_bpd), _f(d_per_day), _f(b), _f(d_lim_per_day))
    _validate(qi, d, bb, dl)
    return qi, d, bb, dl


def rate_bpd(t_days: ArrayLike, qi_bpd: ArrayLike, d_per_day: ArrayLike, b: ArrayLike = 0.0,
             d_lim_per_day: ArrayLike = 0.0) -> Array:
    """Rate (bbl/d) at time ``t_days`` (days since ``qi``) for the Arps family; see module docstring."""
    qi, d, bb, dl = _params(qi_bpd, d_per_day, b, d_lim_per_day)  # switch quantities at the parameters' shape
    t = _f(t_days)
    shape = np.broadcast_shapes(t.shape, qi.shape)
    t_sw, q_sw, _, d_term = _segments(qi, d, bb, dl, with_cum=False)
    after = t > t_sw
    if not after.any():
        return _full(_hyp_rate(t, qi, d, bb), shape)
    tail = q_sw * np.exp(-d_term * np.where(after, t - np.where(np.isfinite(t_sw), t_sw, 0.0), 0.0))
    return _full(np.where(after, tail, _hyp_rate(t, qi, d, bb)), shape)


def cumulative_bbl(t_days: ArrayLike, qi_bpd: ArrayLike, d_per_day: ArrayLike, b: ArrayLike = 0.0,
                   d_lim_per_day: ArrayLike = 0.0) -> Array:
    """Cumulative volume (bbl) produced from ``t = 0`` to ``t_days``; closed form (Arps 1945)."""
    qi, d, bb, dl = _params(qi_bpd, d_per_day, b, d_lim_per_day)
    t = _f(t_days)
    shape = np.broadcast_shapes(t.shape, qi.shape)
    t_sw, q_sw, np_sw, d_term = _segments(qi, d, bb, dl)
    after = t > t_sw
    if not after.any():
        return _full(_hyp_cum(t, qi, d, bb), shape)
    dt = np.where(after, t - np.where(np.isfinite(t_sw), t_sw, 0.0), 0.0)
    tail = np_sw + q_sw / d_term * -np.expm1(-d_term * dt)
    return _full(np.where(after, tail, _hyp_cum(t, qi, d, bb)), shape)


def decline_per_day(t_days: ArrayLike, qi_bpd: ArrayLike, d_per_day: ArrayLike, b: ArrayLike = 0.0,
                    d_lim_per_day: ArrayLike = 0.0) -> Array:
    """Instantaneous nominal decline ``-d ln q / dt`` (1/day): ``D / (1 + b D t)``, floored at ``D_lim``."""
    t, qi, d, bb, dl = np.broadcast_arrays(_f(t_days), _f(qi_bpd), _f(d_per_day), _f(b), _f(d_lim_per_day))
    _validate(qi, d, bb, dl)
    t_sw = switch_time_days(d, bb, dl)
    return np.where(t > t_sw, dl, d / (1.0 + bb * d * t))


def time_to_rate_days(q_bpd: ArrayLike, qi_bpd: ArrayLike, d_per_day: ArrayLike, b: ArrayLike = 0.0,
                      d_lim_per_day: ArrayLike = 0.0) -> Array:
    """Time (days) at which the rate falls to ``q_bpd``; ``0`` when ``q_bpd >= qi``.

    Inverse of :func:`rate_bpd`: ``t = ((qi/q)^b - 1) / (b D)`` (``ln(qi/q) / D`` for b = 0), and
    ``t_sw + ln(q_sw / q) / D_lim`` past a modified-hyperbolic switch."""
    q, qi, d, bb, dl = np.broadcast_arrays(_f(q_bpd), _f(qi_bpd), _f(d_per_day), _f(b), _f(d_lim_per_day))
    _validate(qi, d, bb, dl)
    if np.any(~(q > 0.0)):
        raise ValueError("q_bpd must be positive")
    t_sw, q_sw, _, d_term = _segments(qi, d, bb, dl)
    q_target = np.minimum(q, qi)
    in_hyp = q_target >= q_sw
    t_hyp = _hyp_time_to_rate(q_target, qi, d, bb)
    with np.errstate(divide="ignore"):  # q_sw underflows to 0 only where the switch is never reached
        t_tail = np.where(np.isfinite(t_sw), t_sw, 0.0) + np.log(q_sw / q_target) / d_term
    return np.where(in_hyp | ~np.isfinite(t_sw), t_hyp, t_tail)


def eur_bbl(qi_bpd: ArrayLike, d_per_day: ArrayLike, b: ArrayLike = 0.0, d_lim_per_day: ArrayLike = 0.0, *,
            economic_limit_bpd: float = 0.0, t_max_days: float = np.inf) -> Array:
    """Estimated ultimate recovery (bbl) from ``t = 0``: ``Np(min(t_el, t_max))``.

    ``t_el`` is the time at which the rate reaches ``economic_limit_bpd``. With no economic limit and
    no horizon the volume is the closed-form limit ``qi / ((1 - b) D)`` (finite only for b < 1 or with
    a terminal decline: then ``Np_sw + q_sw / D_lim``); otherwise ``inf``."""
    if economic_limit_bpd < 0.0:
        raise ValueError("economic_limit_bpd must be >= 0")
    if not t_max_days > 0.0:
        raise ValueError("t_max_days must be positive")
    qi, d, bb, dl = np.broadcast_arrays(_f(qi_bpd), _f(d_per_day), _f(b), _f(d_lim_per_day))
    _validate(qi, d, bb, dl)
    if economic_limit_bpd > 0.0:
        t_end = np.minimum(time_to_rate_days(economic_limit_bpd, qi, d, bb, dl), t_max_days)
    else:
        t_end = np.full(qi.shape, t_max_days)
    finite_t = np.isfinite(t_end)
    out = cumulative_bbl(np.where(finite_t, t_end, 0.0), qi, d, bb, dl)
    if np.all(finite_t):
        return out
    t_sw, q_sw, np_sw, d_term = _segments(qi, d, bb, dl)
    b_safe = np.where(bb < 1.0, bb, 0.0)
    limit = np.where(np.isfinite(t_sw), np_sw + q_sw / d_term, np.where(bb < 1.0, qi / ((1.0 - b_safe) * d), np.inf))
    return np.where(finite_t, out, limit)


@dataclass(frozen=True)
class DeclineParams:
    """One Arps curve. ``qi_bpd`` at ``t = 0``; ``d_per_day`` nominal initial decline (1/day);
    ``b`` dimensionless; ``d_lim_per_day`` nominal terminal decline (1/day, 0 = none)."""

    qi_bpd: float
    d_per_day: float
    b: float = 0.0
    d_lim_per_day: float = 0.0

    def __post_init__(self) -> None:
        _validate(_f(self.qi_bpd), _f(self.d_per_day), _f(self.b), _f(self.d_lim_per_day))

    @property
    def model(self) -> str:
        """``exponential`` / ``harmonic`` / ``hyperbolic`` / ``modified_hyperbolic``."""
        if self.d_lim_per_day > 0.0 and self.b >= B_EXPONENTIAL_EPS:
            return "modified_hyperbolic"
        if self.b < B_EXPONENTIAL_EPS:
            return "exponential"
        if abs(1.0 - self.b) < B_HARMONIC_EPS:
            return "harmonic"
        return "hyperbolic"

    def _args(self) -> tuple[float, float, float, float]:
        return self.qi_bpd, self.d_per_day, self.b, self.d_lim_per_day

    def rate(self, t_days: ArrayLike) -> Array:
        """Rate (bbl/d) at ``t_days``."""
        return rate_bpd(t_days, *self._args())

    def cumulative(self, t_days: ArrayLike) -> Array:
        """Cumulative (bbl) from 0 to ``t_days``."""
        return cumulative_bbl(t_days, *self._args())

    def decline(self, t_days: ArrayLike) -> Array:
        """Instantaneous nominal decline (1/day) at ``t_days``."""
        return decline_per_day(t_days, *self._args())

    def time_to_rate(self, q_bpd: ArrayLike) -> Array:
        """Days until the rate falls to ``q_bpd``."""
        return time_to_rate_days(q_bpd, *self._args())

    def eur(self, economic_limit_bpd: float = 0.0, t_max_days: float = np.inf) -> float:
        """EUR (bbl) from ``t = 0`` to the economic limit or ``t_max_days``, whichever first."""
        return float(eur_bbl(*self._args(), economic_limit_bpd=economic_limit_bpd, t_max_days=t_max_days))
