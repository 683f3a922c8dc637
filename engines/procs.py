"""Small helpers for the servers the tools and tests start: free ports, readiness."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import requests


def default_signals() -> None:
    """For ``preexec_fn``: SIGINT and SIGHUP as a terminal would deliver them. A runner that
    starts the suite or a tool as a background job (``cmd &``, ``nohup``) has them ignored,
    and children inherit that: measured, ``vmalert -replay`` then returns other results."""
    for number in (signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


def need(binary: str) -> str:
    """The path of a binary the stack runs, or exit with the one step that installs it."""
    path = shutil.which(binary)
    if path is None:
        raise SystemExit(f"{binary} not found: run ./scripts/setup first")
    return path


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (every server we start binds loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def batch_go_env(gogc: str = "400") -> dict[str, str]:
    """The environment for a Go binary that evaluates a whole history at once (the
    backtest's throwaway Prometheus, promtool): a garbage collector that runs at 4x live
    heap instead of 2x. Range queries over 43,200 steps allocate a vector per step and
    operation, and on 30 days the default collector cost ~8% of the wall time (30.3 s ->
    27.8 s, bench/backtest.py); peak memory stays ~1.2 GB. A GOGC the user set wins."""
    return {**os.environ, "GOGC": os.environ.get("GOGC", gogc)}


def wait_ready(url: str, proc: subprocess.Popen[bytes], what: str,
               seconds: float = 60.0) -> None:
    """Poll ``url`` until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise RuntimeError(f"{what} exited: {detail}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not become ready")


def stop_process(proc: subprocess.Popen[bytes] | None, seconds: float = 15.0) -> None:
    """Terminate a child, wait for it, and kill it if it does not exit in time."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
