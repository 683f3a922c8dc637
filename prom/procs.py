"""Small helpers for the servers the tools and tests start: free ports, readiness."""

from __future__ import annotations

import socket
import subprocess
import time

import requests


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (every server we start binds loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
