"""Widget data read through ThingsBoard's REST API (works against a real server and the stand-in).

Telemetry: ``GET /api/plugins/telemetry/DEVICE/{id}/values/timeseries`` (latest, or history with
``startTs``/``endTs``) and ``.../values/attributes/SERVER_SCOPE`` (TelemetryController); devices by
profile: ``GET /api/tenant/devices?type=``, assets (fields) by profile: ``GET /api/tenant/assets?type=``
(AssetController); alarms: ``GET /api/alarm/DEVICE/{id}`` (AlarmController).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tb_bridge.tbsetup.client import TbClient


@dataclass(frozen=True, slots=True)
class Entity:
    id: str
    name: str
    type: str
    entity_type: str = "DEVICE"


def decode_value(value: Any) -> Any:
    """ThingsBoard returns values as strings without ``useStrictDataTypes``: numbers and JSON back to values."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return value
    try:
        return float(text)
    except ValueError:
        return {"true": True, "false": False}.get(text, value)


class RestData:
    """Reads what a dashboard shows from ThingsBoard through ``client``."""

    def __init__(self, client: TbClient) -> None:
        self._client = client

    def entities(self, alias_filter: dict[str, Any]) -> list[Entity]:
        """Entities of a ``deviceType`` or ``assetType`` alias (others resolve to none), sorted by name."""
        if alias_filter.get("type") == "deviceType":
            found = [Entity(d["id"]["id"], d["name"], d["type"]) for profile in alias_filter.get("deviceTypes", [])
                     for d in self._client.pages("/api/tenant/devices", type=profile)]
        elif alias_filter.get("type") == "assetType":
            found = [Entity(a["id"]["id"], a["name"], a["type"], "ASSET") for profile in alias_filter.get("assetTypes", [])
                     for a in self._client.pages("/api/tenant/assets", type=profile)]
        else:
            return []
        found.sort(key=lambda e: e.name)
        return found if alias_filter.get("resolveMultiple") else found[:1]

    def attributes(self, entity: Entity, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        rows = self._client.get(f"/api/plugins/telemetry/{entity.entity_type}/{entity.id}/values/attributes/SERVER_SCOPE",
                                keys=",".join(keys))
        return {r["key"]: decode_value(r["value"]) for r in rows}

    def latest(self, entity: Entity, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        found = self._client.get(f"/api/plugins/telemetry/{entity.entity_type}/{entity.id}/values/timeseries",
                                 keys=",".join(keys))
        return {k: decode_value(points[0]["value"]) for k, points in found.items() if points}

    def history(self, entity: Entity, keys: list[str], start_ms: int, end_ms: int) -> dict[str, list[tuple[int, Any]]]:
        if not keys:
            return {}
        found = self._client.get(f"/api/plugins/telemetry/{entity.entity_type}/{entity.id}/values/timeseries",
                                 keys=",".join(keys), startTs=start_ms, endTs=end_ms, limit=50000, orderBy="ASC", agg="NONE")
        return {k: [(int(p["ts"]), decode_value(p["value"])) for p in points] for k, points in found.items()}

    def alarms(self, entity: Entity) -> list[dict[str, Any]]:
        return list(self._client.pages(f"/api/alarm/DEVICE/{entity.id}", searchStatus="ACTIVE"))
