"""Learned views of the field: wells clustered by operating behaviour (scikit-learn on recent telemetry and
results), anomaly patterns from the history store, and the LSTM autoencoder's training request."""
from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from tb_bridge.api.context import ApiContext, iso
from tb_bridge.api.models import AnomalyPatterns, Clusters, ErrorAnswer, TrainRequest

#: Cluster features: (name, description); telemetry over the buffer window, results from the history store.
FEATURES: tuple[tuple[str, str], ...] = (
    ("flow_rate_mean_bpd", "mean flow_rate_bpd over the buffered window"),
    ("flow_rate_cv", "coefficient of variation of flow_rate_bpd"),
    ("flow_rate_trend_pct_per_day", "least-squares slope of flow_rate_bpd, % of the mean per day"),
    ("health_score", "newest opt_well_health_score"),
    ("anomaly_score", "newest opt_anomaly_score"),
)
#: Anomaly types that are no anomaly.
NO_ANOMALY = frozenset({"", "none", "normal"})


def _newest(values: list | None) -> float:
    """The newest of a well's stored result values, NaN when none is a number."""
    return float(values[-1]) if values and isinstance(values[-1], (int, float)) else np.nan


def well_features(ctx: ApiContext) -> tuple[list[str], np.ndarray, list[str]]:
    """``(well ids, features (n_wells, len(FEATURES)) with NaN where unknown, wells without telemetry)``."""
    service = ctx.service
    ids, rows, missing = [], [], []
    wells = [c.entity_id for c in service.registry.valid_wells()]
    health = service.history.latest_results(wells, "opt_well_health_score", limit=1) if wells else {}
    anomaly = service.history.latest_results(wells, "opt_anomaly_score", limit=1) if wells else {}
    for well_id in wells:
        window = service.buffer.window(well_id)
        q = window.values.get("flow_rate_bpd")
        finite = np.isfinite(q) if q is not None else None
        if q is None or finite.sum() < 2:
            missing.append(well_id)
            continue
        t_days = (window.ts_ms[finite] - window.ts_ms[finite][0]) / 86_400_000.0
        rate = q[finite]
        mean = float(rate.mean())
        cv = float(rate.std() / mean) if mean > 0 else 0.0
        trend = float(np.polyfit(t_days, rate, 1)[0] / mean * 100.0) if mean > 0 and np.ptp(t_days) > 0 else 0.0
        ids.append(well_id)
        rows.append([mean, cv, trend, _newest(health.get(well_id)), _newest(anomaly.get(well_id))])
    return ids, np.asarray(rows, dtype=float).reshape(len(rows), len(FEATURES)), missing


def cluster_wells(ids: list[str], x: np.ndarray, k: int) -> tuple[list[str], list[dict[str, Any]]]:
    """K-means (scikit-learn, standardized features, fixed seed) of the wells; features unknown for every
    well are left out, other gaps filled with the feature's median. Returns ``(features used, clusters)``."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    if not ids:
        return [], []
    known = ~np.all(np.isnan(x), axis=0)
    names = [name for (name, _), keep in zip(FEATURES, known) if keep]
    x = x[:, known]
    medians = np.nanmedian(x, axis=0)
    x = np.where(np.isnan(x), medians, x)
    n_clusters = min(k, len(ids), len({tuple(row) for row in x.tolist()}))
    labels = KMeans(n_clusters=n_clusters, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(x))
    clusters = []
    for label in range(n_clusters):
        members = labels == label
        clusters.append({"cluster": label, "wells": [i for i, m in zip(ids, members) if m],
                         "centroid": {name: float(v) for name, v in zip(names, x[members].mean(axis=0))}})
    clusters.sort(key=lambda c: (-len(c["wells"]), c["wells"][0]))
    for n, cluster in enumerate(clusters):
        cluster["cluster"] = n
    return names, clusters


def anomaly_patterns(ctx: ApiContext, days: int, bucket: str, now: datetime) -> dict[str, Any]:
    """Counts of the fast tier's diagnosed anomaly types (``opt_anomaly_type``) by well, lift type and time."""
    since = now - timedelta(days=days)
    rows = ctx.service.history.result_values("opt_anomaly_type", start=since, tier="fast")
    by_well: dict[tuple[str, str, str], dict[str, Any]] = {}
    by_lift: dict[str, dict[str, int]] = {}
    by_time: dict[datetime, dict[str, int]] = {}
    for well_id, lift_type, ts, value in rows:
        if not isinstance(value, str) or value.lower() in NO_ANOMALY:
            continue
        item = by_well.setdefault((well_id, lift_type, value), {"well_id": well_id, "lift_type": lift_type,
                                                                 "anomaly_type": value, "count": 0, "first": ts})
        item["count"] += 1
        item["last"] = ts
        lift = by_lift.setdefault(lift_type, {})
        lift[value] = lift.get(value, 0) + 1
        start = ts.replace(minute=0, second=0, microsecond=0)
        if bucket == "day":
            start = start.replace(hour=0)
        slot = by_time.setdefault(start, {})
        slot[value] = slot.get(value, 0) + 1
    patterns = sorted(by_well.values(), key=lambda p: (-p["count"], p["well_id"], p["anomaly_type"]))
    for p in patterns:
        p["first"], p["last"] = iso(p["first"]), iso(p["last"])
    return {"since": iso(since), "bucket": bucket, "runs": len(rows), "by_well": patterns, "by_lift_type": by_lift,
            "by_time": [{"start": iso(t), "counts": c} for t, c in sorted(by_time.items())]}


def build_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["ML"])

    @router.get("/clusters", response_model=Clusters, summary="Wells grouped by operating behaviour (k-means)")
    def clusters(k: Annotated[int, Query(ge=1, le=12, description="number of clusters (at most the wells)")] = 3
                 ) -> dict[str, Any]:
        ids, x, missing = well_features(ctx)
        names, found = cluster_wells(ids, x, k)
        return {"k": len(found), "features": names, "clusters": found, "unclustered": missing}

    @router.get("/anomaly-patterns", response_model=AnomalyPatterns,
                summary="Diagnosed anomaly types by well, lift type and time")
    def patterns(days: Annotated[int, Query(ge=1, le=366)] = 7,
                 bucket: Annotated[Literal["hour", "day"], Query()] = "day") -> dict[str, Any]:
        return anomaly_patterns(ctx, days, bucket, datetime.now(timezone.utc))

    @router.post("/train-lstm-ae", status_code=202, responses={501: {"model": ErrorAnswer}},
                 summary="Train the LSTM autoencoder (501 until the learned-models engine is on main)")
    def train(request: Annotated[TrainRequest | None, Body()] = None) -> JSONResponse:
        engine = "engines.ml.lstm_ae"
        present = importlib.util.find_spec(engine) is not None
        reason = (f"the learned-models engine ({engine}) is not on main yet: there is nothing to train" if not present
                  else f"{engine} is present but its training entry point is not wired to the API yet")
        return JSONResponse({"detail": reason}, status_code=501)

    return router
