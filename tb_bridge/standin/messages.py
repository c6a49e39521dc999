"""The stand-in's rule-engine message (``TbMsg``) and the message types we emit.

Mirrors ThingsBoard's ``org.thingsboard.server.common.msg.TbMsg`` (common/message/src/main/java/.../TbMsg.java):
a type, an originator entity, string metadata and a JSON data string. The type names are ThingsBoard's
``TbMsgType`` names (common/message/src/main/java/org/thingsboard/server/common/msg/TbMsgType.java).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

POST_TELEMETRY_REQUEST = "POST_TELEMETRY_REQUEST"
POST_ATTRIBUTES_REQUEST = "POST_ATTRIBUTES_REQUEST"
ATTRIBUTES_UPDATED = "ATTRIBUTES_UPDATED"
ATTRIBUTES_DELETED = "ATTRIBUTES_DELETED"
TIMESERIES_UPDATED = "TIMESERIES_UPDATED"
TIMESERIES_DELETED = "TIMESERIES_DELETED"
ALARM_ACK = "ALARM_ACK"
ALARM_CLEAR = "ALARM_CLEAR"


@dataclass(frozen=True, slots=True)
class TbMsg:
    """One message in the stand-in's pipeline (what ThingsBoard hands its root rule chain).

    ``originator_type`` is ``"DEVICE"`` for every message the stand-in emits today; ``metadata`` holds
    strings only (as in ThingsBoard: ``deviceName``, ``deviceType``, ``ts`` in ms, ``userId``, ``scope``);
    ``data`` is the JSON body as a string.
    """

    type: str
    originator_id: str
    metadata: Mapping[str, str]
    data: str
    originator_type: str = "DEVICE"
    ts_ms: int = 0
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def data_json(self) -> Any:
        """The parsed ``data`` body."""
        return json.loads(self.data)
