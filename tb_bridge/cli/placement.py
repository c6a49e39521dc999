"""`atilax placement`: field-development planning (well placement by GA on a reservoir simulator).

    atilax placement run CASE [--seed N] [--algorithm elitist|simple]
                              [--backend builtin|numba|numpy|torch|opm [--deck DATA]] [--dask ADDRESS]
                              [--json] [--png FILE | --no-png]
    atilax placement certify CASE [--json] [--seed N] [--no-incumbent] [--exhaustive [--symmetric]]
    atilax placement compare-opm CASE [--wells 6,8,16,18] [--json]
    atilax placement tb-run --asset ID [--url URL --username U --password P] [--json]

CASE is a case JSON file (schema: engines/reservoir/cases/README.md), ``-`` for stdin, or the name of
a shipped case (``thesis_5x5``, ``channel_20x20``). Its sizes (population, generations, grid, steps, ...)
are bounded as in the service (Limits in engines/reservoir/cases/README.md); a case beyond a limit is an
input error (exit 2).
``tb-run`` applies the configuration's run budget (``placement.max_run_s``).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import threading

import numpy as np

from tb_bridge.cli.io import CliInputError, format_table, print_json, print_key_values, read_json

EXIT_FLOW_MISSING = 3
#: Most ``--workers`` (parallel OPM Flow processes, certification threads).
MAX_WORKERS = 64


def _workers(text: str) -> int:
    """``--workers``: an integer in 1..MAX_WORKERS."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= n <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{n} is outside 1..{MAX_WORKERS}")
    return n


def _load_case(source: str):
    from engines.reservoir.case import case_from_dict, load_case

    try:
        if source == "-":
            return case_from_dict(read_json(source))
        return load_case(source)
    except ValueError as exc:
        raise CliInputError(f"{source}: invalid placement case: {exc}") from exc


def _progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, file=sys.stderr, unit="gen")

    def callback(gen: int, best: float, mean: float) -> None:
        bar.update(1)
        bar.set_postfix(best_npv_musd=f"{best / 1e6:.3f}")

    return bar, callback


def _backend_problem(build_problem, case, backend):
    """The case's problem on ``backend``; a backend this machine cannot run (no GPU, torch missing, a grid
    too large for the GPU kernel) is an input error with the reason, not a traceback."""
    try:
        return build_problem(case, backend=backend)
    except (RuntimeError, ImportError, ValueError) as exc:
        raise CliInputError(f"--backend {backend}: {exc}") from exc


def _run(args) -> int:
    from engines.reservoir.planner import build_problem, run_placement

    case = _load_case(args.case)
    problem = None
    if args.deck and args.backend != "opm":
        raise CliInputError("--deck needs --backend opm")
    if args.backend == "opm":
        from engines.reservoir.opm import FlowNotInstalledError

        deck_text = None
        if args.deck:
            from tb_bridge.cli.io import read_text

            deck_text = read_text(args.deck)
        try:
            problem = build_problem(case, backend="opm", max_workers=args.workers, deck_text=deck_text)
        except FlowNotInstalledError as exc:
            print(f"atilax: {exc}", file=sys.stderr)
            return EXIT_FLOW_MISSING
    elif args.backend != "builtin":
        problem = _backend_problem(build_problem, case, args.backend)
    executor = None
    if args.dask:  # each generation's plans on the Dask cluster (tb_bridge.dask_executor)
        problem, executor = _dask_problem(problem or build_problem(case), args.dask)
    bar, cb = _progress(case.optimizer.n_generations, not args.no_progress and not args.json, "placement")
    stop = threading.Event()
    try:
        result = run_placement(case, args.seed, progress_callback=cb, stop_event=stop, algorithm=args.algorithm,
                               problem=problem)
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        if bar is not None:
            bar.close()
        if executor is not None:
            executor.close()
    if args.png and not args.no_png:
        _plot(case, result, args.png)
    if args.json:
        print_json(_result_json(result))
        return 0
    _print_result(case, result)
    if args.png and not args.no_png:
        print(f"\nplot written to {args.png}")
    return 0


def _dask_problem(problem, address: str):
    """``problem`` with its simulator's batches sent to the Dask scheduler at ``address`` (and the executor to
    close); an unreachable scheduler is an input error."""
    from engines.reservoir.problem import PlacementProblem
    from tb_bridge.config import DaskSettings
    from tb_bridge.dask_executor import DaskPlanSimulator, DaskTierExecutor

    executor = DaskTierExecutor(DaskSettings(scheduler_address=address))
    client = executor.client()
    if client is None:
        raise CliInputError(f"--dask {address}: the Dask scheduler cannot be reached")
    simulator = DaskPlanSimulator(problem.simulator, client, timeout_s=executor.settings.timeout_s)
    return PlacementProblem(simulator, problem.economics, problem.constraints), executor


def _result_json(result) -> dict:
    d = dataclasses.asdict(result)
    d["well_cells"] = [list(c) for c in result.well_cells]
    return d


def _print_result(case, result) -> None:
    e = result.economics
    print_key_values([
        ("case", case.name), ("algorithm", result.algorithm), ("seed", result.seed),
        ("wells", result.well_count), ("cells (row, col)", " ".join(f"({r},{c})" for r, c in result.well_cells)),
        ("NPV, M$", result.npv_usd / 1e6), ("capital (PVI), M$", e["capital_usd"] / 1e6),
        ("utility index NPV/PVI", e["utility_index"]), ("IRR, %/yr", 100 * e["irr_per_year"]),
        ("cumulative oil, MMSTB", e["cumulative_oil_stb"] / 1e6), ("simulations run", result.n_simulated),
    ], title="best plan")
    print()
    rows = [(int(t), q, cum / 1e6, p) for t, q, cum, p in zip(result.time_days, result.oil_rate_stb_d,
                                                            result.cumulative_oil_stb, result.average_pressure_psi)]
    print(format_table(["day", "oil rate STB/d", "cum oil MMSTB", "avg p psi"], rows))


def _plot(case, result, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = case.reservoir
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    k = np.log10(res.kx_md[: res.n_columns].reshape(res.ny, res.nx))
    im = axes[0].imshow(k, origin="upper", cmap="viridis")
    fig.colorbar(im, ax=axes[0], label="log10 kx, md")
    for r, c in result.well_cells:
        axes[0].plot(c, r, "rv", markersize=10)
    axes[0].set_title(f"{result.well_count} wells, NPV {result.npv_usd / 1e6:.2f} M$")
    axes[0].set_xlabel("column")
    axes[0].set_ylabel("row")
    axes[1].plot(result.time_days, result.oil_rate_stb_d, "k-o", ms=3)
    axes[1].set_xlabel("time, days")
    axes[1].set_ylabel("field oil rate, STB/d")
    axes[1].set_title("production profile")
    axes[2].plot(np.asarray(result.history_best_npv_usd) / 1e6, label="best")
    axes[2].plot(np.asarray(result.history_mean_npv_usd) / 1e6, label="population mean")
    axes[2].set_xlabel("generation")
    axes[2].set_ylabel("NPV, M$")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _certify(args) -> int:
    from engines.reservoir.certify import certify
    from engines.reservoir.planner import build_problem, make_optimizer

    case = _load_case(args.case)
    if case.reservoir.n_columns > 62:
        raise CliInputError(f"{args.case}: exhaustive certification is limited to 62 columns "
                            f"(this case has {case.reservoir.n_columns})")
    if args.symmetric and not args.exhaustive:
        raise CliInputError("--symmetric needs --exhaustive")
    problem = _backend_problem(build_problem, case, args.backend)
    if args.exhaustive:
        return _exhaustive(case, problem, args)
    ga = None
    if not args.no_incumbent:
        ga = make_optimizer(case).run(problem, args.seed)
    cert = certify(problem, incumbent_npv_usd=None if ga is None else ga.best_npv_usd, workers=args.workers)
    nx = case.reservoir.nx
    out = {
        "case": case.name,
        "certified_npv_usd": cert.best_npv_usd,
        "well_count": cert.best_well_count,
        "well_columns": [int(c) for c in np.flatnonzero(cert.best_mask)],
        "well_cells": [[int(c) // nx, int(c) % nx] for c in np.flatnonzero(cert.best_mask)],
        "optimal_orbits": [[int(c) for c in np.flatnonzero(m)] for m in cert.best_masks],
        "upper_bound_by_count_usd": {str(k): v for k, v in cert.upper_bound_usd.items()},
        "best_npv_by_count_usd": {str(k): v for k, v in cert.best_npv_by_count_usd.items()},
        "pruned_counts": list(cert.pruned_counts),
        "n_simulated": cert.n_simulated,
        "n_plans_covered": cert.n_plans_covered,
        "n_plans_total": cert.n_plans_total,
    }
    if ga is not None:
        out["ga_npv_usd"] = ga.best_npv_usd
        gap = (cert.best_npv_usd - ga.best_npv_usd) / abs(cert.best_npv_usd) if cert.best_npv_usd else 0.0
        out["ga_gap_frac"] = 0.0 if abs(gap) < 1e-9 else gap   # below 1e-9: round-off between batches
    if args.json:
        print_json(out)
        return 0
    print_key_values([
        ("case", case.name), ("certified NPV, M$", cert.best_npv_usd / 1e6), ("wells", cert.best_well_count),
        ("cells (row, col)", " ".join(f"({r},{c})" for r, c in out["well_cells"])),
        ("optimal orbits", len(cert.best_masks)), ("plans simulated (orbit representatives)", cert.n_simulated),
        ("plans enumerated / total (the rest pruned by bound)", f"{cert.n_plans_covered} / {cert.n_plans_total}"),
        ("GA NPV, M$", None if ga is None else ga.best_npv_usd / 1e6),
        ("GA gap to optimum, %", None if ga is None else 100 * out["ga_gap_frac"]),
    ], title="certified optimum")
    print()
    rows = [(k, cert.upper_bound_usd[k] / 1e6,
             cert.best_npv_by_count_usd[k] / 1e6 if k in cert.best_npv_by_count_usd else None,
             "pruned by bound" if k in cert.pruned_counts else "enumerated")
            for k in sorted(cert.upper_bound_usd)]
    print(format_table(["wells", "upper bound M$", "best NPV M$", "status"], rows))
    return 0


def _exhaustive(case, problem, args) -> int:
    """Brute force: every plan simulated (no bound pruning, no cache), optionally one per symmetry orbit."""
    from engines.reservoir.certify import exhaustive_search

    n = case.reservoir.n_columns
    if n > 30:
        raise CliInputError(f"{args.case}: --exhaustive simulates all 2^{n} plans; it is limited to 30 columns")
    bar = None
    cb = None
    if not args.json:
        from tqdm import tqdm

        bar = tqdm(total=2**n, desc="exhaustive", file=sys.stderr, unit="plan", unit_scale=True)

        def cb(done: int, total: int) -> None:
            bar.update(done - bar.n)
    try:
        res = exhaustive_search(problem, symmetric=args.symmetric, progress_callback=cb)
    finally:
        if bar is not None:
            bar.close()
    nx = case.reservoir.nx
    cols = [int(c) for c in np.flatnonzero(res.best_mask)]
    out = {"case": case.name, "mode": "exhaustive, one plan per symmetry orbit" if args.symmetric else "exhaustive",
           "best_npv_usd": res.best_npv_usd, "well_count": res.best_well_count, "well_columns": cols,
           "well_cells": [[c // nx, c % nx] for c in cols], "n_simulated": res.n_simulated,
           "n_plans_covered": res.n_covered, "n_plans_total": 2**n}
    if args.json:
        print_json(out)
        return 0
    print_key_values([
        ("case", case.name), ("mode", out["mode"]), ("best NPV, M$", res.best_npv_usd / 1e6),
        ("wells", res.best_well_count), ("cells (row, col)", " ".join(f"({r},{c})" for r, c in out["well_cells"])),
        ("plans simulated", res.n_simulated), ("plans covered / total", f"{res.n_covered} / {2**n}"),
    ], title="exhaustive search")
    return 0


def _compare_opm(args) -> int:
    from engines.reservoir.opm import find_flow
    from engines.reservoir.opm_compare import compare_with_flow
    from engines.reservoir.planner import build_problem, make_optimizer

    case = _load_case(args.case)
    if find_flow() is None:
        print("atilax: OPM Flow is not installed (no /usr/bin/flow); on Debian/Ubuntu: "
              "apt-get install -y libopm-simulators-bin", file=sys.stderr)
        return EXIT_FLOW_MISSING
    if args.wells:
        try:
            cols = [int(c) for c in args.wells.split(",") if c.strip()]
        except ValueError as exc:
            raise CliInputError(f"--wells: expected comma-separated column indices, got {args.wells!r}") from exc
        if any(c < 0 or c >= case.reservoir.n_columns for c in cols):
            raise CliInputError(f"--wells: columns must be within 0..{case.reservoir.n_columns - 1}")
    else:
        problem = build_problem(case)
        cols = [int(c) for c in np.flatnonzero(make_optimizer(case).run(problem, args.seed).best_mask)]
    cmp = compare_with_flow(case, cols)
    if args.json:
        print_json(cmp)
        return 0
    print_key_values([
        ("case", case.name), ("wells (columns)", ",".join(map(str, cols))),
        ("max |rate difference|, %", 100 * cmp.max_rate_rel_diff),
        ("max |cumulative difference|, %", 100 * cmp.max_cum_rel_diff),
        ("OPM wall time, s", cmp.flow_wall_s), ("built-in wall time, s", cmp.builtin_wall_s),
    ], title="built-in simulator vs OPM Flow (same deck, fixed report steps)")
    print()
    rows = [(int(t), a, b, c / 1e6, d / 1e6) for t, a, b, c, d in zip(cmp.time_days, cmp.builtin_rate_stb_d, cmp.flow_rate_stb_d,
                                                                       cmp.builtin_cum_stb, cmp.flow_cum_stb)]
    print(format_table(["day", "rate STB/d (ours)", "rate STB/d (OPM)", "cum MMSTB (ours)", "cum MMSTB (OPM)"], rows))
    return 0


def _tb_run(args) -> int:
    """Start (and by default wait for) a placement run for a ThingsBoard field asset."""
    from tb_bridge.config import load_settings
    from tb_bridge.placement_jobs import build_placement_jobs

    settings = load_settings()
    tb = settings.tb
    from pydantic import SecretStr

    overrides = {k: v for k, v in (("url", args.url), ("username", args.username),
                                   ("password", SecretStr(args.password) if args.password else None)) if v}
    jobs = build_placement_jobs(settings.model_copy(update={"tb": tb.model_copy(update=overrides)}) if overrides
                                else settings)
    writeback = jobs.writeback
    try:
        job = jobs.start(args.asset)
        try:
            while not job.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("atilax: stopping the placement run (best plan so far is written)", file=sys.stderr)
            job.stop_event.set()
            job.wait()
    finally:
        writeback.close()
    out = {"asset_id": args.asset, "status": job.status, "error": job.error}
    if job.result is not None:
        r = job.result
        out.update(seed=job.seed, well_count=r.well_count, well_cells=[list(c) for c in r.well_cells],
                   npv_usd=r.npv_usd, generations=len(r.history_best_npv_usd) - 1)
    if args.json:
        print_json(out)
    else:
        print_key_values([(k.replace("_", " "), v if not isinstance(v, list) else str(v)) for k, v in out.items()],
                         title="placement run on ThingsBoard")
    return 0 if job.status in ("done", "stopped") else 1


def register(subparsers) -> None:
    parser = subparsers.add_parser("placement", help="field-development planner: GA well placement on a reservoir simulator")
    sub = parser.add_subparsers(dest="placement_command", required=True)

    p = sub.add_parser("run", help="optimize well placement for a case (progress bar, summary, PNG)")
    p.add_argument("case", help="case JSON file, - for stdin, or a shipped case name (thesis_5x5, channel_20x20)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--algorithm", choices=("elitist", "simple"), default=None,
                   help="optimizer (default: the case's; simple = the reference study's GA)")
    p.add_argument("--json", action="store_true", help="print the best plan, NPV, economics and profile as JSON")
    p.add_argument("--png", metavar="FILE", default="placement.png",
                   help="write the well map, profile and convergence plot here (default placement.png)")
    p.add_argument("--no-png", action="store_true", help="do not write the plot")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--backend", choices=("builtin", "numba", "numpy", "torch", "cuda", "opm"), default="builtin",
                   help="simulator: the built-in batched one (default: its compiled Numba kernel where it applies), "
                        "one of its backends (numba, numpy, torch: CUDA when available, cuda: one GPU thread per plan), "
                        "or OPM Flow, one process per plan")
    p.add_argument("--workers", type=_workers, default=2,
                   help=f"parallel OPM Flow processes (--backend opm; 1..{MAX_WORKERS})")
    p.add_argument("--deck", metavar="DATA", help="your own Eclipse deck (grid matching CASE): only wells and "
                                                 "schedule are added (--backend opm)")
    p.add_argument("--dask", metavar="ADDRESS", help="simulate each generation's plans on this Dask scheduler "
                   "(e.g. tcp://dask-scheduler:8786), in chunks over its workers; with --backend opm they need flow")
    p.set_defaults(func=_run)

    p = sub.add_parser("certify", help="prove the global optimum by exhaustive search (symmetry + bound pruning)")
    p.add_argument("case", help="case JSON file, - for stdin, or a shipped case name")
    p.add_argument("--seed", type=int, default=0, help="seed of the GA run that provides the incumbent")
    p.add_argument("--no-incumbent", action="store_true", help="do not run the GA first (slower pruning)")
    p.add_argument("--workers", type=_workers, default=2,
                   help=f"threads simulating batches concurrently (default 2, at most {MAX_WORKERS})")
    p.add_argument("--exhaustive", action="store_true",
                   help="brute force instead: simulate every plan (2^columns), no bound pruning")
    p.add_argument("--symmetric", action="store_true", help="with --exhaustive: one plan per symmetry orbit")
    p.add_argument("--backend", choices=("builtin", "numba", "numpy", "torch", "cuda"), default="builtin",
                   help="built-in simulator backend (default: the compiled Numba kernel where it applies)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=_certify)

    p = sub.add_parser("compare-opm", help="run one plan in the built-in simulator and in OPM Flow, step by step")
    p.add_argument("case", help="case JSON file, - for stdin, or a shipped case name")
    p.add_argument("--wells", help="comma-separated well columns (column = nx*row + col); default: the GA's best plan")
    p.add_argument("--seed", type=int, default=0, help="seed of the GA run when --wells is not given")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=_compare_opm)

    p = sub.add_parser("tb-run", help="run the planner for a ThingsBoard field asset (reads placement_case, "
                                      "placement_seed; writes opt_placement_* and the profile)")
    p.add_argument("--asset", required=True, help="asset id (UUID) of the field")
    p.add_argument("--url", help="ThingsBoard base URL (default: tb.url of the configuration)")
    p.add_argument("--username", help="tenant user (default: tb.username of the configuration)")
    p.add_argument("--password", help="password (default: tb.password of the configuration, $ATILAX_TB__PASSWORD)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=_tb_run)
