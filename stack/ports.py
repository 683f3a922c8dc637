"""Ports of the local stack: refuse taken ones up front, prove a listener is our child.

A server that cannot bind its port exits, but not at once: for a moment its port may still
answer, served by whatever else holds it (another demo, a test's Prometheus, a leftover
sink). Polling a readiness URL alone then reports "ready" for a process that is about to
die, and the stack talks to a stranger: notifications land in someone else's sink and
are lost. So the launcher checks ports before starting anything, and after readiness
checks that the socket listening on the port belongs to the process it started.
"""

from __future__ import annotations

import os
import socket
from contextlib import ExitStack
from pathlib import Path

LISTEN = "0A"  # TCP state code of a listening socket in /proc/net/tcp
PROC = Path("/proc")


class PortInUse(RuntimeError):
    """A port the stack needs is held by another process."""

    def __init__(self, name: str, port: int) -> None:
        super().__init__(f"port {port} ({name}) is already in use on 127.0.0.1")
        self.name = name
        self.port = port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if binding ``host:port`` fails as the servers' own bind would.

    SO_REUSEADDR mirrors what Prometheus, Alertmanager and aiohttp set, so sockets in
    TIME_WAIT from a stopped run do not count as taken.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def distinct_free_ports(count: int, avoid: set[int] | frozenset[int] = frozenset()
                        ) -> list[int]:
    """``count`` different free ports, none in ``avoid`` (ports chosen earlier and not yet
    bound): all sockets stay bound until every port is chosen, so the kernel cannot hand
    the same port out twice."""
    with ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            if sock.getsockname()[1] not in avoid:
                ports.append(sock.getsockname()[1])
    return ports


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on ``port`` (IPv4 and IPv6); None where /proc cannot tell."""
    found: set[str] = set()
    readable = False
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == LISTEN and \
                    int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found if readable else None


def listener_is(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds the socket listening on ``port``.

    None when the system does not say (no /proc): the caller then relies on readiness.
    """
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    try:
        fds = os.listdir(PROC / str(pid) / "fd")
    except OSError:
        return False  # the process is gone (or not ours to inspect)
    for fd in fds:
        try:
            target = os.readlink(PROC / str(pid) / "fd" / fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False
