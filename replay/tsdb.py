"""Prometheus blocks and a throwaway Prometheus server over them.

``write_openmetrics`` + ``create_blocks`` turn series into TSDB blocks with
``promtool tsdb create-blocks-from openmetrics``; :class:`ThrowawayPrometheus` serves a TSDB
directory on a free loopback port so PromQL can be evaluated by the real engine.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import numpy as np
import requests

from replay.procs import free_port, stop_process, wait_ready
from replay.series import Series

MAX_POINTS = 10_000  # Prometheus refuses range queries of more than 11,000 points


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def write_openmetrics(path: Path, series: Iterable[Series], origin: float, step: float) -> int:
    """Write series in OpenMetrics text (timestamps in seconds); return samples written."""
    written = 0
    declared: set[str] = set()
    with open(path, "w", encoding="utf-8") as out:
        for s in series:
            family, kind = s.name, "gauge"
            if s.name.endswith("_total"):
                family, kind = s.name[: -len("_total")], "counter"
            if ":" in s.name:
                kind = "unknown"
            if family not in declared:
                out.write(f"# TYPE {family} {kind}\n")
                declared.add(family)
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
            prefix = f"{s.name}{{{labels}}} "
            times = origin + np.arange(len(s.values)) * step
            mask = ~np.isnan(s.values)
            out.writelines(f"{prefix}{v:.17g} {t:.3f}\n"
                           for v, t in zip(s.values[mask], times[mask], strict=True))
            written += int(mask.sum())
        out.write("# EOF\n")
    return written


def create_blocks(openmetrics: Path, tsdb: Path) -> None:
    binary = shutil.which("promtool")
    if binary is None:
        raise RuntimeError("promtool not found (Debian package 'prometheus')")
    tsdb.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([binary, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                             str(openmetrics), str(tsdb)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"promtool create-blocks failed:\n{result.stderr[-3000:]}")


def backfill(series: list[Series], tsdb: Path, origin: float, step: float,
             workdir: Path, workers: int = 2, day_steps: int | None = None) -> int:
    """Write series as blocks, one promtool run per day of samples, run in parallel.

    promtool re-reads its whole input once per 2-hour block range it covers, so one file
    per day keeps the cost linear in the length of the history (one file per range costs
    more in process starts than it saves).
    """
    steps = max((len(s.values) for s in series), default=0)
    per_file = day_steps or int(86_400 / step)
    jobs = []
    total = 0
    for number, first in enumerate(range(0, steps, per_file)):
        path = workdir / f"part-{number:04d}.om"
        chunk = [Series(s.name, s.labels, s.values[first:first + per_file]) for s in series]
        total += write_openmetrics(path, chunk, origin + first * step, step)
        jobs.append(path)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda p: create_blocks(p, tsdb), jobs))
    for path in jobs:
        path.unlink()
    return total


class ThrowawayPrometheus:
    """``prometheus`` on 127.0.0.1 over a TSDB directory, stopped on exit."""

    def __init__(self, tsdb: Path, lookback: str = "5m", binary: str | None = None,
                 receiver: bool = False) -> None:
        self.tsdb = tsdb
        self.lookback = lookback
        self.receiver = receiver
        self.binary = binary or shutil.which("prometheus")
        if self.binary is None:
            raise RuntimeError("prometheus not found (Debian package 'prometheus')")
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThrowawayPrometheus:
        self.tsdb.mkdir(parents=True, exist_ok=True)
        config = self.tsdb.parent / f"{self.tsdb.name}-prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1m\n", encoding="utf-8")
        self.port = free_port()
        extra = []
        if self.receiver:  # keep all history in the head so old samples can be appended
            extra = ["--web.enable-remote-write-receiver",
                     "--storage.tsdb.min-block-duration=100000h",
                     "--storage.tsdb.max-block-duration=100000h"]
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={config}", f"--storage.tsdb.path={self.tsdb}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
             f"--query.lookback-delta={self.lookback}", "--storage.tsdb.retention.time=50y",
             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_ready(f"{self.url}/-/ready", self.proc, "prometheus")
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.proc, 20)
        self.proc = None

    def __enter__(self) -> ThrowawayPrometheus:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def query_range(self, expr: str, start: float, steps: int,
                    step: float = 60.0) -> list[tuple[dict[str, str], np.ndarray]]:
        """Evaluate ``expr`` at ``steps`` points; one NaN-padded array per result series."""
        out: dict[tuple[tuple[str, str], ...], np.ndarray] = {}
        for first in range(0, steps, MAX_POINTS):
            count = min(MAX_POINTS, steps - first)
            r = requests.post(f"{self.url}/api/v1/query_range", timeout=300, data={
                "query": expr, "start": start + first * step,
                "end": start + (first + count - 1) * step, "step": step})
            doc = r.json()
            if doc.get("status") != "success":
                raise RuntimeError(f"query failed: {expr}\n{doc.get('error')}")
            for result in doc["data"]["result"]:
                key = tuple(sorted(result["metric"].items()))
                values = out.setdefault(key, np.full(steps, np.nan))
                pairs = np.array(result["values"], dtype=object)
                where = np.rint((pairs[:, 0].astype(float) - start) / step).astype(int)
                values[where] = pairs[:, 1].astype(float)
        return [(dict(key), values) for key, values in out.items()]
