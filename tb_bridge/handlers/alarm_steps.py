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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engines.alarms.states import ACKED, UNACK, AlarmBank
from engines.anomaly.rules import FIRE_SCORE, RULES_BY_LIFT_TYPE
from tb_bridge.handlers.base import StepOutput, WellContext

#: Alarm settings (see the module docstring for the reasons).
ALARM_LIMIT = FIRE_SCORE
ALARM_DEADBAND = 0.2
ALARM_ON_DELAY_S = 600.0
ALARM_ON_DELAY_CRITICAL_S = 0.0
ALARM_OFF_DELAY_S = 1800.0
STATISTICAL_TYPE = "statistical_deviation"
STATISTICAL_SEVERITY = "WARNING"
#: ThingsBoard alarm type of an Atilax alarm (distinct from the rule chain's generic "Atilax anomaly").
TB_ALARM_PREFIX = "Atilax: "


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
    state: _AlarmState = context.state.get("alarms")
    if state is None:
        state = context.state["alarms"] = _new_state(context.config.lift_type)
    output = StepOutput()
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
    output.attributes["opt_alarm_active"] = active_alarms(state)
    return output


def active_alarms(state: _AlarmState) -> list[dict[str, Any]]:
    """``opt_alarm_active``: ``[{type, severity, state, since_ts}]`` for every alarm whose condition stands."""
    bank = state.bank
    names = bank.display_state()
    return [{"type": tag, "severity": state.severities[i], "state": names[i], "since_ts": state.since_ms.get(tag)}
            for i, tag in enumerate(bank.tags) if bank.active[i] or bank.state[i] in (UNACK, ACKED)]
