"""Dashboard preview end to end: a device posts telemetry to the stand-in, the installed rule chains run,
the service's results and its ISA-18.2 alarm (written here as the service's writeback writes them) show up in
the plotly preview; headless Chromium renders every widget non-empty."""
from __future__ import annotations

import datetime as dt
import os
import re

import numpy as np
import pytest

from tb_bridge.preview.data import RestData
from tb_bridge.preview.render import render_page, time_window, xy_series
from tb_bridge.rulechain_runner import RuleEngine, load_rule_chain
from tb_bridge.rulechain_runner.standin_bridge import StandInOutputs, StandInRuleEngine
from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD, StandIn
from tb_bridge.standin.http_server import HttpServerThread
from tb_bridge.standin.rest_api import build_app
from tb_bridge.tbsetup.bundle import bundled_dashboards
from tb_bridge.tbsetup.client import TbClient
from tb_bridge.tbsetup.installer import SetupOptions, installed_rule_chains, run_setup

NOW = int(dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)
HOUR = 3_600_000
SHOWN = ("field_overview", "well_detail_esp", "simulation")


@pytest.fixture(scope="module")
def field():
    tb = StandIn(clock_ms=lambda: NOW)
    app = build_app(tb)
    server = HttpServerThread(app)
    server.start()
    well, token = tb.create_device("W-1", "ESP")
    service = tb.create_user("atilax@service.local", "secret")
    pushed = []
    with TbClient(server.base_url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
        run_setup(client, SetupOptions(make_root=True))
        chains = {cid: load_rule_chain(e) for cid, e in installed_rule_chains(client).items()}
    bridge = StandInRuleEngine(tb, RuleEngine(chains, StandInOutputs(tb, edge_sink=pushed.append)))
    # The device reports every 10 minutes for the last 6 hours.
    for i in range(36):
        ts = NOW - 6 * HOUR + i * 600_000
        tb.post_device_telemetry(token, {"ts": ts, "values": {
            "flow_rate_bpd": 800 + i, "oil_rate_bpd": 400 + i / 2, "gas_rate_mscfd": 120.0, "frequency_hz": 55.0,
            "motor_current_a": 42.0, "intake_pressure_psi": 950 - i, "discharge_pressure_psi": 2900.0,
            "motor_temperature_f": 210.0, "vibration_g": 0.3}})
    # What the service writes back (attributes, history and projections with future timestamps).
    curve_q = np.linspace(0, 2000, 5)
    tb.save_attributes(well, "SERVER_SCOPE", {
        "opt_well_health_score": 81.0, "opt_health_status": "Good", "opt_status": "ok",
        "opt_esp_freq_recommended_hz": 58.5, "opt_esp_bep_distance_pct": 7.5, "opt_lift_expected_q_bpd": 845.0,
        "opt_lift_delta_q_bpd": 26.0, "opt_anomaly_detected": False, "opt_anomaly_type": "", "opt_anomaly_severity": "NONE",
        "opt_nodal_ipr_curve": [[float(q), float(3000 - 1.2 * q)] for q in curve_q],
        "opt_nodal_vlp_curve": [[float(q), float(900 + 0.4 * q)] for q in curve_q],
        "opt_nodal_q_bpd": 1312.5, "opt_nodal_pwf_psi": 1425.0,
        "opt_lift_curve": [[45.0, 700.0], [50.0, 760.0], [55.0, 820.0], [60.0, 870.0]],
        "opt_dca_model": "hyperbolic", "opt_dca_qi_bpd": 950.0, "opt_dca_di_pct_month": 4.1, "opt_dca_b_factor": 0.6,
        "opt_dca_eur_p10": 9.1e5, "opt_dca_eur_p50": 7.4e5, "opt_dca_eur_p90": 6.0e5,
        "opt_health_components": {"pump": 85, "motor": 78}, "opt_health_trend": -1.5,
        "sim_status": "done", "sim_active": True, "sim_session_id": "5f0c", "sim_original_freq_hz": 55.0,
        "sim_original_water_cut_pct": 40.0, "sim_original_reservoir_pressure_psi": 3000.0, "sim_original_skin_factor": 0.0,
        "sim_original_wellhead_pressure_psi": 150.0, "sim_original_productivity_index_bpd_psi": 1.2,
        "sim_original_gor_scf_stb": 500.0,
        "sim_compare_production_delta_bpd": -35.0, "sim_compare_production_delta_pct": -4.2,
        "sim_compare_efficiency_delta_pct": -1.5, "sim_opt_production_bpd": 790.0, "sim_opt_efficiency_pct": 48.0,
        "sim_opt_energy_kwh_bbl": 0.9, "sim_opt_recommended_action": "do not apply: -35.0 bbl/d (-4.2 %) (less production)",
        "sim_opt_ipr_curve": [[float(q), float(2800 - 1.1 * q)] for q in curve_q],
        "sim_opt_vlp_curve": [[float(q), float(950 + 0.4 * q)] for q in curve_q],
        "sim_compare_warnings": [], "sim_compare_data": [
            {"quantity": "liquid rate", "unit": "bbl/d", "original": 825.0, "modified": 790.0, "delta": -35.0},
            {"quantity": "pump intake pressure", "unit": "psi", "original": 950.0, "modified": 990.0, "delta": 40.0}],
        "sim_basis": "freq_hz 55 -> 55; projection: exponential decline fitted on 36 points from buffer", "sim_error": "",
        # the hourly Pareto step and the setpoint safety layer / RL advisor (tb_bridge.setpoint_control)
        "opt_pareto_front": {"points": [{"frequency_hz": 50.0, "oil_bpd": 380.0, "specific_energy": 0.62,
                                         "equipment_life": 900.0},
                                        {"frequency_hz": 55.0, "oil_bpd": 410.0, "specific_energy": 0.70,
                                         "equipment_life": 700.0},
                                        {"frequency_hz": 60.0, "oil_bpd": 430.0, "specific_energy": 0.81,
                                         "equipment_life": 450.0}],
                             "current": {"oil_bpd": 405.0, "specific_energy": 0.72, "equipment_life": 650.0},
                             "knee_index": 1, "units": {"specific_energy": "kWh/bbl", "equipment_life": "days"}},
        "opt_setpoint_status": "awaiting approval", "opt_setpoint_action_id": "a1",
        "opt_setpoint_pending": {"action_id": "a1", "source": "optimizer", "setpoint_name": "frequency_hz",
                                 "current": 55.0, "setpoint": 57.0, "ts": NOW - HOUR},
        "opt_lift_safety_verdict": {"allowed": True, "setpoint": 57.0, "reasons": ["clipped to one step (2 Hz)"]},
        "opt_rl_recommended_action": "frequency_hz 55 -> 56 (up half a step)", "opt_rl_confidence": 0.62,
        "opt_rl_verdict": {"allowed": True, "setpoint": 56.0, "reasons": []},
        "opt_setpoint_last_change_ts": NOW - 26 * HOUR,
    }, user=service)
    for name, value in [("water_cut_pct", 55.0), ("reservoir_pressure_psi", 2800.0), ("wellhead_pressure_psi", 180.0),
                        ("productivity_index_bpd_psi", 1.1), ("gor_scf_stb", 650.0)]:
        tb.save_attributes(well, "SERVER_SCOPE", {f"sim_param_{name}": value})  # slider writes
    tb.save_timeseries(well, [(NOW - 6 * HOUR + i * 600_000, {"opt_well_health_score": 80 + i % 3,
                                                              "opt_anomaly_score": 0.1 + 0.01 * i, "opt_spc_t2": 2.0 + i % 4,
                                                              "opt_spc_spe": 1.0, "opt_nodal_pwf_psi": 1400.0 + i,
                                                              "opt_lstm_ae_anomaly_score": 0.4 + 0.01 * i})
                              for i in range(36)], user=service)
    tb.save_timeseries(well, [(NOW + d * 24 * HOUR, {"opt_dca_forecast_bpd": 780 - d, "opt_dca_forecast_p10_bpd": 820 - d,
                                                      "opt_dca_forecast_p90_bpd": 740 - d}) for d in range(1, 60)], user=service)
    tb.save_timeseries(well, [(NOW + h * HOUR, {"sim_flow_rate_bpd": 790 - h, "sim_frequency_hz": 55.0,
                                                 "sim_intake_pressure_psi": 990.0 + h}) for h in range(1, 12)], user=service)
    # The service flags an anomaly and raises its ThingsBoard alarm (POST /api/alarm through its writeback).
    tb.save_attributes(well, "SERVER_SCOPE", {"opt_anomaly_detected": True, "opt_anomaly_severity": "MAJOR",
                                              "opt_anomaly_type": "gas_interference"}, user=service)
    tb.store.create_alarm(well, "Atilax: gas_lock", "MAJOR", NOW - HOUR, {"score": 0.9})
    # The weekly review and the monthly model audit (tb_bridge.field_review): the well's opt_weekly_* and the Field
    # asset's summaries, history and daily series as the asset writeback writes them.
    tb.save_attributes(well, "SERVER_SCOPE", {
        "opt_weekly_alarm_count": 1, "opt_weekly_alarm_hours": 1.0, "opt_weekly_anomaly_hours": 0.75,
        "opt_weekly_oil_bbl": 2900.0, "opt_weekly_uptime_pct": 100.0, "opt_weekly_kwh_per_bbl": 0.95,
        "opt_weekly_oil_trend_bpd_per_day": -1.2, "opt_weekly_health_trend_per_day": -0.4,
        "opt_model_max_drift": 0.6, "opt_weekly_source": "history store (7 daily summaries)"}, user=service)
    field_asset = tb.create_asset("North field", "Field")
    from engines.alarms.kpi import TARGETS, alarm_kpis

    kpi = alarm_kpis([NOW / 1000 - 3600], ["W-1/gas_lock"], ["ACTIVE"], NOW / 1000 - 7 * 86_400, NOW / 1000)
    tb.save_attributes(field_asset, "SERVER_SCOPE", {
        "opt_field_oil_bpd": 414.0, "opt_field_water_bpd": 400.0, "opt_field_gas_mscfd": 120.0,
        "opt_field_uptime_pct": 100.0, "opt_field_kwh_per_bbl": 0.95, "opt_field_oil_trend_bpd_per_day": -1.2,
        "opt_field_health_trend_per_day": -0.4, "opt_field_alarms_per_hour": kpi.alarms_per_operator_per_hour,
        "opt_field_alarm_kpi": {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(kpi).items()},
                                "operators": 1, "targets": TARGETS, "period": [NOW - 7 * 24 * HOUR, NOW]},
        "opt_field_model_audit": [{"entity": "W-1", "model": "baseline", "age_days": 7.0, "window_days": 8.0,
                                   "samples": 2304, "source": "buffer", "max_abs_drift": 0.6,
                                   "max_drift_input": "intake_pressure_psi", "drifted": False}]}, user=service)
    tb.save_timeseries(field_asset, [(NOW - d * 24 * HOUR, {"opt_field_daily_oil_bpd": 414.0 + d,
                                                            "opt_field_daily_health": 81.0 + 0.1 * d}) for d in range(7)]
                       + [(NOW - w * 7 * 24 * HOUR, {"opt_field_oil_bpd": 414.0 + w, "opt_field_uptime_pct": 100.0})
                          for w in range(4)], user=service)
    assert tb.wait_idle(20)
    with TbClient(server.base_url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
        dashboards = {k: v for k, v in bundled_dashboards().items() if k in SHOWN}
        page = render_page(dashboards, RestData(client), NOW)
    try:
        yield {"page": page, "pushed": pushed, "well": well, "bridge": bridge, "url": server.base_url}
    finally:
        bridge.stop()
        server.stop()
        tb.stop()


def widget_points(page):
    return [(m.group(2), m.group(1), int(m.group(3))) for m in
            re.finditer(r'data-widget-id="([^"]+)" data-fqn="([^"]+)" data-points="(\d+)"><h3>', page)]


def test_the_chain_forwarded_every_telemetry_message_and_the_sliders(field):
    types = [m.type for m in field["pushed"]]
    assert types.count("POST_TELEMETRY_REQUEST") == 36
    assert types.count("ATTRIBUTES_UPDATED") == 5  # the five slider writes, not the service's own writes


def test_every_widget_of_the_shown_dashboards_has_data(field):
    points = widget_points(field["page"])
    expected = sum(len(d["configuration"]["widgets"]) for k, d in bundled_dashboards().items() if k in SHOWN)
    assert len(points) == expected
    empty = [(fqn, wid) for fqn, wid, n in points if n == 0]
    assert empty == []


def test_preview_numbers_match_the_data(field):
    page = field["page"]
    # Nodal card: 5 IPR + 5 VLP points and the operating point.
    assert 'data-points="11"><h3>Nodal analysis' in page
    # Production chart on the ESP detail: 36 points each of liquid, oil and gas rate in the last 24 h.
    assert 'data-points="108"><h3>Production</h3>' in page
    # DCA chart: 36 history points plus 59 daily points of each of the three forecasts, inside 2026.
    assert 'data-points="213"><h3>Decline' in page
    # Projection chart: 36 history points, 11 projected hours ending before midnight (CURRENT_DAY).
    assert 'data-points="47"><h3>Liquid rate: history and 12-hour projection' in page
    # The service's alarm and the anomaly type in the overview table.
    assert ">MAJOR<" in page and ">Atilax: gas_lock<" in page and ">gas_interference<" in page


def test_time_windows_follow_thingsboard():
    day = {"realtime": {"realtimeType": 1, "quickInterval": "CURRENT_DAY"}}
    assert time_window(day, NOW) == (NOW - 12 * HOUR, NOW + 12 * HOUR)
    last = {"realtime": {"realtimeType": 0, "timewindowMs": 3 * HOUR}}
    assert time_window(last, NOW) == (NOW - 3 * HOUR, NOW)
    year = time_window({"realtime": {"realtimeType": 1, "quickInterval": "CURRENT_YEAR"}}, NOW)
    assert (year[1] - year[0]) == 365 * 24 * HOUR


def test_xy_series_reads_pairs_objects_and_the_operating_point():
    series = xy_series([("card", {"position_in": [0, 100, 0], "load_lbf": [5000, 9000, 5000]}),
                        ("ipr", [[0, 3000], [100, 2000]]), ("q", 60.0), ("pwf", 2400.0), ("flag", True)])
    assert series == [("card", [0.0, 100.0, 0.0], [5000.0, 9000.0, 5000.0]), ("ipr", [0.0, 100.0], [3000.0, 2000.0]),
                      ("operating point", [60.0], [2400.0])]


def test_headless_chromium_renders_every_widget(field, tmp_path):
    from tb_bridge.preview.browser import BrowserError, chromium_path, rendered_dom, screenshot

    try:
        chromium_path()
    except BrowserError:
        if os.environ.get("CI"):  # .ci/run installs chromium: in CI its absence is a failure
            pytest.fail("Debian chromium is not installed (apt-get install -y chromium)")
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    html_path = tmp_path / "preview.html"
    html_path.write_text(field["page"], encoding="utf-8")
    dom = rendered_dom(html_path)
    sections = re.findall(r'<section class="([^"]+)"[^>]*data-fqn="([^"]+)"[^>]*>(.*?)</section>', dom, re.S)
    assert len(sections) == len(widget_points(field["page"]))
    for cls, fqn, body in sections:
        assert "empty" not in cls
        if fqn in ("system.time_series_chart", "system.cards.markdown_card"):
            # plotly drew an SVG with at least one trace path (a markdown card of table rows draws the table)
            drawn = 'class="main-svg"' in body and re.search(r'class="(?:js-line|point)"', body)
            assert drawn or (fqn == "system.cards.markdown_card" and "<table>" in body and "<td>" in body), fqn
    png = screenshot(html_path, tmp_path / "preview.png", width=1400, height=3000)
    import matplotlib.image as mpimg

    image = mpimg.imread(png)[..., :3]
    background = np.array([0xEE, 0xEE, 0xEE]) / 255.0
    painted = np.any(np.abs(image - background) > 0.02, axis=-1)
    assert painted.mean() > 0.3  # widgets cover the page, not a blank grey canvas
    white = np.all(image > 0.99, axis=-1)
    assert 0.1 < white.mean() < 0.95  # white widget cards with drawn content


def test_preview_command_writes_the_page(field, tmp_path, capsys):
    import argparse

    from tb_bridge.cli.io import CliInputError
    from tb_bridge.cli.preview_cmd import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "overview.html"
    base = ["preview", "--url", field["url"], "--username", TENANT_ADMIN_EMAIL, "--password", TENANT_ADMIN_PASSWORD,
            "--now-ms", str(NOW)]
    args = parser.parse_args([*base, "--out", str(out), "--dashboard", "field_overview"])
    assert args.func(args) == 0 and capsys.readouterr().out.strip() == str(out)
    page = out.read_text(encoding="utf-8")
    assert page.count('class="widget"') == len(bundled_dashboards()["field_overview"]["configuration"]["widgets"])
    assert 'data-dashboard="well_detail_esp"' not in page
    args = parser.parse_args([*base, "--out", str(out), "--dashboard", "no_such"])
    with pytest.raises(CliInputError, match="unknown dashboard"):
        args.func(args)
