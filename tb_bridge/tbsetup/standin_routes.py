"""ThingsBoard REST endpoints for rule chains, dashboards, device profiles, edges and alarms, for the stand-in.

Mount on the stand-in's app: ``app.include_router(build_router(tb))`` (``tb_bridge/standin/rest_api.py``,
``build_app``). Paths, bodies and the page format follow ThingsBoard's controllers
(application/src/main/java/org/thingsboard/server/controller/RuleChainController.java,
DashboardController.java, DeviceProfileController.java, AssetProfileController.java, EdgeController.java,
DeviceController.java, AssetController.java, AlarmController.java, UserController.java):
``{"data": [...], "totalPages", "totalElements", "hasNext"}`` pages and ``{"entityType", "id"}`` ids.
"""
from __future__ import annotations

import copy
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from tb_bridge.standin.auth import AuthError
from tb_bridge.standin.rest_api import ApiError, user_json
from tb_bridge.standin.store import NotFound


@dataclass
class StandInResources:
    """What the routes store: entities by id (ThingsBoard JSON, ids as ``{"entityType", "id"}``)."""

    rule_chains: dict[str, dict[str, Any]] = field(default_factory=dict)
    rule_chain_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    device_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    asset_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _eid(entity_type: str, value: str | None = None) -> dict[str, str]:
    return {"entityType": entity_type, "id": value or str(uuid.uuid4())}


def _page(items: list[dict[str, Any]], request: Request, name_field: str = "name") -> JSONResponse:
    q = request.query_params
    try:
        size, page = int(q.get("pageSize", "10")), int(q.get("page", "0"))
    except ValueError:
        raise ApiError(400, "pageSize and page must be integers", 31) from None
    if size < 1 or page < 0:
        raise ApiError(400, "Invalid page parameters", 31)
    text = (q.get("textSearch") or "").lower()
    rows = sorted((i for i in items if text in str(i.get(name_field, "")).lower()),
                  key=lambda i: str(i.get(name_field, "")).lower())
    chunk = rows[page * size:(page + 1) * size]
    total_pages = (len(rows) + size - 1) // size
    return JSONResponse({"data": chunk, "totalPages": total_pages, "totalElements": len(rows),
                         "hasNext": (page + 1) * size < len(rows)})


_ALARM_SEVERITIES = ("CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE")


def alarm_json(a: Any, entity_type: str = "DEVICE") -> dict[str, Any]:
    """A stand-in alarm as ThingsBoard's Alarm/AlarmInfo JSON (every field tb-rest-client requires)."""
    return {"id": _eid("ALARM", a.id), "createdTime": a.start_ts_ms, "originator": _eid(entity_type, a.originator_id),
            "type": a.type, "name": a.type, "severity": a.severity, "status": a.status,
            "acknowledged": a.status.endswith("_ACK"), "cleared": a.status.startswith("CLEARED"),
            "startTs": a.start_ts_ms, "endTs": a.start_ts_ms, "details": dict(a.details)}


def build_router(tb: Any, resources: StandInResources | None = None) -> APIRouter:
    """The router serving ``tb``'s rule chains, dashboards, device profiles and edges.

    ``router.resources`` is the :class:`StandInResources` it stores into."""
    res = resources or StandInResources()
    router = APIRouter()
    router.resources = res  # type: ignore[attr-defined]

    def auth(request: Request) -> Any:
        header = request.headers.get("X-Authorization") or ""
        if not header.startswith("Bearer "):
            raise ApiError(401, "Authentication failed", 10)
        try:
            return tb.auth.verify(header[len("Bearer "):].strip())
        except AuthError as exc:
            raise ApiError(401, str(exc), exc.error_code) from None

    async def body_of(request: Request) -> dict[str, Any]:
        import json

        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            raise ApiError(400, "Invalid request body", 31) from None
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object", 31)
        return body

    def tenant() -> dict[str, str]:
        return {"entityType": "TENANT", "id": tb.tenant_id}

    def save(table: dict[str, dict[str, Any]], entity_type: str, body: dict[str, Any], unique: str | None) -> dict[str, Any]:
        with res.lock:
            existing_id = (body.get("id") or {}).get("id")
            if existing_id is not None and existing_id not in table:
                raise ApiError(404, "Requested item wasn't found!", 32)
            for other_id, other in table.items():
                if unique and other_id != existing_id and other.get(unique) == body.get(unique):
                    raise ApiError(400, f"{entity_type.replace('_', ' ').title()} with such name already exists!", 31)
            entity = copy.deepcopy(body)
            entity["id"] = _eid(entity_type, existing_id)
            entity["tenantId"] = tenant()
            entity["createdTime"] = table[existing_id]["createdTime"] if existing_id else int(time.time() * 1000)
            table[entity["id"]["id"]] = entity
            return copy.deepcopy(entity)

    def get(table: dict[str, dict[str, Any]], entity_id: str) -> dict[str, Any]:
        with res.lock:
            if entity_id not in table:
                raise ApiError(404, "Requested item wasn't found!", 32)
            return copy.deepcopy(table[entity_id])

    # --- device and asset profiles (DeviceProfileController, AssetProfileController) ----------------------
    def profile_routes(path: str, table: dict[str, dict[str, Any]], entity_type: str, label: str) -> None:
        """``GET /api/{path}s`` (a page) and ``POST /api/{path}`` (create or update by name) for one profile
        kind, with ThingsBoard's validation messages."""

        @router.get(f"/api/{path}s")
        async def list_profiles(request: Request) -> JSONResponse:
            auth(request)
            with res.lock:
                items = copy.deepcopy(list(table.values()))
            return _page(items, request)

        @router.post(f"/api/{path}")
        async def save_profile(request: Request) -> JSONResponse:
            auth(request)
            body = await body_of(request)
            if not body.get("name"):
                raise ApiError(400, f"{label} name should be specified!", 31)
            chain = (body.get("defaultRuleChainId") or {}).get("id")
            if chain is not None and chain not in res.rule_chains:
                raise ApiError(400, "Can't assign non-existent rule chain!", 31)
            return JSONResponse(save(table, entity_type, body, "name"))

    profile_routes("deviceProfile", res.device_profiles, "DEVICE_PROFILE", "Device profile")
    profile_routes("assetProfile", res.asset_profiles, "ASSET_PROFILE", "Asset profile")

    def ensure_asset_profile(name: str) -> None:
        """AssetServiceImpl.saveAsset -> AssetProfileService.findOrCreateAssetProfile: a new asset type creates
        an asset profile of that name (no default rule chain)."""
        with res.lock:
            exists = any(p.get("name") == name for p in res.asset_profiles.values())
        if not exists:
            save(res.asset_profiles, "ASSET_PROFILE", {"name": name, "description": None, "default": False,
                                                       "image": None, "defaultRuleChainId": None,
                                                       "defaultDashboardId": None, "defaultQueueName": None}, "name")

    # --- rule chains ---------------------------------------------------------------------------------
    @router.get("/api/ruleChains")
    async def rule_chains(request: Request) -> JSONResponse:
        auth(request)
        kind = request.query_params.get("type", "CORE")
        with res.lock:
            items = [copy.deepcopy(c) for c in res.rule_chains.values() if c.get("type", "CORE") == kind]
        return _page(items, request)

    @router.post("/api/ruleChain")
    async def save_rule_chain(request: Request) -> JSONResponse:
        auth(request)
        body = await body_of(request)
        if not body.get("name"):
            raise ApiError(400, "Rule chain name should be specified!", 31)
        body.setdefault("type", "CORE")
        # The root flag changes only through POST /api/ruleChain/{id}/root.
        previous = res.rule_chains.get((body.get("id") or {}).get("id") or "")
        body["root"] = bool(previous and previous.get("root"))
        saved = save(res.rule_chains, "RULE_CHAIN", body, None)
        with res.lock:
            res.rule_chain_metadata.setdefault(saved["id"]["id"], {
                "ruleChainId": saved["id"], "firstNodeIndex": None, "nodes": [], "connections": [],
                "ruleChainConnections": None})
        return JSONResponse(saved)

    @router.get("/api/ruleChain/{chain_id}")
    async def rule_chain(request: Request, chain_id: str) -> JSONResponse:
        auth(request)
        return JSONResponse(get(res.rule_chains, chain_id))

    @router.get("/api/ruleChain/{chain_id}/metadata")
    async def rule_chain_metadata(request: Request, chain_id: str) -> JSONResponse:
        auth(request)
        get(res.rule_chains, chain_id)
        return JSONResponse(get(res.rule_chain_metadata, chain_id))

    @router.post("/api/ruleChain/metadata")
    async def save_rule_chain_metadata(request: Request) -> JSONResponse:
        auth(request)
        body = await body_of(request)
        chain_id = (body.get("ruleChainId") or {}).get("id")
        get(res.rule_chains, chain_id or "")
        nodes = body.get("nodes") or []
        for conn in body.get("connections") or []:
            if not (0 <= conn.get("fromIndex", -1) < len(nodes) and 0 <= conn.get("toIndex", -1) < len(nodes)):
                raise ApiError(400, "Rule chain connection references a missing node", 31)
        stored_nodes = []
        for node in nodes:
            n = copy.deepcopy(node)
            n["id"] = n.get("id") or _eid("RULE_NODE")
            n["ruleChainId"] = _eid("RULE_CHAIN", chain_id)
            stored_nodes.append(n)
        meta = {"ruleChainId": _eid("RULE_CHAIN", chain_id), "firstNodeIndex": body.get("firstNodeIndex"),
                "nodes": stored_nodes, "connections": copy.deepcopy(body.get("connections") or []),
                "ruleChainConnections": body.get("ruleChainConnections")}
        with res.lock:
            res.rule_chain_metadata[chain_id] = meta
            first = meta["firstNodeIndex"]
            res.rule_chains[chain_id]["firstRuleNodeId"] = stored_nodes[first]["id"] if isinstance(first, int) and 0 <= first < len(stored_nodes) else None
        return JSONResponse(copy.deepcopy(meta))

    @router.post("/api/ruleChain/{chain_id}/root")
    async def set_root(request: Request, chain_id: str) -> JSONResponse:
        auth(request)
        get(res.rule_chains, chain_id)
        with res.lock:
            for cid, chain in res.rule_chains.items():
                chain["root"] = cid == chain_id
            return JSONResponse(copy.deepcopy(res.rule_chains[chain_id]))

    # --- dashboards -----------------------------------------------------------------------------------
    @router.get("/api/tenant/dashboards")
    async def dashboards(request: Request) -> JSONResponse:
        auth(request)
        with res.lock:
            items = [{k: copy.deepcopy(v) for k, v in d.items() if k != "configuration"} for d in res.dashboards.values()]
        return _page(items, request, "title")

    @router.get("/api/dashboard/{dashboard_id}")
    async def dashboard(request: Request, dashboard_id: str) -> JSONResponse:
        auth(request)
        return JSONResponse(get(res.dashboards, dashboard_id))

    @router.post("/api/dashboard")
    async def save_dashboard(request: Request) -> JSONResponse:
        auth(request)
        body = await body_of(request)
        if not body.get("title"):
            raise ApiError(400, "Dashboard title should be specified!", 31)
        return JSONResponse(save(res.dashboards, "DASHBOARD", body, None))

    # --- devices and edges ------------------------------------------------------------------------------
    def device_json(device: Any) -> dict[str, Any]:
        return {"id": _eid("DEVICE", device.id), "tenantId": tenant(), "name": device.name, "type": device.type,
                "label": None}

    @router.get("/api/tenant/devices")
    async def tenant_devices(request: Request) -> JSONResponse:
        auth(request)
        kind = request.query_params.get("type")
        items = [device_json(d) for d in tb.store.devices() if not kind or d.type == kind]
        return _page(items, request)

    # --- assets (AssetController: POST /api/asset, GET /api/asset/{id}, GET /api/tenant/assets) ------
    def asset_json(asset: Any) -> dict[str, Any]:
        return {"id": _eid("ASSET", asset.id), "tenantId": tenant(), "name": asset.name, "type": asset.type,
                "label": None}

    @router.post("/api/asset")
    async def save_asset(request: Request) -> JSONResponse:
        auth(request)
        body = await body_of(request)
        if not body.get("name"):
            raise ApiError(400, "Asset name should be specified!", 31)
        if (body.get("id") or {}).get("id"):
            try:
                return JSONResponse(asset_json(tb.store.asset(body["id"]["id"])))
            except NotFound:
                raise ApiError(404, "Requested item wasn't found!", 32) from None
        try:
            asset = tb.store.create_asset(str(body["name"]), str(body.get("type") or "default"))
        except ValueError:
            raise ApiError(400, "Asset with such name already exists!", 31) from None
        ensure_asset_profile(asset.type)
        return JSONResponse(asset_json(asset))

    @router.get("/api/asset/{asset_id}")
    async def get_asset(request: Request, asset_id: str) -> JSONResponse:
        auth(request)
        try:
            return JSONResponse(asset_json(tb.store.asset(asset_id)))
        except NotFound:
            raise ApiError(404, f"Asset with id [{asset_id}] is not found", 32) from None

    @router.get("/api/tenant/assets")
    async def tenant_assets(request: Request) -> JSONResponse:
        auth(request)
        kind = request.query_params.get("type")
        items = [asset_json(a) for a in tb.store.assets() if not kind or a.type == kind]
        return _page(items, request)

    @router.get("/api/tenant/edges")
    async def tenant_edges(request: Request) -> JSONResponse:
        auth(request)
        with res.lock:
            items = copy.deepcopy(list(res.edges.values()))
        return _page(items, request)

    @router.post("/api/edge")
    async def save_edge(request: Request) -> JSONResponse:
        auth(request)
        body = await body_of(request)
        for name in ("name", "routingKey", "secret"):
            if not body.get(name):
                raise ApiError(400, f"Edge {name} should be specified!", 31)
        body.setdefault("type", "default")
        if not (body.get("id") or {}).get("id"):
            # A new edge is also registered with the stand-in's Edge gRPC server (same id), so the
            # service can connect with the routing key and secret that setup chose.
            edge = tb.create_edge(body["name"], body["routingKey"], body["secret"])
            with res.lock:
                res.edges[edge.id] = {"id": _eid("EDGE", edge.id), "createdTime": int(time.time() * 1000)}
            body = {**body, "id": _eid("EDGE", edge.id)}
        return JSONResponse(save(res.edges, "EDGE", body, "name"))

    @router.post("/api/edge/{edge_id}/device/{device_id}")
    async def assign_device(request: Request, edge_id: str, device_id: str) -> JSONResponse:
        auth(request)
        get(res.edges, edge_id)
        try:
            tb.assign_device_to_edge(device_id, edge_id)
            device = tb.store.device(device_id)
        except NotFound:
            raise ApiError(404, f"Device with id [{device_id}] is not found", 32) from None
        return JSONResponse(device_json(device))

    @router.get("/api/edge/{edge_id}/devices")
    async def edge_devices(request: Request, edge_id: str) -> JSONResponse:
        auth(request)
        get(res.edges, edge_id)
        items = [device_json(d) for d in tb.store.devices() if edge_id in d.edge_ids]
        return _page(items, request)

    @router.post("/api/edge/{edge_id}/asset/{asset_id}")
    async def assign_asset(request: Request, edge_id: str, asset_id: str) -> JSONResponse:
        auth(request)
        get(res.edges, edge_id)
        try:
            asset = tb.store.asset(asset_id)
            tb.assign_asset_to_edge(asset_id, edge_id)
        except NotFound:
            raise ApiError(404, f"Asset with id [{asset_id}] is not found", 32) from None
        return JSONResponse(asset_json(asset))

    @router.get("/api/edge/{edge_id}/assets")
    async def edge_assets(request: Request, edge_id: str) -> JSONResponse:
        auth(request)
        get(res.edges, edge_id)
        kind = request.query_params.get("type")
        items = [asset_json(a) for a in tb.store.assets() if edge_id in a.edge_ids and (not kind or a.type == kind)]
        return _page(items, request)

    # --- users (UserController: POST /api/user, GET /api/users, GET /api/user/{id}, .../activationLink) ----------
    def user_of(user_id: str) -> Any:
        try:
            uuid.UUID(user_id)
        except ValueError:
            raise ApiError(400, f"Invalid UUID string: {user_id}", 31) from None
        user = tb.auth.user_by_id(user_id)
        if user is None:
            raise ApiError(404, f"User with id [{user_id}] is not found", 32)
        return user

    @router.post("/api/user")
    async def save_user(request: Request) -> JSONResponse:
        # The tenant is the caller's; a new user has no credentials until activated (sendActivationMail=false:
        # the caller activates it through GET /api/user/{id}/activationLink and POST /api/noauth/activate).
        auth(request)
        body = await body_of(request)
        email = str(body.get("email") or "").strip()
        if not email:
            raise ApiError(400, "User email should be specified!", 31)
        if "@" not in email.strip("@"):
            raise ApiError(400, f"Invalid email address format '{email}'!", 31)
        authority = body.get("authority")
        if not authority:
            raise ApiError(400, "User authority isn't defined!", 31)
        if authority != "TENANT_ADMIN":
            raise ApiError(400, f"Authority {authority} is not supported by the stand-in", 31)
        info = body.get("additionalInfo") if isinstance(body.get("additionalInfo"), dict) else {}
        names = {"first_name": str(body.get("firstName") or ""), "last_name": str(body.get("lastName") or "")}
        existing_id = (body.get("id") or {}).get("id")
        if existing_id:
            user = user_of(existing_id)
            other = tb.auth.user_by_email(email)
            if other is not None and other.id != user.id:
                raise ApiError(400, f"User with email '{email}' already present in database!", 31)
            user = tb.auth.update_user(user.id, email=email, additional_info=dict(info), **names)
        else:
            try:
                user = tb.auth.create_user(email, authority, additional_info=info, **names)
            except ValueError as exc:
                raise ApiError(400, str(exc), 31) from None
        return JSONResponse(user_json(user, tb.tenant_id))

    @router.get("/api/users")
    async def users(request: Request) -> JSONResponse:
        auth(request)
        return _page([user_json(u, tb.tenant_id) for u in tb.auth.users()], request, "email")

    @router.get("/api/user/{user_id}")
    async def get_user(request: Request, user_id: str) -> JSONResponse:
        auth(request)
        return JSONResponse(user_json(user_of(user_id), tb.tenant_id))

    @router.get("/api/user/{user_id}/activationLink")
    async def activation_link(request: Request, user_id: str) -> PlainTextResponse:
        auth(request)
        user = user_of(user_id)
        if user.enabled or not user.activate_token:
            raise ApiError(400, "User is already activated!", 31)
        base = str(request.base_url).rstrip("/")
        return PlainTextResponse(f"{base}/api/noauth/activate?activateToken={user.activate_token}")

    @router.get("/api/alarm/{entity_type}/{entity_id}")
    async def entity_alarms(request: Request, entity_type: str, entity_id: str) -> JSONResponse:
        auth(request)
        status = request.query_params.get("searchStatus", "ANY")
        items = []
        for a in tb.store.alarms(entity_id):
            active = a.status.startswith("ACTIVE")
            if (status == "ACTIVE" and not active) or (status == "CLEARED" and active):
                continue
            items.append(alarm_json(a, entity_type))
        return _page(items, request)

    # Alarm writes (AlarmController.java: saveAlarm, clearAlarm, ackAlarm). ThingsBoard keeps one active alarm
    # per originator and type: a second create of the same type updates it (severity, details).
    @router.post("/api/alarm")
    async def save_alarm(request: Request) -> JSONResponse:
        auth(request)
        body = await body_of(request)
        originator = body.get("originator") or {}
        alarm_type, severity = body.get("type"), body.get("severity")
        if not alarm_type or not isinstance(originator, dict) or not originator.get("id"):
            raise ApiError(400, "Alarm type and originator are required", 31)
        if severity not in _ALARM_SEVERITIES:
            raise ApiError(400, f"Invalid alarm severity: {severity!r}", 31)
        if (body.get("id") or {}).get("id"):
            try:
                tb.store.alarm(body["id"]["id"])
            except NotFound:
                raise ApiError(404, f"Alarm with id [{body['id']['id']}] is not found", 32) from None
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
        try:
            alarm = tb.store.create_alarm(originator["id"], str(alarm_type), severity,
                                          int(body.get("startTs") or tb.clock_ms()), details)
        except NotFound as exc:
            raise ApiError(404, str(exc.args[0]), 32) from None
        return JSONResponse(alarm_json(alarm, originator.get("entityType", "DEVICE")))

    @router.post("/api/alarm/{alarm_id}/clear")
    async def clear_alarm(request: Request, alarm_id: str) -> JSONResponse:
        user = auth(request)
        try:  # emits ALARM_CLEAR with the user, as ThingsBoard's entity action does
            return JSONResponse(alarm_json(tb.clear_alarm(alarm_id, user)))
        except NotFound:
            raise ApiError(404, f"Alarm with id [{alarm_id}] is not found", 32) from None

    @router.post("/api/alarm/{alarm_id}/ack")
    async def ack_alarm(request: Request, alarm_id: str) -> JSONResponse:
        user = auth(request)
        try:  # emits ALARM_ACK with the user
            return JSONResponse(alarm_json(tb.ack_alarm(alarm_id, user)))
        except NotFound:
            raise ApiError(404, f"Alarm with id [{alarm_id}] is not found", 32) from None

    return router
