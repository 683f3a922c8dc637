"""A throwaway Prometheus on a free loopback port over a TSDB directory, stopped on exit,
so PromQL is evaluated by the real engine (backtests, board checks, previews)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import TracebackType

import numpy as np
import requests

from txwatch.engines.procs import batch_go_env, free_port, stop_process, wait_ready

MAX_POINTS = 10_000  # Prometheus refuses range queries of more than 11,000 points


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
        text = "global:\n  scrape_interval: 1m\n"
        if self.receiver:  # samples older than a series' newest may be appended too
            text += "storage:\n  tsdb:\n    out_of_order_time_window: 100000h\n"
        config.write_text(text, encoding="utf-8")
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
             # a batch evaluation, not a dashboard: weeks of minutes of every segment in one
             # range query take longer than the default 2 minutes on a busy machine
             "--query.timeout=30m", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=batch_go_env())
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
            r = requests.post(f"{self.url}/api/v1/query_range", timeout=1800, data={
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
