"""VLP matching: rank the outflow correlations against measured well tests and tune the chosen one.

This is the first step of a production engineer's nodal model (PROSPER's "VLP matching"; Brill & Mukherjee
1999, SPE Monograph 17, sec. 4.4 on evaluating correlations against field data): for each test (liquid rate,
water cut, GOR, wellhead pressure and the pressure measured by a gauge at a measured depth, the mid-perforations
by default) every correlation traverses top-down from the wellhead pressure to the gauge; the correlations are
ranked by their error at the gauges, and the chosen one (the best-ranked unless named) is tuned with two
multipliers (:class:`~engines.nodal.traverse.MatchedCorrelation`): the liquid holdup HL' = min(m_H HL, 1) and the
friction gradient x m_F (1 and 1 = the published correlation).

Fit (scipy.optimize; pressures absolute, psia):

- one test gives one equation: the holdup multiplier alone is solved for (Brent's method, ``xtol``) with
  m_F = 1, since the elevation term carries most of an oil well's gradient; if no holdup multiplier in
  ``bounds`` matches, the friction multiplier alone is tried with m_H = 1;
- two or more tests (different rates, or gauges at different depths) fit both multipliers by least squares
  on the pressure residuals (trust-region reflective within ``bounds``, ``xtol``/``ftol`` of 1e-12):
  the rate changes the friction share of the gradient, which separates the two.

A multiplier far from 1 (outside ``PLAUSIBLE_RANGE``) is reported as a warning: it usually means inconsistent test
data (rate, GOR, gauge depth) or a correlation that does not describe the well, not a tuning to keep.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import brentq, least_squares

from engines.nodal.pvt import BlackOilFluid
from engines.nodal.traverse import CORRELATIONS, CorrelationSpec, MatchedCorrelation, resolve_correlation, traverse
from engines.nodal.wellbore import Wellbore

#: multipliers outside this range are flagged (a warning, not an error)
PLAUSIBLE_RANGE = (0.8, 1.25)
#: default search bounds of both multipliers
DEFAULT_BOUNDS = (0.2, 5.0)
#: most well tests in one match
MAX_TESTS = 200


@dataclass(frozen=True)
class WellTest:
    """One stabilized well test (oilfield units, absolute pressures).

    q_liquid_bpd: liquid rate (STB/d); water_cut_frac: water / liquid; gor_scf_stb: producing GOR (scf/STB of oil);
    wellhead_pressure_psia: flowing tubing-head pressure; gauge_pressure_psia: measured flowing pressure at
    ``gauge_md_ft`` (ft MD; None = the mid-perforations, i.e. a measured flowing bottomhole pressure).
    """

    q_liquid_bpd: float
    water_cut_frac: float
    gor_scf_stb: float
    wellhead_pressure_psia: float
    gauge_pressure_psia: float
    gauge_md_ft: float | None = None

    def __post_init__(self) -> None:
        checks = (("q_liquid_bpd", self.q_liquid_bpd, 0.0), ("wellhead_pressure_psia", self.wellhead_pressure_psia, 0.0),
                  ("gauge_pressure_psia", self.gauge_pressure_psia, 0.0))
        for name, value, low in checks:
            if not (np.isfinite(value) and value > low):
                raise ValueError(f"{name} must be a finite number > {low}, got {value}")
        if not (0.0 <= self.water_cut_frac <= 1.0):
            raise ValueError(f"water_cut_frac must be in [0, 1], got {self.water_cut_frac}")
        if not (np.isfinite(self.gor_scf_stb) and self.gor_scf_stb >= 0):
            raise ValueError(f"gor_scf_stb must be a finite number >= 0, got {self.gor_scf_stb}")
        if self.gauge_md_ft is not None and not (np.isfinite(self.gauge_md_ft) and self.gauge_md_ft > 0):
            raise ValueError(f"gauge_md_ft must be a finite depth > 0 ft, got {self.gauge_md_ft}")


@dataclass(frozen=True)
class CorrelationScore:
    """One correlation against the tests: calculated gauge pressures (psia), errors calculated - measured (psi, %),
    mean absolute error (psi) and mean absolute relative error (%), the ranking key."""

    correlation: str
    calculated_psia: tuple[float, ...]
    error_psi: tuple[float, ...]
    error_pct: tuple[float, ...]
    mean_abs_error_psi: float
    mean_abs_error_pct: float


@dataclass(frozen=True)
class VlpMatch:
    """Result of :func:`match_vlp`: the ranking, the tuned correlation and its errors before and after."""

    ranking: tuple[CorrelationScore, ...]
    matched: MatchedCorrelation
    fitted: tuple[str, ...]
    unmatched: CorrelationScore
    after: CorrelationScore
    success: bool
    message: str
    warnings: tuple[str, ...]

    @property
    def holdup_multiplier(self) -> float:
        return self.matched.holdup_multiplier

    @property
    def friction_multiplier(self) -> float:
        return self.matched.friction_multiplier


def fluid_for_test(fluid: BlackOilFluid, test: WellTest) -> BlackOilFluid:
    """``fluid`` with the test's water cut and producing GOR (Rsb, when set, is held at most at the test GOR)."""
    rsb = fluid.rsb_scf_stb
    if rsb is not None and rsb > test.gor_scf_stb:
        rsb = float(test.gor_scf_stb)
    return dataclasses.replace(fluid, water_cut_frac=float(test.water_cut_frac), gor_scf_stb=float(test.gor_scf_stb),
                               rsb_scf_stb=rsb)




def gauge_pressures(tests: Sequence[WellTest], fluid: BlackOilFluid, wellbore: Wellbore, correlation: CorrelationSpec, *,
                    n_segments: int = 100, backend: str = "compiled") -> np.ndarray:
    """Calculated pressure (psia) at each test's gauge: a top-down traverse from its wellhead pressure, the gauge
    depth added as a node (NaN where the traverse fails)."""
    out = np.empty(len(tests))
    for i, test in enumerate(tests):
        gauge_md = wellbore.total_md_ft if test.gauge_md_ft is None else float(test.gauge_md_ft)
        if gauge_md > wellbore.total_md_ft * (1 + 1e-12):
            raise ValueError(f"gauge_md_ft {gauge_md} is below the mid-perforations ({wellbore.total_md_ft} ft MD)")
        res = traverse([test.q_liquid_bpd], fluid_for_test(fluid, test), wellbore, wellhead_pressure_psia=test.wellhead_pressure_psia,
                       correlation=correlation, n_segments=n_segments, extra_md_ft=(gauge_md,), backend=backend)
        node = int(np.argmin(np.abs(res.md_ft - gauge_md)))
        out[i] = res.pressure_psia[node, 0]
    return out


def _score(name: str, calculated: np.ndarray, measured: np.ndarray) -> CorrelationScore:
    err = calculated - measured
    pct = 100.0 * err / measured
    return CorrelationScore(correlation=name, calculated_psia=tuple(float(v) for v in calculated),
                            error_psi=tuple(float(v) for v in err), error_pct=tuple(float(v) for v in pct),
                            mean_abs_error_psi=float(np.mean(np.abs(err))), mean_abs_error_pct=float(np.mean(np.abs(pct))))


def _check_tests(tests: Sequence[WellTest]) -> np.ndarray:
    if not (1 <= len(tests) <= MAX_TESTS):
        raise ValueError(f"give between 1 and {MAX_TESTS} well tests, got {len(tests)}")
    return np.array([t.gauge_pressure_psia for t in tests], dtype=float)


def rank_correlations(tests: Sequence[WellTest], fluid: BlackOilFluid, wellbore: Wellbore, *,
                      correlations: Sequence[str] | None = None, n_segments: int = 100) -> tuple[CorrelationScore, ...]:
    """Every correlation (default: all of :data:`~engines.nodal.traverse.CORRELATIONS`) scored against the tests,
    best (smallest mean absolute relative error) first; a correlation whose traverse fails ranks last."""
    measured = _check_tests(tests)
    names = list(correlations) if correlations is not None else sorted(CORRELATIONS)
    scores = [_score(name, gauge_pressures(tests, fluid, wellbore, name, n_segments=n_segments), measured) for name in names]
    return tuple(sorted(scores, key=lambda s: (not np.isfinite(s.mean_abs_error_pct), s.mean_abs_error_pct, s.correlation)))


def match_vlp(tests: Sequence[WellTest], fluid: BlackOilFluid, wellbore: Wellbore, *, correlation: str | None = None,
              correlations: Sequence[str] | None = None, n_segments: int = 100, bounds: tuple[float, float] = DEFAULT_BOUNDS,
              xtol: float = 1e-10) -> VlpMatch:
    """Rank the correlations on ``tests`` and fit the holdup and friction multipliers of ``correlation`` (default: the
    best-ranked) to the measured gauge pressures (see the module docstring for the fit)."""
    measured = _check_tests(tests)
    low, high = float(bounds[0]), float(bounds[1])
    if not (0.0 < low < 1.0 < high <= 100.0):
        raise ValueError(f"bounds must satisfy 0 < low < 1 < high <= 100, got {bounds}")
    ranking = rank_correlations(tests, fluid, wellbore, correlations=correlations, n_segments=n_segments)
    name = correlation if correlation is not None else ranking[0].correlation
    resolve_correlation(name)
    unmatched = next((s for s in ranking if s.correlation == name), None)
    if unmatched is None:
        unmatched = _score(name, gauge_pressures(tests, fluid, wellbore, name, n_segments=n_segments), measured)

    def residual(hm: float, fm: float) -> np.ndarray:
        return gauge_pressures(tests, fluid, wellbore, MatchedCorrelation(name, hm, fm), n_segments=n_segments) - measured

    success, message = True, ""
    if len(tests) == 1:
        hm, fm, fitted = 1.0, 1.0, ("holdup_multiplier",)
        r_lo, r_hi = residual(low, 1.0)[0], residual(high, 1.0)[0]
        if np.isfinite(r_lo) and np.isfinite(r_hi) and r_lo * r_hi <= 0:
            hm = brentq(lambda x: residual(x, 1.0)[0], low, high, xtol=xtol, rtol=4 * np.finfo(float).eps)
            message = "holdup multiplier solved (one test: friction multiplier held at 1)"
        else:
            fitted = ("friction_multiplier",)
            f_lo, f_hi = residual(1.0, low)[0], residual(1.0, high)[0]
            if np.isfinite(f_lo) and np.isfinite(f_hi) and f_lo * f_hi <= 0:
                fm = brentq(lambda x: residual(1.0, x)[0], low, high, xtol=xtol, rtol=4 * np.finfo(float).eps)
                message = "no holdup multiplier in bounds matches: friction multiplier solved (holdup multiplier held at 1)"
            else:
                success, fitted = False, ()
                message = f"no multiplier in {bounds} matches the test: check the test data or choose another correlation"
    else:
        fitted = ("holdup_multiplier", "friction_multiplier")
        sol = least_squares(lambda x: residual(x[0], x[1]), x0=np.array([1.0, 1.0]), bounds=([low, low], [high, high]),
                            xtol=xtol, ftol=1e-12, gtol=1e-12, diff_step=1e-7, method="trf")
        hm, fm = float(sol.x[0]), float(sol.x[1])
        success = bool(sol.success) and bool(np.all(np.isfinite(sol.fun)))
        message = f"least squares on {len(tests)} tests: {sol.message}"
    matched = MatchedCorrelation(name, float(hm), float(fm))
    after = _score(name, gauge_pressures(tests, fluid, wellbore, matched, n_segments=n_segments), measured)
    warnings = tuple(f"{label} {value:.3f} is outside the plausible range {PLAUSIBLE_RANGE}: check the test data "
                     "(rate, GOR, gauge depth) or the correlation"
                     for label, value in (("holdup multiplier", hm), ("friction multiplier", fm))
                     if not (PLAUSIBLE_RANGE[0] <= value <= PLAUSIBLE_RANGE[1]))
    return VlpMatch(ranking=ranking, matched=matched, fitted=fitted, unmatched=unmatched, after=after, success=success,
                    message=message, warnings=warnings)


__all__ = ["CorrelationScore", "DEFAULT_BOUNDS", "PLAUSIBLE_RANGE", "VlpMatch", "WellTest", "gauge_pressures", "match_vlp",
           "rank_correlations", "fluid_for_test"]
