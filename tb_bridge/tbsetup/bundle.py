"""The bundled ThingsBoard artifacts: rule chains under ``rulechains/``, dashboards under ``dashboards/``.

A bundled chain that calls another one (``flow.TbRuleChainInputNode``) names it in
``additionalInfo.ruleChainName``; :func:`link_rule_chains` fills ``configuration.ruleChainId`` with the
target's id once it is known (the id remapping ThingsBoard's own import needs as well).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Mapping

REPO_ROOT = Path(__file__).resolve().parents[2]
RULECHAIN_DIR = REPO_ROOT / "rulechains"
DASHBOARD_DIR = REPO_ROOT / "dashboards"
LIFT_PROFILES: tuple[str, ...] = ("ESP", "SRP", "PCP", "GasLift", "NaturalFlow")
#: Asset profile of oil fields (placement runs; the chain's "Field asset" switch).
FIELD_PROFILE = "Field"
#: The REST node's header that carries the service's bearer token (a secret: export leaves it out).
AUTH_HEADER = "Authorization"
#: Relation names of the "Select transport" switch in well_optimization.json.
TRANSPORTS: dict[str, str] = {"grpc": "gRPC Edge", "mqtt": "MQTT", "rest": "REST"}
TRANSPORT_NODE = "Select transport"
#: The switch that sends slider writes (sim_param_* only) to the HTTP API instead of the transport, and its REST node.
SIMULATION_NODE = "Simulation path"
API_NODE = "POST to Atilax API (simulation)"
API_KEY_HEADER = "X-API-Key"
RULE_CHAIN_NODE = "org.thingsboard.rule.engine.flow.TbRuleChainInputNode"
#: Import order: a chain before the chains that call it.
RULE_CHAIN_FILES: tuple[str, ...] = ("well_optimization.json", "root_rule_chain.json")


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def bundled_rule_chains(directory: Path = RULECHAIN_DIR) -> list[dict[str, Any]]:
    """The chain exports in import order."""
    return [load_json(directory / name) for name in RULE_CHAIN_FILES]


def bundled_dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, dict[str, Any]]:
    """``{file stem: dashboard JSON}`` of every bundled dashboard."""
    return {p.stem: load_json(p) for p in sorted(directory.glob("*.json"))}


def chain_references(export: Mapping[str, Any]) -> list[str]:
    """Names of the chains that ``export`` calls through rule-chain nodes."""
    return [n["additionalInfo"]["ruleChainName"] for n in export["metadata"]["nodes"]
            if n["type"] == RULE_CHAIN_NODE and "ruleChainName" in (n.get("additionalInfo") or {})]


def link_rule_chains(export: Mapping[str, Any], ids_by_name: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``export`` whose rule-chain nodes point at ``ids_by_name[additionalInfo.ruleChainName]``."""
    out = copy.deepcopy(dict(export))
    for node in out["metadata"]["nodes"]:
        name = (node.get("additionalInfo") or {}).get("ruleChainName")
        if node["type"] == RULE_CHAIN_NODE and name is not None:
            if name not in ids_by_name:
                raise KeyError(f"rule chain {name!r} (called from {out['ruleChain']['name']!r}) is not installed")
            node["configuration"]["ruleChainId"] = ids_by_name[name]
    return out


def select_transport(export: Mapping[str, Any], transport: str) -> dict[str, Any]:
    """A copy of the optimization chain whose "Select transport" switch returns ``transport``
    (``grpc``, ``mqtt`` or ``rest``)."""
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {sorted(TRANSPORTS)}, got {transport!r}")
    out = copy.deepcopy(dict(export))
    nodes = [n for n in out["metadata"]["nodes"] if n["name"] == TRANSPORT_NODE]
    if len(nodes) != 1:
        raise ValueError(f"{out['ruleChain']['name']!r} has no unique {TRANSPORT_NODE!r} node")
    script = f"return ['{TRANSPORTS[transport]}'];"
    nodes[0]["configuration"].update(tbelScript=script, jsScript=script)
    return out


def select_simulation_path(export: Mapping[str, Any], via_api: bool) -> dict[str, Any]:
    """A copy of the optimization chain whose "Simulation path" switch sends slider writes (attribute updates of
    ``sim_param_*`` keys only) to the HTTP API's ``POST /simulation/reactive`` (``via_api``) or, as by default,
    to the selected transport."""
    out = copy.deepcopy(dict(export))
    nodes = [n for n in out["metadata"]["nodes"] if n["name"] == SIMULATION_NODE]
    if len(nodes) != 1:
        raise ValueError(f"{out['ruleChain']['name']!r} has no unique {SIMULATION_NODE!r} node")
    cfg = nodes[0]["configuration"]
    script = cfg["tbelScript"].replace("var api = true;", "var api = false;")
    if via_api:
        script = script.replace("var api = false;", "var api = true;")
    cfg.update(tbelScript=script, jsScript=script)
    return out


def configure_endpoints(export: Mapping[str, Any], *, mqtt_host: str | None = None, mqtt_port: int | None = None,
                        service_url: str | None = None, service_token: str | None = None,
                        api_url: str | None = None, api_key: str | None = None) -> dict[str, Any]:
    """A copy with the MQTT node's broker, the REST node's service base URL (scheme, host and port replaced,
    the path kept) and its ``Authorization: Bearer <service_token>`` header set; the HTTP API node's base URL
    (``api_url``) and ``X-API-Key: <api_key>`` header likewise."""
    out = copy.deepcopy(dict(export))
    for node in out["metadata"]["nodes"]:
        cfg = node["configuration"]
        if node["type"].endswith("mqtt.TbMqttNode"):
            if mqtt_host is not None:
                cfg["host"] = mqtt_host
            if mqtt_port is not None:
                cfg["port"] = int(mqtt_port)
        if node["type"].endswith("rest.TbRestApiCallNode") and node["name"] == API_NODE:
            if api_url is not None:
                url = cfg["restEndpointUrlPattern"]
                cfg["restEndpointUrlPattern"] = api_url.rstrip("/") + url[url.index("/", url.index("://") + 3):]
            if api_key is not None:
                cfg["headers"] = {**(cfg.get("headers") or {}), API_KEY_HEADER: api_key}
        elif node["type"].endswith("rest.TbRestApiCallNode"):
            if service_url is not None:
                url = cfg["restEndpointUrlPattern"]
                path = url[url.index("/", url.index("://") + 3):]
                cfg["restEndpointUrlPattern"] = service_url.rstrip("/") + path
            if service_token is not None:
                cfg["headers"] = {**(cfg.get("headers") or {}), AUTH_HEADER: f"Bearer {service_token}"}
    return out


def without_secrets(export: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without the REST nodes' ``Authorization`` and ``X-API-Key`` headers (what ``atilax tb export``
    writes)."""
    secret = {AUTH_HEADER.lower(), API_KEY_HEADER.lower()}
    out = copy.deepcopy(dict(export))
    for node in out["metadata"]["nodes"]:
        if node["type"].endswith("rest.TbRestApiCallNode") and node["configuration"].get("headers"):
            node["configuration"]["headers"] = {k: v for k, v in node["configuration"]["headers"].items()
                                                if k.lower() not in secret}
    return out
