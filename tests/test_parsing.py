"""Pure units: body decoding, timestamp parsing and record validation."""

from __future__ import annotations

import json

import pytest

from txwatch import contract
from txwatch.exporter.config import Limits
from txwatch.exporter.decode import BodyError, decode_body
from txwatch.exporter.parsing import parse_timestamp, validate

NOW = 1_752_400_000.0  # 2025-07-13T09:46:40Z
ALLOWED = frozenset(contract.STATUSES)


def run(body: bytes, media: str, limits: Limits | None = None):
    return validate(decode_body(body, media, "status"), "status", ALLOWED, NOW,
                    limits or Limits())


@pytest.mark.parametrize("raw, expected", [
    ("2025-07-12 13:45:00", 1752327900.0),
    ("2025-07-12T13:45:00", 1752327900.0),
    ("2025-07-12T13:45:00Z", 1752327900.0),
    ("2025-07-12T15:45:00+02:00", 1752327900.0),
    ("2025-07-12T13:45:00.500000+00:00", 1752327900.5),
    (1752327900, 1752327900.0),
])
def test_timestamp_formats(raw, expected):
    assert parse_timestamp(raw) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2025-13-01 00:00:00", "", True, None, [1]])
def test_bad_timestamps_raise(raw):
    with pytest.raises((ValueError, TypeError)):
        parse_timestamp(raw)


def test_json_object_array_ndjson_and_csv_aggregate_the_same():
    records = [{"timestamp": "2025-07-12 13:45:00", "status": "approved", "count": 116},
               {"timestamp": "2025-07-12 13:45:30", "status": "approved", "count": 4},
               {"timestamp": "2025-07-12 13:46:00", "status": "failed", "count": 2}]
    ndjson = "\n".join(json.dumps(r) for r in records).encode()
    csv = ("timestamp,status,count\n" + "\n".join(
        f"{r['timestamp']},{r['status']},{r['count']}" for r in records)).encode()
    results = [run(json.dumps(records).encode(), "application/json"),
               run(ndjson, "application/x-ndjson"), run(csv, "text/csv")]
    for batch, errors, n in results:
        assert n == 0 and errors == []
        assert batch.records == 3
        assert batch.totals == {"approved": 120, "failed": 2}
        assert batch.minutes == {(1752327900, "approved"): 120, (1752327960, "failed"): 2}
    single, _, _ = run(json.dumps(records[2]).encode(), "application/json")
    assert single.totals == {"failed": 2}


def test_defaults_count_one_and_timestamp_now():
    batch, errors, _ = run(b'{"status": "denied"}', "application/json")
    assert errors == [] and batch.totals == {"denied": 1}
    assert batch.newest_timestamp == NOW
    assert batch.minutes == {(int(NOW // 60) * 60, "denied"): 1}


def test_csv_count_column_optional_and_columns_any_order():
    batch, errors, _ = run(b"status,timestamp\nfailed,2025-07-12 13:45:00\n", "text/csv")
    assert errors == [] and batch.totals == {"failed": 1}


@pytest.mark.parametrize("record, field, reason", [
    ({"status": "bogus"}, "status", "unknown_status"),
    ({"status": {"x": 1}}, "status", "unknown_status"),
    ({"count": 3}, "status", "missing_field"),
    ({"status": "failed", "count": -1}, "count", "negative_count"),
    ({"status": "failed", "count": 1.5}, "count", "not_an_integer"),
    ({"status": "failed", "count": "3"}, "count", "not_an_integer"),
    ({"status": "failed", "count": True}, "count", "not_an_integer"),
    ({"status": "failed", "count": 10**12}, "count", "count_too_large"),
    ({"status": "failed", "timestamp": "soon"}, "timestamp", "invalid_timestamp"),
    ({"status": "failed", "timestamp": "2099-01-01 00:00:00"}, "timestamp", "future_timestamp"),
    ({"status": "failed", "timestamp": "1990-01-01 00:00:00"}, "timestamp", "ancient_timestamp"),
    ({"status": "failed", "colour": "red"}, "colour", "unknown_field"),
])
def test_each_bad_record_names_index_field_and_reason(record, field, reason):
    body = json.dumps([{"status": "approved"}, record]).encode()
    batch, errors, n = run(body, "application/json")
    assert n == 1
    assert (errors[0].index, errors[0].field, errors[0].reason) == (1, field, reason)


def test_mixed_batch_reports_all_errors_and_aggregates_nothing_after_first_error():
    body = json.dumps([{"status": "approved"}, {"status": "x"}, {"status": "failed"},
                       {"status": "failed", "count": -2}]).encode()
    _, errors, n = run(body, "application/json")
    assert n == 2 and [e.index for e in errors] == [1, 3]


def test_csv_bad_count_is_not_an_integer():
    _, errors, _ = run(b"timestamp,status,count\n2025-07-12 13:45:00,failed,2.5\n", "text/csv")
    assert errors[0].reason == "not_an_integer" and errors[0].index == 0


@pytest.mark.parametrize("body, media", [
    (b"{not json", "application/json"),
    (b"", "application/json"),
    (b'{"status":"failed"}\n{oops', "application/x-ndjson"),
    (b"when,what\n1,2\n", "text/csv"),
    (b"timestamp,status,count\n2025-07-12 13:45:00,failed\n", "text/csv"),
    (b"timestamp,status,count\n\xff\xfe,failed,1\n", "text/csv"),
])
def test_malformed_bodies_raise_body_error(body, media):
    with pytest.raises(BodyError):
        run(body, media)


def test_too_many_records_overflow():
    body = json.dumps([{"status": "failed"}] * 11).encode()
    with pytest.raises(OverflowError):
        run(body, "application/json", Limits(max_records=10))


def test_non_object_record_rejected():
    _, errors, n = run(b'[{"status": "failed"}, 7]', "application/json")
    assert n == 1 and errors[0].field == "record" and errors[0].index == 1


@pytest.mark.parametrize("body", [
    b"status\nfailed\nfailed\n",
    b"count,status\n2,failed\n",
    b"status,timestamp,count\nfailed,2025-07-12 13:45:00,2\n",
])
def test_csv_partial_headers(body):
    batch, errors, _ = run(body, "text/csv")
    assert errors == [] and batch.totals == {"failed": 2}
