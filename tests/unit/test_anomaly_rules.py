"""Layer-2 rules on the synthetic field: each of the 24 rules fires on its own injected fault only
(diagonal confusion matrix) and every rule stays silent on healthy wells over a simulated month.

The "reference" is the fault catalogue of ``engines.fielddata.faults`` (signatures documented there
after Gibbs 2012 for SRP cards, the Baker Hughes ESP amperage-chart catalogue, Dunn 2006 for PCP and
API RP 11V5 for gas lift); the rules in ``engines.anomaly.rules`` are written independently from the
conditions an engineer reads on those charts.
"""
from __future__ import annotations

import numpy as np
import pytest

from engines.anomaly.baseline import fit_baseline
from engines.anomaly.rules import FIRE_SCORE, RULES, RULES_BY_LIFT_TYPE, down, evaluate_rules, up
from engines.fielddata import FAULTS_BY_LIFT_TYPE, LIFT_TYPES, SyntheticField

PREFIX = {"esp": "ESP", "srp": "SRP", "pcp": "PCP", "gas_lift": "GL"}
HISTORY = 864  # 3 days of 5-minute samples for the baseline
WINDOW = 72  # 6 h diagnostic window
EVAL_AFTER = 150  # evaluate 12.5 h after onset


def confusion(seed: int):
    """Rows: injected fault per lift type (+ 'none'); columns: detected rule (argmax) or 'none'."""
    faults = {f"{PREFIX[l]}-{i + 2:02d}": (f, HISTORY) for l, fs in FAULTS_BY_LIFT_TYPE.items() for i, f in enumerate(fs)}
    counts = {l: len(fs) + 1 for l, fs in FAULTS_BY_LIFT_TYPE.items()}
    field = SyntheticField(counts, seed=seed, faults=faults)
    out = []
    for lift in LIFT_TYPES:
        end = HISTORY + EVAL_AFTER
        a = field.arrays(lift, end)
        base = fit_baseline({k: v[:, :HISTORY] for k, v in a.items()})
        rules, scores, _ = evaluate_rules(lift, {k: v[:, end - WINDOW:end] for k, v in a.items()}, base)
        for w in field.wells_of(lift):
            s = scores[w.index]
            detected = rules[int(np.argmax(s))].name if s.max() >= FIRE_SCORE else "none"
            n_fired = int(np.sum(s >= FIRE_SCORE))
            out.append((lift, w.fault or "none", detected, n_fired))
    return out


def test_rule_catalogue_is_complete():
    from engines.fielddata.downhole import EVENTS

    # 24 lift rules, the 7 downhole-gauge event rules of natural flow, and the same 7 for gauged gas-lift wells
    assert len(RULES) == 24 + 2 * 7
    assert set(RULES_BY_LIFT_TYPE["natural_flow"][i].name for i in range(7)) == set(EVENTS)
    for lift, faults in FAULTS_BY_LIFT_TYPE.items():
        extra = tuple(r.name for r in RULES_BY_LIFT_TYPE["natural_flow"]) if lift == "gas_lift" else ()
        assert tuple(r.name for r in RULES_BY_LIFT_TYPE[lift]) == faults + extra
    assert {r.severity for r in RULES if r.name == "rod_part"} == {"CRITICAL"}


def test_membership_ramps():
    np.testing.assert_allclose(up([0.9, 1.0, 1.05, 1.1, 1.2], 1.0, 1.1), [0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(down([0.9, 0.8, 0.75, 0.7, 0.5], 0.8, 0.7), [0, 0, 0.5, 1, 1])


@pytest.mark.parametrize("seed", [1, 2])
def test_confusion_matrix_is_diagonal(seed):
    rows = confusion(seed)
    wrong = [(lift, fault, det) for lift, fault, det, _ in rows if det != fault]
    assert not wrong, f"misclassified: {wrong}"
    # Exactly one rule fires on each faulted well and none on the healthy ones.
    assert all(n == (0 if fault == "none" else 1) for _, fault, _, n in rows)


def test_rules_silent_on_healthy_wells_for_a_month():
    field = SyntheticField(4, seed=21)
    month = 8640
    for lift in LIFT_TYPES:
        a = field.arrays(lift, HISTORY + month)
        base = fit_baseline({k: v[:, :HISTORY] for k, v in a.items()})
        worst = 0.0
        for end in range(HISTORY + WINDOW, HISTORY + month + 1, 24):
            _, scores, _ = evaluate_rules(lift, {k: v[:, end - WINDOW:end] for k, v in a.items()}, base)
            worst = max(worst, float(scores.max()))
        assert worst < FIRE_SCORE, f"{lift}: a rule reached {worst:.3f} on a healthy well"
