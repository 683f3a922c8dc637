"""Units of the state owner: key cache bounds, journal compaction and recovery."""

from __future__ import annotations

import asyncio

from txwatch.exporter.config import Config
from txwatch.exporter.idempotency import KeyCache, Remembered
from txwatch.exporter.journal import JOURNAL_NAME, SNAPSHOT_NAME, Journal
from txwatch.exporter.parsing import Batch
from txwatch.exporter.store import Store


def test_keys_live_at_least_ttl_then_expire():
    cache = KeyCache(ttl_seconds=86_400, max_keys=10)
    cache.put("a", Remembered("d", 0.0, {"accepted": 1}), now=0.0)
    assert cache.get("a", now=86_399.0) is not None
    assert cache.get("a", now=86_401.0) is None
    cache.expire(now=86_401.0)
    assert len(cache) == 0


def test_key_count_is_bounded_oldest_first():
    cache = KeyCache(ttl_seconds=86_400, max_keys=3)
    for i in range(5):
        cache.put(f"k{i}", Remembered("d", float(i), {}), now=float(i))
    assert len(cache) == 3
    assert cache.get("k0", 5.0) is None and cache.get("k4", 5.0) is not None


def _batch(status: str, n: int) -> Batch:
    return Batch(totals={status: n}, minutes={(1_752_327_900, status): n}, records=1,
                 newest_timestamp=1_752_327_900.0)


def test_compaction_then_recovery_is_exact(tmp_path):
    config = Config(state_dir=tmp_path, snapshot_every_entries=5)

    async def feed() -> Store:
        store = Store(config, lambda: 1_752_400_000.0, Journal(tmp_path))
        for first in (1, 5, 9):  # three commit groups of four concurrent batches
            await asyncio.gather(*(store.commit("transactions", _batch("failed", i),
                                                key=f"k{i}") for i in range(first, first + 4)))
        await store.drain()
        return store

    store = asyncio.run(feed())
    assert (tmp_path / SNAPSHOT_NAME).exists()
    journal_lines = (tmp_path / JOURNAL_NAME).read_bytes().count(b"\n")
    assert journal_lines < 12  # compacted part lives in the snapshot
    again = Store(config, lambda: 1_752_400_000.0, Journal(tmp_path))
    assert again.snapshot().totals == store.snapshot().totals
    assert again.snapshot().totals["transactions"]["failed"] == sum(range(1, 13))
    assert again.snapshot().idempotency_keys == 12

    async def retry() -> tuple[dict, bool]:
        return await again.commit("transactions", _batch("failed", 3), key="k3")

    _, replayed = asyncio.run(retry())
    assert replayed and again.snapshot().totals["transactions"]["failed"] == 78


def test_current_minute_is_not_complete():
    store = Store(Config(), lambda: 1_752_327_930.0)  # 30 s into the 13:45 minute

    async def feed() -> None:
        await store.commit("transactions", Batch({"approved": 5}, {(1_752_327_840, "approved"): 5},
                                                 1, 1_752_327_840.0))
        await store.commit("transactions", Batch({"approved": 7}, {(1_752_327_900, "approved"): 7},
                                                 1, 1_752_327_900.0))

    asyncio.run(feed())
    snap = store.snapshot()
    assert snap.last_minute_start == 1_752_327_840 and snap.last_minute == {"approved": 5}
