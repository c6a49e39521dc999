"""The safety layer (engines.optimize.safety): rules one by one, and property tests that no sequence of
proposals, however adversarial, leaves the limits, steps above the maximum or changes twice in 15 min."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from engines.optimize.safety import MIN_INTERVAL_MS, SafetyLayer, SafetyLimits, Verdict

MIN = 60_000
ESP = SimpleNamespace(lift_type="esp", frequency_min_hz=35.0, frequency_max_hz=65.0)


def layer() -> SafetyLayer:
    return SafetyLayer(SafetyLimits.from_well(ESP))


def test_limits_from_well_per_lift_type():
    assert SafetyLimits.from_well(ESP) == SafetyLimits("frequency_hz", 35.0, 65.0, 2.0, MIN_INTERVAL_MS, 0.05)
    srp = SafetyLimits.from_well(SimpleNamespace(lift_type="srp", spm_min=4.0, spm_max=12.0, setpoint_max_step=0.5))
    assert (srp.setpoint_name, srp.setpoint_min, srp.setpoint_max, srp.max_step) == ("spm", 4.0, 12.0, 0.5)
    pcp = SafetyLimits.from_well(SimpleNamespace(lift_type="pcp", rpm_min=50.0, rpm_max=60.0))
    assert pcp.max_step == 10.0  # the default 25 rpm is capped at the span
    gl = SafetyLimits.from_well(SimpleNamespace(lift_type="gas_lift", injection_min_mscfd=0.0, injection_max_mscfd=900.0,
                                                setpoint_min_interval_min=5))
    assert gl.min_interval_ms == MIN_INTERVAL_MS  # configuration may not shorten the 15 minutes
    with pytest.raises(ValueError, match="lift type"):
        SafetyLimits.from_well(SimpleNamespace(lift_type="natural_flow"))
    with pytest.raises(ValueError, match="15-minute"):
        SafetyLimits("x", 0.0, 1.0, 0.5, min_interval_ms=MIN_INTERVAL_MS - 1)


def test_rules():
    s = layer()
    assert s.review(50.0, 51.5, 0, None) == Verdict(True, 51.5, [])
    v = s.review(50.0, 80.0, 0, None)  # clipped to the maximum, then to one step
    assert v.allowed and v.setpoint == 52.0 and len(v.reasons) == 2
    v = s.review(64.0, 99.0, 0, None)
    assert v.allowed and v.setpoint == 65.0
    v = s.review(50.0, 40.0, 0, None, ["intake pressure 90 psi below the minimum 150 psi"])
    assert not v.allowed and v.setpoint == 50.0 and "constraint violation" in v.reasons[0]
    v = s.review(50.0, 51.0, 10 * MIN, 0)
    assert not v.allowed and v.setpoint == 50.0 and "rate limit" in v.reasons[0]
    assert s.review(50.0, 51.0, 15 * MIN, 0).allowed
    assert not s.review(50.0, 51.0, 0, 15 * MIN).allowed  # clock running backwards
    assert not s.review(50.0, math.nan, 0, None).allowed
    assert not s.review(50.0, math.inf, 0, None).allowed
    assert not s.review(70.0, 64.0, 0, None).allowed  # never steps from outside the limits
    v = s.review(50.0, 50.01, 0, None)
    assert not v.allowed and v.reasons[-1].startswith("no change")


proposal = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e3, 1e3), st.sampled_from([35.0, 65.0]))
step = st.tuples(proposal, st.integers(0, 40 * MIN), st.lists(st.sampled_from(["", "torque"]), max_size=1))
EXAMPLES = 2000


@settings(max_examples=EXAMPLES, deadline=None)
@given(limits=st.tuples(st.floats(-1e3, 1e3), st.floats(1e-3, 1e3), st.floats(1e-3, 2e3)),
       start=st.floats(0, 1), actions=st.lists(step, min_size=1, max_size=60))
def test_no_sequence_leaves_the_limits(limits, start, actions):
    low, span, max_step = limits
    lim = SafetyLimits("x", low, low + span, min(max_step, span), resolution=0.0)
    s = SafetyLayer(lim)
    current, now, last = low + start * span, 0, None
    current = min(max(current, lim.setpoint_min), lim.setpoint_max)
    changes = []
    for value, dt, violations in actions:
        now += dt
        verdict = s.review(current, value, now, last, [v for v in violations if v])
        if not verdict.allowed:
            assert verdict.setpoint == current
            continue
        assert lim.setpoint_min <= verdict.setpoint <= lim.setpoint_max
        assert abs(verdict.setpoint - current) <= lim.max_step * (1 + 1e-12) + 1e-12
        assert not violations or violations == [""]
        changes.append(now)
        current, last = verdict.setpoint, now
    assert all(b - a >= MIN_INTERVAL_MS for a, b in zip(changes, changes[1:]))
