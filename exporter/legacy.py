"""One-time migration of a state dir written by the JSON journal + snapshot (schema 1).

Schema 1 kept ``snapshot.json`` plus ``journal.jsonl`` (one JSON array of batches per line).
At the first start on such a directory their sum is written to the database in one
transaction, marked ``migrated``, and only then are the old files renamed to ``*.migrated``;
a crash in between re-runs nothing twice (the mark is checked first).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from txwatch.exporter.lockfile import StateDirError
from txwatch.exporter.schema import Group
from txwatch.exporter.statedb import DB_NAME, StateDB

SNAPSHOT_NAME = "snapshot.json"
JOURNAL_NAME = "journal.jsonl"


def migrate(db: StateDB) -> bool:
    """Move a schema-1 state into the database; True if something was migrated now."""
    directory = db.directory
    if directory is None:
        return False
    old = [directory / SNAPSHOT_NAME, directory / JOURNAL_NAME]
    if not any(path.exists() for path in old):
        return False
    loaded = db.load()
    if "migrated" not in loaded.meta:
        if loaded.totals:
            raise StateDirError(f"state dir {directory} holds both {DB_NAME} data and "
                                f"{SNAPSHOT_NAME}/{JOURNAL_NAME}; move one of them aside")
        group = read_v1(directory)
        group.meta["migrated"] = 1.0
        db.write(group)
    for path in old:
        if path.exists():
            path.rename(path.with_name(path.name + ".migrated"))
    return True



def read_v1(directory: Path) -> Group:
    """Snapshot plus every complete journal line, summed; a torn last line is dropped."""
    group = Group()
    snapshot = directory / SNAPSHOT_NAME
    if snapshot.exists():
        try:
            doc = json.loads(snapshot.read_bytes())
            for kind, values in doc["totals"].items():
                for label, n in values.items():
                    group.totals[kind, "", label] = int(n)
            for minute, label, n in doc["minutes"]:
                group.minutes[int(minute), "", label] = int(n)
            _meta(group, doc["newest"], doc["last_push"])
            for key, digest, wall, response in doc["keys"]:
                _key(group, key, digest, wall, response)
        except (ValueError, KeyError, TypeError) as exc:
            raise StateDirError(f"{snapshot} is unreadable ({exc}); restore it from a "
                                "backup or move the state dir aside") from None
    path = directory / JOURNAL_NAME
    lines = path.read_bytes().split(b"\n")[:-1] if path.exists() else []
    for number, line in enumerate(lines):
        try:
            for entry in json.loads(line):
                _entry(group, entry)
        except (ValueError, KeyError, TypeError) as exc:
            raise StateDirError(f"{path}: line {number + 1} is unreadable ({exc}); restore "
                                "it from a backup or move the state dir aside") from None
    return group


def _entry(group: Group, entry: dict[str, Any]) -> None:
    for label, n in entry["totals"].items():
        k = (entry["kind"], "", label)
        group.totals[k] = group.totals.get(k, 0) + int(n)
    for minute, label, n in entry["minutes"]:
        m = (int(minute), "", label)
        group.minutes[m] = group.minutes.get(m, 0) + int(n)
    _meta(group, entry["newest"], entry["wall"])
    if entry["key"] is not None:
        _key(group, entry["key"], entry["digest"], entry["wall"], entry["response"])


def _meta(group: Group, newest: float | None, last_push: float | None) -> None:
    for name, value in (("newest", newest), ("last_push", last_push)):
        if value:
            group.meta[name] = max(group.meta.get(name, 0.0), float(value))


def _key(group: Group, key: str, digest: str, wall: float, response: dict[str, int]) -> None:
    group.keys.append((key, digest, float(wall), int(response["accepted"]),
                       int(response["transactions"])))
