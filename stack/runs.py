"""Per-run directories of the demo, each locked while its demo lives.

A demo keeps live state in its run directory (the Prometheus TSDB and WAL, the exporter's
SQLite state, the sink's log). A second demo, even on other ports, must never delete or
write into it, so every run gets its own directory under ``WORKDIR/runs/`` holding an
exclusive ``flock`` on ``run.lock`` until the demo exits (the kernel drops it if the demo is
killed). Old runs are pruned only when their lock can be taken, i.e. no demo uses them.
``run.json`` says where a live demo listens, so ``txwatch-demo inject`` can find it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

KEEP_STOPPED = 3  # stopped runs kept for their logs; older ones are pruned


@dataclass
class Run:
    """A run directory and the open, locked file that marks it live."""

    path: Path
    lock: TextIO

    def write_info(self, info: dict[str, Any]) -> None:
        (self.path / "run.json").write_text(json.dumps(info, indent=2) + "\n")

    def release(self) -> None:
        self.lock.close()  # closing the descriptor drops the flock


def _try_lock(path: Path) -> TextIO | None:
    """The lock file opened and locked, or None if a live process holds it."""
    handle = open(path, "a+")  # noqa: SIM115 (kept open for as long as the run lives)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def is_live(run: Path) -> bool:
    """True while a demo holds the run's lock (checked without disturbing it)."""
    lock = run / "run.lock"
    if not lock.exists():
        return False
    handle = _try_lock(lock)
    if handle is None:
        return True
    handle.close()
    return False


def live_runs(workdir: Path) -> list[Path]:
    """Run directories of demos running now, newest first."""
    runs = workdir / "runs"
    found = [p for p in runs.iterdir() if p.is_dir() and is_live(p)] if runs.is_dir() else []
    return sorted(found, key=lambda p: p.name, reverse=True)


def prune(workdir: Path, keep: int = KEEP_STOPPED) -> list[Path]:
    """Delete stopped runs beyond the newest ``keep``; a live run is never touched."""
    runs = workdir / "runs"
    if not runs.is_dir():
        return []
    stopped = sorted((p for p in runs.iterdir() if p.is_dir()), key=lambda p: p.name,
                     reverse=True)
    removed = []
    for run in stopped:
        marker = run / "run.lock"
        if not marker.exists() and time.time() - run.stat().st_mtime < 60:
            continue  # being created by a demo starting now
        lock = _try_lock(marker) if marker.exists() else None
        if marker.exists() and lock is None:
            continue  # live: its demo holds the lock
        try:
            if keep > 0:
                keep -= 1
                continue
            shutil.rmtree(run, ignore_errors=True)
            removed.append(run)
        finally:
            if lock is not None:
                lock.close()
    return removed


def new_run(workdir: Path) -> Run:
    """A fresh, locked run directory, named by start time and pid (unique per host); an
    absolute path, since the servers run with it as their working directory."""
    runs = workdir.resolve() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    prune(workdir)
    path = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    path.mkdir()
    lock = _try_lock(path / "run.lock")
    if lock is None:  # pragma: no cover - the directory was just created by us
        raise RuntimeError(f"{path} is locked by another process")
    return Run(path, lock)
