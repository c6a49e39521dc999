"""Writeback through ThingsBoard's REST API with tb-rest-client.

Attributes: ``POST /api/plugins/telemetry/DEVICE/{id}/attributes/{scope}`` (``save_entity_attributes_v2``);
time series with explicit (possibly future) timestamps: ``POST .../timeseries/ANY`` with a JSON array of
``{"ts", "values"}`` (``save_entity_telemetry``). Both are idempotent in ThingsBoard (attributes are
overwritten; a point is keyed by entity, key and ts), so a retried or repeated write is harmless.

Login is a plain POST to ``/api/auth/login`` so that a 401 (bad credentials) and a 5xx are told apart
(tb-rest-client's ``login`` does not check the status); the tokens are then handed to the client with
``token_login``. The access token is refreshed through ``/api/auth/token`` ``refresh_margin_s`` before
its ``exp`` claim, and a 401 on a write triggers one fresh login.
"""
from __future__ import annotations

import logging
import threading
import time
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


class RestWriteback(BatchingWriteback):
    """:class:`~tb_bridge.writeback.base.Writeback` over REST (see :class:`BatchingWriteback` for
    batching, backoff and the bounded outbox). After a login, :attr:`user_id` is the ThingsBoard user id
    the service writes as (give it to the transports' :class:`~tb_bridge.transport.loop_guard.LoopGuard`)."""

    name = "rest"

    def __init__(self, base_url: str, username: str, password: str, *, timeout_s: float = 10.0,
                 refresh_margin_s: float = 60.0, entity_type: str = "DEVICE", concurrency: int = 4,
                 client_factory: Callable[..., RestClient] = RestClient, **batching: Any) -> None:
        super().__init__(**batching)
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="rest-writeback") if concurrency > 1 else None
        self.base_url = base_url.rstrip("/")
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
        self._http.close()

    # --- auth ----------------------------------------------------------------------------------------
    def _store_tokens(self, body: Any) -> None:
        if not isinstance(body, dict) or not body.get("token"):
            raise TransientWriteError("login answer without a token")
        claims = jwt.decode(body["token"], options={"verify_signature": False})
        self._token_exp = float(claims.get("exp", 0))
        self.user_id = claims.get("userId")
        self._refresh_token = body.get("refreshToken")
        self._client.token_login(body["token"], self._refresh_token)

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
        """Up to ``concurrency`` wells at a time (each well's requests stay in order, in one task)."""
        try:
            self._ensure_token()
        except Exception as exc:
            return [exc] * len(batches)
        if self._pool is None or len(batches) == 1:
            return super()._deliver_round(batches)

        def one(batch: WellBatch) -> Exception | None:
            try:
                self._deliver(batch)
                return None
            except Exception as exc:
                return exc

        return list(self._pool.map(one, batches))

    def _deliver(self, batch: WellBatch) -> None:
        self._ensure_token()
        entity = EntityId(batch.entity_id, self._entity_type)
        for scope in list(batch.attributes):
            self._call(self._client.save_entity_attributes_v2, entity, scope, batch.attributes[scope])
            del batch.attributes[scope]
        if batch.points:
            body = [{"ts": ts, "values": values} for ts, values in sorted(batch.points.items())]
            self._call(self._client.save_entity_telemetry, entity, "ANY", body)
            batch.points.clear()

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
