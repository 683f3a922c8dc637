"""The app in-process over real HTTP: formats, refusals, idempotency, concurrency."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import requests

from tests.conftest import metric_value
from txwatch.exporter.config import Config, Limits

TX = "/api/v1/transactions"
AC = "/api/v1/auth-codes"
JSON = {"Content-Type": "application/json"}


def post(url, body, content_type="application/json", **headers):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(url, data=data, headers={"Content-Type": content_type, **headers},
                         timeout=10)


def test_all_labels_start_at_zero(start_exporter):
    ex = start_exporter()
    text = ex.metrics()
    for status in Config().statuses:
        assert metric_value(text, "payment_transactions_total", status=status) == 0
    for code in Config().auth_codes:
        assert metric_value(text, "payment_auth_codes_total", auth_code=code) == 0


@pytest.mark.parametrize("content_type, body", [
    ("application/json", {"timestamp": "2025-07-12 13:45:00", "status": "failed", "count": 3}),
    ("application/json", [{"timestamp": "2025-07-12T13:45:00Z", "status": "failed",
                           "count": 2}, {"timestamp": "2025-07-12 13:45:00",
                                         "status": "failed"}]),
    ("application/x-ndjson", '{"timestamp":"2025-07-12 13:45:00","status":"failed","count":1}\n'
                             '{"timestamp":"2025-07-12 13:45:00","status":"failed","count":2}\n'),
    ("text/csv", "timestamp,status,count\n2025-07-12 13:45:00,failed,3\n"),
    ("text/csv; charset=utf-8", "timestamp,status,count\n2025-07-12 13:45:00,failed,3\n"),
])
def test_every_body_format_counts(start_exporter, content_type, body):
    ex = start_exporter()
    r = post(ex.url + TX, body, content_type)
    assert r.status_code == 200, r.text
    assert r.json()["transactions"] == 3
    assert metric_value(ex.metrics(), "payment_transactions_total", status="failed") == 3


def test_auth_codes_endpoint_and_csv_of_the_data_set(start_exporter):
    ex = start_exporter()
    body = "timestamp,auth_code,count\n2025-07-12 13:45:00,00,116\n2025-07-12 13:45:00,51,4\n"
    assert post(ex.url + AC, body, "text/csv").status_code == 200
    text = ex.metrics()
    assert metric_value(text, "payment_auth_codes_total", auth_code="00") == 116
    assert metric_value(text, "payment_auth_codes_total", auth_code="51") == 4
    assert metric_value(text, "payment_transactions_total", status="approved") == 0


def test_minute_gauges_and_timestamps(start_exporter):
    ex = start_exporter(now=1_752_400_000.0)
    rows = [("2025-07-12 13:45:00", "approved", 90), ("2025-07-12 13:45:00", "failed", 10),
            ("2025-07-12 13:44:00", "approved", 50)]
    post(ex.url + TX, [{"timestamp": t, "status": s, "count": c} for t, s, c in rows])
    text = ex.metrics()
    assert metric_value(text, "payment_transactions_last_minute", status="failed") == 10
    assert metric_value(text, "payment_transactions_last_minute_ratio",
                        status="failed") == pytest.approx(0.1)
    assert metric_value(text, "payment_transactions_last_minute_timestamp_seconds") == 1752327900
    assert metric_value(text, "payment_newest_data_timestamp_seconds") == 1752327900
    assert metric_value(text, "payment_last_push_timestamp_seconds") == 1_752_400_000.0


BAD_REQUESTS = [
    # (description, content type, body, expected status, field of first error)
    ("unknown status", "application/json", {"status": "stolen"}, 422, "status"),
    ("cardinality attack", "application/json",
     [{"status": f"s{i}"} for i in range(500)], 422, "status"),
    ("negative count", "application/json", {"status": "failed", "count": -5}, 422, "count"),
    ("float count", "application/json", {"status": "failed", "count": 2.5}, 422, "count"),
    ("absurd count", "application/json", {"status": "failed", "count": 10**15}, 422, "count"),
    ("bad timestamp", "application/json", {"status": "failed", "timestamp": "noon"}, 422,
     "timestamp"),
    ("future timestamp", "application/json",
     {"status": "failed", "timestamp": "2999-01-01T00:00:00Z"}, 422, "timestamp"),
    ("malformed JSON", "application/json", '{"status": ', 400, None),
    ("malformed CSV header", "text/csv", "a,b\n1,2\n", 400, "header"),
    ("empty body", "application/json", "", 400, None),
    ("wrong content type", "application/xml", "<tx/>", 415, None),
]


@pytest.mark.parametrize("what, ctype, body, status, field", BAD_REQUESTS,
                         ids=[b[0] for b in BAD_REQUESTS])
def test_bad_input_rejected_whole_with_json_and_metrics_unchanged(start_exporter, what, ctype,
                                                                  body, status, field):
    ex = start_exporter()
    post(ex.url + TX, {"timestamp": "2025-07-12 13:45:00", "status": "failed", "count": 7})
    before = ex.payment_lines()
    r = post(ex.url + TX, body, ctype)
    assert r.status_code == status, r.text
    doc = r.json()
    assert doc["error"] and doc["message"]
    if field is not None:
        assert doc["errors"][0]["field"] == field
        assert "index" in doc["errors"][0]
    assert ex.payment_lines() == before
    assert len([ln for ln in before if ln.startswith("payment_transactions_total")]) == 6


def test_mixed_valid_invalid_batch_applies_nothing(start_exporter):
    ex = start_exporter()
    before = ex.payment_lines()
    batch = [{"status": "approved", "count": 100}] * 50 + [{"status": "failed", "count": -1}]
    r = post(ex.url + TX, batch)
    assert r.status_code == 422
    assert r.json()["errors"] == [{"index": 50, "field": "count", "reason": "negative_count",
                                   "message": "count must be >= 0, got -1"}]
    assert ex.payment_lines() == before
    rejected = metric_value(ex.metrics(), "txwatch_exporter_records_rejected_total",
                            reason="invalid_record")
    assert rejected == 51


def test_oversized_body_and_batch(start_exporter):
    ex = start_exporter(Config(limits=Limits(max_body_bytes=1000, max_records=5)))
    before = ex.payment_lines()
    big = post(ex.url + TX, [{"status": "failed", "count": 1, "timestamp": "2025-07-12 13:45:00"}]
               * 40)
    assert big.status_code == 413 and big.json()["error"] == "body_too_large"
    many = post(ex.url + TX, [{"status": "failed"}] * 6)
    assert many.status_code == 413 and many.json()["error"] == "too_many_records"
    assert ex.payment_lines() == before


def test_token_required_when_configured(start_exporter):
    ex = start_exporter(Config(token="s3cret"))
    before = ex.payment_lines()
    missing = post(ex.url + TX, {"status": "failed"})
    wrong = post(ex.url + TX, {"status": "failed"}, Authorization="Bearer nope")
    assert (missing.status_code, wrong.status_code) == (401, 403)
    assert missing.json()["error"] == "unauthorized"
    assert ex.payment_lines() == before
    ok = post(ex.url + TX, {"status": "failed"}, Authorization="Bearer s3cret")
    assert ok.status_code == 200
    assert metric_value(ex.metrics(), "payment_transactions_total", status="failed") == 1


def test_idempotent_retry_not_double_counted(start_exporter):
    ex = start_exporter()
    body = [{"timestamp": "2025-07-12 13:45:00", "status": "denied", "count": 9}]
    first = post(ex.url + TX, body, **{"Idempotency-Key": "minute-1"})
    again = post(ex.url + TX, body, **{"Idempotency-Key": "minute-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert metric_value(ex.metrics(), "payment_transactions_total", status="denied") == 9
    reused = post(ex.url + TX, [{"status": "denied", "count": 1}],
                  **{"Idempotency-Key": "minute-1"})
    assert reused.status_code == 422 and reused.json()["error"] == "idempotency_conflict"
    assert metric_value(ex.metrics(), "payment_transactions_total", status="denied") == 9


def test_concurrent_pushes_sum_exactly(start_exporter):
    ex = start_exporter()
    clients, per_client = 16, 40

    def client(n: int) -> int:
        with requests.Session() as session:
            for i in range(per_client):
                r = session.post(ex.url + TX, json={"status": "approved", "count": n + i + 1},
                                 timeout=10)
                assert r.status_code == 200
        return sum(n + i + 1 for i in range(per_client))

    with ThreadPoolExecutor(clients) as pool:
        expected = sum(pool.map(client, range(clients)))
    assert metric_value(ex.metrics(), "payment_transactions_total", status="approved") == expected


def test_health_ready_openapi(start_exporter):
    ex = start_exporter()
    assert requests.get(ex.url + "/-/healthy", timeout=5).status_code == 200
    assert requests.get(ex.url + "/-/ready", timeout=5).status_code == 200
    spec = requests.get(ex.url + "/api/v1/openapi.json", timeout=5).json()
    assert set(spec["paths"]) == {TX, AC}
    statuses = spec["components"]["schemas"]["Transaction"]["properties"]["status"]["enum"]
    assert statuses == list(Config().statuses)


def test_configured_status_list(start_exporter):
    ex = start_exporter(replace(Config(), statuses=("ok", "ko")))
    assert post(ex.url + TX, {"status": "ok"}).status_code == 200
    assert post(ex.url + TX, {"status": "approved"}).status_code == 422
    assert 'payment_transactions_total{status="ko"} 0.0' in ex.metrics()


def test_slow_body_is_cut_off_with_408(start_exporter):
    import socket

    ex = start_exporter(Config(limits=Limits(body_read_timeout_seconds=0.5)))
    before = ex.payment_lines()
    host, port = ex.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /api/v1/transactions HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     b'{"status": "fai')  # ... and then nothing
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 408")
    assert '"error": "body_timeout"' in answer and "not received within" in answer
    assert ex.payment_lines() == before
