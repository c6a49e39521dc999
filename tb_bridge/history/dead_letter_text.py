"""The text a dead letter is stored as: always storable, always bounded.

A dead letter must never fail to be written, whatever the sender put in it. PostgreSQL ``text`` cannot hold
NUL, and a lone UTF-16 surrogate (``"\\ud800"``, legal in Python strings and in JSON escapes) cannot be
encoded to UTF-8 at all; both are replaced by their backslash escapes. Payloads are capped at
:data:`DEAD_LETTER_MAX_CHARS` characters whatever transport brought them (a 10 MB MQTT payload keeps its head
and a note of its full size); the short columns (source, well id) at their column widths.
"""
from __future__ import annotations

import json
from typing import Any

from tb_bridge.history.json_values import to_json_value

#: Characters of a payload kept in the dead-letter table (the head; the rest is counted, not kept).
DEAD_LETTER_MAX_CHARS = 4096
#: Widths of the dead-letter table's short columns (``tb_bridge.history.models.DeadLetter``).
SOURCE_MAX_CHARS = 64
WELL_ID_MAX_CHARS = 128
#: Characters of an error reason kept.
ERROR_MAX_CHARS = 2000


def storable_text(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by backslash escapes (valid UTF-8, storable anywhere)."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text


def capped(text: str, limit: int, size_note: str = "characters") -> str:
    """``text`` cut to at most ``limit`` characters, the cut marked with the full length (idempotent)."""
    if len(text) <= limit:
        return text
    marker = f"... [truncated: {len(text)} {size_note} in all]"
    return text[:max(0, limit - len(marker))] + marker


def payload_text(payload: Any) -> str:
    """A dead letter's payload as storable text of at most :data:`DEAD_LETTER_MAX_CHARS` characters: bytes
    decoded (invalid UTF-8 backslash-escaped), objects as JSON, NUL and lone surrogates escaped."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        raw = bytes(payload)
        # decode only the head: a 10 MB payload costs no more than a small one
        head = raw[:DEAD_LETTER_MAX_CHARS * 4].decode("utf-8", errors="backslashreplace")
        text = storable_text(head)
        if len(raw) > DEAD_LETTER_MAX_CHARS * 4 or len(text) > DEAD_LETTER_MAX_CHARS:
            marker = f"... [truncated: {len(raw)} bytes in all]"
            return text[:DEAD_LETTER_MAX_CHARS - len(marker)] + marker
        return text
    if isinstance(payload, str):
        text = payload
    else:
        try:
            text = json.dumps(to_json_value(payload), sort_keys=True)
        except (TypeError, ValueError, RecursionError):
            text = repr(payload)[:DEAD_LETTER_MAX_CHARS * 4]
    return capped(storable_text(text), DEAD_LETTER_MAX_CHARS)


def short_text(value: Any, limit: int) -> str | None:
    """A short column's value (source, well id, reason): storable and cut to ``limit``; None stays None."""
    if value is None:
        return None
    return capped(storable_text(str(value)), limit)
