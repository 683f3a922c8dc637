"""The metric contract: the one definition of what is pushed, exposed and scraped.

The exporter, the rule generator, the boards, the replay client and the backtest's simulated
scrapes all import these names. Change one here and every reader follows (the generated
files' stale checks say which to regenerate).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

JOB = "txwatch"  # the scrape job the rules select (rules/generate: job selector)
STATUSES: tuple[str, ...] = (
    "approved", "denied", "failed", "reversed", "backend_reversed", "refunded")
AUTH_CODES: tuple[str, ...] = ("00", "51", "59")
# The auth code of an approval (it equals the approved count); the others are declines,
# whose mix the code-mix alert watches.
APPROVED_AUTH_CODE = "00"
# Beyond AUTH_CODES (always exposed from 0), the exporter accepts any code of this shape:
# ISO 8583 response codes are two letters or digits (05, 14, 91, N7...). A bound on the
# number of distinct codes keeps a faulty feed from flooding Prometheus with series.
AUTH_CODE_PATTERN = "^[0-9A-Z]{2}$"
MAX_AUTH_CODES = 100
# Segments: the exporter may be told dimensions (acquirer, card brand, method...) that pushed
# records carry; each is a label of the counters. A value is a short token, and a bound on
# the distinct values of each dimension keeps a faulty feed from flooding Prometheus.
SEGMENT_VALUE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
MAX_SEGMENT_VALUES = 100
# The dimensions the shipped rules judge segments of (rules render others on demand)
SEGMENT_DIMENSIONS = ("acquirer", "brand", "method")
# Names a dimension may not take: labels Prometheus attaches (job, instance) or reads in the
# exposition (le, quantile), the counters' own labels, labels the shipped rules and alerts
# set, and the fields of a record. Names starting with "__" are Prometheus' own.
RESERVED_LABELS = frozenset({
    "job", "instance", "le", "quantile", "status", "auth_code", "severity", "alertname",
    "alertstate", "reference", "timestamp", "count", "dimension", "segment"})


@dataclass(frozen=True)
class Kind:
    """One kind of pushed count: its endpoint, label, counter and default label values."""

    name: str
    record: str  # what one pushed record is called (the OpenAPI schema name)
    label: str
    family: str  # counter family; the exposed series is ``family + "_total"``
    path: str
    defaults: tuple[str, ...]
    help: str

    @property
    def counter(self) -> str:
        return f"{self.family}_total"


TRANSACTIONS = Kind("transactions", "Transaction", "status", "payment_transactions",
                    "/api/v1/transactions", STATUSES, "Transactions pushed, by status.")
AUTH_CODE_COUNTS = Kind("auth_codes", "AuthCode", "auth_code", "payment_auth_codes",
                        "/api/v1/auth-codes", AUTH_CODES, "Issuer auth codes pushed, by code.")
KINDS: tuple[Kind, ...] = (TRANSACTIONS, AUTH_CODE_COUNTS)
KIND_BY_NAME = {k.name: k for k in KINDS}
KIND_BY_LABEL = {k.label: k for k in KINDS}

# Gauges (boards and freshness alerts; rules read the counters).
LAST_MINUTE = "payment_transactions_last_minute"
LAST_MINUTE_RATIO = "payment_transactions_last_minute_ratio"
LAST_MINUTE_TIMESTAMP = "payment_transactions_last_minute_timestamp_seconds"
NEWEST_DATA_TIMESTAMP = "payment_newest_data_timestamp_seconds"
LAST_PUSH_TIMESTAMP = "payment_last_push_timestamp_seconds"

# The exporter's own metrics (counter families; prometheus-client adds ``_total``).
SELF_PREFIX = "txwatch_exporter"
HTTP_REQUESTS = f"{SELF_PREFIX}_http_requests"
HTTP_DURATION = f"{SELF_PREFIX}_http_request_duration_seconds"
RECORDS_ACCEPTED = f"{SELF_PREFIX}_records_accepted"
RECORDS_REJECTED = f"{SELF_PREFIX}_records_rejected"
IDEMPOTENT_REPLAYS = f"{SELF_PREFIX}_idempotent_replays"
IDEMPOTENCY_KEYS = f"{SELF_PREFIX}_idempotency_keys"


class Reason(StrEnum):
    """Why a request was refused: the ``error`` of the JSON body and the ``reason`` label."""

    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    BODY_TOO_LARGE = "body_too_large"
    BODY_TIMEOUT = "body_timeout"
    TOO_MANY_RECORDS = "too_many_records"
    MALFORMED_BODY = "malformed_body"
    INVALID_RECORD = "invalid_record"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    STORAGE_ERROR = "storage_error"

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self]


_HTTP_STATUS = {
    Reason.UNAUTHORIZED: 401, Reason.FORBIDDEN: 403, Reason.UNSUPPORTED_MEDIA_TYPE: 415,
    Reason.BODY_TOO_LARGE: 413, Reason.BODY_TIMEOUT: 408, Reason.TOO_MANY_RECORDS: 413,
    Reason.MALFORMED_BODY: 400, Reason.INVALID_RECORD: 422,
    Reason.IDEMPOTENCY_CONFLICT: 422, Reason.STORAGE_ERROR: 503,
}
