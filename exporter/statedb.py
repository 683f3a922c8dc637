"""Durable state: one SQLite database (WAL mode, ``synchronous=FULL``) in the state directory.

SQLite gives crash-consistent transactions and checksummed WAL frames; this module keeps only
the schema, the writes of one commit group (one transaction, one fsync) and the start-up
checks. Every stored row carries a CRC-32 of its values, checked at start, so a flipped byte
in the database is refused instead of silently changing a total. Without a directory the same
schema lives in memory. ``fault`` is a test hook called at every step of the commit path.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from txwatch.exporter.lockfile import StateDirError, StateLock

DB_NAME = "state.db"
SCHEMA_VERSION = 2  # 1 was the JSON journal + snapshot (txwatch.exporter.legacy)
CHECKPOINT_WAL_BYTES = 4 << 20
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value REAL, crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS totals(kind TEXT, label TEXT, value INTEGER NOT NULL,
    crc INTEGER NOT NULL, PRIMARY KEY(kind, label)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS minutes(minute INTEGER, label TEXT, value INTEGER NOT NULL,
    crc INTEGER NOT NULL, PRIMARY KEY(minute, label)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys(key TEXT PRIMARY KEY, digest TEXT NOT NULL, wall REAL NOT NULL,
    accepted INTEGER NOT NULL, transactions INTEGER NOT NULL, crc INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys_by_wall ON keys(wall);
"""
Fault = Callable[[str], None]


def crc(*values: Any) -> int:
    return zlib.crc32("\x1f".join(map(repr, values)).encode("utf-8", "surrogateescape"))


@dataclass
class Loaded:
    """What the database holds, as read (and checked) at start."""

    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    minutes: dict[tuple[int, str], int] = field(default_factory=dict)
    meta: dict[str, float] = field(default_factory=dict)
    keys: int = 0


@dataclass
class Group:
    """The rows one commit group writes: new values, not increments."""

    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    minutes: dict[tuple[int, str], int] = field(default_factory=dict)
    meta: dict[str, float] = field(default_factory=dict)
    keys: list[tuple[str, str, float, int, int]] = field(default_factory=list)
    prune_minutes_before: int | None = None
    expire_keys_before: float = float("-inf")
    keys_before: int = 0  # how many the table held before this group
    max_keys: int = 1 << 62


class StateDB:
    """The state database; writes come from the store's single writer, one group at a time."""

    def __init__(self, directory: Path | None, fsync: bool = True,
                 fault: Fault | None = None,
                 checkpoint_wal_bytes: int = CHECKPOINT_WAL_BYTES) -> None:
        self.directory = directory
        self.checkpoint_wal_bytes = checkpoint_wal_bytes
        self._fault = fault or (lambda step: None)
        self._lock: StateLock | None = None
        self._read_lock = threading.Lock()
        if directory is None:
            self.path = ":memory:"
            self._writer = self._connect()
            self._reader, self._write_lock = self._writer, self._read_lock
        else:
            self._lock = StateLock(directory)
            self.path = str(directory / DB_NAME)
            self._write_lock = threading.Lock()
            try:
                self._writer = self._connect(fsync)
                self._reader = self._connect(fsync)
            except Exception as exc:  # a damaged file fails in odd ways (even decoding)
                self._lock.release()
                raise self.refusal(exc) from None

    def _connect(self, fsync: bool = True) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=10)
        if self.directory is not None:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the writer checkpoints (fault steps)
        conn.executescript(_SCHEMA)
        return conn

    def corrupt(self, detail: str) -> StateDirError:
        return StateDirError(
            f"state dir {self.directory}: {DB_NAME} is corrupt ({detail[:200]}); nothing was "
            f"changed. To recover, stop the exporter and restore {self.path} from a backup, "
            f"or move {self.path}* aside to start again from zero totals")

    def refusal(self, exc: Exception) -> StateDirError:
        """A directory that cannot be used now (full disk, permissions), or corruption."""
        if isinstance(exc, sqlite3.OperationalError):
            return StateDirError(f"state dir {self.directory}: cannot open {DB_NAME}: {exc}")
        return self.corrupt(f"{type(exc).__name__}: {exc}")

    def load(self) -> Loaded:
        """Check integrity and every row's checksum; return the stored state."""
        loaded = Loaded()
        try:
            with self._write_lock:
                conn = self._writer
                problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
                if problems != ["ok"]:
                    raise self.corrupt("; ".join(problems))
                for kind, label, value, check in conn.execute("SELECT * FROM totals"):
                    self._verify("totals", check, kind, label, value)
                    loaded.totals[kind, label] = value
                for minute, label, value, check in conn.execute("SELECT * FROM minutes"):
                    self._verify("minutes", check, minute, label, value)
                    loaded.minutes[minute, label] = value
                for name, value, check in conn.execute("SELECT * FROM meta"):
                    self._verify("meta", check, name, value)
                    loaded.meta[name] = value
                for row in conn.execute("SELECT * FROM keys"):
                    self._verify("keys", row[-1], *row[:-1])
                    loaded.keys += 1
        except StateDirError:
            raise
        except Exception as exc:
            raise self.refusal(exc) from None
        if loaded.meta.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise StateDirError(f"state dir {self.directory}: schema "
                                f"{loaded.meta['schema']:g} is not {SCHEMA_VERSION}")
        return loaded

    def _verify(self, table: str, check: Any, *values: Any) -> None:
        if check != crc(*values):
            raise self.corrupt(f"checksum mismatch in table {table}: {values!r:.80}")

    def write(self, group: Group) -> int:
        """Apply one group in one transaction (durable on return); return keys removed."""
        with self._write_lock:
            conn = self._writer
            try:
                return self._write(conn, group)
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        self._writer = self._reopen(conn)
                raise

    def _write(self, conn: sqlite3.Connection, group: Group) -> int:
        self._fault("begin")
        conn.execute("BEGIN IMMEDIATE")
        # Values are normalised to the column types first, so the checksums read back equal.
        meta = {n: float(v) for n, v in {"schema": SCHEMA_VERSION, **group.meta}.items()}
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?,?,?)",
                         [(n, v, crc(n, v)) for n, v in meta.items()])
        conn.executemany("INSERT OR REPLACE INTO totals VALUES (?,?,?,?)",
                         [(k, lb, v, crc(k, lb, v)) for (k, lb), v in group.totals.items()])
        conn.executemany("INSERT OR REPLACE INTO minutes VALUES (?,?,?,?)",
                         [(int(m), lb, v, crc(int(m), lb, v))
                          for (m, lb), v in group.minutes.items()])
        if group.prune_minutes_before is not None:
            conn.execute("DELETE FROM minutes WHERE minute < ?", (group.prune_minutes_before,))
        removed = 0
        if group.keys:  # expired keys go first (by the wall-time index), then the new ones
            removed = conn.execute("DELETE FROM keys WHERE wall < ?",
                                   (group.expire_keys_before,)).rowcount
            conn.executemany("INSERT OR REPLACE INTO keys VALUES (?,?,?,?,?,?)",
                             [(k, d, float(w), a, t, crc(k, d, float(w), a, t))
                              for k, d, w, a, t in group.keys])
        excess = group.keys_before + len(group.keys) - removed - group.max_keys
        if excess > 0:
            removed += conn.execute(
                "DELETE FROM keys WHERE key IN (SELECT key FROM keys ORDER BY wall LIMIT ?)",
                (excess,)).rowcount
        self._fault("write")
        conn.execute("COMMIT")
        self._fault("commit")
        return removed

    def _reopen(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        try:
            conn.close()
        except sqlite3.Error:
            pass
        return self._connect()

    def lookup(self, key: str) -> tuple[str, float, int, int] | None:
        """A remembered key's (digest, wall time, accepted, transactions), checksum-checked."""
        with self._read_lock:
            row = self._reader.execute("SELECT * FROM keys WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self._verify("keys", row[-1], *row[:-1])
        return row[1], row[2], row[3], row[4]

    def checkpoint_due(self) -> bool:
        if self.directory is None:
            return False
        try:
            return os.path.getsize(self.path + "-wal") > self.checkpoint_wal_bytes
        except OSError:
            return False

    def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Copy the WAL into the database file (SQLite's own checkpoint, fault-stepped)."""
        if self.directory is None:
            return
        with self._write_lock:
            self._fault("checkpoint")
            self._writer.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
            self._fault("checkpointed")

    def close(self) -> None:
        if self._lock is None and self.directory is not None:
            return  # already closed
        try:
            self.checkpoint("TRUNCATE")
        except sqlite3.Error:
            pass  # the WAL keeps everything; the next start replays it
        for conn in {id(c): c for c in (self._reader, self._writer)}.values():
            conn.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
