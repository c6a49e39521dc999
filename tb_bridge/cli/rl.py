"""``atilax rl``: the RL setpoint advisor from the command line (issue 21: 3, 6).

``atilax rl train WELLS.json --timesteps N [--out DIR] [--per lift_type|well] [--seed N] [--episode-hours H] [--json]``
    WELLS.json: ``{"synthetic": {"wells_per_lift_type": 3, "seed": 0, "lift_types": ["esp", ...]}}``: the
    wells whose dynamics train the policies (the synthetic field's physics, :mod:`engines.optimize.rl.env`).
    Trains one PPO policy (MLP [256, 128]) per lift type (``--per lift_type``, default) or per well and saves
    ``DIR/<key>.zip`` with ``DIR/<key>.json`` (training record and data window). ``--timesteps`` per policy,
    at most 5,000,000 (default 30,000); ``--episode-hours`` at most 8,760. A progress bar on a terminal
    (stderr); Ctrl-C stops the current policy at its next step, saves it as trained so far and ends.
``atilax rl recommend WELL.json [--policies DIR] [--json]``
    WELL.json as for ``atilax lift optimize`` (flat well attributes, ``telemetry`` with the running setpoint),
    plus optional ``now_ms`` and ``last_change_ms`` (epoch ms) for the rate limit. Prints the policy's action,
    its confidence and the safety layer's verdict (limits, step, 15-minute rate limit, the lift engine's
    constraint check).
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from tb_bridge.cli.io import (CliInputError, bounded_int, format_validation_error, print_json, print_key_values,
                              read_json)

LIFT_TYPES = ("esp", "srp", "pcp", "gas_lift")


class SyntheticWells(BaseModel):
    """The synthetic field whose wells train the policies."""

    wells_per_lift_type: int = Field(default=3, ge=1, le=100, description="wells of each lift type (at most 100)")
    seed: int = Field(default=0, ge=0, description="the field's seed (well parameters and noise)")
    lift_types: list[Literal["esp", "srp", "pcp", "gas_lift"]] = Field(default_factory=lambda: list(LIFT_TYPES))


class TrainInput(BaseModel):
    synthetic: SyntheticWells = Field(default_factory=SyntheticWells)


def _train(args) -> int:
    from engines.fielddata.field import SyntheticField
    from engines.optimize.rl.env import WellModel
    from engines.optimize.rl.ppo import train_ppo
    from tb_bridge.rl_advisor import save_policy

    data = read_json(args.input)
    try:
        spec = TrainInput.model_validate(data).synthetic
    except ValidationError as exc:
        raise CliInputError(f"{args.input}: invalid input:\n{format_validation_error(exc)}") from exc
    field = SyntheticField({lt: spec.wells_per_lift_type for lt in spec.lift_types}, seed=spec.seed)
    groups = []
    for lift in spec.lift_types:
        wells = [WellModel.from_field(field, w.name) for w in field.wells_of(lift)]
        groups += [(lift, wells)] if args.per == "lift_type" else [(w.name, [w]) for w in wells]
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if threading.current_thread() is threading.main_thread() else None
    show = sys.stderr.isatty() and not args.no_progress
    summary = []
    try:
        for key, wells in groups:
            bar = None
            if show:
                from tqdm import tqdm
                bar = tqdm(total=args.timesteps, desc=f"PPO {key}", file=sys.stderr, unit="step")
            t0 = time.perf_counter()
            try:
                model, record = train_ppo(wells, args.timesteps, seed=args.seed, episode_hours=args.episode_hours,
                                          progress=(lambda done, total: bar.update(done - bar.n)) if bar else None,
                                          should_stop=stop.is_set)
            finally:
                if bar is not None:
                    bar.close()
            seconds = time.perf_counter() - t0
            window = {"source": "synthetic field", "field_seed": spec.seed, "wells": record.wells,
                      "episode_hours": record.episode_hours, "stopped_early": stop.is_set()}
            path = save_policy(model, record, args.out, key, window)
            summary.append({"key": key, "path": str(path), "lift_type": record.lift_type, "wells": record.wells,
                            "timesteps": record.timesteps, "train_s": round(seconds, 2), "stopped": stop.is_set()})
            if stop.is_set():
                break
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if args.json:
        print_json({"policies": summary})
    else:
        for item in summary:
            print_key_values([(k, v) for k, v in item.items() if k != "key"], title=f"policy {item['key']}")
    return 0


def _recommend(args) -> int:
    from engines.optimize.rl.ppo import NumpyPolicy
    from tb_bridge.cli.lift import _read_well
    from tb_bridge.rl_advisor import SETPOINT_TELEMETRY, find_policy, load_policy, recommend, review, telemetry_values

    well, options = _read_well(args.input)
    raw = read_json(args.input)
    if well.lift_type not in LIFT_TYPES:
        raise CliInputError(f"{args.input}: lift type {well.lift_type} has no setpoint to advise on")
    path = find_policy(args.policies, well.name, well.lift_type)
    if path is None:
        raise CliInputError(f"no policy for {well.name} or {well.lift_type} in {args.policies} (atilax rl train --out)")
    telemetry = telemetry_values(options.telemetry)
    current = telemetry.get(SETPOINT_TELEMETRY[well.lift_type])
    if current is None:
        raise CliInputError(f"{args.input}: telemetry needs the running setpoint {SETPOINT_TELEMETRY[well.lift_type]}")
    model, meta = load_policy(path)
    actor = NumpyPolicy(model)
    t0 = time.perf_counter()
    try:
        rec = recommend(actor, well.model_dump(), telemetry, current)
    except KeyError as exc:
        raise CliInputError(f"{args.input}: telemetry lacks {exc.args[0]} (the policy's observation needs it)") from None
    advice_ms = 1e3 * (time.perf_counter() - t0)
    now_ms = int(raw.get("now_ms") or time.time() * 1000)
    verdict = review(well, current, rec["proposed_setpoint"], now_ms, raw.get("last_change_ms"))
    out = {"well": well.name, "policy": str(path), "trained": {k: meta.get(k) for k in ("timesteps", "wells", "training_window")},
           "current_setpoint": current, **rec, "verdict": verdict.as_dict(), "advice_ms": round(advice_ms, 3)}
    if args.json:
        print_json(out)
    else:
        print_key_values([(k, v) for k, v in out.items() if k not in ("limits",)], title=f"RL advice: {well.name}")
    return 0


def register(subparsers) -> None:
    from engines.optimize.rl.env import MAX_EPISODE_HOURS
    from engines.optimize.rl.ppo import MAX_TIMESTEPS

    parser = subparsers.add_parser("rl", help="the RL setpoint advisor: train policies, recommend a setpoint")
    sub = parser.add_subparsers(dest="rl_command", required=True)
    p = sub.add_parser("train", help="train PPO policies on synthetic wells (one per lift type or per well)")
    p.add_argument("input", help="WELLS.json ({\"synthetic\": {...}}), or - for stdin")
    p.add_argument("--timesteps", type=bounded_int(8, MAX_TIMESTEPS), default=30_000,
                   help=f"environment steps (hours) per policy (default 30,000, at most {MAX_TIMESTEPS:,})")
    p.add_argument("--episode-hours", type=bounded_int(1, MAX_EPISODE_HOURS), default=168,
                   help=f"hours per training episode (default 168, at most {MAX_EPISODE_HOURS})")
    p.add_argument("--per", choices=("lift_type", "well"), default="lift_type", help="one policy per lift type or per well")
    p.add_argument("--out", default="atilax-policies", help="directory of the policies (settings.rl_policy_dir)")
    p.add_argument("--seed", type=int, default=0, help="training seed (the policy is reproducible given it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_train)
    p = sub.add_parser("recommend", help="the policy's setpoint move for one well, with the safety layer's verdict")
    p.add_argument("input", help="WELL.json (flat well attributes, telemetry with the running setpoint), or - for stdin")
    p.add_argument("--policies", default="atilax-policies", help="directory of the trained policies")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_recommend)
