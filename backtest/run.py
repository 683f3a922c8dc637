"""Backtest: what the shipped rules would have done on a history, scored and charted."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from txwatch.backtest.engine import evaluate_history
from txwatch.backtest.scoring import Episode, Incident, Score, score, to_episodes
from txwatch.history.dataset import Dataset
from txwatch.history.scrape import scrape_series
from txwatch.prom.series import Series
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

    def _time(self, minute: int) -> pd.Timestamp:
        return self.data.start + pd.Timedelta(minutes=minute)

    def as_dict(self) -> dict[str, Any]:
        """What the CLI prints with ``--json``: score, counts and every episode."""
        return {
            "rules": str(self.rules), "seconds": round(self.seconds, 3),
            "score": self.score.as_dict() if self.score else None,
            "episodes": len(self.episodes),
            "paging_episodes": sum(e.paging for e in self.episodes),
            "always_firing": self.always_firing,
            "episode_list": [{"alertname": e.alertname, "labels": e.labels,
                              "severity": e.severity, "paging": e.paging,
                              "start": self._time(e.start).isoformat(),
                              "end": self._time(e.end).isoformat(),
                              "minutes": e.end - e.start + 1} for e in self.episodes]}

    def episode_lines(self) -> list[str]:
        lines = []
        for e in self.episodes:
            start, end = self._time(e.start), self._time(e.end)
            labels = ",".join(f"{k}={v}" for k, v in sorted(e.labels.items()))
            lines.append(f"{start:%Y-%m-%d %H:%M} -> {end:%Y-%m-%d %H:%M} "
                         f"{e.end - e.start + 1:>4} min  {e.alertname}{{{labels}}}")
        return lines

    def score_lines(self) -> list[str]:
        lines = [f"alert episodes: {len(self.episodes)} "
                 f"({sum(e.paging for e in self.episodes)} paging); always firing "
                 f"(dead-man's switch): {', '.join(self.always_firing) or '-'}"]
        s = self.score
        if s is None:
            return lines
        delay = "-" if s.median_delay is None else f"{s.median_delay:g}"
        lines += [f"incidents caught: {s.caught}/{s.incidents} (recall {s.recall:.2f})",
                  f"detection delay (data minutes): median {delay}, per incident {s.delays}",
                  f"false alert episodes: {s.false_episodes} in {s.days:.1f} days "
                  f"({s.false_per_day:.2f}/day); precision {s.precision:.2f}"]
        lines += [f"  missed: {m}" for m in s.missed]
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


def comparison(a: Result, b: Result) -> dict[str, dict[str, Any]]:
    """A against B on the same data: one {"A": .., "B": ..} per figure."""
    rows: dict[str, tuple[Any, Any]] = {
        "rules": (str(a.rules), str(b.rules)),
        "paging_episodes": (sum(e.paging for e in a.episodes),
                            sum(e.paging for e in b.episodes))}
    if a.score and b.score:
        for key in ("caught", "incidents", "median_delay", "false_per_day", "precision"):
            rows[key] = (getattr(a.score, key), getattr(b.score, key))
    return {key: {"A": fa, "B": fb} for key, (fa, fb) in rows.items()}


def comparison_lines(a: Result, b: Result) -> list[str]:
    def row(name: str, fa: object, fb: object) -> str:
        return f"  {name:<28} {fa!s:>12} {fb!s:>12}"

    lines = [f"  {'':<28} {'A':>12} {'B':>12}", row("rules", a.rules.name, b.rules.name),
             row("paging episodes", sum(e.paging for e in a.episodes),
                 sum(e.paging for e in b.episodes))]
    if a.score and b.score:
        lines += [row("incidents caught", f"{a.score.caught}/{a.score.incidents}",
                      f"{b.score.caught}/{b.score.incidents}"),
                  row("median delay (min)", a.score.median_delay, b.score.median_delay),
                  row("false episodes / day", f"{a.score.false_per_day:.2f}",
                      f"{b.score.false_per_day:.2f}"),
                  row("precision", f"{a.score.precision:.2f}", f"{b.score.precision:.2f}")]
    return lines
