"""Prometheus TSDB blocks from series, with ``promtool tsdb create-blocks-from openmetrics``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from txwatch.engines.series import Series


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
