"""A throwaway Prometheus holding a history as live operation would have left it.

Raw scraped series, every recording rule's output and the ``ALERTS`` series of the alerts
that fired, on a timeline starting at Unix time 0 with one sample per data minute. Used to
check that every dashboard query returns data and to render board previews.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from txwatch.backtest.engine import STEP, evaluate_history
from txwatch.engines import remote_write
from txwatch.engines.promtool import Firing
from txwatch.engines.series import Series
from txwatch.engines.server import ThrowawayPrometheus
from txwatch.history.dataset import Dataset
from txwatch.history.scrape import scrape_series
from txwatch.resources import rule_files


def alerts_series(firings: list[Firing], steps: int) -> list[Series]:
    """``ALERTS{alertstate="firing", ...}`` = 1 at every step an alert fired."""
    by_key: dict[tuple[str, tuple[tuple[str, str], ...]], np.ndarray] = {}
    for f in firings:
        values = by_key.setdefault((f.alertname, f.labels), np.full(steps, np.nan))
        values[f.step] = 1.0
    return [Series("ALERTS", {"alertname": name, "alertstate": "firing", **dict(labels)},
                   values) for (name, labels), values in by_key.items()]


@contextmanager
def loaded_prometheus(data: Dataset, rules: Path, workdir: Path) -> Iterator[ThrowawayPrometheus]:
    steps = len(data.transactions)
    raw = list(scrape_series(data))
    firings, recorded, _always = evaluate_history(raw, steps, rule_files(rules), all_rules=True)
    series = raw + [s for found in recorded.values() for s in found]
    series += alerts_series(firings, steps)
    with ThrowawayPrometheus(workdir / "loaded", receiver=True) as prom:
        remote_write.write(prom.url, series, 0.0, STEP)
        yield prom
