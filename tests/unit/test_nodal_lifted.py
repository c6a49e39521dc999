"""Nodal operating point with the installed lift (issue 18, item 2).

The nodal answer at a setpoint and the lift optimizer run on one model of the well hydraulics
(engines.lift.well_hydraulics: tubing traverse to the pump, gas-free liquid column in the casing below
it; gas lift: the nodal traverse with the injected gas above the valve), so at the optimizer's
recommended setpoint the nodal rate equals the optimizer's expected rate. Before, the nodal pump hook
traversed the produced mixture up a tubing below the pump, and the two rates parted by 2-7 % once the
pump hung 1500-3000 ft above the perforations (measured on the demo's ESP wells). Each operating point
is also checked against the pump's own balance, derived here from the well data: the gain of the pump
equals the discharge pressure the tubing needs less the intake pressure the reservoir gives.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from engines.fielddata import SyntheticField
from engines.lift.esp_catalogue import load_pump_catalogue
from engines.lift.pcp import PcpSystem, scan_rpm
from engines.lift.pcp import pump_pressure_gain_psi as pcp_gain
from engines.lift.srp import SrpSystem, scan_spm
from engines.lift.srp import pump_pressure_gain_psi as srp_gain
from engines.lift.rod_string import MATERIALS, RodString, RodTaper
from engines.lift.well_hydraulics import (discharge_pressure_psia, liquid_density_lbft3, pump_curves, pumped_rate_limit_bpd,
                                          pwf_from_intake_psia)
from engines.nodal import BlackOilFluid, CompositeIpr, GasInjection, Wellbore, bottomhole_pressure
from tb_bridge.adapters.lift import (LiftCache, _pump_curves, _pump_md, current_setpoint, gas_lift_glpc,
                                     lifted_operating_point, optimize_well)
from tb_bridge.adapters.nodal import (ATMOSPHERIC_PSIA, correlation_for_well, fluid_from_well, ipr_from_well, solve_well,
                                      wellbore_from_well)
from tb_bridge.buffer.base import BufferWindow
from tb_bridge.cli.main import main
from tb_bridge.handlers.base import WellContext
from tb_bridge.handlers.engine_steps import nodal_step
from tb_bridge.wells.model import parse_well_config
from tb_bridge.writeback.keys import check_attributes, nodal_attributes

ATM = ATMOSPHERIC_PSIA
FIELD = SyntheticField(wells_per_lift_type=3, seed=7)  # the demo's wells
BASE = dict(reservoir_pressure_psi=2500.0, bubble_point_psi=1800.0, productivity_index_bpd_psi=1.5, perforation_depth_ft=8000.0,
            water_cut_frac=0.5, gor_scf_stb=300.0)
#: one more well per lift type, with the pump (or valve) far above the perforations where a model of the
#: section below the pump matters most
FAR = {
    "esp": dict(lift_type="esp", pump_model="DN1750", pump_stages=220, pump_depth_ft=5000.0, motor_hp=250.0),
    "srp": dict(lift_type="srp", pump_depth_ft=6000.0, productivity_index_bpd_psi=0.15,
                rod_string=[dict(diameter_in=0.875, length_ft=2500.0), dict(diameter_in=0.75, length_ft=3500.0)]),
    "pcp": dict(lift_type="pcp", pump_depth_ft=3000.0, perforation_depth_ft=4200.0, reservoir_pressure_psi=1500.0,
                bubble_point_psi=800.0, productivity_index_bpd_psi=0.5, elastomer="HNBR"),
    "gas_lift": dict(lift_type="gas_lift", injection_depth_ft=6000.0, injection_max_mscfd=1500.0),
}
LIFTS = ("esp", "srp", "pcp", "gas_lift")
T0 = 1_767_225_600_000
#: plunger displacement per (in^2 of D^2 x in of stroke x stroke/min), bbl/d: pi/4 x 1440 min/d / 9702 in^3/bbl
PD_CONSTANT = math.pi / 4.0 * 1440.0 / (42.0 * 231.0)


def _wells(lift):
    wells = [parse_well_config(f"id-{w.name}", w.name, w.attributes) for w in FIELD.wells_of(lift)]
    return wells + [parse_well_config("far", f"{lift}-far", {**BASE, **FAR[lift]})]


@pytest.fixture(scope="module")
def cache():
    return LiftCache()


@pytest.mark.parametrize("lift", LIFTS)
def test_nodal_at_the_recommended_setpoint_is_the_optimizers_rate(lift, cache):
    """Measured: ESP <= 0.06 %, SRP <= 0.11 %, PCP <= 0.05 %, gas lift <= 0.19 % (the GLPC's 20 segments,
    8 injection rates and PCHIP against the nodal 100 segments)."""
    for well in _wells(lift):
        rec = optimize_well(well, {}, cache)
        nodal = lifted_operating_point(well, rec.recommended_setpoint, cache)
        assert nodal.flowing and nodal.status == "flowing", well.name
        assert nodal.q_bpd == pytest.approx(rec.expected_q_bpd, rel=0.01), well.name
        # Pwf is the IPR's at that rate, and PI / drawdown follow from it
        ipr = ipr_from_well(well)
        assert nodal.pwf_psi == pytest.approx(float(ipr.pwf_psi(nodal.q_bpd)) - ATM, abs=0.01)
        assert nodal.drawdown_psi == pytest.approx(well.reservoir_pressure_psi - nodal.pwf_psi, abs=1e-6)


def _column_psi(well, pwf_psia, height_ft):
    """rho_L(Pwf, T_res) h / 144 from the black-oil densities (the gas-free casing below the pump)."""
    return float(liquid_density_lbft3(fluid_from_well(well), pwf_psia, well.reservoir_temperature_f)) * height_ft / 144.0


def _pump_balance(well, nodal):
    """(discharge pressure the tubing needs, intake pressure the reservoir gives) at the nodal rate, psia."""
    wb = wellbore_from_well(well)
    pump_md = _pump_md(well, well.pump_depth_ft)
    p_dis = discharge_pressure_psia([nodal.q_bpd], fluid_from_well(well), wb, well.wellhead_pressure_psi + ATM, pump_md,
                                    correlation_for_well(well), n_segments=100)[0]
    pwf = nodal.pwf_psi + ATM
    height = wb.total_tvd_ft - float(wb.tvd_at(pump_md))
    return p_dis, pwf - _column_psi(well, pwf, height)


@pytest.mark.parametrize("name", ["ESP-01", "ESP-03", "esp-far"])
def test_esp_head_at_the_running_frequency_balances_the_well(name):
    """stages x H(q, f) x 0.433 SG equals p_discharge - p_intake at the nodal rate, H from the catalogue's 60 Hz
    stage table (PCHIP, as the catalogue states) moved to f by the affinity laws, q ~ f and H ~ f^2 (Takacs 2009,
    ch. 2); SG is the one liquid gravity the ESP model uses (the median in-situ gravity at the intake)."""
    well = next(w for w in _wells("esp") if w.name == name)
    f = 47.0
    nodal = lifted_operating_point(well, f)
    p_dis, p_in = _pump_balance(well, nodal)
    stage = load_pump_catalogue()[well.pump_model]
    r = f / stage.base_frequency_hz
    head_ft = float(PchipInterpolator(stage.rate_points_bpd, stage.head_points_ft)(nodal.q_bpd / r)) * r**2
    sg = _pump_curves(well, None)[2].liquid_sg
    assert well.pump_stages * head_ft * 0.433 * sg == pytest.approx(p_dis - p_in, abs=0.1)  # measured: 0.001 psi


def test_srp_plunger_stroke_at_the_current_spm_balances_the_well():
    """q = E_v 0.1166 D^2 N (S - 12 sum(L / (E A)) A_p (p_dis - p_in)) (API RP 11L; Takacs 2015, ch. 4) at the nodal rate."""
    well = next(w for w in _wells("srp") if w.name == "srp-far")
    spm = 7.0
    nodal = lifted_operating_point(well, spm)
    p_dis, p_in = _pump_balance(well, nodal)
    stretch = 12.0 * sum(s.length_ft / (MATERIALS["steel"][0] * math.pi * s.diameter_in**2 / 4.0) for s in well.rod_string)
    a_p = math.pi * well.plunger_diameter_in**2 / 4.0
    q = 0.85 * PD_CONSTANT * well.plunger_diameter_in**2 * spm * (well.stroke_length_in - stretch * a_p * (p_dis - p_in))
    assert nodal.q_bpd == pytest.approx(q, rel=1e-5)  # measured: 2e-8


def test_pcp_displacement_less_slip_at_the_current_rpm_balances_the_well():
    """q = D N - s_rated (p_dis - p_in) / dP_rated, s_rated = 20 % of the displacement at 100 rpm."""
    well = next(w for w in _wells("pcp") if w.name == "pcp-far")
    rpm = 180.0
    nodal = lifted_operating_point(well, rpm)
    p_dis, p_in = _pump_balance(well, nodal)
    d = well.displacement_bpd_per_rpm
    assert nodal.q_bpd == pytest.approx(d * rpm - 0.2 * 100.0 * d * (p_dis - p_in) / well.pump_rated_lift_psi, rel=1e-5)


def test_gas_lift_operating_point_is_the_vlp_with_the_injected_gas_above_the_valve():
    well = next(w for w in _wells("gas_lift") if w.name == "GL-03")  # dead without gas lift
    assert not solve_well(well).flowing
    nodal = lifted_operating_point(well, 900.0)
    wb = wellbore_from_well(well)
    inj_md = float(np.interp(well.injection_depth_ft, np.asarray(wb.tvd_ft), np.asarray(wb.md_ft)))
    vlp = bottomhole_pressure([nodal.q_bpd], fluid_from_well(well), wb, well.wellhead_pressure_psi + ATM,
                              correlation=correlation_for_well(well), gas_lift=GasInjection(inj_md, 900.0))[0]
    assert vlp - ATM == pytest.approx(nodal.pwf_psi, abs=0.01)  # the IPR's Pwf at that rate is the VLP's
    glpc = gas_lift_glpc(well)[0]  # the optimizer's GLPC (20 segments, 8 injection rates, PCHIP): measured 0.07 %
    assert nodal.q_bpd == pytest.approx(float(glpc.oil_at(900.0)) / (1.0 - well.water_cut_frac), rel=0.01)


def test_lifted_rate_rises_with_the_setpoint_and_lift_off_is_natural_flow():
    for lift, setpoints in (("esp", (40.0, 50.0, 60.0)), ("srp", (5.0, 8.0, 11.0)), ("pcp", (100.0, 200.0, 300.0)),
                            ("gas_lift", (200.0, 600.0, 1000.0))):
        well = _wells(lift)[0]
        rates = [lifted_operating_point(well, s).q_bpd for s in setpoints]
        assert rates[0] < rates[1] < rates[2], (lift, rates)
        natural, off = solve_well(well), lifted_operating_point(well, 0.0)
        assert off.q_bpd == natural.q_bpd and off.status == natural.status


def test_pumped_off_srp_runs_at_the_inflow_of_the_pump_off_intake():
    """A rod pump faster than the reservoir draws the fluid level down to the intake: the rate is the inflow
    at the pump-off intake pressure (the optimizer's 50 psig minimum), as in the optimizer's scan."""
    well = next(w for w in _wells("srp") if w.name == "srp-far")
    nodal = lifted_operating_point(well, 14.0)
    wb = wellbore_from_well(well)
    height = wb.total_tvd_ft - float(wb.tvd_at(_pump_md(well, well.pump_depth_ft)))
    pwf = float(pwf_from_intake_psia(fluid_from_well(well), 50.0 + ATM, well.reservoir_temperature_f, height))
    assert nodal.q_bpd == pytest.approx(float(ipr_from_well(well).rate_bpd(pwf)), rel=1e-3)
    assert nodal.q_bpd == pytest.approx(optimize_well(well, {"spm": 14.0}).current_q_bpd, rel=0.01)


# --- engines: the pump gains are the inverses of the optimizers' rate relations ---

def _srp_system(discharge):
    rods = RodString((RodTaper(0.875, 2500.0), RodTaper(0.75, 3500.0)))
    p = np.linspace(0.0, 2000.0, 21)
    return SrpSystem(rods=rods, plunger_diameter_in=1.75, stroke_in=100.0, discharge_pressure_psi=discharge,
                     intake_pressure_grid_psi=p, inflow_grid_bpd=0.4 * (2000.0 - p))


def test_srp_gain_inverts_the_capacity_with_rod_stretch():
    system = _srp_system(2400.0)
    q = np.array([50.0, 150.0, 250.0])
    dp = srp_gain(system, q, 9.0)
    stretch = 12.0 * sum(length / (MATERIALS["steel"][0] * math.pi * d**2 / 4.0) for d, length in ((0.875, 2500.0), (0.75, 3500.0)))
    capacity = 0.85 * PD_CONSTANT * 1.75**2 * 9.0 * (100.0 - stretch * math.pi * 1.75**2 / 4.0 * dp)
    np.testing.assert_allclose(capacity, q, rtol=1e-12)
    full = 0.85 * PD_CONSTANT * 1.75**2 * 9.0 * 100.0
    assert srp_gain(system, [full * 1.2], 9.0)[0] == 0.0  # beyond the full stroke the valves stand open


def test_pcp_gain_inverts_displacement_less_slip():
    system = PcpSystem(displacement_bpd_per_rpm=1.2, rated_lift_psi=2000.0, discharge_pressure_psi=1500.0,
                       intake_pressure_grid_psi=[0.0, 1500.0], inflow_grid_bpd=[600.0, 0.0], intake_temperature_c=60.0,
                       wear_frac=0.5)
    q = np.array([100.0, 250.0])
    dp = pcp_gain(system, q, 250.0)
    np.testing.assert_allclose(1.2 * 250.0 - 0.2 * 100.0 * 1.2 * dp / 2000.0 * 1.5, q, rtol=1e-12)


def test_a_flat_discharge_curve_gives_the_constant_discharge_answer():
    flat, const = _srp_system(np.full(21, 2400.0)), _srp_system(2400.0)
    a, b = scan_spm(flat, [5.0, 9.0, 13.0]), scan_spm(const, [5.0, 9.0, 13.0])
    np.testing.assert_array_equal(a.q_bpd, b.q_bpd)
    kw = dict(displacement_bpd_per_rpm=1.2, rated_lift_psi=2000.0, intake_pressure_grid_psi=[0.0, 700.0, 1500.0],
              inflow_grid_bpd=[600.0, 300.0, 0.0], intake_temperature_c=60.0)
    np.testing.assert_array_equal(scan_rpm(PcpSystem(discharge_pressure_psi=[1500.0] * 3, **kw), [100.0, 300.0]).q_bpd,
                                  scan_rpm(PcpSystem(discharge_pressure_psi=1500.0, **kw), [100.0, 300.0]).q_bpd)


def test_liquid_column_round_trip_and_rate_limit():
    fluid = BlackOilFluid(oil_api=32.0, gas_sg=0.75, water_cut_frac=0.4, gor_scf_stb=400.0)
    p_in = np.array([14.696, 300.0, 1500.0])
    pwf = pwf_from_intake_psia(fluid, p_in, 180.0, 2000.0)
    rho = liquid_density_lbft3(fluid, pwf, 180.0)
    np.testing.assert_allclose(pwf - rho * 2000.0 / 144.0, p_in, atol=1e-6)
    assert np.all((rho > 50.0) & (rho < 65.0))  # oil of 32 API with solution gas, 40 % brine
    ipr, wb = CompositeIpr(3000.0, 1800.0, 1.0), Wellbore.vertical(8000.0)
    q_lim = pumped_rate_limit_bpd(ipr, fluid, wb, 6000.0)
    curves = pump_curves(ipr, fluid, wb, 115.0, 6000.0, np.array([0.0, 0.5, 1.0]) * q_lim)
    assert curves.intake_psia[-1] == pytest.approx(14.696, abs=1e-6)
    assert pumped_rate_limit_bpd(CompositeIpr(800.0, 500.0, 1.0), fluid, wb, 5000.0) == 0.0  # 3000 ft of liquid > Pr


# --- the service's nodal step ---

def _context(well, telemetry=None, state=None):
    values = {k: np.array([v]) for k, v in (telemetry or {}).items()}
    window = BufferWindow(np.array([T0]), values) if values else BufferWindow(np.zeros(0, dtype=np.int64), {})
    return WellContext(config=well, window=window, now_ms=T0, tier="hourly", state={} if state is None else state)


def test_nodal_step_solves_at_the_telemetry_setpoint_and_keeps_the_natural_answer():
    well = next(w for w in _wells("esp") if w.name == "ESP-03")  # dead in natural flow
    out = nodal_step(_context(well, {"frequency_hz": 52.5, "flow_rate_bpd": 900.0})).attributes
    check_attributes(out)
    lifted = lifted_operating_point(well, 52.5)
    assert out["opt_nodal_q_bpd"] == round(lifted.q_bpd, 4) > 0 and out["opt_nodal_flowing"] is True
    assert out["opt_nodal_pwf_psi"] == round(lifted.pwf_psi, 4)
    assert out["opt_nodal_pi_stb_d_psi"] > 0 and out["opt_nodal_drawdown_psi"] > 0
    assert out["opt_nodal_basis"] == "esp at frequency_hz = 52.5 Hz (latest telemetry)"
    assert out["opt_nodal_natural_q_bpd"] == 0.0 and out["opt_nodal_natural_flowing"] is False
    assert out["opt_nodal_natural_pwf_psi"] is None
    # the optimizer's model rate at the running frequency is the same operating point
    assert optimize_well(well, {"frequency_hz": 52.5}).current_q_bpd == pytest.approx(lifted.q_bpd, rel=0.01)


def test_nodal_step_falls_back_to_the_nominal_or_recommended_setpoint():
    esp = _wells("esp")[0]
    out = nodal_step(_context(esp)).attributes
    assert out["opt_nodal_basis"] == "esp at frequency_hz = 60 Hz (nominal base_frequency_hz; no frequency_hz telemetry)"
    assert out["opt_nodal_q_bpd"] == round(lifted_operating_point(esp, 60.0).q_bpd, 4)
    srp = _wells("srp")[1]
    out = nodal_step(_context(srp, {"spm": 35.0})).attributes
    rec = optimize_well(srp, {})
    assert out["opt_nodal_basis"] == (f"srp at spm = {rec.recommended_setpoint:.4g} 1/min (recommended for the configured "
                                      "well; latest spm telemetry 35.0 is not in 0-20 1/min)")
    assert out["opt_nodal_q_bpd"] == pytest.approx(rec.expected_q_bpd, rel=0.01)
    assert current_setpoint(srp, {"spm": float("nan")}).source == "recommended for the configured well"


def test_nodal_step_with_the_lift_off_reports_natural_flow():
    well = _wells("gas_lift")[0]
    out = nodal_step(_context(well, {"injection_rate_mscfd": 0.0})).attributes
    natural = nodal_attributes(solve_well(well))
    assert {k: out[k] for k in natural} == natural
    assert out["opt_nodal_basis"] == ("gas_lift at injection_rate_mscfd = 0 Mscf/d (latest telemetry): lift off, "
                                      "natural flow")


def test_nodal_step_recomputes_the_lifted_point_only_when_the_setpoint_changes(monkeypatch):
    import tb_bridge.adapters.lift as lift_adapter

    calls = []
    real = lift_adapter.lifted_operating_point
    monkeypatch.setattr(lift_adapter, "lifted_operating_point", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    well, state = _wells("pcp")[0], {}
    first = nodal_step(_context(well, {"rpm": 200.0}, state)).attributes
    assert nodal_step(_context(well, {"rpm": 200.0}, state)).attributes == first and calls == [200.0]
    second = nodal_step(_context(well, {"rpm": 260.0}, state)).attributes
    assert calls == [200.0, 260.0] and second["opt_nodal_q_bpd"] > first["opt_nodal_q_bpd"]
    assert second["opt_nodal_natural_q_bpd"] == first["opt_nodal_natural_q_bpd"]


def test_a_well_without_lift_gets_the_natural_flow_attributes_alone():
    well = _wells("esp")[0]
    natural_flow = well.model_copy(update={"lift_type": "natural_flow"})  # a well with downhole gauges and no lift
    out = nodal_step(_context(natural_flow, {"frequency_hz": 55.0})).attributes
    assert out == nodal_attributes(solve_well(well))


def test_a_lifted_point_that_cannot_be_solved_keeps_the_natural_answer_and_reports_the_error(monkeypatch):
    import tb_bridge.adapters.lift as lift_adapter

    def broken(*a, **k):
        raise ValueError("pump_model 'XYZ' not in the catalogue")

    monkeypatch.setattr(lift_adapter, "lifted_operating_point", broken)
    well = _wells("esp")[1]
    out = nodal_step(_context(well, {"frequency_hz": 50.0}))
    assert "opt_nodal_q_bpd" not in out.attributes
    assert out.attributes["opt_nodal_natural_q_bpd"] == round(solve_well(well).q_bpd, 4)
    assert out.attributes["opt_nodal_basis"].endswith("(not solved: see opt_error)")
    assert out.errors == ["nodal_step: lifted operating point: ValueError: pump_model 'XYZ' not in the catalogue"]


def test_cli_solves_with_the_lift_at_a_setpoint(tmp_path, capsys):
    esp = next(w for w in FIELD.wells_of("esp") if w.name == "ESP-03")
    path = tmp_path / "esp.json"
    path.write_text(json.dumps(dict(esp.attributes, name=esp.name, setpoint=52.5)))
    assert main(["nodal", "solve", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    well = parse_well_config(f"id-{esp.name}", esp.name, esp.attributes)
    assert out["q_bpd"] == pytest.approx(lifted_operating_point(well, 52.5).q_bpd, rel=1e-12) and out["flowing"] is True
    path.write_text(json.dumps(dict(esp.attributes, setpoint=52.5, correlation="no_slip")))
    assert main(["nodal", "solve", str(path)]) == 2
    assert "leave out correlation" in capsys.readouterr().err
