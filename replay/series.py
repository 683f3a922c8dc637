"""The series live scraping of the exporter would produce, from a per-minute data set.

One sample per scrape: counters are cumulative sums of the pushed minutes (a minute is
visible from the scrape after it was pushed), ``payment_last_push_timestamp_seconds`` is
the time of the last push, ``up`` is 1, and the exporter's record counters count one
record per label value and pushed minute (as a replay sends them). Backfill and backtest
both use this, so what is backtested is what Prometheus would have stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from replay.data import Dataset

JOB = "txwatch"
INSTANCE = "replay"


@dataclass(frozen=True)
class Series:
    """One series: metric name, labels and one value per scrape (NaN = no sample)."""

    name: str
    labels: dict[str, str]
    values: np.ndarray

    def selector(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.name}{{{inner}}}"


def scrape_series(data: Dataset, scrapes_per_minute: int = 1,
                  push_time_origin: float = 0.0) -> Iterator[Series]:
    data_time_origin = data.start.timestamp()
    """Yield every series at ``scrapes_per_minute`` samples per data minute.

    ``push_time_origin`` is the Unix time of the first sample, so the push-time gauge
    matches the timeline the samples are written on (simulated or shifted real time); the
    newest-data gauge keeps the data's own timestamps, as the exporter reports them.
    """
    base = {"job": JOB, "instance": INSTANCE}
    for kind, frame, label in (("payment_transactions_total", data.transactions, "status"),
                               ("payment_auth_codes_total", data.auth_codes, "auth_code")):
        for column in frame.columns:
            cumulative = frame[column].to_numpy(dtype="float64").cumsum()
            yield Series(kind, {**base, label: str(column)},
                         np.repeat(cumulative, scrapes_per_minute))
    pushed = data.pushed.to_numpy()
    minutes = np.arange(len(pushed), dtype="float64") * 60.0 + push_time_origin
    last = np.maximum.accumulate(np.where(pushed, minutes, -np.inf))
    samples = len(pushed) * scrapes_per_minute
    last = np.where(np.isinf(last), np.nan, last)
    newest = np.where(np.isnan(last), np.nan, last - push_time_origin + data_time_origin)
    yield Series("payment_last_push_timestamp_seconds", dict(base),
                 np.repeat(last, scrapes_per_minute))
    yield Series("payment_newest_data_timestamp_seconds", dict(base),
                 np.repeat(newest, scrapes_per_minute))
    yield Series("up", dict(base), np.ones(samples))
    for kind, frame in (("transactions", data.transactions), ("auth_codes", data.auth_codes)):
        rows = np.where(pushed, len(frame.columns), 0).astype("float64").cumsum()
        yield Series("txwatch_exporter_records_accepted_total", {**base, "kind": kind},
                     np.repeat(rows, scrapes_per_minute))
    yield Series("txwatch_exporter_records_rejected_total",
                 {**base, "reason": "invalid_record"}, np.zeros(samples))
