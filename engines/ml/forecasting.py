"""30-day production forecast with XGBoost, a conformal P10/P90 band, and its evaluation against the
decline forecast and persistence (issue 22: 2).

**Model.** One direct multi-horizon regressor per lift type (horizon ``h`` = 1..30 days is a feature):
for a forecast origin day ``i`` (the last observed day) the features are the rate lags t-1, t-7, t-30
(``q[i]``, ``q[i-6]``, ``q[i-29]`` as logs relative to the 7-day mean ``base``), the 7-day mean anomaly
score, the pressure trend (least-squares slope of the pressure over the last 14 days over its mean, 1/d),
the setpoint and its change over 30 days, days on stream since the last shut-in (capped at 365) and ``h``;
the target is ``ln(q[i+h] / base)`` and the forecast ``base exp(prediction)``. Origins need 30 producing
days behind them; shut-in target days (zero rate) are not forecast (nor scored).

**Band.** Split conformal prediction (Vovk et al. 2005; Lei et al. 2018, JASA 113(523)): the model is fitted
on origins whose every target day precedes the calibration period (purged, no leakage), and the
``ceil((n+1) 0.9)/n`` and ``floor((n+1) 0.1)/n`` empirical quantiles of the calibration residuals (log
space, per horizon) give the 80 % band. P10 is the high rate (exceeded with 10 % probability) and P90 the
low one, the oilfield convention of the decline keys.

**Evaluation.** Expanding-window time-series cross-validation over origin days: fold ``k`` fits on the
origins whose targets end before block ``k`` and scores the origins inside it. The baselines on the same
(origin, horizon) pairs: persistence ``q[i]``, and the decline forecast (Arps hyperbolic fitted by
:mod:`engines.dca` to the current segment's last 180 days, at least 30 producing days). MAE (bbl/d) and
MAPE (%) of each over origins whose whole horizon lies in the record, and the band's measured coverage.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

HORIZON_DAYS = 30
LAGS = (1, 7, 30)
PRESSURE_TREND_DAYS = 14
DECLINE_HISTORY_DAYS = 180
MIN_DECLINE_POINTS = 30
FEATURES: tuple[str, ...] = ("q_lag1_rel", "q_lag7_rel", "q_lag30_rel", "anomaly_7d", "pressure_trend_per_day",
                             "setpoint", "setpoint_change_30d", "days_on_stream", "horizon_days")
MAX_TREES, MAX_WELLS, MAX_DAYS = 2_000, 5_000, 20_000
BAND = (0.1, 0.9)


@dataclass(frozen=True)
class WellSeries:
    """One well's daily history (equal-length arrays, day 0 first): liquid ``rate_bpd`` (0 = shut in, NaN =
    missing), ``pressure_psi`` (intake or the lift type's pressure), ``setpoint`` and ``anomaly_score``
    (NaN where unknown)."""

    rate_bpd: np.ndarray
    pressure_psi: np.ndarray
    setpoint: np.ndarray
    anomaly_score: np.ndarray

    def __post_init__(self) -> None:
        n = np.asarray(self.rate_bpd).shape
        for name in ("pressure_psi", "setpoint", "anomaly_score"):
            if np.asarray(getattr(self, name)).shape != n:
                raise ValueError(f"{name} has shape {np.asarray(getattr(self, name)).shape}, rate_bpd {n}")
        if len(n) != 1 or n[0] > MAX_DAYS:
            raise ValueError(f"a series is one-dimensional with at most {MAX_DAYS} days, got shape {n}")


def _ffill(x: np.ndarray) -> np.ndarray:
    """Carry the last finite value forward (NaN before the first)."""
    ok = np.isfinite(x)
    idx = np.where(ok, np.arange(x.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    out[: np.argmax(ok) if ok.any() else x.size] = np.nan
    return out


def _origin_features(s: WellSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-day features (n_days, 8) without the horizon, the base rate and whether day i is a valid origin."""
    q = np.asarray(s.rate_bpd, float)
    n = q.size
    prod = np.isfinite(q) & (q > 0)
    valid = np.zeros(n, bool)
    feats = np.full((n, len(FEATURES) - 1), np.nan)
    base = np.full(n, np.nan)
    if n < 30:
        return feats, base, valid
    # 30 producing days behind each origin
    run = np.convolve(prod.astype(float), np.ones(30), "full")[:n]
    valid = run >= 30 - 1e-9
    qs = np.where(prod, q, np.nan)
    c = np.concatenate([[0.0], np.cumsum(np.nan_to_num(qs))])
    base[6:] = (c[7:] - c[:-7]) / 7.0
    with np.errstate(divide="ignore", invalid="ignore"):
        feats[:, 0] = np.log(qs / base)
        feats[6:, 1] = np.log(qs[:-6] / base[6:])
        feats[29:, 2] = np.log(qs[:-29] / base[29:])
    a = np.asarray(s.anomaly_score, float)
    fa = np.isfinite(a)
    ca = np.concatenate([[0.0], np.cumsum(np.where(fa, a, 0.0))])
    na = np.concatenate([[0], np.cumsum(fa)])
    with np.errstate(divide="ignore", invalid="ignore"):
        feats[6:, 3] = np.where(na[7:] - na[:-7] > 0, (ca[7:] - ca[:-7]) / (na[7:] - na[:-7]), np.nan)
    p = _ffill(np.asarray(s.pressure_psi, float))
    m = PRESSURE_TREND_DAYS
    if n >= m:
        x = np.arange(m, dtype=float) - (m - 1) / 2.0
        slope = np.convolve(p, x[::-1] / (x @ x), "valid")  # least-squares slope of each 14-day window
        mean = np.convolve(p, np.full(m, 1.0 / m), "valid")
        with np.errstate(divide="ignore", invalid="ignore"):
            feats[m - 1:, 4] = np.where(mean > 0, slope / mean, np.nan)
    sp = np.asarray(s.setpoint, float)
    feats[:, 5] = sp
    feats[29:, 6] = sp[29:] - sp[:-29]
    days_on = np.zeros(n)
    for i in range(1, n):
        days_on[i] = days_on[i - 1] + 1 if prod[i] else 0
    feats[:, 7] = np.minimum(days_on, 365.0)
    valid &= np.isfinite(base) & (base > 0)
    return feats, base, valid


def design_matrix(series: Sequence[WellSeries], origin_days: Sequence[np.ndarray] | None = None,
                  target_before: int | None = None, horizon: int = HORIZON_DAYS):
    """Rows for (well, origin, horizon): ``X`` (n, 9), ``y`` = ln(q[i+h]/base) (NaN where the target is
    unknown, a shut-in or beyond the record), ``base``, ``well``, ``origin``, ``h``. ``origin_days[w]``:
    the origins to use (default all valid); ``target_before``: drop rows whose target day >= it."""
    Xs, ys, bs, ws, os_, hs = [], [], [], [], [], []
    hz = np.arange(1, horizon + 1)
    for w, s in enumerate(series):
        feats, base, valid = _origin_features(s)
        q = np.asarray(s.rate_bpd, float)
        org = np.flatnonzero(valid) if origin_days is None else np.asarray(origin_days[w], int)
        org = org[valid[org]] if org.size else org
        if org.size == 0:
            continue
        i = np.repeat(org, horizon)
        h = np.tile(hz, org.size)
        t = i + h
        keep = np.ones(t.size, bool) if target_before is None else t < target_before
        i, h, t = i[keep], h[keep], t[keep]
        qt = np.full(t.size, np.nan)
        inside = t < q.size
        qt[inside] = q[t[inside]]
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(np.isfinite(qt) & (qt > 0), np.log(qt / base[i]), np.nan)
        Xs.append(np.column_stack([feats[i], h.astype(float)]))
        ys.append(y)
        bs.append(base[i])
        ws.append(np.full(i.size, w))
        os_.append(i)
        hs.append(h)
    if not Xs:
        z = np.zeros(0)
        return np.zeros((0, len(FEATURES))), z, z, z.astype(int), z.astype(int), z.astype(int)
    return (np.concatenate(Xs), np.concatenate(ys), np.concatenate(bs), np.concatenate(ws), np.concatenate(os_),
            np.concatenate(hs))


@dataclass
class ForecastModel:
    """A fitted forecaster: the XGBoost booster (JSON), per-horizon conformal residual quantiles and metadata."""

    booster_json: bytes
    resid_lo: np.ndarray  # (HORIZON_DAYS,) log residual at BAND[0]
    resid_hi: np.ndarray  # (HORIZON_DAYS,) log residual at BAND[1]
    meta: dict = field(default_factory=dict)
    _booster: object = field(default=None, repr=False, compare=False)

    def booster(self):
        if self._booster is None:
            import xgboost as xgb

            b = xgb.Booster()
            b.load_model(bytearray(self.booster_json))
            self._booster = b
        return self._booster

    def predict_log(self, X: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        return self.booster().predict(xgb.DMatrix(X, feature_names=list(FEATURES)))

    def to_bytes(self) -> bytes:
        return json.dumps({"format": "atilax-ml-forecast/1", "booster": self.booster_json.decode(),
                           "resid_lo": self.resid_lo.tolist(), "resid_hi": self.resid_hi.tolist(),
                           "meta": self.meta}, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "ForecastModel":
        d = json.loads(data)
        if d.get("format") != "atilax-ml-forecast/1":
            raise ValueError(f"not a forecast model (format {d.get('format')!r})")
        return cls(d["booster"].encode(), np.asarray(d["resid_lo"]), np.asarray(d["resid_hi"]), d["meta"])


def _conformal(resid: np.ndarray, h: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.zeros(horizon), np.zeros(horizon)
    for k in range(1, horizon + 1):
        r = np.sort(resid[h == k])
        n = r.size
        if n < 5:  # too few: pool every horizon
            r, n = np.sort(resid), resid.size
        if n == 0:
            raise ValueError("no calibration residuals")
        lo[k - 1] = r[max(int(math.floor((n + 1) * BAND[0])) - 1, 0)]
        hi[k - 1] = r[min(int(math.ceil((n + 1) * BAND[1])) - 1, n - 1)]
    return lo, hi


def fit_forecast(series: Sequence[WellSeries], *, end_day: int | None = None, calibration_frac: float = 0.25,
                 trees: int = 300, seed: int = 0, origin_step: int = 2, horizon: int = HORIZON_DAYS) -> ForecastModel:
    """Fit on days before ``end_day`` (default: the whole record): the model on origins whose targets precede
    the calibration period (its last ``calibration_frac`` of origin days), the conformal band on that period."""
    import xgboost as xgb

    if not 1 <= trees <= MAX_TREES or not 1 <= len(series) <= MAX_WELLS:
        raise ValueError(f"need 1 <= trees <= {MAX_TREES} and 1 <= wells <= {MAX_WELLS}")
    n_days = max(np.asarray(s.rate_bpd).size for s in series)
    end = n_days if end_day is None else int(end_day)
    first = 29
    cal_start = int(end - max(calibration_frac * (end - first - horizon), horizon + 5) - horizon)
    if cal_start - horizon <= first + 10:
        raise ValueError(f"history too short for a forecast model: {end} days (need about {3 * horizon + 60})")
    train_org = [np.arange(first, cal_start - horizon, origin_step) for _ in series]
    X, y, _, _, _, h = design_matrix(series, train_org, target_before=cal_start, horizon=horizon)
    ok = np.isfinite(y)
    if ok.sum() < 50:
        raise ValueError(f"too few training rows ({int(ok.sum())})")
    params = {"objective": "reg:squarederror", "max_depth": 4, "eta": 0.05, "subsample": 0.5,
              "colsample_bytree": 0.9, "min_child_weight": 5, "seed": seed, "nthread": 1, "tree_method": "hist"}
    booster = xgb.train(params, xgb.DMatrix(X[ok], y[ok], feature_names=list(FEATURES)), num_boost_round=trees)
    cal_org = [np.arange(cal_start, end - 1) for _ in series]
    Xc, yc, _, _, _, hc = design_matrix(series, cal_org, target_before=end, horizon=horizon)
    okc = np.isfinite(yc)
    pred = booster.predict(xgb.DMatrix(Xc[okc], feature_names=list(FEATURES)))
    lo, hi = _conformal(yc[okc] - pred, hc[okc], horizon)
    raw = booster.save_raw("json")
    meta = {"trees": trees, "seed": seed, "train_rows": int(ok.sum()), "calibration_rows": int(okc.sum()),
            "wells": len(series), "end_day": end, "calibration_start_day": cal_start, "horizon_days": horizon,
            "features": list(FEATURES), "band": list(BAND)}
    return ForecastModel(bytes(raw), lo, hi, meta, booster)


@dataclass(frozen=True)
class Forecast:
    """Daily forecast for days origin+1 .. origin+H: median and the P10 (high) / P90 (low) band, bbl/d."""

    rate_bpd: np.ndarray
    p10_bpd: np.ndarray
    p90_bpd: np.ndarray


def _predict_origins(model: ForecastModel, feats: np.ndarray, base: np.ndarray, origins: np.ndarray) -> Forecast:
    horizon = int(model.meta.get("horizon_days", HORIZON_DAYS))
    h = np.tile(np.arange(1, horizon + 1, dtype=float), origins.size)
    X = np.column_stack([np.repeat(feats[origins], horizon, axis=0), h])
    ln = model.predict_log(X).reshape(origins.size, horizon)
    b = base[origins][:, None]
    return Forecast(b * np.exp(ln), b * np.exp(ln + model.resid_hi), b * np.exp(ln + model.resid_lo))


def forecast_well(model: ForecastModel, s: WellSeries, origin: int | None = None) -> Forecast:
    """Forecast from ``origin`` (default: the last day); ValueError when it is not a valid origin (needs 30
    producing days behind it)."""
    feats, base, valid = _origin_features(s)
    i = feats.shape[0] - 1 if origin is None else int(origin)
    if i < 0 or not valid[i]:
        raise ValueError("the forecast needs 30 producing days up to the origin")
    fc = _predict_origins(model, feats, base, np.array([i]))
    return Forecast(fc.rate_bpd[0], fc.p10_bpd[0], fc.p90_bpd[0])


def decline_forecast(q: np.ndarray, origin: int, horizon: int = HORIZON_DAYS) -> np.ndarray | None:
    """Arps hyperbolic (engines.dca) fitted to the current segment's last 180 producing days up to
    ``origin``, evaluated at origin+1..origin+H; None with fewer than 30 producing days."""
    from engines.dca.arps import rate_bpd
    from engines.dca.fitting import fit_exponential, fit_hyperbolic
    from engines.dca.history import history_from_rates

    q = np.asarray(q, float)
    lo = max(0, origin - DECLINE_HISTORY_DAYS + 1)
    seg = q[lo:origin + 1]
    shut = np.flatnonzero(~(seg > 0))
    if shut.size:
        seg, lo = seg[shut[-1] + 1:], lo + shut[-1] + 1
    ok = np.isfinite(seg) & (seg > 0)
    if ok.sum() < MIN_DECLINE_POINTS:
        return None
    t = np.arange(seg.size, dtype=float)[ok]
    hist = history_from_rates(t, seg[ok])
    mask = np.ones(hist.n, bool)
    try:
        fit = fit_hyperbolic(hist, mask, b_max=2.0)
    except Exception:
        fit = fit_exponential(hist, mask)
    tf = (origin - lo) + np.arange(1, horizon + 1, dtype=float) - t[0]
    p = fit.params
    return np.asarray(rate_bpd(tf, p.qi_bpd, p.d_per_day, p.b), float)


def _metrics(pred: np.ndarray, actual: np.ndarray) -> dict:
    err = np.abs(pred - actual)
    return {"mae_bpd": float(np.mean(err)), "mape_pct": float(100.0 * np.mean(err / actual)), "n": int(actual.size)}


def evaluate_forecast(series: Sequence[WellSeries], *, folds: int = 3, trees: int = 300, seed: int = 0,
                      origin_step: int = 2, test_origin_step: int = 5, horizon: int = HORIZON_DAYS,
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """Expanding-window time-series cross-validation (see the module docstring): MAE and MAPE of the
    model, the decline forecast and persistence on the same (origin, horizon) pairs, and the band's coverage."""
    n_days = max(np.asarray(s.rate_bpd).size for s in series)
    edges = np.linspace(n_days // 2, n_days, folds + 1).astype(int)
    preds = {"ml": [], "decline": [], "persistence": []}
    actual, inside, per_fold = [], [], []
    for k in range(folds):
        start, stop = int(edges[k]), int(edges[k + 1])
        model = fit_forecast(series, end_day=start, trees=trees, seed=seed, origin_step=origin_step, horizon=horizon)
        f_act, f_ml, f_in = [], [], []
        for w, s in enumerate(series):
            q = np.asarray(s.rate_bpd, float)
            feats, base, valid = _origin_features(s)
            org, decs = [], []
            for i in range(start, min(stop, q.size - horizon), test_origin_step):
                dec = decline_forecast(q, i, horizon) if valid[i] else None
                if dec is not None:
                    org.append(i)
                    decs.append(dec)
            if not org:
                continue
            fc = _predict_origins(model, feats, base, np.asarray(org))
            for j, i in enumerate(org):
                t = i + np.arange(1, horizon + 1)
                keep = (t < q.size)
                keep[keep] &= q[t[keep]] > 0
                if not keep.any():
                    continue
                a = q[t[keep]]
                preds["ml"].append(fc.rate_bpd[j][keep])
                preds["decline"].append(decs[j][keep])
                preds["persistence"].append(np.full(a.size, q[i]))
                inside.append((a >= fc.p90_bpd[j][keep]) & (a <= fc.p10_bpd[j][keep]))
                actual.append(a)
                f_act.append(a)
                f_ml.append(fc.rate_bpd[j][keep])
                f_in.append(inside[-1])
        if f_act:
            fa = np.concatenate(f_act)
            per_fold.append({"fold": k, "train_end_day": start, "test_days": [start, stop],
                             **_metrics(np.concatenate(f_ml), fa), "coverage": float(np.mean(np.concatenate(f_in)))})
        if progress:
            progress(k + 1, folds)
    a = np.concatenate(actual)
    cov = np.concatenate(inside)
    out = {name: _metrics(np.concatenate(p), a) for name, p in preds.items()}
    out["band"] = {"nominal": BAND[1] - BAND[0], "coverage": float(cov.mean()), "n": int(cov.size)}
    out["folds"] = per_fold
    out["settings"] = {"folds": folds, "trees": trees, "seed": seed, "wells": len(series), "days": n_days,
                       "horizon_days": horizon, "test_origin_step": test_origin_step}
    return out
