"""Wells, optimization, what-if and forecast routes: the registry, the telemetry buffer, the history store,
and the engines called as the tiers call them."""
from __future__ import annotations

import math
import time
import zlib
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Body, HTTPException, Path, Query

from tb_bridge.api.context import ApiContext, iso, jsonable, run_answer
from tb_bridge.api.models import (DcaAnswer, Forecasts, Optimization, RunAnswer, RunRequest, Telemetry, WellDetail,
                                  WellSummary, WhatIfAnswer, WhatIfRequest)

WellPath = Annotated[str, Path(alias="id", min_length=1, max_length=128,
                                     description="ThingsBoard entity id of the well")]
DAY_MS = 86_400_000
TIERS = ("fast", "hourly", "daily", "weekly", "monthly")


def _summary(entry: Any) -> dict[str, Any]:
    config = entry.config
    lift_type = config.lift_type if config is not None else entry.raw_attributes.get("lift_type")
    return {"id": entry.entity_id, "name": entry.name, "lift_type": lift_type if isinstance(lift_type, str) else None,
            "valid": config is not None, "error": str(entry.error) if entry.error is not None else None}


def decline_history(ctx: ApiContext, well_id: str, now_ms: int) -> tuple[np.ndarray, np.ndarray, str, np.ndarray | None]:
    """``flow_rate_bpd`` history for a decline fit, chosen as the daily tier's DCA step does: ThingsBoard's
    180 days (daily means, with each day's producing fraction) when it has 30 or more entries, else the
    telemetry buffer's window (on-stream fraction ``None``)."""
    from tb_bridge.handlers.engine_steps import DCA_HISTORY_DAYS, MIN_TB_HISTORY_POINTS, daily_means, daily_uptime

    window = ctx.service.buffer.window(well_id)
    buffered = window.values.get("flow_rate_bpd", np.full(len(window), np.nan))
    reader = ctx.service.history_reader
    if reader is None:
        return window.ts_ms, buffered, "buffer", None
    try:
        t_ms, values = reader.series(well_id, "flow_rate_bpd", DCA_HISTORY_DAYS, end_ms=now_ms)
    except Exception as exc:
        return window.ts_ms, buffered, f"buffer (ThingsBoard history failed: {type(exc).__name__})", None
    if len(t_ms) >= MIN_TB_HISTORY_POINTS:
        ts, vals = np.asarray(t_ms, dtype=np.int64), np.asarray(values, dtype=float)
        day_ms, day_mean = daily_means(ts, vals)
        return day_ms, day_mean, "thingsboard", daily_uptime(ts, vals)
    return window.ts_ms, buffered, f"buffer (ThingsBoard had {len(t_ms)} points)", None


def build_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter()
    service = ctx.service

    @router.get("/wells", response_model=list[WellSummary], tags=["Wells"], summary="Every well the service knows")
    def wells(lift_type: Annotated[str | None, Query(max_length=32)] = None) -> list[dict[str, Any]]:
        registry = service.registry
        ids = [c.entity_id for c in registry.valid_wells()]
        ids += [e.entity_id for e in registry.invalid_wells() if e.entity_id not in set(ids)]
        out = [_summary(e) for e in (registry.get(i) for i in ids) if e is not None]
        return [w for w in out if lift_type is None or w["lift_type"] == lift_type]

    @router.get("/wells/{id}", response_model=WellDetail, tags=["Wells"],
                summary="A well's configuration and latest telemetry")
    async def well(well_id: WellPath) -> dict[str, Any]:  # the hot read: no thread hop (ApiContext.window)
        entry = ctx.entry(well_id)
        last_ts, points, latest = await ctx.latest(well_id)
        return {**_summary(entry), "config": entry.config.model_dump(mode="json") if entry.config else None,
                "latest_telemetry": latest, "last_telemetry_ts_ms": last_ts, "buffered_points": points}

    @router.get("/wells/{id}/telemetry", response_model=Telemetry, tags=["Wells"],
                summary="The well's buffered telemetry window")
    def telemetry(well_id: WellPath, since_ms: Annotated[int | None, Query(ge=0, le=2**62)] = None,
                  keys: Annotated[list[str] | None, Query(max_length=64)] = None) -> dict[str, Any]:
        ctx.entry(well_id)
        window = service.buffer.window(well_id, since_ms)
        chosen = window.values if not keys else {k: v for k, v in window.values.items() if k in set(keys)}
        return {"well_id": well_id, "ts_ms": window.ts_ms.tolist(),
                "values": {k: [float(x) if math.isfinite(x) else None for x in v.tolist()] for k, v in chosen.items()}}

    @router.get("/optimization/{id}", response_model=Optimization, tags=["Optimization"],
                summary="The newest stored run of each tier")
    def optimization(well_id: WellPath) -> dict[str, Any]:
        ctx.entry(well_id)
        latest: dict[str, Any] = {}
        for tier in TIERS:  # one indexed query per tier (a run's results load with it)
            runs = service.history.runs(well_id, limit=1, tier=tier)
            if runs:
                latest[tier] = run_answer(runs[0])
        return {"well_id": well_id, "latest": latest}

    @router.post("/optimization/{id}/run", response_model=RunAnswer, tags=["Optimization"],
                 summary="Run one tier's engines for the well now (results written back and stored)")
    def run(well_id: WellPath, request: Annotated[RunRequest | None, Body()] = None) -> dict[str, Any]:
        ctx.config(well_id)
        tier = (request or RunRequest()).tier
        try:
            record = service.run_well(tier, well_id)
        except RuntimeError as exc:
            raise HTTPException(409, str(exc)) from None
        if record is None:  # its configuration became invalid meanwhile
            raise HTTPException(409, f"well {well_id!r} has no valid configuration")
        return run_answer(record)

    @router.post("/what-if", response_model=WhatIfAnswer, tags=["Optimization"],
                 summary="The well's operating point with parameters changed, at the same lift setpoint")
    def what_if(request: WhatIfRequest) -> dict[str, Any]:
        from tb_bridge.adapters.whatif import WhatIfError, what_if as simulate

        config = ctx.config(request.well_id)
        telemetry: dict[str, Any] = dict(service.buffer.window(request.well_id).latest())
        telemetry.update(service.router.latest_text(request.well_id))
        try:
            result = simulate(config, request.params, telemetry, cache=ctx.lift_cache)
        except WhatIfError as exc:
            raise HTTPException(422, str(exc)) from None
        point = lambda p: {"liquid_bpd": p.liquid_bpd, "oil_bpd": p.oil_bpd, "pwf_psi": p.pwf_psi}  # noqa: E731
        return jsonable({"well_id": request.well_id, "params": request.params, "original": point(result.original),
                         "modified": point(result.modified), "delta_liquid_bpd": result.delta_liquid_bpd,
                         "delta_oil_bpd": result.delta_oil_bpd, "delta_pwf_psi": result.delta_pwf_psi,
                         "setpoint_key": result.setpoint_key, "setpoint": result.setpoint,
                         "setpoint_source": result.setpoint_source, "basis": result.basis})

    @router.get("/forecasts/{id}", response_model=Forecasts, tags=["Forecasts"],
                summary="The daily tier's decline results and the stored forecasts")
    def forecasts(well_id: WellPath) -> dict[str, Any]:
        ctx.entry(well_id)
        dca, started = None, None
        for run in service.history.runs(well_id, limit=10, tier="daily"):
            if "opt_dca_model" in run.results:
                dca = {k: v for k, v in run.results.items() if k.startswith("opt_dca_")}
                started = iso(run.started_at)
                break
        stored = [{"id": f.id, "created_at": iso(f.created_at), "model": f.model, "params": f.params,
                   "points": f.points} for f in service.history.forecasts(well_id)]
        return jsonable({"well_id": well_id, "dca": dca, "dca_run_started_at": started, "stored": stored})

    @router.get("/forecasts/{id}/dca", response_model=DcaAnswer, tags=["Forecasts"],
                summary="A decline-curve fit now, on the history the daily tier would use")
    def dca(well_id: WellPath) -> dict[str, Any]:
        from engines.dca import DcaSettings, analyze_decline

        config = ctx.config(well_id)
        t_ms, rate, source, uptime = decline_history(ctx, well_id, int(time.time() * 1000))
        producing = np.isfinite(rate)
        if producing.sum() < 3:
            raise HTTPException(409, f"too few rate samples for a decline fit: {int(producing.sum())} from {source}")
        dates = np.asarray(t_ms[producing], dtype=np.int64).astype("datetime64[ms]")  # calendar months, as the tier
        settings = DcaSettings(economic_limit_bpd=config.economic_limit_bpd,
                               seed=zlib.crc32(well_id.encode("utf-8")))
        try:
            result = analyze_decline(dates, rate[producing], kind="rate", settings=settings,
                                     on_stream=None if uptime is None else uptime[producing], on_stream_unit="fraction")
        except ValueError as exc:
            raise HTTPException(409, f"no decline fit on this history: {exc}") from None
        return jsonable({"well_id": well_id, "history_source": source, "points": int(producing.sum()),
                         "model": result.model, "qi_bpd": result.qi_bpd, "di_pct_month": result.di_pct_month,
                         "b_factor": result.b_factor, "eur_stb": result.eur_stb, "eur_p10_stb": result.eur_p10_stb,
                         "eur_p50_stb": result.eur_p50_stb, "eur_p90_stb": result.eur_p90_stb,
                         "di_secant_eff_pct_year": result.di_secant_eff_pct_year,
                         "b_above_one": result.b_above_one, "criterion": result.criterion,
                         "no_decline": result.no_decline, "no_decline_reason": result.no_decline_reason,
                         "forecast": result.forecast})

    return router
