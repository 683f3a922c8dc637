"""Readiness: whether a push would be stored now, by the checks a push meets.

The state dir's files must still be the ones at their paths (a push is refused otherwise),
and after a failed commit a probe write must succeed. A probe writes one small row, and on a
nearly full disk that still fits while every push, which needs more pages, is refused; so
after a "disk full" failure the exporter stays not ready until a push is stored again or the
filesystem has gained :data:`FREED_BYTES` since the failure (someone made room), and only
then lets a probe decide.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path
from typing import Protocol

FREED_BYTES = 64 << 10


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def free_if_full(exc: BaseException, directory: Path | None) -> int | None:
    """The free bytes now if ``exc`` says the disk is full; None for any other failure."""
    full = (getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
            or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC))
    if not full or directory is None:
        return None
    try:
        return free_bytes(directory)
    except OSError:
        return 0


def freed(directory: Path | None, free_at_failure: int) -> bool:
    """Whether the filesystem gained room since the failure (an unreadable one has not)."""
    if directory is None:
        return True
    try:
        return free_bytes(directory) >= free_at_failure + FREED_BYTES
    except OSError:
        return False


class Store(Protocol):
    """What readiness reads of the store (:class:`~txwatch.exporter.store.Store`)."""

    directory: Path | None
    failing: str | None
    full_at: int | None

    def gone(self) -> str | None: ...

    async def probe(self) -> bool: ...


async def not_ready(store: Store) -> str | None:
    """Why a push would be refused now, or None: what ``/-/ready`` answers."""
    gone = store.gone()
    if gone is not None:
        return gone
    if store.failing is None:
        return None
    if store.full_at is not None and not freed(store.directory, store.full_at):
        return f"{store.failing} (the disk is as full as when that push failed)"
    return None if await store.probe() else store.failing
