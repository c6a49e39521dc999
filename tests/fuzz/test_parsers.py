"""Fuzz every parser that meets outside input (issue 17): MQTT envelopes, Edge messages, REST bodies, well
attributes, placement case files, CSV/JSON production histories and alarm requests.

The property, each time: the parser answers with its result or with its documented bad-input error (never
anything else: a TypeError or RecursionError is a bug that could stop a transport), and on the service paths
every rejection is a dead letter with a reason, the service still routing the next event. Example counts come
from :mod:`tests.fuzz.fuzz_settings` (300 per parser in CI, 10,000 nightly).
"""
from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engines.reservoir.case import CASES_DIR, case_from_dict
from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.cli.dca import read_history
from tb_bridge.cli.io import CliInputError
from tb_bridge.events import EventError, EventKind, WellEvent
from tb_bridge.handlers.alarm_steps import TB_ALARM_PREFIX, apply_operator_event, parse_alarm_requests
from tb_bridge.history.store import HistoryStore
from tb_bridge.router import Router
from tb_bridge.sessions import SimulationSessionManager
from tb_bridge.transport import edge_codec
from tb_bridge.transport.edge_proto import load as load_protos
from tb_bridge.transport.mqtt import MqttTransport
from tb_bridge.transport.mqtt_envelope import parse_envelope
from tb_bridge.transport.rest_ingress import EVENTS_PATH, RestIngressTransport
from tb_bridge.wells.model import WellConfigError
from tb_bridge.wells.registry import WellRegistry
from tests.fuzz.fuzz_settings import FUZZ

NOW_MS = int(time.time() * 1000)

# -- strategies ---------------------------------------------------------------------------------------------------
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=16))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
telemetry_keys = st.sampled_from(["flow_rate_bpd", "frequency_hz", "intake_pressure_psi", "motor_current_a",
                                  "water_cut_frac", "surface_card", "opt_health_score", "sim_q_bpd", "sim_param_freq_hz",
                                  "alarm_operator_request", "placement_run_requested", ""]) | st.text(max_size=12)
timestamps = (st.integers(min_value=NOW_MS - 10**10, max_value=NOW_MS + 10**7) | st.integers() | st.text(max_size=30)
              | st.just("10000000000000000000000000") | st.floats())
entity_ids = st.uuids().map(str) | st.text(max_size=40) | scalars
msg_types = st.sampled_from(["POST_TELEMETRY_REQUEST", "ATTRIBUTES_UPDATED", "POST_ATTRIBUTES_REQUEST", "ALARM_ACK",
                             "ALARM_CLEAR", "ENTITY_CREATED"]) | st.text(max_size=10) | scalars
data_bodies = st.dictionaries(telemetry_keys, json_values, max_size=5) | json_values
envelopes = st.fixed_dictionaries({}, optional={
    "msgType": msg_types, "entityId": entity_ids, "entityType": st.sampled_from(["DEVICE", "ASSET"]) | scalars,
    "deviceName": scalars, "deviceType": st.sampled_from(["ESP", "SRP", "PCP", "GasLift"]) | scalars,
    "ts": timestamps, "metadata": st.dictionaries(st.text(max_size=8), scalars, max_size=3) | json_values,
    "data": data_bodies | data_bodies.map(lambda d: json.dumps(d))})
nesting = st.integers(min_value=1, max_value=20_000).map(lambda n: "[" * n + "]" * n)
payloads = (envelopes.map(lambda e: json.dumps(e).encode()) | st.binary(max_size=300)
            | nesting.map(lambda n: ('{"msgType":"POST_TELEMETRY_REQUEST","entityId":"%s","ts":1,"data":%s}'
                                     % (uuid.uuid4(), n)).encode()))


class RecordingStore:
    """Dead-letter sink that keeps rows (a real store is exercised by the integration tests)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def dead_letter(self, source, payload, error, well_id=None):
        assert isinstance(error, str) and error.strip(), "a dead letter needs a reason"
        assert isinstance(payload, str) and len(payload) <= 4096
        self.rows.append({"source": source, "payload": payload, "error": error, "well_id": well_id})


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    history = HistoryStore(f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/h.db")
    history.migrate()
    registry = WellRegistry()
    store = RecordingStore()
    seen = {"assets": 0, "alarms": 0}
    sessions = SimulationSessionManager(registry, history, lambda *_: None)
    router = Router(registry, MemoryBuffer(), sessions, store, report_error=lambda *_: None,
                    asset_hook=lambda e: seen.__setitem__("assets", seen["assets"] + 1),
                    alarm_hook=lambda e: seen.__setitem__("alarms", seen["alarms"] + 1))
    yield SimpleNamespace(router=router, store=store, registry=registry, seen=seen)
    sessions.stop()
    history.close()


def routed(router: Router, seen: dict) -> int:
    """Every outcome the router counts (an event lands in exactly one; an attribute update holding both an alarm
    request and configuration counts in both)."""
    s = router.stats
    return (s.telemetry + s.config_updates + s.simulation_updates + s.own_writes_dropped + s.alarm_actions
            + s.dead_lettered + seen["assets"])


# -- MQTT envelopes through the transport's real callback ------------------------------------------------------------
@FUZZ
@given(payload=payloads)
def test_mqtt_envelopes(rig, payload):
    transport = MqttTransport("127.0.0.1", 1)  # never started: only its message callback is exercised
    transport._sink, transport._dead_letter = rig.router.handle, rig.router.handle_raw_dead_letter
    before_rows = len(rig.store.rows)
    try:
        expected = parse_envelope(payload, source="mqtt", topic="atilax/v1/ESP/W-1")
    except EventError:
        expected = "rejected"
    transport._on_message(None, None, SimpleNamespace(payload=payload, topic="atilax/v1/ESP/W-1"))  # must not raise
    if expected == "rejected":
        assert transport.dead_lettered == 1 and len(rig.store.rows) == before_rows + 1
    elif expected is None:
        assert transport.events_delivered == 0 and len(rig.store.rows) == before_rows


# -- REST bodies through the real HTTP endpoint -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def ingress(rig):
    transport = RestIngressTransport(port=0, token="fuzz-token")
    transport.start(rig.router.handle, rig.router.handle_raw_dead_letter)
    client = httpx.Client(base_url=transport.base_url, headers={"Authorization": "Bearer fuzz-token"})
    yield SimpleNamespace(transport=transport, client=client)
    client.close()
    transport.stop()


@FUZZ
@given(body=payloads)
def test_rest_bodies(rig, ingress, body):
    rows_before, routed_before = len(rig.store.rows), routed(rig.router, rig.seen)
    response = ingress.client.post(EVENTS_PATH, content=body)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"] and len(rig.store.rows) == rows_before + 1
    elif response.json()["status"] == "accepted":
        assert routed(rig.router, rig.seen) == routed_before + 1


# -- Edge protocol messages ------------------------------------------------------------------------------------------
PB = load_protos()
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
kv_types = st.sampled_from(list(PB.queue_pb2.KeyValueType.values())) | st.integers(min_value=0, max_value=9)


@st.composite
def key_values(draw):
    kv = PB.queue_pb2.KeyValueProto(key=draw(telemetry_keys))
    kv.type = draw(kv_types) if draw(st.booleans()) else draw(st.sampled_from(list(PB.queue_pb2.KeyValueType.values())))
    kv.bool_v = draw(st.booleans())
    kv.long_v = draw(int64)
    kv.double_v = draw(st.floats())
    kv.string_v = draw(st.text(max_size=20))
    kv.json_v = draw(json_values.map(json.dumps) | st.text(max_size=30) | nesting)
    return kv


@st.composite
def entity_data(draw):
    msg = PB.edge_pb2.EntityDataProto(entityIdMSB=draw(int64), entityIdLSB=draw(int64),
                                      entityType=draw(st.sampled_from(["DEVICE", "ASSET", "CUSTOMER", ""])))
    for _ in range(draw(st.integers(0, 3))):
        entry = msg.postTelemetryMsg.tsKvList.add(ts=draw(int64 | st.integers(NOW_MS - 10**8, NOW_MS)))
        entry.kv.extend(draw(st.lists(key_values(), max_size=3)))
    if draw(st.booleans()):
        msg.attributesUpdatedMsg.kv.extend(draw(st.lists(key_values(), max_size=3)))
        msg.postAttributeScope = draw(st.sampled_from(["SERVER_SCOPE", "SHARED_SCOPE", "x"]))
    if draw(st.booleans()):
        msg.attributeTs = draw(int64)
    return msg


@FUZZ
@given(data=entity_data(), alarm_entity=json_values.map(json.dumps) | st.text(max_size=40) | nesting,
       alarm_type=st.sampled_from(["ALARM_ACK_RPC_MESSAGE", "ALARM_CLEAR_RPC_MESSAGE"]))
def test_edge_messages(rig, data, alarm_entity, alarm_type):
    try:
        events = edge_codec.events_from_entity_data(PB.queue_pb2, data, now_ms=NOW_MS, devices={}, source="grpc")
    except EventError:
        events = []
    update = PB.edge_pb2.AlarmUpdateMsg(msgType=PB.edge_pb2.UpdateMsgType.Value(alarm_type), entity=alarm_entity)
    try:
        events += edge_codec.events_from_alarm_update(PB.edge_pb2, update, now_ms=NOW_MS, source="grpc")
    except EventError:
        pass
    for event in events:
        before = routed(rig.router, rig.seen)
        rig.router.handle(event)
        assert routed(rig.router, rig.seen) >= before + 1


# -- well attributes --------------------------------------------------------------------------------------------------
CONFIG_KEYS = ["lift_type", "reservoir_pressure_psi", "bubble_point_psi", "productivity_index_bpd_psi",
               "perforation_depth_ft", "pump_depth_ft", "water_cut_frac", "gor_scf_stb", "test_points",
               "deviation_survey", "ipr_model", "vlp_correlation", "pump_model", "pump_stages", "frequency_min_hz",
               "frequency_max_hz", "rod_string", "stroke_length_in", "rpm_min", "rpm_max", "valves", "tubing_id_in",
               "temperature_survey", "vlp_holdup_multiplier", "vlp_friction_multiplier", "co2_mole_frac", "h2s_mole_frac"]
attribute_maps = st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.text(max_size=10),
                                 json_values | st.sampled_from(["esp", "srp", "pcp", "gas_lift", "plunger"]), max_size=8)


@FUZZ
@given(values=attribute_maps, kind=st.sampled_from([EventKind.ATTRIBUTES_UPDATED, EventKind.ATTRIBUTES_SNAPSHOT]))
def test_well_attributes(rig, values, kind):
    well = str(uuid.uuid4())
    rows_before = len(rig.store.rows)
    rig.router.handle(WellEvent(kind, well, NOW_MS, values, well_name="W", device_type="ESP", source="fuzz"))
    entry = rig.registry.get(well)
    if entry is not None and entry.error:  # an invalid configuration is named and kept, never silently dropped
        assert len(rig.store.rows) == rows_before + 1 and rig.store.rows[-1]["well_id"] == well
    try:  # the registry's own contract: a config or WellConfigError
        WellRegistry().update(well, values, name="W")
    except WellConfigError:
        pass


# -- placement case files ---------------------------------------------------------------------------------------------
SHIPPED = [json.loads(p.read_text()) for p in sorted(Path(CASES_DIR).glob("*.json"))]


def _paths(doc, prefix=()):
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:3]):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


def _parent(doc, path):
    """The container holding ``path``'s last part, or None when an earlier mutation removed the way there."""
    node = doc
    for part in path[:-1]:
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    last = path[-1]
    if isinstance(node, dict) and isinstance(last, str) or isinstance(node, list) and isinstance(last, int) and last < len(node):
        return node
    return None


@st.composite
def mutated_cases(draw):
    """A shipped case with one to three values replaced by anything JSON can hold (or keys removed)."""
    doc = copy.deepcopy(draw(st.sampled_from(SHIPPED)))
    paths = list(_paths(doc))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        if parent is None:
            continue
        if isinstance(parent, dict) and draw(st.booleans()):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(json_values | st.integers(-10, 10**9))
    return doc


@FUZZ
@given(doc=mutated_cases() | json_values)
def test_placement_case_files(doc):
    try:
        case_from_dict(doc)
    except ValueError as exc:  # CaseLimitError is a ValueError too
        assert str(exc)


# -- CSV / JSON production histories ------------------------------------------------------------------------------------
columns = st.sampled_from(["date", "t_days", "days", "rate_bpd", "oil_rate_bpd", "volume_bbl", "uptime_h", "x"])
cells = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12) | st.floats().map(repr) \
    | st.integers().map(str) | st.dates().map(str)
csv_texts = st.builds(lambda header, rows: "\n".join([",".join(header)] + [",".join(r) for r in rows]),
                      st.lists(columns, min_size=1, max_size=4), st.lists(st.lists(cells, max_size=5), max_size=8))
json_histories = (st.lists(st.dictionaries(columns, json_values, max_size=4), max_size=6) | json_values).map(json.dumps)


@FUZZ
@given(text=csv_texts | json_histories | st.text(max_size=200), suffix=st.sampled_from([".csv", ".json"]))
def test_production_histories(tmp_path_factory, text, suffix):
    path = tmp_path_factory.mktemp("h") / f"history{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        read_history(str(path))
    except CliInputError as exc:
        assert str(exc)


# -- alarm requests ---------------------------------------------------------------------------------------------------
alarm_requests = st.fixed_dictionaries({}, optional={
    "alarm_type": st.sampled_from(["gas_lock", "motor_overheating", "*"]) | scalars,
    "action": st.sampled_from(["shelve", "unshelve", "suppress", "out_of_service", "return_to_service"]) | scalars,
    "duration_min": st.floats() | st.integers() | scalars, "reason": scalars})
alarm_bodies = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from([TB_ALARM_PREFIX + "gas_lock", TB_ALARM_PREFIX + "pump_wear", "other"]) | scalars,
    "id": st.fixed_dictionaries({"id": st.uuids().map(str)}) | scalars, "ackTs": timestamps | scalars,
    "clearTs": timestamps | scalars, "details": json_values})


@FUZZ
@given(raw=alarm_requests | st.lists(alarm_requests, max_size=3) | json_values | alarm_requests.map(json.dumps),
       body=alarm_bodies, kind=st.sampled_from([EventKind.ALARM_ACK, EventKind.ALARM_CLEAR]))
def test_alarm_requests(raw, body, kind):
    state: dict = {}
    for event in (WellEvent(EventKind.ATTRIBUTES_UPDATED, "w", NOW_MS, {"alarm_operator_request": raw}, source="f"),
                  WellEvent(kind, "w", NOW_MS, body, source="f")):
        try:
            apply_operator_event(state, "esp", event)
        except EventError as exc:
            assert str(exc)
    try:
        parse_alarm_requests(raw, ("gas_lock", "pump_wear"))
    except EventError as exc:
        assert str(exc)
