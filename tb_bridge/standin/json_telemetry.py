"""ThingsBoard's JSON telemetry/attribute body rules, as the stand-in applies them.

Follows ``JsonConverter.convertToTelemetry`` / ``convertToAttributes``
(common/transport/transport-api/src/main/java/org/thingsboard/server/common/transport/adaptor/JsonConverter.java):
a telemetry body is ``{"k": v, ...}`` (stamped with the server time), ``{"ts": ms, "values": {...}}``, or a
JSON array of either; values are booleans, numbers (integral -> long, else double), strings, or JSON
objects/arrays (stored as JSON); ``null`` is rejected. Violations raise :class:`JsonBodyError` (HTTP 400).
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping


class JsonBodyError(ValueError):
    """The request body is not valid ThingsBoard telemetry/attributes JSON (answered with HTTP 400)."""


def parse_json_body(raw: bytes | str) -> Any:
    """Decode a request body; :class:`JsonBodyError` when it is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JsonBodyError(f"Invalid JSON body: {exc}") from None


def _check_value(key: str, value: Any) -> Any:
    if not isinstance(key, str) or not key:
        raise JsonBodyError("Attribute/telemetry key must be a non-empty string")
    if value is None:
        raise JsonBodyError(f"Can't parse value: null (key {key!r})")
    if isinstance(value, float) and not math.isfinite(value):
        raise JsonBodyError(f"Can't parse value: {value} (key {key!r})")
    if isinstance(value, (bool, int, float, str, dict, list)):
        return value
    raise JsonBodyError(f"Can't parse value: {value!r} (key {key!r})")


def _values(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _check_value(key, value) for key, value in obj.items()}


def telemetry_entries(body: Any, now_ms: int) -> list[tuple[int, dict[str, Any]]]:
    """``[(ts_ms, {key: value})]`` from a telemetry body; empty entries are dropped."""
    items = body if isinstance(body, list) else [body]
    out: list[tuple[int, dict[str, Any]]] = []
    for item in items:
        if not isinstance(item, dict):
            raise JsonBodyError(f"Can't parse telemetry entry: {item!r}")
        if "ts" in item and "values" in item:
            ts = item["ts"]
            if isinstance(ts, bool) or not isinstance(ts, (int, float)) or isinstance(ts, float) and not ts.is_integer():
                raise JsonBodyError(f"Can't parse ts: {ts!r}")
            if not isinstance(item["values"], dict):
                raise JsonBodyError("'values' must be a JSON object")
            values = _values(item["values"])
            ts_ms = int(ts)
        else:
            values = _values(item)
            ts_ms = now_ms
        if values:
            out.append((ts_ms, values))
    return out


def attribute_values(body: Any) -> dict[str, Any]:
    """``{key: value}`` from an attributes body (a JSON object)."""
    if not isinstance(body, dict):
        raise JsonBodyError("Attributes body must be a JSON object")
    return _values(body)
