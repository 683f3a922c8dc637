"""Shared fixtures: an in-process exporter, exporter processes and the fast local stack.

Every server started here binds 127.0.0.1 on a free port and is stopped at teardown.
Tiers (markers, ``pytest -m "not slow"`` for the quick ones): unmarked tests are pure units
and the in-process app; ``slow`` tests start real binaries for seconds or more.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from txwatch.engines.procs import free_port, stop_process, wait_ready
from txwatch.engines.series import Series
from txwatch.exporter.app import build_app
from txwatch.exporter.config import Config
from txwatch.exporter.statedb import StateDB
from txwatch.exporter.store import Store
from txwatch.stack.launcher import LocalStack, Ports

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: run scripts/setup (it installs the Debian packages)")
    return path


@dataclass
class InProcessExporter:
    """An exporter app served from a background event loop in this process."""

    url: str
    store: Store
    loop: asyncio.AbstractEventLoop
    clock: list[float] = field(default_factory=list)

    def metrics(self) -> str:
        return requests.get(f"{self.url}/metrics", timeout=5).text

    def payment_lines(self) -> list[str]:
        return sorted(line for line in self.metrics().splitlines()
                      if line.startswith("payment_"))


@pytest.fixture
def start_exporter() -> Iterator[Callable[..., InProcessExporter]]:
    """Factory: start an in-process exporter with a given Config (and optional state dir)."""
    started: list[tuple[asyncio.AbstractEventLoop, web.AppRunner, threading.Thread, Store]] = []

    def start(config: Config | None = None, now: float | None = None) -> InProcessExporter:
        config = config or Config()
        clock_value = [now if now is not None else time.time()]

        def clock() -> float:
            return clock_value[0] if now is not None else time.time()

        db = StateDB(config.state_dir) if config.state_dir else None
        store = Store(config, clock, db)
        app = build_app(config, store, clock)
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app, access_log=None)
        port = free_port()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(runner.setup(), loop).result(10)
        site = web.TCPSite(runner, "127.0.0.1", port)
        asyncio.run_coroutine_threadsafe(site.start(), loop).result(10)
        started.append((loop, runner, thread, store))
        return InProcessExporter(f"http://127.0.0.1:{port}", store, loop, clock_value)

    yield start
    for loop, runner, thread, store in started:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        asyncio.run_coroutine_threadsafe(store.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@dataclass
class ExporterProcess:
    """``python -m txwatch.exporter`` as a child process (for crash and restart tests)."""

    args: list[str]
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ExporterProcess:
        cmd = [sys.executable, "-m", "txwatch.exporter",
               f"--web.listen-address=127.0.0.1:{self.port}", *self.args]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_ready(f"{self.url}/-/ready", self.proc, "exporter", seconds=20)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc, 10)


@pytest.fixture
def exporter_process() -> Iterator[Callable[..., ExporterProcess]]:
    procs: list[ExporterProcess] = []

    def make(*args: str, port: int | None = None) -> ExporterProcess:
        proc = ExporterProcess(list(args), port or free_port())
        procs.append(proc)
        return proc

    yield make
    for proc in procs:
        proc.stop()


FAST_ROUTE_TIMING = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}


@pytest.fixture
def fast_stack(tmp_path: Path) -> Iterator[Callable[..., LocalStack]]:
    """Factory for the local stack with second-scale timing (not yet started).

    The shipped configs and rules, with scrape and evaluation every 1 s, Alertmanager waits
    of 1 s and Prometheus re-sending alerts every 2 s, so a pipeline test takes seconds.
    Every stack made here is stopped at teardown, started or not.
    """
    made: list[LocalStack] = []

    def make(name: str = "stack", **extra: object) -> LocalStack:
        settings: dict[str, object] = {
            "scrape_interval": "1s", "evaluation_interval": "1s",
            "route_timing": dict(FAST_ROUTE_TIMING),
            "prometheus_flags": ["--rules.alert.resend-delay=2s"], **extra}
        stack = LocalStack(tmp_path / name, Ports.free(), **settings)  # type: ignore[arg-type]
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop()


def samples(text: str) -> list[Sample]:
    """Every sample of an exposition text, parsed by prometheus-client's own parser."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def metric_value(text: str, name: str, **labels: str) -> float:
    """Value of the one sample named ``name`` whose labels are exactly ``labels``."""
    found = [s.value for s in samples(text) if s.name == name and s.labels == labels]
    if len(found) != 1:
        raise KeyError(f"{name}{labels}: {len(found)} samples")
    return found[0]


def generated_history(folder: Path, days: int, seed: int, profile: str = "demo"
                      ) -> tuple[list[Series], int]:
    """A generated history as the engine reads it: (scraped series, steps)."""
    from txwatch import contract
    from txwatch.history.dataset import load_dataset
    from txwatch.history.generate import write
    from txwatch.history.scrape import scrape_series

    paths = write(folder, days, seed, profile=profile)
    data = load_dataset([paths["transactions"], paths["auth_codes"]], contract.STATUSES,
                        contract.AUTH_CODES)
    return list(scrape_series(data)), len(data.transactions)


def shared_data_or_skip() -> Path:
    if not (SHARED_DATA / "transactions.csv").exists():
        pytest.skip(f"real data set not present at {SHARED_DATA} (kept outside the repo)")
    return SHARED_DATA


os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")


@contextlib.contextmanager
def running_alertmanager(config: Path, workdir: Path) -> Iterator[str]:
    """A real Alertmanager on a free loopback port with ``config``; yields its URL and is
    always stopped."""
    port = free_port()
    proc = subprocess.Popen([require_binary("prometheus-alertmanager"),
                             f"--config.file={config}", f"--storage.path={workdir / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}",
                             "--cluster.listen-address="], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/-/ready", proc, "alertmanager", 20.0)
        yield url
    finally:
        stop_process(proc)
