"""ThingsBoard's REST subset served by the stand-in (FastAPI).

Paths, parameters and status codes follow ThingsBoard CE:
- ``POST /api/auth/login``, ``POST /api/auth/token`` (refresh), ``GET /api/auth/user``, ``POST /api/noauth/activate``
  (application/src/main/java/org/thingsboard/server/controller/AuthController.java and the
  RestLoginProcessingFilter / RefreshTokenProcessingFilter of service/security/auth/rest/).
- ``/api/plugins/telemetry/...`` (application/src/main/java/org/thingsboard/server/controller/TelemetryController.java):
  save attributes (v1 ``POST /{entityType}/{entityId}/{scope}``, v2 ``POST /{entityType}/{entityId}/attributes/{scope}``),
  read attributes, delete attributes ``DELETE /{entityType}/{entityId}/{scope}?keys=``, save time series
  ``POST /{entityType}/{entityId}/timeseries/{scope}``, read latest/history, delete time series
  ``DELETE /{entityType}/{entityId}/timeseries/delete`` (``deleteAllDataForKeys=true`` deletes ``[0, now)``,
  ignoring startTs/endTs; otherwise both are required).
- Device API ``POST /api/v1/{token}/telemetry`` and ``/attributes``
  (common/transport/http/src/main/java/org/thingsboard/server/transport/http/DeviceApiController.java):
  401 for an unknown token, 400 for a body that is not valid telemetry JSON.
Errors carry ThingsBoard's body ``{"status", "message", "errorCode", "timestamp"}``
(common/data/src/main/java/org/thingsboard/server/common/data/exception/ThingsboardErrorCode.java:
2 general, 10 authentication, 11 JWT expired, 30 invalid arguments, 31 bad request params, 32 item not found).
"""
from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tb_bridge.standin.auth import NULL_UUID, AuthError, User
from tb_bridge.standin.core import DeviceAuthError, StandIn
from tb_bridge.standin.json_telemetry import JsonBodyError, attribute_values, parse_json_body, telemetry_entries
from tb_bridge.standin.store import NotFound

_ENTITY_TYPES = {"DEVICE", "ASSET", "CUSTOMER", "TENANT", "ENTITY_VIEW", "EDGE", "USER", "DASHBOARD"}
_WRITABLE_SCOPES = {"SERVER_SCOPE", "SHARED_SCOPE"}
_ALL_SCOPES = {"CLIENT_SCOPE", "SERVER_SCOPE", "SHARED_SCOPE"}


class ApiError(Exception):
    """A ThingsBoard error answer."""

    def __init__(self, status: int, message: str, error_code: int) -> None:
        super().__init__(message)
        self.status, self.message, self.error_code = status, message, error_code


def _bad_request(message: str) -> ApiError:
    return ApiError(400, message, 31)


def _parse_bool(raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    return raw.strip().lower() == "true"


def _parse_long(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise _bad_request(f"Failed to convert value of type 'java.lang.String' to required type 'java.lang.Long'; "
                           f"parameter {name}: {raw!r}") from None


def _keys(request: Request) -> list[str]:
    """``keys=a,b`` and/or repeated ``key=`` parameters (tb-rest-client 4.4 may send either)."""
    out: list[str] = []
    raw = request.query_params.get("keys")
    if raw:
        out.extend(k.strip() for k in raw.split(",") if k.strip())
    out.extend(v for v in request.query_params.getlist("key") if v)
    return out


def _str_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def user_json(user: User, tenant_id: str) -> dict[str, Any]:
    """A stand-in user as ThingsBoard's User JSON (``GET /api/auth/user``, ``/api/user/{id}``, ``/api/users``)."""
    return {"id": {"entityType": "USER", "id": user.id}, "createdTime": user.created_time,
            "tenantId": {"entityType": "TENANT", "id": tenant_id},
            "customerId": {"entityType": "CUSTOMER", "id": NULL_UUID},
            "email": user.email, "name": user.email, "authority": user.authority, "firstName": user.first_name,
            "lastName": user.last_name, "phone": None,
            "additionalInfo": {**user.additional_info, **({"userCredentialsEnabled": True} if user.enabled else {})}}


def build_app(tb: StandIn) -> FastAPI:
    """The FastAPI application serving ``tb``."""
    app = FastAPI(title="ThingsBoard stand-in", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"status": exc.status, "message": exc.message, "errorCode": exc.error_code,
                             "timestamp": tb.clock_ms()}, status_code=exc.status)

    async def json_body(request: Request) -> Any:
        raw = await request.body()
        try:
            return parse_json_body(raw)
        except JsonBodyError as exc:
            raise _bad_request(str(exc)) from None

    def authenticate(request: Request) -> User:
        header = request.headers.get("X-Authorization") or ""
        if not header.startswith("Bearer "):
            raise ApiError(401, "Authentication failed", 10)
        try:
            return tb.auth.verify(header[len("Bearer "):].strip())
        except AuthError as exc:
            raise ApiError(401, str(exc), exc.error_code) from None

    def _parse_entity(entity_type: str, entity_id: str) -> None:
        if entity_type not in _ENTITY_TYPES:
            raise _bad_request(f"Invalid entity type: {entity_type}")
        try:
            uuid.UUID(entity_id)
        except ValueError:
            raise _bad_request(f"Invalid UUID string: {entity_id}") from None

    def device_id_of(entity_type: str, entity_id: str) -> str:
        _parse_entity(entity_type, entity_id)
        if entity_type == "ASSET":  # assets keep attributes and time series like devices
            try:
                tb.store.asset(entity_id)
            except NotFound:
                raise ApiError(404, f"Asset with id [{entity_id}] is not found", 32) from None
            return entity_id
        if entity_type != "DEVICE":
            raise ApiError(404, f"{entity_type.title()} with id [{entity_id}] is not found", 32)
        try:
            tb.store.device(entity_id)
        except NotFound:
            raise ApiError(404, f"Device with id [{entity_id}] is not found", 32) from None
        return entity_id

    # --- auth --------------------------------------------------------------------------------------
    @app.post("/api/auth/login")
    async def login(request: Request) -> JSONResponse:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ApiError(401, "Authentication failed", 10)
        try:
            return JSONResponse(tb.auth.login(str(body.get("username") or ""), str(body.get("password") or "")))
        except AuthError as exc:
            raise ApiError(401, str(exc), exc.error_code) from None

    @app.post("/api/auth/token")
    async def refresh(request: Request) -> JSONResponse:
        body = await json_body(request)
        token = body.get("refreshToken") if isinstance(body, dict) else None
        if not token:
            raise ApiError(401, "Authentication failed", 10)
        try:
            return JSONResponse(tb.auth.refresh(str(token)))
        except AuthError as exc:
            raise ApiError(401, str(exc), exc.error_code) from None

    @app.get("/api/auth/user")
    async def current_user(request: Request) -> JSONResponse:
        return JSONResponse(user_json(authenticate(request), tb.tenant_id))

    @app.post("/api/noauth/activate")
    async def activate(request: Request) -> JSONResponse:
        # AuthController.activateUser: {"activateToken", "password"} -> the user's first token pair (no login needed)
        body = await json_body(request)
        if not isinstance(body, dict) or not body.get("activateToken") or not body.get("password"):
            raise _bad_request("activateToken and password are required")
        try:
            return JSONResponse(tb.auth.activate(str(body["activateToken"]), str(body["password"])))
        except AuthError as exc:
            raise ApiError(400, str(exc), exc.error_code) from None

    # --- attributes ------------------------------------------------------------------------------
    async def _save_attributes(request: Request, entity_type: str, entity_id: str, scope: str) -> Response:
        # TelemetryController.saveAttributes: scope, then body, then entity access (404) - in that order
        user = authenticate(request)
        _parse_entity(entity_type, entity_id)
        if scope not in _WRITABLE_SCOPES:
            raise _bad_request(f"Invalid scope: {scope}")
        body = await json_body(request)
        if not isinstance(body, dict) or not body:
            raise _bad_request("No attributes data found in request body!")
        if any(not str(k).strip() for k in body):
            raise _bad_request("Key cannot be empty or contains only spaces")
        try:
            values = attribute_values(body)
        except JsonBodyError as exc:
            raise _bad_request(str(exc)) from None
        device_id = device_id_of(entity_type, entity_id)
        tb.save_attributes(device_id, scope, values, user=user)
        return Response(status_code=200)

    @app.post("/api/plugins/telemetry/{entity_type}/{entity_id}/attributes/{scope}")
    async def save_attributes_v2(request: Request, entity_type: str, entity_id: str, scope: str) -> Response:
        return await _save_attributes(request, entity_type, entity_id, scope)

    @app.post("/api/plugins/telemetry/{entity_type}/{entity_id}/{scope}")
    async def save_attributes_v1(request: Request, entity_type: str, entity_id: str, scope: str) -> Response:
        return await _save_attributes(request, entity_type, entity_id, scope)

    def _attribute_list(device_id: str, scopes: list[str], keys: list[str]) -> list[dict[str, Any]]:
        out = []
        for scope in scopes:
            found = tb.store.get_attributes(device_id, scope, keys or None)
            out.extend({"lastUpdateTs": ts, "key": k, "value": v} for k, (v, ts) in found.items())
        return out

    @app.get("/api/plugins/telemetry/{entity_type}/{entity_id}/values/attributes/{scope}")
    async def get_attributes_by_scope(request: Request, entity_type: str, entity_id: str, scope: str) -> JSONResponse:
        authenticate(request)
        device_id = device_id_of(entity_type, entity_id)
        if scope not in _ALL_SCOPES:
            raise _bad_request(f"Invalid attribute scope: {scope}")
        return JSONResponse(_attribute_list(device_id, [scope], _keys(request)))

    @app.get("/api/plugins/telemetry/{entity_type}/{entity_id}/values/attributes")
    async def get_attributes(request: Request, entity_type: str, entity_id: str) -> JSONResponse:
        authenticate(request)
        device_id = device_id_of(entity_type, entity_id)
        return JSONResponse(_attribute_list(device_id, ["CLIENT_SCOPE", "SHARED_SCOPE", "SERVER_SCOPE"], _keys(request)))

    @app.delete("/api/plugins/telemetry/{entity_type}/{entity_id}/{scope}")
    async def delete_attributes(request: Request, entity_type: str, entity_id: str, scope: str) -> Response:
        user = authenticate(request)
        device_id = device_id_of(entity_type, entity_id)
        keys = _keys(request)
        if not keys:
            raise _bad_request(f"Empty keys: {request.query_params.get('keys', '')}")
        if scope not in _ALL_SCOPES:
            raise _bad_request(f"Invalid attribute scope: {scope}")
        tb.delete_attributes(device_id, scope, keys, user=user)
        return Response(status_code=200)

    # --- time series -----------------------------------------------------------------------------
    @app.post("/api/plugins/telemetry/{entity_type}/{entity_id}/timeseries/{scope}")
    async def save_timeseries(request: Request, entity_type: str, entity_id: str, scope: str) -> Response:
        user = authenticate(request)
        device_id = device_id_of(entity_type, entity_id)
        body = await json_body(request)
        try:
            entries = telemetry_entries(body, tb.clock_ms())
        except JsonBodyError as exc:
            raise _bad_request(str(exc)) from None
        if not entries:
            raise _bad_request("No timeseries data found in request body!")
        tb.save_timeseries(device_id, entries, user=user)
        return Response(status_code=200)

    @app.delete("/api/plugins/telemetry/{entity_type}/{entity_id}/timeseries/delete")
    async def delete_timeseries(request: Request, entity_type: str, entity_id: str) -> Response:
        user = authenticate(request)
        device_id = device_id_of(entity_type, entity_id)
        keys = _keys(request)
        if not keys:
            raise _bad_request(f"Empty keys: {request.query_params.get('keys', '')}")
        q = request.query_params
        if _parse_bool(q.get("deleteAllDataForKeys"), False):
            start_ms, end_ms = 0, tb.clock_ms()
        else:
            start_ms, end_ms = _parse_long(q.get("startTs"), "startTs"), _parse_long(q.get("endTs"), "endTs")
            if start_ms is None or end_ms is None:
                raise _bad_request("When deleteAllDataForKeys is false, start and end timestamp values shouldn't be empty")
        tb.delete_timeseries(device_id, keys, start_ms, end_ms,
                             delete_latest=_parse_bool(q.get("deleteLatest"), True),
                             rewrite_latest=_parse_bool(q.get("rewriteLatestIfDeleted"), False), user=user)
        return Response(status_code=200)

    def _ts_json(points: list[tuple[int, Any]], strict: bool) -> list[dict[str, Any]]:
        return [{"ts": ts, "value": v if strict else _str_value(v)} for ts, v in points]

    def _history(request: Request, device_id: str) -> JSONResponse:
        q = request.query_params
        keys = _keys(request)
        if not keys:
            raise _bad_request("Empty keys")
        start_ms, end_ms = _parse_long(q.get("startTs"), "startTs"), _parse_long(q.get("endTs"), "endTs")
        if start_ms is None or end_ms is None:
            raise _bad_request("Required request parameter 'startTs'/'endTs' is not present")
        agg = (q.get("agg") or "NONE").upper()
        if agg != "NONE":
            raise _bad_request(f"Aggregation {agg} is not supported by the stand-in")
        limit = _parse_long(q.get("limit"), "limit") or 100
        descending = (q.get("orderBy") or "DESC").upper() == "DESC"
        strict = _parse_bool(q.get("useStrictDataTypes"), False)
        found = tb.store.get_timeseries(device_id, keys, start_ms, end_ms)
        out = {}
        for key, points in found.items():
            points = points[::-1] if descending else points
            out[key] = _ts_json(points[:limit], strict)
        return JSONResponse(out)

    @app.get("/api/plugins/telemetry/{entity_type}/{entity_id}/values/timeseries")
    async def get_timeseries(request: Request, entity_type: str, entity_id: str) -> JSONResponse:
        authenticate(request)
        device_id = device_id_of(entity_type, entity_id)
        if "startTs" in request.query_params or "endTs" in request.query_params:
            return _history(request, device_id)
        keys = _keys(request) or None
        strict = _parse_bool(request.query_params.get("useStrictDataTypes"), False)
        latest = tb.store.latest_timeseries(device_id, keys)
        return JSONResponse({k: _ts_json([point], strict) for k, point in latest.items()})

    @app.get("/api/plugins/telemetry/{entity_type}/{entity_id}/values/timeseries/history")
    async def get_timeseries_history(request: Request, entity_type: str, entity_id: str) -> JSONResponse:
        authenticate(request)
        return _history(request, device_id_of(entity_type, entity_id))

    @app.get("/api/plugins/telemetry/{entity_type}/{entity_id}/keys/timeseries")
    async def timeseries_keys(request: Request, entity_type: str, entity_id: str) -> JSONResponse:
        authenticate(request)
        return JSONResponse(tb.store.timeseries_keys(device_id_of(entity_type, entity_id)))

    # --- device API ------------------------------------------------------------------------------
    @app.post("/api/v1/{token}/telemetry")
    async def device_telemetry(request: Request, token: str) -> Response:
        raw = await request.body()
        try:
            tb.post_device_telemetry(token, raw)
        except DeviceAuthError:
            return Response(status_code=401)
        except JsonBodyError as exc:
            return Response(str(exc), status_code=400)
        return Response(status_code=200)

    @app.post("/api/v1/{token}/attributes")
    async def device_attributes(request: Request, token: str) -> Response:
        raw = await request.body()
        try:
            tb.post_device_attributes(token, raw)
        except DeviceAuthError:
            return Response(status_code=401)
        except JsonBodyError as exc:
            return Response(str(exc), status_code=400)
        return Response(status_code=200)

    # ThingsBoard's entity APIs that the setup command uses (device profiles, rule chains, dashboards, edges).
    from tb_bridge.tbsetup.standin_routes import build_router

    setup_router = build_router(tb)
    app.include_router(setup_router)
    return _FaultInjection(app, tb, setup_resources=setup_router.resources)


class _FaultInjection:
    """Pure ASGI middleware answering injected faults (:meth:`StandIn.set_http_fault`); a slow ThingsBoard
    (delay without a status) still applies the request after the delay, as a real overloaded server would."""

    def __init__(self, app, tb: StandIn, setup_resources=None) -> None:
        self.app, self.tb = app, tb
        self.setup_resources = setup_resources  #: the rule chains, dashboards, ... installed by setup

    async def __call__(self, scope, receive, send):
        fault = self.tb.http_fault
        if scope["type"] != "http" or fault is None or not scope["path"].startswith(fault.path_prefix):
            await self.app(scope, receive, send)
            return
        messages = []
        while True:  # read the whole body before the delay: the client may give up meanwhile
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        if fault.delay_s > 0:
            await asyncio.sleep(fault.delay_s)
        if fault.status is None:
            replay = iter(messages)

            async def replay_receive():
                try:
                    return next(replay)
                except StopIteration:
                    return {"type": "http.disconnect"}

            try:
                await self.app(scope, replay_receive, send)
            except OSError:
                pass
            return
        body = json.dumps({"status": fault.status, "message": "Injected fault", "errorCode": 2,
                           "timestamp": self.tb.clock_ms()}).encode()
        await send({"type": "http.response.start", "status": fault.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
