"""Black-oil PVT for multiphase flow: oil, gas and water properties at pressure and temperature.

All functions are elementwise and broadcast over NumPy arrays. Oilfield units: pressure psia,
temperature degF, GOR scf/STB, formation volume factors bbl/STB (gas ft3/scf), densities lbm/ft3,
viscosities cp, surface tension dyne/cm.

Correlations (chosen because they are the defaults of the classic nodal-analysis texts, Brown 1984
and Brill & Mukherjee 1999, and need only API, gas gravity, GOR and temperature):

- solution GOR and oil FVF below the bubble point: Standing, M.B. (1947) "A Pressure-Volume-Temperature
  Correlation for Mixtures of California Oils and Gases", API Drilling & Production Practice.
  When the bubble point is known, Rs is scaled so that Rs(Pb, T_res) equals the solution GOR at the
  bubble point Rsb (the usual "match to Pb" used by PROSPER-style black-oil models). Rsb defaults to the
  producing GOR; a producing GOR above Rsb is free gas at every pressure (gas-cap or excess gas).
- undersaturated oil compressibility and viscosity: Vasquez, M. and Beggs, H.D. (1980) JPT 32(6).
- dead and live oil viscosity: Beggs, H.D. and Robinson, J.R. (1975) JPT 27(9).
- gas Z-factor: Dranchuk & Abou-Kassem (1975) with Sutton (1985) pseudo-criticals of the whole gas, corrected
  for CO2 and H2S (``co2_frac``, ``h2s_frac``) by Wichert & Aziz (1972) as in Ahmed (2006) Example 2-9 (see ``zfactor``);
  gas viscosity: Lee, A.L., Gonzalez, M.H. and Eakin, B.E. (1966) JPT 18(8).
- water FVF and viscosity: McCain, W.D. Jr. (1991) "Reservoir-Fluid Property Correlations - State of
  the Art", SPE Reservoir Engineering 6(2); salinity from the brine specific gravity (McCain 1990).
- surface tension: gas/oil Baker, O. and Swerdloff, W. (1956) Oil & Gas J. with the live-oil factor
  1 - 0.024 p^0.45 (Brill & Mukherjee 1999, eq. 3.86); gas/water Jennings, H.Y. and Newman, G.H. (1971)
  SPE J. 11(2) as interpolated between 74 and 280 degF.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from engines.nodal.zfactor import dak_dz_dppr, pseudo_critical_sutton, wichert_aziz, z_factor_dak

STANDARD_PRESSURE_PSIA = 14.696
STANDARD_TEMPERATURE_F = 60.0
WATER_DENSITY_LBFT3 = 62.366  # fresh water at 60 degF
AIR_MOLECULAR_WEIGHT = 28.967
#: properties are evaluated at most at this pressure (psia), the upper end of the correlations' data
PVT_MAX_PRESSURE_PSIA = 20000.0
R_PSIA_FT3 = 10.7316  # psia ft3 / (lbmol degR)


@dataclass(frozen=True)
class BlackOilFluid:
    """Produced fluid described by stock-tank properties (oilfield units).

    oil_api: stock-tank oil gravity (degAPI). gas_sg: separator gas specific gravity (air = 1).
    water_sg: produced-water specific gravity (fresh water = 1). water_cut_frac: water / liquid at
    stock-tank conditions. gor_scf_stb: producing gas-oil ratio (scf per STB of oil).
    bubble_point_psia: bubble-point pressure at ``bubble_point_temperature_f``; None means Standing's
    own Pb for Rsb (no calibration). rsb_scf_stb: solution GOR at the bubble point (scf/STB, <= the
    producing GOR); None means the producing GOR (all produced gas dissolves at Pb).
    co2_frac, h2s_frac: CO2 and H2S mole fractions of the gas (fraction); they correct the pseudo-critical
    properties of the Z factor (Wichert & Aziz 1972); 0 = sweet gas.

    Fields may also be NumPy arrays of one shape (a fleet of wells, see :func:`stack_fluids`); every
    property function broadcasts over them.
    """

    oil_api: float
    gas_sg: float
    water_cut_frac: float
    gor_scf_stb: float
    water_sg: float = 1.07
    bubble_point_psia: float | None = None
    bubble_point_temperature_f: float = 180.0
    rsb_scf_stb: float | None = None
    co2_frac: float = 0.0
    h2s_frac: float = 0.0

    def __post_init__(self) -> None:
        checks = (
            ("oil_api", self.oil_api, 5.0, 80.0),
            ("gas_sg", self.gas_sg, 0.55, 2.0),
            ("water_sg", self.water_sg, 0.99, 1.35),
            ("water_cut_frac", self.water_cut_frac, 0.0, 1.0),
            ("gor_scf_stb", self.gor_scf_stb, 0.0, 1e5),
            ("bubble_point_temperature_f", self.bubble_point_temperature_f, -40.0, 700.0),
            ("co2_frac", self.co2_frac, 0.0, 0.544),  # the range of Wichert & Aziz's (1972) data
            ("h2s_frac", self.h2s_frac, 0.0, 0.738),
        )
        for name, value, low, high in checks:
            v = np.asarray(value, dtype=float)
            if not np.all((v >= low) & (v <= high)):  # NaN fails the comparison, so it is rejected too
                raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
        if self.bubble_point_psia is not None and not np.all(np.asarray(self.bubble_point_psia, dtype=float) > STANDARD_PRESSURE_PSIA):
            raise ValueError(f"bubble_point_psia must exceed atmospheric pressure, got {self.bubble_point_psia}")
        if self.rsb_scf_stb is not None:
            rsb = np.asarray(self.rsb_scf_stb, dtype=float)
            if not np.all((rsb >= 0.0) & (rsb <= np.asarray(self.gor_scf_stb, dtype=float))):
                raise ValueError(f"rsb_scf_stb must be in [0, gor_scf_stb], got {self.rsb_scf_stb}")

    @cached_property
    def rsb(self):
        """Solution GOR at the bubble point (scf/STB): ``rsb_scf_stb``, or the producing GOR when not given."""
        return self.gor_scf_stb if self.rsb_scf_stb is None else self.rsb_scf_stb

    @cached_property
    def pseudo_critical(self):
        """Gas pseudo-critical temperature (degR) and pressure (psia): Sutton (1985) from the gas gravity, corrected
        for CO2 and H2S by Wichert & Aziz (1972) (unchanged for a sweet gas)."""
        return wichert_aziz(*pseudo_critical_sutton(self.gas_sg), self.co2_frac, self.h2s_frac)

    @cached_property
    def oil_sg(self):
        """Stock-tank oil specific gravity (water = 1)."""
        return 141.5 / (131.5 + np.asarray(self.oil_api, dtype=float))

    @cached_property
    def salinity_wt_pct(self):
        """Brine salinity (wt%) implied by ``water_sg``."""
        return water_salinity_wt_pct(self.water_sg)

    @cached_property
    def rs_scale(self):
        """Factor on Standing's Rs so that Rs(Pb, T_Pb) = Rsb (1 when Pb is not given or the oil is dead)."""
        if self.bubble_point_psia is None:
            return 1.0
        rs_pb = standing_rs(self.bubble_point_psia, self.bubble_point_temperature_f, self.oil_api, self.gas_sg)
        rsb = np.asarray(self.rsb, dtype=float)
        scale = np.where(rsb > 1e-6, rsb / rs_pb, 1.0)  # below 1e-6 scf/STB the oil is dead (and rsb / rs_pb underflows)
        return float(scale) if scale.ndim == 0 else scale


def stack_fluids(fluids) -> BlackOilFluid:
    """One :class:`BlackOilFluid` whose fields are arrays of shape (n_wells, 1), for fleet calculations.

    Wells without a bubble point get Standing's own Pb for their GOR (so their scale factor is 1).
    """
    fluids = list(fluids)
    if not fluids:
        raise ValueError("stack_fluids needs at least one fluid")

    def col(values):
        return np.asarray(values, dtype=float).reshape(-1, 1)

    pb = []
    for f in fluids:
        if f.bubble_point_psia is not None:
            pb.append(float(f.bubble_point_psia))
        else:  # Standing's Pb for this Rsb at the reference temperature gives a scale factor of exactly 1
            pb.append(max(float(standing_pb(max(float(f.rsb), 1e-6), f.bubble_point_temperature_f, f.oil_api, f.gas_sg)),
                          STANDARD_PRESSURE_PSIA * 1.0001))
    return BlackOilFluid(
        oil_api=col([f.oil_api for f in fluids]), gas_sg=col([f.gas_sg for f in fluids]),
        water_cut_frac=col([f.water_cut_frac for f in fluids]), gor_scf_stb=col([f.gor_scf_stb for f in fluids]),
        water_sg=col([f.water_sg for f in fluids]), bubble_point_psia=col(pb),
        bubble_point_temperature_f=col([f.bubble_point_temperature_f for f in fluids]),
        rsb_scf_stb=col([float(f.rsb) for f in fluids]),
        co2_frac=col([f.co2_frac for f in fluids]), h2s_frac=col([f.h2s_frac for f in fluids]),
    )


def standing_rs(p_psia, t_f, oil_api, gas_sg):
    """Standing (1947) solution GOR (scf/STB) of a saturated oil at p (psia), T (degF)."""
    p = np.maximum(np.asarray(p_psia, dtype=float), 0.0)
    return gas_sg * ((p / 18.2 + 1.4) * 10.0 ** (0.0125 * oil_api - 0.00091 * np.asarray(t_f, dtype=float))) ** 1.2048


def standing_pb(rs_scf_stb, t_f, oil_api, gas_sg):
    """Standing (1947) bubble-point pressure (psia) for a solution GOR (scf/STB) at T (degF)."""
    a = 10.0 ** (0.00091 * np.asarray(t_f, dtype=float) - 0.0125 * oil_api)
    return 18.2 * ((np.asarray(rs_scf_stb, dtype=float) / gas_sg) ** (1.0 / 1.2048) * a - 1.4)  # exact inverse of standing_rs


def standing_bo(rs_scf_stb, t_f, oil_sg, gas_sg):
    """Standing (1947) saturated oil FVF (bbl/STB)."""
    return 0.9759 + 0.00012 * (rs_scf_stb * np.sqrt(gas_sg / oil_sg) + 1.25 * np.asarray(t_f, dtype=float)) ** 1.2


def beggs_robinson_dead_oil_viscosity(t_f, oil_api):
    """Beggs & Robinson (1975) dead-oil viscosity (cp) at T (degF)."""
    x = np.asarray(t_f, dtype=float) ** -1.163 * np.exp(6.9824 - 0.04658 * oil_api)
    return 10.0**x - 1.0


def beggs_robinson_live_oil_viscosity(mu_dead_cp, rs_scf_stb):
    """Beggs & Robinson (1975) saturated (live) oil viscosity (cp) from dead-oil viscosity and Rs."""
    a = 10.715 * (rs_scf_stb + 100.0) ** -0.515
    b = 5.44 * (rs_scf_stb + 150.0) ** -0.338
    return a * mu_dead_cp**b


def lee_gas_viscosity(rho_g_lbft3, t_f, gas_sg):
    """Lee, Gonzalez & Eakin (1966) gas viscosity (cp) from density (lbm/ft3) and T (degF)."""
    t_r = np.asarray(t_f, dtype=float) + 459.67
    m = AIR_MOLECULAR_WEIGHT * gas_sg
    k = (9.4 + 0.02 * m) * t_r**1.5 / (209.0 + 19.0 * m + t_r)
    x = 3.5 + 986.0 / t_r + 0.01 * m
    y = 2.4 - 0.2 * x
    return 1e-4 * k * np.exp(x * (rho_g_lbft3 / 62.428) ** y)


def water_salinity_wt_pct(water_sg):
    """Brine salinity (wt% TDS) from its specific gravity: inverse of McCain (1990) rho_w(S) at standard conditions."""
    rho = np.asarray(water_sg, dtype=float) * WATER_DENSITY_LBFT3
    a, b, c = 1.60074e-3, 0.438603, 62.368 - rho
    return np.maximum(0.0, (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a))


def mccain_bw(p_psia, t_f):
    """McCain (1991) water FVF (bbl/STB), gas-free brine."""
    p = np.asarray(p_psia, dtype=float)
    t = np.asarray(t_f, dtype=float)
    dvt = -1.0001e-2 + 1.33391e-4 * t + 5.50654e-7 * t * t
    dvp = -1.95301e-9 * p * t - 1.72834e-13 * p * p * t - 3.58922e-7 * p - 2.25341e-10 * p * p
    return (1.0 + dvt) * (1.0 + dvp)


def mccain_dbw_dp(p_psia, t_f):
    """d(Bw)/dp (bbl/STB/psi) of :func:`mccain_bw` at constant T."""
    p = np.asarray(p_psia, dtype=float)
    t = np.asarray(t_f, dtype=float)
    dvt = -1.0001e-2 + 1.33391e-4 * t + 5.50654e-7 * t * t
    return (1.0 + dvt) * (-1.95301e-9 * t - 2.0 * 1.72834e-13 * p * t - 3.58922e-7 - 2.0 * 2.25341e-10 * p)


def mccain_water_viscosity(p_psia, t_f, salinity_wt_pct: float):
    """McCain (1991) brine viscosity (cp): atmospheric value times the pressure correction."""
    s = salinity_wt_pct
    a = 109.574 - 8.40564 * s + 0.313314 * s**2 + 8.72213e-3 * s**3
    b = -1.12166 + 2.63951e-2 * s - 6.79461e-4 * s**2 - 5.47119e-5 * s**3 + 1.55586e-6 * s**4
    p = np.asarray(p_psia, dtype=float)
    return a * np.asarray(t_f, dtype=float) ** b * (0.9994 + 4.0295e-5 * p + 3.1062e-9 * p * p)


def oil_gas_surface_tension(p_psia, t_f, oil_api):
    """Gas/oil surface tension (dyne/cm): Baker & Swerdloff (1956) dead oil, live-oil factor 1 - 0.024 p^0.45."""
    t = np.clip(np.asarray(t_f, dtype=float), 68.0, 100.0)
    s68 = 39.0 - 0.2571 * oil_api
    s100 = 37.5 - 0.2571 * oil_api
    dead = s68 + (t - 68.0) * (s100 - s68) / 32.0
    factor = 1.0 - 0.024 * np.maximum(np.asarray(p_psia, dtype=float), 0.0) ** 0.45
    return np.maximum(dead * factor, 1.0)


def water_gas_surface_tension(p_psia, t_f):
    """Gas/water surface tension (dyne/cm): Jennings & Newman (1971), linear in T between 74 and 280 degF."""
    p = np.maximum(np.asarray(p_psia, dtype=float), 0.0)
    t = np.clip(np.asarray(t_f, dtype=float), 74.0, 280.0)
    s74 = 75.0 - 1.108 * p**0.349
    s280 = 53.0 - 0.1048 * p**0.637
    return np.maximum(s74 + (t - 74.0) * (s280 - s74) / 206.0, 1.0)


@dataclass(frozen=True)
class FluidState:
    """Phase properties at one (p, T) (arrays broadcast over the inputs).

    rs scf/STB; bo, bw bbl/STB; bg ft3/scf; z -; rho_* lbm/ft3; mu_* cp; sigma_* dyne/cm.
    drs_dp, dbo_dp, dbw_dp, dbg_dp: pressure derivatives of rs, bo, bw, bg (per psi) at constant T,
    differentiated analytically from the same correlations (used by the kinetic-energy term).
    """

    rs: np.ndarray
    bo: np.ndarray
    bw: np.ndarray
    bg: np.ndarray
    z: np.ndarray
    rho_o: np.ndarray
    rho_w: np.ndarray
    rho_g: np.ndarray
    mu_o: np.ndarray
    mu_w: np.ndarray
    mu_g: np.ndarray
    sigma_o: np.ndarray
    sigma_w: np.ndarray
    drs_dp: np.ndarray
    dbo_dp: np.ndarray
    dbw_dp: np.ndarray
    dbg_dp: np.ndarray


def fluid_state(fluid: BlackOilFluid, p_psia, t_f) -> FluidState:
    """All phase properties of ``fluid`` at pressure (psia) and temperature (degF).

    Pressure is held within [14.696, 20000] psia, the range of the correlations' data (McCain's Bw,
    for one, turns negative near 1e5 psia)."""
    p = np.minimum(np.maximum(np.asarray(p_psia, dtype=float), STANDARD_PRESSURE_PSIA), PVT_MAX_PRESSURE_PSIA)
    t = np.asarray(t_f, dtype=float)
    api, gsg, osg = fluid.oil_api, fluid.gas_sg, fluid.oil_sg
    rsb = fluid.rsb
    scale = fluid.rs_scale
    rs_free = scale * standing_rs(p, t, api, gsg)
    saturated = rs_free < rsb
    rs = np.minimum(rs_free, rsb)
    # d(Rs)/dp of Standing's form gamma_g ((p / 18.2 + 1.4) 10^x)^1.2048 is 1.2048 Rs / (p + 25.48)
    drs_dp = np.where(saturated, 1.2048 * rs_free / (p + 25.48), 0.0)
    # local saturation pressure at this temperature (where the scaled Rs reaches Rsb)
    p_sat = np.maximum(standing_pb(np.maximum(rsb, 1e-9) / scale, t, api, gsg), STANDARD_PRESSURE_PSIA)
    above = (p > p_sat) & (np.asarray(rsb) > 0)  # a dead oil has no bubble point to be above
    sq = np.sqrt(gsg / osg)
    u = rs * sq + 1.25 * t
    bo_sat = 0.9759 + 0.00012 * u**1.2  # standing_bo, with its derivative
    dbo_sat = 0.00012 * 1.2 * u**0.2 * sq * drs_dp
    # Vasquez-Beggs c_o = A / p integrates to Bo = Bob (p_sat/p)^A above the bubble point
    a_vb = np.maximum(1e-5 * (-1433.0 + 5.0 * rsb + 17.2 * t - 1180.0 * gsg + 12.61 * api), 0.0)
    bo = np.where(above, bo_sat * (p_sat / p) ** a_vb, bo_sat)
    dbo_dp = np.where(above, -a_vb * bo / p, dbo_sat)
    rho_o = (WATER_DENSITY_LBFT3 * osg + 0.0136 * rs * gsg) / bo
    mu_od = beggs_robinson_dead_oil_viscosity(t, api)
    mu_ob = beggs_robinson_live_oil_viscosity(mu_od, rs)
    m_vb = 2.6 * p**1.187 * np.exp(-11.513 - 8.98e-5 * p)
    mu_o = np.where(above, mu_ob * (p / p_sat) ** m_vb, mu_ob)
    tpc, ppc = fluid.pseudo_critical
    t_r = t + 459.67
    tpr, ppr = t_r / tpc, p / ppc
    z = np.asarray(z_factor_dak(tpr, ppr))
    bg = STANDARD_PRESSURE_PSIA / (STANDARD_TEMPERATURE_F + 459.67) * z * t_r / p
    dbg_dp = bg * (dak_dz_dppr(tpr, ppr, z) / (ppc * z) - 1.0 / p)
    rho_g = p * AIR_MOLECULAR_WEIGHT * gsg / (z * R_PSIA_FT3 * t_r)
    mu_g = lee_gas_viscosity(rho_g, t, gsg)
    bw = mccain_bw(p, t)
    dbw_dp = mccain_dbw_dp(p, t)
    rho_w = WATER_DENSITY_LBFT3 * fluid.water_sg / bw
    mu_w = mccain_water_viscosity(p, t, fluid.salinity_wt_pct)
    return FluidState(
        rs=rs, bo=bo, bw=bw, bg=bg, z=z, rho_o=rho_o, rho_w=rho_w, rho_g=rho_g,
        mu_o=mu_o, mu_w=mu_w, mu_g=mu_g,
        sigma_o=oil_gas_surface_tension(p, t, api), sigma_w=water_gas_surface_tension(p, t),
        drs_dp=drs_dp, dbo_dp=dbo_dp, dbw_dp=dbw_dp, dbg_dp=dbg_dp,
    )
