"""Benchmark of the batch tiers on Dask (issue 23, item 3; not run by CI).

The hourly tier (nodal + lift optimizer + Pareto front, every per-well step of the four lift types) for a synthetic
field of ``--wells`` wells (``engines.fielddata.SyntheticField``, one hour of telemetry in the in-process buffer), run
by the service's in-process executor (``limits.tier_workers`` threads) and by a ``distributed.LocalCluster`` of
``--workers`` worker processes (one thread each) through ``dask.scheduler_address``; each path runs the tier
``--hours`` times (the first hour builds each well's configuration curves: cold; later hours reuse them: warm), and
the cluster's workers are warmed by one untimed tier first (imports, compiled kernels, the packaged card model).
Also the placement GA (thesis_5x5, population 50 x 100 generations, built-in simulator) with each generation's plans
on the cluster, and one generation's worth of plans (``--opm-plans``) through OPM Flow, in-process vs on the cluster.
Prints seconds and the in-process / Dask ratio (> 1: Dask faster). On one 2-core machine no speed-up is expected
(the same cores, plus pickling and scheduling); the point of the Dask path is scale-out over more machines.

    python bench/bench_dask.py [--wells 200] [--workers 2] [--hours 2] [--chunk-wells 64] [--json]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STEP_S = 300
START_MS = 1_780_000_200_000


def _service(workdir: str, name: str, address: str | None, chunk_wells: int):
    from tb_bridge.buffer.memory import MemoryBuffer
    from tb_bridge.config import load_settings
    from tb_bridge.service import Service
    from tests.doubles import RecordingWriteback

    settings = load_settings(redis_url=None, database_url=f"sqlite:///{os.path.join(workdir, name + '.db')}",
                             dask={"scheduler_address": address, "chunk_wells": chunk_wells})
    return Service(settings, RecordingWriteback(), buffer=MemoryBuffer())


def _field(n_wells: int):
    from engines.fielddata import SyntheticField

    per_type = max(1, n_wells // 4)
    return SyntheticField(wells_per_lift_type=per_type, seed=11, start_ms=START_MS, step_s=STEP_S)


def _prepare(service, field, hours: int) -> list[int]:
    """Configure the wells and buffer ``hours`` + 1 hours of telemetry; the tier times (ms) to run."""
    from tb_bridge.events import EventKind, WellEvent

    for well in field.wells:
        service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, well.name, 0, well.attributes, source="bench"))
    for name, ts, values in field.samples(12 * (hours + 1)):
        service.handle(WellEvent(EventKind.TELEMETRY, name, ts, values, source="bench"))
    return [START_MS + 12 * STEP_S * 1000 * (h + 1) for h in range(hours + 1)]


def _timed_tiers(service, times: list[int]) -> list[float]:
    """Seconds of each hourly run (a well the engines find infeasible, e.g. no feasible Pareto setpoint, is a result
    of the well, not of the path; both paths report the same wells)."""
    out = []
    for now_ms in times:
        t0 = time.perf_counter()
        service.run_tier("hourly", now_ms)
        out.append(time.perf_counter() - t0)
    return out


def bench_hourly(n_wells: int, workers: int, hours: int, chunk_wells: int) -> dict:
    import distributed

    field = _field(n_wells)
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as workdir:
        here = _service(workdir, "here", None, chunk_wells)
        times = _prepare(here, field, hours)
        t_here = _timed_tiers(here, times[1:])  # the first hour of each path builds the curves (cold)
        here.close()
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster:
            warm = _service(workdir, "warmup", cluster.scheduler_address, chunk_wells)  # workers' imports, kernels
            _timed_tiers(warm, _prepare(warm, _field(4), 0))
            warm.close()
            there = _service(workdir, "there", cluster.scheduler_address, chunk_wells)
            _prepare(there, field, hours)
            t_there = _timed_tiers(there, times[1:])
            counts = dict(there.dask.counts)
            if sorted(there.reports[-1].errors) != sorted(here.reports[-1].errors):
                raise RuntimeError("the two paths report different wells in error")
            there.close()
    return {"wells": len(field.wells), "workers": workers, "chunk_wells": chunk_wells,
            "in_process_s": t_here, "dask_s": t_there, "counts": counts,
            "ratio_cold": t_here[0] / t_there[0], "ratio_warm": (sum(t_here[1:]) / max(1, len(t_here) - 1)) /
            (sum(t_there[1:]) / max(1, len(t_there) - 1)) if len(t_here) > 1 else None}


def bench_placement(workers: int) -> dict:
    import distributed

    from engines.reservoir.case import load_case
    from engines.reservoir.planner import build_problem, run_placement
    from tb_bridge.config import DaskSettings
    from tb_bridge.dask_executor import DaskPlacementProblems, DaskTierExecutor

    case = load_case("thesis_5x5")
    run_placement(case, 0, problem=build_problem(case))  # compile / load the kernel
    t0 = time.perf_counter()
    a = run_placement(case, 0, problem=build_problem(case))
    t_here = time.perf_counter() - t0
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        problems = DaskPlacementProblems(DaskTierExecutor(DaskSettings(scheduler_address=cluster.scheduler_address)),
                                         min_remote_cell_steps=0)  # every batch out (the service keeps these here)
        run_placement(case, 0, problem=problems(case))  # workers' kernels
        t0 = time.perf_counter()
        b = run_placement(case, 0, problem=problems(case))
        t_there = time.perf_counter() - t0
        problems.close()
    assert a.well_columns == b.well_columns
    return {"case": case.name, "in_process_s": t_here, "dask_s": t_there, "ratio": t_here / t_there,
            "generations": int(len(a.history_best_npv_usd) - 1), "plans_simulated": int(a.n_simulated)}


def bench_placement_opm(workers: int, n_plans: int) -> dict | None:
    """One generation's worth of plans (``n_plans`` random 2-6-well plans of thesis_5x5) through OPM Flow: in-process
    (``FlowBatchSimulator``, ``workers`` flow processes at a time) vs ``workers`` Dask worker processes."""
    import distributed
    import numpy as np

    from engines.reservoir.case import load_case
    from engines.reservoir.opm import find_flow
    from engines.reservoir.planner import build_problem
    from engines.reservoir.problem import PlacementProblem
    from tb_bridge.dask_executor import DaskPlanSimulator

    if find_flow() is None:
        return None
    case = load_case("thesis_5x5")
    rng = np.random.default_rng(5)
    masks = np.zeros((n_plans, case.reservoir.n_columns), dtype=bool)
    for row in masks:
        row[rng.choice(case.reservoir.n_columns, int(rng.integers(2, 7)), replace=False)] = True
    here = build_problem(case, backend="opm", max_workers=workers)
    t0 = time.perf_counter()
    a = here.simulate_npv(masks)
    t_here = time.perf_counter() - t0
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        simulator = DaskPlanSimulator(build_problem(case, backend="opm", max_workers=1).simulator, client)
        there = PlacementProblem(simulator, here.economics, here.constraints)
        there.simulate_npv(masks[:workers])  # workers' imports, the simulator sent once
        t0 = time.perf_counter()
        b = there.simulate_npv(masks)
        t_there = time.perf_counter() - t0
    assert np.allclose(a, b, rtol=1e-12)
    return {"plans": n_plans, "in_process_s": t_here, "dask_s": t_there, "ratio": t_here / t_there}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hours", type=int, default=2, help="timed hourly runs per path (the first is cold)")
    parser.add_argument("--chunk-wells", type=int, default=64)
    parser.add_argument("--opm-plans", type=int, default=16, help="plans of the OPM Flow comparison (0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("tb_bridge").setLevel(logging.ERROR)
    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # workers' heartbeats as the cluster closes
    hourly = bench_hourly(args.wells, args.workers, args.hours, args.chunk_wells)
    placement = bench_placement(args.workers)
    opm = bench_placement_opm(args.workers, args.opm_plans) if args.opm_plans > 0 else None
    if args.json:
        print(json.dumps({"hourly": hourly, "placement": placement, "placement_opm": opm}, indent=2))
        return 0
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"hourly tier, {hourly['wells']} wells (4 lift types), in-process (tier_workers threads) vs "
          f"LocalCluster {hourly['workers']} worker processes x 1 thread, chunk_wells {hourly['chunk_wells']}")
    for h, (a, b) in enumerate(zip(hourly["in_process_s"], hourly["dask_s"])):
        state = "cold" if h == 0 else "warm"
        print(f"  hour {h + 1} ({state}): in-process {a:.2f} s, Dask {b:.2f} s, ratio {a / b:.2f}")
    print(f"  wells on the cluster {hourly['counts']['remote_wells']}, fallback {hourly['counts']['fallback_wells']}")
    print(f"placement GA {placement['case']} ({placement['generations']} generations, {placement['plans_simulated']} "
          f"plans simulated): in-process {placement['in_process_s']:.2f} s, Dask {placement['dask_s']:.2f} s, "
          f"ratio {placement['ratio']:.2f}")
    if opm is not None:
        print(f"OPM Flow, {opm['plans']} plans of thesis_5x5 (one generation): in-process {opm['in_process_s']:.2f} s, "
              f"Dask {opm['dask_s']:.2f} s, ratio {opm['ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
