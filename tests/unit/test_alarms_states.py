"""ISA-18.2 alarm state machine: transitions of ANSI/ISA-18.2-2016 Fig. 5, deadband and delays
against chattering (EEMUA 191 App. 10), shelving with expiry, suppression and out-of-service."""
from __future__ import annotations

import numpy as np
import pytest

from engines.alarms import AlarmBank, alarm_kpis


def _activations(events):
    return [e for e in events if e.kind == "ACTIVE"]


def test_isa_transitions():
    bank = AlarmBank(["PT-1"], limit=100.0)
    assert bank.display_state() == ("NORM",)
    assert [e.kind for e in bank.update(0, [101.0])] == ["ACTIVE"] and bank.display_state() == ("UNACK",)
    assert [e.kind for e in bank.acknowledge(5, "PT-1")] == ["ACK"] and bank.display_state() == ("ACKED",)
    assert [e.kind for e in bank.update(10, [99.0])] == ["RTN"] and bank.display_state() == ("NORM",)
    bank.update(20, [105.0])
    bank.update(30, [90.0])
    assert bank.display_state() == ("RTNUN",)  # returned before acknowledgment
    bank.update(40, [105.0])
    assert bank.display_state() == ("UNACK",)  # re-alarm from RTNUN
    bank.update(50, [90.0])
    bank.acknowledge(60, 0)
    assert bank.display_state() == ("NORM",)


def test_low_alarm_direction():
    bank = AlarmBank(["LL"], limit=50.0, direction=-1, deadband=2.0)
    assert _activations(bank.update(0, [49.0]))
    assert not bank.update(1, [51.0])  # inside the deadband, still active
    assert [e.kind for e in bank.update(2, [52.5])] == ["RTN"]


def test_deadband_and_delays_suppress_chattering():
    rng = np.random.default_rng(0)
    values = 100.0 + 1.0 * rng.standard_normal(3600)  # noisy signal sitting on the limit, 1 s samples
    plain = AlarmBank(["X"], limit=100.0)
    tuned = AlarmBank(["X"], limit=100.0, deadband=5.0, on_delay_s=5.0, off_delay_s=10.0)
    ev_plain, ev_tuned = [], []
    for t, v in enumerate(values):
        ev_plain += plain.update(float(t), [v])
        ev_tuned += tuned.update(float(t), [v])
    n_plain, n_tuned = len(_activations(ev_plain)), len(_activations(ev_tuned))
    # Without deadband every up-crossing alarms: about a quarter of the samples for white noise at the limit.
    assert 700 < n_plain < 1100
    assert n_tuned == 1
    k_plain = alarm_kpis([e.ts_s for e in ev_plain], [e.tag for e in ev_plain], [e.kind for e in ev_plain])
    k_tuned = alarm_kpis([e.ts_s for e in ev_tuned], [e.tag for e in ev_tuned], [e.kind for e in ev_tuned])
    assert k_plain.chattering_tags == ("X",) and k_tuned.chattering_tags == ()


def test_on_delay_requires_persistence_and_off_delay_holds_the_alarm():
    bank = AlarmBank(["T"], limit=10.0, on_delay_s=30.0, off_delay_s=60.0)
    assert not bank.update(0, [11.0]) and not bank.update(20, [11.0])
    assert not bank.update(25, [9.0])  # condition broke: on-delay restarts
    assert not bank.update(30, [11.0]) and not bank.update(50, [11.0])
    assert _activations(bank.update(60, [11.0]))  # 30 s of persistence since t = 30
    assert not bank.update(70, [9.0]) and not bank.update(120, [9.0])
    assert [e.kind for e in bank.update(130, [9.0])] == ["RTN"]  # 60 s below since t = 70


def test_shelving_expires_and_reannunciates():
    bank = AlarmBank(["A", "B"], limit=[1.0, 1.0])
    bank.shelve(0.0, "A", duration_s=3600.0)
    ev = bank.update(10.0, [2.0, 2.0])
    assert [e.tag for e in _activations(ev)] == ["B"]  # shelved alarm is not annunciated
    assert bank.display_state() == ("SHLVD", "UNACK")
    ev = bank.update(3600.0, [2.0, 2.0])
    assert [(e.tag, e.kind) for e in ev] == [("A", "UNSHELVE")]
    assert bank.display_state() == ("UNACK", "UNACK")  # still active at expiry -> annunciated
    with pytest.raises(ValueError):
        bank.shelve(0.0, "A", duration_s=0.0)


def test_suppression_and_out_of_service():
    bank = AlarmBank(["A", "B"], limit=1.0)
    bank.suppress(0.0, "A")
    bank.out_of_service_set(0.0, "B")
    assert not bank.update(1.0, [5.0, 5.0])
    assert bank.display_state() == ("DSUPR", "OOSRV")
    bank.suppress(2.0, "A", on=False)
    bank.out_of_service_set(2.0, "B", on=False)
    assert bank.display_state() == ("UNACK", "UNACK")
    with pytest.raises(ValueError):
        AlarmBank(["A"], limit=1.0, direction=0)
