"""Lift handler steps (issue 7): gas-lift casing heading and valve stability, PCP elastomer damage over the
temperature history, and the field-wide gas allocation run by the service.

References: the synthetic field's casing-heading fault (casing pressure = 0.93 x line pressure, line
oscillating +/-12 % with a 12-step = 60 min period, ``engines.fielddata.gas_lift``); the critical pressure
ratio (2/(k+1))^(k/(k-1)) for k = 1.27; Arrhenius life L = L_ref exp(Ea/R (1/T - 1/T_ref)) with the NBR
parameters of ``engines.lift.elastomer`` (10 y at 60 degC, 80 kJ/mol); ``allocate_gas_equal_slope`` /
``allocate_gas_lp`` on the same GLPCs.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from engines.fielddata import SyntheticField
from engines.lift.gas_allocation import allocate_gas_equal_slope, allocate_gas_lp, concave_hull
from engines.lift.gas_lift import (casing_pressure_at_depth_psia, detect_casing_heading, tubing_pressure_at_injection_psia)
from tb_bridge.adapters.lift import gas_lift_glpc
from tb_bridge.adapters.nodal import correlation_for_well, fluid_from_well, wellbore_from_well
from tb_bridge.buffer.base import BufferWindow
from tb_bridge.config import load_settings
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.handlers.base import InsufficientData, WellContext
from tb_bridge.handlers.lift_steps import (gas_allocation_field_step, gas_lift_heading_step, gas_lift_valve_step,
                                          pcp_elastomer_history_step)
from tb_bridge.handlers.registry import handler_for
from tb_bridge.service import Service
from tb_bridge.wells.model import parse_well_config
from tests.doubles import RecordingWriteback

STEP_MS = 300_000
DAY_MS = 86_400_000


def _gas_lift_field(n_steps=288):
    field = SyntheticField({"gas_lift": 3}, seed=3, faults={"GL-01": ("casing_heading", 0)})
    arrays = field.arrays("gas_lift", n_steps)
    ts = field.start_ms + np.arange(n_steps, dtype=np.int64) * STEP_MS
    return field, arrays, ts


def _context(well, ts, values, tier="fast", state=None, now_ms=None):
    return WellContext(config=well, window=BufferWindow(ts, values), now_ms=int(ts[-1]) if now_ms is None else now_ms,
                       tier=tier, state={} if state is None else state)


def test_heading_step_finds_the_synthetic_heading_period_and_amplitude_and_spares_healthy_wells():
    field, arrays, ts = _gas_lift_field()
    line_psi = field.model_parameters("gas_lift")["injection_pressure_psi"]
    for i, w in enumerate(field.wells_of("gas_lift")):
        well = parse_well_config(w.name, w.name, w.attributes)
        values = {k: v[i] for k, v in arrays.items()}
        out = gas_lift_heading_step(_context(well, ts, values)).attributes
        if w.name == "GL-01":
            assert out["opt_gl_heading_detected"] is True
            assert out["opt_gl_heading_period_min"] == pytest.approx(60.0, rel=0.01)  # 12 steps x 5 min
            assert out["opt_gl_heading_amplitude_psi"] == pytest.approx(0.93 * 0.12 * line_psi[i], rel=0.02)
            # the step analyses exactly the last 6 h (73 samples, both ends) with periods up to half their span
            last = ts >= ts[-1] - 6 * 3_600_000
            t_min = (ts[last] - ts[last][0]) / 60_000.0
            direct = detect_casing_heading(t_min, values["casing_pressure_psi"][last], values["tubing_pressure_psi"][last],
                                           max_period_min=0.5 * t_min[-1])
            assert out["opt_gl_heading_period_min"] == round(direct.period_min, 4)
        else:
            assert out == {"opt_gl_heading_detected": False, "opt_gl_heading_period_min": None,
                           "opt_gl_heading_amplitude_psi": None}


def test_heading_step_waits_for_32_samples():
    field, arrays, ts = _gas_lift_field(31)
    w = field.wells_of("gas_lift")[0]
    well = parse_well_config(w.name, w.name, w.attributes)
    with pytest.raises(InsufficientData, match="31 of 32"):
        gas_lift_heading_step(_context(well, ts, {k: v[0] for k, v in arrays.items()}))


def test_valve_step_uses_measured_pressures_and_the_critical_ratio():
    field, arrays, ts = _gas_lift_field(12)
    w = field.wells_of("gas_lift")[1]
    well = parse_well_config(w.name, w.name, w.attributes)
    values = {k: v[1].copy() for k, v in arrays.items()}
    critical = (2.0 / 2.27) ** (1.27 / 0.27)  # 0.5510
    fluid, wellbore = fluid_from_well(well), wellbore_from_well(well)
    inj_md = float(np.interp(well.injection_depth_ft, wellbore.tvd_ft, wellbore.md_ft))
    for casing_psi in (values["casing_pressure_psi"][-1], 2000.0, 3500.0):  # as measured, then raised
        values["casing_pressure_psi"][-1] = casing_psi
        out = gas_lift_valve_step(_context(well, ts, values, tier="hourly")).attributes
        p_c = casing_pressure_at_depth_psia(casing_psi + 14.696, well.injection_depth_ft, well.injection_gas_specific_gravity,
                                            well.surface_temperature_f, float(wellbore.temperature_at(inj_md)))
        p_t = tubing_pressure_at_injection_psia(values["flow_rate_bpd"][-1], values["injection_rate_mscfd"][-1], fluid, wellbore,
                                                values["tubing_pressure_psi"][-1] + 14.696, inj_md,
                                                correlation=correlation_for_well(well), n_segments=30)
        assert out["opt_gl_valve_pressure_ratio"] == pytest.approx(p_t / p_c, abs=1e-4)
        assert out["opt_gl_valve_stable"] is (p_t / p_c <= critical)
    assert out["opt_gl_valve_stable"] is True  # 3500 psi on the casing makes the valve flow critically
    values["injection_rate_mscfd"][:] = np.nan
    with pytest.raises(InsufficientData):
        gas_lift_valve_step(_context(well, ts, values, tier="hourly"))


PCP = parse_well_config("p1", "PCP-01", {"lift_type": "pcp", "reservoir_pressure_psi": 2500, "bubble_point_psi": 1200,
                                         "productivity_index_bpd_psi": 0.8, "perforation_depth_ft": 5000,
                                         "pump_depth_ft": 4800, "elastomer": "NBR"})


def _temperature_history(days=2.0):
    ts = 1_767_225_600_000 + np.arange(int(days * 288) + 1, dtype=np.int64) * STEP_MS
    t_f = 185.0 + 25.0 * np.sin(2 * np.pi * (ts - ts[0]) / DAY_MS) + 5.0 * np.cos(ts / 7.3e6)
    return ts, t_f


def _nbr_life_days(t_c):
    # independent Arrhenius: 10 y at 60 degC, Ea = 80 kJ/mol, R = 8.314462618 J/(mol K)
    return 10 * 365.25 * math.exp(80_000.0 / 8.314_462_618 * (1.0 / (t_c + 273.15) - 1.0 / 333.15))


def test_elastomer_damage_accumulates_across_runs_exactly_as_one_run_over_the_whole_history():
    ts, t_f = _temperature_history(2.0)
    # one run over the 2-day history
    once = pcp_elastomer_history_step(_context(PCP, ts, {"intake_temperature_f": t_f}, tier="hourly")).attributes
    # hourly runs on a 24 h ring buffer (windows overlap; only samples newer than the last run count)
    state: dict = {}
    for end in [*range(12, ts.size, 12), ts.size]:
        start = max(0, end - 288)
        out = pcp_elastomer_history_step(_context(PCP, ts[start:end], {"intake_temperature_f": t_f[start:end]},
                                                  tier="hourly", state=state)).attributes
    assert out["opt_pcp_elastomer_damage_pct"] == pytest.approx(once["opt_pcp_elastomer_damage_pct"], abs=2e-8)
    assert out["opt_pcp_elastomer_life_days"] == once["opt_pcp_elastomer_life_days"]
    assert out["opt_pcp_elastomer_history_days"] == once["opt_pcp_elastomer_history_days"] == 2.0
    # independent trapezoid of 1/L(T) over the history
    rate = np.array([1.0 / _nbr_life_days((f - 32.0) / 1.8) for f in t_f])
    damage = float(np.sum(0.5 * (rate[1:] + rate[:-1]) * np.diff(ts) / DAY_MS))
    assert once["opt_pcp_elastomer_damage_pct"] == pytest.approx(100.0 * damage, abs=1e-8)
    remaining = (1.0 - damage) * _nbr_life_days((t_f[-1] - 32.0) / 1.8)
    assert once["opt_pcp_elastomer_life_days"] == pytest.approx(remaining, rel=1e-6)


def test_elastomer_life_at_constant_temperature_and_reset_on_a_new_elastomer():
    ts = 1_767_225_600_000 + np.arange(289, dtype=np.int64) * STEP_MS  # exactly one day
    state: dict = {}
    out = pcp_elastomer_history_step(_context(PCP, ts, {"intake_temperature_f": np.full(289, 212.0)},
                                              tier="hourly", state=state)).attributes
    life = _nbr_life_days(100.0)  # about 165 days at 100 degC
    assert life == pytest.approx(165.3, abs=0.1)
    assert out["opt_pcp_elastomer_damage_pct"] == pytest.approx(100.0 / life, abs=1e-8)
    assert out["opt_pcp_elastomer_life_days"] == pytest.approx(life - 1.0, rel=1e-6)  # one day of it consumed
    # a new stator (elastomer changed): the damage starts again from this window
    hnbr = PCP.model_copy(update={"elastomer": "HNBR"})
    again = pcp_elastomer_history_step(_context(hnbr, ts, {"intake_temperature_f": np.full(289, 212.0)},
                                                tier="hourly", state=state)).attributes
    hnbr_life = 15 * 365.25 * math.exp(90_000.0 / 8.314_462_618 * (1.0 / 373.15 - 1.0 / 358.15))
    assert again["opt_pcp_elastomer_damage_pct"] == pytest.approx(100.0 / hnbr_life, abs=1e-8)
    # no downhole gauge: the configured geothermal temperature at pump depth (linear in TVD), capped at 5 y
    cool = pcp_elastomer_history_step(_context(PCP, ts, {"flow_rate_bpd": np.full(289, 300.0)}, tier="hourly")).attributes
    t_pump_c = (PCP.surface_temperature_f + 4800 / 5000 * (PCP.reservoir_temperature_f - PCP.surface_temperature_f) - 32) / 1.8
    assert cool["opt_pcp_elastomer_damage_pct"] == pytest.approx(100.0 / _nbr_life_days(t_pump_c), abs=1e-8)
    assert cool["opt_pcp_elastomer_life_days"] == pytest.approx(min(1826.0, _nbr_life_days(t_pump_c) - 1.0), rel=1e-6)


@pytest.mark.parametrize("available", [900.0, None])
def test_service_allocates_the_field_gas_by_equal_slope(tmp_path, monkeypatch, available):
    field = SyntheticField({"gas_lift": 3, "pcp": 1}, seed=5)
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", lift_gas_available_mscfd=available)
    writeback = RecordingWriteback()
    service = Service(settings, writeback)
    try:
        for w in field.wells:
            service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, w.name, 0, w.attributes, well_name=w.name, source="test"))
        report = service.run_tier("hourly", now_ms=field.start_ms)
        assert gas_allocation_field_step in handler_for("gas_lift").field_steps("hourly")
        assert gas_allocation_field_step not in handler_for("pcp").field_steps("hourly")
        wells = [parse_well_config(w.name, w.name, w.attributes) for w in field.wells_of("gas_lift")]
        curves = [gas_lift_glpc(w)[0] for w in wells]
        offered = available if available is not None else sum(c.injection_mscfd[-1] for c in curves)
        expected = allocate_gas_equal_slope(curves, offered)
        written = [writeback.latest[w.entity_id] for w in wells]
        got = np.array([a["opt_gl_allocated_mscfd"] for a in written])
        np.testing.assert_allclose(got, expected.injection_mscfd, atol=1e-4)
        np.testing.assert_allclose([a["opt_gl_allocated_oil_bpd"] for a in written], expected.oil_bpd, atol=1e-4)
        assert expected.total_injection_mscfd <= offered + 1e-9 and got.sum() <= offered + 3e-4  # 4-decimal rounding
        assert "opt_gl_allocated_mscfd" not in writeback.latest[field.wells_of("pcp")[0].name]
        assert not any("gas_allocation" in e for errors in report.errors.values() for e in errors)
        if available is not None:  # scarce gas: all of it is used, and the LP optimum agrees to 0.1 %
            assert got.sum() == pytest.approx(available, abs=3e-4)
            assert expected.total_oil_bpd == pytest.approx(allocate_gas_lp(curves, available).total_oil_bpd, rel=1e-3)
        else:  # unconstrained: each well at the top of its own (hull) curve
            for c, g in zip(curves, got):
                hx, hy = concave_hull(c.injection_mscfd, c.oil_bpd)
                assert g == pytest.approx(hx[int(np.argmax(hy))], abs=1e-4)
        # the GLPCs are cached per configuration in each well's state: a second run rebuilds none
        import tb_bridge.adapters.lift as lift_adapter

        calls = []
        monkeypatch.setattr(lift_adapter, "gas_lift_glpc", lambda w, *a, **k: calls.append(w) or gas_lift_glpc(w, *a, **k))
        service.run_tier("hourly", now_ms=field.start_ms + 3_600_000)
        assert calls == []
    finally:
        service.close()
