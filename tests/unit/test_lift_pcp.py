"""PCP: displacement, slip, torque, power, Arrhenius elastomer life and the RPM recommendation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engines.lift.elastomer import (ELASTOMERS, R_J_MOL_K, Environment, derated_max_temperature_c, life_days,
                                    rate_multiplier, remaining_life)
from engines.lift.pcp import PcpSystem, hydraulic_torque_ftlbf, optimize_rpm, scan_rpm, slip_bpd


def _system(**kw):
    p = np.linspace(0.0, 1500.0, 50)
    args = dict(displacement_bpd_per_rpm=1.0, rated_lift_psi=2000.0, discharge_pressure_psi=1800.0,
                intake_pressure_grid_psi=p, inflow_grid_bpd=0.4 * (1500.0 - p), intake_temperature_c=60.0)
    args.update(kw)
    return PcpSystem(**args)


def test_hydraulic_torque_matches_energy_balance():
    # shaft power T w equals hydraulic power q dP: T N / 5252 (hp) = D N dP / 58,771 (hp)
    d, dp, n = 1.7, 1200.0, 250.0
    shaft_hp = hydraulic_torque_ftlbf(d, dp) * n / 5252.113
    hydraulic_hp = d * n * dp / 58_771.0
    assert shaft_hp == pytest.approx(hydraulic_hp, rel=2e-4)


def test_slip_is_linear_in_dp_and_rises_with_wear():
    s = _system()
    assert slip_bpd(s, 2000.0) == pytest.approx(0.2 * 100.0 * 1.0)  # 20 % of displacement at 100 rpm, at rated lift
    assert slip_bpd(s, 1000.0) == pytest.approx(10.0)
    assert slip_bpd(_system(wear_frac=0.5), 1000.0) == pytest.approx(15.0)


def test_scan_balances_pump_and_inflow():
    s = _system()
    r = scan_rpm(s, [100.0, 300.0])
    pump_q = 1.0 * r.rpm - slip_bpd(s, 1800.0 - r.intake_pressure_psi)
    np.testing.assert_allclose(r.q_bpd, pump_q, rtol=1e-6)
    np.testing.assert_allclose(r.q_bpd, 0.4 * (1500.0 - r.intake_pressure_psi), rtol=1e-6)
    np.testing.assert_allclose(r.torque_ftlbf, 0.08936 * (1800.0 - r.intake_pressure_psi) + 100.0, rtol=1e-4)


@pytest.mark.parametrize("name", ["NBR", "HNBR", "FKM"])
def test_life_at_reference_temperature_is_nominal(name):
    el = ELASTOMERS[name]
    assert float(life_days(name, el.reference_temperature_c)) == pytest.approx(el.nominal_life_days, rel=1e-12)
    years = {"NBR": 10, "HNBR": 15, "FKM": 20}[name]
    assert el.nominal_life_days == pytest.approx(years * 365.25)


@pytest.mark.parametrize("name", ["NBR", "HNBR", "FKM"])
def test_life_roughly_halves_per_10C_near_reference(name):
    el = ELASTOMERS[name]
    t0 = el.reference_temperature_c
    factor = float(life_days(name, t0) / life_days(name, t0 + 10.0))
    expected = np.exp(el.activation_energy_j_mol / R_J_MOL_K * (1 / (t0 + 273.15) - 1 / (t0 + 283.15)))
    assert factor == pytest.approx(expected, rel=1e-12)
    assert 1.8 <= factor <= 2.5  # the "halves per ~10 degC" rule of thumb


def test_80_kj_mol_halves_per_10C_between_80_and_120C():
    for t in (80.0, 90.0, 100.0):  # NBR is rated to 110 degC
        factor = float(life_days("NBR", t) / life_days("NBR", t + 10.0))
        assert factor == pytest.approx(2.0, abs=0.2)


def test_miner_integration_and_projection():
    life60 = float(life_days("NBR", 60.0))
    life80 = float(life_days("NBR", 80.0))
    res = remaining_life("NBR", [0.0, 100.0, 100.0, 300.0], [60.0, 60.0, 80.0, 80.0])
    damage = 100.0 / life60 + 200.0 / life80
    assert res.damage_frac == pytest.approx(damage, rel=1e-9)
    assert res.remaining_days == pytest.approx((1 - damage) * life80, rel=1e-9)
    assert res.life_at_current_days == pytest.approx(life80)


def test_modifiers_and_derating():
    env = Environment(swell_pct=10.0, h2s_mol_pct=2.0)
    m = rate_multiplier(ELASTOMERS["NBR"], env)
    assert m == pytest.approx(1.5 * 2.0)
    assert float(life_days("NBR", 90.0, env)) == pytest.approx(float(life_days("NBR", 90.0)) / m)
    t_max = derated_max_temperature_c("HNBR", 730.0, env)
    assert float(life_days("HNBR", t_max, env)) == pytest.approx(730.0, rel=1e-9)
    assert float(life_days("NBR", 130.0)) == 0.0  # above the rating


def test_field_temperatures_give_field_lives_not_decades():
    for name, t in (("NBR", 85.0), ("HNBR", 120.0), ("FKM", 150.0)):
        assert 0.5 * 365.25 < float(life_days(name, t)) < 3.0 * 365.25


def test_optimizer_binding_torque():
    rec = optimize_rpm(_system(rod_torque_limit_ftlbf=150.0, min_run_life_days=30.0))
    assert rec.torque_ftlbf <= 150.0
    assert rec.binding_constraint in ("rod_torque", "infeasible:rod_torque")


@settings(max_examples=40, deadline=None)
@given(d=st.floats(0.2, 5.0), lo=st.floats(50.0, 150.0), hi=st.floats(160.0, 400.0), t=st.floats(30.0, 120.0),
       lim=st.floats(100.0, 3000.0), el=st.sampled_from(["NBR", "HNBR", "FKM"]))
def test_recommendation_respects_hard_ranges(d, lo, hi, t, lim, el):
    rec = optimize_rpm(_system(displacement_bpd_per_rpm=d, rpm_min=lo, rpm_max=hi, intake_temperature_c=t,
                               rod_torque_limit_ftlbf=lim, elastomer=el))
    assert lo - 1e-9 <= rec.rpm <= hi + 1e-9
    assert rec.run_life_days <= 1826.0  # never decades
    if not rec.binding_constraint.startswith("infeasible"):
        assert rec.torque_ftlbf <= lim + 1e-9
        assert rec.intake_pressure_psi >= 50.0 - 1e-6
