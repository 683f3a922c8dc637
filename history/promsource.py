"""A deployment's history read back from its running Prometheus (HTTP API), as a Dataset.

So ``tune`` can learn from what production already stored, with no CSV export: the
transaction and auth-code counters are read at every minute boundary (``query_range``
with a 60 s step, summed over exporter replicas) and differenced into per-minute counts.
A counter reset (exporter restart without state) shows as a drop: the minute then counts
what the counter holds after the reset. Minutes with no sample (exporter down, before the
range Prometheus keeps) count nothing and are marked as not pushed. As with CSVs
(``dataset.py``), every auth code Prometheus holds is kept and unknown statuses are refused.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import requests

from txwatch import contract
from txwatch.history.dataset import Dataset, check_statuses, code_columns

MAX_POINTS = 10_000  # Prometheus refuses a range query of more than 11,000 points


def _query(url: str, expr: str, start: float, steps: int, timeout: float
           ) -> dict[str, np.ndarray]:
    """label value -> samples at start + 60 s x i (NaN where none), chunked."""
    out: dict[str, np.ndarray] = {}
    for first in range(0, steps, MAX_POINTS):
        count = min(MAX_POINTS, steps - first)
        begin = start + 60.0 * first
        answer = requests.get(f"{url.rstrip('/')}/api/v1/query_range", timeout=timeout,
                              params={"query": expr, "start": begin,
                                      "end": begin + 60.0 * (count - 1), "step": "60s"})
        if answer.status_code != 200:
            raise ValueError(f"{url}: query_range answered {answer.status_code}: "
                             f"{answer.text[:300]}")
        for found in answer.json()["data"]["result"]:
            label = next(iter(found["metric"].values()), "")
            values = out.setdefault(label, np.full(steps, np.nan))
            for stamp, value in found["values"]:
                values[round((float(stamp) - start) / 60.0)] = float(value)
    return out


def _per_minute(cumulative: np.ndarray) -> np.ndarray:
    """Counts per minute from counter values at each minute's end (index 0: the start)."""
    filled = pd.Series(cumulative).ffill().fillna(0.0).to_numpy()
    step = np.diff(filled)
    counts = np.where(step < 0, filled[1:], step)  # a reset: count what it holds now
    return np.rint(counts).astype("int64")


def fetch_dataset(url: str, start: pd.Timestamp, end: pd.Timestamp, job: str = contract.JOB,
                  timeout: float = 60.0) -> Dataset:
    """Minutes [start, end) of the job's counters in the Prometheus at ``url``."""
    first, last = start.floor("min"), end.floor("min")
    if last <= first:
        raise ValueError(f"empty range: {start} to {end}")
    index = pd.date_range(first, last, freq="min", inclusive="left")
    steps = len(index) + 1  # one more sample: the counter at the end of the last minute
    frames: dict[str, pd.DataFrame] = {}
    seen = np.zeros(len(index), dtype=bool)
    for kind, columns in ((contract.TRANSACTIONS, contract.STATUSES),
                          (contract.AUTH_CODE_COUNTS, contract.AUTH_CODES)):
        expr = f"sum by ({kind.label}) ({kind.counter}{{job={json.dumps(job)}}})"
        found = _query(url, expr, first.timestamp(), steps, timeout)
        if kind is contract.TRANSACTIONS:
            check_statuses(found, columns, url)
        else:
            columns = tuple(code_columns(found, columns))
        frames[kind.label] = pd.DataFrame(
            {c: _per_minute(found[c]) if c in found else np.zeros(len(index), dtype="int64")
             for c in columns}, index=index)
        if kind is contract.TRANSACTIONS:
            for values in found.values():
                seen |= ~np.isnan(values[1:])
    if not seen.any():
        raise ValueError(f"{url}: no {contract.TRANSACTIONS.counter} samples for "
                         f"job={job} between {first} and {last}")
    return Dataset(frames["status"], frames["auth_code"], pd.Series(seen, index=index))
