"""Writeback through ThingsBoard's REST API.

Attributes: ``POST /api/plugins/telemetry/DEVICE/{id}/attributes/{scope}`` (TelemetryController's
``saveEntityAttributesV2``); time series with explicit (possibly future) timestamps: ``POST .../timeseries/ANY``
with a JSON array of ``{"ts", "values"}``. Both are idempotent in ThingsBoard (attributes are overwritten; a point
is keyed by entity, key and ts), so a retried or repeated write is harmless. ThingsBoard has no multi-entity save,
so a round costs one request per well and scope (plus one per well with points): they go pipelined over up to
``concurrency`` keep-alive connections (:mod:`tb_bridge.writeback.http_pipeline`), at most ``pipeline_depth``
requests per write, each well's requests in order on one connection. Alarms and deletes (rare) go through
tb-rest-client.

Login is a plain POST to ``/api/auth/login`` so that a 401 (bad credentials) and a 5xx are told apart
(tb-rest-client's ``login`` does not check the status); the tokens are then handed to the client with
``token_login``. The access token is refreshed through ``/api/auth/token`` ``refresh_margin_s`` before
its ``exp`` claim, and a 401 on a write triggers one fresh login.
"""
from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import httpx
import jwt
from tb_rest_client.models.alarm import Alarm
from tb_rest_client.models.alarm_id import AlarmId
from tb_rest_client.models.entity_id import EntityId
from tb_rest_client.rest import ApiException
from tb_rest_client.rest_client import RestClient

from tb_bridge.writeback.batching import BatchingWriteback, PermanentWriteError, TransientWriteError
from tb_bridge.writeback.http_pipeline import KeepAliveConnection
from tb_bridge.writeback.outbox import WellBatch


log = logging.getLogger(__name__)


class WritebackAuthError(RuntimeError):
    """ThingsBoard rejected the service's credentials (HTTP 401 on login)."""


def _classify(exc: BaseException) -> Exception:
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        if status >= 500 or status in (0, 408, 429):
            return TransientWriteError(f"HTTP {status}: {exc.reason}")
        return PermanentWriteError(f"HTTP {status}: {exc.reason} {exc.body!r}")
    return TransientWriteError(f"{type(exc).__name__}: {exc}")


def _status_error(status: int, body: bytes) -> Exception:
    """The error for a non-2xx answer to a write (the classification of :func:`_classify`)."""
    if status >= 500 or status in (408, 429):
        return TransientWriteError(f"HTTP {status}")
    return PermanentWriteError(f"HTTP {status}: {body[:300]!r}")


def _json_default(value: Any) -> Any:
    """NumPy scalars and datetimes in written values (as tb-rest-client serializes them)."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=_json_default).encode()


class RestWriteback(BatchingWriteback):
    """:class:`~tb_bridge.writeback.base.Writeback` over REST (see :class:`BatchingWriteback` for
    batching, backoff and the bounded outbox). After a login, :attr:`user_id` is the ThingsBoard user id
    the service writes as (give it to the transports' :class:`~tb_bridge.transport.loop_guard.LoopGuard`).

    Writes go over ``concurrency`` keep-alive connections, pipelined, at most ``pipeline_depth`` requests per
    write; a round of up to ``pipeline_depth`` requests uses one connection from the sender thread, a larger one
    is spread over the connections by a pool of ``concurrency`` threads (ThingsBoard serves connections in
    parallel, one connection's requests in turn). ``linger_s`` defaults to 1 ms here: requests are pipelined, so a
    round need not wait to fill up; writes queued while a round is in flight form the next one. ``timeout_s``
    bounds each connect, send and read (s); ``ssl_context`` is for ``https`` URLs (default: verified against
    certifi's roots)."""

    name = "rest"

    def __init__(self, base_url: str, username: str, password: str, *, timeout_s: float = 10.0,
                 refresh_margin_s: float = 60.0, entity_type: str = "DEVICE", concurrency: int = 4,
                 pipeline_depth: int = 16, ssl_context: ssl.SSLContext | None = None,
                 client_factory: Callable[..., RestClient] = RestClient, **batching: Any) -> None:
        batching.setdefault("linger_s", 0.001)
        super().__init__(**batching)
        if concurrency < 1 or pipeline_depth < 1:
            raise ValueError("concurrency and pipeline_depth must be >= 1")
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="rest-writeback") if concurrency > 1 else None
        self._pipeline_depth = int(pipeline_depth)
        self.base_url = base_url.rstrip("/")
        self._conns = [KeepAliveConnection(self.base_url, timeout_s, ssl_context) for _ in range(concurrency)]
        self._conn_locks = [threading.Lock() for _ in range(concurrency)]
        self._auth_value = ""  # the X-Authorization header value of the current access token
        self._count_lock = threading.Lock()
        #: wall seconds from sending a pipeline to its last answer, summed over pipelines and connections, and the
        #: answers they brought: ``exchange_s / requests_answered`` is ThingsBoard's time per request as seen here
        self.exchange_s = 0.0
        self.requests_answered = 0
        self._username, self._password = username, password
        self._timeout_s = float(timeout_s)
        self._refresh_margin_s = float(refresh_margin_s)
        self._entity_type = entity_type
        self._client = client_factory(self.base_url, timeout=(self._timeout_s, self._timeout_s))
        self._http = httpx.Client(timeout=self._timeout_s)
        self._token_exp = 0.0
        self._refresh_token: str | None = None
        self.user_id: str | None = None
        self.requests_sent = 0
        self._auth_lock = threading.Lock()

    def login(self) -> str:
        """Log in now; returns the user id (raises :class:`WritebackAuthError` on bad credentials)."""
        with self._auth_lock:
            self._login()
        return self.user_id or ""

    def set_credentials(self, username: str, password: str) -> None:
        """Use new credentials from the next login on."""
        self._username, self._password = username, password
        self._token_exp = 0.0

    def close(self, timeout_s: float | None = None) -> None:
        super().close(self._timeout_s if timeout_s is None else timeout_s)

    # --- alarms --------------------------------------------------------------------------------------
    # ThingsBoard's alarm API as tb-rest-client 4.4 calls it: ``save_alarm`` -> ``POST /api/alarm`` with
    # ``{originator: {entityType, id}, type, severity, details, ...}`` (no id: ThingsBoard creates the alarm, or
    # updates the one active alarm of that originator and type), ``clear_alarm`` -> ``POST /api/alarm/{id}/clear``.
    # Both are idempotent, so alarm operations are queued in order and a transient failure keeps the rest
    # for the next flush (the tiers flush after every run).
    def create_alarm(self, entity_id: str, alarm_type: str, severity: str, details: dict[str, Any] | None = None,
                     start_ts_ms: int | None = None) -> None:
        """Raise (or update) the active alarm ``alarm_type`` on the device ``entity_id``."""
        self._alarm_ops.append(("create", entity_id, alarm_type, severity, dict(details or {}), start_ts_ms))

    def clear_alarm(self, entity_id: str, alarm_type: str) -> None:
        """Clear the active alarm ``alarm_type`` of the device (nothing to do when none is active)."""
        self._alarm_ops.append(("clear", entity_id, alarm_type, None, None, None))

    def _deliver_alarms(self) -> bool:
        """Send the queued alarm operations in order; False when a transient failure kept some."""
        with self._alarm_lock:
            while self._alarm_ops:
                op = self._alarm_ops[0]
                try:
                    self._ensure_token()
                    self._alarm_op(*op)
                except PermanentWriteError as exc:
                    log.error("alarm %s of %s on %s refused, dead-lettered: %s", op[0], op[2], op[1], exc)
                    self.alarm_dead_letters.append((op, str(exc)))
                except Exception as exc:  # transient (or bad credentials that may be fixed): keep, retry later
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("alarm writeback failed (%s); %d operations kept", self.last_error,
                                len(self._alarm_ops))
                    return False
                self._alarm_ops.popleft()
            return True

    def _alarm_op(self, action: str, entity_id: str, alarm_type: str, severity: str | None,
                  details: dict[str, Any] | None, start_ts_ms: int | None) -> None:
        entity = EntityId(entity_id, self._entity_type)
        key = (entity_id, alarm_type)
        if action == "create":
            body = Alarm(type=alarm_type, originator=entity, severity=severity, acknowledged=False, cleared=False,
                         name=alarm_type, status="ACTIVE_UNACK", details=details, start_ts=start_ts_ms)
            saved = self._call(self._client.save_alarm, body)
            self._alarm_ids[key] = saved.id.id
            return
        alarm_id = self._alarm_ids.pop(key, None) or self._find_active_alarm(entity, alarm_type)
        if alarm_id is not None:
            self._call(self._client.clear_alarm, AlarmId(alarm_id, "ALARM"))

    def _find_active_alarm(self, entity: EntityId, alarm_type: str) -> str | None:
        """The id of the device's active alarm of this type (after a restart the id is not cached)."""
        page = 0
        while True:
            data = self._call(self._client.get_alarms, entity, 100, page, "ACTIVE")
            for alarm in data.data or []:
                if alarm.type == alarm_type:
                    return alarm.id.id
            if not data.has_next:
                return None
            page += 1

    def _release(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for conn, lock in zip(self._conns, self._conn_locks):
            with lock:
                conn.close()
        self._http.close()

    @property
    def connections_opened(self) -> int:
        """TCP connections the writes have opened so far (keep-alive: one per connection until it breaks)."""
        return sum(conn.connects for conn in self._conns)

    # --- auth ----------------------------------------------------------------------------------------
    def _store_tokens(self, body: Any) -> None:
        if not isinstance(body, dict) or not body.get("token"):
            raise TransientWriteError("login answer without a token")
        claims = jwt.decode(body["token"], options={"verify_signature": False})
        self._token_exp = float(claims.get("exp", 0))
        self.user_id = claims.get("userId")
        self._refresh_token = body.get("refreshToken")
        self._client.token_login(body["token"], self._refresh_token)
        self._auth_value = "Bearer " + body["token"]

    def _post_auth(self, path: str, payload: dict) -> httpx.Response:
        try:
            return self._http.post(self.base_url + path, json=payload)
        except httpx.HTTPError as exc:
            raise TransientWriteError(f"{type(exc).__name__}: {exc}") from None

    def _login(self) -> None:
        response = self._post_auth("/api/auth/login", {"username": self._username, "password": self._password})
        if response.status_code == 401:
            raise WritebackAuthError(f"ThingsBoard rejected the credentials of {self._username!r}: {response.text}")
        if response.status_code != 200:
            raise TransientWriteError(f"login answered HTTP {response.status_code}")
        self._store_tokens(response.json())

    def _ensure_token(self) -> None:
        with self._auth_lock:
            self._ensure_token_locked()

    def _ensure_token_locked(self) -> None:
        if self._token_exp == 0.0:
            self._login()
            return
        if time.time() < self._token_exp - self._refresh_margin_s:
            return
        if self._refresh_token:
            response = self._post_auth("/api/auth/token", {"refreshToken": self._refresh_token})
            if response.status_code == 200:
                self._store_tokens(response.json())
                return
            if response.status_code != 401:
                raise TransientWriteError(f"token refresh answered HTTP {response.status_code}")
        self._login()

    # --- delivery ------------------------------------------------------------------------------------
    def _deliver_round(self, batches: list[WellBatch]) -> list[Exception | None]:
        """Every well of the round pipelined over the keep-alive connections; the outcome of each well."""
        try:
            self._ensure_token()
        except Exception as exc:
            return [exc] * len(batches)
        errors: list[list[tuple[tuple, Exception]]] = [[] for _ in batches]
        items: list[tuple[int, tuple, str, bytes]] = []  # (well index, part, path, body)
        for i, batch in enumerate(batches):
            try:
                items.extend((i, part, path, body) for part, path, body in self._requests_of(batch))
            except (TypeError, ValueError) as exc:  # a value JSON cannot carry: retrying cannot help
                errors[i].append((("all",), PermanentWriteError(f"not serializable as JSON: {exc}")))
        groups = self._split(items)

        def send(k: int) -> None:
            try:
                self._exchange(k, groups[k], batches, errors)
            except Exception as exc:  # unexpected: keep what is left of these wells for the retry
                for i in dict.fromkeys(item[0] for item in groups[k]):
                    errors[i].append((("all",), exc))

        if len(groups) == 1 or self._pool is None:
            send(0)
        else:
            list(self._pool.map(send, range(len(groups))))
        return [self._outcome(batch, errs) for batch, errs in zip(batches, errors)]

    def _deliver(self, batch: WellBatch) -> None:
        outcome = self._deliver_round([batch])[0]
        if outcome is not None:
            raise outcome

    def _requests_of(self, batch: WellBatch) -> list[tuple[tuple, str, bytes]]:
        """``(part, path, body)`` of each request a well's batch needs: one per attribute scope, one for its points."""
        base = f"/api/plugins/telemetry/{self._entity_type}/{urllib.parse.quote(batch.entity_id, safe='')}"
        out = [(("attributes", scope), f"{base}/attributes/{urllib.parse.quote(scope, safe='')}", _json(values))
               for scope, values in batch.attributes.items() if values]
        if batch.points:
            out.append((("points",), f"{base}/timeseries/ANY",
                        _json([{"ts": ts, "values": values} for ts, values in sorted(batch.points.items())])))
        return out

    def _split(self, items: list) -> list[list]:
        """Up to ``concurrency`` groups of whole wells (a well's requests stay in order on one connection)."""
        n_groups = min(len(self._conns), -(-len(items) // self._pipeline_depth))
        if n_groups <= 1:
            return [items]
        groups: list[list] = [[] for _ in range(n_groups)]
        share = -(-len(items) // n_groups)
        k = 0
        for j, item in enumerate(items):
            if len(groups[k]) >= share and item[0] != items[j - 1][0] and k < n_groups - 1:
                k += 1
            groups[k].append(item)
        return [g for g in groups if g]

    def _exchange(self, k: int, items: list, batches: list[WellBatch], errors: list) -> None:
        """Send ``items`` on connection ``k`` in pipelines of ``pipeline_depth``; a 401 triggers one fresh login
        and one resend of what it refused. After a network failure (refused, timed out) the later pipelines of
        this connection are not tried: they are kept for the next round."""
        conn = self._conns[k]
        broken = False
        with self._conn_locks[k]:
            for start in range(0, len(items), self._pipeline_depth):
                chunk = items[start:start + self._pipeline_depth]
                if broken:
                    for i, part, _, _ in chunk:
                        errors[i].append((part, TransientWriteError("not tried: the connection failed")))
                    continue
                for attempt in (1, 2):
                    auth = self._auth_value
                    headers = {"Content-Type": "application/json", "X-Authorization": auth}
                    requests = [conn.request("POST", path, body, headers) for _, _, path, body in chunk]
                    t_sent = time.perf_counter()
                    answers = conn.exchange(requests)
                    elapsed = time.perf_counter() - t_sent
                    refused, delivered = [], 0
                    for (i, part, _, _), answer in zip(chunk, answers):
                        if isinstance(answer, Exception):
                            broken = True
                            errors[i].append((part, _classify(answer)))
                        elif 200 <= answer[0] < 300:
                            delivered += 1
                            if part[0] == "attributes":
                                batches[i].attributes.pop(part[1], None)
                            else:
                                batches[i].points.clear()
                        elif answer[0] == 401 and attempt == 1:
                            refused.append((i, part))
                        else:
                            errors[i].append((part, _status_error(*answer)))
                    with self._count_lock:
                        self.requests_sent += delivered
                        self.exchange_s += elapsed
                        self.requests_answered += sum(not isinstance(a, Exception) for a in answers)
                    if not refused:
                        break
                    try:
                        with self._auth_lock:  # expired or revoked token: log in again once (unless done meanwhile)
                            if self._auth_value == auth:
                                self._login()
                    except Exception as exc:
                        for i, part in refused:
                            errors[i].append((part, exc))
                        break
                    again = set(refused)
                    chunk = [item for item in chunk if (item[0], item[1]) in again]

    def _outcome(self, batch: WellBatch, errors: list[tuple[tuple, Exception]]) -> Exception | None:
        """None when the whole batch was delivered; else what to do with the rest: a permanent error dead-letters
        it, anything else keeps it for the retry (parts refused for good are then dead-lettered on their own)."""
        if not errors:
            return None
        retry = [exc for _, exc in errors if not isinstance(exc, PermanentWriteError)]
        if not retry:
            return errors[0][1]
        refused, reasons = WellBatch(batch.entity_id), []
        for part, exc in errors:
            if isinstance(exc, PermanentWriteError):
                if part[0] == "attributes" and part[1] in batch.attributes:
                    refused.attributes[part[1]] = batch.attributes.pop(part[1])
                elif part[0] == "points":
                    refused.points, batch.points = batch.points, {}
                reasons.append(str(exc))
        if reasons:
            log.error("%s writeback to %s partly refused, dead-lettered: %s", self.name, batch.entity_id, reasons)
            self.dead_letters.append((refused, "; ".join(reasons)))
        return retry[0]

    def _delete(self, op: tuple) -> None:
        """``DELETE /api/plugins/telemetry/{type}/{id}/{scope}?keys=`` (attributes) or ``DELETE .../timeseries/delete?
        keys=&startTs=&endTs=&deleteLatest=true`` (time series; an explicit range: ``deleteAllDataForKeys`` would end at
        ThingsBoard's clock and keep future points). Both are idempotent in ThingsBoard."""
        self._ensure_token()
        entity = EntityId(op[1], self._entity_type)
        if op[0] == "attributes":
            self._call(self._client.delete_entity_attributes, entity, op[3], ",".join(op[2]))
        else:
            self._call(lambda: self._client.delete_entity_timeseries(
                entity, keys=",".join(op[2]), delete_all_data_for_keys=False, start_ts=op[3], end_ts=op[4],
                delete_latest=True, rewrite_latest_if_deleted=False))

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        for attempt in (1, 2):
            try:
                answer = method(*args)
                self.requests_sent += 1
                return answer
            except ApiException as exc:
                if exc.status == 401 and attempt == 1:
                    with self._auth_lock:
                        self._login()  # expired or revoked token: log in again once
                    continue
                raise _classify(exc) from None
            except Exception as exc:  # urllib3 timeouts, connection refused, protocol errors
                raise _classify(exc) from None
