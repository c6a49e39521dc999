"""The fast-tier alarm step: diagnosis scores -> ISA-18.2 AlarmBank with the documented deadband and delays.

Scores are scripted (a stand-in for ``DiagnosisResult``) so that every expected event time can be counted
by hand: runs every 300 s, on-delay 600 s (active at the third consecutive run at or above 0.5), off-delay
1800 s (normal at the seventh consecutive run below 0.5 - 0.2 = 0.3)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from engines.alarms.states import AlarmBank
from engines.anomaly.rules import RULES_BY_LIFT_TYPE
from tb_bridge.handlers.alarm_steps import alarm_step

STEP_MS = 300_000
ESP_RULES = [r.name for r in RULES_BY_LIFT_TYPE["esp"]]
WEAR = ESP_RULES.index("pump_wear")


class Well:
    """Drives ``alarm_step`` like the service does: one diagnosis per 5-minute run."""

    def __init__(self, lift_type: str = "esp") -> None:
        self.lift_type = lift_type
        self.n_rules = len(RULES_BY_LIFT_TYPE[lift_type])
        self.state: dict = {}
        self.run = 0

    def step(self, scores: dict[str, float] | None = None, cusum: bool = False):
        self.run += 1
        row = np.zeros(self.n_rules)
        names = [r.name for r in RULES_BY_LIFT_TYPE[self.lift_type]]
        for name, value in (scores or {}).items():
            row[names.index(name)] = value
        best = names[int(np.argmax(row))] if row.max() >= 0.5 else "none"
        result = SimpleNamespace(lift_type=self.lift_type, rule_scores=row[None, :], cusum_alarm=np.array([cusum]),
                                 anomaly_type=(best,), evidence=([],), health_score=np.array([80.0]))
        self.state["diagnostics"] = SimpleNamespace(last_result=result, last_ts_ms=self.run * STEP_MS)
        context = SimpleNamespace(config=SimpleNamespace(lift_type=self.lift_type), state=self.state,
                                  now_ms=self.run * STEP_MS)
        return alarm_step(context)


def test_chattering_score_near_the_limit_raises_nothing():
    well = Well()
    changes = []
    alternating = [0.45, 0.55] * 144  # a day of a score flickering across the limit every 5 minutes
    for value in alternating:
        changes += well.step({"pump_wear": value}).alarms
    assert changes == []
    # the same signal on an alarm without deadband or delays chatters: an ACTIVE at each of the 144 runs at
    # 0.55 and an RTN at each of the 143 runs at 0.45 that follow one
    plain = AlarmBank(["pump_wear"], limit=0.5)
    events = [e for i, v in enumerate(alternating) for e in plain.update(i * 300.0, [v])]
    assert [e.kind for e in events].count("ACTIVE") == 144 and [e.kind for e in events].count("RTN") == 143


def test_deadband_and_delays_give_one_raise_and_one_clear():
    well = Well()
    out = []
    for _ in range(3):
        out.append(well.step({"pump_wear": 0.8}))
    assert [o.alarms for o in out[:2]] == [[], []]  # on-delay: runs 1 and 2 wait
    (raised,) = out[2].alarms
    assert (raised.alarm_type, raised.severity, raised.kind, raised.state, raised.action, raised.ts_ms) == (
        "pump_wear", "MINOR", "ACTIVE", "UNACK", "create", 3 * STEP_MS)
    assert raised.tb_type == "Atilax: pump_wear" and raised.details["score"] == 0.8
    assert out[2].attributes["opt_alarm_active"] == [
        {"type": "pump_wear", "severity": "MINOR", "state": "UNACK", "since_ts": 3 * STEP_MS}]
    # 100 runs swinging between 0.35 and 0.6: inside the deadband (clear needs < 0.3), nothing happens
    for i in range(100):
        assert well.step({"pump_wear": 0.35 if i % 2 else 0.6}).alarms == []
    # then the fault is gone: the clear comes at the seventh run below 0.3 (off-delay 1800 s)
    cleared = [well.step({"pump_wear": 0.1}) for _ in range(7)]
    assert [len(o.alarms) for o in cleared] == [0] * 6 + [1]
    (rtn,) = cleared[-1].alarms
    assert (rtn.kind, rtn.state, rtn.action, rtn.ts_ms) == ("RTN", "RTNUN", "clear", (3 + 100 + 7) * STEP_MS)
    assert cleared[-1].attributes["opt_alarm_active"] == []


def test_critical_rule_has_no_on_delay_and_statistical_alarm_yields_to_a_rule():
    srp = Well("srp")
    (raised,) = srp.step({"rod_part": 0.9}).alarms
    assert (raised.alarm_type, raised.severity, raised.ts_ms) == ("rod_part", "CRITICAL", STEP_MS)
    esp = Well()
    # CUSUM signal alone: the WARNING alarm after the on-delay; with a rule firing it is not asserted
    assert [esp.step(cusum=True).alarms for _ in range(2)] == [[], []]
    (stat,) = esp.step(cusum=True).alarms
    assert (stat.alarm_type, stat.severity) == ("statistical_deviation", "WARNING")
    moved = [esp.step({"gas_lock": 0.9}, cusum=True).alarms for _ in range(7)]
    kinds = [(c.alarm_type, c.kind) for changes in moved for c in changes]
    assert kinds == [("gas_lock", "ACTIVE"), ("statistical_deviation", "RTN")]
    assert [len(c) for c in moved] == [0, 0, 1, 0, 0, 0, 1]


def test_no_new_diagnosis_means_no_evaluation():
    well = Well()
    for _ in range(2):
        well.step({"pump_wear": 0.9})
    well.state["diagnostics"].last_ts_ms -= 1  # diagnostics_step found no new samples: same diagnosis
    context = SimpleNamespace(config=SimpleNamespace(lift_type="esp"), state=well.state, now_ms=10 * STEP_MS)
    well.state["diagnostics"].last_ts_ms = 2 * STEP_MS
    assert alarm_step(context).alarms == []  # would have activated (600 s elapsed) had it been evaluated
    assert alarm_step(SimpleNamespace(config=None, state={}, now_ms=0)).alarms == []  # no diagnosis yet
