"""The demo's progress line: where the replay is in data time, and the incidents around it.

Its own module so the demo's main loop stays readable; fed by ``push()``'s progress hook
(batches are typed loosely: only the demo may import the replay client, tests/test_layout).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd


class Progress:
    """Where the replay is in data time, fed by push()'s progress hook."""

    def __init__(self, incidents: list[dict[str, Any]], speed: float) -> None:
        self.minute: pd.Timestamp | None = None
        self.pushed = 0
        self.total = 0
        self.speed = speed
        self.spans = sorted((pd.Timestamp(i["start"], tz="UTC"),
                             pd.Timestamp(i.get("end", i["start"]), tz="UTC"),
                             str(i.get("kind", "incident"))) for i in incidents)

    def hook(self, batches: Iterator[list[Any]], total: int) -> Iterator[list[Any]]:
        self.total = total
        for minute in batches:
            self.minute = minute[0].minute
            yield minute
            self.pushed += 1

    def line(self) -> str:
        if self.minute is None:
            return "progress: replay starting"
        now = pd.Timestamp(self.minute).tz_localize("UTC") if self.minute.tzinfo is None \
            else self.minute
        text = f"progress: data time {now:%Y-%m-%d %H:%M}, pushed {self.pushed} of " \
               f"{self.total} data minutes"
        current = [f"{kind} since {start:%H:%M}" for start, end, kind in self.spans
                   if start <= now <= end]
        if current:
            text += f"; incident in progress: {', '.join(current)}"
        upcoming = [(start, kind) for start, _end, kind in self.spans if start > now]
        if upcoming:
            start, kind = upcoming[0]
            left = (start - now).total_seconds() / 60
            text += f"; next incident {kind} at {start:%H:%M} data time (in {left:.0f} " \
                    f"data minutes, ~{left / self.speed * 60:.0f} s)"
        return text
