"""The API over a Redis telemetry buffer: the well answer and the telemetry window read off the event loop, equal
to the buffer's own window."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from engines.fielddata import SyntheticField
from tb_bridge.api import create_app
from tb_bridge.buffer.redis_buffer import RedisBuffer
from tb_bridge.config import load_settings
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.service import Service
from tests.doubles import RecordingWriteback

pytestmark = pytest.mark.integration


def test_wells_over_redis(redis_url, redis_prefix, tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", redis_url=redis_url, api={"keys": ["k"]})
    service = Service(settings, RecordingWriteback(), buffer=RedisBuffer(redis_url, key_prefix=redis_prefix))
    try:
        field = SyntheticField({"pcp": 1}, seed=3)
        well = field.wells[0]
        service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, well.name, 0, well.attributes, well_name=well.name,
                                 source="test"))
        for name, ts, values in field.samples(5):
            service.handle(WellEvent(EventKind.TELEMETRY, name, ts, values, source="test"))
        client = TestClient(create_app(service, settings), headers={"X-API-Key": "k"})
        window = service.buffer.window(well.name)
        detail = client.get(f"/wells/{well.name}").json()
        assert detail["buffered_points"] == 5 and detail["last_telemetry_ts_ms"] == int(window.ts_ms[-1])
        assert detail["latest_telemetry"] == pytest.approx(window.latest())
        series = client.get(f"/wells/{well.name}/telemetry").json()
        assert series["ts_ms"] == window.ts_ms.tolist()
        assert series["values"]["rpm"] == pytest.approx(window.values["rpm"].tolist())
    finally:
        service.close()
