"""Alarm routes: the ISA-18.2 alarm log of the history store, and acknowledgement through the same path as an
operator's ALARM_ACK in ThingsBoard (the router's alarm hook -> the well's AlarmBank)."""
from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from tb_bridge.api.context import ApiContext, iso, jsonable
from tb_bridge.api.models import AcknowledgeAnswer, AcknowledgeRequest, AlarmAnswer, AlarmList

#: alarm-point states that are not standing (the process is normal and nothing waits for an acknowledgement)
_RESTING = frozenset({"NORM"})


def alarm_answer(record: Any) -> dict[str, Any]:
    return jsonable({"id": record.id, "well_id": record.well_id, "alarm_type": record.alarm_type,
                     "severity": record.severity, "state": record.state, "ts": iso(record.ts),
                     "details": record.details})


def build_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["Alarms"])
    service = ctx.service

    @router.get("/alarms", response_model=AlarmList,
                summary="The newest state of each alarm point (standing ones unless all=true)")
    def alarms(well_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
               all: Annotated[bool, Query(description="also alarm points back to normal")] = False,
               limit: Annotated[int, Query(ge=1, le=10_000, description="alarm events read")] = 1000
               ) -> dict[str, Any]:
        latest: dict[tuple[str, str], Any] = {}
        for record in service.history.alarm_events(well_id, limit=limit):  # newest first
            latest.setdefault((record.well_id, record.alarm_type), record)
        chosen = [r for r in latest.values() if all or r.state not in _RESTING]
        chosen.sort(key=lambda r: (r.ts, r.id), reverse=True)
        return {"alarms": [alarm_answer(r) for r in chosen]}

    @router.get("/alarms/{id}", response_model=AlarmAnswer, summary="One alarm event of the alarm log")
    def alarm(event_id: Annotated[int, Path(alias="id", ge=1, le=2**62)]) -> dict[str, Any]:
        try:
            return alarm_answer(service.history.alarm_event(event_id))
        except KeyError:
            raise HTTPException(404, f"no alarm event {event_id}") from None

    @router.post("/alarms/acknowledge", response_model=AcknowledgeAnswer,
                 summary="Acknowledge an alarm point of a well (as an operator's ALARM_ACK)")
    def acknowledge(request: AcknowledgeRequest) -> dict[str, Any]:
        from tb_bridge.events import EventKind, WellEvent
        from tb_bridge.handlers.alarm_steps import STATISTICAL_TYPE, tb_alarm_type
        from engines.anomaly.rules import RULES_BY_LIFT_TYPE

        config = ctx.config(request.well_id)
        tags = [r.name for r in RULES_BY_LIFT_TYPE[config.lift_type]] + [STATISTICAL_TYPE]
        if request.alarm_type != "*" and request.alarm_type not in tags:
            raise HTTPException(422, f"unknown alarm_type {request.alarm_type!r} for a {config.lift_type} well "
                                f"(its alarm points: {', '.join(tags)}, or *)")
        now_ms = int(time.time() * 1000)
        ack_ids = []
        for tag in tags if request.alarm_type == "*" else [request.alarm_type]:
            ack_id = f"api-{uuid.uuid4().hex}"
            ack_ids.append(ack_id)
            alarm = {"id": ack_id, "type": tb_alarm_type(tag), "ackTs": now_ms, "status": "ACTIVE_ACK"}
            service.handle(WellEvent(EventKind.ALARM_ACK, request.well_id, now_ms, alarm, source="api",
                                     metadata={"userName": request.by or "atilax-api"}))
        wanted = set(ack_ids)
        done = [r for r in service.history.alarm_events(request.well_id, limit=200)
                if isinstance(r.details, dict) and r.details.get("tb_alarm_id") in wanted]
        return {"well_id": request.well_id, "acknowledged": [alarm_answer(r) for r in reversed(done)]}

    return router
