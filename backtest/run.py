"""Backtest: what the shipped rules would have done on a history, scored and charted."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from txwatch.backtest.engine import evaluate_history
from txwatch.backtest.notify import notifications
from txwatch.backtest.scoring import (
    Episode,
    Incident,
    Score,
    score,
    to_episodes,
)
from txwatch.engines.series import Series
from txwatch.history.dataset import Dataset
from txwatch.history.scrape import scrape_series
from txwatch.resources import rule_files


@dataclass
class Result:
    rules: Path
    data: Dataset
    episodes: list[Episode]
    always_firing: list[str]
    recorded: dict[str, list[Series]]
    score: Score | None
    seconds: float = 0.0  # wall time of the evaluation

    def time_of(self, minute: int) -> pd.Timestamp:
        return self.data.start + pd.Timedelta(minutes=minute)

    def as_dict(self) -> dict[str, Any]:
        """What the CLI prints with ``--json``: score, counts and every episode."""
        return {
            "rules": str(self.rules), "seconds": round(self.seconds, 3),
            "score": self.score.as_dict() if self.score else None,
            "episodes": len(self.episodes),
            "pages": sum(e.paging for e in self.episodes),
            "warnings": sum(e.notifies and not e.paging for e in self.episodes),
            "notifications": notifications(self.episodes),
            "days": round(self.days, 4),
            "always_firing": self.always_firing,
            "episode_list": [{"alertname": e.alertname, "labels": e.labels,
                              "severity": e.severity, "paging": e.paging,
                              "notifies": e.notifies,
                              "start": self.time_of(e.start).isoformat(),
                              "end": self.time_of(e.end).isoformat(),
                              "minutes": e.end - e.start + 1} for e in self.episodes]}

    @property
    def days(self) -> float:
        return len(self.data.transactions) / 1440

    def episode_lines(self) -> list[str]:
        lines = []
        for e in self.episodes:
            start, end = self.time_of(e.start), self.time_of(e.end)
            labels = ",".join(f"{k}={v}" for k, v in sorted(e.labels.items()))
            lines.append(f"{start:%Y-%m-%d %H:%M} -> {end:%Y-%m-%d %H:%M} "
                         f"{e.end - e.start + 1:>4} min  {e.alertname}{{{labels}}}")
        return lines

    def score_lines(self) -> list[str]:
        pages = sum(e.paging for e in self.episodes)
        warnings = sum(e.notifies and not e.paging for e in self.episodes)
        sent = notifications(self.episodes)
        lines = [f"alert episodes: {len(self.episodes)}: {pages} critical (pager), "
                 f"{warnings} warning (chat); always firing (dead-man's switch): "
                 f"{', '.join(self.always_firing) or '-'}",
                 f"notifications: {sent} ({sent / self.days:.2f}/day; one per alert group "
                 "and firing span, repeats not counted)"]
        s = self.score
        if s is None:
            return lines
        delay = "-" if s.median_delay is None else f"{s.median_delay:g}"
        per = "-" if s.pages_per_incident is None else f"{s.pages_per_incident:.2f}"
        lines += [f"incidents caught: {s.caught}/{s.incidents} (recall {s.recall:.2f}), "
                  f"paged {s.paged}/{s.incidents}; pages per caught incident {per} "
                  "(pager notifications, alert groups as Alertmanager sends them)",
                  f"detection delay (data minutes): median {delay}",
                  f"false pages: {s.false_critical} ({s.false_pages_per_week:.2f}/week); "
                  f"false warnings: {s.false_warning} ({s.false_warnings_per_day:.2f}/day); "
                  f"merged false episodes {s.false_episodes} in {s.days:.1f} days "
                  f"({s.false_per_day:.2f}/day); precision {s.precision:.2f}"]
        for label, found in s.per_incident.items():
            if found["delay"] is None:
                lines.append(f"  missed: {label}")
            else:
                named = found.get("named_delay", -1)  # -1: the incident names no segment
                where = ("" if named == -1 else ", no page names its segments"
                         if named is None else f", a page names its segment after {named} min")
                lines.append(f"  caught: {label}: delay {found['delay']} min, "
                             f"{_count(found['pages'], 'page')}, "
                             f"{_count(found['warnings'], 'chat message')}{where}")
        lines += [f"  false: {f}" for f in s.false_alerts]
        return lines


def run(data: Dataset, rules: Path, incidents: list[Incident] | None,
        progress: Callable[[str], None] | None = None) -> Result:
    started = time.monotonic()
    steps = len(data.transactions)
    raw = list(scrape_series(data))
    firings, recorded, always = evaluate_history(raw, steps, rule_files(rules), progress)
    episodes = to_episodes(firings)
    scored = score(episodes, incidents, data.start, steps) if incidents is not None else None
    return Result(rules, data, episodes, always, recorded, scored, time.monotonic() - started)


def _count(n: int | None, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
