"""Durable state with real processes and a real SQLite file: kill -9, two owners, corruption."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import REPO, metric_value
from txwatch.engines.procs import free_port, stop_process, wait_ready
from txwatch.exporter.config import Config
from txwatch.exporter.lockfile import StateDirError
from txwatch.exporter.parsing import Batch
from txwatch.exporter.statedb import DB_NAME, StateDB
from txwatch.exporter.store import Store

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
        return sum(n + 1 for i in range(25)
                   if push(ex.url, "approved", n + 1, key=f"c{n}-{i}").status_code == 200)

    with ThreadPoolExecutor(8) as pool:
        approved = sum(pool.map(client, range(8)))
    assert push(ex.url, "failed", 5, key="once").status_code == 200
    before = totals(ex.url)
    assert before == {"approved": approved, "failed": 5, "denied": 0}
    assert (state / (DB_NAME + "-wal")).stat().st_size > 0

    ex.kill9()
    with open(state / (DB_NAME + "-wal"), "ab") as wal:
        wal.write(b"\x00" * 24 + b"a frame torn by the crash")
    ex.start()
    assert totals(ex.url) == before
    retry = push(ex.url, "failed", 5, key="once")
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert totals(ex.url) == before
    assert push(ex.url, "failed", 1).status_code == 200

    ex.stop()  # a clean stop checkpoints the WAL into the database
    assert not (state / (DB_NAME + "-wal")).exists()
    ex.start()
    assert totals(ex.url) == {**before, "failed": 6}


def test_memory_mode_starts_from_zero(exporter_process):
    ex = exporter_process().start()
    assert push(ex.url, "failed", 3).status_code == 200
    ex.kill9()
    ex.start()
    assert totals(ex.url)["failed"] == 0


def _refusal(*args: str) -> str:
    """Run the exporter expecting it to refuse to start; return its stderr."""
    proc = subprocess.run([sys.executable, "-m", "txwatch.exporter",
                           "--web.listen-address=127.0.0.1:0", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    return proc.stderr


def test_second_exporter_on_the_same_state_dir_refuses_to_start(exporter_process, tmp_path):
    state = tmp_path / "state"
    first = exporter_process(f"--state.dir={state}").start()
    assert push(first.url, "denied", 2).status_code == 200
    err = _refusal(f"--state.dir={state}")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{state} is in use by another exporter (pid {first.proc.pid})" in err
    assert push(first.url, "denied", 3).status_code == 200
    first.kill9()  # the kernel drops the lock with the process
    first.start()
    assert totals(first.url)["denied"] == 5


def _fill(path) -> tuple[dict[str, dict[str, int]], list[str]]:
    store = Store(Config(state_dir=path), lambda: 1_752_400_000.0, StateDB(path))
    keys = [f"k{i}" for i in range(60)]

    async def feed() -> None:
        await asyncio.gather(*(store.commit("transactions", Batch(
            {"approved": 10 + i}, {(1_752_327_900 + 60 * (i % 5), "approved"): 10 + i}, 1,
            1_752_327_900.0), key, "d") for i, key in enumerate(keys)))
        await store.close()

    asyncio.run(feed())
    return store.snapshot().totals, keys


@pytest.mark.slow
def test_flipped_bytes_are_refused_or_recovered_exactly(tmp_path):
    """300 single-byte corruptions of the database: never silently changed totals."""
    good = tmp_path / "good"
    expected, keys = _fill(good)
    data = (good / DB_NAME).read_bytes()
    rng = random.Random(12)
    outcomes = {"refused": 0, "exact": 0}
    for trial in range(300):
        bad = tmp_path / f"t{trial}"
        bad.mkdir()
        corrupt = bytearray(data)
        corrupt[rng.randrange(len(data))] ^= rng.randrange(1, 256)
        (bad / DB_NAME).write_bytes(corrupt)
        try:
            store = Store(Config(state_dir=bad), lambda: 1_752_400_000.0, StateDB(bad))
        except StateDirError as exc:
            assert "corrupt" in str(exc) and "restore" in str(exc)
            outcomes["refused"] += 1
            continue
        assert store.snapshot().totals == expected
        replays = asyncio.run(_replay_all(store, keys))
        assert all(replays), "a remembered key was lost: a retry would count twice"
        outcomes["exact"] += 1
        shutil.rmtree(bad)
    assert outcomes["refused"] > 0 and outcomes["exact"] > 0, outcomes
    print(outcomes)


async def _replay_all(store: Store, keys: list[str]) -> list[bool]:
    found = [(await store.commit("transactions", Batch({"approved": 1}, {}, 1, 0.0), k, "d"))[1]
             for k in keys]
    await store.close()
    return found


def test_corrupt_state_is_refused_in_one_line_with_recovery(tmp_path):
    _fill(tmp_path)
    with open(tmp_path / DB_NAME, "r+b") as db:
        db.seek(0)
        db.write(b"not an sqlite file at all")
    err = _refusal(f"--state.dir={tmp_path}")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "corrupt" in err and "restore" in err and str(tmp_path) in err


def test_flipped_byte_in_a_key_digest_is_refused_as_corrupt(exporter_process, tmp_path):
    body = json.dumps({"status": "approved", "count": 7}).encode()
    digest = hashlib.sha256(body).hexdigest()[:32].encode()  # the stored body digest
    ex = exporter_process(f"--state.dir={tmp_path}").start()
    assert requests.post(ex.url + TX, data=body, timeout=5, headers={
        "Content-Type": "application/json", "Idempotency-Key": "k"}).status_code == 200
    ex.stop()  # checkpointed: the row is in state.db itself
    data = (tmp_path / DB_NAME).read_bytes()
    assert data.count(digest) == 1
    at = data.index(digest) + 5
    (tmp_path / DB_NAME).write_bytes(data[:at] + b"\xff" + data[at + 1:])  # not UTF-8
    err = _refusal(f"--state.dir={tmp_path}")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{DB_NAME} is corrupt" in err and str(tmp_path / DB_NAME) in err
    assert "restore" in err and "aside" in err, err


def _damage(path, how: str) -> None:
    """Cut a file in half, change one of its digits (a number, in a text format), or delete it."""
    data = bytearray(path.read_bytes())
    if how == "cut":
        path.write_bytes(data[:len(data) // 2])
    elif how.startswith("digit"):  # digit1..digit4: four numbers spread over the file
        digits = [i for i, b in enumerate(data) if 0x31 <= b <= 0x38]
        values = [i for i in digits if data[i - 1] == ord(":")]  # "name":123 in a text format
        digits = values if len(values) >= 5 else digits
        data[digits[len(digits) * int(how[5:]) // 5]] += 1
        path.write_bytes(bytes(data))
    else:
        path.unlink()


def _start_or_refusal(state) -> tuple[subprocess.Popen[bytes], str | None]:
    """Start an exporter on ``state``: (process, None) when ready, (process, stderr) refused."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "txwatch.exporter",
                             f"--web.listen-address=127.0.0.1:{port}", f"--state.dir={state}"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready", proc, "exporter", seconds=30)
    except RuntimeError as exc:  # the message carries the process's stderr
        return proc, str(exc).removeprefix("exporter exited: ")
    proc.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return proc, None


@pytest.mark.slow
def test_cut_changed_or_deleted_state_file_is_refused_or_exact(exporter_process, tmp_path):
    """Whatever files the state dir holds after a crash: each damage refused, or exact."""
    pristine = tmp_path / "state"
    ex = exporter_process(f"--state.dir={pristine}").start()
    for i in range(40):
        if i == 20:  # a clean restart in between: older state compacted, newer one logged
            ex.stop()
            ex.start()
        assert push(ex.url, "approved", i + 1, key=f"k{i}").status_code == 200
    expected = totals(ex.url)
    ex.kill9()
    files = sorted(p.name for p in pristine.iterdir() if p.name != "lock" and p.stat().st_size)
    outcomes: dict[str, list[str]] = {"refused": [], "exact": []}
    for name in files:
        for how in ("cut", "digit1", "digit2", "digit3", "digit4", "delete"):
            state = tmp_path / f"{name}-{how}"
            shutil.copytree(pristine, state)
            _damage(state / name, how)
            proc, refusal = _start_or_refusal(state)
            try:
                if refusal is not None:
                    assert refusal.count("\n") == 1 and "Traceback" not in refusal, refusal
                    assert "restore" in refusal or "move" in refusal, refusal
                    outcomes["refused"].append(f"{name} {how}")
                    continue
                url = proc.url  # type: ignore[attr-defined]
                assert totals(url) == expected, f"{name} {how}: totals silently changed"
                retry = push(url, "approved", 1, key="k0")
                assert retry.headers.get("Idempotent-Replayed") == "true", f"{name} {how}"
                outcomes["exact"].append(f"{name} {how}")
            finally:
                stop_process(proc, 10)
    print(outcomes)
    assert outcomes["refused"], outcomes
