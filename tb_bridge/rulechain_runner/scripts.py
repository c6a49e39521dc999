"""TBEL/JS rule-node scripts evaluated by QuickJS.

ThingsBoard invokes a script as the body of a function of ``(msg, metadata, msgType)``
(rule-engine/rule-engine-components/.../filter/TbJsFilterNode.java, transform/TbTransformMsgNode.java;
the script service wraps the body the same way for JS and TBEL). Values cross the boundary as JSON, as in
ThingsBoard (``msg`` is the parsed message data, ``metadata`` a map of strings).
"""
from __future__ import annotations

import json
import threading
from typing import Any, Mapping

import quickjs

_WRAPPER = """
function __tb_body(msg, metadata, msgType) {
%s
}
function __tb_call(argsJson) {
    var a = JSON.parse(argsJson);
    var r = __tb_body(a[0], a[1], a[2]);
    return JSON.stringify(r === undefined ? null : r);
}
"""


class ScriptError(RuntimeError):
    """A script failed to compile or threw; the node routes the message to ``Failure``."""


class TbScript:
    """One compiled rule-node script; :meth:`call` returns the script's return value as plain Python.

    ``time_limit_s`` bounds one invocation (ThingsBoard's ``tbel.max_script_execution_time``)."""

    def __init__(self, source: str, *, time_limit_s: float = 1.0, memory_limit_bytes: int = 32 * 2**20) -> None:
        if not isinstance(source, str) or not source.strip():
            raise ScriptError("empty script")
        self.source = source
        self._lock = threading.Lock()
        self._ctx = quickjs.Context()
        self._ctx.set_time_limit(time_limit_s)
        self._ctx.set_memory_limit(memory_limit_bytes)
        try:
            self._ctx.eval(_WRAPPER % source)
        except quickjs.JSException as exc:
            raise ScriptError(f"script does not compile: {exc}") from None
        self._fn = self._ctx.get("__tb_call")

    def call(self, msg: Any, metadata: Mapping[str, str], msg_type: str) -> Any:
        args = json.dumps([msg, dict(metadata), msg_type])
        with self._lock:
            try:
                out = self._fn(args)
            except quickjs.JSException as exc:
                raise ScriptError(f"script error: {exc}") from None
        return json.loads(out)
