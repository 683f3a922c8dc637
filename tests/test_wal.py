"""Damage SQLite's own recovery hides: flipped bytes in the WAL, lost commits, a deleted file.

SQLite drops a WAL frame whose checksum fails and every commit after it, without an error.
The state database refuses such a state dir (a damaged frame followed by intact commits,
or fewer commits than ``state.db-mark`` says were acknowledged) before SQLite can write,
so a refusal changes nothing; an intact copy of the same files starts with exact totals.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO, metric_value
from txwatch.exporter.config import Config
from txwatch.exporter.guard import MARK_NAME, scan_wal
from txwatch.exporter.lockfile import StateDirError
from txwatch.exporter.parsing import Batch
from txwatch.exporter.statedb import DB_NAME, StateDB
from txwatch.exporter.store import Store

NOW = 1_752_400_000.0
MINUTE = 1_752_327_900
WAL = DB_NAME + "-wal"
FRAME = 24 + 4096  # SQLite's default page size


def _killed_after_commits(state: Path, commits: int) -> int:
    """A child commits ``commits`` keyed groups of 1..n, then is SIGKILLed: the WAL stays."""
    pid = os.fork()
    if pid == 0:
        try:
            store = Store(Config(state_dir=state), lambda: NOW, StateDB(state))

            async def feed() -> None:
                for i in range(commits):
                    await store.commit("transactions", Batch(
                        {"approved": i + 1}, {(MINUTE, "approved"): i + 1}, 1, MINUTE),
                        f"k{i}", "d")

            asyncio.run(feed())
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    return sum(range(1, commits + 1))


def _open(state: Path) -> Store:
    return Store(Config(state_dir=state), lambda: NOW, StateDB(state))


def _digests(state: Path) -> dict[str, str]:
    """Every state file but SQLite's shared-memory index, the lock and an empty WAL."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in state.iterdir()
            if p.name not in (DB_NAME + "-shm", "lock") and p.stat().st_size > 0}


def _sqlite_alone(state: Path) -> int:
    """What plain SQLite reads from a copy: the silent answer the guards refuse."""
    copy = state.parent / (state.name + "-plain")
    shutil.copytree(state, copy)
    conn = sqlite3.connect(copy / DB_NAME)
    try:
        found = conn.execute("SELECT value FROM totals WHERE label = 'approved'").fetchone()
    except sqlite3.OperationalError:  # even the tables were in the dropped frames
        found = None
    conn.close()
    shutil.rmtree(copy)
    return found[0] if found else 0


def _flip(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def _current_log_end(wal: Path) -> int:
    """Where the frames carrying the header's salts end (older frames follow)."""
    data, end = wal.read_bytes(), 32
    while end + FRAME <= len(data) and data[end + 8:end + 16] == data[16:24]:
        end += FRAME
    return end


def _refused(state: Path) -> str:
    before = _digests(state)
    with pytest.raises(StateDirError) as refusal:
        _open(state)
    assert _digests(state) == before, "a refusal changed a state file"
    message = str(refusal.value)
    assert "corrupt" in message and "restore" in message and "move" in message
    return message


def test_intact_wal_of_a_killed_writer_recovers_exactly(tmp_path):
    expected = _killed_after_commits(tmp_path, 30)
    assert (tmp_path / WAL).stat().st_size > 30 * FRAME and scan_wal(tmp_path / WAL) is None
    store = _open(tmp_path)
    assert store.snapshot().totals["transactions"]["approved"] == expected
    asyncio.run(store.close())


def test_flip_in_an_early_frame_names_the_frame_and_changes_nothing(tmp_path):
    expected = _killed_after_commits(tmp_path, 30)
    _flip(tmp_path / WAL, 32 + 3 * FRAME + 24 + 100)  # page data of the fourth frame
    assert _sqlite_alone(tmp_path) < expected  # what SQLite alone would have said
    message = _refused(tmp_path)
    assert f"{WAL} is damaged at frame 4 of" in message and "later committed" in message


def test_flip_in_the_last_commit_is_caught_by_the_mark(tmp_path):
    expected = _killed_after_commits(tmp_path, 30)
    wal = tmp_path / WAL
    frames = (wal.stat().st_size - 32) // FRAME
    _flip(wal, 32 + (frames - 1) * FRAME + 24 + 7)  # the last frame: the newest commit
    assert _sqlite_alone(tmp_path) == expected - 30
    assert scan_wal(wal) is None or scan_wal(wal)[1] < 2  # alone it looks like a torn tail
    message = _refused(tmp_path)
    assert f"hold 29 commits but 30 were acknowledged ({MARK_NAME})" in message


def test_deleted_database_or_damaged_mark_is_refused(tmp_path):
    state = tmp_path / "state"
    _killed_after_commits(state, 5)
    saved = (state / DB_NAME).read_bytes()
    (state / DB_NAME).unlink()  # SQLite would delete the WAL and start from zero
    assert "is missing or empty" in _refused(state)
    assert (state / WAL).exists()
    (state / DB_NAME).write_bytes(saved)
    _flip(state / MARK_NAME, 9)
    assert "fails its checksum" in _refused(state)


def test_restored_backup_needs_the_mark_removed(tmp_path):
    live, backup = tmp_path / "live", tmp_path / "backup"
    _killed_after_commits(live, 3)
    store = _open(live)
    asyncio.run(store.close())  # a clean stop: the WAL is checkpointed away
    shutil.copytree(live, backup)
    _killed_after_commits(live, 6)  # more commits after the backup
    for name in (DB_NAME, WAL):
        (live / name).unlink(missing_ok=True)
    shutil.copy(backup / DB_NAME, live / DB_NAME)
    assert "acknowledged pushes are missing" in _refused(live)
    (live / MARK_NAME).unlink()  # the operator accepts the loss, as the message says
    assert _open(live).snapshot().totals["transactions"]["approved"] == 6


@pytest.mark.slow
def test_random_flips_in_the_wal_of_a_killed_exporter_are_refused_or_exact(
        exporter_process, tmp_path):
    """A real exporter under concurrent keyed load, SIGKILLed; 150 random WAL flips.

    Flips in the current log drop commits in plain SQLite and are refused; flips in frames
    already checkpointed (past the current end) change nothing and start exactly.
    """
    pristine = tmp_path / "state"
    ex = exporter_process(f"--state.dir={pristine}", "--ingest.max-future=1e10").start()

    sent = [0]

    def client(n: int, round_: int) -> None:
        with requests.Session() as session:
            for i in range(10):
                count = n + i + round_
                r = session.post(ex.url + "/api/v1/transactions", timeout=10, json={
                    "timestamp": MINUTE + 60 * (i % 7), "status": "approved", "count": count},
                    headers={"Idempotency-Key": f"r{round_}-c{n}-{i}"})
                assert r.status_code == 200, r.text
                sent[0] += count

    # Until the WAL was checkpointed and restarted once: its older frames then lie past the
    # end of the current log (stale salts), as in a long-running exporter.
    with ThreadPoolExecutor(8) as pool:
        for round_ in range(200):
            list(pool.map(client, range(8), [round_] * 8))
            header = (pristine / WAL).read_bytes()[:16]
            if int.from_bytes(header[12:16], "big") >= 1 and \
                    _current_log_end(pristine / WAL) > 40 * FRAME:
                break
        else:
            raise AssertionError("the WAL was never checkpointed and restarted")
    text = requests.get(ex.url + "/metrics", timeout=5).text
    expected = metric_value(text, "payment_transactions_total", status="approved")
    assert expected == sent[0]
    ex.kill9()
    wal_size, current = (pristine / WAL).stat().st_size, _current_log_end(pristine / WAL)
    assert current > 20 * FRAME and wal_size > current + 20 * FRAME, (current, wal_size)
    rng = random.Random(7)
    outcomes = {"refused": 0, "exact": 0, "sqlite_alone_differs": 0}
    for trial in range(150):
        state = tmp_path / f"t{trial}"
        shutil.copytree(pristine, state)
        end = current if trial % 2 else wal_size  # half in the current log
        _flip(state / WAL, rng.randrange(end), rng.randrange(1, 256))
        if _sqlite_alone(state) != expected:
            outcomes["sqlite_alone_differs"] += 1
        before = _digests(state)
        try:
            store = _open(state)
        except StateDirError as exc:
            assert WAL in str(exc) and "restore" in str(exc), exc
            assert _digests(state) == before, "a refusal changed a state file"
            outcomes["refused"] += 1
            if outcomes["refused"] <= 3:  # and the real command says it in one line
                err = subprocess.run([sys.executable, "-m", "txwatch.exporter",
                                      "--web.listen-address=127.0.0.1:0",
                                      f"--state.dir={state}"], cwd=REPO, timeout=60,
                                     capture_output=True, text=True).stderr
                assert err.count("\n") == 1 and WAL in err and "Traceback" not in err, err
            continue
        assert store.snapshot().totals["transactions"]["approved"] == expected
        asyncio.run(store.close())
        outcomes["exact"] += 1
        shutil.rmtree(state)
    print(outcomes)
    assert outcomes["refused"] >= outcomes["sqlite_alone_differs"] > 20, outcomes
    assert outcomes["exact"] > 20, outcomes
