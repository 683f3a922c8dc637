"""From firing alerts per step to episodes, and episodes scored against labelled incidents.

Definitions (also in docs/runbook.md, "Backtesting"):
* an *episode* is a maximal run of consecutive steps in which one alert (name + labels) fires;
* a *page* is a critical episode (Alertmanager routes critical to the pager), a *warning*
  a warning episode (routed to chat); both *notify*; Watchdog and info alerts do not;
* an incident is *caught* when a notifying episode about one of its statuses (or about
  ``status="all"``) is firing at some point between its start and its end + grace;
  the delay is first firing step - start, in data minutes (0 if already firing); it is
  *paged* when a critical one is;
* a notifying episode is *false* when it overlaps no incident window it is about
  ([start, end + grace]); overlapping false episodes are merged into one *false alert
  episode* (what an operator experiences as one page storm);
* *notifications* are what Alertmanager would send: one per alert group (the route's
  ``group_by``: alertname and job; the statuses and codes of one alert share one group)
  per span in which any alert of the group fires. Repeats while an alert keeps firing,
  resolved messages and inhibition are not counted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from statistics import median

import pandas as pd

# Incident and load_incidents live with the label file's checks; importing them from here
# keeps every caller's ``from txwatch.backtest.scoring import Incident, load_incidents``.
from txwatch.backtest.incidents import Incident, load_incidents  # noqa: F401
from txwatch.backtest.notify import group_spans
from txwatch.engines.promtool import Firing

NOTIFYING = frozenset({"critical", "warning"})
GRACE_MINUTES = 60


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
    def notifies(self) -> bool:
        """Reaches a person: the pager (critical) or chat (warning)."""
        return self.severity in NOTIFYING and self.alertname != "Watchdog"

    @property
    def paging(self) -> bool:
        """Pages someone: critical only; a warning is a chat message, not a page."""
        return self.notifies and self.severity == "critical"

    def about(self) -> str:
        """``Alert{status=..}`` (and the auth code): what the episode says is wrong."""
        keys = [k for k in ("status", "auth_code") if k in self.labels]
        return self.alertname + "{" + ",".join(f"{k}={self.labels[k]}" for k in keys) + "}"


@dataclass
class Score:
    incidents: int = 0
    caught: int = 0   # by a page or a warning
    paged: int = 0    # by a page (critical)
    delays: list[int] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    critical_episodes: int = 0  # pages
    warning_episodes: int = 0   # chat messages
    notifications: int = 0      # alert-group spans (module docstring)
    false_episodes: int = 0
    false_alerts: list[str] = field(default_factory=list)
    days: float = 0.0
    false_critical: int = 0  # false episodes by severity (a page vs a chat message)
    false_warning: int = 0
    kinds: dict[str, list[int | None]] = field(default_factory=dict)  # delay per incident kind
    pages: list[int] = field(default_factory=list)  # pager notifications per caught incident
    # per incident: delay, pages (pager notifications: critical alert-group spans, as
    # Alertmanager groups them), warnings (chat notifications: warning group spans), page_delay
    per_incident: dict[str, dict[str, int | None]] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return self.caught / self.incidents if self.incidents else 1.0

    @property
    def notified_episodes(self) -> int:
        return self.critical_episodes + self.warning_episodes

    @property
    def precision(self) -> float:
        if not self.notified_episodes:
            return 1.0
        return 1 - self.false_alert_count / self.notified_episodes

    @property
    def false_alert_count(self) -> int:
        return len(self.false_alerts)

    @property
    def false_per_day(self) -> float:
        """Merged false alert episodes (storms) per day."""
        return self.false_episodes / self.days if self.days else 0.0

    @property
    def false_pages_per_week(self) -> float:
        return self.false_critical / self.days * 7 if self.days else 0.0

    @property
    def false_warnings_per_day(self) -> float:
        return self.false_warning / self.days if self.days else 0.0

    @property
    def notifications_per_day(self) -> float:
        return self.notifications / self.days if self.days else 0.0

    @property
    def pages_per_incident(self) -> float | None:
        """Pager notifications about the caught incidents (critical alert-group spans: two
        statuses of one alert firing together are one page) / incidents caught: 1 is one
        page per incident; more means an alert resolved and fired again, or two alerts
        paged."""
        return sum(self.pages) / self.caught if self.caught else None

    @property
    def median_delay(self) -> float | None:
        return float(median(self.delays)) if self.delays else None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "recall": self.recall, "precision": self.precision,
                "false_per_day": self.false_per_day, "median_delay": self.median_delay,
                "false_pages_per_week": self.false_pages_per_week,
                "false_warnings_per_day": self.false_warnings_per_day,
                "notifications_per_day": self.notifications_per_day,
                "pages_per_incident": self.pages_per_incident}


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


def incident_label(incident: Incident) -> str:
    return f"{incident.kind} {incident.start:%Y-%m-%d %H:%M}"


def segment_of(episode: Episode) -> str | None:
    """``dimension=segment`` of a segment alert's episode, as incidents name segments."""
    dimension, segment = episode.labels.get("dimension"), episode.labels.get("segment")
    return f"{dimension}={segment}" if dimension and segment else None


def _names(episode: Episode, incident: Incident) -> bool:
    """A segment alert about one of the segments the incident hits."""
    where = segment_of(episode)
    return where is not None and any(where in s.split(",") for s in incident.segments)


def _about(episode: Episode, incident: Incident) -> bool:
    """About one of the incident's statuses, and (a segment's alert) one of its segments
    when the incident names segments."""
    status = episode.labels.get("status", "")
    if not (status == "all" or status in incident.statuses):
        return False
    return segment_of(episode) is None or not incident.segments or _names(episode, incident)


def score(episodes: list[Episode], incidents: list[Incident], origin: pd.Timestamp,
          steps: int, grace: int = GRACE_MINUTES) -> Score:
    """Score notifying episodes against incidents on a timeline starting at ``origin``.
    With no incidents every notifying episode is false."""
    result = Score(incidents=len(incidents), days=steps / 1440)
    windows = [(int((i.start - origin) / pd.Timedelta(minutes=1)),
                int((i.end - origin) / pd.Timedelta(minutes=1)), i) for i in incidents]
    notifying = [e for e in episodes if e.notifies]
    result.critical_episodes = sum(e.paging for e in notifying)
    result.warning_episodes = len(notifying) - result.critical_episodes
    spans = group_spans(notifying)
    result.notifications = len(spans)
    for start, end, incident in windows:
        during = [e for e in notifying
                  if _about(e, incident) and e.start <= end + grace and e.end >= start]
        delay = min((max(0, e.start - start) for e in during), default=None)
        sent = [x for x in spans if ("all" in x.statuses or x.statuses
                & set(incident.statuses)) and x.start <= end + grace and x.end >= start]
        pages = sum(x.paging for x in sent)
        result.kinds.setdefault(incident.kind, []).append(delay)
        result.per_incident[incident_label(incident)] = {
            "delay": delay, "pages": pages, "warnings": len(sent) - pages,
            "page_delay": min((max(0, e.start - start) for e in during if e.paging),
                              default=None)}
        if incident.segments:  # the first page that names one of its segments
            result.per_incident[incident_label(incident)]["named_delay"] = min(
                (max(0, e.start - start) for e in during if e.paging and _names(e, incident)),
                default=None)
        if delay is not None:
            result.caught += 1
            result.paged += pages > 0
            result.delays.append(delay)
            result.pages.append(pages)
        else:
            result.missed.append(incident_label(incident))
    false = [e for e in notifying
             if not any(_about(e, inc) and e.start <= end + grace and e.end >= start
                        for start, end, inc in windows)]
    result.false_alerts = [f"{e.about()} {e.severity} "
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
