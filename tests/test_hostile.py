"""Inputs from the adversarial run: each gets a 4xx JSON error and moves no counter."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
from urllib.parse import urlparse

import pytest
import requests
from aiohttp import web

from tests.conftest import metric_value
from txwatch.engines.procs import free_port
from txwatch.exporter.app import build_app
from txwatch.exporter.config import Config, Limits
from txwatch.exporter.statedb import StateDB
from txwatch.exporter.store import Store

TX = "/api/v1/transactions"
NOW = 1_752_327_930.0  # 2025-07-12 13:45:30 UTC


def _total(url: str) -> float:
    text = requests.get(url + "/metrics", timeout=5).text
    return sum(metric_value(text, "payment_transactions_total", status=s)
               for s in ("approved", "denied", "failed"))


def _refused(url: str, body: bytes, content_type: str, status: int | None = 400,
             **headers: str) -> dict:
    before = _total(url)
    r = requests.post(url + TX, data=body, timeout=10,
                      headers={"Content-Type": content_type, **headers})
    assert r.status_code == status or (status is None and 400 <= r.status_code < 500), \
        r.text[:300]
    assert r.headers["Content-Type"].startswith("application/json")
    assert _total(url) == before
    return r.json()


def _nested(depth: int) -> bytes:
    return b'{"status": "approved", "count": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_and_ndjson(start_exporter, depth):
    url = start_exporter(now=NOW).url
    for ctype in ("application/json", "application/x-ndjson"):
        body = _refused(url, _nested(depth), ctype, status=None)
        assert body["errors"][0]["field"] == "count" or "nested too deeply" in body["message"]
    big = b"[" + b",".join([_nested(depth)] * 3) + b"]"
    _refused(url, big + b" " * (3 << 20), "application/json", None)  # element-wise decoder


def test_csv_count_of_thousands_of_digits(start_exporter):
    url = start_exporter(now=NOW).url
    body = _refused(url, b"status,count\napproved," + b"9" * 5000 + b"\n", "text/csv", 422)
    # the message is written out here, not read back from the answer: it must name the
    # problem (too many digits) and the limit the operator can raise
    assert body["errors"][0] == {"index": 0, "field": "count", "reason": "count_too_large",
                                 "message": "count has more than 19 digits; the limit is "
                                            f"{Limits().max_count}"}


def test_csv_field_over_128_kib(start_exporter):
    url = start_exporter(now=NOW).url
    body = _refused(url, b'status,count\napproved,1\n"' + b"x" * (200 << 10) + b'",1\n',
                    "text/csv")
    assert body["errors"][0]["index"] == 1 and "row 2" in body["message"]


def test_csv_with_bare_cr_line_ends_is_read(start_exporter):
    url = start_exporter(now=NOW).url
    r = requests.post(url + TX, data=b"status,count\rapproved,2\rfailed,3\r", timeout=5,
                      headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json() == {"accepted": 2, "transactions": 5}


def test_gzip_encoding_on_a_plain_body(start_exporter):
    url = start_exporter(now=NOW).url
    body = _refused(url, b'{"status":"approved"}', "application/json",
                    **{"Content-Encoding": "gzip"})
    assert body["errors"][0]["field"] == "Content-Encoding"
    r = requests.post(url + TX, data=gzip.compress(b'{"status":"approved"}'), timeout=5,
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 200


def test_authorization_scheme_is_case_insensitive(start_exporter):
    url = start_exporter(Config(token="s3cret"), now=NOW).url
    for scheme in ("bearer", "BEARER", "Bearer"):
        r = requests.post(url + TX, json={"status": "approved"}, timeout=5,
                          headers={"Authorization": f"{scheme} s3cret"})
        assert r.status_code == 200, scheme
    assert _total(url) == 3


def test_authorization_header_of_non_utf8_bytes_is_refused(start_exporter):
    url = start_exporter(Config(token="s3cret"), now=NOW).url
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=5) as conn:
        conn.sendall(b"POST " + TX.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Authorization: Bearer \xff\xfe\x80\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 21\r\n\r\n{\"status\":\"approved\"}")
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]


def test_string_and_number_timestamps_are_judged_apart(start_exporter):
    url = start_exporter(now=NOW).url
    for records in ([{"timestamp": "20250712", "status": "approved"},
                     {"timestamp": 20250712, "status": "approved"}],
                    [{"timestamp": 20250712, "status": "approved"},
                     {"timestamp": "20250712", "status": "approved"}]):
        body = _refused(url, json.dumps(records).encode(), "application/json", 422)
        assert [(e["index"], e["reason"]) for e in body["errors"]] == [
            (records.index({"timestamp": 20250712, "status": "approved"}),
             "ancient_timestamp")]


def test_future_minute_does_not_make_the_filling_minute_complete(start_exporter):
    ex = start_exporter(now=NOW)
    requests.post(ex.url + TX, timeout=5, json=[
        {"timestamp": "2025-07-12 13:44:10", "status": "approved", "count": 5},
        {"timestamp": "2025-07-12 13:45:10", "status": "approved", "count": 7},
        {"timestamp": "2025-07-12 13:48:00", "status": "approved", "count": 9}]).raise_for_status()
    text = requests.get(ex.url + "/metrics", timeout=5).text
    assert metric_value(text, "payment_transactions_last_minute_timestamp_seconds") == \
        1_752_327_840
    assert metric_value(text, "payment_transactions_last_minute", status="approved") == 5


def test_same_key_different_bodies_concurrently(start_exporter, tmp_path):
    # With a state dir the first request waits for its fsync: the others arrive meanwhile.
    url = start_exporter(Config(state_dir=tmp_path), now=NOW).url
    answers: list[requests.Response] = []
    barrier = threading.Barrier(8)

    def send(n: int) -> None:
        barrier.wait()
        answers.append(requests.post(url + TX, json={"status": "approved", "count": n + 1},
                                     headers={"Idempotency-Key": "same"}, timeout=10))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [422] * 7, codes
    assert "Idempotent-Replayed" not in next(r for r in answers if r.status_code == 200).headers
    assert _total(url) == next(r for r in answers if r.status_code == 200).json()["transactions"]


@pytest.fixture
def faulty_exporter(tmp_path):
    """An in-process exporter whose storage fails on the steps listed in ``fail``."""
    fail: list[str] = []

    def fault(step: str) -> None:
        if step in fail:
            fail.remove(step)
            raise OSError(24, "Too many open files")

    config = Config(state_dir=tmp_path, limits=Limits(max_future_seconds=1e10))
    store = Store(config, time.time, StateDB(tmp_path, fault=fault))
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(build_app(config, store))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(runner.setup(), loop).result(10)
    port = free_port()
    asyncio.run_coroutine_threadsafe(web.TCPSite(runner, "127.0.0.1", port).start(),
                                     loop).result(10)
    yield f"http://127.0.0.1:{port}", fail
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    asyncio.run_coroutine_threadsafe(store.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_storage_error_answers_503_then_recovers_without_hang(faulty_exporter):
    url, fail = faulty_exporter
    assert requests.post(url + TX, json={"status": "failed"}, timeout=5).status_code == 200
    fail.extend(["begin", "write", "write"])  # the request, then the first readiness probe
    r = requests.post(url + TX, json={"status": "failed", "count": 4}, timeout=5)
    assert r.status_code == 503 and r.json()["error"] == "storage_error"
    r = requests.post(url + TX, json={"status": "failed", "count": 4}, timeout=5)
    assert r.status_code == 503
    assert requests.get(url + "/-/ready", timeout=5).status_code == 503
    assert requests.get(url + "/-/healthy", timeout=5).status_code == 200
    assert requests.get(url + "/-/ready", timeout=5).status_code == 200  # the probe wrote
    assert requests.post(url + TX, json={"status": "failed", "count": 4},
                         timeout=5).status_code == 200
    assert _total(url) == 5


def test_large_body_is_parsed_while_health_probes_are_answered(start_exporter):
    """A 10 MB body is parsed off the event loop: probes meanwhile wait for no parse."""
    limits = Limits(max_records=200_000, max_future_seconds=1e10)
    url = start_exporter(Config(limits=limits), now=NOW).url
    record = {"timestamp": "2025-07-12 13:45:00", "status": "approved", "count": 1}
    body = json.dumps([record] * 170_000).encode()
    assert len(body) >= 10_000_000
    finished: list[float] = []
    answers: list[requests.Response] = []

    def ingest() -> None:
        answers.append(requests.post(url + TX, data=body, timeout=120,
                                     headers={"Content-Type": "application/json"}))
        finished.append(time.perf_counter())

    started = time.perf_counter()
    thread = threading.Thread(target=ingest)
    thread.start()
    probes: list[float] = []
    with requests.Session() as session:
        while thread.is_alive():
            sent = time.perf_counter()
            assert session.get(url + "/-/healthy", timeout=60).status_code == 200
            probes.append(time.perf_counter() - sent)
            time.sleep(0.01)
    thread.join()
    assert answers[0].status_code == 200 and answers[0].json()["transactions"] == 170_000
    took = finished[0] - started
    # Parsed on the event loop, one probe would wait for nearly all of it.
    assert len(probes) >= 3 and max(probes) < took / 2, (max(probes), took, len(probes))
