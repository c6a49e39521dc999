"""``atilax tb setup`` / ``atilax tb export``: install the bundle into ThingsBoard idempotently, or write
what is installed back to the bundle's JSON format.

Rule chains are imported as ThingsBoard's UI does: ``POST /api/ruleChain`` (the chain without metadata)
then ``POST /api/ruleChain/metadata?updateRelated=true`` with the new ``ruleChainId``; a rule-chain node's
``ruleChainId`` is remapped to the installed chain it names. Entities are matched by name (rule chains,
device and asset profiles, edges) or title (dashboards); one that already matches the bundle is left unchanged.

The lift device profiles (``ESP``, ``SRP``, ``PCP``, ``GasLift``) and the ``Field`` asset profile get the bundled
root chain ("Atilax Root Rule Chain": ThingsBoard's default root chain plus the optimization chain) as their
``defaultRuleChainId``, so their messages reach the optimization chain whatever the tenant's root chain is
(ThingsBoard routes a device's or asset's messages to its profile's default rule chain, else to the root chain).
Profiles that ThingsBoard created by itself (it creates a profile named after the type of a new device or asset)
are updated to point at it. With the gRPC transport, the wells and the ``Field`` assets are assigned to the Atilax
Edge (``POST /api/edge/{edgeId}/device/{deviceId}``, ``POST /api/edge/{edgeId}/asset/{assetId}``): ThingsBoard
pushes to an edge only the entities assigned to it. Last, the service's own tenant administrator is created
(:func:`_install_service_user`): the loop protection ignores what that user saves, so it must not be a person.
"""
from __future__ import annotations

import copy
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping
from urllib.parse import parse_qs, urlsplit

from tb_bridge.tbsetup.bundle import (
    FIELD_PROFILE,
    LIFT_PROFILES,
    RULE_CHAIN_FILES,
    RULE_CHAIN_NODE,
    SIMULATION_NODE,
    TRANSPORTS,
    bundled_dashboards,
    bundled_rule_chains,
    configure_endpoints,
    link_rule_chains,
    select_simulation_path,
    select_transport,
    without_secrets,
)
from tb_bridge.tbsetup.client import TbApiError, TbClient
from tb_bridge.tbsetup.service_user import SERVICE_USER_FLAG, default_service_email, is_service_user

Change = Literal["create", "update", "unchanged"]
_NODE_KEYS = ("type", "name", "debugMode", "singletonMode", "queueName", "configurationVersion", "configuration",
              "additionalInfo")
_HEAD_KEYS = ("name", "type", "debugMode", "configuration", "additionalInfo")
_DASHBOARD_KEYS = ("title", "image", "mobileHide", "mobileOrder", "configuration", "name")


@dataclass(frozen=True, slots=True)
class Action:
    """One planned or performed step."""

    kind: str
    name: str
    change: Change
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SetupOptions:
    """``transport``: grpc | mqtt | rest | kafka (what the optimization chain forwards with); the MQTT broker and
    the service URL and bearer token (``rest_ingress.token`` of the service) for the REST node; the Kafka node's
    brokers and the topics (``kafka_telemetry_topics`` by lift type and ``kafka_events_topic``: the service's
    ``kafka.*`` settings; None keeps the bundled defaults); the Edge (gRPC
    only); ``make_root`` makes the bundled root chain the tenant's root chain; ``assign_fields`` assigns the
    assets of the ``Field`` profile to the Edge along with the wells (gRPC only); ``service_user`` creates the
    tenant administrator the service writes as (:mod:`tb_bridge.tbsetup.service_user`), e-mail
    ``service_user_email`` (default ``atilax-service@<the administrator's domain>``), password
    ``service_user_password`` (default: generated)."""

    transport: str = "grpc"
    mqtt_host: str | None = None
    mqtt_port: int | None = None
    service_url: str | None = None
    edge_name: str = "Atilax Edge"
    edge_routing_key: str | None = None
    edge_secret: str | None = None
    make_root: bool = False
    assign_fields: bool = True
    service_token: str | None = None
    service_user: bool = True
    service_user_email: str | None = None
    service_user_password: str | None = None
    #: base URL of the service's HTTP API: slider writes go to its POST /simulation/reactive (None: the transport)
    simulation_api_url: str | None = None
    api_key: str | None = None
    kafka_bootstrap: str | None = None
    kafka_telemetry_topics: Mapping[str, str] | None = None
    kafka_events_topic: str | None = None


def desired_rule_chains(options: SetupOptions) -> list[dict[str, Any]]:
    """The bundle's chains with the transport and endpoints of ``options`` applied (import order)."""
    out = []
    for export in bundled_rule_chains():
        if any(n["name"] == "Select transport" for n in export["metadata"]["nodes"]):
            export = select_transport(export, options.transport)
        if any(n["name"] == SIMULATION_NODE for n in export["metadata"]["nodes"]):
            export = select_simulation_path(export, options.simulation_api_url is not None)
        out.append(configure_endpoints(export, mqtt_host=options.mqtt_host, mqtt_port=options.mqtt_port,
                                       service_url=options.service_url, service_token=options.service_token,
                                       api_url=options.simulation_api_url, api_key=options.api_key,
                                       kafka_bootstrap=options.kafka_bootstrap,
                                       kafka_telemetry_topics=options.kafka_telemetry_topics,
                                       kafka_events_topic=options.kafka_events_topic))
    return out


def _by_name(client: TbClient, path: str, name: str, field: str = "name", **params: Any) -> dict[str, Any] | None:
    for item in client.pages(path, textSearch=name, **params):
        if item.get(field) == name:
            return item
    return None


def _comparable_metadata(meta: Mapping[str, Any]) -> tuple:
    nodes = meta.get("nodes") or []
    names = [n["name"] for n in nodes]
    node_set = {n["name"]: json.dumps({k: n.get(k) for k in ("type", "configurationVersion", "configuration",
                                                              "additionalInfo")}, sort_keys=True) for n in nodes}
    conns = sorted((names[c["fromIndex"]], names[c["toIndex"]], c["type"]) for c in meta.get("connections") or [])
    first = meta.get("firstNodeIndex")
    return node_set, conns, names[first] if isinstance(first, int) and 0 <= first < len(names) else None


def _install_rule_chains(client: TbClient, options: SetupOptions, dry_run: bool) -> tuple[list[Action], dict[str, str]]:
    """Returns the actions and ``{chain name: id}`` (``<new NAME>`` for a chain a dry run would create)."""
    actions: list[Action] = []
    ids: dict[str, str] = {}
    for export in desired_rule_chains(options):
        head = export["ruleChain"]
        name = head["name"]
        existing = _by_name(client, "/api/ruleChains", name, type="CORE")
        refs = {n["additionalInfo"]["ruleChainName"] for n in export["metadata"]["nodes"]
                if n["type"] == RULE_CHAIN_NODE and "ruleChainName" in n.get("additionalInfo", {})}
        linked = link_rule_chains(export, {r: ids.get(r, f"<new {r}>") for r in refs})
        body = {k: copy.deepcopy(head.get(k)) for k in _HEAD_KEYS}
        metadata = {k: copy.deepcopy(linked["metadata"][k]) for k in ("firstNodeIndex", "nodes", "connections",
                                                                      "ruleChainConnections")}
        if existing is None:
            actions.append(Action("rule_chain", name, "create", f"{len(metadata['nodes'])} nodes"))
            chain_id = f"<new {name}>"
            if not dry_run:
                chain_id = client.post("/api/ruleChain", body)["id"]["id"]
                client.post("/api/ruleChain/metadata", {"ruleChainId": {"entityType": "RULE_CHAIN", "id": chain_id},
                                                        **metadata}, updateRelated="true")
        else:
            chain_id = existing["id"]["id"]
            installed = client.get(f"/api/ruleChain/{chain_id}/metadata")
            same_head = all(existing.get(k) == body[k] for k in ("name", "type", "additionalInfo"))
            if same_head and _comparable_metadata(installed) == _comparable_metadata(metadata):
                actions.append(Action("rule_chain", name, "unchanged"))
            else:
                actions.append(Action("rule_chain", name, "update", "configuration differs from the bundle"))
                if not dry_run:
                    client.post("/api/ruleChain", {**existing, **body})
                    client.post("/api/ruleChain/metadata", {"ruleChainId": {"entityType": "RULE_CHAIN", "id": chain_id},
                                                            **metadata}, updateRelated="true")
        ids[name] = chain_id
        if options.make_root and head.get("root"):
            is_root = existing is not None and bool(existing.get("root"))
            actions.append(Action("root_rule_chain", name, "unchanged" if is_root else "update",
                                  "" if is_root else "set as the tenant's root rule chain"))
            if not is_root and not dry_run:
                client.post(f"/api/ruleChain/{chain_id}/root")
    return actions, ids


def profile_chain_name() -> str:
    """The bundled chain the profiles default to: the one exported as a root chain."""
    return next(e["ruleChain"]["name"] for e in bundled_rule_chains() if e["ruleChain"].get("root"))


def _install_profiles(client: TbClient, chain_id: str, dry_run: bool) -> list[Action]:
    """The lift device profiles (DeviceProfileController: ``GET /api/deviceProfiles``, ``POST /api/deviceProfile``)
    and the ``Field`` asset profile (AssetProfileController: ``GET /api/assetProfiles``, ``POST /api/assetProfile``),
    each with ``defaultRuleChainId`` = ``chain_id``."""
    chain_ref = {"entityType": "RULE_CHAIN", "id": chain_id}
    wanted: list[tuple[str, str, str, dict[str, Any]]] = [
        ("device_profile", "/api/deviceProfiles", "/api/deviceProfile", {
            "name": name, "type": "DEFAULT", "transportType": "DEFAULT", "provisionType": "DISABLED",
            "description": f"Atilax artificially lifted well ({name})", "default": False,
            "profileData": {"configuration": {"type": "DEFAULT"}, "transportConfiguration": {"type": "DEFAULT"},
                            "provisionConfiguration": {"type": "DISABLED"}, "alarms": None}})
        for name in LIFT_PROFILES]
    wanted.append(("asset_profile", "/api/assetProfiles", "/api/assetProfile", {
        "name": FIELD_PROFILE, "description": "Atilax oil field (well placement and field development)",
        "default": False, "image": None, "defaultDashboardId": None, "defaultQueueName": None}))
    installed: dict[str, dict[str, dict[str, Any]]] = {}
    actions = []
    for kind, listing, save, body in wanted:
        if listing not in installed:
            installed[listing] = {p["name"]: p for p in client.pages(listing)}
        name = body["name"]
        existing = installed[listing].get(name)
        if existing is None:
            actions.append(Action(kind, name, "create", f"default rule chain {profile_chain_name()!r}"))
            if not dry_run:
                client.post(save, {**body, "defaultRuleChainId": chain_ref})
        elif (existing.get("defaultRuleChainId") or {}).get("id") == chain_id:
            actions.append(Action(kind, name, "unchanged"))
        else:
            actions.append(Action(kind, name, "update", f"default rule chain -> {profile_chain_name()!r}"))
            if not dry_run:
                client.post(save, {**existing, "defaultRuleChainId": chain_ref})
    return actions


def _install_dashboards(client: TbClient, dry_run: bool) -> list[Action]:
    actions = []
    for stem, dashboard in bundled_dashboards().items():
        title = dashboard["title"]
        existing = _by_name(client, "/api/tenant/dashboards", title, field="title")
        body = {k: copy.deepcopy(dashboard.get(k)) for k in _DASHBOARD_KEYS if k in dashboard}
        if existing is None:
            actions.append(Action("dashboard", title, "create", f"{len(dashboard['configuration']['widgets'])} widgets"))
            if not dry_run:
                client.post("/api/dashboard", body)
            continue
        installed = client.get(f"/api/dashboard/{existing['id']['id']}")
        if installed.get("configuration") == body["configuration"]:
            actions.append(Action("dashboard", title, "unchanged"))
        else:
            actions.append(Action("dashboard", title, "update", "configuration differs from the bundle"))
            if not dry_run:
                client.post("/api/dashboard", {**installed, **body})
    return actions


def _install_edge(client: TbClient, options: SetupOptions, dry_run: bool) -> list[Action]:
    actions = []
    edge = _by_name(client, "/api/tenant/edges", options.edge_name)
    if edge is None:
        key = options.edge_routing_key or secrets.token_hex(16)
        secret = options.edge_secret or secrets.token_hex(10)
        actions.append(Action("edge", options.edge_name, "create", f"routingKey={key} secret={secret}"))
        edge_id = None
        if not dry_run:
            edge_id = client.post("/api/edge", {"name": options.edge_name, "type": "default", "routingKey": key,
                                                "secret": secret, "label": "Atilax service"})["id"]["id"]
    else:
        edge_id = edge["id"]["id"]
        wanted = {k: v for k, v in (("routingKey", options.edge_routing_key), ("secret", options.edge_secret)) if v}
        if any(edge.get(k) != v for k, v in wanted.items()):
            actions.append(Action("edge", options.edge_name, "update", "routing key/secret changed"))
            if not dry_run:
                client.post("/api/edge", {**edge, **wanted})
        else:
            actions.append(Action("edge", options.edge_name, "unchanged", f"routingKey={edge.get('routingKey')}"))
    assigned = set() if edge_id is None else {d["id"]["id"] for d in client.pages(f"/api/edge/{edge_id}/devices")}
    for profile in LIFT_PROFILES:
        for device in client.pages("/api/tenant/devices", type=profile):
            if device["id"]["id"] in assigned:
                continue
            actions.append(Action("edge_assignment", device["name"], "create", f"{profile} well -> {options.edge_name}"))
            if not dry_run and edge_id is not None:
                client.post(f"/api/edge/{edge_id}/device/{device['id']['id']}")
    if options.assign_fields:
        # AssetController: GET /api/edge/{edgeId}/assets, GET /api/tenant/assets?type=,
        # POST /api/edge/{edgeId}/asset/{assetId}
        assigned = set() if edge_id is None else {a["id"]["id"] for a in client.pages(f"/api/edge/{edge_id}/assets")}
        for asset in client.pages("/api/tenant/assets", type=FIELD_PROFILE):
            if asset["id"]["id"] in assigned:
                continue
            actions.append(Action("edge_assignment", asset["name"], "create",
                                  f"{FIELD_PROFILE} asset -> {options.edge_name}"))
            if not dry_run and edge_id is not None:
                client.post(f"/api/edge/{edge_id}/asset/{asset['id']['id']}")
    return actions


def run_setup(client: TbClient, options: SetupOptions = SetupOptions(), *, dry_run: bool = False) -> list[Action]:
    """Install (or with ``dry_run`` only plan) rule chains, the device and asset profiles defaulting to the bundled
    root chain, dashboards and, for the gRPC transport, the Edge with the lift wells and the field assets assigned.
    Returns every action; a second run reports only ``unchanged``."""
    if options.transport not in TRANSPORTS:
        raise ValueError(f"transport must be grpc, mqtt, rest or kafka, got {options.transport!r}")
    if options.transport == "rest" and not options.service_token:
        raise ValueError("transport rest needs the service's bearer token (rest_ingress.token): the REST node "
                         "sends it as 'Authorization: Bearer <token>'")
    actions, chain_ids = _install_rule_chains(client, options, dry_run)
    actions += _install_profiles(client, chain_ids[profile_chain_name()], dry_run)
    actions += _install_dashboards(client, dry_run)
    if options.transport == "grpc":
        actions += _install_edge(client, options, dry_run)
    if options.service_user:
        actions += _install_service_user(client, options, dry_run)
    return actions


def _install_service_user(client: TbClient, options: SetupOptions, dry_run: bool) -> list[Action]:
    """The service's own tenant administrator, as ThingsBoard's UI creates a user without e-mail: ``POST
    /api/user?sendActivationMail=false`` (marked in ``additionalInfo``), ``GET /api/user/{id}/activationLink``,
    ``POST /api/noauth/activate`` with ``{activateToken, password}``. A service user that exists and is activated is
    left unchanged (its password is shown only when set); one left unactivated by an interrupted run is activated;
    a user of that e-mail without the mark belongs to someone else: :class:`ValueError`."""
    admin = client.get("/api/auth/user")
    email = options.service_user_email or default_service_email(str(admin.get("email") or ""))
    existing = next((u for u in client.pages("/api/users", textSearch=email)
                     if str(u.get("email", "")).lower() == email.lower()), None)
    if existing is None:
        change: Change = "create"
        if dry_run:
            return [Action("service_user", email, change, "tenant administrator the service writes as")]
        body = {"email": email, "authority": "TENANT_ADMIN", "firstName": "Atilax", "lastName": "Service",
                "additionalInfo": {SERVICE_USER_FLAG: True,
                                   "description": "Atilax optimization service: writes opt_*/sim_* results; "
                                                  "not for people (its own edits are ignored as echoes)"}}
        user_id = client.post("/api/user", body, sendActivationMail="false")["id"]["id"]
    elif not is_service_user(existing):
        raise ValueError(f"ThingsBoard user {email!r} exists and is not an Atilax service user "
                         f"(additionalInfo.{SERVICE_USER_FLAG}); choose another e-mail (--service-user-email)")
    else:
        change, user_id = "update", existing["id"]["id"]
    try:
        link = client.get_text(f"/api/user/{user_id}/activationLink")
    except TbApiError as exc:
        if exc.status == 400 and change == "update":  # "User is already activated!"
            return [Action("service_user", email, "unchanged", "exists (its password was shown when it was set)")]
        raise
    if dry_run:
        return [Action("service_user", email, "update", "activate (created but never activated)")]
    token = (parse_qs(urlsplit(link.strip()).query).get("activateToken") or [""])[0]
    if not token:
        raise ValueError(f"ThingsBoard's activation link of {email!r} has no activateToken")
    password = options.service_user_password or secrets.token_urlsafe(18)
    client.post("/api/noauth/activate", {"activateToken": token, "password": password}, sendActivationMail="false")
    detail = "activated with the requested password" if options.service_user_password else f"password={password}"
    return [Action("service_user", email, change, detail)]


def installed_rule_chains(client: TbClient) -> dict[str, dict[str, Any]]:
    """Every installed CORE chain as an export (``{"ruleChain", "metadata"}``) keyed by its id, with the
    rule-chain nodes' ids as installed (what the stand-in's rule engine runs)."""
    out = {}
    for chain in client.pages("/api/ruleChains", type="CORE"):
        cid = chain["id"]["id"]
        meta = client.get(f"/api/ruleChain/{cid}/metadata")
        out[cid] = {
            "ruleChain": {"name": chain["name"], "type": chain.get("type", "CORE"), "firstRuleNodeId": None,
                          "root": bool(chain.get("root")), "debugMode": bool(chain.get("debugMode")),
                          "configuration": chain.get("configuration"), "additionalInfo": chain.get("additionalInfo")},
            "metadata": {"firstNodeIndex": meta["firstNodeIndex"],
                         "nodes": [{k: copy.deepcopy(n[k]) for k in _NODE_KEYS if k in n} for n in meta["nodes"]],
                         "connections": meta["connections"], "ruleChainConnections": meta.get("ruleChainConnections")}}
    return out


def profile_rule_chains(client: TbClient) -> dict[tuple[str, str], str]:
    """``(originator type, profile name)`` -> the profile's ``defaultRuleChainId``, for every device and asset
    profile that names one (what routes a ThingsBoard entity's messages past the root chain)."""
    out: dict[tuple[str, str], str] = {}
    for originator_type, path in (("DEVICE", "/api/deviceProfiles"), ("ASSET", "/api/assetProfiles")):
        for profile in client.pages(path):
            chain_id = (profile.get("defaultRuleChainId") or {}).get("id")
            if chain_id:
                out[(originator_type, profile["name"])] = chain_id
    return out


def export_installed(client: TbClient, out_dir: Path) -> list[Path]:
    """Write the installed bundle chains and dashboards (matched by name/title) to ``out_dir`` in the bundle's
    format, with rule-chain-node ids turned back into ``additionalInfo.ruleChainName`` references and without the
    REST node's bearer token."""
    out_dir = Path(out_dir)
    (out_dir / "rulechains").mkdir(parents=True, exist_ok=True)
    (out_dir / "dashboards").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    chains = installed_rule_chains(client)
    names = {cid: c["ruleChain"]["name"] for cid, c in chains.items()}
    file_of = {export["ruleChain"]["name"]: fname for export, fname in zip(bundled_rule_chains(), RULE_CHAIN_FILES)}
    for cid, export in chains.items():
        if export["ruleChain"]["name"] not in file_of:
            continue
        for n in export["metadata"]["nodes"]:
            if n["type"] == RULE_CHAIN_NODE:
                target = n["configuration"].get("ruleChainId")
                n["additionalInfo"] = {**(n.get("additionalInfo") or {}), "ruleChainName": names.get(target, target)}
                n["configuration"]["ruleChainId"] = None
        path = out_dir / "rulechains" / file_of[export["ruleChain"]["name"]]
        path.write_text(json.dumps(without_secrets(export), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    stems = {d["title"]: stem for stem, d in bundled_dashboards().items()}
    for item in client.pages("/api/tenant/dashboards"):
        if item["title"] not in stems:
            continue
        dashboard = client.get(f"/api/dashboard/{item['id']['id']}")
        body = {k: dashboard.get(k) for k in _DASHBOARD_KEYS if k in dashboard}
        path = out_dir / "dashboards" / f"{stems[item['title']]}.json"
        path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
