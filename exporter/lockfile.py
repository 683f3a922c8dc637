"""An exclusive lock on the state directory: one exporter per ``--state.dir``.

``flock`` on ``state_dir/lock`` is released by the kernel when the process dies, so a crash
never leaves a stale lock; the holder's pid is written into the file to name it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "lock"


class StateDirError(RuntimeError):
    """The state directory cannot be used; the message says why and how to recover."""


class StateLock:
    """Held from construction until :meth:`release`."""

    def __init__(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateDirError(f"state dir {directory}: cannot be used: {exc}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 32, 0).decode("ascii", "replace").strip()
            os.close(self._fd)
            raise StateDirError(
                f"state dir {directory} is in use by another exporter"
                f"{f' (pid {holder})' if holder else ''}; stop it or choose another "
                f"--state.dir") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1
