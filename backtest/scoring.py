"""From firing alerts per step to episodes, and episodes scored against labelled incidents.

Definitions (also in docs/runbook.md, "Backtesting"):
* an *episode* is a maximal run of consecutive steps in which one alert (name + labels) fires;
* *paging* episodes are those of severity critical or warning, Watchdog excluded;
* an incident is *caught* when a paging episode about one of its statuses (or about
  ``status="all"``) is firing at some point between its start and its end + grace;
  the delay is first firing step - start, in data minutes (0 if already firing);
* a paging episode is *false* when it overlaps no incident window it is about
  ([start, end + grace]); overlapping false episodes are merged into one *false alert
  episode* (what an operator experiences as one page storm).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median

import pandas as pd

from txwatch.prom.promtool import Firing

PAGING = frozenset({"critical", "warning"})
GRACE_MINUTES = 60


@dataclass(frozen=True)
class Incident:
    start: pd.Timestamp
    end: pd.Timestamp
    kind: str
    statuses: tuple[str, ...]


@dataclass
class Episode:
    alertname: str
    labels: dict[str, str]
    start: int  # first firing step (minutes since the first data minute)
    end: int    # last firing step, inclusive

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def paging(self) -> bool:
        return self.severity in PAGING and self.alertname != "Watchdog"


@dataclass
class Score:
    incidents: int = 0
    caught: int = 0
    delays: list[int] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    paging_episodes: int = 0
    false_episodes: int = 0
    false_alerts: list[str] = field(default_factory=list)
    days: float = 0.0
    false_critical: int = 0  # false paging episodes by severity (a page vs a chat message)
    false_warning: int = 0
    kinds: dict[str, list[int | None]] = field(default_factory=dict)  # delay per incident kind
    pages: list[int] = field(default_factory=list)  # paging episodes per caught incident

    @property
    def recall(self) -> float:
        return self.caught / self.incidents if self.incidents else 1.0

    @property
    def precision(self) -> float:
        if not self.paging_episodes:
            return 1.0
        return 1 - self.false_alert_count / self.paging_episodes

    @property
    def false_alert_count(self) -> int:
        return len(self.false_alerts)

    @property
    def false_per_day(self) -> float:
        return self.false_episodes / self.days if self.days else 0.0

    @property
    def median_delay(self) -> float | None:
        return float(median(self.delays)) if self.delays else None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "recall": self.recall, "precision": self.precision,
                "false_per_day": self.false_per_day, "median_delay": self.median_delay}


def load_incidents(path: Path) -> list[Incident]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [Incident(_utc(i["start"]), _utc(i["end"]), i["kind"], tuple(i["statuses"]))
            for i in doc["incidents"]]


def _utc(text: str) -> pd.Timestamp:
    """A label's time; times without a zone are UTC, like the data set's."""
    stamp = pd.Timestamp(text)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp


def to_episodes(firings: list[Firing]) -> list[Episode]:
    steps: dict[tuple[str, tuple[tuple[str, str], ...]], list[int]] = defaultdict(list)
    for f in firings:
        steps[(f.alertname, f.labels)].append(f.step)
    episodes = []
    for (name, labels), seen in steps.items():
        seen.sort()
        start = prev = seen[0]
        for step in seen[1:] + [None]:
            if step is not None and step == prev + 1:
                prev = step
                continue
            episodes.append(Episode(name, dict(labels), start, prev))
            if step is not None:
                start = prev = step
    return sorted(episodes, key=lambda e: (e.start, e.alertname))


def _about(episode: Episode, incident: Incident) -> bool:
    status = episode.labels.get("status", "")
    return status == "all" or status in incident.statuses


def score(episodes: list[Episode], incidents: list[Incident], origin: pd.Timestamp,
          steps: int, grace: int = GRACE_MINUTES) -> Score:
    """Score paging episodes against incidents on a timeline starting at ``origin``."""
    result = Score(incidents=len(incidents), days=steps / 1440)
    windows = [(int((i.start - origin) / pd.Timedelta(minutes=1)),
                int((i.end - origin) / pd.Timedelta(minutes=1)), i) for i in incidents]
    paging = [e for e in episodes if e.paging]
    result.paging_episodes = len(paging)
    for start, end, incident in windows:
        delays = [max(0, e.start - start) for e in paging
                  if _about(e, incident) and e.start <= end + grace and e.end >= start]
        result.kinds.setdefault(incident.kind, []).append(min(delays) if delays else None)
        if delays:
            result.caught += 1
            result.delays.append(min(delays))
            result.pages.append(len(delays))
        else:
            result.missed.append(f"{incident.kind} {incident.start:%Y-%m-%d %H:%M}")
    false = [e for e in paging
             if not any(_about(e, inc) and e.start <= end + grace and e.end >= start
                        for start, end, inc in windows)]
    result.false_alerts = [f"{e.alertname}{{status={e.labels.get('status')}}} "
                           f"@{(origin + pd.Timedelta(minutes=e.start)):%Y-%m-%d %H:%M} "
                           f"({e.end - e.start + 1} min)" for e in false]
    result.false_critical = sum(e.severity == "critical" for e in false)
    result.false_warning = sum(e.severity == "warning" for e in false)
    merged_end = -1
    for e in sorted(false, key=lambda e: e.start):
        if e.start > merged_end:
            result.false_episodes += 1
        merged_end = max(merged_end, e.end)
    return result
