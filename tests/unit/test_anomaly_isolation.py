"""Isolation-Forest fallback (no baseline yet): trained on the field's wells of one lift type, a well
with a strong fault signature gets the highest score, above the 0.6 threshold; s > 0.5 means
shorter-than-average isolation paths (Liu, Ting & Zhou 2008, eq. 2)."""
from __future__ import annotations

import numpy as np
import pytest

from engines.anomaly.isolation import DEFAULT_THRESHOLD, fit_field_forest
from engines.fielddata import SyntheticField

PREFIX = {"esp": "ESP", "srp": "SRP", "pcp": "PCP", "gas_lift": "GL"}
STRONG = [("esp", "gas_lock"), ("esp", "electrical_fault"), ("esp", "mechanical_imbalance"), ("srp", "rod_part"),
          ("srp", "gas_lock"), ("srp", "fluid_pound"), ("pcp", "torque_spike"), ("pcp", "motor_overload"),
          ("gas_lift", "casing_heading"), ("gas_lift", "separator_flooding")]


@pytest.mark.parametrize("lift,fault", STRONG)
def test_faulty_well_without_baseline_scores_highest(lift, fault):
    field = SyntheticField({lift: 30}, seed=8, faults={f"{PREFIX[lift]}-07": (fault, 0)})
    a = field.arrays(lift, 21 * 72)
    windows = [{k: v[:, s:s + 72] for k, v in a.items()} for s in range(0, 20 * 72, 72)]
    forest = fit_field_forest(lift, windows, seed=0, n_estimators=100)
    score = forest.score({k: v[:, -72:] for k, v in a.items()})
    faulty = field.well(f"{PREFIX[lift]}-07").index
    assert int(np.argmax(score)) == faulty
    assert score[faulty] > DEFAULT_THRESHOLD
    assert 0.0 < score.min() and score.max() < 1.0
