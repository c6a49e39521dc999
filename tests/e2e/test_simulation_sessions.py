"""What-if simulation sessions end to end (issue 19, section 1): ThingsBoard stand-in -> in-process transport ->
the service (router -> SimulationSessionManager -> lift engine, decline fit) -> REST writeback (attributes, future
time series, deletes) -> the stand-in's store. Slider writes are tenant-admin attribute saves, as a dashboard does.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engines.dca.arps import rate_bpd
from engines.lift.esp import scan_frequencies
from tb_bridge.adapters import lift as lift_adapter
from tb_bridge.adapters.lift import optimize_well
from tb_bridge.adapters.whatif import apply_parameters, fit_decline
from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.config import load_settings
from tb_bridge.history.store import HistoryStore
from tb_bridge.service import Service
from tb_bridge.sessions import SessionError, SessionLimitError
from tb_bridge.standin import StandIn
from tb_bridge.tb_history import ThingsBoardHistory
from tb_bridge.transport.inprocess import InProcessTransport
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.wells.model import parse_well_config
from tb_bridge.writeback.keys import ALL_SIM_PROJECTION_KEYS, OWN_PREFIXES, SIM_PROJECTION_KEYS
from tb_bridge.writeback.rest import RestWriteback
from tests.polling import wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SERVICE_EMAIL, SERVICE_PASSWORD = "atilax@svc.local", "svc-secret"
NOW = 1_772_452_800_000  # 2026-03-02 12:00 UTC, the stand-in's and the sessions' clock
STEP = 300_000
RUN_KEYS = ("sim_last_run", "sim_opt_production_bpd", "sim_opt_efficiency_pct", "sim_opt_energy_kwh_bbl",
            "sim_opt_recommended_action", "sim_opt_ipr_curve", "sim_opt_vlp_curve", "sim_compare_production_delta_bpd",
            "sim_compare_production_delta_pct", "sim_compare_efficiency_delta_pct", "sim_compare_warnings",
            "sim_compare_data")
ESP_PARAMS = ("freq_hz", "water_cut_pct", "reservoir_pressure_psi", "skin_factor", "productivity_index_bpd_psi",
              "gor_scf_stb", "wellhead_pressure_psi")


def example(lift_type: str) -> dict:
    name = {"esp": "well_esp.json", "srp": "well_srp.json", "pcp": "well_pcp.json", "gas_lift": "well_gas_lift.json"}
    return json.loads((EXAMPLES / name[lift_type]).read_text())


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


class Rig:
    """The stand-in, and a service wired to it as `atilax run` wires it (REST writeback as the service user)."""

    def __init__(self, tmp_path: Path, buffer=None, tb: StandIn | None = None, clock: Clock | None = None, **settings):
        self.clock = clock or Clock(NOW)
        self.tb = tb or StandIn(clock_ms=self.clock)
        if tb is None:
            self.tb.create_user(SERVICE_EMAIL, SERVICE_PASSWORD)
            self.tb.start_http()
        self.wb = RestWriteback(self.tb.base_url, SERVICE_EMAIL, SERVICE_PASSWORD)
        user_id = self.wb.login()
        self.settings = load_settings(transport="inprocess", database_url=f"sqlite:///{tmp_path}/history.db", **settings)
        reader = ThingsBoardHistory(self.tb.base_url, SERVICE_EMAIL, SERVICE_PASSWORD, clock_ms=self.clock)
        self.service = Service(self.settings, self.wb, buffer=buffer or MemoryBuffer(), own_user_id=user_id,
                               history_reader=reader)
        self.service.sessions.clock_ms = self.clock
        self.transport = InProcessTransport(self.tb, loop_guard=LoopGuard(own_user_ids={user_id}))
        self.service.attach(self.transport)

    def well(self, lift_type: str, name: str, **changes) -> str:
        device_id, token = self.tb.create_device(name, {"gas_lift": "GasLift"}.get(lift_type, lift_type.upper()))
        self.tb.save_attributes(device_id, "SERVER_SCOPE", {**example(lift_type), **changes})
        assert wait_for(lambda: self.service.registry.config(device_id) is not None, 10.0)
        return device_id

    def slide(self, device_id: str, **params) -> None:
        """A dashboard slider: the tenant admin saves sim_param_* server attributes; wait for the results."""
        self.tb.save_attributes(device_id, "SERVER_SCOPE", {f"sim_param_{k}": v for k, v in params.items()})
        self.settle()

    def settle(self) -> None:
        assert self.tb.wait_idle(10)
        assert self.service.sessions.wait_idle(60)
        assert self.wb.flush(10)

    def attrs(self, device_id: str) -> dict:
        return self.tb.get_attributes(device_id, "SERVER_SCOPE")

    def projection(self, device_id: str, keys=ALL_SIM_PROJECTION_KEYS) -> dict:
        return self.tb.get_timeseries(device_id, list(keys), 0, 2**62)

    def close(self, stop_tb: bool = True) -> None:
        self.service.close()
        if stop_tb:
            self.tb.stop()


@pytest.fixture()
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.close()


def _sim_attributes(attrs: dict) -> set[str]:
    return {k for k in attrs if k.startswith("sim_")}


def _assert_projection(rig: Rig, well: str, lift_type: str, first_after_ms: int) -> dict:
    series = rig.projection(well)
    keys = SIM_PROJECTION_KEYS[lift_type]
    assert {k for k, v in series.items() if v} == set(keys)
    for key in keys:
        points = series[key]
        assert len(points) == 144
        ts = [t for t, _ in points]
        assert ts[0] > first_after_ms and ts[0] - first_after_ms <= STEP and ts[0] % STEP == 0
        assert np.all(np.diff(ts) == STEP) and ts[-1] - ts[0] == 143 * STEP  # 12 h ahead, every 5 minutes
    return series


def _direct_esp_rate(config, frequency_hz: float) -> float:
    """The ESP engine called directly: scan_frequencies on the well's pump system at one frequency."""
    _, _, pc = lift_adapter._pump_curves(config, None)
    return float(scan_frequencies(lift_adapter._esp_system(config, pc), [frequency_hz]).q_bpd[0])


def test_a_setpoint_slider_moves_the_operating_point_and_publishes_everything(rig):
    well = rig.well("esp", "ESP-1")
    for k in range(40):  # a declining rate history in the buffer: the projection follows its decline
        rig.service.buffer.append(well, NOW - (40 - k) * 3_600_000, {"flow_rate_bpd": 1500.0 * np.exp(-0.002 * k),
                                                                     "frequency_hz": 55.0})
    rig.slide(well, freq_hz=65)
    a = rig.attrs(well)
    assert a["sim_active"] is True and a["sim_status"] == "done" and a["sim_error"] == ""
    for p in ESP_PARAMS:  # every parameter of the lift type, both ways
        assert f"sim_param_{p}" in a and f"sim_original_{p}" in a
    assert a["sim_original_freq_hz"] == 55.0 and a["sim_param_freq_hz"] == 65
    assert a["sim_original_water_cut_pct"] == pytest.approx(100 * example("esp")["water_cut_frac"])
    for key in RUN_KEYS:
        assert key in a, key
    config = rig.service.registry.config(well)
    q65, q55 = _direct_esp_rate(config, 65.0), _direct_esp_rate(config, 55.0)
    assert a["sim_opt_production_bpd"] == pytest.approx(q65, abs=1e-4)
    assert a["sim_opt_production_bpd"] == pytest.approx(optimize_well(config, {"frequency_hz": 65.0}).current_q_bpd, abs=1e-4)
    assert a["sim_compare_production_delta_bpd"] == pytest.approx(q65 - q55, abs=2e-4) and q65 > q55
    assert a["sim_compare_production_delta_pct"] == pytest.approx(100 * (q65 - q55) / q55, rel=1e-3)
    table = {row["quantity"]: row for row in a["sim_compare_data"]}
    assert table["setpoint freq_hz"]["original"] == 55.0 and table["setpoint freq_hz"]["modified"] == 65.0
    assert table["liquid rate"]["modified"] == pytest.approx(q65, abs=1e-4)
    assert len(a["sim_opt_ipr_curve"]) == 100 and len(a["sim_opt_vlp_curve"]) >= 20
    assert a["sim_last_run"] == NOW
    series = _assert_projection(rig, well, "esp", NOW)
    assert {v for _, v in series["sim_frequency_hz"]} == {65.0}
    rates = np.array([v for _, v in series["sim_flow_rate_bpd"]])
    # the decline fitted on the well's history, applied to the new operating point: not a flat line
    window = rig.service.buffer.window(well)
    basis = fit_decline(window.ts_ms, window.values["flow_rate_bpd"], series["sim_flow_rate_bpd"][0][0], "buffer",
                        economic_limit_bpd=config.economic_limit_bpd,
                        seed=__import__("zlib").crc32(well.encode()))
    assert basis.params is not None
    factors = rate_bpd(basis.t_now_days + np.arange(144) * STEP / 86_400_000, basis.params.qi_bpd,
                       basis.params.d_per_day, basis.params.b, basis.params.d_lim_per_day) / basis.params.rate(basis.t_now_days)
    assert rates == pytest.approx(np.round(q65 * factors, 4), abs=2e-4)
    assert rates[0] == pytest.approx(q65, rel=1e-3) and rates[-1] < rates[0] * (1 - 1e-3)


def test_a_well_parameter_change_runs_and_a_second_change_replaces_the_results(rig):
    well = rig.well("srp", "SRP-1")
    rig.slide(well, water_cut_pct=60)
    a = rig.attrs(well)
    config = rig.service.registry.config(well)
    spm = a["sim_original_spm"]
    modified = apply_parameters(config, {"water_cut_pct": 100 * config.water_cut_frac}, {"water_cut_pct": 60.0})
    assert modified.water_cut_frac == 0.6
    expected = optimize_well(modified, {"spm": spm}).current_q_bpd
    assert a["sim_opt_production_bpd"] == pytest.approx(expected, abs=1e-4)
    for key in RUN_KEYS:
        assert key in a, key
    first = _assert_projection(rig, well, "srp", NOW)
    assert {v for _, v in first["sim_spm"]} == {spm}

    rig.clock.now_ms = NOW + 7 * STEP + 1234  # a later, second move: the projection starts later
    rig.slide(well, spm=spm - 2)
    b = rig.attrs(well)
    expected2 = optimize_well(modified, {"spm": spm - 2}).current_q_bpd
    assert b["sim_opt_production_bpd"] == pytest.approx(expected2, abs=1e-4) and b["sim_last_run"] == NOW + 7 * STEP + 1234
    second = _assert_projection(rig, well, "srp", NOW + 7 * STEP + 1234)  # exactly 144: nothing of the first run left
    assert {v for _, v in second["sim_spm"]} == {spm - 2}
    assert second["sim_flow_rate_bpd"][0][0] == first["sim_flow_rate_bpd"][0][0] + 7 * STEP
    assert b["sim_original_water_cut_pct"] == a["sim_original_water_cut_pct"]  # captured once


def test_reset_restores_originals_and_close_leaves_nothing(rig):
    well = rig.well("pcp", "PCP-1")
    rig.slide(well, rpm=250, wellhead_pressure_psi=300)
    sessions = rig.service.sessions
    session = sessions.by_well(well)
    assert session["modified"] == {"rpm": 250.0, "wellhead_pressure_psi": 300.0}
    # a configuration change while the session is open does not move its originals
    rig.tb.save_attributes(well, "SERVER_SCOPE", {"wellhead_pressure_psi": 180.0})
    rig.settle()
    answer = sessions.reset_params(session["session_id"], ["wellhead_pressure_psi", "gor_scf_stb"])
    assert answer == {"session_id": session["session_id"], "restored": ["wellhead_pressure_psi"],
                      "not_found": ["gor_scf_stb"], "remaining_modified": {"rpm": 250.0}}
    rig.settle()
    a = rig.attrs(well)
    original_whp = example("pcp")["wellhead_pressure_psi"]
    assert a["sim_param_wellhead_pressure_psi"] == a["sim_original_wellhead_pressure_psi"] == original_whp
    base = parse_well_config(well, "PCP-1", example("pcp"))
    assert a["sim_opt_production_bpd"] == pytest.approx(optimize_well(base, {"rpm": 250.0}).current_q_bpd, abs=1e-4)
    compared = sessions.compare(session["session_id"])
    assert compared["sim_compare_data"] == a["sim_compare_data"] and compared["modified"] == {"rpm": 250.0}

    assert sessions.close(session["session_id"]) is True
    rig.settle()
    assert _sim_attributes(rig.attrs(well)) == set()
    assert all(not points for points in rig.projection(well).values())
    assert sessions.get(session["session_id"]) is None and sessions.list() == []
    assert sessions.close(session["session_id"]) is False  # idempotent
    assert rig.service.history.sessions(well_id=well)[0].status == "closed"


def test_the_eleventh_session_is_refused_and_nothing_else_changes(rig):
    wells = [rig.well("esp", f"ESP-{i:02d}") for i in range(11)]
    for w in wells[:10]:
        rig.tb.save_attributes(w, "SERVER_SCOPE", {"sim_param_water_cut_pct": 40})
    rig.settle()
    assert len(rig.service.sessions.list()) == 10 and rig.service.sessions.max_sessions == 10
    rig.slide(wells[10], water_cut_pct=40)
    a = rig.attrs(wells[10])
    assert "10 simulation sessions are open, the most allowed (sim_max_sessions = 10)" in a["sim_error"]
    assert _sim_attributes(a) == {"sim_error", "sim_param_water_cut_pct"}  # the slider's own write, and the error
    assert not any(rig.projection(wells[10]).values())
    assert len(rig.service.sessions.list()) == 10 and rig.service.sessions.by_well(wells[10]) is None
    with pytest.raises(SessionLimitError, match="close one"):
        rig.service.sessions.create(wells[10])
    assert rig.service.history.dead_letters()[-1].error == a["sim_error"]
    rig.service.sessions.close(rig.service.sessions.by_well(wells[0])["session_id"])  # one closes: the 11th opens
    assert rig.service.sessions.create(wells[10])["well_id"] == wells[10]
    assert rig.service.sessions.ttl_ms == 7_200_000


def test_expiry_after_the_ttl_cleans_up_on_a_simulated_clock(rig):
    well = rig.well("gas_lift", "GL-1")
    rig.slide(well, gas_injection_rate=800)
    assert _sim_attributes(rig.attrs(well)) and any(rig.projection(well).values())
    sid = rig.service.sessions.by_well(well)["session_id"]
    rig.clock.now_ms = NOW + 3_600_000  # activity one hour later refreshes the time to live
    rig.service.sessions.run(sid)
    assert rig.service.run_tier("fast", NOW + 7_200_000 + 1).wells_run >= 0
    assert rig.service.sessions.get(sid) is not None  # 2 h after the start, 1 h after the last activity
    rig.service.run_tier("fast", NOW + 3_600_000 + 7_200_000)
    rig.settle()
    assert rig.service.sessions.get(sid) is None
    assert _sim_attributes(rig.attrs(well)) == set()
    assert not any(rig.projection(well).values())


def test_a_service_restart_keeps_an_open_session_in_redis(tmp_path, redis_url, redis_prefix):
    from tb_bridge.buffer.redis_buffer import RedisBuffer

    first = Rig(tmp_path, buffer=RedisBuffer(redis_url, key_prefix=redis_prefix))
    well = first.well("esp", "ESP-R")
    first.slide(well, freq_hz=50)
    before = first.service.sessions.by_well(well)
    first.close(stop_tb=False)  # the service stops; ThingsBoard stays
    second = Rig(tmp_path, buffer=RedisBuffer(redis_url, key_prefix=redis_prefix), tb=first.tb, clock=first.clock)
    try:
        assert second.service.sessions.by_well(well) == before
        second.service.registry.update(well, {**example("esp")}, name="ESP-R")
        result = second.service.sessions.set_params(before["session_id"], {"water_cut_pct": 50})
        assert result["sim_status"] == "done"
        assert second.service.sessions.get(before["session_id"])["modified"] == {"freq_hz": 50.0, "water_cut_pct": 50.0}
        assert second.service.sessions.close(before["session_id"])
        second.settle()
        assert _sim_attributes(second.attrs(well)) == set()
    finally:
        second.close()


def test_simulated_values_never_reach_the_buffer_baselines_or_history(rig):
    well = rig.well("esp", "ESP-I")
    for k in range(3):
        rig.tb.post_device_telemetry(rig.tb.store.device(well).token,
                                     {"ts": NOW - (3 - k) * STEP, "values": {"flow_rate_bpd": 900.0 + k, "frequency_hz": 55.0}})
    rig.settle()
    rig.service.run_tier("fast", NOW)
    rig.slide(well, freq_hz=62, water_cut_pct=45)
    # the projection also arrives at the service as telemetry (ThingsBoard posts saved time series to the chain)
    rig.tb.post_device_telemetry(rig.tb.store.device(well).token, {"ts": NOW + STEP, "values": {"sim_flow_rate_bpd": 1.0e6}})
    rig.settle()
    rig.service.run_tier("fast", NOW + STEP)
    rig.settle()
    window = rig.service.buffer.window(well)
    assert not any(k.startswith("sim_") for k in window.values)  # buffer
    assert window.values["flow_rate_bpd"].tolist() == [900.0, 901.0, 902.0]
    # baselines, the anomaly detector's and the tiers' state of the well: built from the buffer, nothing simulated
    assert "sim_" not in repr(rig.service._well_state.get(well, {}))
    stats = rig.attrs(well)["opt_monitor_stats"]
    assert stats["flow_rate_bpd"]["max"] == 902.0 and not any(k.startswith("sim_") for k in stats)
    runs = rig.service.history.runs(well_id=well, limit=100)  # the history of real operation
    assert len(runs) == 2 and all(not any(k.startswith("sim_") for k in r.results) for r in runs)
    assert all(k.startswith(OWN_PREFIXES) for k in SIM_PROJECTION_KEYS["esp"])
    assert rig.service.registry.config(well).water_cut_frac == example("esp")["water_cut_frac"]
    assert rig.wb.outbox.pending_items() == 0  # no queue holds anything simulated


def test_bad_requests_get_a_clear_error_and_are_kept(rig):
    well = rig.well("esp", "ESP-B")
    rig.slide(well, freq_hz=120)
    a = rig.attrs(well)
    assert a["sim_status"] == "error" and "freq_hz = 120 Hz is out of range [30, 90]" in a["sim_error"]
    rig.slide(well, spm=9)  # an SRP parameter on an ESP well
    assert "unknown what-if parameter(s) for a esp well: spm" in rig.attrs(well)["sim_error"]
    errors = [d.error for d in rig.service.history.dead_letters()]
    assert any("freq_hz = 120" in e for e in errors) and any("spm" in e for e in errors)
    rig.slide(well, freq_hz=60)  # the service kept running: the next valid move works
    assert rig.attrs(well)["sim_status"] == "done"
    sid = rig.service.sessions.by_well(well)["session_id"]
    with pytest.raises(SessionError, match="reservoir_pressure_psi"):
        rig.service.sessions.set_params(sid, {"reservoir_pressure_psi": -5})
    with pytest.raises(SessionError, match="no open simulation session"):
        rig.service.sessions.run("nope")
    with pytest.raises(SessionError, match="no valid configuration"):
        rig.service.sessions.create("not-a-well")


def test_the_dashboard_buttons_reset_a_parameter_and_close_the_session(rig):
    well = rig.well("esp", "ESP-D")
    rig.slide(well, freq_hz=58, gor_scf_stb=900)
    assert rig.service.sessions.by_well(well)["modified"] == {"freq_hz": 58.0, "gor_scf_stb": 900.0}
    rig.slide(well, reset="gor_scf_stb")  # the reset button of the GOR row: sim_param_reset = "gor_scf_stb"
    a = rig.attrs(well)
    assert rig.service.sessions.by_well(well)["modified"] == {"freq_hz": 58.0}
    assert a["sim_param_gor_scf_stb"] == a["sim_original_gor_scf_stb"] and "sim_param_reset" not in a
    config = rig.service.registry.config(well)
    assert a["sim_opt_production_bpd"] == pytest.approx(_direct_esp_rate(config, 58.0), abs=1e-4)
    rig.slide(well, close=True)  # the close button: sim_param_close = true
    assert rig.service.sessions.by_well(well) is None
    assert _sim_attributes(rig.attrs(well)) == set() and not any(rig.projection(well).values())


def test_the_projection_follows_the_decline_fitted_on_180_days_of_thingsboard_history(rig):
    from tb_bridge.handlers.engine_steps import daily_means

    well = rig.well("pcp", "PCP-H")
    day = 86_400_000
    days = np.arange(200, 0, -1)  # 200 days back: the fit reads the last 180
    history = [(NOW - int(d) * day, {"flow_rate_bpd": float(400.0 / (1 + 0.5 * 0.004 * (200 - d)) ** 2)}) for d in days]
    rig.tb.save_timeseries(well, history)
    rig.slide(well, rpm=280)
    a = rig.attrs(well)
    assert "from ThingsBoard (180 points over 180 days)" in a["sim_basis"]
    t = np.array([ts for ts, _ in history if ts >= NOW - 180 * day], dtype=np.int64)
    q = np.array([v["flow_rate_bpd"] for ts, v in history if ts >= NOW - 180 * day])
    t_day, q_day = daily_means(t, q)
    series = _assert_projection(rig, well, "pcp", NOW)
    first = series["sim_flow_rate_bpd"][0][0]
    basis = fit_decline(t_day, q_day, first, "ThingsBoard", economic_limit_bpd=rig.service.registry.config(well).economic_limit_bpd,
                        seed=__import__("zlib").crc32(well.encode()))
    rates = np.array([v for _, v in series["sim_flow_rate_bpd"]])
    expected = a["sim_opt_production_bpd"] * basis.factors(np.arange(144) * STEP)
    assert rates == pytest.approx(np.round(expected, 4), abs=2e-4)
    assert rates[-1] < rates[0]  # a hyperbolic decline of the history, over the next 12 hours
