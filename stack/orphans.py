"""Children that die with the process that started them, even when it is SIGKILLed.

A demo stopped by Ctrl-C or SIGTERM stops its children itself; one killed with SIGKILL (or
by the OOM killer) cannot, and its Prometheus, Alertmanager, exporter and sink would keep
running and holding their ports. So each child asks the kernel, between fork and exec, for
a SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``, Linux; elsewhere children
start as before). The kernel sends it when the *thread* that forked the child ends, so
children are started from the main thread (the demo's and the tests' stacks are).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import signal
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Any | None:
    """libc's prctl, loaded in the parent (loading a library after fork is not safe)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``sig`` when this process dies; None where
    prctl is missing. If the parent already died before the call (a race with its kill),
    the child exits at once rather than run unwatched."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec
