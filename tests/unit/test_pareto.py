"""Three-objective Pareto optimization of a well's setpoint (issue 21: 1, 2): problem wiring and front analysis.

Wiring (pymoo NSGA-II / NSGA-III on the lift problems): the front is non-dominated (checked here pairwise, not by
pymoo), every point is feasible and inside its variable's limits (integer ones on their levels), and each objective
equals the lift engine's value at that setpoint (``scan_frequencies``, ``scan_spm``, ``scan_rpm``, ``Glpc.oil_at``).
Life models and front picks are checked against independent derivations: the 10-degree insulation rule at the
thermal class, the Mills loads and the modified Goodman loading by hand, the rigid-rod damping power, isothermal
compression, the knee of a convex spherical front (farthest from the plane of its extremes: the centre),
hypervolume by inclusion-exclusion.
"""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from engines.lift.esp import scan_frequencies
from engines.lift.pcp import scan_rpm
from engines.lift.rod_string import RodString, RodTaper
from engines.lift.srp import SrpSystem, scan_spm
from engines.optimize import pareto as P
from tb_bridge.cli.lift import _read_well
from tb_bridge.handlers.pareto_steps import pareto_problem

EXAMPLES = {lt: f"examples/well_{lt}.json" for lt in ("esp", "srp", "pcp", "gas_lift")}


@pytest.fixture(scope="module")
def problems():
    out = {}
    for lt, path in EXAMPLES.items():
        well, _ = _read_well(path)
        out[lt] = (well, pareto_problem(well, {}))
    return out


def _dominates(a, b):
    return np.all(a <= b) and np.any(a < b)


def _check_front(result, problem):
    fr = result.front
    f = fr.f_min
    assert result.size >= 5
    for i in range(f.shape[0]):  # non-dominated, independently of pymoo
        for j in range(f.shape[0]):
            assert not _dominates(f[j], f[i])
    assert np.all(fr.g[:, fr.active] <= 0.0)  # feasible
    for j, v in enumerate(problem.variables):  # within limits, integer ones on their levels
        x = fr.setpoints[:, j]
        assert np.all((x >= v.lower - 1e-9) & (x <= v.upper + 1e-9))
        if v.integer:
            assert set(np.round(x, 9)) <= set(np.round(v.grid(2), 9))
    again = problem.evaluate(fr.setpoints)  # reproducible
    np.testing.assert_array_equal(again.oil_bpd, fr.oil_bpd)


@pytest.mark.parametrize("algorithm", ["nsga2", "nsga3"])
def test_esp_front_is_feasible_nondominated_and_equals_the_engine(problems, algorithm):
    well, prob = problems["esp"]
    res = P.solve_nsga(prob, algorithm, n_gen=100 if algorithm == "nsga3" else 200, seed=3)
    _check_front(res, prob)
    f = res.front.setpoints[:, 0]
    scan = scan_frequencies(prob.system, f)
    np.testing.assert_allclose(res.front.oil_bpd, scan.q_bpd * (1 - well.water_cut_frac), rtol=1e-12)
    np.testing.assert_allclose(res.front.specific_energy, scan.kwh_per_bbl, rtol=1e-12)
    # life: series system of the insulation (10-degree rule) and thrust lives, by hand at one point
    k = res.knee
    life = prob.life
    t_w = life.fluid_temperature_f + 80.0 * scan.motor_load_frac[k] ** 2 * (1.0 / scan.cooling_velocity_ft_s[k]) ** 0.8
    l_ins = 20_000 / 24 * 2 ** ((155.0 - (t_w - 32) / 1.8) / 10)
    lo, hi = prob.system.pump.operating_range_at(f[k])
    bep = prob.system.pump.bep_at(f[k])
    q = scan.q_bpd[k]
    x = abs(q - bep) / ((bep - lo) if q < bep else (hi - bep))
    l_thr = 1826.0 / (1 + 3 * x**2)
    assert res.front.equipment_life[k] == pytest.approx(min(1 / (1 / l_ins + 1 / l_thr), 3652.5), rel=1e-9)
    assert res.relaxed == ("motor_cooling",)  # as optimize_frequency relaxes it for this well


def test_srp_mixed_variables_stroke_levels_and_engine_values(problems):
    well, base = problems["srp"]
    prob = P.SrpPareto(base.system, well.water_cut_frac, (64.0, 86.0, 100.0), spm_step=0.5)
    assert [v.integer for v in prob.variables] == [True, True]
    res = P.solve_nsga(prob, "nsga2", seed=2)
    _check_front(res, prob)
    spm, stroke = res.front.setpoints.T
    assert np.allclose((spm - base.system.spm_min) / 0.5, np.round((spm - base.system.spm_min) / 0.5))
    for s_in in np.unique(stroke):
        sel = stroke == s_in
        from dataclasses import replace

        scan = scan_spm(replace(base.system, stroke_in=float(s_in)), spm[sel])
        np.testing.assert_allclose(res.front.oil_bpd[sel], scan.q_bpd * (1 - well.water_cut_frac), rtol=1e-12)
    # NSGA-II against the exact enumeration of the same (discrete) decision grid: same front
    grid = P.solve_grid(prob)
    ideal, nadir = grid.front.f_min.min(axis=0), grid.front.f_min.max(axis=0)
    hv_ga = P.hypervolume(P.normalize(res.front.f_min, ideal, nadir))
    assert hv_ga == pytest.approx(grid.hypervolume, rel=0.01)


def test_pcp_front_equals_scan_rpm(problems):
    well, prob = problems["pcp"]
    res = P.solve_nsga(prob, seed=5)
    _check_front(res, prob)
    rpm = res.front.setpoints[:, 0]
    scan = scan_rpm(prob.system, rpm)
    np.testing.assert_allclose(res.front.oil_bpd, scan.q_bpd * (1 - well.water_cut_frac), rtol=1e-12)
    np.testing.assert_allclose(res.front.equipment_life, scan.run_life_days, rtol=1e-12)
    np.testing.assert_allclose(res.front.specific_energy, scan.hp * 0.745_699_872 / prob.system.drive_efficiency * 24 / scan.q_bpd,
                               rtol=1e-12)
    assert np.all(scan.torque_ftlbf <= prob.system.rod_torque_limit_ftlbf)


def test_gas_lift_front_equals_the_glpc_and_the_stability_margin(problems):
    well, prob = problems["gas_lift"]
    res = P.solve_nsga(prob, seed=1)
    _check_front(res, prob)
    qi = res.front.setpoints[:, 0]
    np.testing.assert_allclose(res.front.oil_bpd, prob.curve.oil_at(qi), rtol=1e-12)
    ratio = prob.tubing_psia(qi) / prob.casing_at_valve_psia
    np.testing.assert_allclose(res.front.equipment_life, (2 / 2.27) ** (1.27 / 0.27) - ratio, rtol=1e-12)
    # isothermal compression by hand: q[scf/s] * 14.696 * 144 * ln(p_inj / p_sep) / 0.7 ft lbf/s -> kW
    kw = qi * 1000 / 86400 * 14.696 * 144 * np.log(prob.injection_pressure_psia / prob.separator_psia) / 0.7 * 1.355817948e-3
    np.testing.assert_allclose(res.front.specific_energy, kw * 24 / res.front.oil_bpd, rtol=1e-9)


def test_nsga2_matches_the_grid_front_on_a_continuous_variable(problems):
    _, prob = problems["pcp"]
    grid = P.solve_grid(prob, n_points=2001)
    ga = P.solve_nsga(prob, seed=7)
    ideal, nadir = grid.front.f_min.min(axis=0), grid.front.f_min.max(axis=0)
    g, a = P.normalize(grid.front.f_min, ideal, nadir), P.normalize(ga.front.f_min, ideal, nadir)
    # converged: no point of the dense exact front beats a GA point by more than 0.5 % of the range in every objective
    eps = np.min(np.max(a[:, None, :] - g[None, :, :], axis=2), axis=1)  # additive epsilon of each GA point
    assert np.all(eps <= 0.005)
    # and spread: 100 points keep 98 % of the hypervolume of 2001 grid points (the rest is discretization)
    assert P.hypervolume(a) >= 0.98 * grid.hypervolume


def test_same_seed_same_front_and_stop_between_generations(problems):
    _, prob = problems["pcp"]
    a = P.solve_nsga(prob, n_gen=30, seed=11)
    b = P.solve_nsga(prob, n_gen=30, seed=11)
    np.testing.assert_array_equal(a.front.setpoints, b.front.setpoints)
    stop, seen = threading.Event(), []

    def progress(gen, total):
        seen.append((gen, total))
        if gen == 5:  # after the 5th generation: the 6th never starts
            stop.set()

    c = P.solve_nsga(prob, n_gen=200, seed=11, progress_callback=progress, stop_event=stop)
    assert c.stopped and c.generations == 5 and seen[-1] == (5, 200)


def test_sizes_have_upper_bounds(problems):
    _, prob = problems["pcp"]
    with pytest.raises(P.ParetoError):
        P.solve_nsga(prob, pop_size=P.MAX_POPULATION + 1, n_gen=1)
    with pytest.raises(P.ParetoError):
        P.solve_nsga(prob, n_gen=P.MAX_GENERATIONS + 1)
    with pytest.raises(P.ParetoError):
        P.solve_grid(prob, n_points=P.MAX_GRID_POINTS + 1)
    with pytest.raises(P.ParetoError):
        P.make_algorithm("moead")


def test_mills_loads_and_goodman_by_hand():
    rods = RodString((RodTaper(0.875, 3000.0, "D"), RodTaper(0.75, 2000.0, "D")))
    sys = SrpSystem(rods, 1.75, 100.0, 1500.0, np.array([0.0, 2000.0]), np.array([500.0, 0.0]), fluid_sg=1.0)
    n, s_in, fo = 8.0, 100.0, 3000.0
    peak, low = P.mills_rod_loads_lbf(sys, np.array([s_in]), np.array([n]), np.array([fo]))
    w_air = [490 * math.pi * d**2 / 4 / 144 * length for d, length in ((0.875, 3000), (0.75, 2000))]
    buoy = [w * (1 - 62.4 / 490) for w in w_air]
    delta = s_in * n**2 / 70_471.2
    assert peak[0, 0] == pytest.approx(sum(buoy) + fo + sum(w_air) * delta, rel=1e-12)
    assert low[1, 0] == pytest.approx(buoy[1] - w_air[1] * delta, rel=1e-12)
    loading = P.goodman_loading_pct_array(sys, peak, low)[0]
    by_hand = []
    for i, d in enumerate((0.875, 0.75)):
        a = math.pi * d**2 / 4
        smax, smin = peak[i, 0] / a, low[i, 0] / a
        sa = 115_000 / 4 + 0.5625 * smin
        by_hand.append(100 * (smax - smin) / (sa - smin))
    assert loading == pytest.approx(max(by_hand), rel=1e-12)
    # rigid-rod Gibbs damping power: c (W/g) (S/2)^2 w^2 / 2
    c = rods.damping_coefficient_1_s(sys.damping_factor)
    expect = c * sum(w_air) / 32.174 * (s_in / 24) ** 2 * (2 * math.pi * n / 60) ** 2 / 2 / 550
    assert P.damping_power_hp(sys, np.array([s_in]), np.array([n]))[0] == pytest.approx(expect, rel=1e-12)
    # rod fatigue: 1e7 cycles at 100 % Goodman loading, Basquin exponent 1/0.085
    life = P.SrpLifeModel()
    assert life.rod_life_days(np.array([100.0]), np.array([8.0]))[0] == pytest.approx(1e7 / (8 * 1440))
    assert life.rod_life_days(np.array([50.0]), np.array([8.0]))[0] == pytest.approx(1e7 * 2 ** (1 / 0.085) / (8 * 1440))
    assert life.pump_life_days(np.array([100.0]), np.array([8.0]))[0] == pytest.approx(730.5)


def test_insulation_life_ten_degree_rule():
    m = P.EspLifeModel(fluid_temperature_f=200.0)
    t_class_f = 155.0 * 1.8 + 32
    assert m.insulation_life_days(t_class_f) == pytest.approx(20_000 / 24)
    assert m.insulation_life_days(t_class_f - 18.0) == pytest.approx(2 * 20_000 / 24)
    assert m.winding_temperature_f(1.0, 1.0) == pytest.approx(280.0)
    assert m.winding_temperature_f(0.5, 2.0) == pytest.approx(200 + 80 * 0.25 * 0.5**0.8)


def test_knee_of_a_convex_spherical_front_is_its_centre():
    # 1 - (octant of the unit sphere): a convex front bulging toward the ideal point, extremes (0,1,1), (1,0,1),
    # (1,1,0); the point farthest from their plane (sum = 2) is the centre, 1 - 1/sqrt(3) in each objective
    t = np.linspace(0, math.pi / 2, 31)
    a, b = np.meshgrid(t, t)
    f = 1.0 - np.column_stack([(np.cos(a) * np.cos(b)).ravel(), (np.cos(a) * np.sin(b)).ravel(), np.sin(a).ravel()])
    k = P.knee_index(f)
    np.testing.assert_allclose(f[k], np.full(3, 1 - 1 / math.sqrt(3)), atol=0.04)
    # the sphere itself is concave toward the ideal point: no knee, the smallest normalized sum (an extreme) is taken
    assert P.knee_index(1.0 - f) in np.flatnonzero(np.isclose((1.0 - f).sum(axis=1), (1.0 - f).sum(axis=1).min()))
    # two-objective convex curve f2 = (1 - sqrt(f1))^2: farthest from the chord at f1 = 1/4
    x = np.linspace(0, 1, 401)
    curve = np.column_stack([x, (1 - np.sqrt(x)) ** 2, np.zeros_like(x)])
    assert curve[P.knee_index(curve), 0] == pytest.approx(0.25, abs=0.003)


def test_preference_weights_pick_the_extremes_and_hypervolume_by_inclusion_exclusion():
    f = np.array([[-100.0, 2.0, -300.0], [-80.0, 1.0, -500.0], [-60.0, 0.5, -900.0]])  # (-oil, energy, -life)
    assert P.preference_index(f, (1, 0, 0)) == 0
    assert P.preference_index(f, (0, 1, 0)) == 2
    with pytest.raises(P.ParetoError):
        P.preference_index(f, (0, 0, 0))
    pts = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])
    box = lambda p: np.prod(1.1 - p)  # noqa: E731
    both = np.prod(1.1 - np.maximum(pts[0], pts[1]))
    assert P.hypervolume(pts) == pytest.approx(box(pts[0]) + box(pts[1]) - both, rel=1e-12)


def test_integer_variable_mapping():
    v = P.DecisionVariable("spm", "1/min", 4.0, 12.0, step=0.5)
    assert v.n_levels == 17 and v.bounds == (0.0, 16.0)
    np.testing.assert_allclose(v.value([0.2, 3.6, 99]), [4.0, 6.0, 12.0])
    s = P.DecisionVariable("stroke_in", "in", 0, 1, levels=(100.0, 64.0, 86.0))
    np.testing.assert_allclose(s.value([0, 1, 2]), [100.0, 64.0, 86.0])
