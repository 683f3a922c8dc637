"""The default port of each process of a txwatch deployment, defined once.

The exporter's, Prometheus' and Alertmanager's are their registered defaults (the
exporter's from the Prometheus wiki's default port allocations); the notification sink,
which also serves the runbook and the local board, takes the next free one. Every flag
default, the local stack and the runbook links read them here.
"""

from __future__ import annotations

EXPORTER = 9466
PROMETHEUS = 9090
ALERTMANAGER = 9093
SINK = 9095
LOOPBACK = "127.0.0.1"


def local(port: int) -> str:
    """``127.0.0.1:<port>``: where a process of the local stack listens by default."""
    return f"{LOOPBACK}:{port}"
