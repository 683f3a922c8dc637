"""The series live scraping of the exporter would produce, from a per-minute data set.

One sample per scrape: counters are cumulative sums of the pushed minutes (a minute is
visible from the scrape after it was pushed), the last-push gauge is the time of the last
push, ``up`` is 1, and the exporter's record counters count one record per label value and
pushed minute (as a replay sends them). Backfill and backtest both use this, so what is
backtested is what Prometheus would have stored. Names come from the metric contract.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from txwatch import contract
from txwatch.engines.series import Series
from txwatch.history.dataset import Dataset

INSTANCE = "replay"


def scrape_series(data: Dataset, scrapes_per_minute: int = 1,
                  push_time_origin: float = 0.0) -> Iterator[Series]:
    """Yield every series at ``scrapes_per_minute`` samples per data minute.

    ``push_time_origin`` is the Unix time of the first sample, so the push-time gauge
    matches the timeline the samples are written on (simulated or shifted real time); the
    newest-data gauge keeps the data's own timestamps, as the exporter reports them.
    """
    data_time_origin = data.start.timestamp()
    base = {"job": contract.JOB, "instance": INSTANCE}
    frames = {contract.TRANSACTIONS.name: data.transactions,
              contract.AUTH_CODE_COUNTS.name: data.auth_codes}
    for kind in contract.KINDS:
        for labels, frame in _segment_frames(data, kind, frames[kind.name]):
            for column in frame.columns:
                cumulative = frame[column].to_numpy(dtype="float64").cumsum()
                yield Series(kind.counter, {**base, **labels, kind.label: str(column)},
                             np.repeat(cumulative, scrapes_per_minute))
    pushed = data.pushed.to_numpy()
    minutes = np.arange(len(pushed), dtype="float64") * 60.0 + push_time_origin
    last = np.maximum.accumulate(np.where(pushed, minutes, -np.inf))
    samples = len(pushed) * scrapes_per_minute
    last = np.where(np.isinf(last), np.nan, last)
    newest = np.where(np.isnan(last), np.nan, last - push_time_origin + data_time_origin)
    yield Series(contract.LAST_PUSH_TIMESTAMP, dict(base), np.repeat(last, scrapes_per_minute))
    yield Series(contract.NEWEST_DATA_TIMESTAMP, dict(base),
                 np.repeat(newest, scrapes_per_minute))
    yield Series("up", dict(base), np.ones(samples))
    for kind in contract.KINDS:
        columns = len(frames[kind.name].columns)
        rows = np.where(pushed, columns, 0).astype("float64").cumsum()
        yield Series(f"{contract.RECORDS_ACCEPTED}_total", {**base, "kind": kind.name},
                     np.repeat(rows, scrapes_per_minute))
    yield Series(f"{contract.RECORDS_REJECTED}_total",
                 {**base, "reason": contract.Reason.INVALID_RECORD.value}, np.zeros(samples))


def _segment_frames(data: Dataset, kind: contract.Kind, whole: pd.DataFrame,
                    ) -> Iterator[tuple[dict[str, str], pd.DataFrame]]:
    """(segment labels, its table) as an exporter run with the history's dimensions exposes
    them: one series set per segment, the default segment (records without dimensions) with
    no dimension label; a history without segments is the whole flow, unlabelled."""
    tables = (data.segment_transactions if kind is contract.TRANSACTIONS
              else data.segment_auth_codes)
    if not tables:
        yield {}, whole
        return
    for segment, frame in tables.items():
        labels = dict(pair.split("=", 1) for pair in segment.split(",")) if segment else {}
        yield labels, frame
