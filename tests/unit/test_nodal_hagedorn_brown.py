"""Modified Hagedorn & Brown (Brill & Mukherjee 1999, sec. 4.2.1) pieces against analytic relations."""
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
