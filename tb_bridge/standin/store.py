"""In-memory entity store of the stand-in: devices, attributes by scope, time series, alarms.

Semantics follow ThingsBoard's DAO layer: an attribute is ``(entity, scope, key) -> (value,
lastUpdateTs)``; a time-series point is ``(entity, key, ts) -> value`` (writing the same key and ts
twice overwrites: ``ts_kv`` primary key ``(entity_id, key, ts)``, dao/src/main/resources/sql/schema-ts-psql.sql);
history queries and deletes cover ``startTs <= ts < endTs``
(dao/src/main/java/org/thingsboard/server/dao/sqlts/ts/TsKvRepository.java).
"""
from __future__ import annotations

import bisect
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

DEVICE_PROFILES: tuple[str, ...] = ("ESP", "SRP", "PCP", "GasLift", "NaturalFlow")
ATTRIBUTE_SCOPES: tuple[str, ...] = ("CLIENT_SCOPE", "SERVER_SCOPE", "SHARED_SCOPE")


class NotFound(KeyError):
    """The entity does not exist (HTTP 404)."""


@dataclass(slots=True)
class Device:
    """A device (one well). ``type`` is the device-profile name."""

    id: str
    name: str
    type: str
    token: str
    edge_ids: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Asset:
    """An asset (e.g. a field carrying its reservoir description as attributes). ``type`` is the asset
    profile name; ``edge_ids`` the edges it is assigned to."""

    id: str
    name: str
    type: str
    edge_ids: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm on a device (type, severity, status as in ThingsBoard's Alarm entity)."""

    id: str
    originator_id: str
    type: str
    severity: str
    status: str
    start_ts_ms: int
    details: Mapping[str, Any]
    ack_ts_ms: int = 0
    clear_ts_ms: int = 0

    def to_json(self, entity_type: str = "DEVICE") -> dict[str, Any]:
        """ThingsBoard's Alarm JSON (common/data/.../alarm/Alarm.java): the body of ALARM_ACK / ALARM_CLEAR
        rule-engine messages and of Edge ``AlarmUpdateMsg.entity``."""
        return {"id": {"entityType": "ALARM", "id": self.id}, "createdTime": self.start_ts_ms,
                "originator": {"entityType": entity_type, "id": self.originator_id}, "type": self.type,
                "name": self.type, "severity": self.severity, "status": self.status,
                "acknowledged": self.status.endswith("_ACK"), "cleared": self.status.startswith("CLEARED"),
                "startTs": self.start_ts_ms, "endTs": self.start_ts_ms, "ackTs": self.ack_ts_ms,
                "clearTs": self.clear_ts_ms, "propagate": False, "details": dict(self.details)}


class _Series:
    """One key's points, kept sorted by ts (upsert on equal ts)."""

    __slots__ = ("ts", "values")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.values: list[Any] = []

    def put(self, ts_ms: int, value: Any) -> None:
        if not self.ts or ts_ms > self.ts[-1]:
            self.ts.append(ts_ms)
            self.values.append(value)
            return
        i = bisect.bisect_left(self.ts, ts_ms)
        if i < len(self.ts) and self.ts[i] == ts_ms:
            self.values[i] = value
        else:
            self.ts.insert(i, ts_ms)
            self.values.insert(i, value)

    def range(self, start_ms: int, end_ms: int) -> list[tuple[int, Any]]:
        lo = bisect.bisect_left(self.ts, start_ms)
        hi = bisect.bisect_left(self.ts, end_ms)
        return list(zip(self.ts[lo:hi], self.values[lo:hi]))

    def delete(self, start_ms: int, end_ms: int) -> int:
        lo = bisect.bisect_left(self.ts, start_ms)
        hi = bisect.bisect_left(self.ts, end_ms)
        del self.ts[lo:hi]
        del self.values[lo:hi]
        return hi - lo


class EntityStore:
    """Thread-safe store of devices, attributes, time series and alarms."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._devices: dict[str, Device] = {}
        self._by_token: dict[str, str] = {}
        self._by_name: dict[str, str] = {}
        self._attributes: dict[tuple[str, str], dict[str, tuple[Any, int]]] = {}
        self._series: dict[str, dict[str, _Series]] = {}
        self._latest: dict[str, dict[str, tuple[int, Any]]] = {}
        self._alarms: dict[str, Alarm] = {}
        self._assets: dict[str, Asset] = {}

    # devices
    def create_device(self, name: str, profile: str, token: str | None = None, device_id: str | None = None) -> Device:
        """Create a device of a known profile; a name is unique per tenant (ValueError otherwise)."""
        if profile not in DEVICE_PROFILES:
            raise ValueError(f"unknown device profile {profile!r}; expected one of {DEVICE_PROFILES}")
        if not name:
            raise ValueError("device name must be non-empty")
        with self._lock:
            if name in self._by_name:
                raise ValueError(f"Device with such name already exists: {name!r}")
            device = Device(device_id or str(uuid.uuid4()), name, profile, token or secrets.token_urlsafe(15))
            if device.token in self._by_token:
                raise ValueError("access token already in use")
            self._devices[device.id] = device
            self._by_token[device.token] = device.id
            self._by_name[name] = device.id
            return device

    def device(self, device_id: str) -> Device:
        with self._lock:
            try:
                return self._devices[device_id]
            except KeyError:
                raise NotFound(f"Device with id [{device_id}] is not found") from None

    def device_by_token(self, token: str) -> Device | None:
        with self._lock:
            device_id = self._by_token.get(token)
            return self._devices[device_id] if device_id else None

    def device_by_name(self, name: str) -> Device | None:
        with self._lock:
            device_id = self._by_name.get(name)
            return self._devices[device_id] if device_id else None

    def devices(self) -> list[Device]:
        with self._lock:
            return list(self._devices.values())

    # assets (attributes and time series are stored for assets exactly as for devices)
    def create_asset(self, name: str, asset_type: str = "default", asset_id: str | None = None) -> Asset:
        """Create an asset; a name is unique per tenant among assets (ValueError otherwise)."""
        if not name:
            raise ValueError("asset name must be non-empty")
        with self._lock:
            if any(a.name == name for a in self._assets.values()):
                raise ValueError(f"Asset with such name already exists: {name!r}")
            asset = Asset(asset_id or str(uuid.uuid4()), name, asset_type or "default")
            self._assets[asset.id] = asset
            return asset

    def asset(self, asset_id: str) -> Asset:
        with self._lock:
            try:
                return self._assets[asset_id]
            except KeyError:
                raise NotFound(f"Asset with id [{asset_id}] is not found") from None

    def assets(self) -> list[Asset]:
        with self._lock:
            return list(self._assets.values())

    def entity(self, entity_id: str) -> Device | Asset:
        """The device or asset with this id (NotFound otherwise)."""
        with self._lock:
            found = self._devices.get(entity_id) or self._assets.get(entity_id)
            if found is None:
                raise NotFound(f"Entity with id [{entity_id}] is not found")
            return found

    def assign_to_edge(self, entity_id: str, edge_id: str) -> None:
        """Assign a device or an asset to an edge."""
        with self._lock:
            self.entity(entity_id).edge_ids.add(edge_id)

    # attributes
    def save_attributes(self, entity_id: str, scope: str, values: Mapping[str, Any], ts_ms: int) -> None:
        if scope not in ATTRIBUTE_SCOPES:
            raise ValueError(f"Invalid attribute scope: {scope}")
        with self._lock:
            self.entity(entity_id)
            bucket = self._attributes.setdefault((entity_id, scope), {})
            for key, value in values.items():
                bucket[key] = (value, ts_ms)

    def get_attributes(self, entity_id: str, scope: str, keys: Iterable[str] | None = None) -> dict[str, tuple[Any, int]]:
        """``{key: (value, lastUpdateTs)}``, optionally only ``keys``."""
        with self._lock:
            self.entity(entity_id)
            bucket = self._attributes.get((entity_id, scope), {})
            if keys is None:
                return dict(bucket)
            return {k: bucket[k] for k in keys if k in bucket}

    def delete_attributes(self, entity_id: str, scope: str, keys: Iterable[str]) -> list[str]:
        with self._lock:
            self.entity(entity_id)
            bucket = self._attributes.get((entity_id, scope), {})
            return [k for k in keys if bucket.pop(k, None) is not None]

    # time series
    def save_timeseries(self, entity_id: str, entries: Iterable[tuple[int, Mapping[str, Any]]]) -> int:
        """Upsert points; returns how many key/ts values were written. Updates the latest values."""
        count = 0
        with self._lock:
            self.entity(entity_id)
            series = self._series.setdefault(entity_id, {})
            latest = self._latest.setdefault(entity_id, {})
            for ts_ms, values in entries:
                for key, value in values.items():
                    s = series.get(key)
                    if s is None:
                        s = series[key] = _Series()
                    s.put(int(ts_ms), value)
                    previous = latest.get(key)
                    if previous is None or ts_ms >= previous[0]:
                        latest[key] = (int(ts_ms), value)
                    count += 1
        return count

    def get_timeseries(self, entity_id: str, keys: Iterable[str], start_ms: int, end_ms: int) -> dict[str, list[tuple[int, Any]]]:
        """Points with ``start_ms <= ts < end_ms`` per key, ascending by ts; keys without points are omitted."""
        with self._lock:
            self.entity(entity_id)
            series = self._series.get(entity_id, {})
            out = {}
            for key in keys:
                if key in series:
                    points = series[key].range(int(start_ms), int(end_ms))
                    if points:
                        out[key] = points
            return out

    def latest_timeseries(self, entity_id: str, keys: Iterable[str] | None = None) -> dict[str, tuple[int, Any]]:
        with self._lock:
            self.entity(entity_id)
            latest = self._latest.get(entity_id, {})
            if keys is None:
                return dict(latest)
            return {k: latest[k] for k in keys if k in latest}

    def timeseries_keys(self, entity_id: str) -> list[str]:
        with self._lock:
            self.entity(entity_id)
            return sorted(k for k, s in self._series.get(entity_id, {}).items() if s.ts)

    def delete_timeseries(self, entity_id: str, keys: Iterable[str], start_ms: int, end_ms: int,
                          delete_latest: bool = True, rewrite_latest: bool = True) -> int:
        """Delete points with ``start_ms <= ts < end_ms``; fix up the latest value like ThingsBoard does
        (drop it when it was deleted, or rewrite it to the newest remaining point)."""
        removed = 0
        with self._lock:
            self.entity(entity_id)
            series = self._series.get(entity_id, {})
            latest = self._latest.get(entity_id, {})
            for key in keys:
                s = series.get(key)
                if s is None:
                    continue
                removed += s.delete(int(start_ms), int(end_ms))
                current = latest.get(key)
                if delete_latest and current is not None and start_ms <= current[0] < end_ms:
                    del latest[key]
                    if rewrite_latest and s.ts:
                        latest[key] = (s.ts[-1], s.values[-1])
        return removed

    # alarms
    def create_alarm(self, originator_id: str, alarm_type: str, severity: str, start_ts_ms: int,
                     details: Mapping[str, Any] | None = None, alarm_id: str | None = None) -> Alarm:
        """Create or update the active alarm of this type on the originator (ThingsBoard keeps one
        active alarm per originator and type); a new alarm gets ``alarm_id`` when given (an edge's)."""
        with self._lock:
            self.device(originator_id)
            for alarm in self._alarms.values():
                if alarm.originator_id == originator_id and alarm.type == alarm_type and alarm.status.startswith("ACTIVE"):
                    updated = Alarm(alarm.id, originator_id, alarm_type, severity, alarm.status, alarm.start_ts_ms,
                                    dict(details or {}), alarm.ack_ts_ms, alarm.clear_ts_ms)
                    self._alarms[alarm.id] = updated
                    return updated
            alarm = Alarm(alarm_id or str(uuid.uuid4()), originator_id, alarm_type, severity, "ACTIVE_UNACK",
                          start_ts_ms, dict(details or {}))
            self._alarms[alarm.id] = alarm
            return alarm

    def clear_alarm(self, alarm_id: str, ts_ms: int = 0) -> Alarm:
        with self._lock:
            alarm = self._alarms[alarm_id]
            status = "CLEARED_ACK" if alarm.status.endswith("_ACK") and not alarm.status.endswith("UNACK") else "CLEARED_UNACK"
            cleared = Alarm(alarm.id, alarm.originator_id, alarm.type, alarm.severity, status, alarm.start_ts_ms,
                            alarm.details, alarm.ack_ts_ms, int(ts_ms))
            self._alarms[alarm_id] = cleared
            return cleared

    def ack_alarm(self, alarm_id: str, ts_ms: int = 0) -> Alarm:
        """Acknowledge: ACTIVE_UNACK -> ACTIVE_ACK, CLEARED_UNACK -> CLEARED_ACK (no change otherwise)."""
        with self._lock:
            try:
                alarm = self._alarms[alarm_id]
            except KeyError:
                raise NotFound(f"Alarm with id [{alarm_id}] is not found") from None
            status = alarm.status.replace("_UNACK", "_ACK")
            acked = Alarm(alarm.id, alarm.originator_id, alarm.type, alarm.severity, status, alarm.start_ts_ms,
                          alarm.details, int(ts_ms) or alarm.ack_ts_ms, alarm.clear_ts_ms)
            self._alarms[alarm_id] = acked
            return acked

    def alarm(self, alarm_id: str) -> Alarm:
        with self._lock:
            try:
                return self._alarms[alarm_id]
            except KeyError:
                raise NotFound(f"Alarm with id [{alarm_id}] is not found") from None

    def alarms(self, originator_id: str | None = None) -> list[Alarm]:
        with self._lock:
            return [a for a in self._alarms.values() if originator_id is None or a.originator_id == originator_id]
