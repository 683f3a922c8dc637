"""Faults, loopback only and bounded in time: crashes under load, restarts, a full disk."""

from __future__ import annotations

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import metric_value
from txwatch.stack.launcher import LocalStack
from txwatch.web.sink import read_log

TX = "/api/v1/transactions"


@pytest.mark.slow
def test_kill9_under_concurrent_load_then_retries_give_exact_totals(exporter_process,
                                                                   tmp_path):
    """Clients retry unacknowledged requests with the same key until acknowledged."""
    ex = exporter_process(f"--state.dir={tmp_path / 'state'}").start()
    clients, per_client = 8, 300
    killed = threading.Event()
    restarted = threading.Event()
    errors_seen = [0]
    acked = [0]

    def client(number: int) -> int:
        sent = 0
        with requests.Session() as session:
            for i in range(per_client):
                count = number + 1
                key = f"client{number}-req{i}"
                deadline = time.monotonic() + 60
                while True:
                    try:
                        r = session.post(ex.url + TX, json={"status": "approved",
                                                            "count": count},
                                         headers={"Idempotency-Key": key}, timeout=5)
                        if r.status_code == 200:
                            acked[0] += 1
                            break
                        last = f"HTTP {r.status_code} {r.text[:200]}"
                    except requests.RequestException as exc:
                        errors_seen[0] += 1
                        last = repr(exc)[:200]
                    assert time.monotonic() < deadline, f"never acknowledged: {last}"
                    restarted.wait(10)
                    time.sleep(0.05)
                sent += count
        return sent

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client, n) for n in range(clients)]
        started = time.monotonic()
        while acked[0] < 200:  # kill in the middle of the load
            assert time.monotonic() - started < 30, "load did not start"
            time.sleep(0.005)
        ex.kill9()
        killed.set()
        ex.start()
        restarted.set()
        expected = sum(f.result() for f in futures)
    text = requests.get(ex.url + "/metrics", timeout=5).text
    assert metric_value(text, "payment_transactions_total", status="approved") == expected
    assert killed.is_set() and errors_seen[0] > 0, "the crash did not hit in-flight requests"


def test_state_dir_that_cannot_be_created_fails_at_start(exporter_process, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = exporter_process(f"--state.dir={blocker / 'state'}")
    try:
        proc.start()
    except RuntimeError as exc:
        assert "exited" in str(exc)
    else:
        raise AssertionError("exporter started without a usable state dir")


@pytest.fixture
def full_disk(tmp_path):
    """A real 320 KiB tmpfs (needs root to mount)."""
    target = tmp_path / "tiny"
    target.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(target)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield target
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _batch(first_minute: int, n: int) -> list[dict]:
    return [{"timestamp": 1_700_000_000 + 60 * (first_minute + i), "status": "failed",
             "count": 1} for i in range(n)]


@pytest.mark.slow
def test_full_disk_answers_503_and_acknowledges_nothing(exporter_process, full_disk):
    ex = exporter_process(f"--state.dir={full_disk}", "--ingest.max-future=1e10").start()
    acked = refused = 0
    for round_ in range(400):
        r = requests.post(ex.url + TX, json=_batch(round_ * 500, 500), timeout=10,
                          headers={"Idempotency-Key": f"r{round_}"})
        if r.status_code == 200:
            acked += 500
        else:
            assert r.status_code == 503 and r.json()["error"] == "storage_error", r.text
            refused += 1
            if refused >= 3:
                break
    assert refused >= 3 and acked > 0
    assert requests.get(ex.url + "/-/healthy", timeout=5).status_code == 200
    text = requests.get(ex.url + "/metrics", timeout=5).text
    assert metric_value(text, "payment_transactions_total", status="failed") == acked
    assert metric_value(text, "txwatch_exporter_records_rejected_total",
                        reason="storage_error") == 500 * refused
    ex.kill9()  # what was acknowledged survives a crash on the full disk
    ex.start()
    text = requests.get(ex.url + "/metrics", timeout=5).text
    assert metric_value(text, "payment_transactions_total", status="failed") == acked


@pytest.mark.slow
def test_full_disk_readiness_says_what_a_push_gets(exporter_process, full_disk):
    """The probe's one-row write still fits where a push no longer does: not ready, until
    room is made."""
    ballast = full_disk / "ballast"
    ballast.write_bytes(b"\0" * (96 << 10))
    ex = exporter_process(f"--state.dir={full_disk}", "--ingest.max-future=1e10").start()
    for round_ in range(400):
        r = requests.post(ex.url + TX, json=_batch(round_ * 500, 500), timeout=10,
                          headers={"Idempotency-Key": f"r{round_}"})
        if r.status_code != 200:
            break
    assert r.status_code == 503 and r.json()["error"] == "storage_error", r.text
    for _ in range(3):  # stays so, while the disk is as full
        ready = requests.get(ex.url + "/-/ready", timeout=5)
        assert ready.status_code == 503 and "full" in ready.text, ready.text
        assert requests.post(ex.url + TX, json=_batch(round_ * 500, 500), timeout=10,
                             headers={"Idempotency-Key": "late"}).status_code == 503
    ballast.unlink()  # room made: readiness and a push agree again
    assert requests.get(ex.url + "/-/ready", timeout=5).status_code == 200
    assert requests.post(ex.url + TX, json=_batch(round_ * 500, 500), timeout=10,
                         headers={"Idempotency-Key": "late"}).status_code == 200


def _spike_notified(stack: LocalStack) -> bool:
    return any(r["labels"].get("alertname") == "PaymentRatioHighFast" and r["status"] == "firing"
               for r in read_log(stack.sink_log, 1000))


def _push_until(stack: LocalStack, done, seconds: float, failed: int = 100) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        requests.post(stack.url("exporter") + TX, timeout=5, json=[
            {"status": "approved", "count": 100}, {"status": "failed", "count": failed}])
        time.sleep(1.0)


@pytest.mark.slow
def test_alerts_fire_after_prometheus_restart(fast_stack):
    with fast_stack() as stack:
        _push_until(stack, lambda: _up(stack), 20, failed=0)
        stack.kill("prometheus")
        stack.restart("prometheus")
        _push_until(stack, lambda: _spike_notified(stack), 90)


def _up(stack: LocalStack) -> bool:
    r = requests.get(stack.url("prometheus") + "/api/v1/query", timeout=5,
                     params={"query": 'up{job="txwatch"}'}).json()
    return bool(r["data"]["result"]) and r["data"]["result"][0]["value"][1] == "1"


@pytest.mark.slow
def test_notification_delivered_when_alertmanager_comes_back(fast_stack):
    with fast_stack() as stack:
        stack.kill("alertmanager", hard=True)

        def firing_in_prometheus() -> bool:
            alerts = requests.get(stack.url("prometheus") + "/api/v1/alerts",
                                  timeout=5).json()["data"]["alerts"]
            return any(a["labels"]["alertname"] == "PaymentRatioHighFast"
                       and a["state"] == "firing" for a in alerts)

        _push_until(stack, firing_in_prometheus, 90)
        assert not _spike_notified(stack)
        stack.restart("alertmanager")
        _push_until(stack, lambda: _spike_notified(stack), 60)
