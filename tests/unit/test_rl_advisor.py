"""The RL advisor's environment and PPO (engines.optimize.rl): reward and dynamics against the synthetic field,
the safety layer inside every step, seeded determinism, bounds, the NumPy actor against PyTorch, save/load and
`atilax rl train/recommend`. Training here is tiny (seconds); the comparison with the fixed setpoint and the
single-step optimizer over a held-out month is bench/bench_rl.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from engines.fielddata.field import SyntheticField  # noqa: E402
from engines.optimize.rl.env import (ACTION_STEPS, HOLD_ACTION, Economics, WellEnv, WellModel, constraint_violations,  # noqa: E402
                                     hourly_value_usd, run_episode)
from engines.optimize.rl.ppo import MAX_TIMESTEPS, NumpyPolicy, action_probabilities, train_ppo  # noqa: E402

FIELD = SyntheticField(2, seed=0)


def wells(lift):
    return [WellModel.from_field(FIELD, w.name) for w in FIELD.wells_of(lift)]


@pytest.mark.parametrize("lift", ["esp", "srp", "pcp", "gas_lift"])
def test_noise_free_telemetry_at_the_initial_setpoint_is_the_fields(lift):
    w = wells(lift)[0]
    ours = w.telemetry(w.initial_setpoint, 0.0, 0.0, 0.0, None)
    noise_free = {c: np.zeros((2, 1)) for c in FIELD._noise(lift, 1, 0)}
    theirs = FIELD.arrays(lift, 1)  # noisy: compare the noise-free model instead
    from engines.fielddata.field import _MODELS, _Severity  # the field's own model, noise-free
    ref = _MODELS[lift].simulate(FIELD.model_parameters(lift), _Severity({}, (2, 1)), noise_free, np.zeros((1, 1), dtype=int))
    for key in ("flow_rate_bpd", "oil_rate_bpd"):
        assert ours[key] == pytest.approx(float(ref[key][0, 0]), rel=1e-12)
        assert ours[key] == pytest.approx(float(theirs[key][0, 0]), rel=0.1)  # and the field's noisy sample is near


def test_reward_is_oil_value_less_energy_water_and_penalties():
    econ = Economics()
    t = {"oil_rate_bpd": 480.0, "flow_rate_bpd": 960.0, "motor_power_kw": 50.0}
    assert hourly_value_usd("esp", t, econ) == pytest.approx((480 * 70 - 480 * 1.0) / 24 - 50 * 0.10)
    g = {"oil_rate_bpd": 240.0, "flow_rate_bpd": 240.0, "injection_rate_mscfd": 480.0}
    assert hourly_value_usd("gas_lift", g, econ) == pytest.approx(240 * 70 / 24 - 480 * 1.5 / 24)
    env = WellEnv(wells("esp"), episode_hours=5, seed=3)
    env.reset(seed=3, options={"well_index": 0})
    _, reward, _, _, info = env.step(HOLD_ACTION)
    expected = hourly_value_usd("esp", env.telemetry, econ) - econ.violation_value_frac * env.norms.value_scale_usd_h * len(info["violations"])
    assert info["usd"] == pytest.approx(expected)
    assert reward == pytest.approx(expected / env.norms.value_scale_usd_h)


def test_srp_rate_follows_the_stroke_rate_until_the_pump_outruns_the_inflow():
    w = wells("srp")[0]
    sp = w.initial_setpoint
    low, here = (w.telemetry(s, 0.0, 0.0, 0.0, None) for s in (0.8 * sp, sp))
    assert low["flow_rate_bpd"] == pytest.approx(0.8 * here["flow_rate_bpd"], rel=1e-9)  # full pump: q ~ spm
    # a steep pressure decline pumps the well off: fluid pound below 80 % fillage is a violation
    off = w.telemetry(12.0, 720.0, 0.9, 0.0, None)
    assert off["pump_fillage_pct"] < 80 and constraint_violations("srp", off, w.attributes)


def test_every_step_passes_the_safety_layer_and_episodes_are_seeded():
    env = WellEnv(wells("pcp"), episode_hours=48, seed=0)
    lim = None
    rng = np.random.default_rng(1)
    for episode in range(2):
        env.reset(seed=10 + episode)
        lim, prev = env.limits, env.setpoint
        for _ in range(48):
            _, _, _, truncated, info = env.step(int(rng.integers(len(ACTION_STEPS))))
            assert lim.setpoint_min <= env.setpoint <= lim.setpoint_max
            assert abs(env.setpoint - prev) <= lim.max_step + 1e-9
            prev = env.setpoint
        assert truncated
    a = run_episode(env, lambda e, o: 4, seed=5)
    b = run_episode(env, lambda e, o: 4, seed=5)
    assert a == b  # same seed: same noise, drift and outcome
    assert run_episode(env, lambda e, o: 4, seed=6) != a


def test_ppo_is_seeded_bounded_and_the_numpy_actor_matches_pytorch(tmp_path):
    with pytest.raises(ValueError, match="timesteps"):
        train_ppo(wells("esp"), MAX_TIMESTEPS + 1)
    with pytest.raises(ValueError, match="episode_hours"):
        train_ppo(wells("esp"), 64, episode_hours=10_000)
    seen = []
    m1, rec = train_ppo(wells("esp"), 128, seed=7, episode_hours=24, progress=lambda d, t: seen.append((d, t)))
    m2, _ = train_ppo(wells("esp"), 128, seed=7, episode_hours=24)
    assert seen[-1] == (128, 128) and rec.timesteps == 128 and rec.net_arch == [256, 128]
    obs = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    actor = NumpyPolicy(m1)
    for o in obs:
        p = action_probabilities(m1, o)
        assert p == pytest.approx(action_probabilities(m2, o), abs=1e-6)  # same seed, same policy
        assert actor.probabilities(o) == pytest.approx(p, abs=1e-6) and p.sum() == pytest.approx(1.0)
    stopped, rec = train_ppo(wells("esp"), 4096, seed=7, should_stop=lambda: True)
    assert rec.timesteps < 4096  # stops cleanly at the next step


def test_cli_train_and_recommend(tmp_path, capsys):
    from tb_bridge.cli.main import main

    spec = tmp_path / "wells.json"
    spec.write_text(json.dumps({"synthetic": {"wells_per_lift_type": 1, "lift_types": ["gas_lift"]}}))
    assert main(["rl", "train", str(spec), "--timesteps", "64", "--out", str(tmp_path / "pol"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["policies"][0]
    assert (out["key"], out["timesteps"], out["wells"]) == ("gas_lift", 64, ["GL-01"])
    meta = json.loads((tmp_path / "pol" / "gas_lift.json").read_text())
    assert meta["training_window"]["wells"] == ["GL-01"] and meta["net_arch"] == [256, 128]
    field = SyntheticField({"gas_lift": 1}, seed=0)
    w = field.wells[0]
    telemetry = {k: float(v[0, 0]) for k, v in field.arrays("gas_lift", 1).items()}
    well = tmp_path / "well.json"
    well.write_text(json.dumps({**w.attributes, "name": w.name, "entity_id": w.name, "telemetry": telemetry,
                                "now_ms": 10 * 60_000, "last_change_ms": 0}))
    assert main(["rl", "recommend", str(well), "--policies", str(tmp_path / "pol"), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert 0 < rec["confidence"] <= 1 and rec["action"] in range(len(ACTION_STEPS))
    assert rec["proposed_setpoint"] == pytest.approx(telemetry["injection_rate_mscfd"] + ACTION_STEPS[rec["action"]] * 150.0)
    # ten minutes after the last change: the rate limit refuses any move
    assert rec["verdict"]["allowed"] is False and rec["verdict"]["setpoint"] == telemetry["injection_rate_mscfd"]
