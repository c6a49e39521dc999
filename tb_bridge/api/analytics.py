"""Learned views of the field: wells clustered by operating behaviour (scikit-learn on recent telemetry and
results), anomaly patterns from the history store, and the LSTM autoencoder's training request."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from tb_bridge.api.context import ApiContext, iso
from tb_bridge.api.models import AnomalyPatterns, Clusters, ErrorAnswer, TrainAnswer, TrainRequest

#: Cluster features: (name, description); telemetry over the buffer window, results from the history store.
FEATURES: tuple[tuple[str, str], ...] = (
    ("flow_rate_mean_bpd", "mean flow_rate_bpd over the buffered window"),
    ("flow_rate_cv", "coefficient of variation of flow_rate_bpd"),
    ("flow_rate_trend_pct_per_day", "least-squares slope of flow_rate_bpd, % of the mean per day"),
    ("health_score", "newest opt_well_health_score"),
    ("anomaly_score", "newest opt_anomaly_score"),
    ("on_stream_frac", "share of the buffered samples with flow_rate_bpd > 0"),
    ("lift_efficiency_pct", "newest opt_lift_efficiency_pct"),
    ("lift_upside_pct", "newest opt_lift_delta_q_bpd, % of the mean rate"),
)
_TRAINING_LOCK = threading.Lock()
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
    efficiency = service.history.latest_results(wells, "opt_lift_efficiency_pct", limit=1) if wells else {}
    upside = service.history.latest_results(wells, "opt_lift_delta_q_bpd", limit=1) if wells else {}
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
        on_stream = float(np.mean(rate > 0))
        delta = _newest(upside.get(well_id))
        rows.append([mean, cv, trend, _newest(health.get(well_id)), _newest(anomaly.get(well_id)), on_stream,
                     _newest(efficiency.get(well_id)), delta / mean * 100.0 if mean > 0 else np.nan])
    return ids, np.asarray(rows, dtype=float).reshape(len(rows), len(FEATURES)), missing


#: How long a well clustering stands before the next request recomputes it (``refresh=true`` forces it).
CLUSTERS_MAX_AGE = timedelta(days=7)


def clusters_answer(ctx: ApiContext, k: int | None, refresh: bool, now: datetime) -> dict[str, Any]:
    """The ``GET /clusters`` answer: :func:`engines.ml.clustering.cluster_wells` on :func:`well_features`, kept
    per ``k`` for :data:`CLUSTERS_MAX_AGE` (the clustering is a weekly view of the field)."""
    from engines.ml.clustering import cluster_wells

    cached = ctx.clusters.get(k)
    if cached is not None and not refresh and now - cached[0] < CLUSTERS_MAX_AGE:
        return cached[1]
    ids, x, missing = well_features(ctx)
    found = cluster_wells(ids, x, [name for name, _ in FEATURES], k)
    answer = {"k": found.k, "features": found.features, "clusters": found.clusters, "unclustered": missing,
              "separation": found.separation, "silhouette": found.silhouette, "computed_at": iso(now)}
    ctx.clusters[k] = (now, answer)
    return answer


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
    def clusters(k: Annotated[int | None, Query(ge=1, le=12, description="number of clusters (at most the wells); "
                                                   "omitted: chosen by the silhouette score")] = None,
                 refresh: Annotated[bool, Query(description="recompute now instead of the week's clustering")] = False
                 ) -> dict[str, Any]:
        return clusters_answer(ctx, k, refresh, datetime.now(timezone.utc))

    @router.get("/anomaly-patterns", response_model=AnomalyPatterns,
                summary="Diagnosed anomaly types by well, lift type and time")
    def patterns(days: Annotated[int, Query(ge=1, le=366)] = 7,
                 bucket: Annotated[Literal["hour", "day"], Query()] = "day") -> dict[str, Any]:
        return anomaly_patterns(ctx, days, bucket, datetime.now(timezone.utc))

    @router.post("/train-lstm-ae", status_code=202, response_model=TrainAnswer,
                 responses={404: {"model": ErrorAnswer}, 409: {"model": ErrorAnswer}, 501: {"model": ErrorAnswer}},
                 summary="Train the wells' LSTM autoencoders from their 30 days of history (a background run)")
    def train(request: Annotated[TrainRequest | None, Body()] = None) -> Any:
        from engines.ml.lstm_ae import TorchUnavailableError
        from tb_bridge.ml_training import LstmAeTraining

        request = request or TrainRequest()
        with _TRAINING_LOCK:
            if ctx.training is None:
                ctx.training = LstmAeTraining(ctx.service)
        training = ctx.training
        if request.stop:
            training.stop()
            return JSONResponse({"status": "stopping" if training.running else "idle", "wells": [], "epochs": None,
                                 "detail": "the run stops after its current epoch" if training.running
                                 else "no training run is under way"}, status_code=202)
        if request.well_ids is not None:
            wells = list(dict.fromkeys(request.well_ids))
            for well_id in wells:
                ctx.config(well_id)  # 404 unknown, 409 invalid
        else:
            wells = [c.entity_id for c in ctx.service.registry.valid_wells()
                     if request.lift_type is None or c.lift_type == request.lift_type]
        limit = ctx.settings.ml.lstm_ae_max_trainings_per_run
        wells = wells[:limit]
        try:
            state = training.start(wells, request.epochs)
        except TorchUnavailableError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=501)
        except RuntimeError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)
        return {"status": "started", "wells": state["wells"], "epochs": request.epochs or ctx.settings.ml.lstm_ae_epochs,
                "detail": f"training {len(wells)} wells in the background (at most ml.lstm_ae_max_trainings_per_run = "
                          f"{limit}); progress in the log, models in `atilax ml list`"}

    return router
