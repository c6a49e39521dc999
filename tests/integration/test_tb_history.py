"""Reading long history from ThingsBoard (the stand-in over REST) with paging."""
from __future__ import annotations

import numpy as np
import pytest

from tb_bridge.standin import StandIn
from tb_bridge.tb_history import DAY_MS, ThingsBoardHistory

T0 = 1_700_000_000_000


@pytest.fixture
def standin():
    tb = StandIn()
    url = tb.start_http()
    yield tb, url
    tb.stop()


def test_pages_backwards_and_returns_the_window_ascending(standin):
    tb, url = standin
    device, _ = tb.create_device("ESP-01", "ESP")
    tb.save_timeseries(device, [(T0 + i * DAY_MS, {"flow_rate_bpd": 1000.0 + i}) for i in range(400)])
    reader = ThingsBoardHistory(url, "tenant@thingsboard.org", "tenant", page_size=37)  # forces 5 pages
    end = T0 + 399 * DAY_MS
    ts, rate = reader.series(device, "flow_rate_bpd", 180, end_ms=end)
    # [end - 180 d, end]: days 219..399 inclusive = 181 points, oldest first.
    assert ts.size == 181 and np.all(np.diff(ts) == DAY_MS)
    assert ts[0] == T0 + 219 * DAY_MS and ts[-1] == end
    assert rate[0] == 1219.0 and rate[-1] == 1399.0


def test_max_points_caps_the_read(standin):
    tb, url = standin
    device, _ = tb.create_device("ESP-02", "ESP")
    tb.save_timeseries(device, [(T0 + i * 60_000, {"flow_rate_bpd": float(i)}) for i in range(500)])
    reader = ThingsBoardHistory(url, "tenant@thingsboard.org", "tenant", page_size=100, max_points=250)
    ts, rate = reader.series(device, "flow_rate_bpd", 30, end_ms=T0 + 499 * 60_000)
    assert ts.size == 250 and rate[-1] == 499.0 and rate[0] == 250.0  # the newest 250


def test_bad_credentials_raise(standin):
    _, url = standin
    reader = ThingsBoardHistory(url, "tenant@thingsboard.org", "wrong")
    with pytest.raises(Exception):
        reader.series("00000000-0000-0000-0000-000000000000", "flow_rate_bpd", 1)
