"""Router: dispatch by event kind, loop protection, and bad input -> dead letter + opt_error."""
from __future__ import annotations

import pytest

from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.events import EventError, EventKind, WellEvent
from tb_bridge.history.store import HistoryStore
from tb_bridge.router import Router, validate_telemetry
from tb_bridge.sessions import SimulationSessionManager
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.wells.registry import WellRegistry
from tb_bridge.writeback.keys import OWN_PREFIXES

CONFIG = {"lift_type": "esp", "reservoir_pressure_psi": 3000, "bubble_point_psi": 2000,
          "productivity_index_bpd_psi": 1.0, "perforation_depth_ft": 8000, "pump_depth_ft": 7500}
T0 = 1_700_000_000_000


@pytest.fixture
def rig(tmp_path):
    store = HistoryStore(f"sqlite:///{tmp_path}/h.db")
    store.migrate()
    registry = WellRegistry()
    buffer = MemoryBuffer()
    written: list[tuple[str, dict]] = []
    errors: list[tuple[str, str]] = []
    sessions = SimulationSessionManager(registry, store, lambda well, attrs: written.append((well, dict(attrs))))
    router = Router(registry, buffer, sessions, store, report_error=lambda w, m: errors.append((w, m)),
                    loop_guard=LoopGuard(own_user_ids={"service-user"}, own_key_prefixes=OWN_PREFIXES))
    yield router, registry, buffer, store, written, errors
    store.close()


def telemetry(well: str, ts: int, **values) -> WellEvent:
    return WellEvent(EventKind.TELEMETRY, well, ts, values, source="test")


def attributes(well: str, values: dict, **kw) -> WellEvent:
    return WellEvent(EventKind.ATTRIBUTES_UPDATED, well, T0, values, source="test", **kw)


def test_telemetry_goes_to_the_buffer_and_text_to_latest_values(rig):
    router, _, buffer, *_ = rig
    router.handle(telemetry("w1", T0, flow_rate_bpd=500.0, frequency_hz=55, surface_card='{"x": 1}'))
    router.handle(telemetry("w1", T0 + 300_000, flow_rate_bpd=505.0))
    window = buffer.window("w1")
    assert window.ts_ms.tolist() == [T0, T0 + 300_000]
    assert window.values["flow_rate_bpd"].tolist() == [500.0, 505.0]
    assert router.latest_text("w1") == {"surface_card": '{"x": 1}'}
    assert router.stats.telemetry == 2


def test_config_attributes_feed_the_registry_and_merge(rig):
    router, registry, *_ = rig
    router.handle(attributes("w1", {k: v for k, v in CONFIG.items() if k != "pump_depth_ft"}, well_name="ESP-01"))
    assert registry.config("w1") is None and "pump_depth_ft" in str(registry.get("w1").error)
    router.handle(attributes("w1", {"pump_depth_ft": 7500}))
    config = registry.config("w1")
    assert config is not None and config.name == "ESP-01" and config.pump_depth_ft == 7500


def test_sim_params_go_to_sessions_with_originals(rig):
    router, registry, _, store, written, _ = rig
    router.handle(attributes("w1", CONFIG, well_name="ESP-01"))
    router.handle(attributes("w1", {"sim_param_wellhead_pressure_psi": 250}))
    router.handle(attributes("w1", {"sim_param_water_cut_pct": 50}))
    assert router.stats.simulation_updates == 2
    assert router.sessions.wait_idle(60)
    merged: dict = {}
    for well, attrs in written:
        assert well == "w1"
        merged.update(attrs)
    assert merged["sim_status"] == "done" and merged["sim_active"] is True
    assert merged["sim_original_wellhead_pressure_psi"] == 150.0  # the model's default, as configured
    assert merged["sim_original_water_cut_pct"] == 30.0
    # the opening republishes every parameter; the slider values that opened the session stand
    assert merged["sim_param_wellhead_pressure_psi"] == 250.0 and merged["sim_param_gor_scf_stb"] == 500.0
    assert len({attrs["sim_session_id"] for _, attrs in written if "sim_session_id" in attrs}) == 1  # one session
    assert registry.config("w1").wellhead_pressure_psi == 150.0  # simulation never changes the real config
    (session,) = store.sessions(well_id="w1")
    assert session.id == merged["sim_session_id"] and session.status == "done"
    assert session.modified_params == {"wellhead_pressure_psi": 250.0, "water_cut_pct": 50.0}
    assert session.original_params["config"]["reservoir_pressure_psi"] == 3000.0


def test_loop_protection_drops_own_writes(rig):
    router, registry, *_ = rig
    router.handle(attributes("w1", CONFIG))
    router.handle(attributes("w1", {"opt_nodal_q_bpd": 1.0, "opt_status": "ok"}))  # our keys
    router.handle(attributes("w1", {"reservoir_pressure_psi": 1.0}, metadata={"userId": "service-user"}))  # our user
    assert router.stats.own_writes_dropped == 2
    assert registry.config("w1").reservoir_pressure_psi == 3000


@pytest.mark.parametrize("values, reason", [
    ({"flow_rate_bpd": float("nan")}, "not a finite number"),
    ({"flow_rate_bpd": -5.0}, "outside its physical range"),
    ({"water_cut_frac": 1.4}, "outside its physical range"),
    ({}, "no values"),
])
def test_bad_telemetry_is_dead_lettered_with_opt_error(rig, values, reason):
    router, _, buffer, store, _, errors = rig
    router.handle(telemetry("w1", T0, **values))
    router.handle(telemetry("w2", T0, flow_rate_bpd=10.0))  # another well proceeds
    assert "w1" not in buffer.wells() and "w2" in buffer.wells()
    (letter,) = store.dead_letters(limit=10)
    assert reason in letter.error and letter.well_id == "w1"
    assert '"well_id": "w1"' in letter.payload.replace("'", '"')  # the whole event is kept
    assert errors and errors[0][0] == "w1" and reason in errors[0][1]


def test_unknown_lift_type_is_dead_lettered(rig):
    router, registry, _, store, _, errors = rig
    router.handle(attributes("w9", {**CONFIG, "lift_type": "plunger"}))
    assert registry.config("w9") is None
    assert "unknown lift type 'plunger'" in store.dead_letters(limit=5)[0].error
    assert errors[0][0] == "w9"


def test_opt_error_and_the_warning_name_the_well_by_name_and_id(rig, caplog):
    """The misconfigured well's name comes with the event (or from the registry) and stands beside its id, in
    opt_error, the dead letter and the log line, in full."""
    router, _, _, store, _, errors = rig
    with caplog.at_level("WARNING", logger="tb_bridge.router"):
        router.handle(attributes("3f2a-id", {**CONFIG, "lift_type": "jet_pump"}, well_name="JP-01 (misconfigured)"))
        router.handle(attributes("3f2a-id", {"lift_type": "plunger"}))  # a later update without the name
    expected = "well JP-01 (misconfigured) (id 3f2a-id): unknown lift type"
    assert [e[1].startswith(expected) for e in errors] == [True, True]
    assert all(letter.error.startswith(expected) for letter in store.dead_letters(limit=5))
    lines = [r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert len(lines) == 2 and all(expected in line and line.endswith("natural_flow)") for line in lines)
    assert all(line.count("3f2a-id") == 1 for line in lines)  # named once, not twice


def test_raw_payloads_from_transports_are_kept(rig):
    router, _, _, store, _, _ = rig
    router.handle_raw_dead_letter("mqtt", b"\xff{not json", "malformed JSON")
    (letter,) = store.dead_letters(limit=5)
    assert letter.source == "mqtt" and letter.well_id is None and "not json" in letter.payload


def test_validate_telemetry_keeps_strings_apart():
    numbers, others = validate_telemetry({"spm": 8, "surface_card": "{}", "running": True})
    assert numbers == {"spm": 8.0} and others == {"surface_card": "{}", "running": True}


def test_a_live_change_that_does_not_validate_keeps_the_last_good_config(rig):
    router, registry, _, store, _, errors = rig
    router.handle(attributes("w1", CONFIG, well_name="ESP-01"))
    router.handle(attributes("w1", {"reservoir_pressure_psi": 2800}))
    assert registry.config("w1").reservoir_pressure_psi == 2800  # a change made in ThingsBoard, live
    router.handle(attributes("w1", {"lift_type": "plunger"}))
    assert errors == [("w1", errors[0][1])] and "unknown lift type 'plunger'" in errors[0][1]
    assert "plunger" in store.dead_letters(limit=5)[0].error
    config = registry.config("w1")
    assert (config.lift_type, config.reservoir_pressure_psi) == ("esp", 2800)  # still running on the last good one
    assert [w.entity_id for w in registry.valid_wells()] == ["w1"]
    router.handle(attributes("w1", {"reservoir_pressure_psi": 2700}))  # ThingsBoard still says plunger
    assert registry.config("w1").reservoir_pressure_psi == 2800 and len(errors) == 2
    router.handle(attributes("w1", {"lift_type": "esp"}))  # the operator fixes it: the pending change applies
    assert registry.config("w1").reservoir_pressure_psi == 2700 and registry.get("w1").error is None
    # a snapshot (start-up, Edge sync) that does not validate leaves no stale config
    router.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, "w1", T0, {**CONFIG, "lift_type": "plunger"}, source="test"))
    assert registry.config("w1") is None


def test_operator_alarm_actions_go_to_the_alarm_hook_and_own_ones_do_not(rig):
    router, registry, _, store, _, errors = rig
    seen = []
    router.alarm_hook = seen.append
    router.handle(attributes("w1", CONFIG))
    alarm = {"id": {"entityType": "ALARM", "id": "a-1"}, "type": "Atilax: gas_lock"}
    router.handle(WellEvent(EventKind.ALARM_ACK, "w1", T0, alarm, source="test", metadata={"userId": "op-1"}))
    router.handle(WellEvent(EventKind.ALARM_CLEAR, "w1", T0, alarm, source="test", metadata={"userId": "service-user"}))
    request = {"alarm_type": "gas_lock", "action": "shelve", "duration_min": 30}
    router.handle(attributes("w1", {"alarm_operator_request": request, "pump_depth_ft": 7000}, scope="SHARED_SCOPE"))
    assert [(e.kind.value, dict(e.values)) for e in seen] == [
        ("alarm_ack", alarm), ("attributes_updated", {"alarm_operator_request": request})]
    assert registry.config("w1").pump_depth_ft == 7000  # the rest of the update is configuration
    assert router.stats.alarm_actions == 2 and router.stats.own_writes_dropped == 1

    def refuse(event):
        raise EventError("alarm_operator_request[0]: unknown alarm_type 'x'")

    router.alarm_hook = refuse
    router.handle(attributes("w1", {"alarm_operator_request": {"alarm_type": "x", "action": "shelve"}}))
    assert "unknown alarm_type" in store.dead_letters(limit=5)[0].error and errors[-1][0] == "w1"
    assert registry.config("w1") is not None


def test_handle_batch_routes_like_handle_one_by_one(tmp_path):
    """A Kafka batch through handle_batch leaves the same buffer, latest values, registry, dead letters and stats as
    the same events through handle, in order (the telemetry appended in one append_many)."""
    def events():
        return [attributes("w1", CONFIG, well_name="ESP-01"),
                telemetry("w1", T0, flow_rate_bpd=500.0, surface_card='{"x": 1}'),
                telemetry("w2", T0, flow_rate_bpd=-5.0),  # negative rate: dead letter
                telemetry("w1", T0 + 300_000, flow_rate_bpd=505.0, opt_q_bpd=1.0),  # own key dropped
                telemetry("w2", T0 + 300_000, flow_rate_bpd=210.0),
                attributes("w1", {"pump_depth_ft": 7000}),
                telemetry("w1", T0 + 300_000, frequency_hz=56.0),  # merges into the stored sample
                telemetry("w3", T0 + 600_000, opt_status=1.0)]  # only own keys: nothing buffered

    outcomes = []
    for batched in (False, True):
        store = HistoryStore(f"sqlite:///{tmp_path}/h{int(batched)}.db")
        store.migrate()
        registry, buffer = WellRegistry(), MemoryBuffer()
        sessions = SimulationSessionManager(registry, store, lambda well, attrs: None)
        errors: list[tuple[str, str]] = []
        router = Router(registry, buffer, sessions, store, report_error=lambda w, m: errors.append((w, m)),
                        timestamp_window=None)
        if batched:
            router.handle_batch(events())
        else:
            for event in events():
                router.handle(event)
        router.retry_pending()
        outcomes.append(({w: (buffer.window(w).ts_ms.tolist(), {k: [None if x != x else x for x in v.tolist()] for k, v in buffer.window(w).values.items()})
                          for w in ("w1", "w2", "w3")},
                         router.latest_text("w1"), registry.config("w1").pump_depth_ft,
                         [(d.well_id, d.error) for d in store.dead_letters()], errors,
                         (router.stats.telemetry, router.stats.dead_lettered, router.stats.own_writes_dropped)))
        store.close()
    assert outcomes[0] == outcomes[1]
    buffers = outcomes[1][0]
    assert buffers["w1"][0] == [T0, T0 + 300_000]
    assert buffers["w1"][1]["frequency_hz"][1] == 56.0 and buffers["w1"][1]["flow_rate_bpd"] == [500.0, 505.0]
    assert buffers["w2"][0] == [T0 + 300_000] and buffers["w3"][0] == []
    assert len(outcomes[1][3]) == 1 and outcomes[1][3][0][0] == "w2"


def test_a_sample_the_buffer_refuses_in_a_batch_is_dead_lettered_alone(rig):
    """append_many raising something other than BufferUnavailableError: the batch's samples are appended one by
    one, the refused one becomes a dead letter, the others are buffered (none is lost silently)."""
    router, _, buffer, store, _, errors = rig

    class Picky(MemoryBuffer):
        def append_many(self, samples):
            raise ValueError("refused")

        def append(self, well_id, ts_ms, values):
            if well_id == "bad":
                raise ValueError("this well is refused")
            super().append(well_id, ts_ms, values)

    router.buffer = picky = Picky()
    router.timestamp_window = None
    router.handle_batch([telemetry("w1", T0, flow_rate_bpd=1.0), telemetry("bad", T0, flow_rate_bpd=2.0),
                         telemetry("w1", T0 + 300_000, flow_rate_bpd=3.0)])
    router.retry_pending()
    assert picky.window("w1").values["flow_rate_bpd"].tolist() == [1.0, 3.0] and len(picky.window("bad")) == 0
    dead = store.dead_letters()
    assert [d.well_id for d in dead] == ["bad"] and "this well is refused" in dead[0].error
    assert router.stats.telemetry == 3 and [w for w, _ in errors] == ["bad"]
