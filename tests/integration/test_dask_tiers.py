"""Batch tiers on Dask (issue 23, item 3): with ``dask.scheduler_address`` set, the hourly tier's per-well steps run
on a ``distributed.LocalCluster`` (two worker processes: every input and output really pickles) and the service
writes back exactly what the in-process run writes; an unreachable scheduler, a failing task or a timeout make the
wells run in this process; placement plans evaluated on the cluster (OPM Flow, and the built-in simulator) get the
same fitness as in-process."""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pytest

import distributed  # a core dependency (dask.scheduler_address): missing is a failure, not a skip

from engines.fielddata import SyntheticField  # noqa: E402
from tb_bridge.buffer.memory import MemoryBuffer  # noqa: E402
from tb_bridge.config import DaskSettings, load_settings  # noqa: E402
from tb_bridge.dask_executor import (STATE_READ, DaskPlacementProblems, DaskPlanSimulator,  # noqa: E402
                                     DaskTierExecutor, placement_problem_factory)
from tb_bridge.events import EventKind, WellEvent  # noqa: E402
from tb_bridge.handlers.registry import HANDLERS  # noqa: E402
from tb_bridge.service import Service  # noqa: E402
from tests.doubles import RecordingWriteback  # noqa: E402

pytestmark = pytest.mark.integration

STEP_S = 300
START_MS = 1_780_000_200_000  # on the 5-minute grid
WELLS_PER_LIFT_TYPE = 2
#: the pending action's id is a fresh random id per run (tb_bridge.rl_advisor.new_action_id), not a result
RANDOM_IDS = ("opt_setpoint_action_id",)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  memory_limit="2GiB") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster, set_as_default=False) as client:
        yield client


def _service(tmp_path, name: str, scheduler_address: str | None = None, **dask: Any) -> Service:
    settings = load_settings(redis_url=None, database_url=f"sqlite:///{tmp_path / (name + '.db')}",
                             dask={"scheduler_address": scheduler_address, **dask})
    return Service(settings, RecordingWriteback(), buffer=MemoryBuffer())


def _feed(service: Service, field: SyntheticField, steps: range) -> int:
    """Telemetry of ``steps`` (5-minute steps from START_MS) for every well; returns the last timestamp (ms)."""
    last = 0
    for name, ts, values in field.samples(len(steps), steps.start):
        service.handle(WellEvent(EventKind.TELEMETRY, name, ts, values, source="test"))
        last = ts
    return last


def _field() -> SyntheticField:
    return SyntheticField(wells_per_lift_type=WELLS_PER_LIFT_TYPE, seed=5, start_ms=START_MS, step_s=STEP_S)


def _configure(service: Service, field: SyntheticField) -> None:
    for well in field.wells:
        service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, well.name, 0, well.attributes, well_name=well.name,
                                 source="test"))
    assert len(service.registry.valid_wells()) == len(field.wells)


def _hours(service: Service, field: SyntheticField, hours: int = 2) -> list[Any]:
    """Feed one hour of telemetry, run the hourly tier; ``hours`` times (the second run starts from the first's
    state: cached nodal answers, PCP elastomer damage, the last setpoint change)."""
    reports = []
    for h in range(hours):
        now_ms = _feed(service, field, range(12 * h, 12 * (h + 1))) + STEP_S * 1000
        reports.append(service.run_tier("hourly", now_ms))
    return reports


def _same(a: Any, b: Any, where: str) -> None:
    """Equal values; numbers to 1e-9 relative (NaN equals NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), where
        for key in a:
            if key in RANDOM_IDS or key == "action_id":
                assert bool(a[key]) == bool(b[key]), f"{where}.{key}"
                continue
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, (float, int, np.floating, np.integer)) and not isinstance(a, bool) and \
            isinstance(b, (float, int, np.floating, np.integer)) and not isinstance(b, bool):
        if math.isnan(float(a)) or math.isnan(float(b)):
            assert math.isnan(float(a)) and math.isnan(float(b)), f"{where}: {a} != {b}"
        else:
            assert float(b) == pytest.approx(float(a), rel=1e-9, abs=1e-12), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _by_well(writes: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for well, payload in writes:
        out.setdefault(well, []).append(payload)
    return out


def _hourly_written(service: Service) -> dict[str, dict[str, Any]]:
    return {well: dict(attrs) for well, attrs in service.writeback.latest.items()}


def _hourly_runs(service: Service) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for run in service.history.runs(limit=1000):
        if run.tier == "hourly":
            runs.setdefault(run.well_id, []).append({"status": run.status, "error": run.error,
                                                     "results": run.results})
    return runs


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """The reference: the same field, two hours, the in-process executor."""
    field = _field()
    service = _service(tmp_path_factory.mktemp("in_process"), "reference")
    _configure(service, field)
    reports = _hours(service, field)
    yield service, reports
    service.close()


def _assert_same_as_reference(service: Service, reports, in_process) -> None:
    reference, reference_reports = in_process
    assert [r.wells_run for r in reports] == [r.wells_run for r in reference_reports] == [8, 8]
    assert [r.errors for r in reports] == [r.errors for r in reference_reports]
    written, expected = _hourly_written(service), _hourly_written(reference)
    assert sorted(written) == sorted(expected) and len(expected) == 4 * WELLS_PER_LIFT_TYPE
    for well in expected:
        _same(expected[well], written[well], well)
    # every attribute write and time-series point of each well in the same order, not only the last values (the
    # wells of a chunk are finished on tier_workers threads: the order across wells is not fixed)
    for kind in ("attributes", "timeseries"):
        _same(_by_well(getattr(reference.writeback, kind)), _by_well(getattr(service.writeback, kind)), kind)
    runs, expected_runs = _hourly_runs(service), _hourly_runs(reference)
    assert sorted(runs) == sorted(expected_runs)
    for well in expected_runs:
        _same(sorted(expected_runs[well], key=lambda r: r["results"]["opt_last_run_ts"]),
              sorted(runs[well], key=lambda r: r["results"]["opt_last_run_ts"]), f"runs of {well}")
    # the state the next hour starts from is the same too (cached nodal answers, elastomer damage, the front)
    for well in expected:
        mine, theirs = service._well_state[well], reference._well_state[well]
        assert sorted(mine) == sorted(theirs), well
        if "pcp_elastomer" in theirs:
            _same(theirs["pcp_elastomer"], mine["pcp_elastomer"], f"{well} pcp_elastomer")
        for key in ("nodal_lifted",):
            if key in theirs:
                assert mine[key][1] == theirs[key][1]


def test_hourly_tier_on_the_cluster_writes_what_the_in_process_run_writes(tmp_path, cluster, client, in_process):
    field = _field()
    service = _service(tmp_path, "dask", cluster.scheduler_address, chunk_wells=1)
    try:
        _configure(service, field)
        with distributed.get_task_stream(client) as stream:
            reports = _hours(service, field)
        _assert_same_as_reference(service, reports, in_process)
        # the work ran on the cluster: one task per well (chunk_wells = 1) and hour, on the two worker processes
        tasks = [t for t in stream.data if str(t["key"]).startswith("run_well_steps")]
        assert len(tasks) == 2 * 4 * WELLS_PER_LIFT_TYPE
        worker_pids = set(client.run(os.getpid).values())
        assert os.getpid() not in worker_pids and len(worker_pids) == 2
        assert {t["worker"] for t in tasks} <= set(client.scheduler_info()["workers"])
        assert service.dask.counts == {"remote_wells": 16, "fallback_wells": 0}
    finally:
        service.close()


def test_wells_of_a_failing_task_run_in_process(tmp_path, cluster, in_process, monkeypatch, caplog):
    import tb_bridge.dask_executor as dask_executor

    real = dask_executor.run_well_steps

    def sometimes_failing(tier, now_ms, interval_s, window_s, tasks):
        if tasks[0].config.lift_type == "srp":
            raise RuntimeError("worker lost")
        return real(tier, now_ms, interval_s, window_s, tasks)

    monkeypatch.setattr(dask_executor, "run_well_steps", sometimes_failing)
    field = _field()
    service = _service(tmp_path, "failing", cluster.scheduler_address, chunk_wells=64)
    try:
        _configure(service, field)
        with caplog.at_level("WARNING", logger="tb_bridge.dask_executor"):
            reports = _hours(service, field)
        _assert_same_as_reference(service, reports, in_process)
        assert service.dask.counts == {"remote_wells": 12, "fallback_wells": 4}  # the SRP wells, both hours
        failed = [r for r in caplog.records if "failed" in r.getMessage()]
        assert len(failed) == 2 and "RuntimeError: worker lost" in failed[0].getMessage()
    finally:
        service.close()


def test_results_later_than_the_timeout_are_computed_in_process(tmp_path, cluster, in_process, caplog):
    field = _field()
    service = _service(tmp_path, "timeout", cluster.scheduler_address, timeout_s=1e-6)
    try:
        _configure(service, field)
        with caplog.at_level("WARNING", logger="tb_bridge.dask_executor"):
            reports = _hours(service, field)
        _assert_same_as_reference(service, reports, in_process)
        assert service.dask.counts["fallback_wells"] + service.dask.counts["remote_wells"] == 16
        assert service.dask.counts["fallback_wells"] > 0
        assert any("timed out" in r.getMessage() for r in caplog.records)
    finally:
        service.close()


def test_an_unreachable_scheduler_runs_the_tier_in_process(tmp_path, in_process, caplog):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    field = _field()
    service = _service(tmp_path, "unreachable", f"tcp://127.0.0.1:{port}")
    service.dask.connect_timeout_s = 1.0
    try:
        _configure(service, field)
        with caplog.at_level("WARNING", logger="tb_bridge.dask_executor"):
            reports = _hours(service, field)
        _assert_same_as_reference(service, reports, in_process)
        assert service.dask.counts == {"remote_wells": 0, "fallback_wells": 16}
        unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(unreachable) == 2  # one line per tier run
    finally:
        service.close()


def test_no_scheduler_address_no_dask():
    settings = load_settings(redis_url=None, database_url="sqlite://")
    assert settings.dask.scheduler_address is None
    with pytest.raises(ValueError):
        DaskTierExecutor(DaskSettings())


class _RecordingState(dict):
    """A well's state that records every key the steps look at."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)

    def setdefault(self, key, default=None):
        self.read.add(key)
        return super().setdefault(key, default)


def test_the_hourly_steps_read_only_the_state_sent_to_the_workers(tmp_path):
    """Guard for :data:`STATE_READ`: a new hourly step that reads other state must add its keys there (else the
    workers would not have it)."""
    field = _field()
    service = _service(tmp_path, "guard")
    _configure(service, field)
    _feed(service, field, range(0, 12))
    for well in field.wells:
        service._well_state[well.name] = _RecordingState()
    from tb_bridge.handlers.base import WellContext

    for _ in range(2):  # the second run reads what the first one left
        for well in service.registry.valid_wells():
            state = service._well_state[well.entity_id]
            context = service._well_context("hourly", well, START_MS + 12 * STEP_S * 1000)
            context = WellContext(**{**context.__dict__, "state": state, "history_source": None, "run_history": None,
                                     "history_log": None, "model_store": None, "field_state": {}})
            output = HANDLERS[well.lift_type].run(context)
            assert not output.errors, (well.entity_id, output.errors)
    read = set().union(*(service._well_state[w.name].read for w in field.wells))
    assert read and read <= set(STATE_READ) | {"pareto_last"}, read
    service.close()


# -- placement -----------------------------------------------------------------------------------
def _small_case():
    """The smallest shipped case (thesis_5x5: 5 x 5 x 1 cells), one year of monthly steps."""
    import json
    from pathlib import Path

    import engines.reservoir.case as case_module
    from engines.reservoir.case import case_from_dict, load_case

    doc = json.loads((Path(case_module.__file__).parent / "cases" / "thesis_5x5.json").read_text())
    doc["schedule"] = {**doc["schedule"], "n_steps": 12}  # one year: OPM Flow runs of ~0.3 s
    case = case_from_dict(doc)
    assert case.reservoir.n_columns == load_case("thesis_5x5").reservoir.n_columns == 25
    return case


PLANS = [[6, 8, 16, 18], [12], [0, 24], [6, 8, 16, 18, 12], [], [1, 3, 21]]


def _masks(n: int) -> np.ndarray:
    masks = np.zeros((len(PLANS), n), dtype=bool)
    for row, plan in zip(masks, PLANS):
        row[plan] = True
    return masks


def test_placement_plans_on_the_cluster_with_opm_flow(client):
    from engines.reservoir.opm import find_flow
    from engines.reservoir.planner import build_problem
    from engines.reservoir.problem import PlacementProblem

    if find_flow() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("OPM Flow is not installed (apt-get install -y libopm-simulators-bin)")
        pytest.skip("OPM Flow is not installed (apt-get install -y libopm-simulators-bin)")
    case = _small_case()
    here = build_problem(case, backend="opm", max_workers=1)
    simulator = DaskPlanSimulator(build_problem(case, backend="opm", max_workers=1).simulator, client,
                                  plans_per_task=2)
    there = PlacementProblem(simulator, here.economics, here.constraints)
    masks = _masks(case.reservoir.n_columns)
    expected, got = here.evaluate(masks), there.evaluate(masks)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert expected[0] > 0 and np.ptp(expected) > 0  # distinct plans, distinct fitness
    assert simulator.counts == {"remote_plans": len(PLANS), "local_plans": 0}


def test_placement_plans_of_a_failing_task_are_simulated_in_process(client, monkeypatch, caplog):
    import tb_bridge.dask_executor as dask_executor
    from engines.reservoir.case import load_case
    from engines.reservoir.planner import build_problem
    from engines.reservoir.problem import PlacementProblem

    real = dask_executor.simulate_plans

    def failing_first(simulator, masks, run_kwargs):
        if masks[0, 6] and masks[0, 8]:  # the chunk of the first plan
            raise RuntimeError("worker lost")
        return real(simulator, masks, run_kwargs)

    monkeypatch.setattr(dask_executor, "simulate_plans", failing_first)
    case = load_case("thesis_5x5")
    here = build_problem(case)
    simulator = DaskPlanSimulator(build_problem(case).simulator, client, plans_per_task=2)
    there = PlacementProblem(simulator, here.economics, here.constraints)
    masks = _masks(case.reservoir.n_columns)
    with caplog.at_level("WARNING", logger="tb_bridge.dask_executor"):
        np.testing.assert_allclose(there.simulate_npv(masks), here.simulate_npv(masks), rtol=1e-9)
    assert simulator.counts == {"remote_plans": len(PLANS) - 2, "local_plans": 2}
    assert sum("RuntimeError: worker lost" in r.getMessage() for r in caplog.records) == 1


def test_small_builtin_batches_stay_in_process(cluster):
    """By default a built-in batch below BUILTIN_MIN_REMOTE_CELL_STEPS (thesis_5x5's generation of 50 plans:
    30,000 plan-cell-steps) is simulated here; channel_20x20's (12 plans x 400 cells x 24 steps) goes out."""
    from engines.reservoir.case import load_case

    executor = DaskTierExecutor(DaskSettings(scheduler_address=cluster.scheduler_address))
    try:
        problems = DaskPlacementProblems(executor)
        small, large = problems(load_case("thesis_5x5")), problems(load_case("channel_20x20"))
        rng = np.random.default_rng(2)
        small.simulate_npv(rng.random((50, small.n_var)) < 0.15)
        assert problems.counts == {"remote_plans": 0, "local_plans": 50}
        large.simulate_npv(rng.random((12, large.n_var)) < 0.01)
        assert problems.counts == {"remote_plans": 12, "local_plans": 50}
    finally:
        executor.close()


def test_a_placement_run_on_the_cluster_with_the_builtin_simulator(cluster):
    """A whole GA run (thesis_5x5, population 50, 100 generations) with every generation's plans simulated on the
    cluster: the same best plan, NPV history and profile as in-process."""
    from engines.reservoir.case import load_case
    from engines.reservoir.planner import build_problem, run_placement

    case = load_case("thesis_5x5")
    executor = DaskTierExecutor(DaskSettings(scheduler_address=cluster.scheduler_address))
    try:
        there = placement_problem_factory(executor, min_remote_cell_steps=0)(case)
        assert isinstance(there.simulator, DaskPlanSimulator)
        here = build_problem(case)
        masks = _masks(case.reservoir.n_columns)
        np.testing.assert_allclose(there.simulate_npv(masks), here.simulate_npv(masks), rtol=1e-9)
        assert there.simulator.counts == {"remote_plans": len(PLANS), "local_plans": 0}
        a = run_placement(case, 3, problem=build_problem(case))
        b = run_placement(case, 3, problem=placement_problem_factory(executor, min_remote_cell_steps=0)(case))
        assert b.well_columns == a.well_columns == (6, 8, 16, 18)  # the certified optimum
        np.testing.assert_allclose(b.history_best_npv_usd, a.history_best_npv_usd, rtol=1e-9)
        np.testing.assert_allclose(b.oil_rate_stb_d, a.oil_rate_stb_d, rtol=1e-9)
        assert b.n_simulated == a.n_simulated
    finally:
        executor.close()


class _Reader:
    def __init__(self, attributes):
        self.attributes = attributes

    def asset_attributes(self, asset_id):
        return dict(self.attributes)


def test_a_field_assets_placement_run_on_the_cluster_writes_what_the_in_process_run_writes(cluster):
    """PlacementJobs with ``problem_factory`` = DaskPlacementProblems (what ``build_placement_jobs`` wires when
    ``dask.scheduler_address`` is set): the asset gets the same plan, NPV, economics and profile."""
    import json

    from engines.reservoir.case import CASES_DIR
    from tb_bridge.placement_jobs import PlacementJobs

    doc = json.loads((CASES_DIR / "thesis_5x5.json").read_text())
    doc["optimizer"] = {**doc["optimizer"], "pop_size": 12, "n_generations": 6}
    attributes = {"placement_case": json.dumps(doc), "placement_seed": 3}
    problems = DaskPlacementProblems(DaskTierExecutor(DaskSettings(scheduler_address=cluster.scheduler_address)),
                                     min_remote_cell_steps=0)  # this small case's batches would stay here by default
    written = {}
    for name, factory in (("here", None), ("cluster", problems)):
        writeback = RecordingWriteback()
        jobs = PlacementJobs(_Reader(attributes), writeback, progress_interval_s=0.0, problem_factory=factory,
                             clock_ms=lambda: 1_780_000_000_000)
        job = jobs.start("field-1")
        assert job.wait(300) and job.status == "done", job.error
        jobs.close()
        written[name] = (writeback.latest["field-1"], writeback.timeseries)
    assert written["cluster"][0]["opt_placement_npv_musd"] > 0
    _same(written["here"][0], written["cluster"][0], "placement attributes")
    _same(written["here"][1], written["cluster"][1], "placement profile")
    assert problems.counts["remote_plans"] > 0 and problems.counts["local_plans"] == 0


def test_cli_placement_run_on_the_cluster(cluster, capsys, tmp_path):
    """``atilax placement run CASE --dask ADDRESS``: the same best plan as without; an unreachable scheduler is an
    input error (exit 2)."""
    import json

    from engines.reservoir.case import CASES_DIR
    from tb_bridge.cli.main import main as cli_main

    doc = json.loads((CASES_DIR / "thesis_5x5.json").read_text())
    doc["optimizer"] = {**doc["optimizer"], "pop_size": 12, "n_generations": 6}
    path = tmp_path / "case.json"
    path.write_text(json.dumps(doc))
    outputs = []
    for extra in ([], ["--dask", cluster.scheduler_address]):
        assert cli_main(["placement", "run", str(path), "--seed", "3", "--json", "--no-png", *extra]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[1]["well_columns"] == outputs[0]["well_columns"]
    _same(outputs[0]["economics"], outputs[1]["economics"], "economics")
    _same(outputs[0]["history_best_npv_usd"], outputs[1]["history_best_npv_usd"], "history")
    assert cli_main(["placement", "run", str(path), "--json", "--no-png", "--dask", "tcp://127.0.0.1:9"]) == 2
