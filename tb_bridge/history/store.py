"""``HistoryStore``: the service's SQL history (PostgreSQL via psycopg 3, or an SQLite file).

Writes are short transactions; queries return the immutable records of
:mod:`tb_bridge.history.records`, never live ORM objects. Timestamps are timezone-aware UTC; when a
write omits one, the current UTC time is used.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import create_engine, event, func, insert, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from tb_bridge.history import migration
from tb_bridge.history.dead_letter_text import (
    ERROR_MAX_CHARS,
    SOURCE_MAX_CHARS,
    WELL_ID_MAX_CHARS,
    payload_text,
    short_text,
)
from tb_bridge.history.json_values import json_text, to_json_value
from tb_bridge.history.models import (
    RUN_STATUSES,
    AlarmEvent,
    DeadLetter,
    FieldSummary,
    Forecast,
    OptimizationResult,
    OptimizationRun,
    SimulationSession,
)
from tb_bridge.history.records import (
    AlarmEventRecord,
    DeadLetterRecord,
    FieldSummaryRecord,
    ForecastRecord,
    RunRecord,
    SessionRecord,
)


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for bare ``postgresql://`` / ``postgres://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def create_history_engine(url: str, echo: bool = False) -> Engine:
    """An engine for ``url`` with SQLite foreign keys on and a shared connection for ``sqlite://``."""
    parsed = make_url(normalize_url(url))
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported history database {backend!r}: use sqlite:///path.db or postgresql+psycopg://...")
    if backend == "sqlite":
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(parsed, echo=echo, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None, name: str) -> datetime | None:
    """Reject naive datetimes early, with the argument's name (stored values are UTC instants)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime ({value.isoformat()}); give a timezone-aware one (UTC)")
    return value


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or int(limit) != limit or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return int(limit)


class HistoryStore:
    """History of optimization runs, forecasts, alarm events, simulation sessions, dead letters and field summaries.

    Args:
        url: ``sqlite:///path.db`` (embedded) or ``postgresql+psycopg://user@host:5432/db``.
        echo: log the SQL (debugging).

    Call :meth:`migrate` once at start-up to create or upgrade the schema.
    """

    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = create_history_engine(self.url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    # -- schema -------------------------------------------------------------------------------------
    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (the newest by default); a no-op when already there."""
        migration.upgrade(self.engine, revision)

    def schema_revision(self) -> str | None:
        """The schema revision of the database (``None`` before the first :meth:`migrate`)."""
        return migration.current_revision(self.engine)

    # -- optimization runs --------------------------------------------------------------------------
    def record_run(
        self,
        well_id: str,
        lift_type: str,
        tier: str,
        engine: str,
        results: Mapping[str, Any] | None = None,
        *,
        units: Mapping[str, str] | None = None,
        status: str = "ok",
        error: str | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        simulated: bool = False,
    ) -> int:
        """Store one run and its results (``key -> JSON value``, ``units[key]`` optional); returns its id.

        ``status`` is ``"ok"`` or ``"error"`` (then ``error`` says why). ``simulated`` marks runs on
        what-if (``sim_*``) data, which :meth:`runs` leaves out unless asked.
        """
        return self.record_runs([dict(well_id=well_id, lift_type=lift_type, tier=tier, engine=engine, results=results,
                                      units=units, status=status, error=error, started_at=started_at,
                                      finished_at=finished_at, simulated=simulated)])[0]

    def record_runs(self, runs: Iterable[Mapping[str, Any]]) -> list[int]:
        """Store many runs in one transaction (one tier run) with bulk INSERTs; each mapping holds
        :meth:`record_run`'s arguments by name. Returns the ids in order.

        The runs go in one bulk statement on every backend (:meth:`_insert_runs`), their results in one
        Core executemany, values serialized once by :func:`~tb_bridge.history.json_values.json_text`."""
        prepared = [self._run_values(**dict(run)) for run in runs]
        if not prepared:
            return []
        with self._sessions.begin() as session:
            connection = session.connection()
            ids = self._insert_runs(connection, [run_values for run_values, _ in prepared])
            result_rows = [(run_id, result["key"], result["value"], result["unit"])
                           for run_id, (_, results) in zip(ids, prepared) for result in results]
            if result_rows:
                self._insert_results(connection, result_rows)
        return ids

    @staticmethod
    def _insert_runs(connection: Any, rows: list[dict[str, Any]]) -> list[int]:
        """INSERT the run rows in bulk and return their ids in the rows' order.

        PostgreSQL: one INSERT ... RETURNING per 1,000 rows, ordered by SQLAlchemy's insertmanyvalues sentinel.
        SQLite cannot order a multi-row RETURNING (SQLAlchemy then sends one statement per row), so the rows go in
        one executemany without RETURNING: SQLite gives each new row the rowid max(rowid) + 1 (SQLite docs,
        "ROWIDs and the INTEGER PRIMARY KEY"), and no other connection can write while this transaction holds the
        write lock, so the ids are the ``len(rows)`` consecutive ones ending at ``last_insert_rowid()``. Reading
        back the well ids over that range checks it (e.g. against a write interleaved on a shared in-memory
        connection)."""
        table = OptimizationRun.__table__
        if connection.dialect.name != "sqlite":
            return list(connection.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows))
        connection.execute(insert(table), rows)
        last = int(connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
        first = last - len(rows) + 1
        found = connection.scalars(select(table.c.well_id).where(table.c.id.between(first, last))
                                   .order_by(table.c.id)).all()
        if found != [row["well_id"] for row in rows]:  # never store results under another run's id
            raise RuntimeError(f"bulk run insert: the rows with ids {first}..{last} are not the ones just inserted")
        return list(range(first, last + 1))

    @classmethod
    def _insert_results(cls, connection: Any, rows: list[tuple[int, str, str, str | None]]) -> None:
        """Store ``(run_id, key, value JSON text, unit)`` rows: the values are already the text the JSON column's
        bind processing would make (``json_text``; None is JSON null), so the rows go to the driver as they are:
        PostgreSQL ``COPY ... FROM STDIN`` (psycopg 3; the text parsed into JSONB by the server), SQLite one
        DB-API executemany."""
        if connection.dialect.name == "postgresql":
            sql = f"COPY {OptimizationResult.__tablename__} (run_id, key, value, unit) FROM STDIN"
            with connection.connection.cursor() as cursor:  # the DB-API connection of this transaction
                with cursor.copy(sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            return
        connection.exec_driver_sql(cls._result_insert_sql(connection.dialect), rows)

    @staticmethod
    def _result_insert_sql(dialect: Any) -> str:
        """INSERT of ``(run_id, key, value JSON text, unit)`` tuples in the driver's parameter style (the text cast
        to JSONB on PostgreSQL)."""
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        value = f"{marker}::jsonb" if dialect.name == "postgresql" else marker
        key = dialect.identifier_preparer.quote("key")
        return (f"INSERT INTO {OptimizationResult.__tablename__} (run_id, {key}, value, unit) "
                f"VALUES ({marker}, {marker}, {value}, {marker})")

    @staticmethod
    def _run_values(
        well_id: str,
        lift_type: str,
        tier: str,
        engine: str,
        results: Mapping[str, Any] | None = None,
        *,
        units: Mapping[str, str] | None = None,
        status: str = "ok",
        error: str | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        simulated: bool = False,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Validated column values of one run and of its result rows."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}, got {status!r}")
        results = dict(results or {})
        units = dict(units or {})
        unknown = sorted(set(units) - set(results))
        if unknown:
            raise ValueError(f"units given for keys without a result: {unknown}")
        started_at, finished_at = _aware(started_at, "started_at"), _aware(finished_at, "finished_at")
        finished = finished_at if finished_at is not None else _now()
        run = {
            "well_id": well_id, "lift_type": lift_type, "tier": tier, "engine": engine,
            "started_at": started_at if started_at is not None else finished, "finished_at": finished,
            "status": status, "error": error, "simulated": bool(simulated),
        }
        rows = [{"key": str(key), "value": json_text(value), "unit": units.get(key)} for key, value in results.items()]
        return run, rows

    def runs(
        self,
        well_id: str | None = None,
        limit: int = 100,
        *,
        tier: str | None = None,
        include_simulated: bool = False,
    ) -> list[RunRecord]:
        """Most recent runs first (by ``started_at``, then id), optionally for one well and tier."""
        query = select(OptimizationRun).order_by(OptimizationRun.started_at.desc(), OptimizationRun.id.desc())
        if well_id is not None:
            query = query.where(OptimizationRun.well_id == well_id)
        if tier is not None:
            query = query.where(OptimizationRun.tier == tier)
        if not include_simulated:
            query = query.where(OptimizationRun.simulated.is_(False))
        with self._sessions() as session:
            rows = session.scalars(query.limit(_check_limit(limit))).all()
            return [self._run_record(row) for row in rows]

    def run(self, run_id: int) -> RunRecord:
        """One run by id (``KeyError`` when absent)."""
        with self._sessions() as session:
            row = session.get(OptimizationRun, run_id)
            if row is None:
                raise KeyError(f"no optimization run {run_id}")
            return self._run_record(row)

    @staticmethod
    def _run_record(row: OptimizationRun) -> RunRecord:
        return RunRecord(
            id=row.id, well_id=row.well_id, lift_type=row.lift_type, tier=row.tier, engine=row.engine,
            started_at=row.started_at, finished_at=row.finished_at, status=row.status, error=row.error,
            simulated=row.simulated,
            results={r.key: r.value for r in row.results},
            units={r.key: r.unit for r in row.results if r.unit is not None},
        )

    def latest_results(self, well_ids: Iterable[str], key: str, *, tier: str | None = None,
                       limit: int = 30) -> dict[str, list[Any]]:
        """The last ``limit`` values of result ``key`` of each well's (non-simulated) runs, optionally of one
        tier, oldest first (by ``started_at``, then id): ``{well_id: [value, ...]}``, wells without one left
        out. One query per 500 wells (a window function keeps the newest ``limit`` rows per well)."""
        limit = _check_limit(limit)
        wells = list(dict.fromkeys(well_ids))
        out: dict[str, list[Any]] = {}
        run, res = OptimizationRun.__table__, OptimizationResult.__table__
        with self._sessions() as session:
            for i in range(0, len(wells), 500):
                rank = func.row_number().over(partition_by=run.c.well_id,
                                              order_by=(run.c.started_at.desc(), run.c.id.desc())).label("rank")
                inner = (select(run.c.well_id, run.c.started_at, run.c.id, res.c.value, rank)
                         .join(res, res.c.run_id == run.c.id)
                         .where(run.c.well_id.in_(wells[i:i + 500]), res.c.key == key, run.c.simulated.is_(False)))
                if tier is not None:
                    inner = inner.where(run.c.tier == tier)
                inner = inner.subquery()
                query = (select(inner.c.well_id, inner.c.value).where(inner.c.rank <= limit)
                         .order_by(inner.c.well_id, inner.c.started_at, inner.c.id))
                for well_id, value in session.execute(query):
                    out.setdefault(well_id, []).append(value)
        return out

    def result_values(self, key: str, *, start: datetime | None = None, end: datetime | None = None,
                      tier: str | None = None, limit: int = 100_000) -> list[tuple[str, str, datetime, Any]]:
        """``(well_id, lift_type, started_at, value)`` of result ``key`` of every (non-simulated) run with
        ``start <= started_at < end`` (either bound optional), optionally of one tier, oldest first, at most
        ``limit`` rows (the newest ones)."""
        start, end = _aware(start, "start"), _aware(end, "end")
        run, res = OptimizationRun.__table__, OptimizationResult.__table__
        query = (select(run.c.well_id, run.c.lift_type, run.c.started_at, res.c.value)
                 .join(res, res.c.run_id == run.c.id)
                 .where(res.c.key == key, run.c.simulated.is_(False))
                 .order_by(run.c.started_at.desc(), run.c.id.desc()).limit(_check_limit(limit)))
        if start is not None:
            query = query.where(run.c.started_at >= start)
        if end is not None:
            query = query.where(run.c.started_at < end)
        if tier is not None:
            query = query.where(run.c.tier == tier)
        with self._sessions() as session:
            rows = [(w, lt, ts, v) for w, lt, ts, v in session.execute(query)]
        return rows[::-1]

    def latest_runs(self, well_ids: Iterable[str], keys: Iterable[str], *, tier: str | None = None,
                    limit: int = 30) -> dict[str, list[tuple[datetime, dict[str, Any]]]]:
        """Results ``keys`` of each well's last ``limit`` (non-simulated) runs, optionally of one tier, oldest first (by
        ``started_at``, then id): ``{well_id: [(started_at, {key: value}), ...]}``; runs without any of the keys and
        wells without such runs left out. One query per 500 wells (a window function keeps each well's newest
        ``limit`` runs)."""
        limit = _check_limit(limit)
        wells = list(dict.fromkeys(well_ids))
        keys = list(dict.fromkeys(keys))
        out: dict[str, list[tuple[datetime, dict[str, Any]]]] = {}
        if not wells or not keys:
            return out
        run, res = OptimizationRun.__table__, OptimizationResult.__table__
        with self._sessions() as session:
            for i in range(0, len(wells), 500):
                rank = func.row_number().over(partition_by=run.c.well_id,
                                              order_by=(run.c.started_at.desc(), run.c.id.desc())).label("rank")
                runs = select(run.c.id, run.c.well_id, run.c.started_at, rank).where(
                    run.c.well_id.in_(wells[i:i + 500]), run.c.simulated.is_(False))
                if tier is not None:
                    runs = runs.where(run.c.tier == tier)
                runs = runs.subquery()
                query = (select(runs.c.well_id, runs.c.started_at, runs.c.id, res.c.key, res.c.value)
                         .join(res, res.c.run_id == runs.c.id)
                         .where(runs.c.rank <= limit, res.c.key.in_(keys))
                         .order_by(runs.c.well_id, runs.c.started_at, runs.c.id))
                last_id = None
                for well_id, started_at, run_id, key, value in session.execute(query):
                    rows = out.setdefault(well_id, [])
                    if run_id != last_id:
                        rows.append((started_at, {}))
                        last_id = run_id
                    rows[-1][1][key] = value
        return out

    # -- dead letters -------------------------------------------------------------------------------
    def dead_letter_counts(self) -> list[tuple[str, str, int]]:
        """``(source, error, count)`` of the dead letters not yet reprocessed (one row per distinct error)."""
        query = (select(DeadLetter.source, DeadLetter.error, func.count())
                 .where(DeadLetter.reprocessed.is_(False)).group_by(DeadLetter.source, DeadLetter.error))
        with self._sessions() as session:
            return [(source, error, int(n)) for source, error, n in session.execute(query)]

    def dead_letter(
        self, source: str, payload: Any, error: str, well_id: str | None = None, received_at: datetime | None = None
    ) -> int:
        """Keep a message that could not be processed; returns its id.

        ``payload`` may be text, bytes (invalid UTF-8 is backslash-escaped) or a JSON-able object; every text
        is stored escaped and capped (:mod:`tb_bridge.history.dead_letter_text`), so no content can make the
        write fail.
        """
        received_at = _aware(received_at, "received_at")
        row = DeadLetter(
            received_at=received_at if received_at is not None else _now(),
            source=short_text(source, SOURCE_MAX_CHARS) or "", well_id=short_text(well_id, WELL_ID_MAX_CHARS),
            payload=payload_text(payload), error=short_text(error, ERROR_MAX_CHARS) or "", reprocessed=False,
        )
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return row.id

    def dead_letters(self, limit: int = 100, *, include_reprocessed: bool = False) -> list[DeadLetterRecord]:
        """Dead letters in arrival order (oldest first: the reprocessing queue)."""
        query = select(DeadLetter).order_by(DeadLetter.received_at, DeadLetter.id)
        if not include_reprocessed:
            query = query.where(DeadLetter.reprocessed.is_(False))
        with self._sessions() as session:
            return [
                DeadLetterRecord(r.id, r.received_at, r.source, r.well_id, r.payload, r.error, r.reprocessed)
                for r in session.scalars(query.limit(_check_limit(limit)))
            ]

    def mark_reprocessed(self, ids: Iterable[int]) -> int:
        """Flag dead letters as reprocessed; returns how many rows changed."""
        ids = [int(i) for i in ids]
        if not ids:
            return 0
        with self._sessions.begin() as session:
            result = session.execute(
                update(DeadLetter).where(DeadLetter.id.in_(ids), DeadLetter.reprocessed.is_(False))
                .values(reprocessed=True)
            )
            return int(result.rowcount)

    # -- alarms -------------------------------------------------------------------------------------
    def record_alarm_event(
        self,
        well_id: str,
        alarm_type: str,
        severity: str,
        state: str,
        ts: datetime | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Store an alarm state change (e.g. ``state="active"`` / ``"cleared"``); returns its id."""
        ts = _aware(ts, "ts")
        row = AlarmEvent(
            well_id=well_id, alarm_type=alarm_type, severity=severity, state=state,
            ts=ts if ts is not None else _now(), details=to_json_value(details) if details is not None else None,
        )
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return row.id

    def alarm_events(self, well_id: str | None = None, limit: int = 100) -> list[AlarmEventRecord]:
        """Most recent alarm events first."""
        query = select(AlarmEvent).order_by(AlarmEvent.ts.desc(), AlarmEvent.id.desc())
        if well_id is not None:
            query = query.where(AlarmEvent.well_id == well_id)
        with self._sessions() as session:
            return [
                AlarmEventRecord(r.id, r.well_id, r.alarm_type, r.severity, r.state, r.ts, r.details)
                for r in session.scalars(query.limit(_check_limit(limit)))
            ]

    def alarm_event(self, event_id: int) -> AlarmEventRecord:
        """One alarm event by id (``KeyError`` when absent)."""
        with self._sessions() as session:
            r = session.get(AlarmEvent, int(event_id))
            if r is None:
                raise KeyError(f"no alarm event {event_id}")
            return AlarmEventRecord(r.id, r.well_id, r.alarm_type, r.severity, r.state, r.ts, r.details)

    def alarm_log(self, start: datetime | None = None, end: datetime | None = None,
                  well_id: str | None = None) -> list[AlarmEventRecord]:
        """Every alarm state change with ``start <= ts < end`` (either bound optional), optionally of one well,
        oldest first (by ``ts``, then id): the ISA-18.2 alarm log the KPI calculator reads."""
        start, end = _aware(start, "start"), _aware(end, "end")
        query = select(AlarmEvent).order_by(AlarmEvent.ts, AlarmEvent.id)
        if start is not None:
            query = query.where(AlarmEvent.ts >= start)
        if end is not None:
            query = query.where(AlarmEvent.ts < end)
        if well_id is not None:
            query = query.where(AlarmEvent.well_id == well_id)
        with self._sessions() as session:
            return [AlarmEventRecord(r.id, r.well_id, r.alarm_type, r.severity, r.state, r.ts, r.details)
                    for r in session.scalars(query)]

    def alarm_states_before(self, ts: datetime, well_ids: Iterable[str] | None = None) -> list[AlarmEventRecord]:
        """The last alarm event before ``ts`` of each (well, alarm type), optionally of some wells only, by well and
        type: the ISA-18.2 state each alarm point was in at ``ts`` (its ``state``). One query per 500 wells."""
        ts = _aware(ts, "ts")
        table = AlarmEvent.__table__
        wells = None if well_ids is None else list(dict.fromkeys(well_ids))
        chunks = [None] if wells is None else [wells[i:i + 500] for i in range(0, len(wells), 500)]
        out: list[AlarmEventRecord] = []
        with self._sessions() as session:
            for chunk in chunks:
                rank = func.row_number().over(partition_by=(table.c.well_id, table.c.alarm_type),
                                              order_by=(table.c.ts.desc(), table.c.id.desc())).label("rank")
                inner = select(table.c.id, rank).where(table.c.ts < ts)
                if chunk is not None:
                    inner = inner.where(table.c.well_id.in_(chunk))
                inner = inner.subquery()
                query = (select(AlarmEvent).join(inner, inner.c.id == AlarmEvent.id).where(inner.c.rank == 1)
                         .order_by(AlarmEvent.well_id, AlarmEvent.alarm_type))
                out.extend(AlarmEventRecord(r.id, r.well_id, r.alarm_type, r.severity, r.state, r.ts, r.details)
                           for r in session.scalars(query))
        return out

    # -- field summaries ----------------------------------------------------------------------------
    def record_field_summary(self, field_id: str, kind: str, summary: Mapping[str, Any], *, period_start: datetime,
                             period_end: datetime, created_at: datetime | None = None) -> int:
        """Keep a field-level review (``kind`` ``weekly`` or ``model_audit``; ``summary`` key -> JSON value as written to
        the field asset) for the period ``[period_start, period_end]``; returns its id."""
        period_start, period_end = _aware(period_start, "period_start"), _aware(period_end, "period_end")
        created_at = _aware(created_at, "created_at")
        row = FieldSummary(field_id=str(field_id), kind=str(kind), period_start=period_start, period_end=period_end,
                           created_at=created_at if created_at is not None else _now(),
                           summary=to_json_value(dict(summary)))
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return row.id

    def field_summaries(self, field_id: str | None = None, kind: str | None = None,
                        limit: int = 10) -> list[FieldSummaryRecord]:
        """Field summaries, the most recently created first, optionally of one field and kind."""
        query = select(FieldSummary).order_by(FieldSummary.created_at.desc(), FieldSummary.id.desc())
        if field_id is not None:
            query = query.where(FieldSummary.field_id == field_id)
        if kind is not None:
            query = query.where(FieldSummary.kind == kind)
        with self._sessions() as session:
            return [FieldSummaryRecord(r.id, r.field_id, r.kind, r.period_start, r.period_end, r.created_at, r.summary)
                    for r in session.scalars(query.limit(_check_limit(limit)))]

    # -- forecasts ----------------------------------------------------------------------------------
    def save_forecast(
        self, well_id: str, model: str, params: Any, points: Any, created_at: datetime | None = None
    ) -> int:
        """Store a forecast (``params`` and ``points`` as JSON-able objects); returns its id."""
        created_at = _aware(created_at, "created_at")
        row = Forecast(
            well_id=well_id, model=model, params=to_json_value(params), points=to_json_value(points),
            created_at=created_at if created_at is not None else _now(),
        )
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return row.id

    def forecasts(self, well_id: str, limit: int = 10, *, model: str | None = None) -> list[ForecastRecord]:
        """The well's most recent forecasts first, optionally of one model."""
        query = select(Forecast).where(Forecast.well_id == well_id)
        if model is not None:
            query = query.where(Forecast.model == model)
        query = query.order_by(Forecast.created_at.desc(), Forecast.id.desc()).limit(_check_limit(limit))
        with self._sessions() as session:
            return [
                ForecastRecord(r.id, r.well_id, r.created_at, r.model, r.params, r.points)
                for r in session.scalars(query)
            ]

    # -- simulation sessions ------------------------------------------------------------------------
    def save_session(
        self,
        well_id: str,
        original_params: Any,
        *,
        modified_params: Any = None,
        results: Any = None,
        session_id: str | None = None,
        status: str = "active",
        started_at: datetime | None = None,
    ) -> str:
        """Create a simulation session; returns its id (a new UUID hex unless ``session_id`` is given)."""
        started_at = _aware(started_at, "started_at")
        sid = session_id if session_id is not None else uuid.uuid4().hex
        row = SimulationSession(
            id=sid, well_id=well_id, status=status,
            started_at=started_at if started_at is not None else _now(),
            original_params=to_json_value(original_params),
            modified_params=to_json_value(modified_params) if modified_params is not None else None,
            results=to_json_value(results) if results is not None else None,
        )
        with self._sessions.begin() as session:
            session.add(row)
        return sid

    def update_session(
        self,
        session_id: str,
        *,
        status: str | None = None,
        modified_params: Any = None,
        results: Any = None,
        ended_at: datetime | None = None,
    ) -> None:
        """Change the given fields of a session (``KeyError`` when it does not exist)."""
        with self._sessions.begin() as session:
            row = session.get(SimulationSession, session_id)
            if row is None:
                raise KeyError(f"no simulation session {session_id!r}")
            if status is not None:
                row.status = status
            if modified_params is not None:
                row.modified_params = to_json_value(modified_params)
            if results is not None:
                row.results = to_json_value(results)
            if ended_at is not None:
                row.ended_at = _aware(ended_at, "ended_at")

    def session(self, session_id: str) -> SessionRecord:
        """One simulation session (``KeyError`` when absent)."""
        with self._sessions() as session:
            r = session.get(SimulationSession, session_id)
            if r is None:
                raise KeyError(f"no simulation session {session_id!r}")
            return SessionRecord(r.id, r.well_id, r.started_at, r.ended_at, r.status, r.original_params,
                                 r.modified_params, r.results)

    def sessions(self, well_id: str | None = None, limit: int = 100) -> list[SessionRecord]:
        """Most recently started sessions first."""
        query = select(SimulationSession).order_by(SimulationSession.started_at.desc(), SimulationSession.id)
        if well_id is not None:
            query = query.where(SimulationSession.well_id == well_id)
        with self._sessions() as session:
            return [
                SessionRecord(r.id, r.well_id, r.started_at, r.ended_at, r.status, r.original_params,
                              r.modified_params, r.results)
                for r in session.scalars(query.limit(_check_limit(limit)))
            ]

    # -- lifecycle ----------------------------------------------------------------------------------
    def session_factory(self) -> sessionmaker[Session]:
        """The SQLAlchemy session factory (for queries this class does not offer)."""
        return self._sessions

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> "HistoryStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
