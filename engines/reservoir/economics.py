"""Field-development economics: NPV as the reference case defines it, IRR, PVI and utility index.

Per report step ``n`` with oil volume ``V_n`` (STB) (González Nieves 2018, eq. 3.37 and Table 4.5,
reference interpretation)::

    revenue = price V;  royalty = royalty_frac revenue;  opex = opex_per_bbl V
    tax = tax_frac max(revenue - royalty - opex, 0);  cash_n = revenue - royalty - opex - tax

Capital at t = 0: ``base + per_well N + extra_per_well max(N - included, 0)`` (100 M$ covers the
first 5 wells, each extra well adds 100/5 = 20 M$), times ``1 + capital_surcharge_frac``; zero wells
is no project (NPV 0).  Discounting with an effective annual rate ``r``: ``"monthly"`` uses
``(1 + r)^(-t/365)`` at the end of each step (t in days); ``"yearly"`` books each step at the end of its
360-day year (steps 1-12 of 30 days -> year 1).  PVI is the present value of investment (capital at
t = 0), the utility index is NPV / PVI (Mian 2011, "Project Economics and Decision Analysis", ch. 4).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

DISCOUNTING = ("monthly", "yearly")


@dataclass(frozen=True)
class EconomicParameters:
    """Prices in US$/bbl, costs in US$, rates as fractions per year."""

    oil_price_usd_bbl: float = 69.0
    opex_usd_bbl: float = 30.0
    royalty_frac: float = 0.12
    tax_frac: float = 0.24
    discount_rate_per_year: float = 0.12
    base_capital_usd: float = 100e6
    well_cost_usd: float = 10e6
    wells_included_in_base: int = 5
    extra_well_capital_usd: float = 20e6
    capital_surcharge_frac: float = 0.0
    discounting: str = "monthly"

    def __post_init__(self) -> None:
        for name in ("oil_price_usd_bbl", "opex_usd_bbl", "base_capital_usd", "well_cost_usd",
                     "extra_well_capital_usd", "capital_surcharge_frac"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {v}")
        for name in ("royalty_frac", "tax_frac"):
            v = getattr(self, name)
            if not 0 <= v < 1:
                raise ValueError(f"{name} must be in [0, 1), got {v}")
        if not (np.isfinite(self.discount_rate_per_year) and self.discount_rate_per_year > -1):
            raise ValueError("discount_rate_per_year must be > -1")
        if self.wells_included_in_base < 0:
            raise ValueError("wells_included_in_base must be >= 0")
        if self.discounting not in DISCOUNTING:
            raise ValueError(f"discounting must be one of {DISCOUNTING}")

    @property
    def net_margin_usd_bbl(self) -> float:
        """After-tax cash per barrel when the taxable base is positive, US$/bbl."""
        pre_tax = self.oil_price_usd_bbl * (1 - self.royalty_frac) - self.opex_usd_bbl
        return pre_tax * (1 - self.tax_frac) if pre_tax > 0 else pre_tax


@dataclass(frozen=True)
class NpvBreakdown:
    """Economics of a batch of plans (arrays of shape (B,), US$) plus per-step cash flows (B, T)."""

    npv_usd: np.ndarray
    capital_usd: np.ndarray
    revenue_usd: np.ndarray
    royalty_usd: np.ndarray
    opex_usd: np.ndarray
    tax_usd: np.ndarray
    discounted_cash_usd: np.ndarray
    cash_flow_usd: np.ndarray
    utility_index: np.ndarray


def capital_cost_usd(n_wells, params: EconomicParameters) -> np.ndarray:
    """Capital at t = 0 for ``n_wells`` wells (0 wells -> 0), US$."""
    n = np.asarray(n_wells, dtype=float)
    cap = (params.base_capital_usd + params.well_cost_usd * n
           + params.extra_well_capital_usd * np.maximum(n - params.wells_included_in_base, 0))
    return np.where(n > 0, cap * (1 + params.capital_surcharge_frac), 0.0)


def discount_factors(time_days, params: EconomicParameters) -> np.ndarray:
    """Discount factor of each report time (days since start)."""
    t = np.asarray(time_days, dtype=float)
    if np.any(t < 0):
        raise ValueError("time_days must be >= 0")
    if params.discounting == "monthly":
        years = t / 365.0
    else:
        years = np.ceil(np.round(t / 360.0, 9))
    return (1 + params.discount_rate_per_year) ** (-years)


def step_cash_flows_usd(volume_stb, params: EconomicParameters) -> tuple[np.ndarray, ...]:
    """(revenue, royalty, opex, tax, cash) per step for volumes ``volume_stb`` (any shape)."""
    v = np.asarray(volume_stb, dtype=float)
    if np.any(v < 0):
        raise ValueError("volumes must be >= 0 STB")
    revenue = params.oil_price_usd_bbl * v
    royalty = params.royalty_frac * revenue
    opex = params.opex_usd_bbl * v
    tax = params.tax_frac * np.maximum(revenue - royalty - opex, 0.0)
    return revenue, royalty, opex, tax, revenue - royalty - opex - tax


def npv_breakdown(volume_stb, time_days, n_wells, params: EconomicParameters) -> NpvBreakdown:
    """NPV of plans with per-step volumes ``volume_stb`` (B, T) booked at ``time_days`` (T,)."""
    v = np.atleast_2d(np.asarray(volume_stb, dtype=float))
    n = np.atleast_1d(np.asarray(n_wells))
    if v.shape[0] != n.shape[0] or v.shape[1] != np.size(time_days):
        raise ValueError("volume_stb must be (B, T) with B = len(n_wells) and T = len(time_days)")
    revenue, royalty, opex, tax, cash = step_cash_flows_usd(v, params)
    active = (n > 0)[:, None]
    cash = np.where(active, cash, 0.0)
    disc = cash * discount_factors(time_days, params)
    capital = capital_cost_usd(n, params)
    npv = disc.sum(axis=1) - capital
    with np.errstate(divide="ignore", invalid="ignore"):
        ui = np.where(capital > 0, npv / capital, 0.0)
    z = lambda a: np.where(active, a, 0.0).sum(axis=1)  # noqa: E731
    return NpvBreakdown(npv, capital, z(revenue), z(royalty), z(opex), z(tax), disc.sum(axis=1), cash, ui)


def npv_from_discounted_volume(discounted_volume_stb, n_wells, params: EconomicParameters) -> np.ndarray:
    """NPV (US$) of plans from their discounted volume ``sum_t v_t d_t`` (STB; ``v_t`` the step's volume,
    ``d_t`` its discount factor) and well count: the same NPV as :func:`npv_breakdown`, because for
    volumes ``v >= 0`` every step's cash is linear in ``v``: revenue ``P v``, royalty ``r P v``, opex ``o v``
    and tax ``x max((P - rP - o) v, 0) = x v max(P - rP - o, 0)``, so cash = ``v c`` with ``c`` the cash of
    one barrel, and ``NPV = c sum_t v_t d_t - capital(n)`` (0 for a plan without wells)."""
    dv = np.asarray(discounted_volume_stb, dtype=float)
    n = np.asarray(n_wells)
    cash_per_bbl = float(step_cash_flows_usd(np.array([1.0]), params)[4][0])
    return np.where(n > 0, dv * cash_per_bbl, 0.0) - capital_cost_usd(n, params)


def irr(cash_flows_usd, time_years, *, lo: float = -0.99, hi: float = 100.0) -> float:
    """Internal rate of return (effective per year) of cash flows at ``time_years``: the root of
    ``sum c_k (1 + r)^(-t_k) = 0``.  Raises ValueError when no sign change brackets a root."""
    c = np.asarray(cash_flows_usd, dtype=float)
    t = np.asarray(time_years, dtype=float)
    if c.shape != t.shape or c.ndim != 1:
        raise ValueError("cash_flows_usd and time_years must be 1-D of equal length")
    if not (np.any(c > 0) and np.any(c < 0)):
        raise ValueError("IRR needs both positive and negative cash flows")
    f = lambda r: float(np.sum(c * (1 + r) ** (-t)))  # noqa: E731
    if f(lo) * f(hi) > 0:
        raise ValueError("no IRR in the bracket")
    return brentq(f, lo, hi, xtol=1e-14, rtol=1e-12, maxiter=500)


def plan_irr(cash_flow_usd, time_days, capital_usd: float) -> float:
    """IRR of one plan: ``-capital`` at t = 0 and ``cash_flow_usd`` at ``time_days``."""
    c = np.concatenate([[-capital_usd], np.asarray(cash_flow_usd, dtype=float)])
    t = np.concatenate([[0.0], np.asarray(time_days, dtype=float) / 365.0])
    return irr(c, t)


def recoverable_cash_bound_usd(volume_cap_stb: float, step_cap_stb, time_days, params: EconomicParameters) -> float:
    """Upper bound of the discounted cash of any plan whose total volume is at most
    ``volume_cap_stb`` and whose step volumes are at most ``step_cap_stb``: take the volume as early as
    the caps allow (discount factors decrease, cash is non-decreasing in volume)."""
    caps = np.broadcast_to(np.asarray(step_cap_stb, dtype=float), np.shape(time_days))
    remaining = float(volume_cap_stb)
    total = 0.0
    d = discount_factors(time_days, params)
    for cap, f in zip(caps, d):
        v = min(cap, max(remaining, 0.0))
        remaining -= v
        total += f * max(float(step_cash_flows_usd(v, params)[4]), 0.0)
    return total
