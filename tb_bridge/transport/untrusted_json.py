"""JSON from outside the service (MQTT payloads, REST bodies, Edge message fields), parsed defensively.

``json.loads`` recurses once per nesting level: an array nested 5,000 deep (10 KB) raises
``RecursionError``, which is not a ``ValueError`` and used to escape the transports' error handling.
:func:`loads_untrusted` turns every failure into :class:`~tb_bridge.events.EventError` (a dead letter with a
reason) and refuses documents nested deeper than :data:`MAX_JSON_DEPTH`, so nothing downstream (dead-letter
serialization, logs, the rule engine) ever meets a pathological document.
"""
from __future__ import annotations

import json
from typing import Any

from tb_bridge.events import EventError

#: Deepest nesting accepted (an envelope is 3 levels deep; a dynacard or alarm body a few more).
MAX_JSON_DEPTH = 32


def loads_untrusted(text: str | bytes | bytearray, *, what: str = "payload", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse ``text``; raise :class:`EventError` when it is not JSON or nests deeper than ``max_depth``."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise EventError(f"{what} nests deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise EventError(f"{what} is not JSON: {exc}") from None
    check_depth(value, what=what, max_depth=max_depth)
    return value


def check_depth(value: Any, *, what: str = "payload", max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`EventError` when ``value`` (decoded JSON) nests deeper than ``max_depth`` (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise EventError(f"{what} nests deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
