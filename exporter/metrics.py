"""What ``/metrics`` shows: the payment metric contract and the exporter's own metrics.

Payment metrics are produced at scrape time from one :class:`~exporter.store.Snapshot`
(the "custom collector" pattern of the Prometheus "Writing exporters" guide), so a scrape
never sees half of a batch. Self-metrics use the ``txwatch_exporter_`` prefix and live in a
registry created per app, never in the global default registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.store import Snapshot

SELF_PREFIX = "txwatch_exporter"
REJECT_REASONS = (
    "unauthorized", "forbidden", "unsupported_media_type", "body_too_large", "body_timeout",
    "too_many_records",
    "malformed_body", "invalid_record", "idempotency_conflict", "storage_error",
)


class PaymentCollector(Collector):
    """Turns a store snapshot into the ``payment_*`` families of the metric contract."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        tx = CounterMetricFamily("payment_transactions", "Transactions pushed, by status.",
                                 labels=["status"])
        for status, value in snap.totals["transactions"].items():
            tx.add_metric([status], value)
        yield tx
        codes = CounterMetricFamily("payment_auth_codes", "Issuer auth codes pushed, by code.",
                                    labels=["auth_code"])
        for code, value in snap.totals["auth_codes"].items():
            codes.add_metric([code], value)
        yield codes
        last = GaugeMetricFamily(
            "payment_transactions_last_minute",
            "Transactions in the newest complete data minute, by status (for boards).",
            labels=["status"])
        ratio = GaugeMetricFamily(
            "payment_transactions_last_minute_ratio",
            "Share of all transactions in the newest complete data minute, by status.",
            labels=["status"])
        total = sum(snap.last_minute.values())
        if snap.last_minute_start is not None:
            for status in snap.totals["transactions"]:
                value = snap.last_minute.get(status, 0)
                last.add_metric([status], value)
                ratio.add_metric([status], value / total if total else 0.0)
        yield last
        yield ratio
        yield from _optional_gauge(
            "payment_transactions_last_minute_timestamp_seconds",
            "Start of the newest complete data minute (Unix time).", snap.last_minute_start)
        yield from _optional_gauge(
            "payment_newest_data_timestamp_seconds",
            "Newest record timestamp received (Unix time).", snap.newest_data_timestamp)
        yield from _optional_gauge(
            "payment_last_push_timestamp_seconds",
            "Wall-clock time of the last accepted push (Unix time).", snap.last_push_timestamp)
        keys = GaugeMetricFamily(f"{SELF_PREFIX}_idempotency_keys",
                                 "Idempotency keys currently remembered.")
        keys.add_metric([], snap.idempotency_keys)
        yield keys


def _optional_gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    family = GaugeMetricFamily(name, doc)
    if value is not None:
        family.add_metric([], value)
    yield family


class SelfMetrics:
    """The exporter's own instrumentation, registered in the app's registry."""

    def __init__(self, registry: CollectorRegistry, kinds: tuple[str, ...]) -> None:
        self.requests = Counter(f"{SELF_PREFIX}_http_requests", "HTTP requests answered.",
                                ["handler", "code"], registry=registry)
        self.duration = Histogram(
            f"{SELF_PREFIX}_http_request_duration_seconds", "HTTP request duration.",
            ["handler"], registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.accepted = Counter(f"{SELF_PREFIX}_records_accepted", "Records accepted.",
                                ["kind"], registry=registry)
        self.rejected = Counter(f"{SELF_PREFIX}_records_rejected",
                                "Records in rejected requests, by reason.", ["reason"],
                                registry=registry)
        self.replayed = Counter(f"{SELF_PREFIX}_idempotent_replays",
                                "Requests answered from a remembered Idempotency-Key.",
                                registry=registry)
        for kind in kinds:
            self.accepted.labels(kind)
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
