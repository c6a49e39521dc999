"""ISA-18.2 alarm evaluation of the fast tier: each well's diagnosis -> an ``AlarmBank`` -> state changes.

One alarm point per diagnosis the lift type can produce: each of its Layer-2 rules (``gas_lock``,
``rod_part``, ...) plus ``statistical_deviation`` (Layer-1 CUSUM signal while no rule fires). The
process value of a rule alarm is the rule's fuzzy score (0-1); the statistical alarm's value is 1 while
the CUSUM signals and no rule reaches the fire score, else 0. Alarm settings (``engines.alarms.states``):

- limit ``FIRE_SCORE`` = 0.5 (the score at which the diagnosis names the rule), high alarm;
- deadband 0.2 score units: a raised rule alarm returns only when its score falls below 0.3. A rule's
  score ramps linearly from its onset to its full threshold, so 0.2 is a fifth of that ramp (e.g. ESP
  pump wear: 2.4 % of r(flow)), the same order as the 2-5 %-of-range deadbands of EEMUA 191 App. 10;
- on-delay 600 s: the condition must hold at three consecutive 5-minute evaluations (0, 300, 600 s).
  The rule features are 6-hour window medians, so a real fault, once across, stays across; one or two
  evaluations across the limit are noise. CRITICAL rules (SRP rod part, gas-lift separator flooding)
  have no on-delay: their consequence does not allow waiting;
- off-delay 1800 s: seven consecutive evaluations below the deadband (0 ... 1800 s) before the alarm
  returns to normal, three times the on-delay so that a fault hovering at the limit does not clear and
  re-raise (chattering, ISA-18.2 sec. 16.3 / EEMUA 191: >= 3 alarms in 60 s, and its slower analogues).

State changes are returned as :class:`AlarmChange` records in ``StepOutput.alarms`` (the service raises
or clears the ThingsBoard alarm ``"Atilax: <type>"`` and records each change in the history store), and
``opt_alarm_active`` lists the alarms standing (UNACK, ACKED or shelved/suppressed while active).

Operator actions taken in ThingsBoard (:func:`apply_operator_event`):

- acknowledging the ThingsBoard alarm (ALARM_ACK) acknowledges the alarm point: UNACK -> ACKED,
  RTNUN -> NORM (the ISA-18.2 state model, engines/alarms/states.py);
- clearing it (ALARM_CLEAR) is no ISA-18.2 transition of its own: only the process returns an alarm to
  normal. An operator clear therefore counts as an acknowledgement, and because the service clears the
  ThingsBoard alarm itself when the condition returns, a clear of an alarm whose condition still stands
  is the operator's: the alarm is acknowledged and raised again in ThingsBoard at once (history kind
  ``REANNUNCIATE``), so the standing condition stays visible. A clear of an alarm whose condition has
  returned, or that is shelved, suppressed or out of service, is the echo of the service's own clear and
  is ignored (the service's user id is also dropped by the router's LoopGuard);
- the attribute ``alarm_operator_request`` (:data:`~tb_bridge.writeback.keys.ALARM_REQUEST_KEY`) shelves
  with an expiry (at most :data:`MAX_SHELVE_MIN`; the bank re-annunciates a standing alarm when the
  shelf expires), suppresses or takes out of service one alarm point or all (``"*"``), and undoes each.
  A standing alarm that stops being annunciated is cleared in ThingsBoard and raised again when it
  returns to service.
"""
from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from engines.alarms.states import ACKED, UNACK, AlarmBank
from engines.anomaly.rules import FIRE_SCORE, RULES_BY_LIFT_TYPE
from tb_bridge.events import EventError, EventKind, WellEvent
from tb_bridge.handlers.base import StepOutput, WellContext
from tb_bridge.writeback.keys import ALARM_REQUEST_KEY

#: Alarm settings (see the module docstring for the reasons).
ALARM_LIMIT = FIRE_SCORE
ALARM_DEADBAND = 0.2
ALARM_ON_DELAY_S = 600.0
ALARM_ON_DELAY_CRITICAL_S = 0.0
ALARM_OFF_DELAY_S = 1800.0
STATISTICAL_TYPE = "statistical_deviation"
STATISTICAL_SEVERITY = "WARNING"
#: ThingsBoard alarm type of an Atilax alarm.
TB_ALARM_PREFIX = "Atilax: "
#: Longest shelving an operator may request, minutes: ISA-18.2 shelving is timed (one operating day here).
MAX_SHELVE_MIN = 1440.0
#: ``alarm_operator_request`` actions: (block or unblock, the AlarmBank operation).
OPERATOR_ACTIONS = ("shelve", "unshelve", "suppress", "unsuppress", "out_of_service", "return_to_service")


def tb_alarm_type(alarm_type: str) -> str:
    """The ThingsBoard alarm type of one of our alarm points, e.g. ``"Atilax: pump_wear"``."""
    return TB_ALARM_PREFIX + alarm_type


@dataclass(frozen=True)
class AlarmChange:
    """One ISA-18.2 state change of one alarm point of a well.

    ``kind`` is the ``AlarmEvent`` kind (ACTIVE, RTN, ACK, SHELVE, UNSHELVE, ...); ``state`` the state
    after it (UNACK, ACKED, RTNUN, NORM, SHLVD, ...); ``action`` what ThingsBoard must do: ``"create"``
    (raise or update the active alarm), ``"clear"`` or ``None`` (history only)."""

    alarm_type: str
    severity: str
    kind: str
    state: str
    ts_ms: int
    action: str | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def tb_type(self) -> str:
        return tb_alarm_type(self.alarm_type)


@dataclass
class _AlarmState:
    bank: AlarmBank
    severities: tuple[str, ...]
    last_diagnosis_ts_ms: int = 0
    since_ms: dict[str, int] = field(default_factory=dict)
    #: the tier thread and the transport thread (operator actions) both change the bank
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: (alarm id, action, action ts) already applied: ThingsBoard may deliver one action twice (the rule
    #: chain's push-to-edge and its own edge notification of alarms of the edge's devices)
    seen: deque = field(default_factory=lambda: deque(maxlen=512), repr=False)


def alarm_state(well_state: dict, lift_type: str) -> _AlarmState:
    """The well's alarm state in the service's per-well state dict (created on first use)."""
    state = well_state.get("alarms")
    if state is None:
        state = well_state.setdefault("alarms", _new_state(lift_type))
    return state


def _new_state(lift_type: str) -> _AlarmState:
    rules = RULES_BY_LIFT_TYPE[lift_type]
    tags = tuple(r.name for r in rules) + (STATISTICAL_TYPE,)
    severities = tuple(r.severity for r in rules) + (STATISTICAL_SEVERITY,)
    on_delay = [ALARM_ON_DELAY_CRITICAL_S if s == "CRITICAL" else ALARM_ON_DELAY_S for s in severities]
    deadband = [ALARM_DEADBAND] * len(rules) + [0.0]  # the statistical value is 0/1: no deadband needed
    bank = AlarmBank(tags, limit=ALARM_LIMIT, direction=1, deadband=deadband, on_delay_s=on_delay,
                     off_delay_s=ALARM_OFF_DELAY_S, priority=severities)
    return _AlarmState(bank, severities)


def alarm_values(result: Any, index: int = 0) -> np.ndarray:
    """Process values of a well's alarm points from a ``DiagnosisResult``: the rule scores, then the
    statistical alarm (1.0 when the CUSUM signals and no rule reaches the fire score, else 0.0)."""
    scores = np.asarray(result.rule_scores[index], dtype=float)
    rule_fired = bool(np.any(scores >= FIRE_SCORE))
    statistical = 1.0 if bool(result.cusum_alarm[index]) and not rule_fired else 0.0
    return np.concatenate([scores, [statistical]])


def _details(result: Any, tag: str, value: float, ts_ms: int) -> dict[str, Any]:
    details: dict[str, Any] = {"alarm_type": tag, "score": round(float(value), 4), "limit": ALARM_LIMIT,
                               "deadband": ALARM_DEADBAND, "raised_ts": ts_ms}
    if tag != STATISTICAL_TYPE:
        rule = next(r for r in RULES_BY_LIFT_TYPE[result.lift_type] if r.name == tag)
        details["condition"] = rule.condition
        details["component"] = rule.component
    if result.anomaly_type[0] == tag:
        details["evidence"] = [dict(item) for item in result.evidence[0]]
    details["health_score"] = round(float(result.health_score[0]), 1)
    return details


def alarm_step(context: WellContext) -> StepOutput:
    """Feed the latest diagnosis (``diagnostics_step``, which must run before this step in the same tier)
    into the well's :class:`AlarmBank` and return the state changes and ``opt_alarm_active``."""
    diagnostics = context.state.get("diagnostics")
    result = getattr(diagnostics, "last_result", None)
    if result is None:  # diagnostics_step is still waiting for data and says so itself
        return StepOutput()
    state = alarm_state(context.state, context.config.lift_type)
    output = StepOutput()
    with state.lock:
        _evaluate(state, diagnostics, result, context, output)
        output.attributes["opt_alarm_active"] = active_alarms(state)
    return output


def _evaluate(state: _AlarmState, diagnostics: Any, result: Any, context: WellContext, output: StepOutput) -> None:
    if diagnostics.last_ts_ms > state.last_diagnosis_ts_ms:  # a new diagnosis (else nothing to evaluate)
        state.last_diagnosis_ts_ms = diagnostics.last_ts_ms
        values = alarm_values(result)
        ts_s = context.now_ms / 1000.0
        for event in state.bank.update(ts_s, values):
            i = event.index
            if event.kind == "ACTIVE":
                state.since_ms[event.tag] = context.now_ms
            action = {"ACTIVE": "create", "RTN": "clear"}.get(event.kind)
            if event.kind == "UNSHELVE" and state.bank.active[i]:
                action = "create"  # re-annunciated on the standing condition
            output.alarms.append(AlarmChange(event.tag, state.severities[i], event.kind, event.state, context.now_ms,
                                             action, _details(result, event.tag, values[i], context.now_ms)))


def apply_operator_event(well_state: dict, lift_type: str, event: WellEvent) -> tuple[list[AlarmChange], dict[str, Any]]:
    """Apply an operator action from ThingsBoard to the well's alarm bank (see the module docstring).

    ``event`` is an ALARM_ACK / ALARM_CLEAR event (``values`` = ThingsBoard's Alarm JSON) or an attribute
    update carrying ``alarm_operator_request``. Returns the state changes (for the ThingsBoard alarm API and
    the history store) and ``opt_alarm_active``. Raises :class:`EventError` for a malformed request (nothing
    of it is applied)."""
    state = alarm_state(well_state, lift_type)
    with state.lock:
        if event.kind in (EventKind.ALARM_ACK, EventKind.ALARM_CLEAR):
            changes = _thingsboard_action(state, event)
        else:
            changes = _requests(state, parse_alarm_requests(event.values.get(ALARM_REQUEST_KEY), state.bank.tags),
                                event)
        return changes, {"opt_alarm_active": active_alarms(state)}


def _who(event: WellEvent) -> str | None:
    return event.metadata.get("userName") or event.metadata.get("userId")


def _thingsboard_action(state: _AlarmState, event: WellEvent) -> list[AlarmChange]:
    alarm = event.values
    tb_type = str(alarm.get("type") or "")
    tag = tb_type[len(TB_ALARM_PREFIX):] if tb_type.startswith(TB_ALARM_PREFIX) else None
    if tag not in state.bank.tags:
        return []  # not one of ours (or another lift type's): nothing to do
    clear = event.kind is EventKind.ALARM_CLEAR
    raw_ts = alarm.get("clearTs" if clear else "ackTs") or 0
    if isinstance(raw_ts, bool) or not isinstance(raw_ts, int) or raw_ts < 0:
        raise EventError(f"alarm {'clearTs' if clear else 'ackTs'} is not epoch milliseconds: {str(raw_ts)[:40]!r}")
    ts_ms = raw_ts or int(event.ts_ms)
    alarm_id = alarm.get("id")
    alarm_id = alarm_id.get("id") if isinstance(alarm_id, Mapping) else alarm_id
    key = (str(alarm_id), event.kind.value, ts_ms)
    if key in state.seen:
        return []
    bank, i = state.bank, state.bank.tags.index(tag)
    if clear and not (bank.active[i] and bank.annunciating()[i]):
        return []  # the echo of the service's own clear (condition returned, or not annunciated)
    state.seen.append(key)
    via = "ALARM_CLEAR" if clear else "ALARM_ACK"
    details = {"by": _who(event), "via": via, "tb_alarm_id": alarm_id}
    changes = [AlarmChange(tag, state.severities[i], e.kind, e.state, ts_ms, None, dict(details))
               for e in bank.acknowledge(ts_ms / 1000.0, tag)]
    if clear:
        raised = dict(alarm.get("details") or {}) if isinstance(alarm.get("details"), Mapping) else {}
        raised.update(reannunciated="the operator cleared the alarm while its condition stands", by=_who(event))
        changes.append(AlarmChange(tag, state.severities[i], "REANNUNCIATE", bank.display_state()[i], ts_ms,
                                   "create", raised))
    return changes


@dataclass(frozen=True)
class AlarmRequest:
    """One validated ``alarm_operator_request`` entry."""

    tags: tuple[str, ...]
    action: str
    duration_min: float | None
    reason: str


def parse_alarm_requests(raw: Any, tags: tuple[str, ...]) -> list[AlarmRequest]:
    """Validate ``alarm_operator_request`` (JSON text, an object or a list of objects) against the well's
    alarm points; raises :class:`EventError` naming the first problem."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise EventError(f"{ALARM_REQUEST_KEY}: not JSON ({exc})") from None
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for n, item in enumerate(items):
        where = f"{ALARM_REQUEST_KEY}[{n}]"
        if not isinstance(item, Mapping):
            raise EventError(f"{where}: expected an object {{alarm_type, action, duration_min, reason}}")
        alarm_type, action = item.get("alarm_type"), item.get("action")
        if action not in OPERATOR_ACTIONS:
            raise EventError(f"{where}: action must be one of {', '.join(OPERATOR_ACTIONS)}, got {action!r}")
        if alarm_type == "*":
            selected = tags
        elif alarm_type in tags:
            selected = (str(alarm_type),)
        else:
            raise EventError(f"{where}: unknown alarm_type {alarm_type!r} (this well's: {', '.join(tags)}, or *)")
        duration = item.get("duration_min")
        if action == "shelve":
            if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 < duration <= MAX_SHELVE_MIN:
                raise EventError(f"{where}: shelving needs duration_min in (0, {MAX_SHELVE_MIN:g}], got {duration!r}")
            duration = float(duration)
        else:
            duration = None
        out.append(AlarmRequest(selected, action, duration, str(item.get("reason") or "")[:500]))
    return out


def _requests(state: _AlarmState, requests: list[AlarmRequest], event: WellEvent) -> list[AlarmChange]:
    bank = state.bank
    ts_s = event.ts_ms / 1000.0
    changes: list[AlarmChange] = []
    for req in requests:
        raised_before = bank.active & bank.annunciating()  # standing alarms shown in ThingsBoard now
        if req.action == "shelve":
            events = bank.shelve(ts_s, list(req.tags), req.duration_min * 60.0)
        elif req.action == "unshelve":
            events = bank.unshelve(ts_s, list(req.tags))
        elif req.action in ("suppress", "unsuppress"):
            events = bank.suppress(ts_s, list(req.tags), on=req.action == "suppress")
        else:
            events = bank.out_of_service_set(ts_s, list(req.tags), on=req.action == "out_of_service")
        shown = bank.active & bank.annunciating()
        details: dict[str, Any] = {"by": _who(event), "via": ALARM_REQUEST_KEY, "action": req.action, "reason": req.reason}
        if req.duration_min is not None:
            details.update(duration_min=req.duration_min, until_ts=int(event.ts_ms + req.duration_min * 60_000))
        for e in events:
            i = e.index
            action = "clear" if raised_before[i] and not shown[i] else "create" if shown[i] and not raised_before[i] else None
            changes.append(AlarmChange(e.tag, state.severities[i], e.kind, e.state, int(event.ts_ms), action,
                                       dict(details)))
    return changes


def active_alarms(state: _AlarmState) -> list[dict[str, Any]]:
    """``opt_alarm_active``: ``[{type, severity, state, since_ts}]`` for every alarm whose condition stands."""
    bank = state.bank
    names = bank.display_state()
    return [{"type": tag, "severity": state.severities[i], "state": names[i], "since_ts": state.since_ms.get(tag)}
            for i, tag in enumerate(bank.tags) if bank.active[i] or bank.state[i] in (UNACK, ACKED)]
