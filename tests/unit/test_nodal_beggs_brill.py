"""Beggs & Brill (1973) with the revised flow map (Brill & Beggs 1991) and Payne et al. (1979) correction."""
import numpy as np
import pytest
from scipy.optimize import brentq

from engines.nodal import InSituFlow, beggs_brill_gradient
from engines.nodal.beggs_brill import (DISTRIBUTED, INTERMITTENT, SEGREGATED, TRANSITION, flow_pattern, flow_pattern_boundaries,
                                       friction_ratio_s, liquid_holdup, liquid_velocity_number)

GC = 32.174


def _colebrook(re, rr):
    return brentq(lambda f: 1 / np.sqrt(f) + 2 * np.log10(rr / 3.7 + 2.51 / (re * np.sqrt(f))), 1e-4, 1.0, xtol=1e-15)


@pytest.mark.parametrize("angle", [90.0, 30.0, 0.0, -45.0, -90.0])
def test_single_phase_liquid_is_darcy_weisbach(angle):
    """No gas: HL = 1, S = 0, and the gradient is rho g sin(theta) + f rho v^2 / (2 gc D), exactly."""
    rho, mu, v, d, rough_in = 55.0, 1.8, 6.0, 2.441 / 12, 0.0006
    flow = InSituFlow(vsl=np.array(v), vsg=np.array(0.0), rho_l=rho, rho_g=5.0, mu_l=mu, mu_g=0.02, sigma_l=25.0)
    g = beggs_brill_gradient(flow, d, rough_in, angle, 1500.0)
    f = _colebrook(1488 * rho * v * d / mu, rough_in / 12 / d)
    expected = rho * np.sin(np.radians(angle)) / 144 + f * rho * v * v / (2 * GC * d) / 144
    assert float(g.holdup) == 1.0
    assert float(g.total) == pytest.approx(expected, rel=1e-9)
    assert float(g.acceleration) == pytest.approx(0.0, abs=1e-14)


def test_boundaries_meet_at_lambda_001():
    """L2 and L3 of the revised map intersect at lambda_L = 0.01 (NFr = 80)."""
    l1, l2, l3, l4 = flow_pattern_boundaries(0.01)
    assert l2 == pytest.approx(l3, rel=2e-3) and l2 == pytest.approx(80.0, rel=3e-3)
    assert l1 == pytest.approx(316 * 0.01**0.302, rel=1e-12)
    assert l4 == pytest.approx(0.5 * 0.01**-6.738, rel=1e-12)


def _both_sides(lam, boundary, below, above):
    eps = 1e-6
    assert int(flow_pattern(lam, boundary * (1 - eps))) == below
    assert int(flow_pattern(lam, boundary * (1 + eps))) == above


def test_every_flow_pattern_boundary_on_both_sides():
    """Revised map (Brill & Beggs 1991): each boundary L1..L4 separates the stated patterns."""
    l1, _, _, _ = flow_pattern_boundaries(0.005)
    _both_sides(0.005, l1, SEGREGATED, DISTRIBUTED)  # lambda < 0.01: L1 only
    l1, l2, l3, _ = flow_pattern_boundaries(0.1)
    _both_sides(0.1, l2, SEGREGATED, TRANSITION)
    _both_sides(0.1, l3, TRANSITION, INTERMITTENT)
    _both_sides(0.1, l1, INTERMITTENT, DISTRIBUTED)
    _, l2, l3, l4 = flow_pattern_boundaries(0.6)
    _both_sides(0.6, l2, SEGREGATED, TRANSITION)
    _both_sides(0.6, l3, TRANSITION, INTERMITTENT)
    _both_sides(0.6, l4, INTERMITTENT, DISTRIBUTED)  # lambda >= 0.4: L4 replaces L1
    # lambda boundary at 0.4: same NFr, intermittent below uses L1, above uses L4
    nfr = 0.5 * (flow_pattern_boundaries(0.4)[0] + 1e4)
    assert int(flow_pattern(0.399, nfr)) == DISTRIBUTED and int(flow_pattern(0.401, 50.0)) == INTERMITTENT
    # lambda boundary at 0.01 at NFr = 79: below, NFr > L1(0.0099) = 78.6 -> distributed; above, L2 < 79 < L3 -> transition
    assert int(flow_pattern(0.0099, 79.0)) == DISTRIBUTED and int(flow_pattern(0.0101, 78.5)) == TRANSITION


def test_liquid_velocity_number_uses_dyne_per_cm():
    """Brill & Mukherjee (1999) worked-example data (vsl 3.97 ft/s, rho_L 47.61 lbm/ft3, sigma 8.41 dyne/cm): NLv = 11.87."""
    assert liquid_velocity_number(3.97, 47.61, 8.41) == pytest.approx(11.87, abs=0.01)
    in_lbf_per_ft = liquid_velocity_number(3.97, 47.61, 8.41 * 6.852e-5)
    assert in_lbf_per_ft / 11.87 == pytest.approx(11.0, rel=0.01)  # the pitfall the test guards against


def test_horizontal_holdup_and_inclination_hand_calculation():
    """Beggs & Brill (1973): HL(0) = a lambda^b / NFr^c; psi = 1 + C (sin 1.8t - sin^3 1.8t / 3)."""
    lam, nfr, nlv = 0.05, 1.2, 0.3
    assert int(flow_pattern(lam, nfr)) == SEGREGATED
    hl0 = 0.98 * lam**0.4846 / nfr**0.0868
    hl, pattern = liquid_holdup(lam, nfr, nlv, 0.0, payne=False)
    assert float(hl) == pytest.approx(hl0, rel=1e-12) and int(pattern) == SEGREGATED
    c = (1 - lam) * np.log(0.011 * lam**-3.768 * nlv**3.539 * nfr**-1.614)
    s = np.sin(np.radians(1.8 * 30.0))
    hl30, _ = liquid_holdup(lam, nfr, nlv, 30.0, payne=False)
    assert float(hl30) == pytest.approx(hl0 * (1 + c * (s - s**3 / 3)), rel=1e-12)
    c_down = (1 - lam) * np.log(4.70 * lam**-0.3692 * nlv**0.1244 * nfr**-0.5056)
    s_down = np.sin(np.radians(1.8 * -10.0))
    hl_down, _ = liquid_holdup(lam, nfr, nlv, -10.0, payne=False)
    assert float(hl_down) == pytest.approx(hl0 * (1 + max(c_down, 0) * (s_down - s_down**3 / 3)), rel=1e-12)


def test_transition_interpolates_between_segregated_and_intermittent():
    lam, nlv = 0.1, 3.0
    _, l2, l3, _ = flow_pattern_boundaries(lam)
    nfr = l2 + 0.25 * (l3 - l2)
    a = (l3 - nfr) / (l3 - l2)
    hl_seg = 0.98 * lam**0.4846 / nfr**0.0868
    hl_int = 0.845 * lam**0.5351 / nfr**0.0173
    hl, pattern = liquid_holdup(lam, nfr, nlv, 0.0, payne=False)
    assert int(pattern) == TRANSITION and a == pytest.approx(0.75)
    assert float(hl) == pytest.approx(a * hl_seg + (1 - a) * hl_int, rel=1e-12)


@pytest.mark.parametrize("lam,nfr", [(0.05, 1.2), (0.05, 20.0), (0.1, 2000.0), (0.05, 4.0)])
def test_payne_factor_applies_to_every_uphill_pattern(lam, nfr):
    """Payne et al. (1979): HL x 0.924 uphill for segregated, intermittent, distributed and transition alike."""
    base, pattern = liquid_holdup(lam, nfr, 0.3, 60.0, payne=False)
    corrected, _ = liquid_holdup(lam, nfr, 0.3, 60.0, payne=True)
    assert float(corrected) == pytest.approx(max(0.924 * float(base), lam), rel=1e-12)
    assert 0.924 * float(base) > lam  # the factor itself, not the lambda floor, is being tested
    down, _ = liquid_holdup(lam, nfr, 0.3, -10.0, payne=False)
    down_c, _ = liquid_holdup(lam, nfr, 0.3, -10.0, payne=True)
    assert float(down) > 0
    assert float(down_c) == pytest.approx(0.685 * float(down), rel=1e-12)


def test_patterns_covered_by_payne_cases():
    cases = [(0.05, 1.2), (0.05, 20.0), (0.1, 2000.0), (0.05, 4.0)]
    assert {int(flow_pattern(lam, nfr)) for lam, nfr in cases} == {SEGREGATED, INTERMITTENT, DISTRIBUTED, TRANSITION}


def test_friction_ratio_s():
    assert float(friction_ratio_s(0.5, np.sqrt(0.5))) == pytest.approx(0.0, abs=1e-12)  # y = 1
    y = 1.1
    assert float(friction_ratio_s(y * 0.25, 0.5)) == pytest.approx(np.log(2.2 * y - 1.2), rel=1e-12)
    y = 2.0
    ln = np.log(y)
    assert float(friction_ratio_s(y * 0.25, 0.5)) == pytest.approx(ln / (-0.0523 + 3.182 * ln - 0.8725 * ln**2 + 0.01853 * ln**4), rel=1e-12)


def _two_phase(vsl=2.0, vsg=6.0):
    return InSituFlow(vsl=np.array(vsl), vsg=np.array(vsg), rho_l=50.0, rho_g=4.0, mu_l=1.5, mu_g=0.015, sigma_l=20.0)


def test_horizontal_uphill_downhill_two_phase_cases():
    flow, d = _two_phase(), 2.441 / 12
    horiz = beggs_brill_gradient(flow, d, 0.0006, 0.0, 800.0)
    up = beggs_brill_gradient(flow, d, 0.0006, 45.0, 800.0)
    down = beggs_brill_gradient(flow, d, 0.0006, -45.0, 800.0)
    assert float(horiz.elevation) == 0.0 and float(horiz.total) > 0
    # elevation term = rho_s sin(theta) / 144 with the slip density from the reported holdup
    for g, ang in ((up, 45.0), (down, -45.0)):
        rho_s = 50.0 * float(g.holdup) + 4.0 * (1 - float(g.holdup))
        assert float(g.elevation) == pytest.approx(rho_s * np.sin(np.radians(ang)) / 144, rel=1e-12)
    assert float(up.total) > float(horiz.total) > float(down.total)
    assert float(down.elevation) < 0
    # kinetic-energy term: Ek = rho_s vm vsg / (gc p)
    rho_s = 50.0 * float(horiz.holdup) + 4.0 * (1 - float(horiz.holdup))
    assert float(horiz.ek) == pytest.approx(rho_s * 8.0 * 6.0 / (GC * 800.0 * 144), rel=1e-12)


def test_gradient_is_vectorized_over_rates():
    vsl = np.linspace(0.5, 8.0, 7)
    flow = InSituFlow(vsl=vsl, vsg=2 * vsl, rho_l=50.0, rho_g=4.0, mu_l=1.5, mu_g=0.015, sigma_l=20.0)
    g = beggs_brill_gradient(flow, 0.2, 0.0006, 90.0, 1000.0)
    single = [float(beggs_brill_gradient(_two_phase(v, 2 * v), 0.2, 0.0006, 90.0, 1000.0).total) for v in vsl]
    np.testing.assert_allclose(g.total, single, rtol=1e-12)
