"""On-disk durability: an append-only journal of accepted batches plus a compacted snapshot.

The journal is JSON lines, one line per commit group (a JSON array of the batches that
shared one fsync); a batch is acknowledged only after its group's line is written and
fsync'ed. A crash can leave at most a torn last line, which recovery cuts off (none of that
group was acknowledged). A failed write is rolled back by truncating to the last good size, so a
full disk never leaves half a batch behind. Snapshots are written to a temporary file,
fsync'ed and renamed, then the journal is emptied: at every instant the snapshot plus the
journal hold exactly the acknowledged state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SNAPSHOT_NAME = "snapshot.json"
JOURNAL_NAME = "journal.jsonl"


class JournalCorrupt(RuntimeError):
    """A line in the middle of the journal is unreadable: refuse to guess."""


class Journal:
    """Owns the files in the state directory; called only by the store's single writer."""

    def __init__(self, directory: Path, fsync: bool = True) -> None:
        self.directory = directory
        self.fsync = fsync
        directory.mkdir(parents=True, exist_ok=True)
        self._journal_path = directory / JOURNAL_NAME
        self._snapshot_path = directory / SNAPSHOT_NAME
        self._file = None
        self._good_size = 0

    def recover(self) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """Read the snapshot and the journal entries after it; cut a torn last line."""
        snapshot = None
        if self._snapshot_path.exists():
            snapshot = json.loads(self._snapshot_path.read_text(encoding="utf-8"))
        entries: list[dict[str, Any]] = []
        good = 0
        if self._journal_path.exists():
            data = self._journal_path.read_bytes()
            lines = data.split(b"\n")
            # Text after the final newline is a torn, never-acknowledged group: drop it.
            for number, line in enumerate(lines[:-1]):
                try:
                    entries.extend(json.loads(line))
                except ValueError:
                    raise JournalCorrupt(
                        f"{self._journal_path}: line {number + 1} is unreadable") from None
                good += len(line) + 1
            if good != len(data):
                with open(self._journal_path, "r+b") as handle:
                    handle.truncate(good)
        self._file = open(self._journal_path, "ab")
        self._good_size = good
        return snapshot, entries

    def append(self, data: bytes) -> None:
        """Write and fsync; on any error undo the partial write and raise."""
        assert self._file is not None, "recover() must run before append()"
        try:
            self._file.write(data)
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        except OSError:
            self._rollback()
            raise
        self._good_size += len(data)

    def _rollback(self) -> None:
        assert self._file is not None
        try:
            self._file.close()
        except OSError:
            pass
        with open(self._journal_path, "r+b") as handle:
            handle.truncate(self._good_size)
        self._file = open(self._journal_path, "ab")

    def write_snapshot(self, doc: dict[str, Any]) -> None:
        """Atomically replace the snapshot, then empty the journal it now contains."""
        assert self._file is not None
        tmp = self._snapshot_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, separators=(",", ":"))
            handle.flush()
            if self.fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, self._snapshot_path)
        self._fsync_dir()
        self._file.close()
        self._file = open(self._journal_path, "wb")
        if self.fsync:
            os.fsync(self._file.fileno())
        self._good_size = 0

    def _fsync_dir(self) -> None:
        if not self.fsync:
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
