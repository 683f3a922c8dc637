"""What ``/metrics`` shows: the payment metric contract and the exporter's own metrics.

Payment metrics are produced at scrape time from one :class:`~txwatch.exporter.tally.Snapshot`
(the "custom collector" pattern of the Prometheus "Writing exporters" guide), so a scrape
never sees half of a batch. Every name comes from :mod:`txwatch.contract`; self-metrics live
in a registry created per app, never in the global default registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from txwatch import contract as c
from txwatch.exporter import segments
from txwatch.exporter.tally import Snapshot


class PaymentCollector(Collector):
    """Turns a store snapshot into the ``payment_*`` families of the metric contract."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        for kind in c.KINDS:
            family = CounterMetricFamily(kind.family, kind.help, labels=[kind.label])
            for _, dims, counts in _by_segment(snap.totals[kind.name],
                                               snap.segments.get(kind.name, {})):
                for label, value in counts.items():
                    family.add_sample(kind.counter, _labels(dims, kind.label, label), value)
            yield family
        last = GaugeMetricFamily(
            c.LAST_MINUTE,
            "Transactions in the newest complete data minute, by status (for boards).",
            labels=["status"])
        ratio = GaugeMetricFamily(
            c.LAST_MINUTE_RATIO,
            "Share of all transactions in the newest complete data minute, by status.",
            labels=["status"])  # with segments: the share within the series' segment
        if snap.last_minute_start is not None:
            tx = c.TRANSACTIONS.name
            for segment, dims, statuses in _by_segment(snap.totals[tx],
                                                       snap.segments.get(tx, {})):
                minute = snap.segment_last_minute.get(segment, {}) if segment \
                    else snap.last_minute
                total = sum(minute.values())
                for status in statuses:
                    value, labels = minute.get(status, 0), _labels(dims, "status", status)
                    last.add_sample(c.LAST_MINUTE, labels, value)
                    ratio.add_sample(c.LAST_MINUTE_RATIO, labels, value / total if total else 0.0)
        yield last
        yield ratio
        yield from _optional_gauge(
            c.LAST_MINUTE_TIMESTAMP,
            "Start of the newest complete data minute (Unix time).", snap.last_minute_start)
        yield from _optional_gauge(
            c.NEWEST_DATA_TIMESTAMP,
            "Newest record timestamp received (Unix time).", snap.newest_data_timestamp)
        yield from _optional_gauge(
            c.LAST_PUSH_TIMESTAMP,
            "Wall-clock time of the last accepted push (Unix time).", snap.last_push_timestamp)
        keys = GaugeMetricFamily(c.IDEMPOTENCY_KEYS,
                                 "Idempotency keys currently remembered.")
        keys.add_metric([], snap.idempotency_keys)
        yield keys


def _by_segment(default: dict[str, int], others: dict[str, dict[str, int]]
                ) -> Iterator[tuple[str, dict[str, str], dict[str, int]]]:
    """(segment, its dimension labels, counts by label) of each, the default one first."""
    yield "", {}, default
    for segment, counts in others.items():
        yield segment, dict(segments.pairs(segment)), counts


def _labels(dims: dict[str, str], name: str, value: str) -> dict[str, str]:
    """A series' labels in name order. The default segment's carry no dimension label, as
    before segments: Prometheus reads a missing label as an empty one, so the series keep
    their identity and ``sum by (job, status)`` covers every segment."""
    if not dims:
        return {name: value}
    return dict(sorted({**dims, name: value}.items()))


def _optional_gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    family = GaugeMetricFamily(name, doc)
    if value is not None:
        family.add_metric([], value)
    yield family


class SelfMetrics:
    """The exporter's own instrumentation, registered in the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(c.HTTP_REQUESTS, "HTTP requests answered.",
                                ["handler", "code"], registry=registry)
        self.duration = Histogram(
            c.HTTP_DURATION, "HTTP request duration.",
            ["handler"], registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.accepted = Counter(c.RECORDS_ACCEPTED, "Records accepted.",
                                ["kind"], registry=registry)
        self.rejected = Counter(c.RECORDS_REJECTED,
                                "Records in rejected requests, by reason.", ["reason"],
                                registry=registry)
        self.replayed = Counter(c.IDEMPOTENT_REPLAYS,
                                "Requests answered from a remembered Idempotency-Key.",
                                registry=registry)
        for kind in c.KINDS:
            self.accepted.labels(kind.name)
        for reason in c.Reason:
            self.rejected.labels(reason.value)


def instrument(self_metrics: SelfMetrics) -> Any:
    """aiohttp middleware counting every answer and timing it, by route and code."""
    # Children by route (and code), looked up once: labels() costs a lock and a tuple a call.
    durations: dict[str, Any] = {}
    counts: dict[tuple[str, int], Any] = {}

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.perf_counter()
        route = request.match_info.route
        name = route.name or "unknown"
        code = 500
        try:
            response = await handler(request)
            code = response.status
            return response
        except web.HTTPException as exc:
            code = exc.status
            raise
        finally:
            duration = durations.get(name)
            if duration is None:
                duration = durations[name] = self_metrics.duration.labels(name)
            duration.observe(time.perf_counter() - start)
            count = counts.get((name, code))
            if count is None:
                count = counts[name, code] = self_metrics.requests.labels(name, str(code))
            count.inc()

    return middleware
