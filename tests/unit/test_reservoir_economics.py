"""Economics of the placement planner: NPV (reference case definition), capital rule, discounting,
IRR, PVI and utility index, checked against hand computations and independent root finding."""
from __future__ import annotations

import numpy as np
import pytest

from engines.reservoir.economics import (EconomicParameters, capital_cost_usd, discount_factors, irr,
                                         npv_breakdown, plan_irr, recoverable_cash_bound_usd)

THESIS = EconomicParameters()  # 69 $/bbl, 30 $/bbl opex, 12 % royalty, 24 % tax, 12 %/yr, 100 M$ + 10 M$/well


def test_two_step_toy_npv_by_hand():
    # 1 well, 10,000 STB in step 1 (t = 30 d) and 5,000 STB in step 2 (t = 60 d)
    v = np.array([[10_000.0, 5_000.0]])
    t = np.array([30.0, 60.0])
    out = npv_breakdown(v, t, [1], THESIS)
    # by hand: revenue 690,000; royalty 82,800; opex 300,000; taxable 307,200; tax 73,728; cash 233,472
    cash1 = 690_000 - 82_800 - 300_000 - 0.24 * (690_000 - 82_800 - 300_000)
    cash2 = cash1 / 2
    assert cash1 == pytest.approx(233_472.0)
    expected = cash1 / 1.12 ** (30 / 365) + cash2 / 1.12 ** (60 / 365) - 110e6
    assert out.npv_usd[0] == pytest.approx(expected, rel=1e-12)
    assert out.capital_usd[0] == 110e6
    assert out.tax_usd[0] == pytest.approx(0.24 * 1.5 * 307_200)
    assert out.utility_index[0] == pytest.approx(expected / 110e6, rel=1e-12)


def test_capital_first_five_wells_rule():
    # 100 M$ covers the first 5 wells; each extra well adds 100/5 = 20 M$; plus 10 M$ per well
    np.testing.assert_allclose(capital_cost_usd([0, 1, 5, 6, 8], THESIS), [0, 110e6, 150e6, 180e6, 240e6])
    sur = EconomicParameters(capital_surcharge_frac=0.12)
    assert capital_cost_usd(6, sur) == pytest.approx(180e6 * 1.12)


def test_tax_is_floored_at_zero():
    p = EconomicParameters(oil_price_usd_bbl=30.0, opex_usd_bbl=40.0)
    out = npv_breakdown(np.array([[1000.0]]), np.array([365.0]), [1], p)
    assert out.tax_usd[0] == 0.0
    # cash = 30,000 - 3,600 - 40,000 = -13,600 booked at one year
    assert out.npv_usd[0] == pytest.approx(-13_600 / 1.12 - 110e6, rel=1e-12)


def test_yearly_discounting_books_steps_at_year_end():
    t = 30.0 * np.arange(1, 25)
    d = discount_factors(t, EconomicParameters(discounting="yearly"))
    np.testing.assert_allclose(d[:12], 1 / 1.12)
    np.testing.assert_allclose(d[12:], 1 / 1.12**2)
    dm = discount_factors(t, THESIS)
    assert dm[11] == pytest.approx(1.12 ** (-360 / 365))


def test_zero_wells_is_no_project():
    out = npv_breakdown(np.array([[1e6, 1e6]]), np.array([30.0, 60.0]), [0], THESIS)
    assert out.npv_usd[0] == 0.0 and out.capital_usd[0] == 0.0


def test_irr_of_known_cash_flows():
    assert irr([-100.0, 110.0], [0.0, 1.0]) == pytest.approx(0.10, abs=1e-12)
    # annual flows: IRR is the root of the polynomial sum c_k x^k with x = 1/(1+r) (independent: numpy.roots)
    c = np.array([-1000.0, 500.0, 400.0, 300.0, 100.0])
    roots = np.roots(c[::-1])
    x = [r.real for r in roots if abs(r.imag) < 1e-12 and r.real > 0]
    expected = 1 / x[0] - 1
    assert irr(c, np.arange(5.0)) == pytest.approx(expected, abs=1e-10)
    assert expected == pytest.approx(0.1449, abs=1e-4)
    with pytest.raises(ValueError):
        irr([100.0, 10.0], [0.0, 1.0])


def test_plan_irr_zeroes_npv_at_that_rate():
    cash = np.full(24, 8e6)
    t = 30.0 * np.arange(1, 25)
    r = plan_irr(cash, t, 110e6)
    assert np.sum(cash * (1 + r) ** (-t / 365)) == pytest.approx(110e6, rel=1e-9)


def test_recoverable_cash_bound_takes_volume_early():
    t = np.array([30.0, 60.0, 90.0])
    # cap 100 STB per step, 250 STB in total: 100, 100, 50
    b = recoverable_cash_bound_usd(250.0, 100.0, t, THESIS)
    margin = THESIS.net_margin_usd_bbl
    assert margin == pytest.approx((69 * 0.88 - 30) * 0.76)
    d = 1.12 ** (-t / 365)
    assert b == pytest.approx(margin * (100 * d[0] + 100 * d[1] + 50 * d[2]), rel=1e-12)


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError, match="royalty_frac"):
        EconomicParameters(royalty_frac=1.5)
    with pytest.raises(ValueError, match="discounting"):
        EconomicParameters(discounting="weekly")
    with pytest.raises(ValueError):
        npv_breakdown(np.array([[-1.0]]), np.array([30.0]), [1], THESIS)
