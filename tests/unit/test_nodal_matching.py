"""VLP matching (issue 20: 4) and the new traverse inputs: holdup/friction multipliers, temperature survey,
CO2/H2S (Wichert & Aziz 1972), fixed bubble point, one segment; compiled kernel vs NumPy with each of them."""
import dataclasses
import json

import numpy as np
import pytest

from engines.nodal import (CORRELATIONS, BlackOilFluid, MatchedCorrelation, Wellbore, fluid_state, in_situ_flow, traverse,
                           wichert_aziz)
from engines.nodal.beggs_brill import beggs_brill_gradient
from engines.nodal.fleet import fleet_bottomhole_pressure
from engines.nodal.matching import WellTest, gauge_pressures, match_vlp, rank_correlations
from engines.nodal.no_slip import no_slip_gradient
from engines.nodal.pvt import standing_pb, standing_rs
from engines.nodal.zfactor import pseudo_critical_sutton, wichert_aziz_epsilon, z_factor_dak
from tb_bridge.adapters.nodal import correlation_for_well, fluid_from_well, solve_well, wellbore_from_well
from tb_bridge.cli.main import main
from tb_bridge.wells.model import parse_well_config

RTOL = 1e-9
FLUID = BlackOilFluid(oil_api=35.0, gas_sg=0.7, water_cut_frac=0.3, gor_scf_stb=800.0)
WELL = Wellbore.vertical(8000.0, tubing_id_in=2.441, wellhead_temperature_f=100.0, bottomhole_temperature_f=180.0)
RATES = np.array([50.0, 400.0, 1500.0, 4000.0])


# --- multipliers -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["compiled", "numpy"])
@pytest.mark.parametrize("name", sorted(CORRELATIONS))
def test_unit_multipliers_reproduce_the_unmatched_traverse_exactly(name, backend):
    plain = traverse(RATES, FLUID, WELL, wellhead_pressure_psia=200.0, correlation=name, backend=backend)
    ones = traverse(RATES, FLUID, WELL, wellhead_pressure_psia=200.0, correlation=MatchedCorrelation(name, 1.0, 1.0), backend=backend)
    np.testing.assert_array_equal(ones.pressure_psia, plain.pressure_psia)
    np.testing.assert_array_equal(ones.holdup, plain.holdup)
    assert ones.correlation == name


def test_multipliers_act_on_holdup_and_friction_as_documented():
    """Independent check of the definition at one point: HL' = min(m_H HL, 1) in the slip density; friction x m_F."""
    state = fluid_state(FLUID, np.array([1200.0]), 150.0)
    flow = in_situ_flow(FLUID, state, np.array([1500.0]), WELL.area_ft2)
    base = beggs_brill_gradient(flow, WELL.diameter_ft, WELL.roughness_in, 90.0, 1200.0)
    tuned = beggs_brill_gradient(flow, WELL.diameter_ft, WELL.roughness_in, 90.0, 1200.0, holdup_multiplier=1.2)
    hl = min(1.2 * float(base.holdup[0]), 1.0)
    assert float(tuned.holdup[0]) == pytest.approx(hl, rel=1e-15)
    assert float(tuned.elevation[0]) == pytest.approx((flow.rho_l[0] * hl + flow.rho_g[0] * (1 - hl)) / 144.0, rel=1e-14)
    fric = beggs_brill_gradient(flow, WELL.diameter_ft, WELL.roughness_in, 90.0, 1200.0, friction_multiplier=0.7)
    assert float(fric.friction[0]) == pytest.approx(0.7 * float(base.friction[0]), rel=1e-15)
    assert float(fric.elevation[0]) == float(base.elevation[0])
    # no-slip: elevation at HL' = min(m_H lambda, 1), friction with the no-slip density times m_F
    ns = no_slip_gradient(flow, WELL.diameter_ft, WELL.roughness_in, 90.0, 1200.0)
    ns2 = no_slip_gradient(flow, WELL.diameter_ft, WELL.roughness_in, 90.0, 1200.0, holdup_multiplier=1.5, friction_multiplier=2.0)
    lam = float(ns.holdup[0])
    assert float(ns2.elevation[0]) == pytest.approx((flow.rho_l[0] * 1.5 * lam + flow.rho_g[0] * (1 - 1.5 * lam)) / 144.0, rel=1e-14)
    assert float(ns2.friction[0]) == pytest.approx(2.0 * float(ns.friction[0]), rel=1e-15)


def test_matched_correlation_validation():
    with pytest.raises(ValueError, match="holdup_multiplier"):
        MatchedCorrelation("beggs_brill", 0.0, 1.0)
    with pytest.raises(ValueError, match="unknown correlation"):
        traverse([100.0], FLUID, WELL, wellhead_pressure_psia=200.0, correlation=MatchedCorrelation("duns_ros", 1.1, 1.0))


# --- compiled kernel vs NumPy with every new input --------------------------------------------------------------

SURVEY_WELL = Wellbore.from_survey([2000.0, 6000.0, 9000.0], [2000.0, 5000.0, 7000.0], tubing_id_in=2.992,
                                   temperature_survey_md_ft=(0.0, 1500.0, 4000.0, 7777.0, 9000.0),
                                   temperature_survey_f=(85.0, 95.0, 150.0, 171.0, 196.0))
SOUR = BlackOilFluid(oil_api=32.0, gas_sg=0.8, water_cut_frac=0.2, gor_scf_stb=1200.0, bubble_point_psia=2900.0,
                     bubble_point_temperature_f=196.0, co2_frac=0.08, h2s_frac=0.12)


@pytest.mark.parametrize("name", sorted(CORRELATIONS))
@pytest.mark.parametrize("mult", [(1.0, 1.0), (1.25, 0.8), (0.6, 1.9)])
@pytest.mark.parametrize("n_segments", [1, 7, 60])
def test_kernel_matches_numpy_with_the_new_inputs(name, mult, n_segments):
    corr = MatchedCorrelation(name, *mult)
    for top_down in (True, False):
        kw = dict(wellhead_pressure_psia=180.0) if top_down else dict(bottomhole_pressure_psia=3200.0)
        a = traverse(RATES, SOUR, SURVEY_WELL, correlation=corr, n_segments=n_segments, extra_md_ft=(5123.0,), **kw)
        b = traverse(RATES, SOUR, SURVEY_WELL, correlation=corr, n_segments=n_segments, extra_md_ft=(5123.0,), backend="numpy", **kw)
        np.testing.assert_array_equal(a.md_ft, b.md_ft)
        np.testing.assert_allclose(a.pressure_psia, b.pressure_psia, rtol=RTOL, atol=0.0, equal_nan=True)
        np.testing.assert_allclose(a.holdup, b.holdup, rtol=1e-8, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("name", ["beggs_brill", "hagedorn_brown", "no_slip"])
def test_fleet_kernel_matches_numpy_with_multipliers_and_sour_gas(name):
    fluids = [SOUR, FLUID]
    wells = [SURVEY_WELL, WELL]
    q = np.array([[100.0, 900.0, 3000.0], [50.0, 500.0, 2500.0]])
    corr = MatchedCorrelation(name, 1.15, 0.9)
    a = fleet_bottomhole_pressure(q, fluids, wells, [180.0, 200.0], correlation=corr, n_segments=30)
    b = fleet_bottomhole_pressure(q, fluids, wells, [180.0, 200.0], correlation=corr, n_segments=30, backend="numpy")
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=0.0)
    plain = fleet_bottomhole_pressure(q, fluids, wells, [180.0, 200.0], correlation=name, n_segments=30)
    assert not np.allclose(a, plain)


# --- temperature survey, one segment, fixed bubble point ---------------------------------------------------------

@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_linear_temperature_survey_equals_the_linear_profile(backend):
    survey = dataclasses.replace(WELL, temperature_survey_md_ft=(0.0, 4000.0, 8000.0), temperature_survey_f=(100.0, 140.0, 180.0))
    a = traverse(RATES, FLUID, WELL, wellhead_pressure_psia=200.0, correlation="hagedorn_brown", backend=backend)
    b = traverse(RATES, FLUID, survey, wellhead_pressure_psia=200.0, correlation="hagedorn_brown", backend=backend)
    np.testing.assert_array_equal(a.md_ft, b.md_ft)  # the survey stations fall on the 100-segment grid
    np.testing.assert_allclose(b.temperature_f, a.temperature_f, rtol=1e-14, atol=0.0)
    np.testing.assert_allclose(b.pressure_psia, a.pressure_psia, rtol=1e-12, atol=0.0)


def test_temperature_survey_stations_become_nodes_and_are_interpolated_in_md():
    res = traverse([500.0], FLUID, SURVEY_WELL, wellhead_pressure_psia=200.0, n_segments=4)
    for md, t in zip(SURVEY_WELL.temperature_survey_md_ft, SURVEY_WELL.temperature_survey_f):
        i = int(np.argmin(np.abs(res.md_ft - md)))
        assert res.md_ft[i] == md and res.temperature_f[i] == t
    assert SURVEY_WELL.temperature_at(5888.5) == pytest.approx(160.5, rel=1e-14)  # halfway between 4000 ft (150) and 7777 ft (171)
    assert SURVEY_WELL.temperature_at(0.0) == 85.0 and SURVEY_WELL.temperature_at(9000.0) == 196.0
    with pytest.raises(ValueError, match="temperature survey measured depths"):
        dataclasses.replace(WELL, temperature_survey_md_ft=(0.0, 9000.0), temperature_survey_f=(90.0, 190.0))
    with pytest.raises(ValueError, match="neither"):
        dataclasses.replace(WELL, temperature_survey_md_ft=(0.0, 8000.0))


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_one_segment_is_one_predictor_corrector_step(backend):
    """Independent derivation of the march for n_segments = 1 (water, vertical, 3000 ft): g0 at the wellhead, the
    midpoint pressure from it, g at the midpoint (mid temperature), p_bh = p_wh + g L."""
    water = BlackOilFluid(oil_api=35.0, gas_sg=0.75, water_cut_frac=1.0, gor_scf_stb=0.0, water_sg=1.0)
    well = Wellbore.vertical(3000.0, tubing_id_in=2.441, wellhead_temperature_f=80.0, bottomhole_temperature_f=140.0)
    q = np.array([1000.0])

    def grad(p, t):
        flow = in_situ_flow(water, fluid_state(water, p, t), q, well.area_ft2)
        return no_slip_gradient(flow, well.diameter_ft, well.roughness_in, 90.0, p).total

    g0 = grad(100.0, 80.0)
    expected = 100.0 + grad(100.0 + 0.5 * g0 * 3000.0, 110.0) * 3000.0
    res = traverse(q, water, well, wellhead_pressure_psia=100.0, correlation="no_slip", n_segments=1, backend=backend)
    assert res.md_ft.tolist() == [0.0, 3000.0]
    assert res.pressure_psia[-1, 0] == pytest.approx(expected[0], rel=1e-12)
    # and within 0.01 % of a 200-segment traverse (a nearly constant gradient)
    fine = traverse(q, water, well, wellhead_pressure_psia=100.0, correlation="no_slip", n_segments=200, backend=backend)
    assert res.pressure_psia[-1, 0] == pytest.approx(fine.pressure_psia[-1, 0], rel=1e-4)


def test_fixed_bubble_point_is_honoured():
    """Pb fixed at 2000 psia at 180 degF (Standing's own Pb for Rsb = 800 scf/STB is ~3500 psia): the oil is saturated
    below 2000 psia and undersaturated above, at the bubble-point temperature; the traverse's free gas follows."""
    fluid = BlackOilFluid(oil_api=35.0, gas_sg=0.7, water_cut_frac=0.0, gor_scf_stb=800.0, bubble_point_psia=2000.0,
                          bubble_point_temperature_f=180.0)
    assert float(standing_pb(800.0, 180.0, 35.0, 0.7)) > 3000.0
    below, at, above = fluid_state(fluid, np.array([2000.0 * (1 - 1e-9), 2000.0, 2100.0]), 180.0).rs
    assert below < 800.0 and at == pytest.approx(800.0, rel=1e-12) and above == 800.0
    assert fluid.rs_scale * float(standing_rs(2000.0, 180.0, 35.0, 0.7)) == pytest.approx(800.0, rel=1e-12)
    well = Wellbore.vertical(9000.0, wellhead_temperature_f=180.0, bottomhole_temperature_f=180.0)  # isothermal: T = T_Pb
    res = traverse([800.0], fluid, well, bottomhole_pressure_psia=3500.0, correlation="beggs_brill", n_segments=200)
    p, hl = res.pressure_psia[:, 0], res.holdup[:, 0]
    liquid, gassy = p > 2005.0, p < 1985.0  # a node's holdup is its segment's, at the midpoint (<= 7 psi deeper)
    assert liquid.sum() > 50 and gassy.sum() > 20
    assert np.all(hl[liquid] == 1.0)  # single-phase liquid above Pb
    assert np.all(hl[gassy] < 1.0)  # free gas below Pb


# --- Wichert & Aziz ------------------------------------------------------------------------------------------------

def test_wichert_aziz_against_the_published_example():
    """Ahmed, T. (2006) Reservoir Engineering Handbook 3rd ed., Example 2-9 (sour gas, gamma_g 0.7, 5 % CO2, 10 % H2S,
    Tpc 395.5 degR and Ppc 668 psia from the gas gravity): epsilon = 20.735 degR, T'pc = 374.7 degR, P'pc = 630.0 psia."""
    assert wichert_aziz_epsilon(0.05, 0.10) == pytest.approx(20.735, abs=5e-4)
    tpc, ppc = wichert_aziz(395.5, 668.0, 0.05, 0.10)
    assert tpc == pytest.approx(374.76, abs=0.01)
    assert ppc == pytest.approx(630.0, abs=0.1)
    # independent arithmetic of eqs. (A = 0.15, B = 0.10)
    eps = 120 * (0.15**0.9 - 0.15**1.6) + 15 * (0.10**0.5 - 0.10**4)
    assert ppc == pytest.approx(668.0 * (395.5 - eps) / (395.5 + 0.1 * 0.9 * eps), rel=1e-15)


def test_sweet_gas_is_unchanged_and_sour_gas_reaches_z():
    sweet = pseudo_critical_sutton(0.8)
    assert wichert_aziz(*sweet, 0.0, 0.0) == (float(sweet[0]), float(sweet[1]))
    tpc, ppc = SOUR.pseudo_critical
    state = fluid_state(SOUR, 2000.0, 180.0)
    assert float(state.z) == pytest.approx(z_factor_dak(639.67 / tpc, 2000.0 / ppc), rel=1e-10)
    sweet_z = float(fluid_state(dataclasses.replace(SOUR, co2_frac=0.0, h2s_frac=0.0), 2000.0, 180.0).z)
    assert float(state.z) != pytest.approx(sweet_z, rel=1e-3)
    with pytest.raises(ValueError, match="h2s_frac"):
        BlackOilFluid(oil_api=30.0, gas_sg=0.7, water_cut_frac=0.0, gor_scf_stb=100.0, h2s_frac=0.9)


# --- matching ----------------------------------------------------------------------------------------------------

def _synthetic_tests(true: MatchedCorrelation, rates=(300.0, 1500.0, 4000.0), gauge_md=None):
    base = [WellTest(q, 0.3, 800.0, 200.0, 1000.0, gauge_md) for q in rates]
    p = gauge_pressures(base, FLUID, WELL, true)
    return [dataclasses.replace(t, gauge_pressure_psia=float(v)) for t, v in zip(base, p)]


@pytest.mark.parametrize("true", [MatchedCorrelation("hagedorn_brown", 1.15, 0.85), MatchedCorrelation("beggs_brill_original", 0.9, 1.3)])
def test_synthetic_tests_are_matched_back_to_their_multipliers(true):
    tests = _synthetic_tests(true)
    result = match_vlp(tests, FLUID, WELL, correlation=true.name)
    assert result.success and result.fitted == ("holdup_multiplier", "friction_multiplier")
    # least squares stops at xtol 1e-10 relative on the multipliers; finite-difference Jacobian
    assert result.holdup_multiplier == pytest.approx(true.holdup_multiplier, rel=1e-6)
    assert result.friction_multiplier == pytest.approx(true.friction_multiplier, rel=1e-6)
    assert result.after.mean_abs_error_psi < 1e-4
    assert result.unmatched.mean_abs_error_psi > 50.0


def test_one_test_with_a_gauge_above_the_perforations_solves_the_holdup_multiplier():
    true = MatchedCorrelation("hagedorn_brown", 1.1, 1.0)
    tests = _synthetic_tests(true, rates=(1200.0,), gauge_md=6500.0)
    result = match_vlp(tests, FLUID, WELL, correlation="hagedorn_brown")
    assert result.fitted == ("holdup_multiplier",) and result.friction_multiplier == 1.0
    assert result.holdup_multiplier == pytest.approx(1.1, rel=1e-8)  # Brent, xtol 1e-10
    assert abs(result.after.error_psi[0]) < 1e-5
    # the gauge pressure is read at 6500 ft, not at the perforations
    full = traverse([1200.0], FLUID, WELL, wellhead_pressure_psia=200.0, correlation=true, extra_md_ft=(6500.0,))
    assert tests[0].gauge_pressure_psia == full.pressure_psia[np.searchsorted(full.md_ft, 6500.0), 0]


def test_ranking_puts_the_generating_correlation_first():
    tests = _synthetic_tests(MatchedCorrelation("hagedorn_brown_original", 1.0, 1.0))
    ranking = rank_correlations(tests, FLUID, WELL)
    assert [s.correlation for s in ranking][0] == "hagedorn_brown_original"
    assert ranking[0].mean_abs_error_psi == 0.0
    assert sorted(s.correlation for s in ranking) == sorted(CORRELATIONS)
    errs = [s.mean_abs_error_pct for s in ranking]
    assert errs == sorted(errs)
    for s in ranking:
        calc = gauge_pressures(tests, FLUID, WELL, s.correlation)
        np.testing.assert_allclose(s.error_psi, calc - [t.gauge_pressure_psia for t in tests], rtol=0, atol=1e-9)


def test_match_rejects_bad_input():
    with pytest.raises(ValueError, match="between 1 and"):
        match_vlp([], FLUID, WELL)
    with pytest.raises(ValueError, match="below the mid-perforations"):
        match_vlp([WellTest(500.0, 0.3, 800.0, 200.0, 2000.0, gauge_md_ft=9000.0)], FLUID, WELL)
    with pytest.raises(ValueError, match="bounds"):
        match_vlp([WellTest(500.0, 0.3, 800.0, 200.0, 2000.0)], FLUID, WELL, bounds=(1.2, 3.0))


# --- service and CLI ---------------------------------------------------------------------------------------------

WELL_ATTRS = {
    "lift_type": "esp", "pump_depth_ft": 7000, "reservoir_pressure_psi": 3500, "bubble_point_psi": 2500,
    "productivity_index_bpd_psi": 1.5, "perforation_depth_ft": 8000, "wellhead_pressure_psi": 150, "gor_scf_stb": 800,
    "water_cut_frac": 0.3, "oil_api": 35, "tubing_id_in": 2.992, "reservoir_temperature_f": 180, "surface_temperature_f": 100,
    "vlp_correlation": "hagedorn_brown",
}


def test_well_attributes_carry_the_match_and_the_traverse_inputs_to_the_engine():
    attrs = dict(WELL_ATTRS, vlp_holdup_multiplier=1.1, vlp_friction_multiplier=0.9, co2_mole_frac=0.05, h2s_mole_frac=0.01,
                 temperature_survey=json.dumps([{"md_ft": 0, "temperature_f": 90}, {"md_ft": 8000, "temperature_f": 185}]))
    well = parse_well_config("w1", "W-1", attrs)
    corr = correlation_for_well(well)
    assert corr == MatchedCorrelation("hagedorn_brown", 1.1, 0.9)
    assert correlation_for_well(parse_well_config("w2", "W-2", WELL_ATTRS)) == "hagedorn_brown"
    fluid, wellbore = fluid_from_well(well), wellbore_from_well(well)
    assert (fluid.co2_frac, fluid.h2s_frac) == (0.05, 0.01)
    assert wellbore.temperature_at(4000.0) == pytest.approx(137.5)
    from engines.nodal import solve_operating_point
    from tb_bridge.adapters.nodal import ipr_from_well
    result = solve_well(well, n_segments=40)
    direct = solve_operating_point(ipr_from_well(well), fluid, wellbore, 164.696, correlation=corr, n_segments=40)
    assert result.q_bpd == pytest.approx(direct.q_bpd, rel=1e-12)
    assert result.correlation == "hagedorn_brown"
    plain = solve_well(parse_well_config("w1", "W-1", dict(attrs, vlp_holdup_multiplier=1.0, vlp_friction_multiplier=1.0)), n_segments=40)
    assert np.all(np.abs(result.vlp_curve[:, 1] - plain.vlp_curve[:, 1]) > 1.0)
    with pytest.raises(ValueError, match="temperature_survey runs below"):
        parse_well_config("w3", "W-3", dict(WELL_ATTRS, temperature_survey=[{"md_ft": 0, "temperature_f": 90},
                                                                            {"md_ft": 9000, "temperature_f": 185}]))


def test_cli_match_prints_the_ranking_and_the_attributes(tmp_path, capsys):
    tests = _synthetic_tests(MatchedCorrelation("hagedorn_brown", 1.15, 0.85))
    spec = {"oil_api": 35, "gas_specific_gravity": 0.7, "depth_ft": 8000, "tubing_id_in": 2.441, "wellhead_temperature_f": 100,
            "bottomhole_temperature_f": 180, "correlation": "hagedorn_brown",
            "tests": [dataclasses.asdict(t) for t in tests]}
    path = tmp_path / "test.json"
    path.write_text(json.dumps(spec))
    assert main(["nodal", "match", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["well_attributes"]["vlp_correlation"] == "hagedorn_brown"
    assert out["holdup_multiplier"] == pytest.approx(1.15, rel=1e-6)
    assert out["friction_multiplier"] == pytest.approx(0.85, rel=1e-6)
    assert len(out["ranking"]) == len(CORRELATIONS)
    assert main(["nodal", "match", str(path)]) == 0
    text = capsys.readouterr().out
    assert "correlation ranking" in text and "vlp_holdup_multiplier" in text


def test_cli_traverse_takes_the_new_inputs(tmp_path, capsys):
    spec = {"rates_bpd": [500], "wellhead_pressure_psia": 200, "oil_api": 32, "gas_specific_gravity": 0.8, "water_cut_frac": 0.2,
            "gor_scf_stb": 1200, "bubble_point_psia": 2900, "co2_mole_frac": 0.08, "h2s_mole_frac": 0.12, "n_segments": 1,
            "deviation_survey": [{"md_ft": 2000, "tvd_ft": 2000}, {"md_ft": 6000, "tvd_ft": 5000}, {"md_ft": 9000, "tvd_ft": 7000}],
            "tubing_id_in": 2.992, "correlation": "beggs_brill", "holdup_multiplier": 1.25, "friction_multiplier": 0.8,
            "temperature_survey": [{"md_ft": m, "temperature_f": t} for m, t in zip(SURVEY_WELL.temperature_survey_md_ft,
                                                                                 SURVEY_WELL.temperature_survey_f)]}
    path = tmp_path / "traverse.json"
    path.write_text(json.dumps(spec))
    assert main(["nodal", "traverse", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = traverse([500.0], SOUR, SURVEY_WELL, wellhead_pressure_psia=200.0, n_segments=1,
                        correlation=MatchedCorrelation("beggs_brill", 1.25, 0.8))
    assert out["pressure_psia"][0][-1] == pytest.approx(expected.pressure_psia[-1, 0], rel=1e-12)
