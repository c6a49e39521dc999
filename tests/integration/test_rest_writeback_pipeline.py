"""REST writeback over pipelined keep-alive connections, against the stand-in's REST API.

A recording ASGI layer in front of the stand-in notes each request's client port (one per TCP connection),
method and path, so the tests count connections and requests exactly and check their order.
"""
from __future__ import annotations

import pytest

from tb_bridge.standin import StandIn
from tb_bridge.standin.http_server import HttpServerThread
from tb_bridge.standin.rest_api import build_app
from tb_bridge.writeback.outbox import WellBatch
from tb_bridge.writeback.rest import RestWriteback

SERVICE_EMAIL, SERVICE_PASSWORD = "atilax@svc.local", "svc-secret"
TELEMETRY = "/api/plugins/telemetry/"


class Recorder:
    """ASGI middleware: ``requests`` holds ``(client port, method, path, status)`` of each HTTP request."""

    def __init__(self, app) -> None:
        self.app = app
        self.requests: list[tuple[int, str, str, int]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                self.requests.append((scope["client"][1], scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, send_and_note)

    def writes(self) -> list[tuple[int, str, str, int]]:
        return [r for r in self.requests if r[2].startswith(TELEMETRY)]

    def logins(self) -> int:
        return sum(r[2] == "/api/auth/login" for r in self.requests)


@pytest.fixture()
def stand():
    tb = StandIn()
    tb.create_user(SERVICE_EMAIL, SERVICE_PASSWORD)
    recorder = Recorder(build_app(tb))
    server = HttpServerThread(recorder)
    server.start()
    yield tb, recorder, server.base_url
    server.stop()
    tb.stop()


def _wells(tb, n):
    return [tb.create_device(f"W-{i:03d}", "ESP")[0] for i in range(n)]


def test_rounds_of_many_wells_arrive_complete_in_order_on_one_reused_connection(stand):
    tb, recorder, url = stand
    wells = _wells(tb, 50)
    wb = RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, concurrency=1, pipeline_depth=16)
    try:
        for k in range(2):
            for i, well in enumerate(wells):
                wb.write_attributes(well, {"opt_q_bpd": 10.0 * i + k, "opt_k": k})
            assert wb.flush()
            for i, well in enumerate(wells):
                assert tb.get_attributes(well, "SERVER_SCOPE") == {"opt_q_bpd": 10.0 * i + k, "opt_k": k}
        writes = recorder.writes()
        expected_paths = [f"{TELEMETRY}DEVICE/{well}/attributes/SERVER_SCOPE" for well in wells] * 2
        assert [(method, path, status) for _, method, path, status in writes] == [
            ("POST", path, 200) for path in expected_paths]  # every well, once per round, in the order written
        assert len({port for port, *_ in writes}) == 1  # 100 requests, one TCP connection
        assert wb.connections_opened == 1 and wb.requests_sent == 100 and wb.batches_sent == 100
        assert recorder.logins() == 1 and wb.stats()["failures"] == 0
    finally:
        wb.close()


def test_a_large_round_is_spread_over_the_connections_a_well_on_one(stand):
    tb, recorder, url = stand
    wells = _wells(tb, 24)
    wb = RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, concurrency=3, pipeline_depth=4)
    try:
        wb.login()
        batches = [WellBatch(well, {"SERVER_SCOPE": {"opt_i": i}}, {1_700_000_000_000 + i: {"opt_proj": float(i)}})
                   for i, well in enumerate(wells)]
        assert wb._deliver_round(batches) == [None] * 24  # one round: 48 requests
        assert all(b.size() == 0 for b in batches)
        for i, well in enumerate(wells):
            assert tb.get_attributes(well, "SERVER_SCOPE") == {"opt_i": i}
            assert tb.get_timeseries(well, ["opt_proj"], 0, 2**62) == {"opt_proj": [(1_700_000_000_000 + i, float(i))]}
        writes = recorder.writes()
        assert len(writes) == 48 and all(status == 200 for *_, status in writes)
        assert len({port for port, *_ in writes}) == 3 and wb.connections_opened == 3
        for well in wells:  # a well's two requests: one connection, attributes before points
            mine = [(port, path.rsplit("/", 2)[-2]) for port, _, path, _ in writes if f"/{well}/" in path]
            assert len({port for port, _ in mine}) == 1 and [kind for _, kind in mine] == ["attributes", "timeseries"]
    finally:
        wb.close()


def test_restarted_server_stale_connection_is_replaced_without_a_failed_round():
    tb = StandIn()
    tb.create_user(SERVICE_EMAIL, SERVICE_PASSWORD)
    url = tb.start_http()
    port = int(url.rsplit(":", 1)[1])
    (well,) = _wells(tb, 1)
    wb = RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, concurrency=1)
    try:
        wb.write_attributes(well, {"opt_a": 1})
        assert wb.flush()
        tb.stop_http()  # closes the kept connection
        tb.start_http(port=port)
        wb.write_attributes(well, {"opt_a": 2})
        assert wb.flush()
        assert tb.get_attributes(well, "SERVER_SCOPE") == {"opt_a": 2}
        assert wb.connections_opened == 2 and wb.stats()["failures"] == 0 and wb.requests_sent == 2
    finally:
        wb.close()
        tb.stop()


def test_write_refused_with_401_logs_in_again_and_is_sent_once_more(stand):
    tb, recorder, url = stand
    (well,) = _wells(tb, 1)
    wb = RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, concurrency=1)
    try:
        wb.login()
        wb._auth_value = "Bearer revoked"  # a token ThingsBoard no longer accepts (not expired by our clock)
        wb.write_attributes(well, {"opt_a": 7})
        assert wb.flush()
        assert tb.get_attributes(well, "SERVER_SCOPE") == {"opt_a": 7}
        assert [status for *_, status in recorder.writes()] == [401, 200]
        assert recorder.logins() == 2 and wb.stats()["failures"] == 0 and wb.connections_opened == 1
    finally:
        wb.close()


def test_a_refused_scope_is_dead_lettered_alone_the_rest_is_delivered(stand):
    tb, recorder, url = stand
    (well,) = _wells(tb, 1)
    wb = RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, concurrency=1)
    try:
        wb.write_attributes(well, {"opt_a": 1}, scope="CLIENT_SCOPE")  # not writable through the REST API: 400
        wb.write_attributes(well, {"opt_b": 2})
        wb.write_timeseries(well, [(1_700_000_000_000, {"opt_proj": 3.0})])
        assert wb.flush()
        assert tb.get_attributes(well, "SERVER_SCOPE") == {"opt_b": 2}
        assert tb.get_timeseries(well, ["opt_proj"], 0, 2**62) == {"opt_proj": [(1_700_000_000_000, 3.0)]}
        ((batch, reason),) = wb.dead_letters
        assert (batch.attributes, batch.points) == ({"CLIENT_SCOPE": {"opt_a": 1}}, {})
        assert reason.startswith("HTTP 400")
        assert [status for *_, status in recorder.writes()] == [400, 200, 200]
        assert wb.pending_items() == 0 and wb.stats()["failures"] == 0
    finally:
        wb.close()
