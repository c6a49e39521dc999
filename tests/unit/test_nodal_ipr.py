"""IPR models against published examples and analytic identities."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engines.nodal import (CompositeIpr, DarcyIpr, FetkovichIpr, JonesIpr, VogelIpr, darcy_productivity_index,
                           ipr_from_test)


def test_vogel_1968_example():
    """Vogel (1968), JPT 20(1): Pr 2000 psig, 65 b/d at 1500 psig -> qmax 162.5 b/d, 146 b/d at 500 psig."""
    ipr = VogelIpr.from_test(2000.0, 65.0, 1500.0)
    assert ipr.qmax_bpd == pytest.approx(162.5, rel=1e-12)
    assert ipr.aof_bpd == pytest.approx(162.5, rel=1e-12)
    assert float(ipr.rate_bpd(500.0)) == pytest.approx(146.25, abs=0.5)  # Vogel reports 146 b/d


def test_vogel_saturated_reservoir():
    """Saturated reservoir Pr = Pb = 4200 psi, test 1200 STB/d at 2400 psi -> qmax = 1921.6 STB/d
    (textbook Vogel exercise quoted in issue 5: 1200 / (1 - 0.2 (4/7) - 0.8 (4/7)^2) = 1921.57)."""
    ipr = VogelIpr.from_test(4200.0, 1200.0, 2400.0)
    assert ipr.qmax_bpd == pytest.approx(1921.6, abs=0.1)
    # the composite model with Pb = Pr collapses to Vogel with qmax = J Pb / 1.8
    comp = CompositeIpr.from_test(4200.0, 4200.0, 1200.0, 2400.0)
    assert comp.aof_bpd == pytest.approx(ipr.qmax_bpd, rel=1e-12)


def test_guo_example_3_4_generalized_vogel():
    """Guo, Lyons & Ghalambor (2007) Petroleum Production Engineering, Example 3.4:
    k 8.2 md, h 53 ft, Pr 5651 psia, Pb 3000 psia, Bo 1.1, mu 1.7 cp, re 2980 ft, rw 0.328 ft
    -> J = 0.1968 STB/d/psi, q(Pb) = 522 STB/d, qmax = 850 STB/d."""
    j = darcy_productivity_index(8.2, 53.0, 1.1, 1.7, 2980.0, 0.328)
    assert j == pytest.approx(0.1968, abs=0.0001)
    ipr = CompositeIpr(5651.0, 3000.0, j)
    assert ipr.qb_bpd == pytest.approx(522.0, abs=1.0)
    assert float(ipr.rate_bpd(3000.0)) == pytest.approx(ipr.qb_bpd, rel=1e-12)
    assert ipr.aof_bpd == pytest.approx(850.0, abs=1.5)


def test_composite_is_continuous_in_rate_and_slope_at_pb():
    ipr = CompositeIpr(4000.0, 2500.0, 1.3)
    eps = 1e-4
    above, at, below = ipr.rate_bpd(np.array([2500.0 + eps, 2500.0, 2500.0 - eps]))
    assert above == pytest.approx(at, abs=1e-3) and below == pytest.approx(at, abs=1e-3)
    h = 0.5
    slope_above = (ipr.rate_bpd(2500.0 + 2 * h) - ipr.rate_bpd(2500.0 + h)) / h
    slope_below = (ipr.rate_bpd(2500.0 - h) - ipr.rate_bpd(2500.0 - 2 * h)) / h
    # both one-sided slopes equal -J (Vogel part: d/dpwf [J Pb/1.8 (1 - 0.2x - 0.8x^2)] = -J at x = 1)
    assert slope_above == pytest.approx(-1.3, rel=1e-9)
    assert slope_below == pytest.approx(-1.3, rel=2e-3)


@pytest.mark.parametrize("pwf_test", [3000.0, 1200.0])
def test_composite_from_test_reproduces_the_test_point(pwf_test):
    ipr = CompositeIpr.from_test(4000.0, 2500.0, 900.0, pwf_test)
    assert float(ipr.rate_bpd(pwf_test)) == pytest.approx(900.0, rel=1e-12)
    assert float(ipr.pwf_psi(900.0)) == pytest.approx(pwf_test, rel=1e-10)


def test_fetkovich_fit_recovers_parameters():
    """Synthetic multi-rate test generated from q = C (Pr^2 - Pwf^2)^n (Fetkovich 1973)."""
    pr, c, n = 3000.0, 2.5e-4, 0.82
    pwf = np.array([2700.0, 2300.0, 1800.0, 1200.0])
    q = c * (pr**2 - pwf**2) ** n
    ipr = FetkovichIpr.fit(pr, q, pwf)
    assert ipr.c == pytest.approx(c, rel=1e-8) and ipr.n == pytest.approx(n, rel=1e-10)
    assert ipr.aof_bpd == pytest.approx(c * pr ** (2 * n), rel=1e-8)
    two = FetkovichIpr.fit(pr, q[:2], pwf[:2])
    assert two.n == pytest.approx(n, rel=1e-10)


def test_jones_fit_recovers_parameters_and_aof():
    """Synthetic test from Pr - Pwf = a q + b q^2 (Jones, Blount & Glaze 1976)."""
    pr, a, b = 2500.0, 0.8, 2.0e-4
    q = np.array([300.0, 700.0, 1200.0, 1600.0])
    pwf = pr - a * q - b * q * q
    ipr = JonesIpr.fit(pr, q, pwf)
    assert ipr.a == pytest.approx(a, rel=1e-9) and ipr.b == pytest.approx(b, rel=1e-8)
    assert ipr.aof_bpd == pytest.approx((-a + math.sqrt(a * a + 4 * b * pr)) / (2 * b), rel=1e-9)
    np.testing.assert_allclose(ipr.rate_bpd(pwf), q, rtol=1e-9)


def test_darcy_and_model_dispatch():
    ipr = ipr_from_test("darcy", 3000.0, 600.0, 2400.0)
    assert isinstance(ipr, DarcyIpr) and ipr.pi_bpd_psi == pytest.approx(1.0)
    assert ipr.aof_bpd == pytest.approx(3000.0)
    assert float(ipr.productivity_index(1000.0)) == pytest.approx(1.0)
    assert np.isnan(ipr.pwf_psi(3000.5))


@pytest.mark.parametrize("bad", [
    lambda: FetkovichIpr.fit(3000.0, [500.0], [2500.0]),
    lambda: VogelIpr.from_test(2000.0, 65.0, 2100.0),
    lambda: DarcyIpr(3000.0, -1.0),
    lambda: ipr_from_test("composite", 3000.0, 100.0, 2000.0),
    lambda: ipr_from_test("hyperbolic", 3000.0, 100.0, 2000.0),
])
def test_invalid_inputs_raise(bad):
    with pytest.raises(ValueError):
        bad()


_models = st.sampled_from(["vogel", "darcy", "composite", "fetkovich", "jones"])


def _build(model, pr, frac_pb, j):
    if model == "vogel":
        return VogelIpr(pr, j * pr / 1.8)
    if model == "darcy":
        return DarcyIpr(pr, j)
    if model == "composite":
        return CompositeIpr(pr, frac_pb * pr, j)
    if model == "fetkovich":
        return FetkovichIpr(pr, j / pr, 0.8)
    return JonesIpr(pr, 1.0 / j, 1e-4 / j)


@settings(max_examples=60, deadline=None)
@given(model=_models, pr=st.floats(500, 8000), frac_pb=st.floats(0.0, 1.2), j=st.floats(0.05, 20))
def test_ipr_is_monotonic_and_invertible(model, pr, frac_pb, j):
    ipr = _build(model, pr, frac_pb, j)
    pwf = np.linspace(pr, 0.0, 200)
    q = ipr.rate_bpd(pwf)
    assert q[0] == pytest.approx(0.0, abs=1e-9 * ipr.aof_bpd)
    assert np.all(np.diff(q) > 0)  # rate strictly increases as pwf falls
    np.testing.assert_allclose(ipr.pwf_psi(q), pwf, atol=1e-6 * pr)
