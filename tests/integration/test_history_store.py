"""HistoryStore on a real PostgreSQL (fresh database per test) and on an SQLite file.

Checks are exact: what is written must come back unchanged (floats bit-for-bit, instants equal),
the migrated schema must equal the SQLAlchemy models (Alembic's own comparison finds no difference),
and deletes must cascade as declared.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.exc import IntegrityError

from tb_bridge.history import HistoryStore
from tb_bridge.history.json_values import to_json_value
from tb_bridge.history.migration import downgrade, head_revision
from tb_bridge.history.models import Base, OptimizationResult, OptimizationRun
from tb_bridge.history.store import normalize_url

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
TABLES = {"optimization_run", "optimization_result", "forecast", "alarm_event", "simulation_session", "dead_letter",
          "field_summary", "setpoint_change", "model_registry"}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_db_url")


@pytest.fixture
def store(db_url):
    s = HistoryStore(db_url)
    s.migrate()
    yield s
    s.close()


# ------------------------------------------------------------------------------------------------
# schema and migrations
# ------------------------------------------------------------------------------------------------
def test_migrate_builds_exactly_the_models(db_url):
    store = HistoryStore(db_url)
    try:
        assert store.schema_revision() is None
        store.migrate()
        store.migrate()  # idempotent
        assert store.schema_revision() == head_revision() == "0004"
        with store.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == TABLES | {"alembic_version"}
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diffs == []
    finally:
        store.close()


def test_downgrade_to_base_drops_everything(db_url):
    store = HistoryStore(db_url)
    try:
        store.migrate()
        downgrade(store.engine, "base")
        with store.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}
        assert store.schema_revision() is None
        store.migrate()
        assert store.schema_revision() == head_revision()
    finally:
        store.close()


def test_jsonb_on_postgresql(postgres_db_url):
    store = HistoryStore(postgres_db_url)
    try:
        store.migrate()
        with store.engine.connect() as conn:
            columns = {c["name"]: c["type"] for c in inspect(conn).get_columns("forecast")}
        assert type(columns["params"]).__name__ == "JSONB" and type(columns["points"]).__name__ == "JSONB"
        assert getattr(columns["created_at"], "timezone", False) is True
    finally:
        store.close()


def test_private_postgres_server_migrates(private_postgres_url):
    """The fixture's start-our-own path: a cluster from initdb/pg_ctl accepts the migrations."""
    store = HistoryStore(private_postgres_url)
    try:
        store.migrate()
        assert store.schema_revision() == head_revision()
        run_id = store.record_run("W-1", "esp", "hourly", "nodal", {"q_bpd": 812.5})
        assert store.run(run_id).results == {"q_bpd": 812.5}
    finally:
        store.close()


def test_normalize_url_picks_psycopg():
    assert normalize_url("postgresql://u@h:5432/d") == "postgresql+psycopg://u@h:5432/d"
    assert normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ValueError, match="unsupported"):
        HistoryStore("mysql://u@h/d")


# ------------------------------------------------------------------------------------------------
# optimization runs
# ------------------------------------------------------------------------------------------------
def test_run_round_trip_is_exact(store):
    results = {
        "q_bpd": np.float64(0.1) * 3,  # 0.30000000000000004: must survive bit-for-bit
        "pwf_psi": math.pi,
        "tiny": 1e-300,
        "curve_q_bpd": np.linspace(0.0, 1.0, 7),
        "stages": np.int64(212),
        "converged": np.bool_(True),
        "nested": {"a": [1, 2.5, None], "b": {"c": "text"}},
    }
    run_id = store.record_run("W-1", "esp", "hourly", "nodal", results, units={"q_bpd": "bbl/d", "pwf_psi": "psi"},
                              started_at=T0, finished_at=T0 + timedelta(seconds=3))
    rec = store.run(run_id)
    assert (rec.well_id, rec.lift_type, rec.tier, rec.engine, rec.status, rec.error, rec.simulated) == (
        "W-1", "esp", "hourly", "nodal", "ok", None, False)
    assert rec.started_at == T0 and rec.finished_at == T0 + timedelta(seconds=3)
    assert rec.started_at.tzinfo is not None and rec.started_at.utcoffset() == timedelta(0)
    assert rec.results["q_bpd"] == 0.30000000000000004
    assert rec.results["pwf_psi"] == math.pi and rec.results["tiny"] == 1e-300
    assert rec.results["curve_q_bpd"] == np.linspace(0.0, 1.0, 7).tolist()
    assert rec.results["stages"] == 212 and rec.results["converged"] is True
    assert rec.results["nested"] == {"a": [1, 2.5, None], "b": {"c": "text"}}
    assert rec.units == {"q_bpd": "bbl/d", "pwf_psi": "psi"}


def _raw_rows(store, first_id, n):
    """The stored rows of runs first_id .. first_id + n - 1 and of their results, as the database returns them
    (ids made relative to first_id), in id order."""
    with store.engine.connect() as conn:
        runs = conn.exec_driver_sql(
            "SELECT id, well_id, lift_type, tier, engine, started_at, finished_at, status, error, simulated "
            f"FROM optimization_run WHERE id >= {first_id} AND id < {first_id + n} ORDER BY id").all()
        results = conn.exec_driver_sql(
            'SELECT run_id, "key", value, unit FROM optimization_result '
            f"WHERE run_id >= {first_id} AND run_id < {first_id + n} ORDER BY id").all()
    return ([(r[0] - first_id,) + tuple(r[1:]) for r in runs], [(r[0] - first_id,) + tuple(r[1:]) for r in results])


def test_bulk_record_runs_stores_the_rows_of_one_at_a_time_inserts(store):
    """record_runs (one bulk INSERT of the runs, one executemany of the results, JSON text made once) stores exactly
    the rows the ORM's unit of work stores inserting the same runs one at a time, and returns their ids in order."""
    from tb_bridge.history.models import OptimizationResult as Result, OptimizationRun as Run

    lifts = ("esp", "srp", "pcp", "gas_lift")
    runs = [dict(well_id=f"W-{i}", lift_type=lifts[i % 4], tier="fast", engine="diagnostics",
                 results={"q_bpd": np.float64(0.1) * i, "n": np.int64(i), "ok": bool(i % 2), "none": None,
                          "nan": float("nan"), "text": f"w{i}\u00e9", "two": 2.0,
                          "nested": {"a": [1, 2.5, None, np.inf], "b": {"c": i}}},
                 units={"q_bpd": "bbl/d"} if i % 3 else None, status="error" if i == 5 else "ok",
                 error="boom" if i == 5 else None, started_at=T0 + timedelta(seconds=i),
                 finished_at=T0 + timedelta(seconds=i, milliseconds=250), simulated=i == 7) for i in range(40)]
    factory = store.session_factory()
    with factory.begin() as session:  # the reference: one ORM object per run and per result, flushed one by one
        reference = []
        for run in runs:
            run_values, result_rows = store._run_values(**run)
            row = Run(**run_values, results=[Result(key=r["key"], value=to_json_value(run["results"][r["key"]]),
                                                    unit=r["unit"]) for r in result_rows])
            session.add(row)
            session.flush()
            reference.append(row.id)
    ids = store.record_runs(runs)
    assert ids == list(range(reference[-1] + 1, reference[-1] + 41))
    assert [store.run(i).well_id for i in (ids[0], ids[17], ids[-1])] == ["W-0", "W-17", "W-39"]
    assert _raw_rows(store, ids[0], 40) == _raw_rows(store, reference[0], 40)
    assert len(_raw_rows(store, ids[0], 40)[1]) == 40 * 8
    assert store.record_runs([]) == []
    # and again after other writes: the ids keep following the table's
    more = store.record_runs(runs[:3])
    assert more == [ids[-1] + 1, ids[-1] + 2, ids[-1] + 3]
    assert _raw_rows(store, more[0], 3) == _raw_rows(store, ids[0], 3)


def test_latest_results_per_well(store):
    """The last `limit` values of one result key per well (of one tier, simulated runs left out), oldest first."""
    runs = [dict(well_id=f"W-{i % 3}", lift_type="esp", tier="daily" if i % 4 else "fast", engine="refresh",
                 results={"score": 50.0 + i + 0.25, "other": i}, started_at=T0 + timedelta(days=i)) for i in range(20)]
    runs.append(dict(well_id="W-0", lift_type="esp", tier="daily", engine="refresh", results={"score": -1.0},
                     started_at=T0 + timedelta(days=30), simulated=True))
    store.record_runs(runs)
    got = store.latest_results(["W-0", "W-1", "W-2", "W-9"], "score", tier="daily", limit=3)
    expect = {w: [50.25 + i for i in range(20) if i % 3 == int(w[-1]) and i % 4][-3:] for w in ("W-0", "W-1", "W-2")}
    assert got == expect
    assert store.latest_results(["W-1"], "score", limit=30) == {"W-1": [50.25 + i for i in range(1, 20, 3)]}
    assert store.latest_results(["W-1"], "missing") == {}


def test_runs_order_filters_and_limit(store):
    ids = [store.record_run(f"W-{i % 2}", "srp", "hourly" if i < 4 else "daily", "rod", {"i": i},
                            started_at=T0 + timedelta(hours=i)) for i in range(6)]
    sim_id = store.record_run("W-0", "srp", "hourly", "rod", {"i": 99}, started_at=T0 + timedelta(hours=10),
                              simulated=True)
    assert [r.id for r in store.runs()] == ids[::-1]  # newest first, simulated left out
    assert [r.id for r in store.runs(include_simulated=True)] == [sim_id] + ids[::-1]
    assert [r.results["i"] for r in store.runs("W-0")] == [4, 2, 0]
    assert [r.results["i"] for r in store.runs(tier="daily")] == [5, 4]
    assert [r.results["i"] for r in store.runs(limit=2)] == [5, 4]
    with pytest.raises(ValueError, match="limit"):
        store.runs(limit=0)


def test_error_runs_and_validation(store):
    run_id = store.record_run("W-1", "pcp", "daily", "pcp_rate", status="error", error="did not converge",
                              started_at=T0, finished_at=T0)
    rec = store.run(run_id)
    assert (rec.status, rec.error, rec.results) == ("error", "did not converge", {})
    with pytest.raises(ValueError, match="status"):
        store.record_run("W-1", "pcp", "daily", "pcp_rate", status="failed")
    with pytest.raises(ValueError, match="units"):
        store.record_run("W-1", "pcp", "daily", "pcp_rate", {"a": 1}, units={"b": "psi"})
    with pytest.raises(ValueError, match="naive"):
        store.record_run("W-1", "pcp", "daily", "pcp_rate", started_at=datetime(2026, 1, 1))
    with pytest.raises(KeyError):
        store.run(run_id + 1000)
    assert len(store.runs(include_simulated=True)) == 1  # the rejected writes left nothing behind


def test_non_utc_instant_is_kept(store):
    local = datetime(2026, 3, 1, 7, 0, tzinfo=timezone(timedelta(hours=-5)))  # = 12:00 UTC
    run_id = store.record_run("W-1", "esp", "hourly", "nodal", started_at=local, finished_at=local)
    assert store.run(run_id).started_at == T0 and store.run(run_id).started_at.tzinfo == timezone.utc


def test_non_finite_results_become_null(store):
    run_id = store.record_run("W-1", "esp", "hourly", "nodal",
                              {"nan": float("nan"), "arr": np.array([1.0, np.inf, -np.inf])})
    assert store.run(run_id).results == {"nan": None, "arr": [1.0, None, None]}


def test_deleting_a_run_cascades_to_its_results(store):
    keep = store.record_run("W-1", "esp", "hourly", "nodal", {"a": 1, "b": 2})
    gone = store.record_run("W-2", "esp", "hourly", "nodal", {"a": 3, "b": 4, "c": 5})
    factory = store.session_factory()
    with factory.begin() as session:
        assert session.scalar(select(func.count()).select_from(OptimizationResult)) == 5
        session.execute(delete(OptimizationRun).where(OptimizationRun.id == gone))  # SQL-level: the FK cascades
    with factory() as session:
        assert session.scalars(select(OptimizationResult.run_id)).all() == [keep, keep]
    with pytest.raises(IntegrityError):  # and the FK is enforced (SQLite: PRAGMA foreign_keys=ON)
        with factory.begin() as session:
            session.add(OptimizationResult(run_id=gone, key="x", value=1))


def test_data_survive_reopening(db_url):
    with HistoryStore(db_url) as first:
        first.migrate()
        run_id = first.record_run("W-1", "gas_lift", "weekly", "allocation", {"qi_mscfd": 512.25})
    with HistoryStore(db_url) as second:
        second.migrate()
        assert second.run(run_id).results == {"qi_mscfd": 512.25}


# ------------------------------------------------------------------------------------------------
# dead letters, alarms, forecasts, simulation sessions
# ------------------------------------------------------------------------------------------------
def test_dead_letters_queue(store):
    a = store.dead_letter("mqtt", b'{"flow_rate_bpd": \xff}', "invalid UTF-8", received_at=T0)
    b = store.dead_letter("rpc", {"method": "optimize", "params": [1, 2]}, "unknown well", well_id="W-9",
                          received_at=T0 + timedelta(seconds=1))
    c = store.dead_letter("mqtt", "nul\x00inside", "bad json", received_at=T0 + timedelta(seconds=2))
    letters = store.dead_letters()
    assert [d.id for d in letters] == [a, b, c]  # oldest first
    assert letters[0].payload == '{"flow_rate_bpd": \\xff}'
    assert letters[1].payload == '{"method": "optimize", "params": [1, 2]}' and letters[1].well_id == "W-9"
    assert letters[2].payload == "nul\\x00inside"
    assert (letters[0].source, letters[0].error, letters[0].received_at) == ("mqtt", "invalid UTF-8", T0)
    assert store.mark_reprocessed([a, c]) == 2
    assert store.mark_reprocessed([a]) == 0
    assert [d.id for d in store.dead_letters()] == [b]
    assert [(d.id, d.reprocessed) for d in store.dead_letters(include_reprocessed=True)] == [
        (a, True), (b, False), (c, True)]
    assert [d.id for d in store.dead_letters(limit=1, include_reprocessed=True)] == [a]


def test_alarm_events(store):
    first = store.record_alarm_event("W-1", "pump_off", "MAJOR", "active", ts=T0, details={"fillage_pct": 41.5})
    second = store.record_alarm_event("W-1", "pump_off", "MAJOR", "cleared", ts=T0 + timedelta(minutes=5))
    store.record_alarm_event("W-2", "gas_lock", "CRITICAL", "active", ts=T0 + timedelta(minutes=1))
    events = store.alarm_events("W-1")
    assert [e.id for e in events] == [second, first]
    assert events[1].details == {"fillage_pct": 41.5} and events[0].details is None
    assert [e.alarm_type for e in store.alarm_events()] == ["pump_off", "gas_lock", "pump_off"]


def test_latest_runs_keep_each_runs_results_together(store):
    """The given keys of each well's last `limit` runs (of one tier, simulated left out), grouped per run, oldest first."""
    runs = [dict(well_id=f"W-{i % 2}", lift_type="esp", tier="daily" if i % 3 else "fast", engine="review",
                 results={"a": i, "b": [i, 0.5], "c": "x"} if i % 4 else {"c": "only"}, started_at=T0 + timedelta(hours=i))
            for i in range(12)]
    runs.append(dict(well_id="W-1", lift_type="esp", tier="daily", engine="review", results={"a": -1},
                     started_at=T0 + timedelta(days=2), simulated=True))
    store.record_runs(runs)
    got = store.latest_runs(["W-0", "W-1", "W-9"], ["a", "b"], tier="daily", limit=3)
    # daily runs: i % 3 != 0; W-0: 2, 4, 8, 10 -> the last three 4, 8, 10, of which 4 and 8 (i % 4 == 0) have
    # neither a nor b and are left out; W-1: 1, 5, 7, 11 -> 5, 7, 11
    assert got == {"W-0": [(T0 + timedelta(hours=10), {"a": 10, "b": [10, 0.5]})],
                   "W-1": [(T0 + timedelta(hours=h), {"a": h, "b": [h, 0.5]}) for h in (5, 7, 11)]}
    assert store.latest_runs(["W-1"], ["c"], limit=2) == {"W-1": [(T0 + timedelta(hours=h), {"c": "x"}) for h in (9, 11)]}
    assert store.latest_runs(["W-1"], []) == {} and store.latest_runs([], ["a"]) == {}


def test_alarm_states_before_is_each_points_last_change(store):
    ev = [("W-1", "pump_wear", "UNACK", 0), ("W-1", "pump_wear", "ACKED", 10), ("W-1", "gas_lock", "UNACK", 20),
          ("W-1", "pump_wear", "NORM", 40), ("W-2", "pump_wear", "RTNUN", 5), ("W-2", "pump_wear", "UNACK", 30)]
    ids = {(w, t, m): store.record_alarm_event(w, t, "MAJOR", s, ts=T0 + timedelta(minutes=m)) for w, t, s, m in ev}
    got = store.alarm_states_before(T0 + timedelta(minutes=30))
    assert [(r.well_id, r.alarm_type, r.state, r.id) for r in got] == [
        ("W-1", "gas_lock", "UNACK", ids[("W-1", "gas_lock", 20)]),
        ("W-1", "pump_wear", "ACKED", ids[("W-1", "pump_wear", 10)]),
        ("W-2", "pump_wear", "RTNUN", ids[("W-2", "pump_wear", 5)])]  # the change at 30 min is not before
    assert [r.state for r in store.alarm_states_before(T0 + timedelta(hours=1), ["W-1"])] == ["UNACK", "NORM"]
    assert store.alarm_states_before(T0) == []


def test_field_summaries_round_trip(store):
    week = {"opt_field_oil_bbl": 0.1 * 3, "opt_field_alarm_kpi": {"n_alarms": 3, "top_bad_actors": [["W-1/x", 3, 100.0]]}}
    a = store.record_field_summary("F-1", "weekly", week, period_start=T0 - timedelta(days=7), period_end=T0,
                                   created_at=T0)
    b = store.record_field_summary("F-1", "model_audit", {"opt_field_models": 4}, period_start=T0, period_end=T0,
                                   created_at=T0 + timedelta(minutes=15))
    c = store.record_field_summary("default", "weekly", {"opt_field_oil_bbl": 1.0}, period_start=T0, period_end=T0,
                                   created_at=T0 + timedelta(days=7))
    assert [r.id for r in store.field_summaries()] == [c, b, a]
    (rec,) = store.field_summaries("F-1", "weekly")
    assert (rec.id, rec.summary, rec.period_start, rec.period_end, rec.created_at) == (
        a, week, T0 - timedelta(days=7), T0, T0)
    assert [r.id for r in store.field_summaries(kind="weekly", limit=1)] == [c]
    with pytest.raises(ValueError, match="naive"):
        store.record_field_summary("F-1", "weekly", {}, period_start=datetime(2026, 1, 1), period_end=T0)


def test_forecasts(store):
    points = [{"t_days": float(t), "q_bpd": 1000.0 * math.exp(-0.001 * t)} for t in range(0, 365, 30)]
    old = store.save_forecast("W-1", "arps", {"qi_bpd": 1000.0, "di_per_day": 0.001, "b": 0.0}, points, created_at=T0)
    new = store.save_forecast("W-1", "arps", {"qi_bpd": 950.0}, points[:2], created_at=T0 + timedelta(days=1))
    other = store.save_forecast("W-1", "ml", {"model": "xgb"}, [], created_at=T0 + timedelta(days=2))
    assert [f.id for f in store.forecasts("W-1")] == [other, new, old]
    arps = store.forecasts("W-1", model="arps")
    assert [f.id for f in arps] == [new, old]
    assert arps[1].points == points and arps[1].params["di_per_day"] == 0.001
    assert store.forecasts("W-2") == []


def test_simulation_sessions(store):
    original = {"frequency_hz": 55.0, "wellhead_pressure_psi": 120.0}
    sid = store.save_session("W-1", original, started_at=T0)
    named = store.save_session("W-2", {"spm": 8.0}, session_id="sim-42", started_at=T0 + timedelta(hours=1))
    assert named == "sim-42" and len(sid) == 32
    rec = store.session(sid)
    assert (rec.well_id, rec.status, rec.original_params, rec.modified_params, rec.results, rec.ended_at) == (
        "W-1", "active", original, None, None, None)
    store.update_session(sid, modified_params={"frequency_hz": 60.0})
    store.update_session(sid, status="completed", results={"q_bpd": np.float64(1012.5)},
                         ended_at=T0 + timedelta(minutes=10))
    rec = store.session(sid)
    assert rec.status == "completed" and rec.modified_params == {"frequency_hz": 60.0}
    assert rec.results == {"q_bpd": 1012.5} and rec.ended_at == T0 + timedelta(minutes=10)
    assert rec.original_params == original  # untouched by the updates
    assert [s.id for s in store.sessions()] == ["sim-42", sid]
    assert [s.id for s in store.sessions("W-1")] == [sid]
    with pytest.raises(KeyError):
        store.update_session("missing", status="completed")
    with pytest.raises(KeyError):
        store.session("missing")


# ------------------------------------------------------------------------------------------------
# JSON conversion (backend independent)
# ------------------------------------------------------------------------------------------------
def test_to_json_value():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Point:
        q_bpd: float
        pwf_psi: np.float32

    assert to_json_value({"p": Point(1.5, np.float32(0.5)), 3: (1, 2), "t": T0}) == {
        "p": {"q_bpd": 1.5, "pwf_psi": 0.5}, "3": [1, 2], "t": "2026-03-01T12:00:00+00:00"}
    with pytest.raises(TypeError, match="cannot store"):
        to_json_value(object())


def test_concurrent_migrations_on_postgresql(postgres_db_url):
    """Replicas starting together (separate processes): migrate() serialises on PostgreSQL's advisory
    lock, so every process succeeds and the schema is built once."""
    import subprocess
    import sys

    code = "import sys; from tb_bridge.history import HistoryStore; s = HistoryStore(sys.argv[1]); s.migrate(); s.close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, postgres_db_url], stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    with HistoryStore(postgres_db_url) as store:
        assert store.schema_revision() == head_revision()
        with store.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == TABLES | {"alembic_version"}


def test_concurrent_migrations_in_one_process(sqlite_url):
    """Threads of one process calling migrate() at once (Alembic's context is process-global)."""
    from concurrent.futures import ThreadPoolExecutor

    stores = [HistoryStore(sqlite_url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda s: s.migrate(), stores))
        assert {s.schema_revision() for s in stores} == {head_revision()}
    finally:
        for s in stores:
            s.close()
