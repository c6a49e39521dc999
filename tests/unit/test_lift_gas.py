"""Gas lift: GLPC from the nodal engine, optima, stability, heading detection and field allocation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import minimize

from engines.lift.gas_allocation import allocate_gas_equal_slope, allocate_gas_lp, concave_hull
from engines.lift.gas_lift import (CRITICAL_PRESSURE_RATIO, Glpc, casing_pressure_at_depth_psia, detect_casing_heading,
                                   glpc_from_nodal, glpc_optimum, valve_stability)
from engines.nodal import BlackOilFluid, CompositeIpr, Wellbore, gas_z_factor, solve_operating_point


def smooth_curve(a, b, c):
    """Concave GLPC q = a ln(1 + b x) - c x (Mscf/d -> bbl/d), with its derivative."""
    return (lambda x: a * np.log1p(b * x) - c * x), (lambda x: a * b / (1 + b * x) - c)


def _glpc(a, b, c, x_max=3000.0, n=3001):
    f, _ = smooth_curve(a, b, c)
    x = np.linspace(0.0, x_max, n)
    return Glpc(x, np.maximum(f(x), 0.0))


PARAMS = [(120.0, 0.01, 0.02), (200.0, 0.004, 0.03), (80.0, 0.02, 0.01), (150.0, 0.006, 0.05), (60.0, 0.05, 0.015)]


@pytest.mark.parametrize("available", [500.0, 1500.0, 4000.0])
def test_equal_slope_matches_scipy_constrained_optimum(available):
    curves = [_glpc(*p) for p in PARAMS]
    alloc = allocate_gas_equal_slope(curves, available)
    funcs = [smooth_curve(*p) for p in PARAMS]

    def neg(x):
        return -sum(f(xi) for (f, _), xi in zip(funcs, x))

    def grad(x):
        return -np.array([d(xi) for (_, d), xi in zip(funcs, x)])

    res = minimize(neg, np.full(len(PARAMS), available / len(PARAMS) * 0.5), jac=grad, method="SLSQP",
                   bounds=[(0.0, 3000.0)] * len(PARAMS),
                   constraints=[{"type": "ineq", "fun": lambda x: available - x.sum(), "jac": lambda x: -np.ones_like(x)}],
                   options={"ftol": 1e-9, "maxiter": 500})
    assert res.success
    assert alloc.total_oil_bpd == pytest.approx(-res.fun, rel=1e-3)
    assert alloc.total_injection_mscfd <= available + 1e-9
    # equal marginal oil per gas: the analytic slopes of the wells that got gas agree with lambda
    slopes = [d(x) for (_, d), x in zip(funcs, alloc.injection_mscfd) if 0 < x < 3000.0]
    assert np.ptp(slopes) < 0.01 * max(abs(np.mean(slopes)), 1e-3)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(20.0, 300.0), st.floats(0.001, 0.05), st.floats(0.0, 0.05)), min_size=2, max_size=8),
       st.floats(0.0, 10000.0), st.floats(0.0, 0.2))
def test_equal_slope_equals_lp_and_respects_availability(params, available, threshold):
    curves = [_glpc(*p, n=41) for p in params]
    a = allocate_gas_equal_slope(curves, available, threshold)
    b = allocate_gas_lp(curves, available, threshold)
    assert a.total_injection_mscfd <= available + 1e-6
    assert a.total_oil_bpd == pytest.approx(b.total_oil_bpd, rel=1e-9, abs=1e-6)


def test_concave_hull_removes_unloading_dip():
    x = np.array([0.0, 100.0, 200.0, 300.0, 400.0])
    y = np.array([0.0, 0.0, 300.0, 400.0, 450.0])  # no production until the well unloads
    hx, hy = concave_hull(x, y)
    np.testing.assert_allclose(hx, [0.0, 200.0, 300.0, 400.0])
    np.testing.assert_allclose(hy, [0.0, 300.0, 400.0, 450.0])


def test_economic_optimum_has_price_ratio_slope():
    a, b, c = 50.0, 0.004, 0.0
    f, d = smooth_curve(a, b, c)
    x = np.linspace(0.0, 3000.0, 301)
    opt = glpc_optimum(Glpc(x, f(x)), oil_price_usd_per_bbl=70.0, gas_cost_usd_per_mscf=2.0)
    # analytic: a b / (1 + b x*) = 2/70  ->  x* = (a b 70 / 2 - 1) / b
    assert opt.economic_injection_mscfd == pytest.approx((a * b * 35.0 - 1.0) / b, rel=0.01)
    assert opt.technical_injection_mscfd == pytest.approx(3000.0)


def test_glpc_from_nodal_starts_at_natural_flow_and_rises():
    ipr = CompositeIpr(2500.0, 1800.0, 1.5)
    fluid = BlackOilFluid(32.0, 0.75, 0.5, 300.0)
    wb = Wellbore.vertical(8000.0)
    curve = glpc_from_nodal(ipr, fluid, wb, 165.0, 7000.0, [0.0, 300.0, 800.0], n_segments=30, n_rates=30)
    natural = solve_operating_point(ipr, fluid, wb, 165.0, n_segments=30)
    assert curve.liquid_bpd[0] == pytest.approx(natural.q_bpd if natural.flowing else 0.0, rel=0.03, abs=5.0)
    assert curve.oil_bpd[1] > curve.oil_bpd[0] and curve.oil_bpd[2] > curve.oil_bpd[1]
    np.testing.assert_allclose(curve.oil_bpd, curve.liquid_bpd * 0.5)


def test_casing_gas_column_against_direct_integration():
    ps, depth, sg, t_s, t_d = 1200.0, 7000.0, 0.65, 80.0, 170.0
    # RK4 on dp/dh = 0.01875 sg p / (z T) with local z and the same linear temperature
    n = 300
    h = depth / n
    p = ps
    for i in range(n):
        def rhs(hh, pp):
            t_r = t_s + (t_d - t_s) * hh / depth + 459.67
            return 0.01875 * sg * pp / (float(gas_z_factor(pp, t_r - 459.67, sg)) * t_r)
        z0 = i * h
        k1 = rhs(z0, p); k2 = rhs(z0 + h / 2, p + h / 2 * k1); k3 = rhs(z0 + h / 2, p + h / 2 * k2); k4 = rhs(z0 + h, p + h * k3)
        p += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    assert casing_pressure_at_depth_psia(ps, depth, sg, t_s, t_d) == pytest.approx(p, rel=0.005)


def test_valve_critical_ratio_and_stability():
    assert CRITICAL_PRESSURE_RATIO == pytest.approx((2 / 2.27) ** (1.27 / 0.27), rel=1e-12)
    assert CRITICAL_PRESSURE_RATIO == pytest.approx(0.551, abs=1e-3)  # "about 0.55" for natural gas
    assert valve_stability(1500.0, 700.0).stable
    assert not valve_stability(1500.0, 1200.0).stable
    assert not valve_stability(1000.0, 1100.0).stable


def test_heading_detection_finds_period_and_rejects_noise():
    rng = np.random.default_rng(7)
    t = np.arange(0.0, 24 * 60.0, 2.0)  # one day every 2 minutes
    period = 47.0
    casing = 1100.0 + 40.0 * np.sin(2 * np.pi * t / period) + rng.normal(0, 5, t.size) + 0.01 * t
    tubing = 300.0 + 60.0 * np.sin(2 * np.pi * t / period + 1.0) + rng.normal(0, 5, t.size)
    det = detect_casing_heading(t, casing, tubing)
    assert det.heading
    assert det.period_min == pytest.approx(period, rel=0.03)
    assert det.casing_amplitude_psi == pytest.approx(40.0, rel=0.1)
    quiet = detect_casing_heading(t, 1100.0 + rng.normal(0, 5, t.size), 300.0 + rng.normal(0, 5, t.size))
    assert not quiet.heading


def test_allocation_validation():
    with pytest.raises(ValueError, match="minimum injections"):
        allocate_gas_equal_slope([Glpc(np.array([100.0, 200.0]), np.array([10.0, 20.0]))], 50.0)
    with pytest.raises(ValueError, match="increasing"):
        Glpc(np.array([0.0, 0.0]), np.array([1.0, 2.0]))


@settings(max_examples=50, deadline=None)
@given(a=st.floats(20.0, 300.0), b=st.floats(0.001, 0.05), c=st.floats(0.0, 0.1), lo=st.floats(0.0, 800.0),
       width=st.floats(50.0, 2000.0), price=st.floats(20.0, 120.0), cost=st.floats(0.0, 10.0))
def test_gas_lift_recommendation_respects_injection_bounds(a, b, c, lo, width, price, cost):
    f, _ = smooth_curve(a, b, c)
    x = np.linspace(0.0, 3000.0, 61)
    opt = glpc_optimum(Glpc(x, np.maximum(f(x), 0.0)), price, cost, lo, min(lo + width, 3000.0))
    for q in (opt.economic_injection_mscfd, opt.technical_injection_mscfd):
        assert lo - 1e-9 <= q <= min(lo + width, 3000.0) + 1e-9
    assert opt.economic_injection_mscfd <= opt.technical_injection_mscfd + 1e-6  # gas cost never adds gas
