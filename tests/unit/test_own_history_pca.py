"""Small fields (issue 18: 4): below ``FOREST_MIN_WELLS`` wells of a lift type there is no field PCA monitor, so
each well charts T^2 / SPE from a PCA monitor fitted on its own baseline window (the first day of its telemetry).

Reference: an independent PCA of the raw baseline samples (column mean and sample standard deviation, numpy
SVD, eigenvalues s^2 / (n - 1), the fewest components explaining 90 % of the variance), T^2 = sum t_a^2 / lambda_a
and SPE = ||x - P P^T x||^2 of the newest sample, and the T^2 limit a (n - 1)(n + 1) / (n (n - a)) F_0.99(a, n - a)
(Tracy, Young & Mason 1992)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from scipy import stats

from engines.anomaly.diagnosis import MONITORED_KEYS
from engines.fielddata import SyntheticField
from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.config import load_settings
from tb_bridge.handlers.engine_steps import FOREST_MIN_WELLS, MIN_BASELINE_SAMPLES
from tb_bridge.history.store import HistoryStore
from tb_bridge.service import Service
from tests.doubles import RecordingWriteback

START = datetime(2026, 3, 2, tzinfo=timezone.utc)
START_MS = int(START.timestamp() * 1000)
STEP_MS = 300_000
DAY = 288
ONSET = DAY + DAY // 2  # pump wear from noon of day 2 (full after its 24-sample ramp)
FAULTY = "ESP-03"
KEYS = MONITORED_KEYS["esp"]


class _Independent:
    """PCA of one well's baseline window by SVD, written out without ``engines.spc.pca``."""

    def __init__(self, x: np.ndarray, variance: float = 0.9, confidence: float = 0.99):
        n, _ = x.shape
        self.mean, self.sd = x.mean(axis=0), x.std(axis=0, ddof=1)
        _, s, vt = np.linalg.svd((x - self.mean) / self.sd, full_matrices=False)
        lam = s**2 / (n - 1)
        share = np.cumsum(lam) / lam.sum()
        a = next(i + 1 for i, c in enumerate(share) if c >= variance)
        self.p, self.lam, self.a = vt[:a].T, lam[:a], a
        self.t2_limit = a * (n - 1) * (n + 1) / (n * (n - a)) * stats.f.ppf(confidence, a, n - a)

    def t2_spe(self, sample: np.ndarray) -> tuple[float, float]:
        xs = (sample - self.mean) / self.sd
        t = xs @ self.p
        return float(np.sum(t**2 / self.lam)), float(np.sum((xs - t @ self.p.T) ** 2))


@pytest.fixture(scope="module")
def small_field(tmp_path_factory):
    """Three ESP wells for two simulated days on the production schedule of the fast and daily tiers; the
    unrounded T^2 / SPE of every well's latest diagnosis are read at the end of each 6-hour chunk of day 2."""
    assert 3 < FOREST_MIN_WELLS
    field = SyntheticField({"esp": 3}, seed=7, start_ms=START_MS, faults={FAULTY: ("pump_wear", ONSET)})
    arrays = field.arrays("esp", 2 * DAY)
    url = f"sqlite:///{tmp_path_factory.mktemp('own_pca')}/h.db"
    writeback = RecordingWriteback()
    service = Service(load_settings(database_url=url, scheduler={"enabled_tiers": ["fast", "daily"]}), writeback,
                      buffer=MemoryBuffer(), history=HistoryStore(url))
    for w in field.wells:
        service.registry.update(w.name, w.attributes, name=w.name)

    def stream(now: datetime) -> None:
        t = (int(now.timestamp() * 1000) - START_MS) // STEP_MS
        service.buffer.append_many((w.name, START_MS + t * STEP_MS, {k: float(v[w.index, t]) for k, v in arrays.items()})
                                   for w in field.wells)

    checkpoints: dict[int, dict[str, tuple[float, float]]] = {}  # step -> {well: (T^2, SPE)} unrounded
    service.scheduler.simulate(START, START + timedelta(days=1), before_tick=stream)
    for chunk in range(4):
        begin = START + timedelta(days=1, hours=6 * chunk)
        service.scheduler.simulate(begin, begin + timedelta(hours=6), before_tick=stream)
        step = DAY + (chunk + 1) * DAY // 4 - 1
        checkpoints[step] = {w.name: (float(service._well_state[w.name]["diagnostics"].last_result.spc_t2[0]),
                                      float(service._well_state[w.name]["diagnostics"].last_result.spc_spe[0]))
                             for w in field.wells}
    monitors = {w.name: service._well_state[w.name]["diagnostics"].own_pca for w in field.wells}
    service.close()
    return field, arrays, writeback, checkpoints, monitors


def _series(writeback, well, key):
    """{step: value} of the time-series points of ``key`` written for ``well``."""
    return {(ts - START_MS) // STEP_MS: p[key] for e, points in writeback.timeseries if e == well
            for ts, p in points if key in p}


def test_every_well_of_a_small_field_charts_t2_from_its_second_day(small_field):
    field, _, writeback, _, _ = small_field
    for w in field.wells:
        t2, spe = _series(writeback, w.name, "opt_spc_t2"), _series(writeback, w.name, "opt_spc_spe")
        # the first baseline (and the own-history monitor) needs a day of samples: the run at sample 287
        # (23:55 of day 1) is the first with T^2, then every 5-minute run of day 2 has one
        assert sorted(t2) == sorted(spe) == list(range(MIN_BASELINE_SAMPLES - 1, 2 * DAY))
        fast = [a for e, a in writeback.attributes if e == w.name and a.get("opt_last_tier") == "fast"]
        assert len(fast) == 2 * DAY
        with_t2 = [a for a in fast if "opt_spc_t2" in a]
        assert len(with_t2) == DAY + 1
        assert all(a["opt_status_detail"] == "diagnostics_step: T^2/SPE from the own-history PCA (288 samples)"
                   and a["opt_status"] == "ok" for a in with_t2)
        assert not any("field PCA" in a["opt_status_detail"] for a in fast)


def test_own_history_t2_and_spe_equal_an_independent_pca_of_the_baseline_window(small_field):
    field, arrays, writeback, checkpoints, monitors = small_field
    for w in field.wells:
        sample = lambda t: np.array([arrays[k][w.index, t] for k in KEYS])  # noqa: E731
        ref = _Independent(np.stack([arrays[k][w.index, :DAY] for k in KEYS], axis=1))
        monitor = monitors[w.name]
        assert monitor.n_train == DAY and monitor.loadings.shape[1] == ref.a
        assert monitor.t2_limit == pytest.approx(ref.t2_limit, rel=1e-12)
        for step, by_well in checkpoints.items():  # unrounded, from the well's latest diagnosis
            t2, spe = ref.t2_spe(sample(step))
            assert by_well[w.name][0] == pytest.approx(t2, rel=1e-9)
            assert by_well[w.name][1] == pytest.approx(spe, rel=1e-9)
        written_t2, written_spe = _series(writeback, w.name, "opt_spc_t2"), _series(writeback, w.name, "opt_spc_spe")
        for step in written_t2:  # every written point: the same statistics, rounded to 3 decimals
            t2, spe = ref.t2_spe(sample(step))
            assert written_t2[step] == pytest.approx(t2, abs=5.1e-4)
            assert written_spe[step] == pytest.approx(spe, abs=5.1e-4)


def test_an_injected_fault_raises_t2_above_its_control_limit(small_field):
    field, _, writeback, _, monitors = small_field
    t2 = {w.name: _series(writeback, w.name, "opt_spc_t2") for w in field.wells}
    limit = {name: m.t2_limit for name, m in monitors.items()}
    full = ONSET + 24  # pump wear at full severity
    after = [t2[FAULTY][s] for s in range(full, 2 * DAY)]
    assert min(after) > limit[FAULTY]
    # before the fault, and on the healthy wells all day, the 99 % limit is crossed by few single samples
    before = [t2[FAULTY][s] for s in range(DAY, ONSET)]
    assert np.mean(np.array(before) > limit[FAULTY]) < 0.05
    for w in field.wells:
        if w.name != FAULTY:
            assert np.mean(np.array([t2[w.name][s] for s in range(DAY, 2 * DAY)]) > limit[w.name]) < 0.05
