"""ISA-18.2 / EEMUA 191 KPIs on a scripted one-hour alarm log whose values are computed by hand,
and the `atilax alarms kpi` command on the same log."""
from __future__ import annotations

import json

import pytest

from engines.alarms import alarm_kpis
from tb_bridge.cli.main import main


def scripted_log():
    rows = []
    for t in (10, 30, 50):  # tag A: 3 activations within 40 s -> chattering
        rows += [(t, "A", "ACTIVE"), (t + 5, "A", "RTN")]
    rows += [(100, "S", "ACTIVE"), (120, "S", "ACK")]  # tag S: never returns
    for i in range(12):  # 12 different tags in the second 10-minute period -> one flood period
        rows += [(610 + 10 * i, f"B{i:02d}", "ACTIVE"), (700 + 10 * i, f"B{i:02d}", "RTN")]
    return rows


def test_hand_computed_kpis():
    ts, tags, kinds = zip(*scripted_log())
    k = alarm_kpis(ts, tags, kinds, start_s=0.0, end_s=3600.0)
    # 3 + 1 + 12 = 16 activations over six 10-minute periods.
    assert k.n_alarms == 16
    assert k.alarms_per_operator_per_10min == pytest.approx(16 / 6)
    assert k.alarms_per_operator_per_hour == pytest.approx(16.0)
    assert k.peak_alarms_per_10min == 12
    assert (k.flood_periods, k.n_periods) == (1, 6)
    assert k.pct_time_in_flood == pytest.approx(100 / 6)
    assert k.top_bad_actors[0] == ("A", 3, pytest.approx(100 * 3 / 16))
    # top 10 = A (3) + nine tags with 1 each = 12 of 16
    assert k.top10_share_pct == pytest.approx(75.0)
    assert k.chattering_tags == ("A",)
    assert k.stale_tags == ()
    k2 = alarm_kpis(ts, tags, kinds, start_s=0.0, end_s=100 + 24 * 3600 + 1, n_operators=2)
    assert k2.stale_tags == ("S",)
    assert k2.alarms_per_operator_per_hour == pytest.approx(16 / 2 / ((100 + 86401) / 3600))


def test_cli_alarms_kpi(tmp_path, capsys, monkeypatch):
    # The family is registered by the integrator in COMMAND_FAMILIES; make sure it is present here.
    import tb_bridge.cli.main as cli_main

    if "alarms" not in cli_main.COMMAND_FAMILIES:
        monkeypatch.setattr(cli_main, "COMMAND_FAMILIES", cli_main.COMMAND_FAMILIES + ("alarms",))
    path = tmp_path / "log.csv"
    path.write_text("timestamp,tag,event\n" + "\n".join(f"{t},{g},{e}" for t, g, e in scripted_log()) + "\n")
    rc = main(["alarms", "kpi", str(path), "--start", "0", "--end", "1970-01-01T01:00:00+00:00", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kpi"]["n_alarms"] == 16 and out["kpi"]["flood_periods"] == 1
    assert out["kpi"]["chattering_tags"] == ["A"]
    rc = main(["alarms", "kpi", str(path)])
    assert rc == 0 and "bad actor" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("time,tag\n1,A\n")
    assert main(["alarms", "kpi", str(bad)]) == 2


STATE_AFTER = {"ACTIVE": "UNACK", "RTN": "RTNUN", "ACK": "ACKED"}  # AlarmBank state after each kind of change


@pytest.mark.integration
def test_cli_alarms_kpi_from_the_history_store(postgres_db_url, capsys, monkeypatch):
    """The same scripted log, kept as the service keeps ISA-18.2 state changes (one ``alarm_event`` row each, the
    change's kind in ``details``), read back from PostgreSQL: the same hand-computed values."""
    from datetime import datetime, timezone

    import tb_bridge.cli.main as cli_main
    from tb_bridge.history.store import HistoryStore

    if "alarms" not in cli_main.COMMAND_FAMILIES:
        monkeypatch.setattr(cli_main, "COMMAND_FAMILIES", cli_main.COMMAND_FAMILIES + ("alarms",))
    at = lambda t: datetime.fromtimestamp(t, timezone.utc)  # noqa: E731
    with HistoryStore(postgres_db_url) as store:
        store.migrate()
        for t, tag, kind in reversed(scripted_log()):  # stored out of order: the query orders by time
            store.record_alarm_event("W-1", tag, "MAJOR", STATE_AFTER[kind], ts=at(t), details={"kind": kind, "score": 0.7})
        store.record_alarm_event("W-2", "gas_lock", "MAJOR", "UNACK", ts=at(20), details={"kind": "ACTIVE"})
        log = store.alarm_log(at(0), at(600), well_id="W-1")
        assert [(r.ts.timestamp(), r.alarm_type) for r in log][:3] == [(10.0, "A"), (15.0, "A"), (30.0, "A")]
        assert len(log) == 8 and all(r.ts < at(600) for r in log)
    rc = main(["alarms", "kpi", "--db", postgres_db_url, "--well", "W-1", "--start", "0",
               "--end", "1970-01-01T01:00:00+00:00", "--json"])
    assert rc == 0
    k = json.loads(capsys.readouterr().out)["kpi"]
    assert k["n_alarms"] == 16
    assert k["alarms_per_operator_per_10min"] == pytest.approx(16 / 6)
    assert k["alarms_per_operator_per_hour"] == pytest.approx(16.0)
    assert (k["peak_alarms_per_10min"], k["flood_periods"], k["n_periods"]) == (12, 1, 6)
    assert k["pct_time_in_flood"] == pytest.approx(100 / 6)
    assert k["top_bad_actors"][0] == ["W-1/A", 3, pytest.approx(100 * 3 / 16)]
    assert k["top10_share_pct"] == pytest.approx(75.0)
    assert (k["chattering_tags"], k["stale_tags"]) == (["W-1/A"], [])
    # A window: the second 10 minutes hold the 12 flood activations only (their returns at 700-810 s too).
    assert main(["alarms", "kpi", "--db", postgres_db_url, "--well", "W-1", "--start", "600", "--end", "1200", "--json"]) == 0
    k = json.loads(capsys.readouterr().out)["kpi"]
    assert (k["n_alarms"], k["n_periods"], k["flood_periods"], k["peak_alarms_per_10min"]) == (12, 1, 1, 12)
    assert k["alarms_per_operator_per_hour"] == pytest.approx(72.0) and k["pct_time_in_flood"] == pytest.approx(100.0)
    assert k["top10_share_pct"] == pytest.approx(100 * 10 / 12) and k["chattering_tags"] == []
    # Without --well both wells count; a readable table too.
    assert main(["alarms", "kpi", "--db", postgres_db_url, "--start", "0", "--end", "3600"]) == 0
    assert "W-2/gas_lock" in capsys.readouterr().out
    assert main(["alarms", "kpi", "--db", postgres_db_url, "--start", "7200", "--end", "9000"]) == 2  # empty period
    assert main(["alarms", "kpi", "log.csv", "--db", postgres_db_url]) == 2  # one source only
