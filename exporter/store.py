"""The one owner of the exporter's state: counters, recent data minutes, idempotency keys.

Every mutation goes through :meth:`Store.commit`, which (with a state directory) groups the
batches of concurrent requests into one journal write + fsync, applies them under the lock
only once they are durable, and then resolves the waiting requests. Readers (``/metrics``)
get an immutable :class:`Snapshot`. Time comes from an injected clock.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from txwatch import contract
from txwatch.exporter.config import Config
from txwatch.exporter.idempotency import KeyCache, Remembered
from txwatch.exporter.journal import Journal
from txwatch.exporter.parsing import Batch


class StorageError(RuntimeError):
    """The batch could not be made durable; nothing was applied."""


class KeyConflict(ValueError):
    """An Idempotency-Key was reused with a different body."""


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the state for readers."""

    totals: dict[str, dict[str, int]]
    last_minute: dict[str, int]
    last_minute_start: float | None
    newest_data_timestamp: float | None
    last_push_timestamp: float | None
    idempotency_keys: int


@dataclass
class _Pending:
    entry: dict[str, Any]
    future: asyncio.Future[None] = field(repr=False)


class Store:
    """Counters and journal behind one lock; see the module docstring."""

    def __init__(self, config: Config, clock: Callable[[], float],
                 journal: Journal | None = None) -> None:
        self._config = config
        self._clock = clock
        self._journal = journal
        self._lock = threading.Lock()
        self._totals = {contract.TRANSACTIONS.name: dict.fromkeys(config.statuses, 0),
                        contract.AUTH_CODE_COUNTS.name: dict.fromkeys(config.auth_codes, 0)}
        self._minutes: dict[int, dict[str, int]] = {}
        self._newest: float | None = None
        self._last_push: float | None = None
        self._keys = KeyCache(config.idempotency_ttl_seconds, config.idempotency_max_keys)
        self._inflight: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self._since_snapshot = 0
        if journal is not None:
            snapshot, entries = journal.recover()
            if snapshot is not None:
                self._load(snapshot)
            for entry in entries:
                self._apply(entry)
            self._since_snapshot = len(entries)

    # ---- writes -------------------------------------------------------------------------
    async def commit(self, kind: str, batch: Batch, key: str | None = None,
                     body_digest: str = "") -> tuple[dict[str, Any], bool]:
        """Apply a validated batch once; return (response, replayed_from_key)."""
        now = self._clock()
        if key is not None:
            key = f"{kind}:{key}"
            with self._lock:
                seen = self._keys.get(key, now)
                waiting = self._inflight.get(key)
                if seen is None and waiting is None:
                    self._inflight[key] = asyncio.get_running_loop().create_future()
            if seen is not None:
                if seen.body_digest != body_digest:
                    raise KeyConflict("Idempotency-Key was already used with a different body")
                return seen.response, True
            if waiting is not None:
                return await asyncio.shield(waiting), True
        response = {"accepted": batch.records, "transactions": sum(batch.totals.values())}
        # Only recent minutes feed the gauges: older ones would be pruned on apply anyway.
        horizon = max(self._newest or 0.0, batch.newest_timestamp) - 60 * (
            self._config.minutes_kept + 1)
        minutes = [[m, label, n] for (m, label), n in batch.minutes.items() if m >= horizon] \
            if kind == contract.TRANSACTIONS.name else []
        entry = {"kind": kind, "key": key, "digest": body_digest, "wall": now,
                 "newest": batch.newest_timestamp, "totals": batch.totals,
                 "minutes": minutes, "response": response}
        try:
            if self._journal is None:
                with self._lock:
                    self._apply(entry)
            else:
                await self._enqueue(entry)
        except BaseException as exc:
            if key is not None:
                with self._lock:
                    future = self._inflight.pop(key)
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # mark retrieved: the caller got it already
            raise
        if key is not None:
            with self._lock:
                future = self._inflight.pop(key)
            future.set_result(response)
        return response, False

    async def _enqueue(self, entry: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(entry, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_groups())
        await future

    async def _write_groups(self) -> None:
        """The single writer: one journal line + one fsync per group of waiting batches."""
        assert self._journal is not None
        while self._pending:
            group, self._pending = self._pending, []
            line = json.dumps([p.entry for p in group], separators=(",", ":")) + "\n"
            try:
                await asyncio.to_thread(self._journal.append, line.encode())
            except OSError as exc:
                for pending in group:
                    pending.future.set_exception(StorageError(f"state not stored: {exc}"))
                continue
            with self._lock:
                for pending in group:
                    self._apply(pending.entry)
                self._since_snapshot += len(group)
            for pending in group:
                pending.future.set_result(None)
            if self._since_snapshot >= self._config.snapshot_every_entries:
                await self._snapshot_now()

    async def _snapshot_now(self) -> None:
        assert self._journal is not None
        with self._lock:
            doc = self._dump()
        try:
            await asyncio.to_thread(self._journal.write_snapshot, doc)
            self._since_snapshot = 0
        except OSError:
            pass  # the journal still holds everything; try again after the next group

    def _apply(self, entry: dict[str, Any]) -> None:
        totals = self._totals[entry["kind"]]
        for label, n in entry["totals"].items():
            totals[label] = totals.get(label, 0) + n
        minutes = self._minutes
        for minute, label, n in entry["minutes"]:
            bucket = minutes.get(minute)
            if bucket is None:
                bucket = minutes[minute] = {}
            bucket[label] = bucket.get(label, 0) + n
        if len(minutes) > 2 * self._config.minutes_kept:
            for minute in sorted(minutes)[: -self._config.minutes_kept]:
                del minutes[minute]
        if entry["newest"] and (self._newest is None or entry["newest"] > self._newest):
            self._newest = entry["newest"]
        self._last_push = max(self._last_push or 0.0, entry["wall"])
        if entry["key"] is not None:
            self._keys.put(entry["key"], Remembered(entry["digest"], entry["wall"],
                                                    entry["response"]), entry["wall"])

    # ---- persistence --------------------------------------------------------------------
    def _dump(self) -> dict[str, Any]:
        return {"version": 1, "totals": self._totals, "newest": self._newest,
                "last_push": self._last_push, "keys": self._keys.dump(),
                "minutes": [[m, label, n] for m, bucket in self._minutes.items()
                            for label, n in bucket.items()]}

    def _load(self, doc: dict[str, Any]) -> None:
        for kind in contract.KINDS:
            self._totals[kind.name].update(doc["totals"][kind.name])
        for minute, label, n in doc["minutes"]:
            self._minutes.setdefault(minute, {})[label] = n
        self._newest, self._last_push = doc["newest"], doc["last_push"]
        self._keys.load(doc["keys"], self._clock())

    async def drain(self) -> None:
        """Wait until the writer has nothing left (including a due snapshot)."""
        while self._writer is not None and not self._writer.done():
            await self._writer

    async def close(self) -> None:
        """Wait for the writer, write a final snapshot and close the files."""
        if self._journal is None:
            return
        await self.drain()
        await self._snapshot_now()
        self._journal.close()

    # ---- reads --------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        now = self._clock()
        with self._lock:
            totals = {kind: dict(values) for kind, values in self._totals.items()}
            newest_minute = max(self._minutes) if self._minutes else None
            complete = None
            if newest_minute is not None:
                complete = newest_minute
                if newest_minute + 60 > now:  # the current minute is still filling up
                    older = [m for m in self._minutes if m < newest_minute]
                    complete = max(older) if older else None
            last = dict(self._minutes[complete]) if complete is not None else {}
            return Snapshot(totals, last, complete, self._newest, self._last_push,
                            len(self._keys))
