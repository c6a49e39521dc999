"""Hagedorn & Brown (1965) and its modified form (Brill & Mukherjee 1999, sec. 4.2.1) against analytic relations,
hand derivations, two independently published fit sets of the same charts (Economides et al. 1994; Guo et al. 2007),
the compiled kernel, and pyResToolbox's published oil well (decomposed choice by choice).

A textbook worked example with printed intermediate values (Guo et al. 2007 Ex. 4.x, Economides et al. 1994
Ex. 7-8, Brill & Mukherjee 1999 Ex. 4.2) was searched for in the sources available to this audit and not found;
the tests below therefore check the correlation by derivation and cross-fit agreement, not against a book's
printed numbers."""
import numpy as np
import pytest
from scipy.optimize import brentq

from engines.nodal import InSituFlow, hagedorn_brown_gradient
from engines.nodal.hagedorn_brown import BUBBLE, SLUG, cnl, griffith_holdup, holdup_over_psi, secondary_psi

GC = 32.174


def test_griffith_holdup_satisfies_the_slip_relation():
    """Griffith & Wallis (1961): gas rises 0.8 ft/s faster than the liquid, vsg/(1-HL) - vsl/HL = 0.8 ft/s."""
    for vsl, vsg in [(0.5, 0.1), (2.0, 0.3), (4.0, 1.0)]:
        hl = float(griffith_holdup(vsl, vsg))
        assert vsg / (1 - hl) - vsl / hl == pytest.approx(0.8, rel=1e-10)


def test_single_phase_liquid_is_darcy_weisbach():
    rho, mu, v, d, rough = 60.0, 0.9, 5.0, 2.441 / 12, 0.0006
    flow = InSituFlow(vsl=np.array(v), vsg=np.array(0.0), rho_l=rho, rho_g=2.0, mu_l=mu, mu_g=0.015, sigma_l=60.0)
    g = hagedorn_brown_gradient(flow, d, rough, 90.0, 1000.0)
    f = brentq(lambda f: 1 / np.sqrt(f) + 2 * np.log10(rough / 12 / d / 3.7 + 2.51 / (1488 * rho * v * d / mu * np.sqrt(f))), 1e-4, 1)
    assert float(g.holdup) == 1.0 and int(g.pattern) == BUBBLE
    assert float(g.total) == pytest.approx(rho / 144 + f * rho * v * v / (2 * GC * d) / 144, rel=1e-9)


def test_bubble_limit_lb_selects_griffith_or_hagedorn_brown():
    """L_B = 1.071 - 0.2218 vm^2 / D (>= 0.13): gas fraction below L_B is bubble flow."""
    d = 2.441 / 12
    vm = 3.0
    lb = max(1.071 - 0.2218 * vm * vm / d, 0.13)
    base = dict(rho_l=55.0, rho_g=3.0, mu_l=2.0, mu_g=0.015, sigma_l=25.0)
    below = hagedorn_brown_gradient(InSituFlow(vsl=np.array(vm * (1 - 0.9 * lb)), vsg=np.array(vm * 0.9 * lb), **base), d, 0.0006, 90.0, 800.0)
    above = hagedorn_brown_gradient(InSituFlow(vsl=np.array(vm * (1 - 1.1 * lb)), vsg=np.array(vm * 1.1 * lb), **base), d, 0.0006, 90.0, 800.0)
    assert int(below.pattern) == BUBBLE and int(above.pattern) == SLUG
    assert float(below.holdup) == pytest.approx(float(griffith_holdup(vm * (1 - 0.9 * lb), vm * 0.9 * lb)), rel=1e-12)


def test_chart_fits_are_on_the_published_curves():
    """Hagedorn & Brown (1965) charts: CNL rises with NL from ~0.002 over the chart range; HL/psi -> 1 for large phi;
    psi = 1 for x <= 0.01 and >= 1 on the chart."""
    values = cnl(np.linspace(0.002, 0.4, 50))
    assert np.all(np.diff(values) > 0) and 0.0015 < values[0] < 0.003
    assert float(holdup_over_psi(1.0)) == pytest.approx(1.0, abs=0.01)
    assert float(secondary_psi(0.005)) == 1.0
    assert np.all(secondary_psi(np.linspace(0.01, 0.2, 20)) >= 1.0)


def test_holdup_never_below_no_slip():
    vsl = np.linspace(0.1, 5.0, 20)
    flow = InSituFlow(vsl=vsl, vsg=20.0 * vsl, rho_l=50.0, rho_g=5.0, mu_l=1.0, mu_g=0.015, sigma_l=20.0)
    g = hagedorn_brown_gradient(flow, 0.2, 0.0006, 90.0, 500.0)
    assert np.all(g.holdup >= vsl / (21.0 * vsl) - 1e-15) and np.all(g.holdup <= 1.0)


# --- acceleration (kinetic-energy) term: Brown & Beggs (1977), Economides et al. (1994) eq. 7-48 ---

from engines.nodal import BlackOilFluid, fluid_state, in_situ_flow  # noqa: E402

AREA = np.pi / 4 * (2.441 / 12) ** 2
D = 2.441 / 12


def _vm(fluid, p, t, q):
    flow = in_situ_flow(fluid, fluid_state(fluid, p, t), q, AREA)
    return float(flow.vsl + flow.vsg)


@pytest.mark.parametrize("p,t,q,fluid", [
    (250.0, 100.0, 2000.0, BlackOilFluid(oil_api=35.0, gas_sg=0.65, water_cut_frac=0.3, gor_scf_stb=800.0, bubble_point_psia=2500.0,
                                         rsb_scf_stb=500.0)),
    (600.0, 130.0, 1200.0, BlackOilFluid(oil_api=30.0, gas_sg=0.8, water_cut_frac=0.0, gor_scf_stb=1500.0)),
    (3500.0, 180.0, 3000.0, BlackOilFluid(oil_api=35.0, gas_sg=0.75, water_cut_frac=0.5, gor_scf_stb=400.0, bubble_point_psia=2000.0)),
])
def test_acceleration_matches_a_finite_difference_of_the_kinetic_energy(p, t, q, fluid):
    """rho_s Delta(vm^2) / (2 gc Delta z) over a short step (vm from the PVT at p -/+ dp, independently of the
    analytic derivatives) equals the model's acceleration gradient; it is positive for upward flow."""
    flow = in_situ_flow(fluid, fluid_state(fluid, p, t), q, AREA)
    g = hagedorn_brown_gradient(flow, D, 0.0006, 90.0, p)
    rho_s = float(flow.rho_l * g.holdup + flow.rho_g * (1 - g.holdup))
    dp = 1e-3 * p
    dz = 2 * dp / float(g.total)  # the pipe length over which the pressure falls by 2 dp
    fd = rho_s * (_vm(fluid, p - dp, t, q) ** 2 - _vm(fluid, p + dp, t, q) ** 2) / (2 * GC * dz) / 144.0
    assert float(g.acceleration) > 0
    assert float(g.acceleration) == pytest.approx(fd, rel=2e-5)


def test_acceleration_vanishes_for_an_incompressible_single_phase():
    """Dead oil (no gas; Standing's Bo without dissolved gas does not change with pressure): dvm/dp = 0, no term."""
    dead = BlackOilFluid(oil_api=30.0, gas_sg=0.7, water_cut_frac=0.0, gor_scf_stb=0.0)
    flow = in_situ_flow(dead, fluid_state(dead, 800.0, 120.0), 3000.0, AREA)
    assert float(flow.dvm_dp) == 0.0
    g = hagedorn_brown_gradient(flow, D, 0.0006, 90.0, 800.0)
    assert float(g.ek) == 0.0 and float(g.total) == float(g.elevation) + float(g.friction)
    # and a gassy flow at the wellhead has a sizeable one (about 2% of the gradient here)
    gassy = BlackOilFluid(oil_api=35.0, gas_sg=0.65, water_cut_frac=0.3, gor_scf_stb=800.0, bubble_point_psia=2500.0, rsb_scf_stb=500.0)
    g2 = hagedorn_brown_gradient(in_situ_flow(gassy, fluid_state(gassy, 200.0, 100.0), 2000.0, AREA), D, 0.0006, 90.0, 200.0)
    assert 0.01 < float(g2.ek) < 0.05


def test_acceleration_reduces_to_the_beggs_brill_ek_for_an_ideal_gas():
    """Free gas only expanding as an ideal gas (dvm/dp = -vsg/p): Ek = rho_s vm vsg / (gc p) (Beggs & Brill 1973)."""
    vsl, vsg, p = 1.0, 30.0, 150.0
    flow = InSituFlow(vsl=np.array(vsl), vsg=np.array(vsg), rho_l=50.0, rho_g=0.6, mu_l=1.0, mu_g=0.012, sigma_l=25.0,
                      dvm_dp=-vsg / p)
    g = hagedorn_brown_gradient(flow, D, 0.0006, 90.0, p)
    rho_s = 50.0 * float(g.holdup) + 0.6 * (1 - float(g.holdup))
    assert float(g.ek) == pytest.approx(rho_s * (vsl + vsg) * vsg / (GC * p * 144.0), rel=1e-12)


# --- chart fits: Economides et al. (1994) rational fits against Guo et al. (2007) polynomials -----------------

from engines.nodal import Wellbore, bottomhole_pressure  # noqa: E402
from engines.nodal.hagedorn_brown import (cnl_guo, hagedorn_brown_guo_gradient,  # noqa: E402
                                          hagedorn_brown_original_gradient, holdup_over_psi_guo, secondary_psi_guo)


def test_two_published_fit_sets_of_the_hagedorn_brown_charts_agree():
    """Economides et al. (1994, sec. 7.4.3) and Guo et al. (2007, sec. 4.3.2; Guo & Liu 2011 eqs. 9.29-9.35) fit the
    same three charts of Hagedorn & Brown (1965) independently. Over the charts' working ranges they agree to the
    chart-reading spread measured between them (max found): CNL 11.9% for NL 0.002-0.05 and 24% up to NL 0.1 (Guo's
    curve rises earlier), HL/psi 0.016 for phi 1e-5 to 3e-3, psi 0.045 for x 0.012-0.08. The bounds below sit just
    above those spreads; a mistyped coefficient in either set moves a curve far outside them."""
    nl = np.geomspace(0.002, 0.05, 40)
    np.testing.assert_allclose(cnl_guo(nl), cnl(nl), rtol=0.125)
    nl = np.geomspace(0.05, 0.1, 20)
    np.testing.assert_allclose(cnl_guo(nl), cnl(nl), rtol=0.25)
    phi = np.geomspace(1e-5, 3e-3, 60)
    np.testing.assert_allclose(holdup_over_psi_guo(phi), holdup_over_psi(phi), atol=0.02)
    x = np.linspace(0.012, 0.08, 40)
    np.testing.assert_allclose(secondary_psi_guo(x), secondary_psi(x), atol=0.05)
    # Guo's polynomials as printed, at one point each (hand evaluation of the printed coefficients)
    x1 = np.log10(0.05) + 3.0
    assert float(cnl_guo(0.05)) == pytest.approx(10 ** (-2.69851 + 0.15841 * x1 - 0.55100 * x1**2 + 0.54785 * x1**3 - 0.12195 * x1**4), rel=1e-12)
    u = np.log10(2e-4) + 6.0
    assert float(holdup_over_psi_guo(2e-4)) == pytest.approx(-0.10307 + 0.61777 * u - 0.63295 * u**2 + 0.29598 * u**3 - 0.0401 * u**4, rel=1e-12)
    assert float(secondary_psi_guo(0.04)) == pytest.approx(0.91163 - 4.82176 * 0.04 + 1232.25 * 0.04**2 - 22253.6 * 0.04**3 + 116174.3 * 0.04**4, rel=1e-12)


def test_guo_fits_are_held_on_their_monotone_branches():
    """Each Guo polynomial turns over outside the chart (HL/psi peaks at 0.995 near phi 4.7e-3 and is negative below
    phi 1.6e-6; CNL peaks near NL 0.34): the arguments are held there, so HL/psi rises from 0 to its peak and stays,
    CNL never falls above NL 0.01, and psi >= 1."""
    phi = np.geomspace(1e-8, 10.0, 400)
    h = holdup_over_psi_guo(phi)
    assert np.all(np.diff(h) >= -1e-15) and h[0] == 0.0 and 0.99 < h[-1] <= 1.0
    c = cnl_guo(np.geomspace(0.01, 5.0, 200))
    assert np.all(np.diff(c) >= -1e-15)
    assert np.all(secondary_psi_guo(np.linspace(0.0, 0.5, 200)) >= 1.0)


def test_original_variant_drops_the_floor_and_the_bubble_branch():
    """Hagedorn & Brown (1965) as published: where the chart holdup is below lambda_L the modified correlation lifts it
    to lambda_L and the original keeps the chart value; in the bubble region the original stays on the chart."""
    # the bottom of the pyResToolbox oil well (chart HL 0.617 < lambda_L 0.724), and a bubble-flow point
    vsl = np.array([4.62, 4.0])
    flow = InSituFlow(vsl=vsl, vsg=np.array([1.76, 0.5]), rho_l=51.45, rho_g=6.0, mu_l=0.678, mu_g=0.015, sigma_l=19.0)
    mod = hagedorn_brown_gradient(flow, D, 0.0006, 90.0, 1941.8)
    orig = hagedorn_brown_original_gradient(flow, D, 0.0006, 90.0, 1941.8)
    lam = vsl / (vsl + flow.vsg)
    assert mod.pattern[1] == BUBBLE and orig.pattern[1] == SLUG and mod.pattern[0] == SLUG
    assert orig.holdup[0] < lam[0] - 0.05 and mod.holdup[0] == pytest.approx(lam[0], rel=1e-15)
    guo = hagedorn_brown_guo_gradient(flow, D, 0.0006, 90.0, 1941.8)
    assert np.all(guo.pattern == SLUG) and np.all(np.abs(guo.holdup - orig.holdup) < 0.05)
    with pytest.raises(ValueError, match="chart_fits"):
        hagedorn_brown_gradient(flow, 0.2, 0.0006, 90.0, 500.0, chart_fits="pengtools")


@pytest.mark.parametrize("corr", ["hagedorn_brown", "hagedorn_brown_original", "hagedorn_brown_guo"])
def test_hb_variants_compiled_kernel_equals_numpy(corr):
    """The numba kernel restates each variant (option bits HB_ORIGINAL / HB_GUO) and must equal the NumPy reference
    to 1e-9 on pressures, over rates from bubble flow (low rate, high pressure) to high-GLR slug flow."""
    fluid = BlackOilFluid(oil_api=35.0, gas_sg=0.65, water_cut_frac=0.3, gor_scf_stb=800.0, bubble_point_psia=2500.0, rsb_scf_stb=500.0)
    well = Wellbore.vertical(8000.0, tubing_id_in=2.441, wellhead_temperature_f=100.0, bottomhole_temperature_f=180.0)
    q = [20.0, 300.0, 2000.0, 6000.0]
    for whp in (100.0, 1500.0):
        a = bottomhole_pressure(q, fluid, well, whp, correlation=corr, n_segments=60)
        b = bottomhole_pressure(q, fluid, well, whp, correlation=corr, n_segments=60, backend="numpy")
        np.testing.assert_allclose(a, b, rtol=1e-9)


# --- pyResToolbox's published HB oil well: where the 8.9% comes from -------------------------------------------

from engines.nodal import CompositeIpr, darcy_productivity_index, solve_operating_point  # noqa: E402

PRT_FLUID = BlackOilFluid(oil_api=35.0, gas_sg=0.65, water_cut_frac=0.3, gor_scf_stb=800.0, water_sg=1.07,
                          bubble_point_psia=2500.0, bubble_point_temperature_f=180.0, rsb_scf_stb=500.0)
PRT_WELL = Wellbore.vertical(8000.0, tubing_id_in=2.441, roughness_in=0.0006, wellhead_temperature_f=100.0,
                             bottomhole_temperature_f=180.0)
PRT_BHP_PSIA = 1783.6902402593976  # pyrestoolbox/docs/nodal.rst, releases of 2026-06-11 to 2026-08-19 (see below)


def test_pyrestoolbox_hb_oil_well_decomposed():
    """fbhp(thp=200, Completion(tid=2.441, length=8000, tht=100, bht=180), vlpmethod='HB', well_type='oil',
    qt_stbpd=2000, gor=800, wc=0.3, gsg=0.65, pb=2500, rsb=500, sgsp=0.65, api=35) = 1783.69 psia (its docs; numbers
    only, its GPL code was not read). Its documented HB is "Hagedorn-Brown (1965) with Orkiszewski bubble flow
    correction", and its changelist (3.4.0) documents a holdup floor rho_g / (rho_g + rho_L) (~2%, never binding here)
    rather than the modified correlation's HL >= lambda_L. The same published example read 2256.23 psia in 3.0-3.3,
    1771.47 after 3.4.0 and 1770.58 after 3.4.x before 1783.69: the reference itself moved by 0.7% with its PVT
    defaults. Our three HB variants on the published inputs (pinned, 0.05%):

    - hagedorn_brown (modified: floor + Griffith, Economides chart fits): 1941.8 psia, +8.9%;
    - hagedorn_brown_original (no floor; the bubble branch never applies on this well): 1875.7 psia, +5.2%;
      so the floor is 3.7 points;
    - hagedorn_brown_guo (original, Guo et al. 2007 chart fits): 1798.6 psia, +0.8%, within the issue's 2%;
      the chart-fit set is 4.3 points (CNL 5-10% lower at NL 0.004-0.02 lowers phi and HL by ~0.025).

    The kinetic-energy term is 0.3 point of the modified value (1937.0 without it). Black-oil PVT differences
    (Standing Rs/Bo with Sutton pseudo-criticals here, Velarde / Valko-McCain / McCain density / PMC documented
    there) were tried one at a time: Velarde's Rs shape raises ours by 0.4-0.7 point (not the gap's sign)."""
    q = [2000.0, 1969.8]
    mod, orig, guo = (bottomhole_pressure(q, PRT_FLUID, PRT_WELL, 200.0, correlation=c)
                      for c in ("hagedorn_brown", "hagedorn_brown_original", "hagedorn_brown_guo"))
    assert mod[0] == pytest.approx(1941.8, rel=5e-4) and orig[0] == pytest.approx(1875.7, rel=5e-4)
    assert guo[0] == pytest.approx(1798.6, rel=5e-4)
    assert guo[0] == pytest.approx(PRT_BHP_PSIA, rel=0.02) and guo[1] == pytest.approx(1774.3, rel=0.02)
    assert mod[0] / PRT_BHP_PSIA - 1 == pytest.approx(0.0886, abs=0.001)
    assert (mod[0] - orig[0]) / PRT_BHP_PSIA == pytest.approx(0.037, abs=0.001)


def test_pyrestoolbox_oil_well_operating_point_with_the_guo_variant():
    """Its operating point (Reservoir(pr=3000, degf=180, k=50, h=30, re=1000, rw=0.35), OilPVT(api=35, sg_sp=0.65,
    pb=2500, rsb=500), thp 200 psia, HB): 1969.8 STB/d at 1774.3 psia. Same composite IPR as
    test_nodal_operating_point (pseudo-steady J from our Bo, mu_o at Pr); with hagedorn_brown_guo both coordinates
    land within 2% (the modified correlation gives 1825 STB/d, -7.3%)."""
    state = fluid_state(PRT_FLUID, 3000.0, 180.0)
    j = darcy_productivity_index(50.0, 30.0, float(state.bo), float(state.mu_o), 1000.0, 0.35)
    result = solve_operating_point(CompositeIpr(3000.0, 2500.0, j), PRT_FLUID, PRT_WELL, 200.0, correlation="hagedorn_brown_guo")
    assert result.flowing
    assert result.q_bpd == pytest.approx(1969.8, rel=0.02)
    assert result.pwf_psi == pytest.approx(1774.3, rel=0.02)


def test_slug_point_derived_by_hand_on_the_economides_example_inputs():
    """Independent step-by-step derivation of one slug-flow gradient from the printed equations (Economides et al.
    1994, eqs. 7-95 to 7-105; chart values from the fits checked above): the input set of their Example 7-8, 2000
    bbl/d of 0.8 g/cm3, 2 cp oil (Bo = 1) with 1 MMscf/d of 0.709-gravity gas in 2.259-in tubing at 800 psig and
    175 degF, sigma 30 dyne/cm, roughness 0.0006 in (Z from DAK with Sutton pseudo-criticals: the book's printed
    solution values were not available to this audit, so this checks the assembly, not the book's numbers)."""
    from engines.nodal.zfactor import pseudo_critical_sutton, z_factor_dak
    d = 2.259 / 12
    area = np.pi / 4 * d * d
    p, t_r = 814.7, 175.0 + 459.67
    tpc, ppc = pseudo_critical_sutton(0.709)
    z = float(z_factor_dak(t_r / tpc, p / ppc))
    bg = 14.696 / 519.67 * z * t_r / p  # ft3/scf
    vsl = 2000 * 5.614583 / 86400 / area
    vsg = 1e6 * bg / 86400 / area
    rho_l, mu_l, sigma = 0.8 * 62.366, 2.0, 30.0
    rho_g = p * 28.967 * 0.709 / (z * 10.7316 * t_r)
    mu_g = 0.0131
    vm = vsl + vsg
    lam = vsl / vm
    assert 1 - lam > max(1.071 - 0.2218 * vm**2 / d, 0.13)  # slug flow, not Griffith bubble flow
    nlv = 1.938 * vsl * (rho_l / sigma) ** 0.25
    ngv = 1.938 * vsg * (rho_l / sigma) ** 0.25
    nd = 120.872 * d * (rho_l / sigma) ** 0.5
    nl = 0.15726 * mu_l * (1 / (rho_l * sigma**3)) ** 0.25
    phi = nlv / ngv**0.575 * (p / 14.7) ** 0.1 * float(cnl(nl)) / nd
    x = ngv * nl**0.38 / nd**2.14
    hl = max(float(holdup_over_psi(phi)) * float(secondary_psi(x)), lam)
    rho_s = rho_l * hl + rho_g * (1 - hl)
    rho_n = rho_l * lam + rho_g * (1 - lam)
    re = 1488 * rho_n * vm * d / (mu_l**hl * mu_g ** (1 - hl))
    rr = 0.0006 / 12 / d
    f = brentq(lambda f: 1 / np.sqrt(f) + 2 * np.log10(rr / 3.7 + 2.51 / (re * np.sqrt(f))), 1e-4, 1)
    expected = (rho_s + f * rho_n**2 * vm**2 / (2 * GC * d * rho_s)) / 144  # psi/ft, no kinetic-energy term (dvm_dp 0)
    flow = InSituFlow(vsl=np.array(vsl), vsg=np.array(vsg), rho_l=rho_l, rho_g=rho_g, mu_l=mu_l, mu_g=mu_g, sigma_l=sigma)
    g = hagedorn_brown_gradient(flow, d, 0.0006, 90.0, p)
    assert int(g.pattern) == SLUG and float(g.holdup) == pytest.approx(hl, rel=1e-12)
    assert float(g.total) == pytest.approx(expected, rel=1e-9)
    assert 0.15 < expected < 0.40  # a liquid-dominated vertical gradient, psi/ft
