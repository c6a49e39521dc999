"""``GET /metrics``: Prometheus text of the service (read at scrape time) and of the API's own requests.

Service metrics: events in by transport (``atilax_events_total``), tier run durations (``atilax_tier_duration_
seconds`` count/sum and the last run's), the writeback outbox (``atilax_outbox_items``), dead letters waiting by
source and reason (``atilax_dead_letters``), open simulation sessions (``atilax_sessions_open``), valid wells.
API: ``atilax_api_request_duration_seconds`` by method, route template and status class."""
from __future__ import annotations

import logging
import re
import time
from typing import Any, Iterable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

log = logging.getLogger(__name__)

_REASON_CUT = re.compile(r"[:(\[{'\"0-9]")


def reason_class(error: str) -> str:
    """A dead letter's reason without its particulars: the text before the first ':', quote, bracket or digit
    (e.g. ``"flow_rate_bpd is not a finite number (nan)"`` -> ``"flow_rate_bpd is not a finite number"``)."""
    head = _REASON_CUT.split(error, 1)[0].strip()
    return (head or "other")[:80]


class ServiceCollector:
    """Reads the service's counters when Prometheus scrapes (nothing is kept twice)."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def collect(self) -> Iterable[Any]:
        service = self.service
        events = CounterMetricFamily("atilax_events", "events handed to the router, by transport", labels=["transport"])
        for source, count in sorted(dict(service.router.stats.events_by_source).items()):
            events.add_metric([source], count)
        yield events
        durations = SummaryMetricFamily("atilax_tier_duration_seconds", "tier run durations", labels=["tier"])
        last = GaugeMetricFamily("atilax_tier_last_duration_seconds", "duration of each tier's last run",
                                 labels=["tier"])
        totals: dict[str, list[float]] = {}
        for report in list(service.reports):
            entry = totals.setdefault(report.tier, [0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += report.duration_s
            entry[2] = report.duration_s
        for tier, (count, total, latest) in sorted(totals.items()):
            durations.add_metric([tier], count_value=count, sum_value=total)
            last.add_metric([tier], latest)
        yield durations
        yield last
        pending = getattr(service.writeback, "pending_items", None)
        if callable(pending):
            yield GaugeMetricFamily("atilax_outbox_items", "writeback values waiting to be sent", value=pending())
        dead = GaugeMetricFamily("atilax_dead_letters", "dead letters not yet reprocessed, by source and reason",
                                 labels=["source", "reason"])
        try:
            grouped: dict[tuple[str, str], int] = {}
            for source, error, count in service.history.dead_letter_counts():
                key = (source, reason_class(error))
                grouped[key] = grouped.get(key, 0) + count
            for (source, reason), count in sorted(grouped.items()):
                dead.add_metric([source, reason], count)
        except Exception as exc:  # the store is down: the other metrics still answer
            log.warning("metrics: dead letters unreadable: %s", exc)
        yield dead
        lister = getattr(service.sessions, "list", None)
        if callable(lister):
            yield GaugeMetricFamily("atilax_sessions_open", "open simulation sessions", value=len(lister()))
        yield GaugeMetricFamily("atilax_wells_valid", "wells with a valid configuration",
                                value=len(service.registry.valid_wells()))


class RequestMetrics:
    """Pure ASGI middleware timing every HTTP request into :attr:`latency`."""

    def __init__(self, app: Any, registry: CollectorRegistry) -> None:
        self.app = app
        self.latency = Histogram("atilax_api_request_duration_seconds", "API request latency",
                                 ["method", "route", "status"], registry=registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.latency.labels(scope.get("method", ""), template, f"{status[0] // 100}xx").observe(
                time.perf_counter() - started)
