"""ThingsBoard's ``${metadataKey}`` / ``$[dataKey]`` substitution (TbNodeUtils.processPattern in
rule-engine/rule-engine-api/src/main/java/org/thingsboard/rule/engine/api/util/TbNodeUtils.java).

``$[a.b]`` walks nested objects of the message data; a placeholder with no value is left as written."""
from __future__ import annotations

import json
import re
from typing import Any, Mapping

_META = re.compile(r"\$\{([^}]+)\}")
_DATA = re.compile(r"\$\[([^\]]+)\]")


def _data_value(data: Any, path: str) -> Any:
    current = data
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def process_pattern(pattern: str, metadata: Mapping[str, str], data: Any) -> str:
    """Replace metadata and data placeholders in ``pattern``."""

    def meta(m: re.Match) -> str:
        value = metadata.get(m.group(1))
        return m.group(0) if value is None else str(value)

    def dat(m: re.Match) -> str:
        value = _data_value(data, m.group(1))
        if value is None:
            return m.group(0)
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return _DATA.sub(dat, _META.sub(meta, pattern))
