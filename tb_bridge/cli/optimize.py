"""``atilax optimize``: multi-objective setpoint optimization from the command line.

``atilax optimize pareto WELL.json [--algorithm nsga2|nsga3|grid] [--weights OIL,ENERGY,LIFE] [--population N]
[--generations N] [--seed N] [--json]``
    WELL.json as for ``atilax lift optimize`` (the well's flat attributes, ``telemetry`` with the running setpoint).
    Runs :mod:`engines.optimize.pareto` on the well (oil rate, specific energy, equipment life over the lift's
    decision variables) and prints the front, the knee, the weighted choice with the safety layer's verdict and the
    hypervolume; ``--json`` prints the ``opt_pareto_*`` attributes the service writes. NSGA-II by default
    (population 100, 200 generations; at most 1,000 and 2,000); a progress bar on a terminal (stderr);
    Ctrl-C stops between generations and prints the front found so far.
"""
from __future__ import annotations

import sys
import threading

from tb_bridge.cli.io import CliInputError, bounded_int, format_table, print_json, print_key_values


def _weights(text: str | None, well) -> tuple[float, float, float]:
    from tb_bridge.handlers.pareto_steps import DEFAULT_WEIGHTS

    if text is None:
        return tuple(well.pareto_weights) if well.pareto_weights else DEFAULT_WEIGHTS
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise CliInputError(f"--weights {text!r}: give three numbers, oil,energy,life (e.g. 2,1,1)") from None
    if len(values) != 3 or any(not (v >= 0) for v in values) or sum(values) <= 0:
        raise CliInputError(f"--weights {text!r}: give three non-negative numbers, oil,energy,life, not all zero")
    return values  # type: ignore[return-value]


def _pareto(args) -> int:
    import time

    from tb_bridge.cli.lift import _read_well
    from tb_bridge.handlers.pareto_steps import current_point, pareto_payload, pareto_problem, review_choice, run_pareto
    from tb_bridge.writeback.keys import pareto_attributes

    well, options = _read_well(args.input)
    weights = _weights(args.weights, well)
    stop = threading.Event()
    bar = None
    if args.algorithm != "grid" and sys.stderr.isatty() and not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.generations, desc=f"{args.algorithm} {well.name}", file=sys.stderr, unit="gen")
    import signal

    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if threading.current_thread() is threading.main_thread() else None
    try:  # Ctrl-C sets the stop event: the run ends after the current generation with the front found so far
        problem = pareto_problem(well, options.telemetry)
        result = run_pareto(problem, args.algorithm, seed=args.seed, pop_size=args.population, n_gen=args.generations,
                            progress_callback=(lambda gen, total: bar.update(gen - bar.n)) if bar is not None else None,
                            stop_event=stop)
    except ValueError as exc:  # ParetoError too: a setting out of range, no feasible setpoint
        raise CliInputError(f"{args.input}: {exc}") from exc
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    now = current_point(problem, well, options.telemetry)
    choice = result.choose(weights)
    verdict = review_choice(well, result, choice, None if now is None else now[problem.variables[0].name],
                            int(time.time() * 1000), None)
    payload = pareto_payload(result, weights, now, verdict)
    attributes = pareto_attributes(payload)
    if args.json:
        print_json({"attributes": attributes, "generations": result.generations, "evaluations": result.n_evaluations,
                    "stopped": result.stopped, "seed": result.seed})
        return 0
    names = [v.name for v in result.variables]
    headers = names + ["oil_bpd", f"energy_{result.energy_unit}", f"life_{result.life_unit}", ""]
    rows = []
    for i in range(result.size):
        p = result.point(i)
        mark = ",".join(m for m, k in (("knee", result.knee), ("choice", choice)) if k == i)
        rows.append([round(p[n], 3) for n in names] + [round(p["oil_bpd"], 2), round(p["specific_energy"], 4),
                                                        round(p["equipment_life"], 4), mark])
    print(format_table(headers, rows))
    print_key_values([("algorithm", result.algorithm), ("generations", result.generations), ("evaluations", result.n_evaluations),
                      ("front points", result.size), ("hypervolume (normalized, ref 1.1)", round(result.hypervolume, 4)),
                      ("relaxed constraints", ", ".join(result.relaxed) or "none"), ("weights (oil, energy, life)", weights),
                      ("today", now), ("safety layer", verdict)],
                     title=f"Pareto front ({result.lift_type}): {well.name}")
    return 0


def register(subparsers) -> None:
    from engines.optimize.pareto import DEFAULT_GENERATIONS, DEFAULT_POPULATION, MAX_GENERATIONS, MAX_POPULATION

    parser = subparsers.add_parser("optimize", help="multi-objective setpoint optimization")
    sub = parser.add_subparsers(dest="optimize_command", required=True)
    p = sub.add_parser("pareto", help="Pareto front of oil rate, specific energy and equipment life for one well")
    p.add_argument("input", help="WELL.json (flat well attributes, optional telemetry), or - for stdin")
    p.add_argument("--algorithm", choices=("nsga2", "nsga3", "grid"), default="nsga2",
                   help="NSGA-II (default), NSGA-III (91 reference directions) or the exact decision-grid enumeration")
    p.add_argument("--weights", metavar="OIL,ENERGY,LIFE", help="preference weights of the choice (default: the well's "
                   "pareto_weights, else 1,1,1)")
    p.add_argument("--population", type=bounded_int(4, MAX_POPULATION), default=DEFAULT_POPULATION,
                   help=f"population size (default {DEFAULT_POPULATION}, at most {MAX_POPULATION})")
    p.add_argument("--generations", type=bounded_int(1, MAX_GENERATIONS), default=DEFAULT_GENERATIONS,
                   help=f"generations (default {DEFAULT_GENERATIONS}, at most {MAX_GENERATIONS})")
    p.add_argument("--seed", type=int, default=1, help="random seed (the front is reproducible given it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_pareto)
