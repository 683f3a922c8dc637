"""Crash safety with a real exporter process: kill -9, restart, exact totals."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import metric_value
from txwatch.exporter.journal import JOURNAL_NAME

TX = "/api/v1/transactions"


def push(url: str, status: str, count: int, key: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(url + TX, headers=headers, timeout=10,
                         data=json.dumps({"timestamp": "2025-07-12 13:45:00",
                                          "status": status, "count": count}))


def totals(url: str) -> dict[str, float]:
    text = requests.get(url + "/metrics", timeout=5).text
    return {s: metric_value(text, "payment_transactions_total", status=s)
            for s in ("approved", "failed", "denied")}


@pytest.mark.slow
def test_kill9_restart_preserves_exact_totals_and_keys(exporter_process, tmp_path):
    state = tmp_path / "state"
    ex = exporter_process(f"--state.dir={state}").start()

    def client(n: int) -> int:
        acked = 0
        with requests.Session():
            for i in range(25):
                if push(ex.url, "approved", n + 1, key=f"c{n}-{i}").status_code == 200:
                    acked += n + 1
        return acked

    with ThreadPoolExecutor(8) as pool:
        approved = sum(pool.map(client, range(8)))
    assert push(ex.url, "failed", 5, key="once").status_code == 200
    before = totals(ex.url)
    assert before == {"approved": approved, "failed": 5, "denied": 0}
    assert (state / JOURNAL_NAME).stat().st_size > 0

    ex.kill9()
    ex.start()
    assert totals(ex.url) == before
    retry = push(ex.url, "failed", 5, key="once")
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert totals(ex.url) == before
    assert push(ex.url, "failed", 1).status_code == 200

    ex.stop()  # clean shutdown compacts the journal into a snapshot
    assert (state / JOURNAL_NAME).stat().st_size == 0
    ex.start()
    assert totals(ex.url) == {**before, "failed": 6}


def test_torn_journal_tail_is_dropped_not_fatal(exporter_process, tmp_path):
    state = tmp_path / "state"
    ex = exporter_process(f"--state.dir={state}").start()
    assert push(ex.url, "denied", 4).status_code == 200
    ex.kill9()
    with open(state / JOURNAL_NAME, "ab") as handle:
        handle.write(b'[{"kind":"transactions","key":null,"tot')  # a write cut by the crash
    ex.start()
    assert totals(ex.url)["denied"] == 4
    assert push(ex.url, "denied", 1).status_code == 200
    assert totals(ex.url)["denied"] == 5


def test_memory_mode_starts_from_zero(exporter_process):
    ex = exporter_process().start()
    assert push(ex.url, "failed", 3).status_code == 200
    ex.kill9()
    ex.start()
    assert totals(ex.url)["failed"] == 0


def test_unwritable_state_dir_answers_error_and_acknowledges_nothing(start_exporter, tmp_path):
    from txwatch.exporter.config import Config

    ex = start_exporter(Config(state_dir=tmp_path / "s"))
    assert push(ex.url, "failed", 2).status_code == 200
    journal = ex.store._journal  # simulate a full disk: writes fail from now on
    real_file = journal._file

    class FullDisk:
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str):
            return getattr(real_file, name)

    journal._file = FullDisk()
    r = push(ex.url, "failed", 3)
    assert r.status_code == 503 and r.json()["error"] == "storage_error"
    assert totals(ex.url)["failed"] == 2
    assert push(ex.url, "failed", 1).status_code == 200  # rollback reopened a good file
    assert totals(ex.url)["failed"] == 3
