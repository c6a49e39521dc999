"""RL advisor benchmark and validation (issue 21: 3, validation, performance; not run by CI).

Per lift type: train one PPO policy (MLP [256, 128]) on the synthetic field's wells of that lift type
(``--wells-per-lift-type``, week-long episodes of :class:`engines.optimize.rl.env.WellEnv`), then run a
held-out month (720 hourly steps; noise and drift from ``--month-seed``, never seen in training) for each
well under three policies, all through the same safety layer and on the same random numbers:

* agent: the trained policy's most probable action (the NumPy actor the service uses);
* fixed: hold the well's initial setpoint;
* single-step optimizer: every hour, ``tb_bridge.adapters.lift.optimize_well`` on the well's configuration
  and the hour's telemetry (the service's hourly lift step), moved toward through the safety layer.

Prints cumulative reward (USD over the month, and the scaled reward PPO maximizes), violation hours,
training time per lift type and inference latency (observation -> action -> safety verdict, per well).

    python bench/bench_rl.py [--timesteps 30000] [--lift-types esp,srp,pcp,gas_lift] [--json OUT.json] [--save DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from engines.fielddata.field import SyntheticField  # noqa: E402
from engines.optimize.rl.env import HOLD_ACTION, WellEnv, WellModel, run_episode, toward  # noqa: E402
from engines.optimize.rl.ppo import MAX_TIMESTEPS, NumpyPolicy, greedy_action, train_ppo  # noqa: E402
from engines.optimize.safety import SafetyLayer  # noqa: E402


def optimizer_policy(well: WellModel):
    """The hourly single-step lift optimizer as a policy (its recommendation at the hour's telemetry)."""
    from tb_bridge.adapters.lift import LiftCache, optimize_well
    from tb_bridge.wells.model import parse_well_config

    config = parse_well_config(well.name, well.name, dict(well.attributes))
    cache = LiftCache()

    def choose(env: WellEnv, obs) -> int:
        target = optimize_well(config, dict(env.telemetry), cache=cache).recommended_setpoint
        return toward(float(target))(env)
    return choose


def latency_ms(model, env: WellEnv, n: int = 500) -> dict:
    """Median time of one well's recommendation (ms): observation from telemetry, policy, safety verdict; with the
    NumPy actor (the service's path) and with the PyTorch policy (one thread)."""
    import torch

    from engines.optimize.rl.env import observe
    from engines.optimize.rl.ppo import NumpyPolicy

    env.reset(seed=0)
    layer, actor = SafetyLayer(env.limits), NumpyPolicy(model)
    out = {}
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, act in (("numpy", actor.act), ("torch", lambda o: greedy_action(model, o))):
            times = []
            for _ in range(n):
                t = time.perf_counter()
                obs = observe(env.lift_type, env.telemetry, env.setpoint, env.limits, env.well.attributes, env.norms)
                action, _conf = act(obs)
                layer.review(env.setpoint, env.proposal(action), 0, None, [])
                times.append(time.perf_counter() - t)
            out[name] = 1e3 * float(np.median(times))
    finally:
        torch.set_num_threads(before)
    return out


def run(lift_types, timesteps, wells_per_lift_type, seed, month_seed, save_dir=None, log=print) -> dict:
    field = SyntheticField(wells_per_lift_type, seed=seed)
    report = {"timesteps": timesteps, "wells_per_lift_type": wells_per_lift_type, "seed": seed, "month_seed": month_seed,
              "lift_types": {}}
    for lift in lift_types:
        wells = [WellModel.from_field(field, w.name) for w in field.wells_of(lift)]
        last = [0.0]

        def progress(done, total, lift=lift):
            if done - last[0] >= total / 10 or done == total:
                last[0] = done
                log(f"  {lift}: {done}/{total} timesteps")
        t0 = time.perf_counter()
        model, record = train_ppo(wells, timesteps, seed=seed, progress=progress)
        train_s = time.perf_counter() - t0
        if save_dir:
            from tb_bridge.rl_advisor import save_policy
            save_policy(model, record, save_dir, lift, {"source": "synthetic field", "seed": seed,
                                                        "episode_hours": record.episode_hours})
        env = WellEnv(wells, episode_hours=720)
        actor = NumpyPolicy(model)
        rows = []
        for i, well in enumerate(wells):
            opts = {"well_index": i}
            s = month_seed + i
            agent = run_episode(env, lambda e, o: actor.act(o)[0], s, opts)
            fixed = run_episode(env, lambda e, o: HOLD_ACTION, s, opts)
            opt = run_episode(env, optimizer_policy(well), s, opts)
            rows.append({"well": well.name, "agent": agent, "fixed": fixed, "optimizer": opt})
            log(f"  {well.name}: agent {agent['usd']:,.0f} USD, fixed {fixed['usd']:,.0f}, optimizer {opt['usd']:,.0f}")
        total = {k: float(sum(r[k]["usd"] for r in rows)) for k in ("agent", "fixed", "optimizer")}
        scaled = {k: float(sum(r[k]["reward"] for r in rows)) for k in ("agent", "fixed", "optimizer")}
        report["lift_types"][lift] = {"train_s": train_s, "timesteps": record.timesteps, "usd": total, "reward": scaled,
                                      "latency_ms": latency_ms(model, env), "wells": rows}
        lat = report["lift_types"][lift]["latency_ms"]
        log(f"{lift}: train {train_s:.1f} s; month USD agent {total['agent']:,.0f} fixed {total['fixed']:,.0f} "
            f"optimizer {total['optimizer']:,.0f}; latency {lat['numpy']:.3f} ms (NumPy actor), {lat['torch']:.3f} ms (PyTorch)")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=30_000, help=f"per lift type (<= {MAX_TIMESTEPS}; the gas-lift figure in docs/benchmarks.md used 100,000)")
    parser.add_argument("--lift-types", default="esp,srp,pcp,gas_lift")
    parser.add_argument("--wells-per-lift-type", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--month-seed", type=int, default=10_000)
    parser.add_argument("--save", default=None, help="directory to save the policies in (one per lift type)")
    parser.add_argument("--json", default=None, help="write the report here")
    args = parser.parse_args(argv)
    report = run(args.lift_types.split(","), args.timesteps, args.wells_per_lift_type, args.seed, args.month_seed,
                 args.save, log=lambda m: print(m, flush=True))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
