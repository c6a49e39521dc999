"""A gymnasium environment of one artificially lifted well for the RL advisor.

Dynamics: the synthetic field's physics of the well's lift type (:mod:`engines.fielddata`: ESP affinity
laws and IPR, SRP pump fillage and rod loads, PCP slip and torque, the gas-lift performance curve) with
measurement noise, plus slow drifts drawn per episode so that the best setpoint moves: reservoir pressure
declining by 0-``MAX_PR_DECLINE_PER_MONTH`` and water cut rising by 0-``MAX_WC_RISE_PER_MONTH`` over a month.

One step is one hour (``STEP_HOURS``): the agent picks a discrete setpoint move (``ACTION_STEPS`` x the
well's maximum step: down a full step, half a step, hold, up half, up full), the move passes
:class:`engines.optimize.safety.SafetyLayer` (limits, step size, 15-minute rate limit, refusal of a
setpoint the dynamics' noise-free prediction shows violating a constraint), the well runs an hour.

Reward (USD per hour, divided by the well's ``value_scale_usd_h`` for learning; :attr:`WellEnv.last_usd`
keeps the dollars): oil value - energy cost - lift-gas cost - water handling - a penalty per violated
constraint (:func:`constraint_violations`, from the same telemetry an operator sees).

Observation (:func:`observe`, the same function the service uses on live telemetry): setpoint position in
its limits, oil and liquid rate over the well's reference rate, power (or injection) over its reference,
water cut, two lift-specific constraint margins and the hourly value over its scale. Everything is
deterministic given the seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import gymnasium as gym
import numpy as np

from engines.fielddata import esp, fluids, gas_lift, pcp, srp
from engines.fielddata.keys import NUMERIC_KEYS_BY_LIFT_TYPE
from engines.optimize.safety import SafetyLayer, SafetyLimits

STEP_HOURS = 1.0
HOURS_PER_MONTH = 720
#: The moves an action picks, as multiples of the well's maximum step.
ACTION_STEPS = (-1.0, -0.5, 0.0, 0.5, 1.0)
HOLD_ACTION = ACTION_STEPS.index(0.0)
N_FEATURES = 8
MAX_PR_DECLINE_PER_MONTH = 0.25
MAX_WC_RISE_PER_MONTH = 0.10
#: Hard upper bound of an episode (steps = hours): a year.
MAX_EPISODE_HOURS = 8760
_MODELS = {"esp": esp, "srp": srp, "pcp": pcp, "gas_lift": gas_lift}
#: Constraint limits judged on telemetry: SRP fluid pound below this fillage; PCP pump-off below this
#: volumetric efficiency.
SRP_MIN_FILLAGE_PCT = 80.0
PCP_MIN_VOLUMETRIC_EFFICIENCY = 0.5
ESP_DEFAULT_MIN_INTAKE_PSI = 150.0


@dataclass(frozen=True)
class Economics:
    """Prices of the reward: oil value, electricity, lift gas, water handling (USD), and the penalty per
    violated constraint per hour as a fraction of the well's reference hourly oil value."""

    oil_usd_per_bbl: float = 70.0
    power_usd_per_kwh: float = 0.10
    gas_usd_per_mscf: float = 1.5
    water_usd_per_bbl: float = 1.0
    violation_value_frac: float = 0.3


@dataclass(frozen=True)
class Normalizers:
    """Reference scales of one well from its configuration alone (so live telemetry is scaled the same):
    reference rate = PI x Pr (bbl/d), power = hydraulic power of that rate over the pump depth (kW),
    injection = the well's maximum injection, value = hourly oil value of the reference rate."""

    q_ref_bpd: float
    power_ref_kw: float
    injection_ref_mscfd: float
    value_scale_usd_h: float

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any], economics: Economics = Economics()) -> "Normalizers":
        a = attributes
        q_ref = float(a["productivity_index_bpd_psi"]) * float(a["reservoir_pressure_psi"])
        depth = float(a.get("pump_depth_ft") or a.get("injection_depth_ft") or a["perforation_depth_ft"])
        power = float(fluids.hydraulic_power_kw(q_ref, fluids.WATER_GRADIENT_PSI_FT * depth))
        injection = float(a.get("injection_max_mscfd") or 1.0)
        value = q_ref * (1.0 - float(a.get("water_cut_frac", 0.3))) * economics.oil_usd_per_bbl / 24.0
        return cls(q_ref, max(power, 1e-3), injection, max(value, 1e-3))


def constraint_excess(lift_type: str, telemetry: Mapping[str, float], attributes: Mapping[str, Any]) -> dict[str, tuple[float, str]]:
    """Each constraint's excess (positive: violated, as a fraction of its limit) and a readable message,
    from (measured or predicted) telemetry: ESP intake pressure below its minimum and motor current above
    nameplate; SRP fillage below ``SRP_MIN_FILLAGE_PCT`` (fluid pound); PCP torque above the rod limit and
    volumetric efficiency below ``PCP_MIN_VOLUMETRIC_EFFICIENCY`` (pump-off); gas lift: none beyond the
    injection limits."""
    t, a = telemetry, attributes
    if lift_type == "esp":
        limit = float(a.get("min_intake_pressure_psi", ESP_DEFAULT_MIN_INTAKE_PSI))
        amps = float(a["motor_current_a"])
        return {"intake_pressure": ((limit - t["intake_pressure_psi"]) / max(limit, 1.0),
                                    f"intake pressure {t['intake_pressure_psi']:.0f} psi below the minimum {limit:.0f} psi"),
                "motor_current": ((t["motor_current_a"] - amps) / amps,
                                  f"motor current {t['motor_current_a']:.1f} A above nameplate {amps:.1f} A")}
    if lift_type == "srp":
        return {"fillage": ((SRP_MIN_FILLAGE_PCT - t["pump_fillage_pct"]) / SRP_MIN_FILLAGE_PCT,
                            f"pump fillage {t['pump_fillage_pct']:.0f} % below {SRP_MIN_FILLAGE_PCT:.0f} % (fluid pound)")}
    if lift_type == "pcp":
        limit = float(a["rod_torque_limit_ftlbf"])
        eff = t["flow_rate_bpd"] / (float(a["displacement_bpd_per_rpm"]) * max(t["rpm"], 1e-9))
        return {"torque": ((t["torque_ftlbf"] - limit) / limit,
                           f"torque {t['torque_ftlbf']:.0f} ft-lbf above the rod limit {limit:.0f}"),
                "pump_off": ((PCP_MIN_VOLUMETRIC_EFFICIENCY - eff) / PCP_MIN_VOLUMETRIC_EFFICIENCY,
                             f"volumetric efficiency {eff:.2f} below {PCP_MIN_VOLUMETRIC_EFFICIENCY} (pump-off)")}
    return {}


def constraint_violations(lift_type: str, telemetry: Mapping[str, float], attributes: Mapping[str, Any]) -> list[str]:
    """Messages of the constraints :func:`constraint_excess` finds violated."""
    return [msg for excess, msg in constraint_excess(lift_type, telemetry, attributes).values() if excess > 0]


def caused_or_worsened(lift_type: str, at_current: Mapping[str, float], at_proposal: Mapping[str, float],
                       attributes: Mapping[str, Any]) -> list[str]:
    """The violations predicted at a proposal that it causes or worsens relative to the current setpoint
    (what the safety layer refuses: a move that eases a violation the well is already in stays allowed)."""
    now = constraint_excess(lift_type, at_current, attributes)
    return [msg for name, (excess, msg) in constraint_excess(lift_type, at_proposal, attributes).items()
            if excess > 0 and excess >= now.get(name, (-math.inf, ""))[0]]


def hourly_value_usd(lift_type: str, telemetry: Mapping[str, float], economics: Economics) -> float:
    """Oil value - energy - lift gas - water handling over one hour (USD) at the given telemetry."""
    oil, liquid = telemetry["oil_rate_bpd"], telemetry["flow_rate_bpd"]
    usd = (oil * economics.oil_usd_per_bbl - (liquid - oil) * economics.water_usd_per_bbl) / 24.0
    if lift_type == "gas_lift":
        usd -= telemetry["injection_rate_mscfd"] * economics.gas_usd_per_mscf / 24.0
    else:
        usd -= telemetry["motor_power_kw"] * economics.power_usd_per_kwh
    return float(usd)


def observe(lift_type: str, telemetry: Mapping[str, float], setpoint: float, limits: SafetyLimits,
            attributes: Mapping[str, Any], norms: Normalizers, economics: Economics = Economics()) -> np.ndarray:
    """The agent's feature vector (``N_FEATURES`` float32) from one set of telemetry values."""
    t = telemetry
    span = limits.setpoint_max - limits.setpoint_min
    if lift_type == "gas_lift":
        load = t["injection_rate_mscfd"] / norms.injection_ref_mscfd
        m1 = t["tubing_pressure_psi"] / max(float(attributes["wellhead_pressure_psi"]), 1.0) - 1.0
        m2 = t["casing_pressure_psi"] / max(float(attributes["injection_pressure_psi"]), 1.0)
    else:
        load = t["motor_power_kw"] / norms.power_ref_kw
        if lift_type == "esp":
            m1 = (t["intake_pressure_psi"] - float(attributes.get("min_intake_pressure_psi", ESP_DEFAULT_MIN_INTAKE_PSI))) / 1000.0
            m2 = t["motor_current_a"] / float(attributes["motor_current_a"])
        elif lift_type == "srp":
            m1 = t["pump_fillage_pct"] / 100.0
            m2 = t["pump_intake_pressure_psi"] / 1000.0
        else:
            m1 = t["torque_ftlbf"] / float(attributes["rod_torque_limit_ftlbf"])
            m2 = t["flow_rate_bpd"] / (float(attributes["displacement_bpd_per_rpm"]) * max(t["rpm"], 1e-9))
    value = hourly_value_usd(lift_type, t, economics) / norms.value_scale_usd_h
    features = [(setpoint - limits.setpoint_min) / span, t["oil_rate_bpd"] / norms.q_ref_bpd,
                t["flow_rate_bpd"] / norms.q_ref_bpd, load, t["water_cut_frac"], m1, m2, value]
    return np.clip(np.nan_to_num(np.asarray(features, dtype=np.float32)), -10.0, 10.0)


@dataclass(frozen=True)
class WellModel:
    """One synthetic well's dynamics: its lift type, flat configuration attributes, and the generator's
    internal parameters (one row of :meth:`engines.fielddata.field.SyntheticField.model_parameters`)."""

    name: str
    lift_type: str
    attributes: Mapping[str, Any]
    params: Mapping[str, np.ndarray]

    @classmethod
    def from_field(cls, field: Any, well_name: str) -> "WellModel":
        w = field.well(well_name)
        params = {k: np.asarray(v)[w.index:w.index + 1].astype(float) for k, v in field.model_parameters(w.lift_type).items()}
        return cls(w.name, w.lift_type, dict(w.attributes), params)

    @property
    def initial_setpoint(self) -> float:
        return float(self.params["setpoint"][0])

    def telemetry(self, setpoint: float, hour: float, pr_decline: float, wc_rise: float,
                  rng: np.random.Generator | None) -> dict[str, float]:
        """One hour's telemetry at ``setpoint`` after ``hour`` hours of drift (``rng`` None: noise-free)."""
        z = None if rng is None else self.noise(rng)
        return self.telemetry_rows([setpoint], [hour], pr_decline, wc_rise, z, [z is not None])[0]

    def noise(self, rng: np.random.Generator) -> dict[str, float]:
        """One hour's standard-normal measurement noise, per channel."""
        return {c: float(rng.standard_normal()) for c in NUMERIC_KEYS_BY_LIFT_TYPE[self.lift_type] + ("spike",)}

    def telemetry_rows(self, setpoints, hours, pr_decline: float, wc_rise: float, z: Mapping[str, float] | None,
                       noisy) -> list[dict[str, float]]:
        """Telemetry of several (setpoint, hour) rows in one vectorized call of the dynamics; rows with
        ``noisy`` true get the noise ``z``, the others none (predictions)."""
        n = len(setpoints)
        frac = np.asarray(hours, dtype=float) / HOURS_PER_MONTH
        sp = np.asarray(setpoints, dtype=float)
        p = {k: np.repeat(v, n) for k, v in self.params.items()}
        p["setpoint"] = sp
        if self.lift_type == "srp":  # the pump's capacity scales with the stroke rate
            p["capacity_bpd"] = p["capacity_bpd"] * sp / float(self.params["setpoint"][0])
        p["reservoir_pressure_psi"] = p["reservoir_pressure_psi"] * (1.0 - pr_decline * frac)
        p["bubble_point_psi"] = np.minimum(p["bubble_point_psi"], p["reservoir_pressure_psi"])
        p["water_cut_frac"] = np.clip(p["water_cut_frac"] + wc_rise * frac, 0.0, 0.98)
        mask = np.asarray(noisy, dtype=float)[:, None]
        channels = NUMERIC_KEYS_BY_LIFT_TYPE[self.lift_type] + ("spike",)
        zz = {c: (0.0 if z is None else z[c]) * mask for c in channels}
        out = _MODELS[self.lift_type].simulate(p, _NoFault(np.zeros((n, 1))), zz,
                                               (np.asarray(hours, dtype=float) * 12).astype(int)[:, None])
        keys = [k for k in out if not k.startswith("_")]
        return [{k: float(out[k][i, 0]) for k in keys} for i in range(n)]


class _NoFault(dict):
    def __init__(self, zero: np.ndarray):
        super().__init__()
        self._zero = zero

    def __missing__(self, key: str) -> np.ndarray:
        return self._zero


class WellEnv(gym.Env):
    """One well (or a random well of a list each episode), ``episode_hours`` hourly steps per episode."""

    metadata = {"render_modes": []}

    def __init__(self, wells: WellModel | list[WellModel], episode_hours: int = 168, economics: Economics = Economics(),
                 drift: bool = True, seed: int | None = None):
        super().__init__()
        self.wells = [wells] if isinstance(wells, WellModel) else list(wells)
        if not self.wells or len({w.lift_type for w in self.wells}) != 1:
            raise ValueError("WellEnv needs one or more wells of one lift type")
        if not 1 <= int(episode_hours) <= MAX_EPISODE_HOURS:
            raise ValueError(f"episode_hours must be in [1, {MAX_EPISODE_HOURS}], not {episode_hours}")
        self.lift_type = self.wells[0].lift_type
        self.episode_hours, self.economics, self.drift = int(episode_hours), economics, drift
        self.action_space = gym.spaces.Discrete(len(ACTION_STEPS))
        self.observation_space = gym.spaces.Box(-10.0, 10.0, shape=(N_FEATURES,), dtype=np.float32)
        self._seed = seed
        self.rng = np.random.default_rng(seed)
        self.last_usd = 0.0

    # -- episode --------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        options = options or {}
        self.well = self.wells[int(options.get("well_index", self.rng.integers(len(self.wells))))]
        self.limits = SafetyLimits.from_well(_Attrs(self.well.attributes))
        self.safety = SafetyLayer(self.limits)
        self.norms = Normalizers.from_attributes(self.well.attributes, self.economics)
        self.pr_decline = float(options.get("pr_decline", self.rng.uniform(0, MAX_PR_DECLINE_PER_MONTH) if self.drift else 0.0))
        self.wc_rise = float(options.get("wc_rise", self.rng.uniform(0, MAX_WC_RISE_PER_MONTH) if self.drift else 0.0))
        self.setpoint = float(options.get("setpoint", self.well.initial_setpoint))
        self.setpoint = min(max(self.setpoint, self.limits.setpoint_min), self.limits.setpoint_max)
        self.hour, self.last_change_ms = 0, None
        self.telemetry = self.well.telemetry(self.setpoint, 0.0, self.pr_decline, self.wc_rise, self.rng)
        return self._obs(), {}

    def _obs(self) -> np.ndarray:
        return observe(self.lift_type, self.telemetry, self.setpoint, self.limits, self.well.attributes, self.norms,
                       self.economics)

    def proposal(self, action: int) -> float:
        """The setpoint an action proposes (before the safety layer)."""
        return self.setpoint + ACTION_STEPS[int(action)] * self.limits.max_step

    def step(self, action: int):
        now_ms = int(self.hour * 3_600_000)
        proposed = self.proposal(action)
        target = min(max(proposed, self.limits.setpoint_min), self.limits.setpoint_max)
        z = self.well.noise(self.rng)
        h = float(self.hour)
        if abs(target - self.setpoint) > self.limits.resolution:
            cur_pred, prop_pred, cur_next, prop_next = self.well.telemetry_rows(
                [self.setpoint, target, self.setpoint, target], [h, h, h + 1, h + 1], self.pr_decline, self.wc_rise, z,
                [False, False, True, True])
            violations = caused_or_worsened(self.lift_type, cur_pred, prop_pred, self.well.attributes)
        else:
            (cur_next,) = self.well.telemetry_rows([self.setpoint], [h + 1], self.pr_decline, self.wc_rise, z, [True])
            prop_next, violations = cur_next, []
        verdict = self.safety.review(self.setpoint, proposed, now_ms, self.last_change_ms, violations)
        if verdict.allowed:
            self.setpoint, self.last_change_ms = verdict.setpoint, now_ms
        self.hour += 1
        self.telemetry = prop_next if verdict.allowed else cur_next
        broken = constraint_violations(self.lift_type, self.telemetry, self.well.attributes)
        usd = hourly_value_usd(self.lift_type, self.telemetry, self.economics) \
            - self.economics.violation_value_frac * self.norms.value_scale_usd_h * len(broken)
        self.last_usd = usd
        truncated = self.hour >= self.episode_hours
        info = {"usd": usd, "setpoint": self.setpoint, "violations": broken, "verdict": verdict.as_dict()}
        return self._obs(), float(usd / self.norms.value_scale_usd_h), False, truncated, info


class _Attrs:
    """Attribute access over a configuration mapping (for :meth:`SafetyLimits.from_well`)."""

    def __init__(self, mapping: Mapping[str, Any]):
        self._m = mapping

    def __getattr__(self, name: str) -> Any:
        try:
            return self._m[name]
        except KeyError:
            if name in ("setpoint_max_step", "setpoint_min_interval_min"):
                return None
            raise AttributeError(name) from None


def limits_of(attributes: Mapping[str, Any]) -> SafetyLimits:
    """:meth:`SafetyLimits.from_well` of a flat attribute mapping."""
    return SafetyLimits.from_well(_Attrs(attributes))


def toward(target: float) -> Callable[[WellEnv], int]:
    """A baseline policy that moves the setpoint toward ``target`` (the action whose proposal lands closest)."""
    def choose(env: WellEnv) -> int:
        return int(np.argmin([abs(env.proposal(a) - target) for a in range(len(ACTION_STEPS))]))
    return choose


def run_episode(env: WellEnv, choose: Callable[[WellEnv, np.ndarray], int], seed: int, options: dict | None = None) -> dict:
    """Cumulative reward (USD and scaled) of one episode under ``choose(env, obs) -> action``."""
    obs, _ = env.reset(seed=seed, options=options)
    usd = scaled = 0.0
    violations = 0
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(choose(env, obs))
        usd += info["usd"]
        scaled += reward
        violations += len(info["violations"])
        done = terminated or truncated
    return {"usd": usd, "reward": scaled, "violation_hours": violations, "final_setpoint": env.setpoint}


__all__ = ["ACTION_STEPS", "Economics", "HOLD_ACTION", "MAX_EPISODE_HOURS", "N_FEATURES", "Normalizers", "WellEnv",
           "WellModel", "caused_or_worsened", "constraint_excess", "constraint_violations", "hourly_value_usd", "limits_of", "observe", "run_episode", "toward"]
