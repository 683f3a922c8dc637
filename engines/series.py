"""A series on a regular time grid: the unit every Prometheus helper here reads and writes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Series:
    """One series: metric name, labels and one value per scrape (NaN = no sample)."""

    name: str
    labels: dict[str, str]
    values: np.ndarray

    def selector(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.name}{{{inner}}}"
