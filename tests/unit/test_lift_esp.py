"""ESP: catalogue, affinity laws, operating point and the frequency recommendation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engines.lift.esp import EspSystem, optimize_frequency, scan_frequencies
from engines.lift.esp_catalogue import PumpCurve, load_pump_catalogue

CATALOGUE = load_pump_catalogue()


def test_catalogue_ships_three_pumps_with_consistent_bep():
    assert {"DN440", "DN1750", "SN2600"} <= set(CATALOGUE)
    for pump in CATALOGUE.values():
        q = np.linspace(1.0, pump.open_flow_bpd * 0.99, 4000)
        q_peak = q[np.argmax(pump.efficiency(q))]
        assert q_peak == pytest.approx(pump.bep_bpd, rel=0.05)  # stated BEP is the efficiency peak
        assert pump.min_rate_bpd < pump.bep_bpd < pump.max_rate_bpd


@pytest.mark.parametrize("f", [35.0, 45.0, 70.0, 90.0])
def test_affinity_laws_are_exact_identities(f):
    pump = CATALOGUE["DN1750"]
    r = f / 60.0
    q60 = np.linspace(100.0, 2500.0, 25)
    np.testing.assert_allclose(pump.head_ft(q60 * r, f), pump.head_ft(q60, 60.0) * r**2, rtol=1e-12)
    np.testing.assert_allclose(pump.bhp(q60 * r, f), pump.bhp(q60, 60.0) * r**3, rtol=1e-12)
    np.testing.assert_allclose(pump.efficiency(q60 * r, f), pump.efficiency(q60, 60.0), rtol=1e-12)
    # the efficiency peak moves with q ~ f
    q = np.linspace(1.0, pump.open_flow_bpd * r * 0.99, 6000)
    assert q[np.argmax(pump.efficiency(q, f))] == pytest.approx(float(pump.bep_at(f)), rel=0.05)
    assert float(pump.bep_at(f)) == pytest.approx(1750.0 * r)


def test_hydraulic_power_definition():
    pump = CATALOGUE["DN1750"]
    q = 1750.0
    hhp = q * float(pump.head_ft(q)) / 135_770.0  # q (bbl/d) * H (ft) * SG / 135,770
    assert float(pump.efficiency(q)) == pytest.approx(hhp / float(pump.bhp(q)), rel=1e-12)


def _linear_pump():
    q = np.linspace(0.0, 2000.0, 9)
    return PumpCurve("LIN", "400", 4.0, 4.56, 1000.0, 600.0, 1500.0, tuple(q), tuple(20.0 * (1 - q / 2000.0)),
                     tuple(0.2 + 1e-4 * q))


def test_operating_point_matches_closed_form():
    # p_in = 2000 - q/J, p_dis = 2500: n * 0.433 * SG * 20 r^2 (1 - q/(2000 r)) = 500 + q/J, linear in q
    pump, n, sg, j = _linear_pump(), 200, 1.0, 2.0
    q = np.linspace(0.0, 3900.0, 400)
    sys = EspSystem(pump, n, sg, q, 2000.0 - q / j, np.full(q.size, 2500.0), motor_hp=500.0, min_intake_pressure_psi=0.0,
                    casing_id_in=8.0)
    for f in (45.0, 60.0, 70.0):
        r = f / 60.0
        a = n * 0.433 * sg * 20.0 * r**2
        expected = (a - 500.0) / (1.0 / j + a / (2000.0 * r))
        got = scan_frequencies(sys, [f]).q_bpd[0]
        assert got == pytest.approx(expected, rel=1e-6)
    # 100 stages at 45 Hz give 487 psi of shut-in head, short of the 500 psi the well needs: no flow
    weak = EspSystem(pump, 100, sg, q, 2000.0 - q / j, np.full(q.size, 2500.0), motor_hp=500.0, casing_id_in=8.0)
    assert np.isnan(scan_frequencies(weak, [45.0]).q_bpd[0])


def _system(pump="DN1750", stages=150, motor_hp=250.0, **kw):
    q = np.linspace(0.0, 4000.0, 200)
    return EspSystem(CATALOGUE[pump], stages, 1.0, q, 2300.0 - 1.0 * q, 2200.0 + 0.05 * q, motor_hp=motor_hp,
                     casing_id_in=kw.pop("casing_id_in", 5.5), **kw)


def test_motor_load_binds_with_small_motor():
    rec = optimize_frequency(_system(motor_hp=60.0))
    assert rec.binding_constraint == "motor_load"
    assert rec.motor_load_frac <= 1.0
    above = scan_frequencies(_system(motor_hp=60.0), [rec.frequency_hz + 0.5])
    assert above.motor_load_frac[0] > 1.0
    # BHP ~ f^3 while rating ~ f below base frequency: load grows with f
    s = scan_frequencies(_system(motor_hp=60.0), [40.0, 50.0, 60.0])
    assert np.all(np.diff(s.motor_load_frac) > 0)


def test_min_intake_pressure_binds():
    rec = optimize_frequency(_system(stages=300, motor_hp=2000.0, min_intake_pressure_psi=1200.0))
    assert rec.binding_constraint in ("min_intake_pressure", "upthrust")
    assert rec.intake_pressure_psi >= 1200.0 - 1e-6


def test_power_current_and_specific_energy():
    sys = _system()
    s = scan_frequencies(sys, [60.0])
    q = s.q_bpd[0]
    bhp = 150 * float(CATALOGUE["DN1750"].bhp(q, 60.0))
    kw = bhp * 0.7457 / 0.88 / 0.95
    assert s.power_kw[0] == pytest.approx(kw, rel=1e-4)
    assert s.kwh_per_bbl[0] == pytest.approx(kw * 24.0 / q, rel=1e-4)
    amps = bhp * 745.7 / 0.88 / (np.sqrt(3) * 2300.0 * 0.85)
    assert s.motor_current_a[0] == pytest.approx(amps, rel=1e-4)


@settings(max_examples=40, deadline=None)
@given(lo=st.floats(30.0, 50.0), hi=st.floats(55.0, 90.0), stages=st.integers(50, 400), hp=st.floats(30.0, 600.0),
       pump=st.sampled_from(["DN440", "DN1750", "SN2600"]), pr=st.floats(1000.0, 4000.0))
def test_recommendation_respects_window(lo, hi, stages, hp, pump, pr):
    q = np.linspace(0.0, 5000.0, 120)
    sys = EspSystem(CATALOGUE[pump], stages, 1.0, q, pr - 0.5 * q, 2000.0 + 0.05 * q, motor_hp=hp,
                    frequency_min_hz=lo, frequency_max_hz=hi)
    rec = optimize_frequency(sys)
    assert lo - 1e-9 <= rec.frequency_hz <= hi + 1e-9
    if "infeasible" not in rec.binding_constraint and rec.binding_constraint != "no_flow":
        assert rec.motor_load_frac <= 1.0 + 1e-9
        assert rec.intake_pressure_psi >= 150.0 - 1e-6


def test_window_validation():
    with pytest.raises(ValueError, match="frequency window"):
        _system(frequency_min_hz=25.0)
    with pytest.raises(ValueError, match="frequency window"):
        _system(frequency_max_hz=95.0)


def test_operating_point_agrees_with_nodal_pump_boost():
    """Pump at the perforations: our intake/discharge balance equals the nodal engine's IPR/VLP
    intersection with the pump's pressure gain added at that depth (engines.nodal.PumpBoost)."""
    from engines.lift.well_hydraulics import pump_curves
    from engines.nodal import BlackOilFluid, CompositeIpr, PumpBoost, Wellbore, solve_operating_point

    ipr = CompositeIpr(3000.0, 1500.0, 1.2)
    fluid = BlackOilFluid(32.0, 0.75, 0.6, 200.0)
    wb = Wellbore.vertical(7000.0)
    pump = CATALOGUE["DN1750"]
    q = np.linspace(0.0, ipr.aof_bpd * 0.995, 60)
    pc = pump_curves(ipr, fluid, wb, 115.0, 7000.0, q, correlation="hagedorn_brown", n_segments=40)
    sys = EspSystem(pump, 120, pc.liquid_sg, q, pc.intake_psia, pc.discharge_psia, motor_hp=500.0, casing_id_in=6.276)
    ours = scan_frequencies(sys, [55.0]).q_bpd[0]
    boost = PumpBoost(7000.0, lambda rate: 120 * pump.head_ft(rate, 55.0) * 0.433 * pc.liquid_sg)
    nodal = solve_operating_point(ipr, fluid, wb, 115.0, correlation="hagedorn_brown", n_segments=40, pump=boost)
    assert ours == pytest.approx(nodal.q_bpd, rel=0.002)  # measured: 0.01 %
