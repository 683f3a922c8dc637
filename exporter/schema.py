"""The rows of the state database: schema, per-row checksums, reading and writing one group.

Kept apart from the connection handling (:mod:`~txwatch.exporter.statedb`) so the SQL of a
commit group and of the start-up check can be read in one place. Every row carries a CRC-32
of its values, computed on column-normalised values so the checksums read back equal.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

VERSION = 3  # 1 was the JSON journal + snapshot (txwatch.exporter.legacy)
READABLE = (2, 3)  # 2 lacks the segment columns: upgrade() adds them at the first start
# A row's segment is "" for the default one (records without dimensions) or its canonical
# string (txwatch.exporter.segments); the primary keys hold it, so a segment is its own row.
TOTALS = """CREATE TABLE IF NOT EXISTS totals(kind TEXT, segment TEXT NOT NULL DEFAULT '',
    label TEXT, value INTEGER NOT NULL, crc INTEGER NOT NULL,
    PRIMARY KEY(kind, segment, label)) WITHOUT ROWID"""
MINUTES = """CREATE TABLE IF NOT EXISTS minutes(minute INTEGER, segment TEXT NOT NULL DEFAULT '',
    label TEXT, value INTEGER NOT NULL, crc INTEGER NOT NULL,
    PRIMARY KEY(minute, segment, label)) WITHOUT ROWID"""
DDL = f"""
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value REAL, crc INTEGER NOT NULL);
{TOTALS};
{MINUTES};
CREATE TABLE IF NOT EXISTS keys(key TEXT PRIMARY KEY, digest TEXT NOT NULL, wall REAL NOT NULL,
    accepted INTEGER NOT NULL, transactions INTEGER NOT NULL, crc INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys_by_wall ON keys(wall);
"""


class RowError(ValueError):
    """A row or page of the database does not check out."""


def crc(*values: Any) -> int:
    return zlib.crc32("\x1f".join(map(repr, values)).encode("utf-8", "surrogateescape"))


def verify(table: str, check: Any, *values: Any) -> None:
    if check != crc(*values):
        raise RowError(f"checksum mismatch in table {table}: {values!r:.80}")


def counted_crc(key: Any, segment: str, label: str, value: int) -> int:
    """The checksum of a totals or minutes row: a default-segment row's is the one schema 2
    gave it, so the upgrade copies rows as they are and damage stays detectable."""
    return crc(key, label, value, segment) if segment else crc(key, label, value)


@dataclass
class Loaded:
    """What the database holds, as read (and checked) at start."""

    totals: dict[tuple[str, str, str], int] = field(default_factory=dict)  # kind, segment, label
    minutes: dict[tuple[int, str, str], int] = field(default_factory=dict)  # minute, segment, label
    meta: dict[str, float] = field(default_factory=dict)
    keys: int = 0


@dataclass
class Group:
    """The rows one commit group writes: new values, not increments (keys as in Loaded)."""

    totals: dict[tuple[str, str, str], int] = field(default_factory=dict)
    minutes: dict[tuple[int, str, str], int] = field(default_factory=dict)
    meta: dict[str, float] = field(default_factory=dict)
    keys: list[tuple[str, str, float, int, int]] = field(default_factory=list)
    prune_minutes_before: int | None = None
    expire_keys_before: float = float("-inf")
    keys_before: int = 0  # how many the table held before this group
    max_keys: int = 1 << 62


def read(conn: sqlite3.Connection) -> Loaded:
    """Check integrity and every row's checksum; return the stored state."""
    try:
        return _read(conn)
    except sqlite3.OperationalError as exc:
        raise undecodable(exc) from None


def undecodable(exc: sqlite3.OperationalError) -> Exception:
    """A text column that is not UTF-8 is a damaged row (integrity_check does not see it)."""
    if "decode" in str(exc):
        return RowError(f"a stored text is not valid UTF-8: {exc}")
    return exc


def key_row(conn: sqlite3.Connection, key: str) -> tuple[Any, ...] | None:
    """One remembered key's row, checksum-checked (None: not remembered)."""
    try:
        row = conn.execute("SELECT * FROM keys WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError as exc:
        raise undecodable(exc) from None
    if row is not None:
        verify("keys", row[-1], *row[:-1])
    return row


def _read(conn: sqlite3.Connection) -> Loaded:
    loaded = Loaded()
    problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
    if problems != ["ok"]:
        raise RowError("; ".join(problems))
    # A crash during the very first start can leave the tables not yet created: empty.
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}

    def rows(table: str) -> Iterable[tuple[Any, ...]]:
        return conn.execute(f"SELECT * FROM {table}") if table in tables else ()

    def counted(table: str, key: str) -> Iterable[tuple[Any, ...]]:
        if table not in tables:
            return ()
        segment = "segment" if "segment" in columns(conn, table) else "''"  # schema 2
        return conn.execute(f"SELECT {key}, {segment}, label, value, crc FROM {table}")

    for kind, segment, label, value, check in counted("totals", "kind"):
        if check != counted_crc(kind, segment, label, value):
            raise RowError(f"checksum mismatch in table totals: {(kind, segment, label)!r:.80}")
        loaded.totals[kind, segment, label] = value
    for minute, segment, label, value, check in counted("minutes", "minute"):
        if check != counted_crc(minute, segment, label, value):
            raise RowError(f"checksum mismatch in table minutes: {(minute, segment, label)!r:.80}")
        loaded.minutes[minute, segment, label] = value
    for name, value, check in rows("meta"):
        verify("meta", check, name, value)
        loaded.meta[name] = value
    for row in rows("keys"):
        verify("keys", row[-1], *row[:-1])
        loaded.keys += 1
    return loaded


def write(conn: sqlite3.Connection, group: Group, commits: int) -> int:
    """The statements of one group inside an open transaction; return keys removed."""
    meta = {n: float(v) for n, v in
            {"schema": VERSION, "commits": commits, **group.meta}.items()}
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?,?,?)",
                     [(n, v, crc(n, v)) for n, v in meta.items()])
    conn.executemany("INSERT OR REPLACE INTO totals VALUES (?,?,?,?,?)",
                     [(k, sg, lb, v, counted_crc(k, sg, lb, v))
                      for (k, sg, lb), v in group.totals.items()])
    conn.executemany("INSERT OR REPLACE INTO minutes VALUES (?,?,?,?,?)",
                     [(int(m), sg, lb, v, counted_crc(int(m), sg, lb, v))
                      for (m, sg, lb), v in group.minutes.items()])
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
    return removed


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def upgrade(conn: sqlite3.Connection) -> bool:
    """Give a schema-2 database the segment columns, in one transaction; True if it did.

    A primary key cannot grow in place, so each table is rebuilt: its rows are copied as
    they are (every old row is the default segment, checksums included) and the old table
    dropped. A crash before COMMIT leaves schema 2 as it was; the next start upgrades.
    """
    old = [table for table in ("totals", "minutes")
           if (found := columns(conn, table)) and "segment" not in found]
    if not old:
        return False
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in old:
            key = "kind" if table == "totals" else "minute"
            conn.execute(f"ALTER TABLE {table} RENAME TO {table}_v2")
            conn.execute(TOTALS if table == "totals" else MINUTES)
            conn.execute(f"INSERT INTO {table}(segment, {key}, label, value, crc) "
                         f"SELECT '', {key}, label, value, crc FROM {table}_v2")
            conn.execute(f"DROP TABLE {table}_v2")
        version = float(VERSION)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?, ?)",
                     (version, crc("schema", version)))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True
