"""MQTT faults on a private, persistent Mosquitto that the test stops and starts (tb_bridge.faults).

The service runs with the configuration's MQTT defaults (stable client id from the instance name, clean start
off, one-day session expiry, QoS 1, plain subscription). A separate publisher sends telemetry at QoS 1 as
ThingsBoard's MQTT node does; every event whose publish the broker acknowledged must reach the service at
least once: across a broker restart (SIGTERM: Mosquitto saves sessions, subscriptions and queued messages),
and across a crash of the service (SIGKILL of its MQTT side: the broker keeps the session for the new one).
"""
from __future__ import annotations

import pytest

from tb_bridge.faults.scenarios import FaultReport, mqtt_broker_restart, mqtt_service_crash

pytestmark = pytest.mark.integration

# ~4 s of stream at 500 events/s; the part is killed after 30 % and stays down 2 s, so the stream goes on after
# the restart and the publisher reconnects (and flushes what it queued) before the service resubscribes
STREAM = {"wells": 10, "per_well": 200, "rate_per_s": 500.0, "kill_fraction": 0.3, "down_s": 2.0}


def _check(report: FaultReport, record_property) -> None:
    for name, value in (("sent", report.sent), ("lost", report.lost), ("duplicates", report.duplicates),
                        ("recovery_s", report.recovery_s), ("drain_s", report.drain_s)):
        record_property(name, value)
    assert report.details["unacknowledged"] == 0  # the publisher's queue went out after the restart
    assert report.sent == STREAM["wells"] * STREAM["per_well"]
    assert (report.lost, report.processed, report.dead_lettered) == (0, report.sent, 0)
    assert report.recovery_s is not None and report.drain_s is not None
    assert report.alive


def test_broker_restart_mid_stream_loses_no_acknowledged_event(record_property):
    report = mqtt_broker_restart(**STREAM)
    assert report.details["connects"] == 2  # reconnected by itself; the session was present again
    _check(report, record_property)


@pytest.mark.parametrize("shared_group", [None, "atilax"])
def test_service_crash_mid_stream_the_next_incarnation_gets_the_backlog(shared_group, record_property):
    """Mosquitto keeps queueing for a persistent session whose client died, shared subscription included."""
    report = mqtt_service_crash(shared_group=shared_group, **STREAM)
    assert 0 < report.details["first_incarnation"] < report.sent
    _check(report, record_property)


@pytest.mark.xfail(strict=True, reason="Mosquitto 2.0 does not save shared subscriptions ($share/...) in its "
                   "persistence file (persist__subs_save writes plain ones only): after its restart the group "
                   "subscription is gone until the replica resubscribes, and what is published before that is "
                   "dropped. Why mqtt.shared_group defaults to None; passes on a broker that keeps them.")
def test_broker_restart_with_a_shared_group_loses_no_acknowledged_event(record_property):
    report = mqtt_broker_restart(shared_group="atilax", drain_timeout_s=5.0, **STREAM)
    _check(report, record_property)
