"""Operator alarm actions from ThingsBoard -> the well's ISA-18.2 AlarmBank (tb_bridge.handlers.alarm_steps).

The well is driven like the fast tier drives it (one scripted diagnosis per 5-minute run, as in
test_alarm_step.py), so every expected state follows from ISA-18.2's transitions (engines/alarms/states.py):
ack UNACK -> ACKED and RTNUN -> NORM; shelving with expiry re-annunciates a standing alarm; an operator clear
of a standing alarm is an acknowledgement plus a re-raise; the echo of the service's own clear changes nothing.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engines.anomaly.rules import RULES_BY_LIFT_TYPE
from tb_bridge.events import EventError, EventKind, WellEvent
from tb_bridge.handlers.alarm_steps import MAX_SHELVE_MIN, alarm_step, apply_operator_event, parse_alarm_requests

REQ = "alarm_operator_request"
STEP_MS = 300_000


class Well:
    """Drives ``alarm_step`` like the service does: one scripted diagnosis per 5-minute run."""

    def __init__(self, lift_type: str = "esp") -> None:
        self.lift_type = lift_type
        self.names = [r.name for r in RULES_BY_LIFT_TYPE[lift_type]]
        self.state: dict = {}
        self.run = 0

    def step(self, scores: dict[str, float]):
        self.run += 1
        row = np.zeros(len(self.names))
        for name, value in scores.items():
            row[self.names.index(name)] = value
        best = self.names[int(np.argmax(row))] if row.max() >= 0.5 else "none"
        result = SimpleNamespace(lift_type=self.lift_type, rule_scores=row[None, :], cusum_alarm=np.array([False]),
                                 anomaly_type=(best,), evidence=([],), health_score=np.array([80.0]))
        self.state["diagnostics"] = SimpleNamespace(last_result=result, last_ts_ms=self.run * STEP_MS)
        context = SimpleNamespace(config=SimpleNamespace(lift_type=self.lift_type), state=self.state,
                                  now_ms=self.run * STEP_MS)
        return alarm_step(context)


def tb_alarm(kind: EventKind, ts_ms: int, tag: str = "gas_lock", alarm_id: str = "a-1", user: str = "op@field"):
    field = "ackTs" if kind is EventKind.ALARM_ACK else "clearTs"
    values = {"id": {"entityType": "ALARM", "id": alarm_id}, "type": f"Atilax: {tag}", "severity": "MAJOR",
              field: ts_ms, "details": {"score": 1.0}}
    return WellEvent(kind, "w1", ts_ms, values, source="test", metadata={"userName": user})


def request(ts_ms: int, *items):
    return WellEvent(EventKind.ATTRIBUTES_UPDATED, "w1", ts_ms, {REQ: list(items)}, source="test",
                     metadata={"userName": "op@field"})


def raised_well() -> Well:
    """An ESP well whose gas_lock alarm became active at run 3 (on-delay 600 s = runs 1..3)."""
    well = Well("esp")
    for _ in range(3):
        well.step({"gas_lock": 1.0})
    assert well.state["alarms"].bank.display_state()[0] == "UNACK"
    return well


def test_ack_acknowledges_once_and_foreign_alarms_are_ignored():
    well = raised_well()
    changes, attrs = apply_operator_event(well.state, "esp", tb_alarm(EventKind.ALARM_ACK, 1_000_000))
    assert [(c.alarm_type, c.kind, c.state, c.action, c.ts_ms) for c in changes] == [
        ("gas_lock", "ACK", "ACKED", None, 1_000_000)]
    assert changes[0].details == {"by": "op@field", "via": "ALARM_ACK", "tb_alarm_id": "a-1"}
    assert [(a["type"], a["state"]) for a in attrs["opt_alarm_active"]] == [("gas_lock", "ACKED")]
    # the same action delivered twice (push-to-edge and ThingsBoard's own edge notification): applied once
    assert apply_operator_event(well.state, "esp", tb_alarm(EventKind.ALARM_ACK, 1_000_000))[0] == []
    assert apply_operator_event(well.state, "esp", tb_alarm(EventKind.ALARM_ACK, 1_000_001, tag="rod_part"))[0] == []


def test_operator_clear_of_a_standing_alarm_acknowledges_and_raises_it_again():
    well = raised_well()
    changes, _ = apply_operator_event(well.state, "esp", tb_alarm(EventKind.ALARM_CLEAR, 1_000_000))
    assert [(c.kind, c.state, c.action) for c in changes] == [("ACK", "ACKED", None), ("REANNUNCIATE", "ACKED", "create")]
    assert changes[1].details["score"] == 1.0 and "stands" in changes[1].details["reannunciated"]
    assert well.state["alarms"].bank.active[0]  # only the process returns an alarm to normal


def test_echo_of_the_service_clear_changes_nothing_and_a_later_ack_completes_the_return():
    well = raised_well()
    changes = []
    for _ in range(7):  # below 0.3 for the off-delay: RTN at the seventh run
        changes += well.step({"gas_lock": 0.0}).alarms
    assert [(c.kind, c.state, c.action) for c in changes] == [("RTN", "RTNUN", "clear")]
    echo = tb_alarm(EventKind.ALARM_CLEAR, 10 * STEP_MS)  # our clear coming back through the rule chain
    assert apply_operator_event(well.state, "esp", echo)[0] == []
    assert well.state["alarms"].bank.display_state()[0] == "RTNUN"
    changes, attrs = apply_operator_event(well.state, "esp", tb_alarm(EventKind.ALARM_ACK, 11 * STEP_MS))
    assert [(c.kind, c.state) for c in changes] == [("ACK", "NORM")] and attrs["opt_alarm_active"] == []


def test_shelving_clears_the_thingsboard_alarm_and_expires_into_a_reraise():
    well = raised_well()
    t = 3 * STEP_MS
    changes, attrs = apply_operator_event(well.state, "esp", request(t, {"alarm_type": "gas_lock", "action": "shelve",
                                                                         "duration_min": 20, "reason": "workover"}))
    assert [(c.kind, c.state, c.action) for c in changes] == [("SHELVE", "SHLVD", "clear")]
    assert changes[0].details["until_ts"] == t + 20 * 60_000 and changes[0].details["reason"] == "workover"
    assert [a["state"] for a in attrs["opt_alarm_active"]] == ["SHLVD"]
    # our clear's echo while shelved is not an operator clear
    assert apply_operator_event(well.state, "esp", tb_alarm(EventKind.ALARM_CLEAR, t + 1))[0] == []
    kinds = []
    for _ in range(4):  # runs 4..7: the shelf (until run 7 = t + 1200 s) expires at run 7
        kinds += [(c.kind, c.state, c.action, c.ts_ms) for c in well.step({"gas_lock": 1.0}).alarms]
    assert kinds == [("UNSHELVE", "UNACK", "create", 7 * STEP_MS)]


def test_suppress_and_out_of_service_on_all_points_and_back():
    well = raised_well()
    tags = well.state["alarms"].bank.tags
    changes, _ = apply_operator_event(well.state, "esp", request(1, {"alarm_type": "*", "action": "out_of_service"}))
    assert [c.alarm_type for c in changes] == list(tags) and {c.state for c in changes} == {"OOSRV"}
    assert [c.action for c in changes] == ["clear"] + [None] * (len(tags) - 1)  # only the standing one was shown
    changes, _ = apply_operator_event(well.state, "esp", request(2, {"alarm_type": "*", "action": "return_to_service"}))
    assert [(c.alarm_type, c.kind, c.state, c.action) for c in changes if c.action] == [("gas_lock", "IS", "UNACK", "create")]
    changes, _ = apply_operator_event(well.state, "esp", request(3, {"alarm_type": "pump_wear", "action": "suppress"},
                                                                 {"alarm_type": "pump_wear", "action": "unsuppress"}))
    assert [(c.kind, c.state, c.action) for c in changes] == [("SUPPRESS", "DSUPR", None), ("UNSUPPRESS", "NORM", None)]


@pytest.mark.parametrize("raw, message", [
    ({"alarm_type": "gas_lock", "action": "shelve"}, "duration_min"),
    ({"alarm_type": "gas_lock", "action": "shelve", "duration_min": MAX_SHELVE_MIN + 1}, "duration_min"),
    ({"alarm_type": "gas_lock", "action": "snooze"}, "action must be one of"),
    ({"alarm_type": "rod_part", "action": "suppress"}, "unknown alarm_type 'rod_part'"),
    ("{not json", "not JSON"),
    ([{"alarm_type": "gas_lock", "action": "suppress"}, 3], "[1]: expected an object"),
])
def test_malformed_requests_are_refused_whole(raw, message):
    well = raised_well()
    with pytest.raises(EventError, match=message.replace("[", r"\[")):
        apply_operator_event(well.state, "esp", WellEvent(EventKind.ATTRIBUTES_UPDATED, "w1", 1, {REQ: raw}, source="t"))
    assert well.state["alarms"].bank.display_state()[0] == "UNACK"  # nothing of it was applied


def test_requests_parse_from_json_text():
    (req,) = parse_alarm_requests('{"alarm_type": "gas_lock", "action": "shelve", "duration_min": 45}', ("gas_lock",))
    assert (req.tags, req.action, req.duration_min) == (("gas_lock",), "shelve", 45.0)
