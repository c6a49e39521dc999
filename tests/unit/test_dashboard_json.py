"""The bundled dashboards checked against ThingsBoard's widget types and our key contract.

Widget FQNs and their widget types are data copied from thingsboard/thingsboard (master, 2026),
``application/src/main/data/json/system/widget_types/<file>.json`` (``fqn`` and ``descriptor.type``);
the export layout follows ``application/src/main/data/json/demo/dashboards/thermostats.json``; the slider's
``valueChange`` settings follow ``ui-ngx/src/app/modules/home/components/widget/lib/rpc/slider-widget.models.ts``
and ``ui-ngx/src/app/shared/models/action-widget-settings.models.ts`` (SetValueAction.SET_ATTRIBUTE);
alarm data-key names ``ui-ngx/src/app/shared/models/alarm.models.ts`` (alarmFields); quick intervals
``ui-ngx/src/app/shared/models/time/time.models.ts`` (QuickTimeInterval).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engines.ml.lstm_ae import torch_available
from tb_bridge.writeback.keys import INPUT_PREFIXES, spec_for

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))

WIDGET_TYPES = {  # fqn -> descriptor.type (file)
    "system.time_series_chart": "timeseries",                   # time_series_chart.json
    "system.cards.value_card": "latest",                        # value_card.json
    "system.cards.attributes_card": "latest",                   # attributes_card.json
    "system.cards.entities_table": "latest",                    # entities_table.json
    "system.cards.markdown_card": "latest",                     # markdown_html_card.json
    "system.alarm_widgets.alarms_table": "alarm",               # alarms_table.json
    "system.slider": "rpc",                                     # slider.json
    "system.command_button": "rpc",                             # command_button.json
    "system.input_widgets.update_multiple_attributes": "latest",  # update_multiple_attributes.json
}
ALARM_FIELDS = {"createdTime", "startTime", "endTime", "ackTime", "clearTime", "assignTime", "originator",
                "originatorDisplayName", "originatorLabel", "originatorType", "type", "severity", "status",
                "assignee", "details"}
ENTITY_FIELDS = {"name", "type", "label", "createdTime"}
# Telemetry contract (shared context of the project): common and per lift type.
COMMON_TS = {"flow_rate_bpd", "oil_rate_bpd", "water_cut_frac", "gas_rate_mscfd", "tubing_pressure_psi",
             "casing_pressure_psi", "wellhead_temperature_f"}
LIFT_TS = {
    "ESP": {"frequency_hz", "motor_current_a", "motor_voltage_v", "motor_temperature_f", "intake_pressure_psi",
            "discharge_pressure_psi", "intake_temperature_f", "vibration_g", "motor_power_kw"},
    "SRP": {"spm", "pump_fillage_pct", "polished_rod_load_max_lbf", "polished_rod_load_min_lbf", "motor_power_kw",
            "surface_card", "pump_intake_pressure_psi"},
    "PCP": {"rpm", "torque_ftlbf", "motor_power_kw", "motor_current_a", "intake_pressure_psi", "motor_temperature_f"},
    "GasLift": {"injection_rate_mscfd", "injection_pressure_psi", "casing_pressure_psi", "tubing_pressure_psi",
                "separator_level_pct"},
    "NaturalFlow": {"downhole_pressure_psi", "downhole_temperature_f", "tubing_pressure_psi", "wellhead_temperature_f",
                    "choke_upstream_pressure_psi", "choke_downstream_pressure_psi"},
}
LIFTS = set(LIFT_TS)
FUTURE_QUICK_INTERVALS = {"CURRENT_DAY", "CURRENT_WEEK", "CURRENT_WEEK_ISO", "CURRENT_MONTH", "CURRENT_QUARTER",
                          "CURRENT_HALF_YEAR", "CURRENT_YEAR"}  # the *_SO_FAR variants end now


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _widgets(path):
    return _load(path)["configuration"]["widgets"]


def _datasources(widget):
    cfg = widget["config"]
    return list(cfg.get("datasources") or []) + ([cfg["alarmSource"]] if "alarmSource" in cfg else [])


def _lifts_of(path):
    aliases = _load(path)["configuration"]["entityAliases"].values()
    return {t for a in aliases for t in a["filter"].get("deviceTypes", [])}


def test_the_bundle_has_every_dashboard_the_issue_asks_for():
    assert {p.stem for p in DASHBOARDS} == {"field_overview", "simulation", "field_development", "well_detail_esp",
                                            "well_detail_srp", "well_detail_pcp", "well_detail_gaslift",
                                            "well_detail_naturalflow"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_export_layout_and_grid(path):
    d = _load(path)
    assert d["title"].startswith("Atilax ")
    cfg = d["configuration"]
    assert {"description", "widgets", "states", "entityAliases", "filters", "timewindow", "settings"} <= set(cfg)
    state = cfg["states"]["default"]
    assert state["root"] is True
    layout = state["layouts"]["main"]["widgets"]
    columns = state["layouts"]["main"]["gridSettings"]["columns"]
    assert set(layout) == set(cfg["widgets"])
    cells = set()
    for wid, place in layout.items():
        w = cfg["widgets"][wid]
        assert w["id"] == wid and (place["sizeX"], place["sizeY"]) == (w["sizeX"], w["sizeY"])
        assert 0 <= place["col"] and place["col"] + place["sizeX"] <= columns
        area = {(place["row"] + r, place["col"] + c) for r in range(place["sizeY"]) for c in range(place["sizeX"])}
        assert not area & cells, f"{w['config']['title']} overlaps another widget"
        cells |= area


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_widget_fqns_exist_with_their_thingsboard_type(path):
    for w in _widgets(path).values():
        assert w["typeFullFqn"] in WIDGET_TYPES, w["typeFullFqn"]
        assert w["type"] == WIDGET_TYPES[w["typeFullFqn"]], w["config"]["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_entity_aliases_resolve_by_profile(path):
    cfg = _load(path)["configuration"]
    aliases = cfg["entityAliases"]
    for aid, alias in aliases.items():
        assert alias["id"] == aid
        f = alias["filter"]
        assert f["type"] in ("deviceType", "assetType")
        if f["type"] == "deviceType":
            assert f["deviceTypes"] and set(f["deviceTypes"]) <= LIFTS
    for w in cfg["widgets"].values():
        for ds in _datasources(w):
            assert ds["type"] == "entity" and ds["entityAliasId"] in aliases, w["config"]["title"]
        if w["type"] == "rpc":  # control widgets address one device (widget.models.ts TargetDevice)
            target = w["config"]["targetDevice"]
            assert target["type"] == "entity" and target["entityAliasId"] in aliases


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_data_key_is_a_telemetry_key_or_in_the_writeback_table(path):
    lifts = _lifts_of(path)
    allowed_ts = COMMON_TS.union(*(LIFT_TS[l] for l in lifts)) if lifts else set()
    for w in _widgets(path).values():
        for ds in _datasources(w):
            for key in ds["dataKeys"]:
                name, kind = key["name"], key["type"]
                where = f"{path.stem}/{w['config']['title']}/{name}"
                if kind == "alarm":
                    assert name in ALARM_FIELDS, where
                elif kind == "entityField":
                    assert name in ENTITY_FIELDS, where
                elif name.startswith(INPUT_PREFIXES):
                    assert kind == "attribute", where
                elif name.startswith(("opt_", "sim_")):
                    spec = spec_for(name)
                    assert spec is not None, f"{where} is not in tb_bridge/writeback/keys.py"
                    assert spec.kind in (kind, "both"), f"{where}: written as {spec.kind}, read as {kind}"
                else:
                    assert kind == "timeseries" and name in allowed_ts, where


#: ThingsBoard device profile (dashboard alias ``deviceTypes``) -> our lift type.
LIFT_OF_PROFILE = {"ESP": "esp", "SRP": "srp", "PCP": "pcp", "GasLift": "gas_lift", "NaturalFlow": "natural_flow"}


def _charted(path, alias_type="deviceType"):
    """{(chart title, key)} of the service's keys (``opt_*``) that the dashboard's time-series charts draw for the
    entities of one kind of alias: ``deviceType`` (wells) or ``assetType`` (the field asset)."""
    aliases = _load(path)["configuration"]["entityAliases"]
    return {(w["config"]["title"], k["name"]) for w in _widgets(path).values() if w["type"] == "timeseries"
            for ds in _datasources(w) if aliases[ds["entityAliasId"]]["filter"]["type"] == alias_type
            for k in ds["dataKeys"] if k["type"] == "timeseries" and k["name"].startswith("opt_")}


@pytest.fixture(scope="module")
def tier_timeseries(tmp_path_factory):
    """What the service writes when every tier runs once (at the last sample) over one synthetic well of each lift
    type with a day and a sample of buffered telemetry, each well with an LSTM autoencoder trained on that day (one
    epoch; when PyTorch is installed) and scored at every tick: ``{lift type: {key: [(ts, value), ...]}}`` of the
    time series, ``{lift type: latest attributes}`` and the tier time."""
    from engines.fielddata import LIFT_TYPES, SyntheticField
    from tb_bridge.buffer.memory import MemoryBuffer
    from tb_bridge.config import load_settings
    from tb_bridge.handlers.base import TIERS
    from tb_bridge.handlers.ml_steps import train_well
    from tb_bridge.service import Service
    from tests.doubles import RecordingWriteback

    from engines.fielddata.downhole import make_recording

    field = SyntheticField(1, seed=4)
    n = 289
    arrays = {lift: field.arrays(lift, n) for lift in LIFT_TYPES}
    # one naturally flowing well with a downhole gauge (engines.fielddata.downhole; not a SyntheticField lift type)
    natural = make_recording(None, days=n * 300 / 86400, step_s=300, artifacts=False, seed=4).values
    natural_attrs = {"lift_type": "natural_flow", "reservoir_pressure_psi": 4580, "bubble_point_psi": 2000,
                     "perforation_depth_ft": 12000, "productivity_index_bpd_psi": 8}
    writeback = RecordingWriteback()
    tmp = tmp_path_factory.mktemp("tiers")
    settings = load_settings(database_url=f"sqlite:///{tmp}/h.db",
                             ml={"model_dir": str(tmp / "models"), "lstm_ae_score_every_ticks": 1})
    service = Service(settings, writeback, buffer=MemoryBuffer())
    at = lambda t: field.start_ms + t * field.step_s * 1000  # noqa: E731
    try:
        for w in field.wells:
            service.registry.update(w.name, w.attributes, name=w.name)
        service.registry.update("NF-01", natural_attrs, name="NF-01")
        for t in range(n):
            service.buffer.append_many((w.name, at(t), {k: float(v[w.index, t]) for k, v in arrays[w.lift_type].items()})
                                       for w in field.wells)
            service.buffer.append("NF-01", at(t), {k: float(v[t]) for k, v in natural.items()})
        if torch_available():
            for config in service.registry.valid_wells():
                train_well(service._well_context("monthly", config, at(n - 1)), service.model_store, epochs=1)
        for tier in TIERS:
            service.run_tier(tier, at(n - 1))
    finally:
        service.close()
    lift_of = {w.name: w.lift_type for w in field.wells} | {"NF-01": "natural_flow"}
    series: dict[str, dict[str, list]] = {lift: {} for lift in lift_of.values()}
    for entity_id, points in writeback.timeseries:
        for ts, values in points:
            for key, value in values.items():
                series[lift_of[entity_id]].setdefault(key, []).append((ts, value))
    return series, {lift: writeback.latest[name] for name, lift in lift_of.items()}, at(n - 1)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_charted_key_is_written_as_a_time_series_by_the_tiers(path, tier_timeseries):
    """A chart draws a key's time series: the tiers must write one for every well the dashboard shows (a key
    written only as an attribute leaves the chart empty). Keys charted as history get one point per run, at the
    tier's time, equal to the attribute written beside it; the decline forecast is future-stamped."""
    series, latest, now_ms = tier_timeseries
    lifts = sorted(LIFT_OF_PROFILE[t] for t in _lifts_of(path))
    for title, key in sorted(_charted(path)):
        for lift in lifts:
            if key.startswith("opt_ml_forecast"):  # needs ~150 days of history: test_ml_forecast_service.py
                continue
            if key.startswith("opt_lstm_ae") and not torch_available():  # no model to score: CI installs PyTorch
                continue
            assert series[lift].get(key), f"{path.stem}/{title}/{key}: no {lift} tier writes it as a time series"
            if key.startswith("opt_dca_forecast"):
                assert all(ts > now_ms for ts, _ in series[lift][key])
            else:
                assert series[lift][key] == [(now_ms, latest[lift][key])], f"{path.stem}/{title}/{key} ({lift})"


def test_the_charts_of_the_service_keys_are_the_ones_the_issue_names():
    """Not vacuous: the health, anomaly, SPC, Pwf-history and decline charts all draw service keys."""
    charted = {key for path in DASHBOARDS for _, key in _charted(path)}
    assert {"opt_well_health_score", "opt_anomaly_score", "opt_spc_t2", "opt_spc_spe", "opt_nodal_pwf_psi",
            "opt_dca_forecast_bpd", "opt_dca_forecast_p10_bpd", "opt_dca_forecast_p90_bpd"} <= charted


@pytest.mark.parametrize("stem", ["well_detail_esp", "well_detail_srp", "well_detail_pcp", "well_detail_gaslift",
                                  "well_detail_naturalflow"])
def test_every_well_detail_dashboard_charts_the_lstm_ae_score(stem):
    """Issue 22: 1. The LSTM autoencoder's score (its threshold is 1: the score is the error over the threshold) is
    charted alone on every well-detail dashboard."""
    path = ROOT / "dashboards" / f"{stem}.json"
    charts = {t: {k for title, k in _charted(path) if title == t} for t, _ in _charted(path)}
    assert charts["LSTM autoencoder anomaly score (threshold 1)"] == {"opt_lstm_ae_anomaly_score"}


def test_overview_covers_health_setpoints_production_anomalies_and_alarms():
    widgets = _widgets(ROOT / "dashboards" / "field_overview.json").values()
    table = next(w for w in widgets if w["typeFullFqn"] == "system.cards.entities_table")
    names = {k["name"] for k in table["config"]["datasources"][0]["dataKeys"]}
    assert {"type", "opt_well_health_score", "opt_health_status", "flow_rate_bpd", "opt_anomaly_detected"} <= names
    for current, recommended in [("frequency_hz", "opt_esp_freq_recommended_hz"), ("spm", "opt_srp_spm_recommended"),
                                 ("rpm", "opt_pcp_rpm_recommended"),
                                 ("injection_rate_mscfd", "opt_gl_injection_recommended_mscfd")]:
        assert {current, recommended} <= names
    assert any(w["typeFullFqn"] == "system.alarm_widgets.alarms_table" for w in widgets)
    alias = _load(ROOT / "dashboards" / "field_overview.json")["configuration"]["entityAliases"]
    assert [(a["filter"]["type"], a["filter"]["resolveMultiple"]) for a in alias.values()] == [("deviceType", True),
                                                                                            ("assetType", False)]
    assert list(alias.values())[1]["filter"]["assetTypes"] == ["Field"]  # the field asset (field_asset_id)


def test_overview_shows_the_weekly_review_and_the_monthly_model_audit():
    """Issue 18 (3): a KPI card row, the alarm-KPI table, the trends and the model-audit table, read from the field
    asset; the wells' weekly review in a table."""
    cfg = _load(ROOT / "dashboards" / "field_overview.json")["configuration"]
    field_alias = next(a["id"] for a in cfg["entityAliases"].values() if a["filter"]["type"] == "assetType")
    widgets = list(cfg["widgets"].values())
    layout = cfg["states"]["default"]["layouts"]["main"]["widgets"]
    cards = [w for w in widgets if w["typeFullFqn"] == "system.cards.value_card"]
    card_keys = [w["config"]["datasources"][0]["dataKeys"][0]["name"] for w in cards]
    assert card_keys == ["opt_field_oil_bpd", "opt_field_water_bpd", "opt_field_gas_mscfd", "opt_field_uptime_pct",
                         "opt_field_kwh_per_bbl", "opt_field_oil_trend_bpd_per_day", "opt_field_health_trend_per_day",
                         "opt_field_alarms_per_hour"]
    assert len({layout[w["id"]]["row"] for w in cards}) == 1  # one row
    assert all(w["config"]["datasources"][0]["entityAliasId"] == field_alias for w in cards)
    tables = {w["config"]["datasources"][0]["dataKeys"][0]["name"]: w for w in widgets
              if w["typeFullFqn"] == "system.cards.markdown_card"}
    assert set(tables) == {"opt_field_alarm_kpi", "opt_field_model_audit"}
    assert _charted(ROOT / "dashboards" / "field_overview.json", "assetType") == {
        ("Field oil rate per day and per week (bbl/d)", "opt_field_daily_oil_bpd"),
        ("Field oil rate per day and per week (bbl/d)", "opt_field_oil_bpd"),
        ("Mean health score per day and field uptime per week", "opt_field_daily_health"),
        ("Mean health score per day and field uptime per week", "opt_field_uptime_pct")}
    review = next(w for w in widgets if w["config"]["title"] == "Weekly review by well")
    assert {"opt_weekly_alarm_count", "opt_weekly_alarm_hours", "opt_weekly_anomaly_hours", "opt_weekly_uptime_pct",
            "opt_weekly_oil_trend_bpd_per_day", "opt_weekly_health_trend_per_day"} <= {
        k["name"] for k in review["config"]["datasources"][0]["dataKeys"]}


def _markdown(title_start):
    import quickjs

    card = next(w for w in _widgets(ROOT / "dashboards" / "field_overview.json").values()
                if w["config"]["title"].startswith(title_start))
    ctx = quickjs.Context()
    ctx.eval("function markdown(data, ctx) {\n" + card["config"]["settings"]["markdownTextFunction"] + "\n}")
    return card["config"]["datasources"][0]["dataKeys"][0]["label"], ctx


def test_alarm_kpi_table_shows_each_kpi_against_its_eemua_target():
    """The alarm-KPI card in QuickJS on the JSON the weekly field review writes (alarm_kpis of a hand-built week: 13
    alarms of one chattering tag inside one 10-minute period that never returns, and one alarm standing for two
    days)."""
    import dataclasses

    from engines.alarms.kpi import TARGETS, alarm_kpis

    start = 1_764_000_000.0
    ts = [start + 100.0 + 10.0 * i for i in range(13)] + [start + 3600.0, start + 3600.0 + 2 * 86_400.0]
    tags = ["W-1/gas_lock"] * 13 + ["W-2/pump_wear"] * 2
    events = ["ACTIVE"] * 13 + ["ACTIVE", "RTN"]
    kpi = alarm_kpis(ts, tags, events, start, start + 7 * 86_400.0, 2)
    doc = {**dataclasses.asdict(kpi), "operators": 2, "targets": TARGETS, "period": [int(start * 1000), int(start * 1000) + 7 * 86_400_000]}
    label, ctx = _markdown("Alarm KPIs")
    html = ctx.eval(f"markdown([{{{json.dumps(label)}: {json.dumps(json.dumps(doc))}}}])")  # JSON attributes arrive as text
    cells = {m[0]: m[1:] for m in re.findall(r"<tr><td>([^<]+)</td><td align=\"right\">([^<]+)</td>"
                                               r"<td align=\"right\">([^<]*)</td><td align=\"right\" style=\"color:#[0-9a-f]+\">([^<]*)</td></tr>", html)}
    per10 = 14 / (7 * 144) / 2
    assert cells["Alarms raised"] == ("14", "", "")
    assert cells["Alarms / operator / 10 min"] == (f"{per10:.2f}", "&le; 1 (max 2)", "ok")
    assert cells["Alarms / operator / hour"] == (f"{per10 * 6:.2f}", "&le; 6 (max 12)", "ok")
    assert cells["Peak alarms in 10 min"] == ("13", "&le; 10 (a flood above)", "over")
    assert cells["Time in flood (%)"] == (f"{100 / (7 * 144):.2f}", "&lt; 1", "ok")
    assert cells["Top-10 bad actors share (%)"] == ("100.0", "&lt; 5", "over")
    assert cells["Chattering alarms"] == ("1", "0", "over")
    assert cells["Stale alarms (&gt; 24 h)"] == ("2", "&lt; 5", "ok")  # neither returned within 24 h
    assert "<td>W-1/gas_lock</td><td align=\"right\">13</td><td align=\"right\">92.9 %</td>" in html
    assert "2025-11-24 16:00 to 2025-12-01 16:00 UTC, 2 operator(s)" in html
    assert ctx.eval("markdown([{}])").startswith("<div>No alarm KPIs yet")


def test_model_audit_table_lists_the_models_by_drift_and_flags_the_drifted():
    label, ctx = _markdown("Model audit")
    rows = [{"entity": "ESP-01", "model": "baseline", "age_days": 31.03125, "window_days": 30.0, "samples": 8640,
             "source": "ThingsBoard history", "max_abs_drift": 0.42, "max_drift_input": "motor_current_a", "drifted": False},
            {"entity": "esp wells", "model": "isolation_forest", "age_days": 0.03, "window_days": 1.0, "samples": 32,
             "source": "buffer", "max_abs_drift": 4.5, "max_drift_input": "vibration_g", "drifted": True},
            {"entity": "GL-<1>", "model": "decline", "age_days": None, "window_days": None, "samples": None,
             "source": None, "max_abs_drift": None, "max_drift_input": None, "drifted": False}]
    html = ctx.eval(f"markdown([{{{json.dumps(label)}: {json.dumps(rows)}}}])")
    body = re.findall(r"<tr( style=\"[^\"]+\")?><td>(.*?)</td><td>(.*?)</td><td align=\"right\">(.*?)</td>"
                      r"<td align=\"right\">(.*?)</td><td align=\"right\">(.*?)</td><td>(.*?)</td>"
                      r"<td align=\"right\">(.*?)</td><td>(.*?)</td></tr>", html)
    assert [r[1:] for r in body] == [
        ("esp wells", "isolation_forest", "0.0", "1.0", "32", "buffer", "4.50", "vibration_g"),
        ("ESP-01", "baseline", "31.0", "30.0", "8640", "ThingsBoard history", "0.42", "motor_current_a"),
        ("GL-&lt;1&gt;", "decline", "-", "-", "-", "-", "-", "-")]
    assert [bool(r[0]) for r in body] == [True, False, False]  # only the drifted row is flagged
    assert ctx.eval("markdown([{}])").startswith("<div>No model audit yet")


@pytest.mark.parametrize("lift, stem, panel_key", [("ESP", "well_detail_esp", "opt_esp_bep_distance_pct"),
                                                   ("SRP", "well_detail_srp", "opt_srp_downhole_card"),
                                                   ("PCP", "well_detail_pcp", "opt_pcp_elastomer_life_days"),
                                                   ("GasLift", "well_detail_gaslift", "opt_lift_curve")])
def test_well_detail_has_nodal_dca_health_anomaly_and_lift_panels(lift, stem, panel_key):
    path = ROOT / "dashboards" / f"{stem}.json"
    assert _lifts_of(path) == {lift}
    keys = {k["name"] for w in _widgets(path).values() for ds in _datasources(w) for k in ds["dataKeys"]}
    assert {"opt_nodal_ipr_curve", "opt_nodal_vlp_curve", "opt_nodal_q_bpd", "opt_nodal_pwf_psi",
            "opt_dca_forecast_bpd", "opt_dca_forecast_p10_bpd", "opt_dca_forecast_p90_bpd", "opt_health_components",
            "opt_anomaly_score", panel_key} <= keys
    assert LIFT_TS[lift] & keys


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_charts_of_future_values_use_a_window_that_ends_in_the_future(path):
    future = re.compile(r"^(opt_dca_forecast|sim_q_|sim_pwf_|opt_placement_oil_rate)")
    for w in _widgets(path).values():
        keys = [k["name"] for ds in _datasources(w) for k in ds["dataKeys"]]
        if w["type"] == "timeseries" and any(future.match(k) for k in keys):
            tw = w["config"]["timewindow"]
            assert w["config"]["useDashboardTimewindow"] is False
            assert tw["realtime"]["realtimeType"] == 1 and tw["realtime"]["quickInterval"] in FUTURE_QUICK_INTERVALS


def test_simulation_sliders_write_sim_param_server_attributes_and_the_table_shows_originals():
    from tb_bridge.adapters.whatif import SETPOINT_PARAMETER, SIM_PARAMETERS
    from tb_bridge.writeback.keys import SIM_PROJECTION_KEYS

    widgets = _widgets(ROOT / "dashboards" / "simulation.json").values()
    sliders = [w for w in widgets if w["typeFullFqn"] == "system.slider"]
    params = set()
    for s in sliders:
        change = s["config"]["settings"]["valueChange"]
        assert change["action"] == "SET_ATTRIBUTE" and change["setAttribute"]["scope"] == "SERVER_SCOPE"
        key = change["setAttribute"]["key"]
        assert key.startswith("sim_param_")
        assert s["config"]["settings"]["initialState"]["getAttribute"]["key"] == key
        params.add(key[len("sim_param_"):])
        lo, hi = s["config"]["settings"]["tickMin"], s["config"]["settings"]["tickMax"]
        spec = SIM_PARAMETERS[key[len("sim_param_"):]]
        assert spec.low <= lo < hi <= spec.high, key  # a slider never asks for a value the service refuses
    assert params == set(SIM_PARAMETERS)  # every lift type's setpoint and the six well parameters
    for lift_type, setpoint in SETPOINT_PARAMETER.items():  # a setpoint slider moves only on its lift type
        (s,) = [s for s in sliders if s["config"]["settings"]["valueChange"]["setAttribute"]["key"] == f"sim_param_{setpoint}"]
        disabled = s["config"]["settings"]["disabledState"]
        assert disabled["getAttribute"]["key"] == "lift_type" and f"'{lift_type}'" in disabled["dataToValue"]["dataToValueFunction"]
    table_keys = {k["name"] for w in widgets if w["typeFullFqn"] == "system.cards.attributes_card"
                  for ds in _datasources(w) for k in ds["dataKeys"]}
    assert {f"sim_original_{p}" for p in params} <= table_keys
    assert {f"sim_param_{p}" for p in params} <= table_keys
    latest = {k["name"] for w in widgets for ds in _datasources(w) for k in ds["dataKeys"] if k["type"] == "attribute"}
    assert {"sim_compare_data", "sim_compare_warnings", "sim_compare_production_delta_bpd", "sim_compare_production_delta_pct",
            "sim_compare_efficiency_delta_pct", "sim_opt_production_bpd", "sim_opt_recommended_action",
            "sim_opt_ipr_curve", "sim_opt_vlp_curve"} <= latest
    charts = [w for w in widgets if w["type"] == "timeseries"]
    charted = {k["name"] for w in charts for k in w["config"]["datasources"][0]["dataKeys"]}
    assert {k for keys in SIM_PROJECTION_KEYS.values() for k in keys} <= charted
    pairs = {tuple(sorted(k["name"] for k in w["config"]["datasources"][0]["dataKeys"])) for w in charts}
    assert ("flow_rate_bpd", "sim_flow_rate_bpd") in pairs  # history continues into the projection on one chart


def test_simulation_has_a_close_button_and_a_reset_button_per_parameter():
    from tb_bridge.adapters.whatif import SIM_PARAMETERS
    from tb_bridge.sessions import CONTROL_CLOSE, CONTROL_RESET, SIM_PARAM_PREFIX

    buttons = [w for w in _widgets(ROOT / "dashboards" / "simulation.json").values()
               if w["typeFullFqn"] == "system.command_button"]
    clicks = [w["config"]["settings"]["onClickState"] for w in buttons]
    assert all(c["action"] == "SET_ATTRIBUTE" and c["setAttribute"]["scope"] == "SERVER_SCOPE"
               and c["valueToData"]["type"] == "CONSTANT" for c in clicks)
    resets = sorted(c["valueToData"]["constantValue"] for c in clicks if c["setAttribute"]["key"] == SIM_PARAM_PREFIX + CONTROL_RESET)
    assert resets == sorted(SIM_PARAMETERS)
    assert [c["valueToData"]["constantValue"] for c in clicks
            if c["setAttribute"]["key"] == SIM_PARAM_PREFIX + CONTROL_CLOSE] == [True]
    for w in buttons:  # usable only while a session is open
        assert w["config"]["settings"]["disabledState"]["getAttribute"]["key"] == "sim_active"


def test_sliders_target_a_single_well():
    cfg = _load(ROOT / "dashboards" / "simulation.json")["configuration"]
    for w in cfg["widgets"].values():
        if w["typeFullFqn"] == "system.slider":
            alias = cfg["entityAliases"][w["config"]["targetDevice"]["entityAliasId"]]
            assert alias["filter"]["resolveMultiple"] is False


def test_curve_cards_draw_json_curves_and_the_operating_point_in_javascript():
    """The markdown cards' function (ThingsBoard runs it in the browser with ``data[0]`` keyed by data-key
    label) run in QuickJS: IPR and VLP become polylines scaled into the SVG box, the two scalars one point."""
    import quickjs

    widgets = _widgets(ROOT / "dashboards" / "well_detail_esp.json").values()
    nodal = next(w for w in widgets if w["config"]["title"].startswith("Nodal analysis"))
    settings = nodal["config"]["settings"]
    assert settings["useMarkdownTextFunction"] is True
    ctx = quickjs.Context()
    ctx.eval("function markdown(data, ctx) {\n" + settings["markdownTextFunction"] + "\n}")
    row = {"entityName": "W-1", "$datasource": {"dataKeys": [1], "latestDataKeys": [2]},
           "IPR": "[[0,3000],[2000,600]]", "VLP": [[0, 600], [2000, 1800]], "q op": 1312.5, "Pwf op": "1425"}
    svg = ctx.eval(f"markdown([{json.dumps(row)}])")
    lines = re.findall(r'<polyline[^>]*points="([^"]+)"', svg)
    assert len(lines) == 2 and svg.count("<circle") == 1
    # x spans 0..2000 -> 30..390 px, y spans 600..3000 -> 220..10 px (W=400, H=240 in the function).
    assert lines[0] == "30,10 390,220" and lines[1] == "30,220 390,115"
    cx, cy = map(float, re.search(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg).groups())
    assert cx == pytest.approx(30 + 360 * 1312.5 / 2000) and cy == pytest.approx(220 - 210 * (1425 - 600) / 2400)
    assert ctx.eval("markdown([{entityName: 'W-1'}])") == "<div>No curve data yet</div>"


def test_placement_map_draws_the_permeability_field_and_one_marker_per_producer():
    """The field-development map (ThingsBoard runs the function in the browser) in QuickJS: one cell per kx value
    coloured on a log scale (max/min > 10) from rgb(255,247,188) to rgb(8,48,107), producers at cell centres."""
    import quickjs

    widgets = _widgets(ROOT / "dashboards" / "field_development.json").values()
    card = next(w for w in widgets if w["config"]["title"].startswith("Well placement"))
    keys = card["config"]["datasources"][0]["dataKeys"]
    assert [k["name"] for k in keys] == ["opt_placement_permeability_md", "opt_placement_cells", "opt_placement_grid"]
    label = {k["name"]: k["label"] for k in keys}
    ctx = quickjs.Context()
    ctx.eval("function markdown(data, ctx) {\n" + card["config"]["settings"]["markdownTextFunction"] + "\n}")
    widget_ctx = json.dumps({"datasources": [{"dataKeys": keys}]})
    row = {label["opt_placement_permeability_md"]: "[[10,20,30],[40,50,1000]]",  # as ThingsBoard hands JSON attributes
           label["opt_placement_cells"]: [[1, 2], [0, 0]],
           label["opt_placement_grid"]: {"nx": 3, "ny": 2, "nz": 1, "layer": 0, "dx_ft": 100, "dy_ft": 100}}
    svg = ctx.eval(f"markdown([{json.dumps(row)}], {widget_ctx})")
    fills = re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="120" height="120" fill="([^"]+)"', svg)
    # cell size = min((400 - 40) / 3, (400 - 50) / 2) = 120 px; row j at y = 10 + 120 j, column i at x = 30 + 120 i
    assert [(float(x), float(y)) for x, y, _ in fills] == [(30 + 120 * i, 10 + 120 * j) for j in range(2) for i in range(3)]
    # f = ln(k / 10) / ln(100): 10 -> 0, 20 -> 0.1505, 1000 -> 1
    assert [f for _x, _y, f in fills][:2] == ["rgb(255,247,188)", "rgb(218,217,176)"] and fills[-1][2] == "rgb(8,48,107)"
    circles = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
    assert [(float(x), float(y)) for x, y in circles] == [(30 + 2.5 * 120, 10 + 1.5 * 120), (30 + 0.5 * 120, 10 + 0.5 * 120)]
    assert "kx 10 to 1000 md (log colour scale)" in svg and "cells 100 x 100 ft, layer 0" in svg
    assert ctx.eval(f"markdown([{{}}], {widget_ctx})").startswith("<div>No permeability map yet")


def test_convergence_card_draws_the_best_npv_against_the_generation():
    import quickjs

    from tb_bridge.preview.render import xy_series

    widgets = _widgets(ROOT / "dashboards" / "field_development.json").values()
    card = next(w for w in widgets if w["config"]["title"].startswith("Optimizer convergence"))
    key = card["config"]["datasources"][0]["dataKeys"][0]
    assert key["name"] == "opt_placement_convergence"
    ctx = quickjs.Context()
    ctx.eval("function markdown(data, ctx) {\n" + card["config"]["settings"]["markdownTextFunction"] + "\n}")
    svg = ctx.eval(f"markdown([{{'{key['label']}': '[10.0, 12.5, 12.5, 15.0]'}}], {{datasources: []}})")
    (line,) = re.findall(r'<polyline[^>]*points="([^"]+)"', svg)
    # generations 0..3 -> x 30..390 px; NPV 10..15 M$ -> y 220..10 px (W=400, H=240 in the function)
    assert line == "30,220 150,115 270,115 390,10"
    assert xy_series([("npv", [10.0, 12.5, 12.5, 15.0])]) == [("npv", [0.0, 1.0, 2.0, 3.0], [10.0, 12.5, 12.5, 15.0])]


def test_production_profile_card_draws_the_whole_planned_profile():
    """No ThingsBoard time window reaches 24 months ahead (quick intervals end at most at the end of the current
    year, ui-ngx time.models.ts calculateIntervalEndTime), so the profile is drawn from the opt_placement_profile
    attribute against days from the run start: every report step shows, whatever the date."""
    import quickjs

    from tb_bridge.preview.render import xy_series

    widgets = _widgets(ROOT / "dashboards" / "field_development.json").values()
    card = next(w for w in widgets if w["config"]["title"].startswith("Production profile of the best plan"))
    assert card["typeFullFqn"] == "system.cards.markdown_card"
    (key,) = card["config"]["datasources"][0]["dataKeys"]
    assert (key["name"], key["type"]) == ("opt_placement_profile", "attribute")
    profile = [[30.0 * (n + 1), 1000.0 - 25.0 * n] for n in range(24)]  # 24 monthly steps, 720 days
    ctx = quickjs.Context()
    ctx.eval("function markdown(data, ctx) {\n" + card["config"]["settings"]["markdownTextFunction"] + "\n}")
    svg = ctx.eval(f"markdown([{{'{key['label']}': '{json.dumps(profile)}'}}], {{datasources: []}})")
    (line,) = re.findall(r'<polyline[^>]*points="([^"]+)"', svg)
    points = [tuple(float(v) for v in pt.split(",")) for pt in line.split()]
    # days 30..720 -> x 30..390 px, rate 1000..425 bbl/d -> y 10..220 px (W=400, H=240 in the function)
    assert len(points) == 24 and points[0] == (30.0, 10.0) and points[-1] == (390.0, 220.0)
    assert points[12] == pytest.approx((30 + 360 * (390 - 30) / 690, 220 - 210 * (700 - 425) / 575))
    assert xy_series([("q", profile)])[0][1:] == ([p[0] for p in profile], [p[1] for p in profile])


def test_the_preview_draws_the_review_cards_of_the_field_asset():
    """`atilax preview` renders the overview with a Field asset holding the weekly and monthly summaries: the alarm-KPI
    and model-audit cards (data keys marked ``atilaxTable``) as tables, the KPI cards with their values."""
    from tb_bridge.preview.data import Entity
    from tb_bridge.preview.render import DashboardRenderer

    asset = Entity("f-1", "North field", "Field", "ASSET")
    attributes = {"opt_field_oil_bpd": 2887.5, "opt_field_alarm_kpi": json.dumps({"n_alarms": 7, "targets": {"alarms_per_hour": 6.0}}),
                  "opt_field_model_audit": [{"entity": "ESP-02", "model": "baseline", "age_days": 7.03, "drift": {"a": 8.5},
                                             "max_abs_drift": 8.5}]}

    class Source:
        def entities(self, alias_filter):
            return [asset] if alias_filter["type"] == "assetType" else []

        def attributes(self, entity, keys):
            return {k: attributes[k] for k in keys if k in attributes}

        def latest(self, entity, keys):
            return {}

        def history(self, entity, keys, start_ms, end_ms):
            return {k: [] for k in keys}

        def alarms(self, entity):
            return []

    views = {v.title: v for v in DashboardRenderer(_load(ROOT / "dashboards" / "field_overview.json"), Source(),
                                                   1_764_570_600_000).render()}
    kpi = views["Alarm KPIs of the week (ISA-18.2 / EEMUA 191)"]
    assert "<td>n_alarms</td><td>7</td>" in kpi.body and "<td>targets.alarms_per_hour</td><td>6</td>" in kpi.body
    audit = views["Model audit (monthly): age, training window and input drift"]
    assert "<th>entity</th><th>model</th><th>age_days</th><th>max_abs_drift</th>" in audit.body and audit.points == 1
    assert "2888" in views["Field oil (week)"].body
