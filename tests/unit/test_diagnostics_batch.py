"""The 5-minute tier's diagnostics batched per lift type (``DiagnosticsStep.run_batch``, the service's default)
against the per-well path (``Service(batch_steps=False)``, every step called once per well).

The reference is the per-well path itself: ``diagnose_window`` computes each well's row from that well's inputs
only, so the batched tier must give every well exactly (bit for bit) the attributes, ISA-18.2 alarm changes and
chart state of the per-well tier, on a mixed field with injected faults, a well whose window lacks a rule key
(a bad window: its own error, the others unaffected) and a well with missing samples (a different number of new
samples per run, i.e. its own batch group)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engines.fielddata import LIFT_TYPES, SyntheticField
from tb_bridge.buffer.base import BufferWindow
from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.config import load_settings
from tb_bridge.handlers.base import InsufficientData, WellContext
from tb_bridge.handlers.engine_steps import MIN_BASELINE_SAMPLES, diagnostics_step
from tb_bridge.history.store import HistoryStore
from tb_bridge.service import Service
from tb_bridge.wells.model import parse_well_config
from tests.doubles import RecordingWriteback

ONSET = 300
FAULTS = {"ESP-02": ("gas_lock", ONSET), "SRP-02": ("rod_part", ONSET), "PCP-02": ("sand_up", ONSET),
          "GL-02": ("separator_flooding", ONSET)}
BAD = "ESP-03"  # never reports frequency_hz, which two ESP rules read: those are skipped (issue 20: 2), the rest run
GAPPY = "PCP-03"  # misses every fifth sample after the baseline day
END, EVERY = 400, 4  # runs at samples 288, 292, ..., 400


@pytest.fixture(scope="module")
def field():
    return SyntheticField(3, seed=11, faults=FAULTS)


def _samples(field, arrays, t):
    out = []
    for lift in LIFT_TYPES:
        a = arrays[lift]
        for w in field.wells_of(lift):
            if w.name == GAPPY and t >= MIN_BASELINE_SAMPLES and t % 5 == 0:
                continue
            values = {k: float(v[w.index, t]) for k, v in a.items() if not (w.name == BAD and k == "frequency_hz")}
            out.append((w.name, field.start_ms + t * field.step_s * 1000, values))
    return out


def run_field(field, tmp_path, batch: bool):
    arrays = {lift: field.arrays(lift, END + 1) for lift in LIFT_TYPES}
    writeback = RecordingWriteback()
    url = f"sqlite:///{tmp_path}/{'batch' if batch else 'well'}.db"
    service = Service(load_settings(database_url=url), writeback, buffer=MemoryBuffer(), history=HistoryStore(url),
                      batch_steps=batch)
    for w in field.wells:
        service.registry.update(w.name, w.attributes, name=w.name)
    service.buffer.append_many(s for t in range(MIN_BASELINE_SAMPLES) for s in _samples(field, arrays, t))
    for t in range(MIN_BASELINE_SAMPLES, END + 1):
        service.buffer.append_many(_samples(field, arrays, t))
        if (t - MIN_BASELINE_SAMPLES) % EVERY == 0:
            service.run_tier("fast", field.start_ms + t * field.step_s * 1000)
    alarms = [(e.well_id, e.alarm_type, e.severity, e.state, e.ts, e.details) for e in service.history.alarm_events(limit=10_000)]
    states = {w: s["diagnostics"] for w, s in service._well_state.items() if "diagnostics" in s}
    service.close()
    return writeback.attributes, sorted(alarms, key=repr), states


def test_batched_tier_equals_the_per_well_tier(field, tmp_path):
    per_well = run_field(field, tmp_path, batch=False)
    batched = run_field(field, tmp_path, batch=True)
    attrs_w, alarms_w, states_w = per_well
    attrs_b, alarms_b, states_b = batched
    # Same writes per well in the same order (wells are run by lift type in batched mode: compare per well).
    by_well = lambda attrs: {w.name: [a for e, a in attrs if e == w.name] for w in field.wells}  # noqa: E731
    assert by_well(attrs_b) == by_well(attrs_w)
    assert alarms_b == alarms_w
    assert set(states_b) == set(states_w)
    for well, s_w in states_w.items():
        s_b = states_b[well]
        for name in ("median", "sigma", "loc", "scale", "n_samples"):
            np.testing.assert_array_equal(getattr(s_b.baseline, name), getattr(s_w.baseline, name))
        np.testing.assert_array_equal(s_b.tier_state.cusum.c_plus, s_w.tier_state.cusum.c_plus)
        np.testing.assert_array_equal(s_b.tier_state.cusum.c_minus, s_w.tier_state.cusum.c_minus)
        np.testing.assert_array_equal(s_b.tier_state.ewma.z, s_w.tier_state.ewma.z)
        assert (s_b.last_ts_ms, s_b.anomaly_spans) == (s_w.last_ts_ms, s_w.anomaly_spans)

    # ... and the comparison is not vacuous: faults found, alarms raised, the bad well isolated.
    last = {w.name: [a for e, a in attrs_b if e == w.name][-1] for w in field.wells}
    for name, (fault, _) in FAULTS.items():
        assert last[name]["opt_anomaly_type"] == fault and last[name]["opt_status"] == "ok"
    assert {(w, t) for w, t, _, state, _, _ in alarms_b if state == "UNACK"} >= {(n, f) for n, (f, _) in FAULTS.items()}
    assert last[BAD]["opt_status"] == "ok" and last[BAD]["opt_anomaly_type"] == "none"
    assert ("skipped rule pump_wear (needs frequency_hz); rule electrical_fault (needs frequency_hz)"
            in last[BAD]["opt_status_detail"])
    assert "opt_monitor_points" in last[BAD]
    healthy = [w.name for w in field.wells if w.name not in FAULTS and w.name != BAD]
    assert all(last[n]["opt_status"] == "ok" and last[n]["opt_anomaly_type"] == "none" for n in healthy)
    assert states_b[GAPPY].last_ts_ms == field.start_ms + (END - 1) * field.step_s * 1000  # sample 400 was missed


def _contexts(field, n_steps=MIN_BASELINE_SAMPLES + 12):
    arrays = {lift: field.arrays(lift, n_steps) for lift in LIFT_TYPES}
    ts = field.start_ms + np.arange(n_steps) * field.step_s * 1000
    contexts = []
    for w in field.wells_of("esp"):
        config = parse_well_config(w.name, w.name, w.attributes)
        window = BufferWindow(ts, {k: v[w.index].copy() for k, v in arrays["esp"].items()})
        contexts.append(WellContext(config=config, window=window, now_ms=int(ts[-1]), tier="fast"))
    return contexts


def test_one_bad_input_in_a_batch_group_fails_only_its_well(field):
    contexts = _contexts(field)
    # A configuration that bypassed validation (no nameplate current): the same group as the others, but the
    # health score's nameplate check cannot read it.
    bad = contexts[1]
    contexts[1] = replace(bad, config=bad.config.model_copy(update={"motor_current_a": None}))
    reference = [_contexts(field)[i] for i in range(3)]
    outcomes = diagnostics_step.run_batch(contexts)
    assert isinstance(outcomes["ESP-02"], TypeError)
    with pytest.raises(TypeError):
        diagnostics_step(replace(contexts[1], state={}))
    for i in (0, 2):
        name = contexts[i].config.entity_id
        assert outcomes[name].attributes == diagnostics_step(reference[i]).attributes
    # a well without enough samples for its first baseline waits, in the batch as alone
    short = replace(reference[0], window=BufferWindow(reference[0].window.ts_ms[:100],
                                                      {k: v[:100] for k, v in reference[0].window.values.items()}),
                    state={})
    (outcome,) = diagnostics_step.run_batch([short]).values()
    assert isinstance(outcome, InsufficientData) and "100 of 288 samples" in str(outcome)


def test_simulated_keys_never_reach_the_baseline(field):
    (context, *_) = _contexts(field)
    window = context.window
    values = dict(window.values, sim_flow_rate_bpd=np.full(window.ts_ms.shape, 1.0e6))
    context = replace(context, window=BufferWindow(window.ts_ms, values))
    diagnostics_step(context)
    assert "sim_flow_rate_bpd" not in context.state["diagnostics"].baseline.keys


def test_isolation_forest_fallback_for_wells_without_a_baseline():
    """A well newer than a day has no baseline: the field's forest (trained by the daily field step on the
    same-lift-type wells' buffered day) scores its window, the same way per well and batched."""
    from tb_bridge.handlers.engine_steps import FOREST_MIN_WELLS, DiagnosticsStep

    field = SyntheticField({"srp": 14}, seed=8, faults={"SRP-13": ("rod_part", 0)})
    arrays = field.arrays("srp", MIN_BASELINE_SAMPLES)
    ts = field.start_ms + np.arange(MIN_BASELINE_SAMPLES, dtype=np.int64) * field.step_s * 1000

    shared: dict = {}  # the service's field_state of the srp wells

    def context(w, first=0, field_state=shared):
        window = BufferWindow(ts[first:], {k: v[w.index, first:].copy() for k, v in arrays.items()})
        return WellContext(config=parse_well_config(w.name, w.name, w.attributes), window=window, now_ms=int(ts[-1]),
                           tier="fast", state={}, field_state=field_state)

    old, new = field.wells_of("srp")[:12], field.wells_of("srp")[12:]
    step = DiagnosticsStep()
    with pytest.raises(InsufficientData, match=f"7 of {FOREST_MIN_WELLS} srp wells with a clean buffered day"):
        step.train_field_models([context(w) for w in old[:7]])
    assert step.train_field_models([context(w) for w in old]) == {}
    forest = shared["diagnostics"]["forest"]
    assert forest.lift_type == "srp" and shared["diagnostics"]["pca"] is None  # no well had a baseline yet
    newest = MIN_BASELINE_SAMPLES - 100  # the new wells have 100 samples (8 h 20 min)
    per_well = {w.name: step(context(w, newest)) for w in new}
    batched = step.run_batch([context(w, newest) for w in new])
    assert {n: o.attributes for n, o in batched.items()} == {n: o.attributes for n, o in per_well.items()}
    faulty, healthy = per_well["SRP-13"], per_well["SRP-14"]
    assert faulty.attributes["opt_anomaly_type"] == "multivariate_outlier" and faulty.attributes["opt_anomaly_detected"]
    assert faulty.attributes["opt_anomaly_score"] > forest.threshold
    assert healthy.attributes["opt_anomaly_type"] == "none"
    assert "100 of 288 samples needed for a first baseline; Isolation-Forest fallback" in healthy.waiting[0]
    # without a forest (another service, another field) a new well still waits
    with pytest.raises(InsufficientData, match="100 of 288"):
        DiagnosticsStep()(context(new[0], newest, field_state={}))


def test_pca_monitor_of_the_lift_type_names_a_single_key_shift():
    """The daily field step fits the lift type's PCA monitor on the window medians of the baseline-standardized
    keys of its wells' clean windows; the fast tier then charts T^2 / SPE and, for a well whose water cut moved
    by 2 baseline sigmas (below every rule threshold), the CUSUM signal's evidence names the largest contributor."""
    from tb_bridge.handlers.engine_steps import DIAGNOSTIC_WINDOW_SAMPLES, DiagnosticsStep

    field = SyntheticField({"esp": 12}, seed=5)
    n = MIN_BASELINE_SAMPLES + 2 * DIAGNOSTIC_WINDOW_SAMPLES
    arrays = field.arrays("esp", n)
    ts = field.start_ms + np.arange(n, dtype=np.int64) * field.step_s * 1000
    step, states, shared = DiagnosticsStep(), {w.name: {} for w in field.wells}, {}

    def context(w, end, shift=0.0):
        values = {k: v[w.index, :end].copy() for k, v in arrays.items()}
        values["water_cut_frac"][-DIAGNOSTIC_WINDOW_SAMPLES:] += shift
        return WellContext(config=parse_well_config(w.name, w.name, w.attributes),
                           window=BufferWindow(ts[:end], values), now_ms=int(ts[end - 1]), tier="fast",
                           state=states[w.name], field_state=shared)

    for w in field.wells:
        step(context(w, MIN_BASELINE_SAMPLES + DIAGNOSTIC_WINDOW_SAMPLES))  # first baseline, one diagnosis
    step.train_field_models([context(w, MIN_BASELINE_SAMPLES + DIAGNOSTIC_WINDOW_SAMPLES) for w in field.wells])
    pca = shared["diagnostics"]["pca"]
    assert pca.n_train == 12 * 4 and pca.keys[0] == "flow_rate_bpd" and pca.confidence == 0.99
    shifted = field.wells[0]
    sd = states[shifted.name]["diagnostics"].baseline.scale[0, states[shifted.name]["diagnostics"].baseline.column("water_cut_frac")]
    saved = {name: (st["diagnostics"].tier_state, st["diagnostics"].last_ts_ms) for name, st in states.items()}
    per_well = {w.name: step(context(w, n, 2.0 * sd if w is shifted else 0.0)).attributes for w in field.wells}
    for name, (tier_state, last_ts) in saved.items():  # rewind, then the same run batched
        states[name]["diagnostics"].tier_state, states[name]["diagnostics"].last_ts_ms = tier_state, last_ts
    batched = step.run_batch([context(w, n, 2.0 * sd if w is shifted else 0.0) for w in field.wells])
    assert {k: o.attributes for k, o in batched.items()} == per_well
    out = per_well[shifted.name]
    assert out["opt_anomaly_type"] == "statistical_deviation"
    assert out["opt_spc_t2"] > pca.t2_limit or out["opt_spc_spe"] > pca.spe_limit
    assert {"pca_top_contributor": "water_cut_frac"} in out["opt_anomaly_evidence"]
    others = [per_well[w.name] for w in field.wells[1:]]
    assert all(o["opt_spc_t2"] is not None for o in others)
    assert sum(o["opt_spc_t2"] > pca.t2_limit for o in others) <= 1  # 1 % false-alarm rate: 11 wells, at most one


def _daily_then_fast(tmp_path, batch: bool):
    field = SyntheticField({"esp": 10}, seed=21)
    arrays = field.arrays("esp", 300)
    writeback = RecordingWriteback()
    url = f"sqlite:///{tmp_path}/daily_{batch}.db"
    service = Service(load_settings(database_url=url), writeback, buffer=MemoryBuffer(), history=HistoryStore(url),
                      batch_steps=batch)
    for w in field.wells:
        service.registry.update(w.name, w.attributes, name=w.name)
    late = field.well("ESP-10")  # connected 200 samples after the others: no baseline by the end
    at = lambda t: field.start_ms + t * field.step_s * 1000  # noqa: E731
    for t in range(300):
        service.buffer.append_many((w.name, at(t), {k: float(v[w.index, t]) for k, v in arrays.items()})
                                   for w in field.wells if w is not late or t >= 200)
        if t in (287, 292, 296, 299):
            service.run_tier("fast", at(t))
        if t == 290:
            service.run_tier("daily", at(t))
    service.close()
    return {w.name: [a for e, a in writeback.attributes if e == w.name and a.get("opt_last_tier") == "fast"][-1]
            for w in field.wells}


def test_daily_field_models_reach_the_fast_tier_through_the_service(tmp_path):
    """The daily tier's field step fits the ESP wells' PCA monitor and Isolation Forest in the service's
    field state; the next fast runs chart T^2 / SPE for the wells with a baseline and score the late well
    with the forest, the same in both paths."""
    batched, per_well = _daily_then_fast(tmp_path, True), _daily_then_fast(tmp_path, False)
    assert batched == per_well
    assert all(batched[f"ESP-{i:02d}"]["opt_spc_t2"] is not None for i in range(1, 10))
    # the 9 wells with a baseline at the daily run fitted the field monitor (the late well had 91 samples)
    assert all(batched[f"ESP-{i:02d}"]["opt_status_detail"] == "diagnostics_step: T^2/SPE from the field PCA (9 wells)"
               for i in range(1, 10))
    late = batched["ESP-10"]
    assert late["opt_status"] == "insufficient_data" and "Isolation-Forest fallback" in late["opt_status_detail"]
    assert late["opt_anomaly_type"] in ("none", "multivariate_outlier") and "opt_spc_t2" not in late  # None: not written
