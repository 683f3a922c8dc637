"""Ownership of the state directory: one exporter per ``--state.dir``, and proof it still holds.

The lock is a ``flock`` on the directory itself (opened ``O_DIRECTORY``), not on a file in
it: a lock on ``state_dir/lock`` dies with that name (``rm lock`` and a second exporter gets
a new file, a new lock, and both write). No deletion inside the directory releases this one,
and the kernel drops it when the process dies, so a crash never leaves a stale lock. The
holder's pid is still written to ``lock``, only to name it in the refusal.

:meth:`StateLock.problem` says whether the directory and the files the writer uses (the
database, its WAL, the commit mark) are still the ones at their paths: same inode, one link.
A deleted or replaced file takes every later commit with it (SQLite keeps writing to the
open, unlinked inode), so the writer checks before it acknowledges anything.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

LOCK_NAME = "lock"
log = logging.getLogger("txwatch.exporter")


class StateDirError(RuntimeError):
    """The state directory cannot be used; the message says why and how to recover."""


class StateGone(StateDirError):
    """The state dir or one of its files was deleted or replaced under the running exporter."""


class StateLock:
    """Held from construction until :meth:`release`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise StateDirError(f"state dir {directory}: cannot be used: {exc}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            holder = _holder(directory / LOCK_NAME)
            raise StateDirError(
                f"state dir {directory} is in use by another exporter"
                f"{f' (pid {holder})' if holder else ''}; stop it or choose another "
                f"--state.dir") from None
        self._watched: dict[str, tuple[int, int, int]] = {}  # name: (fd, st_dev, st_ino)
        self._gone: str | None = None  # latched: a later "same again" proves nothing
        try:
            fd = os.open(directory / LOCK_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, f"{os.getpid()}\n".encode())
            finally:
                os.close(fd)
        except OSError as exc:
            self.release()
            raise StateDirError(f"state dir {directory}: cannot be used: {exc}") from None

    def watch(self, name: str) -> None:
        """Remember the file now at ``name`` (held open, so its link count stays readable)."""
        fd = os.open(self.directory / name, os.O_RDONLY)
        st = os.fstat(fd)
        self._watched[name] = (fd, st.st_dev, st.st_ino)

    def problem(self) -> str | None:
        """Why the directory or a watched file is no longer the one at its path, or None.

        Cheap (a few stat calls): run before every acknowledgement and by readiness. Once
        found it stays: commits may have gone to the unlinked file, so only a restart (with
        its start-up checks) can say what the state is.
        """
        if self._gone is None and self._fd >= 0 and (found := self._check()) is not None:
            self._gone = (f"{found}; nothing is acknowledged until the exporter is restarted "
                          f"(it refuses to start if acknowledged pushes are missing, and says "
                          f"how to recover)")
            log.error("state dir lost: %s", self._gone)
        return self._gone

    def _check(self) -> str | None:
        own = os.fstat(self._fd)
        try:
            at_path = os.stat(self.directory)
        except OSError:
            at_path = None
        if own.st_nlink == 0 or at_path is None or (
                (at_path.st_dev, at_path.st_ino) != (own.st_dev, own.st_ino)):
            return f"state dir {self.directory} was deleted or replaced while the exporter ran"
        for name, (fd, dev, ino) in self._watched.items():
            path = self.directory / name
            links = os.fstat(fd).st_nlink
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return f"{path} was deleted while the exporter ran"
            if (st.st_dev, st.st_ino) != (dev, ino):
                return f"{path} was replaced by another file while the exporter ran"
            if links != 1:
                return f"{path} has {links} links (a second name for it can have a second writer)"
        return None

    def release(self) -> None:
        for fd, _, _ in self._watched.values():
            os.close(fd)
        self._watched = {}
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1


def _holder(path: Path) -> str:
    """The pid the holder wrote, if it is still there (informational only)."""
    try:
        with open(path, "rb") as file:
            return file.read(32).decode("ascii", "replace").strip()
    except OSError:
        return ""
