"""Continuous gas lift: performance curve (GLPC), optimum and economic optimum, injection feasibility,
casing-heading detection from pressure records, and the valve flow-regime stability check.

GLPC: for each injection rate the nodal engine solves the IPR/VLP intersection with the injected gas
added above the operating valve (:class:`engines.nodal.GasInjection`), giving liquid and oil rate vs
injection rate (Brown 1984 vol. 4; Takacs 2005 *Gas Lift Manual* ch. 4).
Optimum: maximum oil on a PCHIP interpolation of the GLPC; economic optimum: maximum of
oil_price * q_oil - gas_cost * q_inj, where dq_oil/dq_inj = gas_cost / oil_price (bbl/Mscf).
Injection depth feasibility: static casing gas column p(D) = p_s exp(0.01875 gamma_g D / (z T)),
D ft, T degR (Takacs, *Gas Lift Manual*, 2005, ch. 2), must exceed the flowing tubing pressure at the
valve (the lift adapter asks for a 100 psi valve differential).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

from engines.nodal import BlackOilFluid, GasInjection, Ipr, Wellbore, bottomhole_pressure, gas_z_factor, traverse


@dataclass(frozen=True)
class Glpc:
    """Gas-lift performance curve: injection (Mscf/d) vs oil and liquid rate (bbl/d)."""

    injection_mscfd: np.ndarray
    oil_bpd: np.ndarray
    liquid_bpd: np.ndarray | None = None

    def __post_init__(self) -> None:
        qi = np.asarray(self.injection_mscfd, dtype=float)
        qo = np.asarray(self.oil_bpd, dtype=float)
        if qi.ndim != 1 or qi.shape != qo.shape or qi.size < 2 or np.any(np.diff(qi) <= 0):
            raise ValueError("injection_mscfd must be increasing and match oil_bpd (>= 2 points)")
        if np.any(qi < 0) or not (np.all(np.isfinite(qi)) and np.all(np.isfinite(qo))) or np.any(qo < 0):
            raise ValueError("GLPC values must be finite and non-negative")
        object.__setattr__(self, "injection_mscfd", qi)
        object.__setattr__(self, "oil_bpd", qo)
        if self.liquid_bpd is not None:
            object.__setattr__(self, "liquid_bpd", np.asarray(self.liquid_bpd, dtype=float))

    def oil_at(self, injection_mscfd) -> np.ndarray:
        """Oil rate (bbl/d) by shape-preserving PCHIP interpolation (clipped to the curve's range)."""
        x = np.clip(np.asarray(injection_mscfd, dtype=float), self.injection_mscfd[0], self.injection_mscfd[-1])
        return PchipInterpolator(self.injection_mscfd, self.oil_bpd)(x)


def glpc_from_nodal(ipr: Ipr, fluid: BlackOilFluid, wellbore: Wellbore, wellhead_pressure_psia: float,
                    injection_md_ft: float, injection_grid_mscfd, correlation: str = "beggs_brill",
                    n_segments: int = 40, n_rates: int = 30) -> Glpc:
    """GLPC from the nodal engine: for each injection rate, one vectorized VLP traverse over ``n_rates``
    liquid rates (0.5 % to 100 % of the AOF) and the highest stable IPR/VLP crossing by linear
    interpolation (the rule of :func:`engines.nodal.solve_operating_point`, without its refinement)."""
    grid = np.asarray(injection_grid_mscfd, dtype=float)
    if grid.ndim != 1 or grid.size < 2 or np.any(grid < 0) or np.any(np.diff(grid) <= 0):
        raise ValueError("injection_grid_mscfd must be increasing, non-negative, >= 2 values")
    q = ipr.aof_bpd * np.linspace(0.005, 1.0, n_rates)
    p_ipr = ipr.pwf_psi(q)
    liquid = np.zeros(grid.size)
    for i, qi in enumerate(grid):
        vlp = bottomhole_pressure(q, fluid, wellbore, wellhead_pressure_psia, correlation=correlation, n_segments=n_segments,
                                  gas_lift=GasInjection(injection_md_ft, float(qi)) if qi > 0 else None)
        d = p_ipr - vlp
        if d[-1] > 0:
            liquid[i] = q[-1]
            continue
        stable = np.flatnonzero((d[:-1] > 0) & (d[1:] <= 0))
        if stable.size:
            k = stable[-1]
            liquid[i] = q[k] + d[k] / (d[k] - d[k + 1]) * (q[k + 1] - q[k])
    return Glpc(grid, liquid * (1.0 - fluid.water_cut_frac), liquid)


@dataclass(frozen=True)
class GlpcOptimum:
    """Technical and economic optima (Mscf/d, bbl/d)."""

    technical_injection_mscfd: float
    technical_oil_bpd: float
    economic_injection_mscfd: float
    economic_oil_bpd: float
    marginal_ratio_bbl_per_mscf: float


def glpc_optimum(curve: Glpc, oil_price_usd_per_bbl: float, gas_cost_usd_per_mscf: float,
                 min_mscfd: float | None = None, max_mscfd: float | None = None, n_fine: int = 4001) -> GlpcOptimum:
    """Maximum oil and maximum profit (oil revenue - gas cost) inside [min, max] injection."""
    if not (oil_price_usd_per_bbl > 0 and gas_cost_usd_per_mscf >= 0):
        raise ValueError("oil_price_usd_per_bbl must be > 0 and gas_cost_usd_per_mscf >= 0")
    lo = curve.injection_mscfd[0] if min_mscfd is None else max(min_mscfd, curve.injection_mscfd[0])
    hi = curve.injection_mscfd[-1] if max_mscfd is None else min(max_mscfd, curve.injection_mscfd[-1])
    if hi < lo:
        raise ValueError("injection bounds do not overlap the GLPC")
    x = np.linspace(lo, hi, n_fine)
    y = curve.oil_at(x)
    kt = int(np.argmax(y))
    profit = oil_price_usd_per_bbl * y - gas_cost_usd_per_mscf * x
    ke = int(np.argmax(profit))
    return GlpcOptimum(float(x[kt]), float(y[kt]), float(x[ke]), float(y[ke]), gas_cost_usd_per_mscf / oil_price_usd_per_bbl)


def casing_pressure_at_depth_psia(surface_psia: float, depth_tvd_ft: float, gas_sg: float, surface_temperature_f: float,
                                  depth_temperature_f: float) -> float:
    """Static gas-column pressure (psia) at depth: p_s exp(0.01875 gamma D / (z_avg T_avg)), iterated on z."""
    if not (surface_psia > 0 and depth_tvd_ft >= 0 and gas_sg > 0):
        raise ValueError("surface_psia > 0, depth_tvd_ft >= 0 and gas_sg > 0 are required")
    t_avg_r = 0.5 * (surface_temperature_f + depth_temperature_f) + 459.67
    p = surface_psia
    for _ in range(20):
        z = float(gas_z_factor(0.5 * (surface_psia + p), t_avg_r - 459.67, gas_sg))
        p_new = surface_psia * np.exp(0.01875 * gas_sg * depth_tvd_ft / (z * t_avg_r))
        if abs(p_new - p) < 1e-6:
            break
        p = p_new
    return float(p)


def tubing_pressure_at_injection_psia(q_liquid_bpd: float, injection_mscfd: float, fluid: BlackOilFluid, wellbore: Wellbore,
                                      wellhead_pressure_psia: float, injection_md_ft: float, correlation: str = "beggs_brill",
                                      n_segments: int = 40) -> float:
    """Flowing tubing pressure (psia) at the valve for the given operating point (top-down traverse)."""
    res = traverse([q_liquid_bpd], fluid, wellbore, wellhead_pressure_psia=wellhead_pressure_psia, correlation=correlation,
                   n_segments=n_segments, gas_lift=GasInjection(injection_md_ft, injection_mscfd))
    return float(np.interp(injection_md_ft, res.md_ft, res.pressure_psia[:, 0]))


#: critical pressure ratio (downstream / upstream) for natural gas, k = Cp/Cv = 1.27: (2/(k+1))^(k/(k-1)).
K_NATURAL_GAS = 1.27
CRITICAL_PRESSURE_RATIO = (2.0 / (K_NATURAL_GAS + 1.0)) ** (K_NATURAL_GAS / (K_NATURAL_GAS - 1.0))


@dataclass(frozen=True)
class ValveStability:
    """Valve flow regime: critical (sonic, annulus decoupled from tubing: stable) or subcritical."""

    pressure_ratio: float
    critical_ratio: float
    critical_flow: bool
    stable: bool
    reason: str


def valve_stability(casing_at_valve_psia: float, tubing_at_valve_psia: float, k: float = K_NATURAL_GAS) -> ValveStability:
    """Predictive stability check of the operating valve.

    When the valve flows critically (p_t / p_c below (2/(k+1))^(k/(k-1)), 0.551 for k = 1.27) the
    injected rate does not depend on tubing pressure, so tubing pressure surges cannot feed back into
    the annulus: the decoupling Asheim (1988, "Criteria for gas-lift stability", J. Petrol. Technol.) and
    Tokar et al. (1996, nova venturi valve) identify as the cure for casing heading. Subcritical
    orifice flow leaves the loop closed and the well is flagged heading-prone.
    """
    if not (casing_at_valve_psia > 0 and tubing_at_valve_psia > 0 and k > 1):
        raise ValueError("pressures must be positive and k > 1")
    crit = (2.0 / (k + 1.0)) ** (k / (k - 1.0))
    ratio = tubing_at_valve_psia / casing_at_valve_psia
    if ratio >= 1.0:
        return ValveStability(ratio, crit, False, False, "no injection: tubing pressure at or above casing pressure")
    critical = ratio <= crit
    return ValveStability(ratio, crit, critical, critical,
                          "critical valve flow: annulus decoupled" if critical else "subcritical valve flow: heading-prone")


@dataclass(frozen=True)
class HeadingDetection:
    """Casing-heading evidence in casing/tubing pressure records."""

    heading: bool
    period_min: float
    casing_amplitude_psi: float
    tubing_amplitude_psi: float
    spectral_concentration: float
    coherence: float


def detect_casing_heading(time_min, casing_psi, tubing_psi, min_amplitude_psi: float = 10.0,
                          min_concentration: float = 0.4, min_period_min: float = 2.0, max_period_min: float = 360.0) -> HeadingDetection:
    """Detect sustained, coherent casing/tubing pressure oscillation (casing heading).

    The linearly detrended records are resampled uniformly; the dominant (Hann-windowed) spectral peak of the casing
    pressure between ``min_period_min`` and ``max_period_min`` must hold at least ``min_concentration``
    of the detrended variance (the peak bin and its neighbours), have an amplitude (least-squares sinusoid
    at the refined peak frequency) of ``min_amplitude_psi`` or more, and be matched in the tubing pressure (magnitude-squared
    coherence at that frequency >= 0.5).
    """
    t = np.asarray(time_min, dtype=float)
    pc = np.asarray(casing_psi, dtype=float)
    pt = np.asarray(tubing_psi, dtype=float)
    if t.ndim != 1 or t.shape != pc.shape or t.shape != pt.shape or t.size < 32:
        raise ValueError("time_min, casing_psi, tubing_psi must be 1-D arrays of equal length >= 32")
    if np.any(np.diff(t) <= 0) or not (np.all(np.isfinite(pc)) and np.all(np.isfinite(pt))):
        raise ValueError("time_min must increase and pressures must be finite")
    n = t.size
    tu = np.linspace(t[0], t[-1], n)
    dt = tu[1] - tu[0]

    def detrend(y):
        y = np.interp(tu, t, y)
        return y - np.polyval(np.polyfit(tu, y, 1), tu)

    xc, xt = detrend(pc), detrend(pt)
    win = np.hanning(n)
    fc, ft = np.fft.rfft(xc * win), np.fft.rfft(xt * win)
    freqs = np.fft.rfftfreq(n, dt)
    band = (freqs >= 1.0 / max_period_min) & (freqs <= 1.0 / min_period_min)
    power = np.abs(fc) ** 2
    if not np.any(band) or power[1:].sum() == 0:
        return HeadingDetection(False, float("nan"), 0.0, 0.0, 0.0, 0.0)
    k = int(np.flatnonzero(band)[np.argmax(power[band])])
    sl = slice(max(k - 1, 1), k + 2)
    concentration = float(power[sl].sum() / power[1:].sum())
    # refine the frequency between the neighbouring bins by least-squares sinusoid fits, then read amplitudes
    def fit(freq, y):
        basis = np.column_stack([np.sin(2 * np.pi * freq * tu), np.cos(2 * np.pi * freq * tu)])
        return float(np.hypot(*np.linalg.lstsq(basis, y, rcond=None)[0]))

    def amplitudes(trial_freqs, y):  # fit() at every trial frequency at once: stacked pseudo-inverses with
        arg = 2 * np.pi * trial_freqs[:, None] * tu[None, :]  # lstsq's singular-value cutoff (eps max(M, N))
        basis = np.stack([np.sin(arg), np.cos(arg)], axis=-1)
        coef = np.linalg.pinv(basis, rcond=np.finfo(float).eps * max(basis.shape[1:])) @ y
        return np.hypot(coef[:, 0], coef[:, 1])

    trial = np.linspace(freqs[max(k - 1, 1)], freqs[min(k + 1, freqs.size - 1)], 81)
    f_peak = float(trial[int(np.argmax(amplitudes(trial, xc)))])
    amp_c, amp_t = fit(f_peak, xc), fit(f_peak, xt)
    cross = fc[sl] * np.conj(ft[sl])
    coh = float(np.abs(cross.sum()) ** 2 / (np.sum(np.abs(fc[sl]) ** 2) * np.sum(np.abs(ft[sl]) ** 2) + 1e-30))
    heading = concentration >= min_concentration and amp_c >= min_amplitude_psi and coh >= 0.5
    return HeadingDetection(bool(heading), 1.0 / f_peak, amp_c, amp_t, concentration, coh)
