"""The one owner of the exporter's state: counters, recent data minutes, idempotency keys.

Every mutation goes through :meth:`Store.commit`: the batches of concurrent requests are
grouped by a single writer into one SQLite transaction (one fsync), applied to the in-memory
view only once durable, and then the waiting requests are resolved. Any error of a group fails
its requests with :class:`StorageError` and the writer carries on with the next group.
Readers (``/metrics``) get an immutable :class:`Snapshot`; keys are looked up in the database.
Time comes from an injected clock. The writer also enforces the bounds on distinct labels
and dimension values (:mod:`~txwatch.exporter.bounds`), so the check and the add are one
step. The counts themselves, per segment, are a :class:`~txwatch.exporter.tally.Tally`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from txwatch import contract
from txwatch.exporter import legacy, readiness, segments
from txwatch.exporter.bounds import Bound, admitted
from txwatch.exporter.config import Config
from txwatch.exporter.parsing import Batch
from txwatch.exporter.statedb import Group, StateDB
from txwatch.exporter.tally import Snapshot, Tally

__all__ = ["KeyConflict", "Snapshot", "StorageError", "Store"]

log = logging.getLogger("txwatch.exporter")


class StorageError(RuntimeError):
    """The batch could not be made durable; nothing was applied."""


class KeyConflict(ValueError):
    """An Idempotency-Key was reused with a different body."""


@dataclass
class _Pending:
    entry: dict[str, Any] | None  # None: a readiness probe (writes only a meta row)
    future: asyncio.Future[None] = field(repr=False)


class Store:
    """In-memory view of the database behind one lock; see the module docstring."""

    def __init__(self, config: Config, clock: Callable[[], float],
                 db: StateDB | None = None) -> None:
        self._config = config
        self._clock = clock
        self._db = db if db is not None else StateDB(None)
        self.directory = self._db.directory
        self.gone = self._db.problem  # why commits no longer reach the state dir's files
        self._lock = threading.Lock()
        self._bounds = {kind.name: Bound(*bound, kind.label) for kind in contract.KINDS
                        if (bound := config.bound(kind)) is not None}
        self._bounds.update({segments.bound_key(name): Bound(
            config.max_segment_values, segments.MAX_VALUES_FLAG, name,
            f"too_many_{name}_values") for name in config.dimensions})
        legacy.migrate(self._db)
        loaded = self._db.load()
        self._tally = Tally(config, loaded)
        self._newest: float | None = loaded.meta.get("newest")
        self._last_push: float | None = loaded.meta.get("last_push")
        self._key_count = loaded.keys
        self._inflight: dict[str, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self.failing: str | None = None  # why the last group failed, until one succeeds
        self.full_at: int | None = None  # free bytes when it failed for lack of space

    # ---- writes -------------------------------------------------------------------------
    async def commit(self, kind: str, batch: Batch, key: str | None = None,
                     body_digest: str = "") -> tuple[dict[str, Any], bool]:
        """Apply a validated batch once; return (response, replayed_from_key)."""
        now = self._clock()
        if (gone := self.gone()) is not None:  # not even a replay: its answer may be gone
            raise StorageError(f"state not stored: {gone}")
        future: asyncio.Future[dict[str, Any]] | None = None
        if key is not None:
            key = f"{kind}:{key}"
            waiting = self._inflight.get(key)  # no await between this check and the insert
            if waiting is not None:
                if waiting[0] != body_digest:
                    raise KeyConflict("Idempotency-Key is in use with a different body")
                return await asyncio.shield(waiting[1]), True
            seen = self._remembered(key, now)
            if seen is not None:
                if seen[0] != body_digest:
                    raise KeyConflict("Idempotency-Key was already used with a different body")
                return seen[1], True
            future = asyncio.get_running_loop().create_future()
            self._inflight[key] = (body_digest, future)
        parts = batch.parts()
        totals = [(segment, label, n) for segment, counts in parts
                  for label, n in counts.totals.items()]
        response = {"accepted": batch.records, "transactions": sum(n for _, _, n in totals)}
        # Only recent minutes feed the gauges: older ones would be pruned anyway.
        horizon = max(self._newest or 0.0, batch.newest_timestamp) - 60 * (
            self._config.minutes_kept + 1)
        minutes = [(m, segment, label, n) for segment, counts in parts
                   for (m, label), n in counts.minutes.items() if m >= horizon] \
            if kind == contract.TRANSACTIONS.name else []
        # What the batch brings under the bounds: its labels, and each dimension's values.
        wanted = [(kind, {label for _, label, _ in totals}, batch.firsts)]
        wanted += [(segments.bound_key(name), values, values)
                   for name, values in batch.values.items()]
        entry = {"kind": kind, "key": key, "digest": body_digest, "wall": now,
                 "newest": batch.newest_timestamp, "totals": totals, "wanted": wanted,
                 "minutes": minutes, "response": response}
        try:
            await self._enqueue(entry)
        except BaseException as exc:
            if future is not None:
                del self._inflight[key]  # type: ignore[arg-type]
                future.set_exception(exc)
                future.exception()  # mark retrieved: the caller got it already
            raise
        if future is not None:
            del self._inflight[key]  # type: ignore[arg-type]
            future.set_result(response)
        return response, False

    def _remembered(self, key: str, now: float) -> tuple[str, dict[str, int]] | None:
        try:
            row = self._db.lookup(key)
        except Exception as exc:
            raise StorageError(f"idempotency key not readable: {exc}") from None
        if row is None or row[1] < now - self._config.idempotency_ttl_seconds:
            return None
        return row[0], {"accepted": row[2], "transactions": row[3]}

    async def probe(self) -> bool:
        """Write a meta row through the writer: True once storage works again."""
        try:
            await self._enqueue(None)
        except StorageError:
            return False
        return True

    async def _enqueue(self, entry: dict[str, Any] | None) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(entry, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_groups())
        await future

    async def _write_groups(self) -> None:
        """The single writer: one transaction per group; never dies on a failed group."""
        while self._pending:
            pendings, self._pending = admitted(self._pending, self._tally.seen, self._bounds), []
            if not pendings:  # all refused by a bound: nothing to write
                continue
            try:
                group = self._group([p.entry for p in pendings if p.entry is not None])
                removed = await asyncio.to_thread(self._db.write, group)
            except Exception as exc:
                self.failing = f"{type(exc).__name__}: {exc}"
                self.full_at = readiness.free_if_full(exc, self.directory)
                log.error("state not stored (%d requests answered 503): %s",
                          len(pendings), self.failing)
                for pending in pendings:
                    if not pending.future.done():
                        pending.future.set_exception(
                            StorageError(f"state not stored: {self.failing}"))
                continue
            except BaseException:
                for pending in pendings + self._pending:
                    pending.future.cancel()
                raise
            with self._lock:
                self._apply(group, removed)
            self.failing, self.full_at = None, None
            for pending in pendings:
                if not pending.future.done():
                    pending.future.set_result(None)
            if self._db.checkpoint_due():
                try:
                    await asyncio.to_thread(self._db.checkpoint)
                except Exception as exc:  # the WAL still holds everything
                    log.warning("checkpoint failed: %s", exc)

    def _group(self, entries: list[dict[str, Any]]) -> Group:
        """The rows the entries change, with their new values (nothing applied yet)."""
        now = self._clock()
        group = Group(meta={"probe": now}, expire_keys_before=(
            now - self._config.idempotency_ttl_seconds))
        for entry in entries:
            self._tally.add(group, entry["kind"], entry["totals"], entry["minutes"])
            if entry["newest"] and entry["newest"] > group.meta.get("newest", self._newest or 0):
                group.meta["newest"] = entry["newest"]
            group.meta["last_push"] = max(entry["wall"],
                                         group.meta.get("last_push", self._last_push or 0.0))
            if entry["key"] is not None:
                response = entry["response"]
                group.keys.append((entry["key"], entry["digest"], entry["wall"],
                                   response["accepted"], response["transactions"]))
        self._tally.prune(group)
        group.keys_before, group.max_keys = self._key_count, self._config.idempotency_max_keys
        return group

    def _apply(self, group: Group, keys_removed: int) -> None:
        self._tally.apply(group)
        self._newest = group.meta.get("newest", self._newest)
        self._last_push = group.meta.get("last_push", self._last_push)
        self._key_count += len(group.keys) - keys_removed

    async def close(self) -> None:
        """Wait for the writer, checkpoint and close the database (releases the dir lock)."""
        while self._writer is not None and not self._writer.done():
            await self._writer
        await asyncio.to_thread(self._db.close)

    # ---- reads --------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        now = self._clock()
        with self._lock:
            return self._tally.snapshot(now, newest_data_timestamp=self._newest,
                                        last_push_timestamp=self._last_push,
                                        idempotency_keys=self._key_count)
