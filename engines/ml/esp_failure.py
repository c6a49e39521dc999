"""ESP failure within 30 days: XGBoost classifier on degradation trends, isotonic calibration and the
evaluation figures of issue 22: 3 (ROC-AUC, PR-AUC, Brier score, recall at 1 false alarm per well-year).

**Features** (per well and day, from daily means): for motor current, motor temperature, vibration and intake
pressure, the 7-day mean relative to the run's baseline (mean of its first 14 days on stream), the 7- and
30-day least-squares slopes relative to the baseline (1/d, windows inside the run), and the 7-day
coefficient of variation; and the hours since the workover (the last shut-in in the record, or the record's
start when it has none; capped at 180 days, the service's history window, so training and service see the
same quantity). Only days on stream are scored.

**Label**: the pump fails within the next 30 days (``0 <= days to failure <= 30``). Days whose 30-day window
runs past the end of the record without a failure are unlabelled (censored) and left out.

**Splits** are by time, over all wells at once: training days, then calibration days, then test days, with
a 30-day purge before each boundary so no label looks into the next period. The booster (``binary:logistic``)
is fitted on the training days, the isotonic map (Zadrozny & Elkan 2002) on the calibration days' raw
scores, and every figure is measured on the test days.

**Recall at 1 false alarm per well-year**: a well alarms on the days its calibrated probability is at or
above a threshold; consecutive alarm days form one alarm. An alarm with no failure within 30 days of any of
its days is false. The threshold is the lowest at which the test period's false alarms per well-year
(on-stream days / 365) are at most 1; recall is the share of the test period's failures with at least one
alarm day in the 30 days before them (the failure day itself does not count).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

HORIZON_DAYS = 30
BASELINE_DAYS = 14
MAX_HOURS_SINCE_WORKOVER = 180 * 24.0
SIGNALS: tuple[str, ...] = ("motor_current_a", "motor_temperature_f", "vibration_g", "intake_pressure_psi")
FEATURES: tuple[str, ...] = tuple(f"{s}_{k}" for s in SIGNALS for k in ("rel7", "slope7", "slope30", "cv7")) + (
    "hours_since_workover",)
MAX_TREES = 2_000


@dataclass(frozen=True)
class EspDailySeries:
    """One ESP well's daily means (equal-length arrays): the four signals (``SIGNALS`` order) and ``running``
    (pump on stream that day)."""

    signals: dict
    running: np.ndarray


def _window_slope(x: np.ndarray, k: int, start: np.ndarray) -> np.ndarray:
    """Least-squares slope of x over [max(t-k+1, start[t]), t] for each t (NaN with fewer than 3 points)."""
    n = x.size
    t = np.arange(n, dtype=float)
    c = lambda v: np.concatenate([[0.0], np.cumsum(v)])  # noqa: E731
    s1, sx, st, stt, stx = c(np.ones(n)), c(x), c(t), c(t * t), c(t * x)
    lo = np.maximum(np.arange(n) - k + 1, start)
    hi = np.arange(n) + 1
    m = s1[hi] - s1[lo]
    sxw, stw, sttw, stxw = sx[hi] - sx[lo], st[hi] - st[lo], stt[hi] - stt[lo], stx[hi] - stx[lo]
    den = m * sttw - stw * stw
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((m >= 3) & (den > 0), (m * stxw - stw * sxw) / den, np.nan)


def _window_mean(x: np.ndarray, k: int, start: np.ndarray, square: bool = False) -> np.ndarray:
    n = x.size
    v = x * x if square else x
    c = np.concatenate([[0.0], np.cumsum(v)])
    lo = np.maximum(np.arange(n) - k + 1, start)
    hi = np.arange(n) + 1
    return (c[hi] - c[lo]) / np.maximum(hi - lo, 1)


def _fill(x: np.ndarray) -> np.ndarray:
    """NaN -> the last finite value before it, or the first finite value for leading NaNs."""
    ok = np.isfinite(x)
    idx = np.where(ok, np.arange(x.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    first = int(np.argmax(ok))
    out[:first] = x[first]
    return out


def failure_features(s: EspDailySeries) -> np.ndarray:
    """(n_days, len(FEATURES)) features; NaN rows on shut-in days."""
    run = np.asarray(s.running, bool)
    n = run.size
    # start of the run each day belongs to: the day after the last shut-in (0 when none in the record)
    last_off = np.where(~run, np.arange(n), -1)
    np.maximum.accumulate(last_off, out=last_off)
    start = last_off + 1
    out = np.full((n, len(FEATURES)), np.nan)
    t = np.arange(n)
    for j, key in enumerate(SIGNALS):
        raw = np.asarray(s.signals[key], float)
        if not np.isfinite(raw[run]).any():
            continue  # the signal is absent: its features stay NaN
        x = _fill(np.where(run, raw, np.nan))  # a missing day carries its neighbour's value
        x = np.where(run, x, 0.0)
        c = np.concatenate([[0.0], np.cumsum(x)])
        b_hi = np.minimum(t, start + BASELINE_DAYS - 1) + 1
        base = (c[b_hi] - c[start]) / np.maximum(b_hi - start, 1)
        m7 = _window_mean(x, 7, start)
        sq7 = _window_mean(x, 7, start, square=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = np.abs(base) > 1e-9
            out[:, 4 * j] = np.where(ok, m7 / base - 1.0, np.nan)
            out[:, 4 * j + 1] = np.where(ok, _window_slope(x, 7, start) / base, np.nan)
            out[:, 4 * j + 2] = np.where(ok, _window_slope(x, 30, start) / base, np.nan)
            out[:, 4 * j + 3] = np.where(m7 > 1e-9, np.sqrt(np.maximum(sq7 - m7 * m7, 0.0)) / m7, np.nan)
    out[:, -1] = np.minimum((t - start + 1) * 24.0, MAX_HOURS_SINCE_WORKOVER)
    out[~run] = np.nan
    return out


def labels(days_to_failure: np.ndarray, running: np.ndarray, n_days: int) -> np.ndarray:
    """1 / 0 / NaN (censored or shut in) for "fails within 30 days"."""
    d = np.asarray(days_to_failure, float)
    y = np.where(d <= HORIZON_DAYS, 1.0, 0.0)
    censored = (~np.isfinite(d)) & (np.arange(d.shape[-1]) > n_days - 1 - HORIZON_DAYS)
    return np.where(running & ~censored, y, np.nan)


@dataclass
class FailureModel:
    """Booster (JSON) and the isotonic map (x, y knots) from raw score to calibrated probability."""

    booster_json: bytes
    iso_x: np.ndarray
    iso_y: np.ndarray
    meta: dict = field(default_factory=dict)
    _booster: object = field(default=None, repr=False, compare=False)

    def raw(self, X: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        if self._booster is None:
            b = xgb.Booster()
            b.load_model(bytearray(self.booster_json))
            self._booster = b
        return self._booster.predict(xgb.DMatrix(X, feature_names=list(FEATURES)))

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return np.interp(raw, self.iso_x, self.iso_y)

    def probability(self, X: np.ndarray) -> np.ndarray:
        return self.calibrate(self.raw(X))

    def to_bytes(self) -> bytes:
        return json.dumps({"format": "atilax-esp-failure/1", "booster": self.booster_json.decode(),
                           "iso_x": self.iso_x.tolist(), "iso_y": self.iso_y.tolist(), "meta": self.meta},
                          sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "FailureModel":
        d = json.loads(data)
        if d.get("format") != "atilax-esp-failure/1":
            raise ValueError(f"not an ESP failure model (format {d.get('format')!r})")
        return cls(d["booster"].encode(), np.asarray(d["iso_x"]), np.asarray(d["iso_y"]), d["meta"])


@dataclass(frozen=True)
class LabelledDays:
    """Feature rows of every (well, day): ``X`` (n_wells, n_days, F), ``y`` (n_wells, n_days) with NaN unlabelled,
    ``days_to_failure`` and ``failures`` ``(well, day, mode)``."""

    X: np.ndarray
    y: np.ndarray
    days_to_failure: np.ndarray
    failures: tuple


def labelled_days(history) -> LabelledDays:
    """From an :class:`engines.fielddata.degradation.RunToFailureHistory`."""
    X = np.stack([failure_features(EspDailySeries({k: history.values[k][w] for k in SIGNALS}, history.running[w]))
                  for w in range(history.n_wells)])
    dtf = history.days_to_failure()
    return LabelledDays(X, labels(dtf, history.running, history.n_days), dtf, tuple(history.failures))


def _rows(data: LabelledDays, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    X = data.X[:, lo:hi].reshape(-1, data.X.shape[-1])
    y = data.y[:, lo:hi].reshape(-1)
    ok = np.isfinite(y)
    return X[ok], y[ok]


def fit_failure_model(data: LabelledDays, *, train_end: int, calibration_end: int, trees: int = 300,
                      seed: int = 0) -> FailureModel:
    """Booster on days [0, train_end - 30), isotonic map on [train_end, calibration_end - 30)."""
    import xgboost as xgb
    from sklearn.isotonic import IsotonicRegression

    if not 1 <= trees <= MAX_TREES:
        raise ValueError(f"trees must be in [1, {MAX_TREES}]")
    X, y = _rows(data, 0, train_end - HORIZON_DAYS)
    Xc, yc = _rows(data, train_end, calibration_end - HORIZON_DAYS)
    if y.sum() < 5 or yc.sum() < 3 or (yc == 0).sum() < 3:
        raise ValueError(f"too few failures to train ({int(y.sum())} positive training days, "
                         f"{int(yc.sum())} positive calibration days)")
    params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.05, "subsample": 0.8,
              "colsample_bytree": 0.8, "min_child_weight": 5, "seed": seed, "nthread": 1, "tree_method": "hist",
              "eval_metric": "logloss"}
    booster = xgb.train(params, xgb.DMatrix(X, y, feature_names=list(FEATURES)), num_boost_round=trees)
    raw_c = booster.predict(xgb.DMatrix(Xc, feature_names=list(FEATURES)))
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw_c, yc)
    meta = {"trees": trees, "seed": seed, "train_days": [0, train_end - HORIZON_DAYS],
            "calibration_days": [train_end, calibration_end - HORIZON_DAYS], "train_rows": int(y.size),
            "train_positive": int(y.sum()), "calibration_rows": int(yc.size), "calibration_positive": int(yc.sum()),
            "features": list(FEATURES), "calibration": "isotonic"}
    return FailureModel(bytes(booster.save_raw("json")), np.asarray(iso.X_thresholds_, float),
                        np.asarray(iso.y_thresholds_, float), meta, booster)


def recall_at_false_alarm_rate(p: np.ndarray, data: LabelledDays, lo: int, hi: int, *,
                               false_alarms_per_well_year: float = 1.0) -> dict:
    """See the module docstring. ``p``: (n_wells, hi - lo) probabilities (NaN off stream)."""
    y = data.y[:, lo:hi]
    dtf = data.days_to_failure[:, lo:hi]
    on = np.isfinite(p)
    well_years = float(on.sum()) / 365.0
    fails = [(w, d) for w, d, _ in data.failures if lo <= d < hi]
    best = {"threshold": None, "recall": 0.0, "false_alarms_per_well_year": 0.0, "failures": len(fails)}
    candidates = np.unique(np.round(p[on], 4))[::-1]
    if candidates.size > 400:
        candidates = np.unique(np.quantile(p[on], np.linspace(0.5, 1.0, 400)))[::-1]
    for thr in candidates:
        alarm = on & (p >= thr)
        starts = alarm & ~np.concatenate([np.zeros((alarm.shape[0], 1), bool), alarm[:, :-1]], axis=1)
        episode = np.cumsum(starts, axis=1)  # episode id per well
        false = 0
        for w in range(alarm.shape[0]):
            ids = episode[w][alarm[w]]
            if ids.size == 0:
                continue
            true_ids = np.unique(ids[(y[w][alarm[w]] == 1) | (dtf[w][alarm[w]] <= HORIZON_DAYS)])
            false += np.unique(ids).size - true_ids.size
        rate = false / max(well_years, 1e-9)
        if rate > false_alarms_per_well_year:
            break
        hit = sum(bool(np.any(alarm[w, max(d - lo - HORIZON_DAYS, 0):d - lo])) for w, d in fails)
        best = {"threshold": float(thr), "recall": hit / max(len(fails), 1), "false_alarms_per_well_year": rate,
                "failures": len(fails)}
    return best


def evaluate_failure_model(data: LabelledDays, *, train_frac: float = 0.55, calibration_frac: float = 0.2,
                           trees: int = 300, seed: int = 0) -> dict:
    """Time-based split, fit, and the test period's ROC-AUC, PR-AUC, Brier (calibrated and raw), recall at 1
    false alarm per well-year; the fitted model is returned under ``model``."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    n_days = data.X.shape[1]
    train_end = int(train_frac * n_days)
    cal_end = int((train_frac + calibration_frac) * n_days)
    model = fit_failure_model(data, train_end=train_end, calibration_end=cal_end, trees=trees, seed=seed)
    X = data.X[:, cal_end:].reshape(-1, data.X.shape[-1])
    raw = np.full(X.shape[0], np.nan)
    on = np.isfinite(X[:, -1])
    raw[on] = model.raw(X[on])
    p = np.where(on, model.calibrate(np.nan_to_num(raw)), np.nan)
    y = data.y[:, cal_end:].reshape(-1)
    ok = np.isfinite(y) & on
    positive = int(y[ok].sum())
    fa = recall_at_false_alarm_rate(p.reshape(data.X.shape[0], -1), data, cal_end, n_days)
    return {
        "roc_auc": float(roc_auc_score(y[ok], p[ok])), "pr_auc": float(average_precision_score(y[ok], p[ok])),
        "brier": float(brier_score_loss(y[ok], p[ok])), "brier_uncalibrated": float(brier_score_loss(y[ok], raw[ok])),
        "prevalence": positive / max(int(ok.sum()), 1), "test_rows": int(ok.sum()), "test_positive_days": positive,
        "recall_at_1_false_alarm_per_well_year": fa["recall"], "alarm": fa,
        "split_days": {"train": [0, train_end - HORIZON_DAYS], "calibration": [train_end, cal_end - HORIZON_DAYS],
                       "test": [cal_end, n_days]},
        "model": model,
    }
