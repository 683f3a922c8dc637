"""Free space on the state dir's filesystem, for readiness after a commit failed for lack of it.

A readiness probe writes one small row; on a nearly full disk that still fits while every
push, which needs more pages, is refused. So after a "disk full" failure the exporter stays
not ready until a push is stored again or the filesystem has gained :data:`FREED_BYTES`
since the failure (someone made room), and only then lets a probe decide.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

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
