"""The one safety layer every setpoint recommender passes (RL advisor, NSGA choice, single-step optimizer).

No recommendation reaches a device without :meth:`SafetyLayer.review`. The layer is pure (no clock, no
I/O): the caller passes the current setpoint, the proposal, the time now and the time of the last applied
change, and the constraint violations the lift engine predicts at the proposal. The verdict says whether
a change may be applied and to which setpoint.

Rules, in order (the first refusing rule wins; clipping rules adjust the proposal and go on):

1. A non-finite proposal, or a non-finite current setpoint, is refused.
2. A current setpoint outside ``[setpoint_min, setpoint_max]`` is refused: the layer never steps from an
   unsafe state; an operator brings the well back inside its limits by hand.
3. Any predicted constraint violation (``predicted_violations`` non-empty: e.g. the ESP's intake pressure
   below its minimum, an SRP's rod loading above 100 %, a PCP's torque above the rod limit) refuses the
   proposal (it is not clipped: the engine judged that very setpoint).
4. Rate limit: a change less than ``min_interval_ms`` (15 min, and never less) after the last applied
   change is refused; so is a clock that runs backwards (``now_ms < last_change_ms``).
5. The proposal is clipped into ``[setpoint_min, setpoint_max]`` (hard limits from the well's
   configuration) and then to ``current ± max_step``; each clip adds a reason.
6. A clipped setpoint within ``resolution`` of the current one is "no change": refused (not a change, so
   it does not use up the 15-minute slot).

``Verdict.allowed`` is true exactly when the caller may send ``Verdict.setpoint`` to the device; when it
is false ``Verdict.setpoint`` is the current setpoint (nothing moves). Invariants (property-tested in
``tests/unit/test_safety_layer.py``): starting inside the limits, any sequence of proposals applied only
when allowed keeps every setpoint inside the limits, every step at most ``max_step`` and every two changes
at least ``min_interval_ms`` apart.

Limits from a well's configuration (:meth:`SafetyLimits.from_well`), per lift type:

=========  =====================  ===================================  =====================
lift type  setpoint               hard limits (configuration)          default maximum step
=========  =====================  ===================================  =====================
esp        drive frequency, Hz    frequency_min_hz .. frequency_max_hz  2 Hz
srp        strokes per minute     spm_min .. spm_max                    1 1/min
pcp        rotor speed, rpm       rpm_min .. rpm_max                    25 rpm
gas_lift   injection, Mscf/d      injection_min_mscfd .. _max_mscfd     150 Mscf/d
=========  =====================  ===================================  =====================

A well's ``setpoint_max_step`` attribute (in the setpoint's unit) replaces the default step; it is
capped at the span of the limits. ``setpoint_min_interval_min`` may lengthen the 15-minute interval,
never shorten it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

MS_PER_MIN = 60_000
#: The shortest interval between two applied setpoint changes (a hard floor: configuration may only raise it).
MIN_INTERVAL_MS = 15 * MS_PER_MIN

#: Setpoint name, configuration fields of its hard limits, default maximum step and the resolution below
#: which a move is no change, per lift type. The name is the device's setpoint key (``target_<name>``).
SETPOINTS: dict[str, tuple[str, str, str, float, float]] = {
    "esp": ("frequency_hz", "frequency_min_hz", "frequency_max_hz", 2.0, 0.05),
    "srp": ("spm", "spm_min", "spm_max", 1.0, 0.01),
    "pcp": ("rpm", "rpm_min", "rpm_max", 25.0, 0.5),
    "gas_lift": ("injection_mscfd", "injection_min_mscfd", "injection_max_mscfd", 150.0, 1.0),
}


@dataclass(frozen=True)
class SafetyLimits:
    """Hard limits of one well's setpoint: range, largest single step, shortest interval between changes."""

    setpoint_name: str
    setpoint_min: float
    setpoint_max: float
    max_step: float
    min_interval_ms: int = MIN_INTERVAL_MS
    resolution: float = 1e-9

    def __post_init__(self) -> None:
        values = (self.setpoint_min, self.setpoint_max, self.max_step, self.resolution)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"safety limits must be finite: {values}")
        if self.setpoint_min >= self.setpoint_max:
            raise ValueError(f"setpoint_min {self.setpoint_min} must be below setpoint_max {self.setpoint_max}")
        if self.max_step <= 0:
            raise ValueError(f"max_step must be positive, not {self.max_step}")
        if self.min_interval_ms < MIN_INTERVAL_MS:
            raise ValueError(f"min_interval_ms {self.min_interval_ms} is below the 15-minute floor {MIN_INTERVAL_MS}")
        if self.resolution < 0 or self.resolution >= self.max_step:
            raise ValueError(f"resolution {self.resolution} must be in [0, max_step)")

    @classmethod
    def from_well(cls, config: Any) -> "SafetyLimits":
        """Limits from a well's configuration (any object with ``lift_type`` and the limit fields of its
        lift type: :class:`tb_bridge.wells.model.WellConfig` or a plain namespace)."""
        lift_type = getattr(config, "lift_type", None)
        if lift_type not in SETPOINTS:
            raise ValueError(f"no setpoint limits for lift type {lift_type!r} (expected one of {', '.join(SETPOINTS)})")
        name, low_field, high_field, default_step, resolution = SETPOINTS[lift_type]
        low, high = float(getattr(config, low_field)), float(getattr(config, high_field))
        step = getattr(config, "setpoint_max_step", None)
        step = default_step if step is None else float(step)
        interval_min = getattr(config, "setpoint_min_interval_min", None)
        interval_ms = MIN_INTERVAL_MS if interval_min is None else max(MIN_INTERVAL_MS, int(float(interval_min) * MS_PER_MIN))
        return cls(name, low, high, min(step, high - low), interval_ms, min(resolution, 0.5 * min(step, high - low)))


@dataclass(frozen=True)
class Verdict:
    """The safety layer's answer: ``allowed`` (send ``setpoint`` to the device), the setpoint (the current
    one when refused), and why (clips and refusals, readable; empty for an untouched allowed proposal)."""

    allowed: bool
    setpoint: float
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "setpoint": self.setpoint, "reasons": list(self.reasons)}


class SafetyLayer:
    """Reviews proposed setpoints against one well's :class:`SafetyLimits` (stateless: the caller keeps the
    time of the last applied change)."""

    def __init__(self, limits: SafetyLimits):
        self.limits = limits

    def review(self, current_setpoint: float, proposed_setpoint: float, now_ms: int, last_change_ms: int | None,
               predicted_violations: Sequence[str] = ()) -> Verdict:
        """Verdict on moving the setpoint from ``current_setpoint`` to ``proposed_setpoint`` at ``now_ms``
        (epoch ms); ``last_change_ms`` is when a change was last applied (None: never)."""
        lim = self.limits
        current, proposed = float(current_setpoint), float(proposed_setpoint)

        def refuse(reason: str) -> Verdict:
            return Verdict(False, current, [reason])

        if not math.isfinite(current):
            return refuse(f"current {lim.setpoint_name} is not a finite number ({current})")
        if not math.isfinite(proposed):
            return refuse(f"proposed {lim.setpoint_name} is not a finite number ({proposed})")
        if not lim.setpoint_min <= current <= lim.setpoint_max:
            return refuse(f"current {lim.setpoint_name} {current:g} is outside the limits "
                          f"[{lim.setpoint_min:g}, {lim.setpoint_max:g}]: an operator must bring it back")
        violations = [str(v) for v in predicted_violations]
        if violations:
            return Verdict(False, current, [f"refused: the lift engine predicts a constraint violation at "
                                            f"{proposed:g}: {v}" for v in violations])
        if last_change_ms is not None:
            elapsed = int(now_ms) - int(last_change_ms)
            if elapsed < 0:
                return refuse(f"refused: the last change ({int(last_change_ms)}) is later than now ({int(now_ms)})")
            if elapsed < lim.min_interval_ms:
                wait_min = (lim.min_interval_ms - elapsed) / MS_PER_MIN
                return refuse(f"refused: rate limit, last change {elapsed / MS_PER_MIN:.1f} min ago "
                              f"(at most one per {lim.min_interval_ms / MS_PER_MIN:g} min; {wait_min:.1f} min to wait)")
        reasons: list[str] = []
        target = proposed
        if target > lim.setpoint_max:
            reasons.append(f"clipped {target:g} to the maximum {lim.setpoint_name} {lim.setpoint_max:g}")
            target = lim.setpoint_max
        elif target < lim.setpoint_min:
            reasons.append(f"clipped {target:g} to the minimum {lim.setpoint_name} {lim.setpoint_min:g}")
            target = lim.setpoint_min
        if abs(target - current) > lim.max_step:
            stepped = current + math.copysign(lim.max_step, target - current)
            reasons.append(f"step {target - current:+g} limited to {stepped - current:+g} (maximum step {lim.max_step:g})")
            target = min(max(stepped, lim.setpoint_min), lim.setpoint_max)
        if abs(target - current) <= lim.resolution:
            return Verdict(False, current, reasons + [f"no change: {lim.setpoint_name} stays at {current:g}"])
        return Verdict(True, target, reasons)
