"""Rationing of field-development planner runs (issue 17, #11): one run per field at a time, a cooldown
between runs of a field, a cap on runs over all fields, and a wall-clock budget per run.

The runs use a 3 x 3 case (milliseconds per generation); clocks are fakes where a test depends on time,
except the one budget test that uses a real 0.5 s budget and only asserts what holds on a loaded machine.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from tb_bridge.config import load_settings
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.placement_jobs import PlacementJobs, PlacementRefused, build_placement_jobs
from tests.doubles import RecordingWriteback
from tests.unit.test_reservoir_cases import small_case_doc

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class FakeClock:
    """Monotonic seconds that only move when told."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


class DictReader:
    """Attributes per asset; an asset in ``gates`` blocks its read until its event is set (a run that stays
    'running' for as long as a test needs)."""

    def __init__(self, attributes: dict[str, dict]) -> None:
        self.attributes = attributes
        self.gates: dict[str, threading.Event] = {}

    def asset_attributes(self, asset_id: str) -> dict:
        gate = self.gates.get(asset_id)
        if gate is not None:
            assert gate.wait(30), "test gate never opened"
        return dict(self.attributes[asset_id])


def _jobs(reader, clock=None, **kw) -> tuple[PlacementJobs, RecordingWriteback]:
    wb = RecordingWriteback()
    jobs = PlacementJobs(reader, wb, clock_ms=lambda: T0_MS, progress_interval_s=0.0,
                         monotonic=clock or FakeClock(), **kw)
    return jobs, wb


def _request(jobs: PlacementJobs, asset_id: str) -> None:
    jobs.on_asset_event(WellEvent(EventKind.ATTRIBUTES_UPDATED, asset_id, T0_MS,
                                  {"placement_run_requested": True}, source="test"))


def _case(**optimizer) -> dict:
    doc = small_case_doc(3)
    doc["optimizer"].update(optimizer)
    return {"placement_case": doc, "placement_seed": 1}


def test_a_request_while_the_field_runs_is_refused_and_nothing_is_queued():
    reader = DictReader({"f": _case()})
    reader.gates["f"] = threading.Event()
    jobs, wb = _jobs(reader)
    first = jobs.start("f")
    assert first.status == "running"
    with pytest.raises(PlacementRefused, match="already running .*placement_stop_requested") as refused:
        jobs.start("f")
    assert refused.value.retry_after_s is None          # retry once the run ends
    _request(jobs, "f")                                  # the rule-chain path: refused, said on the asset
    assert "already running (started 2026-01-01T00:00:00Z)" in wb.latest["f"]["opt_placement_refused"]
    assert jobs.job("f") is first
    reader.gates["f"].set()
    assert first.wait(60) and first.status == "done", first.error
    assert wb.latest["f"]["opt_placement_status"] == "done"
    # exactly one run happened: one final result write
    assert sum(1 for _, a in wb.attributes if a.get("opt_placement_status") == "done") == 1


def test_cooldown_refuses_a_new_run_says_when_to_retry_and_then_admits_it():
    clock = FakeClock()
    jobs, wb = _jobs(DictReader({"f": _case()}), clock, cooldown_s=60.0)
    assert jobs.start("f").wait(60) and jobs.job("f").status == "done"
    clock.now_s += 20.0
    with pytest.raises(PlacementRefused) as refused:
        jobs.start("f")
    assert refused.value.retry_after_s == pytest.approx(40.0)
    retry_at = datetime.fromtimestamp(T0_MS / 1000 + 40, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert str(refused.value) == (f"runs of one field are at least 60 s apart (placement.cooldown_s): retry in 40 s, "
                                  f"at {retry_at} or later")
    _request(jobs, "f")
    assert wb.latest["f"]["opt_placement_refused"] == str(refused.value)
    assert wb.latest["f"]["opt_placement_status"] == "done"   # a refusal leaves the last result alone
    clock.now_s += 40.0
    second = jobs.start("f")
    assert second.wait(60) and second.status == "done"
    assert wb.latest["f"]["opt_placement_refused"] == ""        # an accepted request clears the refusal


def test_a_case_refused_for_bad_input_does_not_start_the_cooldown():
    reader = DictReader({"f": _case(pop_size=20000)})
    jobs, wb = _jobs(reader, cooldown_s=60.0)
    job = jobs.start("f")
    assert job.wait(30) and job.status == "error"
    assert "optimizer.pop_size = 20000 exceeds the limit of 1000" in wb.latest["f"]["opt_error"]
    assert [a.get("opt_placement_status") for _, a in wb.attributes] == ["error"]   # nothing started
    reader.attributes["f"] = _case()
    fixed = jobs.start("f")                                     # fixed at once, no wait
    assert fixed.wait(60) and fixed.status == "done"


def test_runs_over_all_fields_are_capped():
    reader = DictReader({a: _case() for a in ("a", "b", "c")})
    for a in ("a", "b"):
        reader.gates[a] = threading.Event()
    jobs, wb = _jobs(reader, max_parallel_runs=2)
    runs = [jobs.start("a"), jobs.start("b")]
    _request(jobs, "c")
    assert jobs.job("c") is None
    assert wb.latest["c"]["opt_placement_refused"] == ("2 placement runs of other fields are under way, the most at a "
                                                      "time (placement.max_parallel_runs = 2); retry when one of them ends")
    reader.gates["a"].set()
    assert runs[0].wait(60)
    third = jobs.start("c")
    reader.gates["b"].set()
    assert third.wait(60) and runs[1].wait(60) and third.status == "done"


def test_run_budget_stops_at_the_next_generation_with_the_best_plan_so_far():
    """Fake clock: the budget is spent once 3 generations are done, so the run stops before the 4th."""
    holder: dict = {}

    def clock() -> float:
        job = holder.get("job")
        return 1e6 if job is not None and job.generations_done >= 3 else 0.0

    jobs, wb = _jobs(DictReader({"f": _case(n_generations=10_000)}), clock, max_run_s=30.0)
    job = holder["job"] = jobs.start("f")
    assert job.wait(60) and job.status == "stopped", job.error
    reason = "run budget of 30 s (placement.max_run_s) spent after 3 of 10000 generations"
    assert job.stop_reason == reason
    assert len(job.result.history_best_npv_usd) == 4            # initial population + 3 generations
    attrs = wb.latest["f"]
    assert attrs["opt_placement_status"] == "stopped" and attrs["opt_placement_stop_reason"] == reason
    assert attrs["opt_placement_npv_musd"] == pytest.approx(job.result.npv_usd / 1e6, rel=1e-12)
    assert attrs["opt_placement_convergence"][-1] == pytest.approx(job.result.npv_usd / 1e6, rel=1e-12)
    assert attrs["opt_placement_well_count"] == len(attrs["opt_placement_cells"]) >= 1


def test_real_half_second_budget_stops_a_long_run():
    jobs, wb = _jobs(DictReader({"f": _case(pop_size=50, n_generations=10_000)}), time.monotonic, max_run_s=0.5)
    job = jobs.start("f")
    assert job.wait(120) and job.status == "stopped", job.error
    assert job.stop_reason.startswith("run budget of 0.5 s (placement.max_run_s) spent after ")
    assert len(job.result.history_best_npv_usd) - 1 < 1000     # far fewer than the 10000 asked for
    assert wb.latest["f"]["opt_placement_stop_reason"] == job.stop_reason


def test_rationing_settings_reach_the_jobs_and_bad_values_are_refused():
    settings = load_settings(placement={"cooldown_s": 5, "max_run_s": 12.5, "max_parallel_runs": 3})
    jobs = build_placement_jobs(settings)
    try:
        assert (jobs.cooldown_s, jobs.max_run_s, jobs.max_parallel_runs) == (5.0, 12.5, 3)
    finally:
        jobs.writeback.close()
    defaults = load_settings().placement
    assert (defaults.cooldown_s, defaults.max_run_s, defaults.max_parallel_runs) == (60.0, 1800.0, 2)
    with pytest.raises(ValueError, match="max_run_s"):
        load_settings(placement={"max_run_s": 0})
    with pytest.raises(ValueError, match="cooldown_s"):
        PlacementJobs(DictReader({}), RecordingWriteback(), cooldown_s=-1)
    with pytest.raises(ValueError, match="max_parallel_runs"):
        PlacementJobs(DictReader({}), RecordingWriteback(), max_parallel_runs=0)
