"""Our generated Edge-protocol messages against ThingsBoard's declarations.

Reference: ThingsBoard CE (Apache-2.0) common/edge-api/src/main/proto/edge.proto and
common/proto/src/main/proto/queue.proto (master, read 2026-11). The table below repeats, from those
files, the package-qualified name, number and type of every field we declare; the test fails if our
``proto/*.proto`` drift from it. The bytes test encodes messages with an independent protobuf wire-format
encoder (tag = field_number << 3 | wire_type; varint / length-delimited / 64-bit, from the protobuf
encoding guide, https://protobuf.dev/programming-guides/encoding/) and checks that the generated code
decodes them and encodes to the same bytes.
"""
from __future__ import annotations

import struct
import uuid

import pytest
from google.protobuf.descriptor import FieldDescriptor as FD

from tb_bridge.transport import edge_codec
from tb_bridge.transport.edge_proto import load

PB = load()

# (message full name, field name) -> (number, type, label)
I64, I32, STR, BOOL, DBL, ENUM, MSG = FD.TYPE_INT64, FD.TYPE_INT32, FD.TYPE_STRING, FD.TYPE_BOOL, FD.TYPE_DOUBLE, FD.TYPE_ENUM, FD.TYPE_MESSAGE
ONE, REP = "optional", "repeated"
THINGSBOARD_FIELDS = {
    # queue.proto (package transport)
    ("transport.KeyValueProto", "key"): (1, STR, ONE),
    ("transport.KeyValueProto", "type"): (2, ENUM, ONE),
    ("transport.KeyValueProto", "bool_v"): (3, BOOL, ONE),
    ("transport.KeyValueProto", "long_v"): (4, I64, ONE),
    ("transport.KeyValueProto", "double_v"): (5, DBL, ONE),
    ("transport.KeyValueProto", "string_v"): (6, STR, ONE),
    ("transport.KeyValueProto", "json_v"): (7, STR, ONE),
    ("transport.TsKvListProto", "ts"): (1, I64, ONE),
    ("transport.TsKvListProto", "kv"): (2, MSG, REP),
    ("transport.PostTelemetryMsg", "tsKvList"): (1, MSG, REP),
    ("transport.PostAttributeMsg", "kv"): (1, MSG, REP),
    ("transport.PostAttributeMsg", "shared"): (2, BOOL, ONE),
    # edge.proto (package edge)
    ("edge.RequestMsg", "msgType"): (1, ENUM, ONE),
    ("edge.RequestMsg", "connectRequestMsg"): (2, MSG, ONE),
    ("edge.RequestMsg", "uplinkMsg"): (3, MSG, ONE),
    ("edge.RequestMsg", "downlinkResponseMsg"): (4, MSG, ONE),
    ("edge.RequestMsg", "syncRequestMsg"): (5, MSG, ONE),
    ("edge.ResponseMsg", "connectResponseMsg"): (1, MSG, ONE),
    ("edge.ResponseMsg", "uplinkResponseMsg"): (2, MSG, ONE),
    ("edge.ResponseMsg", "downlinkMsg"): (3, MSG, ONE),
    ("edge.ResponseMsg", "edgeUpdateMsg"): (4, MSG, ONE),
    ("edge.EdgeUpdateMsg", "configuration"): (1, MSG, ONE),
    ("edge.ConnectRequestMsg", "edgeRoutingKey"): (1, STR, ONE),
    ("edge.ConnectRequestMsg", "edgeSecret"): (2, STR, ONE),
    ("edge.ConnectRequestMsg", "edgeVersion"): (3, ENUM, ONE),
    ("edge.ConnectRequestMsg", "maxInboundMessageSize"): (4, I32, ONE),
    ("edge.ConnectResponseMsg", "responseCode"): (1, ENUM, ONE),
    ("edge.ConnectResponseMsg", "errorMsg"): (2, STR, ONE),
    ("edge.ConnectResponseMsg", "configuration"): (3, MSG, ONE),
    ("edge.ConnectResponseMsg", "maxInboundMessageSize"): (4, I32, ONE),
    ("edge.SyncRequestMsg", "fullSync"): (2, BOOL, ONE),
    ("edge.EdgeConfiguration", "edgeIdMSB"): (1, I64, ONE),
    ("edge.EdgeConfiguration", "edgeIdLSB"): (2, I64, ONE),
    ("edge.EdgeConfiguration", "tenantIdMSB"): (3, I64, ONE),
    ("edge.EdgeConfiguration", "tenantIdLSB"): (4, I64, ONE),
    ("edge.EdgeConfiguration", "customerIdMSB"): (5, I64, ONE),
    ("edge.EdgeConfiguration", "customerIdLSB"): (6, I64, ONE),
    ("edge.EdgeConfiguration", "name"): (7, STR, ONE),
    ("edge.EdgeConfiguration", "type"): (8, STR, ONE),
    ("edge.EdgeConfiguration", "routingKey"): (9, STR, ONE),
    ("edge.EdgeConfiguration", "secret"): (10, STR, ONE),
    ("edge.EdgeConfiguration", "additionalInfo"): (11, STR, ONE),
    ("edge.EdgeConfiguration", "cloudType"): (12, STR, ONE),
    ("edge.EntityDataProto", "entityIdMSB"): (1, I64, ONE),
    ("edge.EntityDataProto", "entityIdLSB"): (2, I64, ONE),
    ("edge.EntityDataProto", "entityType"): (3, STR, ONE),
    ("edge.EntityDataProto", "postTelemetryMsg"): (4, MSG, ONE),
    ("edge.EntityDataProto", "postAttributesMsg"): (5, MSG, ONE),
    ("edge.EntityDataProto", "attributesUpdatedMsg"): (6, MSG, ONE),
    ("edge.EntityDataProto", "postAttributeScope"): (7, STR, ONE),
    ("edge.EntityDataProto", "attributeDeleteMsg"): (8, MSG, ONE),
    ("edge.EntityDataProto", "attributeTs"): (9, I64, ONE),
    ("edge.AttributeDeleteMsg", "scope"): (1, STR, ONE),
    ("edge.AttributeDeleteMsg", "attributeNames"): (2, STR, REP),
    ("edge.DeviceUpdateMsg", "msgType"): (1, ENUM, ONE),
    ("edge.DeviceUpdateMsg", "idMSB"): (2, I64, ONE),
    ("edge.DeviceUpdateMsg", "idLSB"): (3, I64, ONE),
    ("edge.DeviceUpdateMsg", "entity"): (18, STR, ONE),
    ("edge.UplinkMsg", "uplinkMsgId"): (1, I32, ONE),
    ("edge.UplinkMsg", "entityData"): (2, MSG, REP),
    ("edge.UplinkResponseMsg", "success"): (1, BOOL, ONE),
    ("edge.UplinkResponseMsg", "errorMsg"): (2, STR, ONE),
    ("edge.UplinkResponseMsg", "uplinkMsgId"): (3, I32, ONE),
    ("edge.DownlinkResponseMsg", "success"): (1, BOOL, ONE),
    ("edge.DownlinkResponseMsg", "errorMsg"): (2, STR, ONE),
    ("edge.DownlinkResponseMsg", "downlinkMsgId"): (3, I32, ONE),
    ("edge.DownlinkMsg", "downlinkMsgId"): (1, I32, ONE),
    ("edge.DownlinkMsg", "syncCompletedMsg"): (2, MSG, ONE),
    ("edge.DownlinkMsg", "entityData"): (3, MSG, REP),
    ("edge.DownlinkMsg", "deviceUpdateMsg"): (5, MSG, REP),
    ("edge.DownlinkMsg", "alarmUpdateMsg"): (13, MSG, REP),
    ("edge.UplinkMsg", "alarmUpdateMsg"): (5, MSG, REP),
    ("edge.AlarmUpdateMsg", "msgType"): (1, ENUM, ONE),
    ("edge.AlarmUpdateMsg", "idMSB"): (2, I64, ONE),
    ("edge.AlarmUpdateMsg", "idLSB"): (3, I64, ONE),
    ("edge.AlarmUpdateMsg", "entity"): (18, STR, ONE),
    ("edge.DownlinkMsg", "edgeConfiguration"): (25, MSG, ONE),
}
THINGSBOARD_ENUMS = {
    "transport.KeyValueType": {"BOOLEAN_V": 0, "LONG_V": 1, "DOUBLE_V": 2, "STRING_V": 3, "JSON_V": 4},
    "edge.RequestMsgType": {"CONNECT_RPC_MESSAGE": 0, "UPLINK_RPC_MESSAGE": 1, "SYNC_REQUEST_RPC_MESSAGE": 2},
    "edge.ConnectResponseCode": {"ACCEPTED": 0, "BAD_CREDENTIALS": 1, "SERVER_UNAVAILABLE": 2},
    "edge.UpdateMsgType": {"ENTITY_CREATED_RPC_MESSAGE": 0, "ENTITY_UPDATED_RPC_MESSAGE": 1,
                           "ENTITY_DELETED_RPC_MESSAGE": 2, "ALARM_ACK_RPC_MESSAGE": 3, "ALARM_CLEAR_RPC_MESSAGE": 4},
    "edge.EdgeVersion": {"V_3_6_0": 3, "V_3_9_0": 9, "V_4_0_0": 10, "V_LATEST": 99999},
}


def _pools():
    return {d.full_name: d for mod in (PB.edge_pb2, PB.queue_pb2) for d in mod.DESCRIPTOR.message_types_by_name.values()}


def test_field_numbers_types_and_labels_match_thingsboard():
    messages = _pools()
    for (message, name), (number, ftype, label) in THINGSBOARD_FIELDS.items():
        field = messages[message].fields_by_name[name]
        got_label = "repeated" if field.is_repeated else "optional"
        assert (field.number, field.type, got_label) == (number, ftype, label), f"{message}.{name}"
    declared = {(m.full_name, f.name) for m in messages.values() for f in m.fields}
    assert declared == set(THINGSBOARD_FIELDS)  # nothing declared that is not in ThingsBoard's files


def test_enum_values_match_thingsboard():
    enums = {e.full_name: e for mod in (PB.edge_pb2, PB.queue_pb2) for e in mod.DESCRIPTOR.enum_types_by_name.values()}
    for name, values in THINGSBOARD_ENUMS.items():
        got = {v.name: v.number for v in enums[name].values}
        assert {k: got[k] for k in values} == values, name


def test_service_and_method_path():
    service = PB.edge_pb2.DESCRIPTOR.services_by_name["EdgeRpcService"]
    method = service.methods_by_name["handleMsgs"]
    assert service.full_name == "edge.EdgeRpcService"
    assert method.client_streaming and method.server_streaming
    assert method.input_type.full_name == "edge.RequestMsg" and method.output_type.full_name == "edge.ResponseMsg"


# --- an independent wire encoder -------------------------------------------------------------------
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 -> two's complement, 10 bytes
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _vfield(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _lfield(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _dfield(number: int, value: float) -> bytes:
    return _key(number, 1) + struct.pack("<d", value)


def test_connect_request_bytes():
    # RequestMsg{msgType=CONNECT(0, default: not on the wire), connectRequestMsg(2){key(1), secret(2), version(3)=10, max(4)}}
    inner = _lfield(1, b"rk") + _lfield(2, b"sec") + _vfield(3, 10) + _vfield(4, 4194304)
    expected = _lfield(2, inner)
    pb = PB.edge_pb2
    msg = pb.RequestMsg(msgType=pb.CONNECT_RPC_MESSAGE, connectRequestMsg=pb.ConnectRequestMsg(
        edgeRoutingKey="rk", edgeSecret="sec", edgeVersion=pb.V_4_0_0, maxInboundMessageSize=4194304))
    assert msg.SerializeToString() == expected
    assert pb.RequestMsg.FromString(expected) == msg


def test_downlink_telemetry_and_ack_bytes():
    device_id = "7a3f0e2c-9b1d-4c5e-8f60-123456789abc"
    msb, lsb = edge_codec.uuid_to_bits(device_id)
    assert (msb, lsb) == (0x7A3F0E2C9B1D4C5E, 0x8F60123456789ABC - (1 << 64))  # Java UUID halves are signed
    assert edge_codec.bits_to_uuid(msb, lsb) == device_id == str(uuid.UUID(device_id))
    kv_long = _lfield(1, b"spm") + _vfield(2, 1) + _vfield(4, 7)
    kv_double = _lfield(1, b"q") + _vfield(2, 2) + _dfield(5, 812.5)
    ts_list = _vfield(1, 1_700_000_000_000) + _lfield(2, kv_long) + _lfield(2, kv_double)
    entity = _vfield(1, msb) + _vfield(2, lsb) + _lfield(3, b"DEVICE") + _lfield(4, _lfield(1, ts_list))
    wire = _lfield(3, _vfield(1, 42) + _lfield(3, entity))  # ResponseMsg{downlinkMsg(3){id(1)=42, entityData(3)}}
    response = PB.edge_pb2.ResponseMsg.FromString(wire)
    downlink = response.downlinkMsg
    assert downlink.downlinkMsgId == 42
    events = edge_codec.events_from_entity_data(PB.queue_pb2, downlink.entityData[0], now_ms=0,
                                                devices={device_id: ("W-1", "SRP")}, source="t")
    assert [(e.well_id, e.ts_ms, dict(e.values), e.well_name) for e in events] == [
        (device_id, 1_700_000_000_000, {"spm": 7, "q": 812.5}, "W-1")]
    assert response.SerializeToString() == wire
    built = edge_codec.telemetry_entity_data(PB.edge_pb2, PB.queue_pb2, device_id,
                                             [(1_700_000_000_000, {"spm": 7, "q": 812.5})])
    assert built.SerializeToString() == entity
    ack = PB.edge_pb2.RequestMsg(msgType=PB.edge_pb2.UPLINK_RPC_MESSAGE,
                                 downlinkResponseMsg=PB.edge_pb2.DownlinkResponseMsg(success=True, downlinkMsgId=42))
    assert ack.SerializeToString() == _vfield(1, 1) + _lfield(4, _vfield(1, 1) + _vfield(3, 42))


def test_uplink_server_attributes_bytes():
    device_id = "00000000-0000-0001-0000-000000000002"
    entity = edge_codec.attributes_entity_data(PB.edge_pb2, PB.queue_pb2, device_id,
                                               {"opt_mode": "ok", "opt_flag": True, "opt_cfg": {"a": 1}}, "SERVER_SCOPE")
    kvs = (_lfield(1, _lfield(1, b"opt_mode") + _vfield(2, 3) + _lfield(6, b"ok"))
           + _lfield(1, _lfield(1, b"opt_flag") + _vfield(3, 1))  # BOOLEAN_V = 0 is the proto3 default: not on the wire
           + _lfield(1, _lfield(1, b"opt_cfg") + _vfield(2, 4) + _lfield(7, b'{"a":1}')))
    expected = _vfield(1, 1) + _vfield(2, 2) + _lfield(3, b"DEVICE") + _lfield(5, kvs) + _lfield(7, b"SERVER_SCOPE")
    assert entity.SerializeToString() == expected


@pytest.mark.parametrize("value,kind", [(True, "BOOLEAN_V"), (-(2**63), "LONG_V"), (2**63, "DOUBLE_V"),
                                        (0.1, "DOUBLE_V"), ("x", "STRING_V"), ([1, {"b": None}], "JSON_V")])
def test_key_value_roundtrip(value, kind):
    kv = edge_codec.key_value(PB.queue_pb2, "k", value)
    assert PB.queue_pb2.KeyValueType.Name(kv.type) == kind
    back = edge_codec.kv_value(PB.queue_pb2, PB.queue_pb2.KeyValueProto.FromString(kv.SerializeToString()))
    assert back == value and type(back) is type(value if kind != "DOUBLE_V" else 1.0)
