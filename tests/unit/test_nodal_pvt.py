"""PVT, Z-factor and friction-factor checks against chart values, ideal-gas limits and hand calculations."""
import numpy as np
import pytest
from scipy.optimize import brentq

from engines.nodal import BlackOilFluid, fluid_state, gas_z_factor, z_factor_dak
from engines.nodal.friction import moody_friction_factor
from engines.nodal.pvt import (beggs_robinson_dead_oil_viscosity, beggs_robinson_live_oil_viscosity, oil_gas_surface_tension,
                               standing_pb, standing_rs, water_salinity_wt_pct)

# Standing & Katz (1942) chart, values as digitized by Reyes (R package zFactor, 2017, sk_lp_tpr_*.txt).
STANDING_KATZ = [
    (1.5, 2.006, 0.822), (1.5, 1.000, 0.900), (1.5, 5.008, 0.810), (1.2, 2.000, 0.554), (1.2, 4.005, 0.607),
    (2.0, 2.001, 0.947), (2.0, 5.009, 0.955), (1.5, 3.006, 0.776),
]


@pytest.mark.parametrize("tpr,ppr,z_chart", STANDING_KATZ)
def test_dak_z_matches_standing_katz_chart_within_1pct(tpr, ppr, z_chart):
    assert z_factor_dak(tpr, ppr) == pytest.approx(z_chart, rel=0.01)


def test_dak_z_is_vectorized_and_ideal_at_low_pressure():
    z = z_factor_dak(np.array([1.5, 1.5, 2.0]), np.array([2.006, 1e-4, 2.001]))
    assert z.shape == (3,)
    assert z[1] == pytest.approx(1.0, abs=1e-4)
    assert z[0] == pytest.approx(z_factor_dak(1.5, 2.006), rel=1e-12)


def test_gas_at_standard_conditions_is_nearly_ideal():
    """At 14.696 psia and 60 degF: Bg = 1 ft3/scf and rho_g = 0.0764 gamma_g lbm/ft3 (air 0.0764), Z ~ 0.998."""
    fluid = BlackOilFluid(oil_api=35, gas_sg=0.7, water_cut_frac=0.0, gor_scf_stb=500)
    s = fluid_state(fluid, 14.696, 60.0)
    assert float(s.bg) == pytest.approx(1.0, rel=3e-3)
    assert float(s.rho_g) == pytest.approx(0.0764 * 0.7, rel=3e-3)
    assert float(gas_z_factor(14.696, 60.0, 0.7)) == pytest.approx(0.998, abs=2e-3)


def test_standing_rs_and_pb_are_inverse():
    rs = standing_rs(2500.0, 180.0, 35.0, 0.75)
    assert standing_pb(rs, 180.0, 35.0, 0.75) == pytest.approx(2500.0, rel=1e-12)


def test_standing_rs_hand_calculation():
    """Standing (1947): Rs = 0.75 ((2500/18.2 + 1.4) 10^(0.0125*35 - 0.00091*180))^1.2048 = 0.75 * 260.51^1.2048 = 610.7 scf/STB."""
    expected = 0.75 * ((2500 / 18.2 + 1.4) * 10 ** (0.4375 - 0.1638)) ** 1.2048
    assert standing_rs(2500.0, 180.0, 35.0, 0.75) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(610.7, abs=0.05)


def test_bubble_point_calibration_and_undersaturated_oil():
    fluid = BlackOilFluid(oil_api=35, gas_sg=0.75, water_cut_frac=0.3, gor_scf_stb=800, bubble_point_psia=2500,
                          bubble_point_temperature_f=180)
    s = fluid_state(fluid, np.array([1000.0, 2500.0, 4000.0]), 180.0)
    assert s.rs[1] == pytest.approx(800.0, rel=1e-9)
    assert s.rs[2] == pytest.approx(800.0, rel=1e-12)  # no more gas to dissolve above Pb
    assert s.rs[0] < 800.0
    # above Pb the oil is compressed: Bo falls and viscosity rises (Vasquez & Beggs 1980)
    assert s.bo[2] < s.bo[1] and s.mu_o[2] > s.mu_o[1]
    # mass per STB is conserved: rho_o Bo = 62.366 gamma_o + 0.0136 Rs gamma_g (lbm/ft3 * bbl/STB)
    np.testing.assert_allclose(s.rho_o * s.bo, 62.366 * fluid.oil_sg + 0.0136 * s.rs * 0.75, rtol=1e-12)
    # Standing Bo at the bubble point, by hand: 0.9759 + 0.00012 (800 sqrt(0.75/0.8498) + 1.25 180)^1.2
    assert s.bo[1] == pytest.approx(0.9759 + 0.00012 * (800 * np.sqrt(0.75 / fluid.oil_sg) + 225.0) ** 1.2, rel=1e-9)


def test_beggs_robinson_viscosity_hand_calculation():
    """Beggs & Robinson (1975): x = T^-1.163 exp(6.9824 - 0.04658 API), mu_od = 10^x - 1; live A mu_od^B."""
    x = 150.0**-1.163 * np.exp(6.9824 - 0.04658 * 35.0)
    mu_od = 10**x - 1
    assert beggs_robinson_dead_oil_viscosity(150.0, 35.0) == pytest.approx(mu_od, rel=1e-12)
    assert 1.5 < mu_od < 3.5  # a 35 API dead oil at 150 degF is a few cp
    live = beggs_robinson_live_oil_viscosity(mu_od, 500.0)
    assert live == pytest.approx(10.715 * 600**-0.515 * mu_od ** (5.44 * 650**-0.338), rel=1e-12)
    assert live < mu_od


def test_surface_tension_and_water():
    """Baker & Swerdloff (1956): dead oil 39 - 0.2571 API at 68 degF; live-oil factor 1 - 0.024 p^0.45."""
    assert oil_gas_surface_tension(0.0, 68.0, 35.0) == pytest.approx(39 - 0.2571 * 35, rel=1e-12)
    assert oil_gas_surface_tension(1000.0, 68.0, 35.0) == pytest.approx((39 - 0.2571 * 35) * (1 - 0.024 * 1000**0.45), rel=1e-12)
    # McCain (1990) brine density at standard conditions: 62.368 + 0.438603 S + 1.60074e-3 S^2 lbm/ft3
    s = water_salinity_wt_pct(1.07)
    assert 62.368 + 0.438603 * s + 1.60074e-3 * s * s == pytest.approx(1.07 * 62.366, rel=1e-9)
    fluid = BlackOilFluid(oil_api=35, gas_sg=0.75, water_cut_frac=1.0, gor_scf_stb=0.0, water_sg=1.0)
    st = fluid_state(fluid, 14.696, 60.0)
    assert float(st.bw) == pytest.approx(1.0, abs=2e-3)
    assert float(st.mu_w) == pytest.approx(1.12, rel=0.05)  # fresh water at 60 degF: 1.12 cp


@pytest.mark.parametrize("re", [2500.0, 1e4, 1e5, 1e6, 1e8])
@pytest.mark.parametrize("rr", [0.0, 1e-5, 1e-3, 0.02])
def test_colebrook_solution_matches_root_finder(re, rr):
    """Colebrook (1939) solved independently with Brent's method."""
    ref = brentq(lambda f: 1 / np.sqrt(f) + 2 * np.log10(rr / 3.7 + 2.51 / (re * np.sqrt(f))), 1e-4, 1.0, xtol=1e-15)
    assert moody_friction_factor(re, rr) == pytest.approx(ref, rel=1e-9)


def test_laminar_friction():
    assert moody_friction_factor(1000.0, 0.001) == pytest.approx(0.064, rel=1e-12)
    np.testing.assert_allclose(moody_friction_factor(np.array([500.0, 1500.0]), 0.0), [0.128, 64 / 1500], rtol=1e-12)


@pytest.mark.parametrize("p,t", [(300.0, 110.0), (1500.0, 160.0), (2400.0, 180.0), (3500.0, 180.0), (7000.0, 220.0)])
def test_pressure_derivatives_match_central_differences(p, t):
    """FluidState's analytic drs/dp, dbo/dp, dbw/dp, dbg/dp (used by the kinetic-energy term) against central differences,
    below and above the bubble point."""
    fluid = BlackOilFluid(oil_api=35.0, gas_sg=0.65, water_cut_frac=0.3, gor_scf_stb=800.0, bubble_point_psia=2500.0, rsb_scf_stb=500.0)
    s = fluid_state(fluid, p, t)
    h = 1e-3
    lo, hi = fluid_state(fluid, p - h, t), fluid_state(fluid, p + h, t)
    for name in ("rs", "bo", "bw", "bg"):
        fd = (float(getattr(hi, name)) - float(getattr(lo, name))) / (2 * h)
        assert float(getattr(s, f"d{name}_dp")) == pytest.approx(fd, rel=1e-5, abs=1e-12), name


def test_rsb_below_the_producing_gor_leaves_free_gas_at_every_pressure():
    """Rsb = 500 scf/STB at Pb = 2500 psia with a producing GOR of 800: Rs(Pb) = 500, Rs capped at Rsb above Pb, and the oil
    is undersaturated above Pb (Bo falls with pressure)."""
    fluid = BlackOilFluid(oil_api=35.0, gas_sg=0.65, water_cut_frac=0.0, gor_scf_stb=800.0, bubble_point_psia=2500.0,
                          bubble_point_temperature_f=180.0, rsb_scf_stb=500.0)
    assert float(fluid_state(fluid, 2500.0, 180.0).rs) == pytest.approx(500.0, rel=1e-12)
    above = fluid_state(fluid, 4000.0, 180.0)
    assert float(above.rs) == 500.0 and float(above.drs_dp) == 0.0 and float(above.dbo_dp) < 0.0
    assert float(fluid_state(fluid, 3000.0, 180.0).bo) > float(above.bo)
    with pytest.raises(ValueError, match="rsb_scf_stb"):
        BlackOilFluid(oil_api=35.0, gas_sg=0.65, water_cut_frac=0.0, gor_scf_stb=400.0, rsb_scf_stb=500.0)
