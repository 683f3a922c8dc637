"""Units of the state owner on a real SQLite database: group commit, recovery, keys, faults."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import tracemalloc

import pytest

from txwatch.exporter.config import Config
from txwatch.exporter.legacy import JOURNAL_NAME, SNAPSHOT_NAME
from txwatch.exporter.lockfile import StateDirError
from txwatch.exporter.parsing import Batch
from txwatch.exporter.schema import Group
from txwatch.exporter.statedb import DB_NAME, StateDB
from txwatch.exporter.store import KeyConflict, StorageError, Store

NOW = 1_752_400_000.0


def _batch(status: str, n: int, minute: int = 1_752_327_900) -> Batch:
    return Batch(totals={status: n}, minutes={(minute, status): n}, records=1,
                 newest_timestamp=float(minute))


def _store(path, fault=None, **config) -> Store:
    return Store(Config(state_dir=path, **config), lambda: NOW, StateDB(path, fault=fault))


def test_group_commit_then_recovery_is_exact(tmp_path):
    async def feed() -> Store:
        store = _store(tmp_path)
        for first in (1, 5, 9):  # three groups of four concurrent batches
            await asyncio.gather(*(store.commit("transactions", _batch("failed", i),
                                                key=f"k{i}") for i in range(first, first + 4)))
        await store.close()
        return store

    first = asyncio.run(feed())
    again = _store(tmp_path)
    assert again.snapshot().totals == first.snapshot().totals
    assert again.snapshot().totals["transactions"]["failed"] == sum(range(1, 13))
    assert again.snapshot().idempotency_keys == 12

    async def retry() -> tuple[dict, bool]:
        response = await again.commit("transactions", _batch("failed", 3), key="k3")
        await again.close()
        return response

    _, replayed = asyncio.run(retry())
    assert replayed and again.snapshot().totals["transactions"]["failed"] == 78


def test_keys_expire_by_age_and_count_without_loading_them(tmp_path):
    clock = [NOW]
    store = Store(Config(state_dir=tmp_path, idempotency_ttl_seconds=100,
                         idempotency_max_keys=3), lambda: clock[0], StateDB(tmp_path))

    async def feed() -> None:
        for i in range(5):
            clock[0] = NOW + i
            await store.commit("transactions", _batch("approved", 1), key=f"k{i}")
        assert store.snapshot().idempotency_keys == 3
        _, replayed = await store.commit("transactions", _batch("approved", 1), key="k0")
        assert not replayed  # forgotten: the oldest went first
        clock[0] = NOW + 1000  # every key is past its TTL
        await store.commit("transactions", _batch("approved", 1), key="late")
        assert store.snapshot().idempotency_keys == 1
        await store.close()

    asyncio.run(feed())


def test_same_key_different_body_concurrently_is_a_conflict(tmp_path):
    store = _store(tmp_path)  # the first commit waits for its fsync: the others race it

    async def race() -> list:
        return await asyncio.gather(
            store.commit("transactions", _batch("approved", 1), "k", "digest-a"),
            store.commit("transactions", _batch("approved", 2), "k", "digest-b"),
            store.commit("transactions", _batch("approved", 1), "k", "digest-a"),
            return_exceptions=True)

    first, second, third = asyncio.run(race())
    assert first == ({"accepted": 1, "transactions": 1}, False)
    assert isinstance(second, KeyConflict)
    assert third == (first[0], True)
    assert store.snapshot().totals["transactions"]["approved"] == 1
    asyncio.run(store.close())


def test_only_complete_minutes_are_reported_even_with_future_data():
    store = Store(Config(), lambda: 1_752_327_930.0)  # 30 s into the 13:45 minute

    async def feed() -> None:
        for minute, n in ((1_752_327_840, 5), (1_752_327_900, 7), (1_752_328_080, 9)):
            await store.commit("transactions", _batch("approved", n, minute))

    asyncio.run(feed())  # 13:44 complete, 13:45 filling, 13:48 in the future
    snap = store.snapshot()
    assert snap.last_minute_start == 1_752_327_840 and snap.last_minute == {"approved": 5}


@pytest.mark.parametrize("error", [OSError(24, "Too many open files"), RuntimeError("boom")])
def test_a_failed_group_fails_its_requests_and_the_next_one_succeeds(tmp_path, error):
    armed = [True]

    def fault(step: str) -> None:
        if step == "write" and armed[0]:
            armed[0] = False
            raise error

    store = _store(tmp_path, fault)

    async def run() -> None:
        with pytest.raises(StorageError):  # a timeout here: the writer died or hangs
            await asyncio.wait_for(store.commit("transactions", _batch("denied", 4), key="a"),
                                   10)
        assert store.failing is not None
        assert store.snapshot().totals["transactions"]["denied"] == 0
        assert await asyncio.wait_for(store.commit("transactions", _batch("denied", 4),
                                                   key="a"), 10) == (
            {"accepted": 1, "transactions": 4}, False)
        assert store.failing is None
        await store.close()

    asyncio.run(run())
    assert _store(tmp_path).snapshot().totals["transactions"]["denied"] == 4


def test_second_owner_of_a_state_dir_is_refused(tmp_path):
    first = StateDB(tmp_path)
    with pytest.raises(StateDirError, match=f"{tmp_path} is in use by .*pid {os.getpid()}"):
        StateDB(tmp_path)
    first.close()
    StateDB(tmp_path).close()  # released on close


def test_v1_state_dir_is_migrated_once_exactly(tmp_path):
    (tmp_path / SNAPSHOT_NAME).write_text(json.dumps({
        "version": 1, "totals": {"transactions": {"approved": 10}, "auth_codes": {"51": 2}},
        "newest": 1_752_327_900.0, "last_push": NOW - 5,
        "keys": [["transactions:old", "d0", NOW - 5, {"accepted": 1, "transactions": 10}]],
        "minutes": [[1_752_327_900, "approved", 10]]}))
    entry = {"kind": "transactions", "key": "transactions:j1", "digest": "d1", "wall": NOW - 1,
             "newest": 1_752_327_960.0, "totals": {"failed": 3},
             "minutes": [[1_752_327_960, "failed", 3]],
             "response": {"accepted": 1, "transactions": 3}}
    (tmp_path / JOURNAL_NAME).write_text(json.dumps([entry]) + "\n" + '[{"kind":"tra')
    for _ in range(2):  # the second start must not add the old files again
        store = _store(tmp_path)
        snap = store.snapshot()
        assert snap.totals["transactions"]["approved"] == 10
        assert snap.totals["transactions"]["failed"] == 3
        assert snap.totals["auth_codes"]["51"] == 2 and snap.idempotency_keys == 2
        asyncio.run(store.close())
    assert (tmp_path / (JOURNAL_NAME + ".migrated")).exists()
    assert not (tmp_path / SNAPSHOT_NAME).exists()
    assert (tmp_path / DB_NAME).exists()


def test_checkpoint_follows_the_log_in_use_not_the_reused_file(tmp_path):
    """After a checkpoint SQLite reuses the WAL file from its start: not due again at once."""
    db = StateDB(tmp_path, checkpoint_wal_bytes=64 << 10)
    db.write(Group())
    db.checkpoint()  # the tables' first pages are in the database file
    groups = 0
    while not db.checkpoint_due():
        groups += 1
        db.write(Group(totals={("transactions", "", "approved"): groups}, keys=[
            (f"k{groups}-{i}", "d", NOW, 1, 1) for i in range(50)]))
    assert groups > 1
    db.checkpoint()
    db.write(Group(totals={("transactions", "", "approved"): groups + 1}))
    assert (tmp_path / (DB_NAME + "-wal")).stat().st_size > 64 << 10  # the file kept its size
    assert not db.checkpoint_due()
    db.close()


def test_remembered_keys_are_not_held_in_python_memory(tmp_path):
    """Keys live in the database: 20,000 of them must not grow the heap (they once cost
    ~850 bytes each, 85 MiB of resident memory for 100,000)."""
    store = Store(Config(state_dir=tmp_path), lambda: NOW, StateDB(tmp_path, fsync=False))

    async def feed(first: int) -> None:
        await asyncio.gather(*(store.commit("transactions", _batch("approved", 1),
                                            key=f"key-{i:08d}", body_digest="d" * 32)
                               for i in range(first, first + 2000)))

    asyncio.run(feed(0))  # caches, statements and the writer warmed up
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for first in range(2000, 20_000, 2000):
            asyncio.run(feed(first))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert store.snapshot().idempotency_keys == 20_000
    assert store.snapshot().totals["transactions"]["approved"] == 20_000
    assert grown < 1 << 20, f"{grown / 18_000:.0f} bytes per remembered key"
    asyncio.run(store.close())
