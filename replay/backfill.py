"""``replay backfill``: history as the Prometheus blocks live scraping would have produced."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from txwatch.engines.blocks import backfill
from txwatch.history.dataset import Dataset
from txwatch.history.scrape import scrape_series


def backfill_dataset(data: Dataset, tsdb: Path, scrape_interval: int = 60,
                     end: float | None = None) -> tuple[float, float, int]:
    """Write blocks; return (first sample time, last sample time, samples written).

    With ``end`` (Unix seconds) the history is shifted so its last minute ends there,
    otherwise it keeps the data's own timestamps.
    """
    if 60 % scrape_interval:
        raise ValueError("scrape interval must divide 60 s")
    per_minute = 60 // scrape_interval
    minutes = len(data.transactions)
    origin = data.start.timestamp()
    if end is not None:
        origin = (int(end) // 60) * 60 - minutes * 60
    series = list(scrape_series(data, per_minute, push_time_origin=origin))
    with tempfile.TemporaryDirectory(prefix="txwatch-backfill-") as work:
        written = backfill(series, tsdb, origin, float(scrape_interval), Path(work))
    return origin, origin + (minutes * per_minute - 1) * scrape_interval, written


def now() -> float:
    return time.time()
