"""The RL advisor in the service: trained policies on disk, recommendations through the safety layer, and
the single-step lift optimizer's recommendation through the same layer.

* Policies (:func:`save_policy` / :func:`load_policy`): ``<dir>/<key>.zip`` (stable-baselines3 PPO) with
  ``<dir>/<key>.json`` (the :class:`engines.optimize.rl.ppo.TrainingRecord`: lift type, wells, training
  data window, timesteps, seed, network, feature version). ``key`` is a well name (a policy of its own) or
  a lift type (shared by that lift type's wells); :func:`find_policy` prefers the well's own.
* :func:`predicted_violations`: the lift engine's scan (ESP frequency scan, SRP fillage, PCP torque /
  power / lift / intake) at the current and the proposed setpoint; the constraints the proposal newly
  violates. The safety layer refuses a proposal with any.
* :func:`recommend`: observation from the latest telemetry (:func:`engines.optimize.rl.env.observe`), the
  policy's most probable action and its probability (``opt_rl_confidence``), the proposed setpoint and
  the safety layer's verdict.
"""
from __future__ import annotations

import json
import math
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from engines.optimize.rl.env import ACTION_STEPS, Normalizers, limits_of, observe
from engines.optimize.safety import SETPOINTS, SafetyLayer, SafetyLimits, Verdict

#: Telemetry key of the running setpoint per lift type (as the lift adapter reads it).
SETPOINT_TELEMETRY = {"esp": "frequency_hz", "srp": "spm", "pcp": "rpm", "gas_lift": "injection_rate_mscfd"}


def setpoint_name(lift_type: str) -> str:
    """The device setpoint's name (``target_<name>`` is the shared attribute an approved change writes)."""
    return SETPOINTS[lift_type][0]


# --- policies on disk ------------------------------------------------------------------------------

def save_policy(model: Any, record: Any, directory: str | Path, key: str, window: Mapping[str, Any]) -> Path:
    """Write ``<key>.zip`` and ``<key>.json`` (training record plus the data window) under ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save(str(directory / f"{key}.zip"))
    meta = asdict(record) | {"key": key, "training_window": dict(window)}
    (directory / f"{key}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return directory / f"{key}.zip"


def load_policy(path: str | Path) -> tuple[Any, dict]:
    """``(model, metadata)`` of a saved policy (``.zip`` path, or the key's path without suffix)."""
    from stable_baselines3 import PPO

    path = Path(path)
    zip_path = path if path.suffix == ".zip" else path.with_suffix(".zip")
    meta = json.loads(zip_path.with_suffix(".json").read_text())
    return PPO.load(str(zip_path), device="cpu"), meta


def find_policy(directory: str | Path, well_name: str, lift_type: str) -> Path | None:
    """The well's own policy, else its lift type's, else None."""
    for key in (well_name, lift_type):
        candidate = Path(directory) / f"{key}.zip"
        if candidate.is_file():
            return candidate
    return None


# --- the lift engine's constraint check -----------------------------------------------------------

def predicted_violations(well: Any, current: float, proposed: float, cache: Any = None) -> list[str]:
    """Constraints the lift engine predicts the proposed setpoint violates and the current one does not."""
    from engines.lift.esp import scan_frequencies
    from engines.lift.pcp import scan_rpm
    from engines.lift.srp import scan_spm
    from tb_bridge.adapters import lift as adapter

    lift = well.lift_type
    if lift == "gas_lift" or not (math.isfinite(current) and math.isfinite(proposed)):
        return []
    _, _, pc = adapter._pump_curves(well, cache)
    points = [float(current), float(proposed)]
    if lift == "esp":
        scan = scan_frequencies(adapter._esp_system(well, pc), points)
        flags = {name: arr for name, arr in scan.violations.items()}
    elif lift == "srp":
        system = adapter._srp_system(well, pc)
        scan = scan_spm(system, points)
        flags = {"min_fillage": scan.fillage_frac < system.min_fillage - 1e-9}
    else:
        system = adapter._pcp_system(well, pc, {})
        s = scan_rpm(system, points)
        flags = {"rod_torque": s.torque_ftlbf > system.rod_torque_limit_ftlbf, "motor_power": s.hp > system.motor_hp,
                 "pump_rated_lift": s.dp_psi > system.rated_lift_psi,
                 "min_intake_pressure": s.intake_pressure_psi < system.min_intake_pressure_psi - 1e-6}
    return [f"{name} at {proposed:g}" for name, arr in flags.items() if bool(arr[1]) and not bool(arr[0])]


def review(well: Any, current: float, proposed: float, now_ms: int, last_change_ms: int | None,
           cache: Any = None) -> Verdict:
    """The safety layer's verdict on one proposal for a configured well (limits from its configuration,
    violations from the lift engine)."""
    layer = SafetyLayer(SafetyLimits.from_well(well))
    try:
        violations = predicted_violations(well, current, proposed, cache)
    except Exception as exc:  # no prediction is a refusal, never a pass
        violations = [f"the lift engine could not check the proposal ({type(exc).__name__}: {exc})"]
    return layer.review(current, proposed, now_ms, last_change_ms, violations)


# --- recommendations ------------------------------------------------------------------------------

def recommend(model: Any, attributes: Mapping[str, Any], telemetry: Mapping[str, float], current_setpoint: float,
              ) -> dict[str, Any]:
    """The policy's action at the latest telemetry: action index and move, proposed setpoint, confidence.
    ``model``: a :class:`engines.optimize.rl.ppo.NumpyPolicy` (the service's path) or the PPO model."""
    from engines.optimize.rl.ppo import greedy_action

    lift = str(attributes["lift_type"])
    limits = limits_of(attributes)
    norms = Normalizers.from_attributes(attributes)
    obs = observe(lift, telemetry, current_setpoint, limits, attributes, norms)
    action, confidence = model.act(obs) if hasattr(model, "act") else greedy_action(model, obs)
    proposed = float(current_setpoint + ACTION_STEPS[action] * limits.max_step)
    return {"action": action, "move": ACTION_STEPS[action], "proposed_setpoint": proposed,
            "confidence": round(confidence, 4), "setpoint_name": limits.setpoint_name, "limits": asdict(limits)}


def new_action_id() -> str:
    """Id of one recommendation (what the dashboard's approve button writes back)."""
    return uuid.uuid4().hex[:12]


def telemetry_values(latest: Mapping[str, Any]) -> dict[str, float]:
    """Finite numbers of a latest-telemetry mapping."""
    out = {}
    for key, value in latest.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            continue
        if np.isfinite(v):
            out[key] = v
    return out
