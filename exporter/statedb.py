"""Durable state: one SQLite database (WAL mode, ``synchronous=FULL``) in the state directory.

SQLite gives crash-consistent transactions and checksummed WAL frames; this module keeps only
the schema, the writes of one commit group (one transaction, one fsync) and the start-up
checks. Every stored row carries a CRC-32 of its values, checked at start, so a flipped byte
in the database is refused instead of silently changing a total; every commit is numbered
(meta ``commits``) and :mod:`~txwatch.exporter.guard` refuses a WAL or database that lost
acknowledged ones. The checks run on a read-only connection, so a refusal changes nothing
(a writable connection would checkpoint what SQLite kept and delete the WAL on close).
Every commit checks, in its transaction and after COMMIT, that its files are still the ones
at their paths (:meth:`StateLock.problem`), so none is acknowledged into an unlinked file.
Without a directory the same schema lives in memory. ``fault`` is a test hook called at
every step of the commit path.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from txwatch.exporter import schema
from txwatch.exporter.guard import MARK_NAME, CommitMark, MarkError, scan_wal
from txwatch.exporter.lockfile import StateDirError, StateGone, StateLock
from txwatch.exporter.schema import Group, Loaded, RowError

DB_NAME = "state.db"
CHECKPOINT_WAL_BYTES = 4 << 20
Fault = Callable[[str], None]
log = logging.getLogger("txwatch.exporter")


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
        self._loaded: Loaded | None = None  # what the start-up check read, until load()
        self._mark: CommitMark | None = None
        self.commits = 0
        self._shm, self._page_size = -1, 4096
        if directory is None:
            self.path = ":memory:"
            self._writer = self._connect()
            self._reader, self._write_lock = self._writer, self._read_lock
            return
        self._lock = StateLock(directory)
        self.path = str(directory / DB_NAME)
        self._write_lock = threading.Lock()
        try:
            self._loaded = self._check_before_opening()
            self._writer = self._connect(fsync)
            self._reader = self._connect(fsync)
            self._page_size = self._writer.execute("PRAGMA page_size").fetchone()[0]
            self.commits = int(self._loaded.meta.get("commits", 0)) if self._loaded else 0
            self._mark = CommitMark(directory)
            self._mark.open(self.commits, fsync)
            for name in (DB_NAME, DB_NAME + "-wal", MARK_NAME):
                self._lock.watch(name)
        except StateDirError:
            self._lock.release()
            raise
        except Exception as exc:  # a damaged file fails in odd ways (even decoding)
            self._lock.release()
            raise self.refusal(exc) from None

    def _check_before_opening(self) -> Loaded | None:
        """Refuse lost commits and damage before SQLite may write (None: no database yet)."""
        assert self.directory is not None
        try:
            marked = CommitMark(self.directory).read()
        except MarkError as exc:
            raise self.corrupt(str(exc)) from None
        wal = Path(self.path + "-wal")
        if not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            if marked or (wal.exists() and wal.stat().st_size > 0):
                raise self.corrupt(f"{DB_NAME} is missing or empty but {MARK_NAME} records "
                                   f"{marked} commits or {wal.name} holds data")
            return None
        damage = scan_wal(wal)
        if damage is not None and damage[1] >= 2:
            raise self.corrupt(damage[0])
        reader = sqlite3.connect(Path(self.path).as_uri() + "?mode=ro", uri=True)
        try:
            loaded = self._read(reader)
        finally:
            reader.close()  # read-only: no checkpoint, the WAL stays as it was
        commits = int(loaded.meta.get("commits", 0))
        if marked is not None and commits < marked:
            raise self.corrupt(
                f"{DB_NAME} and {wal.name} hold {commits} commits but {marked} were "
                f"acknowledged ({MARK_NAME}): acknowledged pushes are missing"
                + (f"; {damage[0]}" if damage else ""))
        return loaded

    def _connect(self, fsync: bool = True) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=10)
        if self.directory is not None:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the writer checkpoints (fault steps)
        conn.executescript(schema.DDL)
        schema.upgrade(conn)  # a schema-2 state dir gets the segment columns, once
        return conn

    def corrupt(self, detail: str) -> StateDirError:
        return StateDirError(
            f"state dir {self.directory}: {DB_NAME} is corrupt ({detail[:300]}); nothing was "
            f"changed. To recover, stop the exporter and restore {self.path} from a backup "
            f"(and delete {MARK_NAME}: pushes after the backup are lost), or move "
            f"{self.path}* aside to start again from zero totals")

    def refusal(self, exc: Exception) -> StateDirError:
        """A directory that cannot be used now (full disk, permissions), or corruption."""
        if isinstance(exc, sqlite3.OperationalError):
            return StateDirError(f"state dir {self.directory}: cannot open {DB_NAME}: {exc}")
        return self.corrupt(f"{type(exc).__name__}: {exc}")

    def load(self) -> Loaded:
        """The stored state, checked at start (read again after a migration wrote)."""
        if self._loaded is not None:
            loaded, self._loaded = self._loaded, None
            return loaded
        with self._write_lock:
            return self._read(self._writer)

    def _read(self, conn: sqlite3.Connection) -> Loaded:
        try:
            loaded = schema.read(conn)
        except RowError as exc:
            raise self.corrupt(str(exc)) from None
        except Exception as exc:
            raise self.refusal(exc) from None
        if loaded.meta.get("schema", schema.VERSION) not in schema.READABLE:
            raise StateDirError(f"state dir {self.directory}: schema "
                                f"{loaded.meta['schema']:g} is not {schema.VERSION}")
        return loaded

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

    def problem(self) -> str | None:
        """Why a commit would not reach the files at the state dir's paths, or None."""
        return self._lock.problem() if self._lock is not None else None

    def _owned(self) -> None:
        if (gone := self.problem()) is not None:
            raise StateGone(gone)

    def _write(self, conn: sqlite3.Connection, group: Group) -> int:
        self._fault("begin")
        self._owned()
        conn.execute("BEGIN IMMEDIATE")
        self._owned()  # SQLite's write lock is held: no commit of ours can race this check
        removed = schema.write(conn, group, self.commits + 1)
        self._fault("write")
        conn.execute("COMMIT")
        self._fault("commit")
        self._owned()  # the commit went into the files at the paths, not an unlinked one
        self.commits += 1
        if self._mark is not None:  # before the acknowledgement; a lower mark is harmless
            try:
                self._mark.write(self.commits)
            except OSError as exc:
                log.warning("%s not updated: %s", MARK_NAME, exc)
        return removed

    def _reopen(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        try:
            conn.close()
        except sqlite3.Error:
            pass
        return self._connect()

    def lookup(self, key: str) -> tuple[str, float, int, int] | None:
        """A remembered key's (digest, wall time, accepted, transactions), checksum-checked."""
        try:
            with self._read_lock:
                row = schema.key_row(self._reader, key)
        except RowError as exc:
            raise self.corrupt(str(exc)) from None
        return None if row is None else (row[1], row[2], row[3], row[4])

    def checkpoint_due(self) -> bool:
        """Whether the log in use outgrew the limit: its frame count in the wal-index header.

        Not the WAL file's size: SQLite reuses the file from its start after a checkpoint,
        so the size stays at its peak and would make every later group checkpoint again.
        """
        if self.directory is None:
            return False
        try:
            if self._shm < 0:
                self._shm = os.open(self.path + "-shm", os.O_RDONLY)
            frames = int.from_bytes(os.pread(self._shm, 4, 16), sys.byteorder)  # mxFrame
        except OSError:
            return False
        return frames * (self._page_size + 24) > self.checkpoint_wal_bytes

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
        if self._mark is not None:
            self._mark.close()
        if self._shm >= 0:
            os.close(self._shm)
            self._shm = -1
        if self._lock is not None:
            self._lock.release()
            self._lock = None
