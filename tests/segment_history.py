"""A short segmented history for the segment boards' tests: five acquirers, one failing.

A few hours are enough for each acquirer's own normal to be learned (3 hourly samples and
1,000 transactions, ``rules/normals.py``) except the smallest one's, which never gathers
1,000 transactions: it stays covered by the flow's alerts. The history ends with one
acquirer failing fully, so a board ranking segments by their excess has a clear first row
and the segment page has fired. Written as the CSV a deployment's history would be
(``timestamp,acquirer,status,count``) and loaded by the project's own loader; for a page
that reads "now" (the local board), held by a Prometheus at recent timestamps.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from txwatch import contract
from txwatch.backtest.engine import STEP, evaluate_history
from txwatch.backtest.loaded import alerts_series
from txwatch.engines import remote_write
from txwatch.engines.series import Series
from txwatch.engines.server import ThrowawayPrometheus
from txwatch.history.dataset import Dataset, load_dataset
from txwatch.history.scrape import INSTANCE, scrape_series
from txwatch.resources import rule_files

DIMENSION = "acquirer"
# Transactions per data minute of each acquirer: acq-05 gathers far fewer than 1,000
# transactions in the history, so no normal of its own is ever learned.
VOLUMES = {"acq-01": 60, "acq-02": 40, "acq-03": 25, "acq-04": 15, "acq-05": 1}
FAILING = "acq-04"
SHARES = {"denied": 0.05, "failed": 0.004, "reversed": 0.008, "backend_reversed": 0.0005,
          "refunded": 0.005}


def minute_counts(rng: np.random.Generator, volume: int, failing: bool) -> dict[str, int]:
    """One acquirer's counts of one data minute: its own normal shares, or every
    transaction failed."""
    total = int(rng.poisson(volume)) or 1
    if failing:
        return {"approved": 0, "failed": total}
    counts = {s: int(rng.binomial(total, p)) for s, p in SHARES.items()}
    return {"approved": max(0, total - sum(counts.values())), **counts}


def history_rows(start: datetime, minutes: int, failing_from: int,
                 seed: int = 4) -> list[tuple[datetime, str, dict[str, int]]]:
    """(data minute, acquirer, counts by status) for every minute and acquirer, the
    failing acquirer failing from minute ``failing_from`` on."""
    rng = np.random.default_rng(seed)
    return [(start + timedelta(minutes=i), name,
             minute_counts(rng, volume, name == FAILING and i >= failing_from))
            for i in range(minutes) for name, volume in VOLUMES.items()]


def write_csv(rows: list[tuple[datetime, str, dict[str, int]]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", DIMENSION, "status", "count"])
        for at, name, counts in rows:
            stamp = at.strftime("%Y-%m-%d %H:%M:%S")
            out.writerows([stamp, name, status, n] for status, n in counts.items() if n
                          or status == "approved")
    return path


def segmented_dataset(folder: Path, start: datetime, minutes: int,
                      failing_from: int) -> Dataset:
    """The history as the backtest and the backfill read it."""
    path = write_csv(history_rows(start, minutes, failing_from), folder / "transactions.csv")
    return load_dataset([path], contract.STATUSES, contract.AUTH_CODES)


def recent_start(hours: int, now: float) -> tuple[datetime, int]:
    """(first data minute, minutes) of a history of at least ``hours`` whole hours that
    ends at the minute before ``now``: it starts on an hour, as a backtest's timeline does,
    so every hourly and 5-minute subquery step falls where it fell when it was evaluated."""
    origin = (int(now) // 3600 - hours) * 3600
    return datetime.fromtimestamp(origin, UTC), (int(now) - origin) // 60


def clock_series(data: Dataset) -> Series:
    """The exporter's data clock (the newest data minute at each scrape), which the local
    board's time axis reads; a scraped history does not carry it."""
    minutes = data.start.timestamp() + 60.0 * np.arange(len(data.transactions))
    return Series(contract.LAST_MINUTE_TIMESTAMP, {"job": contract.JOB, "instance": INSTANCE},
                  minutes)


@contextmanager
def prometheus_holding(data: Dataset, rules: Path, workdir: Path
                       ) -> Iterator[ThrowawayPrometheus]:
    """A Prometheus holding the history at its own (recent) timestamps, as live operation
    would have left it: scraped series, every record, the alerts that fired and the data
    clock (as :func:`txwatch.backtest.loaded.loaded_prometheus` builds it at time 0)."""
    steps = len(data.transactions)
    raw = list(scrape_series(data))
    firings, recorded, _always = evaluate_history(raw, steps, rule_files(rules),
                                                  all_rules=True)
    series = raw + [s for found in recorded.values() for s in found]
    series += [*alerts_series(firings, steps), clock_series(data)]
    with ThrowawayPrometheus(workdir / "recent", receiver=True) as prom:
        remote_write.write(prom.url, series, data.start.timestamp(), STEP)
        yield prom
