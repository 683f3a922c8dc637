"""The alerting-rule stage of the backtest engine: promtool over windows of steps.

The candidate search (:mod:`.engine`) finds the steps where each alert expression holds;
here ``promtool test rules`` evaluates each alert alone in windows around them (its
look-back before, its ``keep_firing_for`` after), which honours ``for`` and
``keep_firing_for`` exactly (:mod:`txwatch.engines.promtool`). An alert held through its own
``ALERTS`` series is followed past its candidates until promtool lets it go.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from txwatch.backtest.ruleset import RuleSet, history_needed, referenced, rule_key, windows
from txwatch.engines.promtool import Firing, Window, evaluate_windows, parse_duration
from txwatch.engines.series import Series

STEP = 60.0
EXTEND = 60  # steps a held alert's window grows by when it still fires at its end (doubling)
HOLD_AHEAD = 15  # steps past keep_firing_for a held alert's windows start with
# One promtool window of one alert: its rule file, inputs, candidate steps, (first, exact, end)
Job = tuple[Path, list[Series], np.ndarray, tuple[int, int, int]]


def kept_on(candidates: np.ndarray, steps: int) -> np.ndarray:
    """Candidates widened ``steps`` forward: an alert with ``keep_firing_for`` may still fire
    that long after its expression last held, so those steps are evaluated too."""
    widened = candidates.copy()
    for shift in range(1, min(steps, len(candidates)) + 1):
        widened[shift:] |= candidates[:-shift]
    return widened


def alert_stage(rules: RuleSet, by_name: dict[str, list[Series]],
                 steps: int, candidates: dict[str, np.ndarray], always: list[str],
                 as_queried: dict[str, str], work: Path, workers: int,
                 say: Callable[[str], None]) -> list[Firing]:
    """promtool over windows around the steps where an alert expression holds, one alert at
    a time: alerts do not read each other, and each then needs only its own inputs and
    look-back around its own candidate steps (a volume alert's 90-minute look-back is not
    paid around every share spike). Each alert's expression is the one its candidates were
    found with (``as_queried``: reading the shared counts, the same value at every step):
    promtool then reads a count once per step instead of a window of raw samples at each
    occurrence, and a window's look-back is the counts' offsets, not their ranges.

    An alert that reads its own ``ALERTS`` series (hysteresis: held while firing) can fire
    past its last candidate, which the candidate search, having no ``ALERTS``, cannot see:
    its windows that still fire at their last step are extended (by ``EXTEND`` steps,
    doubling each round) and evaluated again until none does (:func:`extended`); windows
    that did not change are not evaluated again."""
    alerts: dict[str, Alert] = {}
    for group in rules.alert_groups:
        for rule in group["rules"]:
            name, key = rule["alert"], rule_key(rule)
            if name in always or not candidates.get(key, np.zeros(1, bool)).any():
                continue
            # Annotations are dropped: their templates (which may query) change no firing.
            bare = {**{k: v for k, v in rule.items() if k != "annotations"},
                    "expr": as_queried.get(key, str(rule["expr"]))}
            alert_file = work / f"alert-{len(alerts)}-{name}.yml"
            alert_file.write_text(yaml.safe_dump(
                {"groups": [{"name": group["name"], "rules": [bare]}]}, sort_keys=False),
                encoding="utf-8")
            needed = referenced(bare["expr"], set(by_name))
            own = reads_own_alerts(bare["expr"], name)
            # ... and a held alert ``HOLD_AHEAD`` more: most holds end within them, and a
            # last step not firing shows it let go
            kept = int(parse_duration(str(rule.get("keep_firing_for", "0s"))) // STEP) \
                + HOLD_AHEAD * own
            history = int(history_needed(bare["expr"], rule.get("for")) // STEP) + 2
            held = kept_on(candidates[key], kept)
            alerts[key] = Alert(alert_file, [s for n in sorted(needed) for s in by_name[n]],
                                 filled(held, history, steps) if own else held, history, own)
    found: list[Firing] = []
    done: dict[tuple[Path, tuple[int, int, int]], list[Firing]] = {}  # a window's firings
    more = EXTEND
    with ThreadPoolExecutor(workers) as pool:
        while alerts:
            spans = {name: windows(a.held, a.history, steps) for name, a in alerts.items()}
            jobs = [(a.file, a.inputs, a.held, span) for name, a in alerts.items()
                    for span in spans[name] if (a.file, span) not in done]
            say(f"alerting rules: {len(jobs)} windows of single alerts, "
                f"{int(sum(c - a for *_, (a, _, c) in jobs))} steps")
            for chunk in pool.map(_run_batch, batches(jobs, workers)):
                done.update(((job[0], job[3]), got) for job, got in chunk)
            again = {}
            for name, alert in alerts.items():
                mine = [f for span in spans[name] for f in done[(alert.file, span)]]
                held = extended(alert, mine, steps, more) if alert.own else None
                if held is None:
                    found += mine
                else:
                    again[name] = Alert(alert.file, alert.inputs, held, alert.history, True)
            alerts, more = again, 2 * more
    return found


@dataclass(frozen=True)
class Alert:
    """One alert of the alert stage: its rule file, inputs, steps to ask, look-back."""

    file: Path
    inputs: list[Series]
    held: np.ndarray
    history: int
    own: bool  # reads its own ALERTS series


def reads_own_alerts(expr: str, alert: str) -> bool:
    """Whether ``expr`` reads the ``ALERTS`` series of ``alert`` itself."""
    return re.search(r'\bALERTS\{[^}]*alertname\s*=\s*"' + re.escape(alert) + '"', expr) is not None


def extended(alert: Alert, fired: list[Firing], steps: int, more: int = EXTEND
             ) -> np.ndarray | None:
    """The alert's steps to ask, each window that still fires at its last step (and ends
    before the history does) extended ``more`` steps; None when there is none."""
    held = alert.held.copy()
    at = {f.step for f in fired}
    for _first, _exact, end in windows(alert.held, alert.history, steps):
        if end < steps and end - 1 in at:
            held[end:end + more] = True
    return None if np.array_equal(held, alert.held) else filled(held, alert.history, steps)


def filled(held: np.ndarray, history: int, steps: int) -> np.ndarray:
    """Every step of each window asked: a held alert can fire between two candidate runs
    further apart than its keep_firing_for, where an alert without hysteresis cannot."""
    out = held.copy()
    for _first, exact, end in windows(held, history, steps):
        out[exact:end] = True
    return out


def _window(job: Job) -> Window:
    _file, inputs, held, (first, exact, end) = job
    sliced = [Series(s.name, s.labels, s.values[first:end]) for s in inputs]
    sliced = [s for s in sliced if not np.all(np.isnan(s.values))]
    return Window(sliced, end - first, [st - first for st in range(exact, end) if held[st]])


def _run_batch(batch: list[Job]) -> list[tuple[Job, list[Firing]]]:
    """One promtool process for a batch of windows of one alert: each window's firings,
    at steps of the whole history."""
    found = evaluate_windows([batch[0][0]], [_window(job) for job in batch], int(STEP))
    return [(job, [Firing(f.step + job[3][0], f.alertname, f.labels) for f in fired])
            for job, fired in zip(batch, found, strict=True)]


def batches(jobs: list[Job], workers: int) -> list[list[Job]]:
    """The windows of each alert in ``workers`` batches of about equal steps, one promtool
    process per batch (a process per window spent ~7 of 20 CPU-seconds starting, 30 days)."""
    out: list[list[Job]] = []
    for alert_file in dict.fromkeys(job[0] for job in jobs):
        mine = [job for job in jobs if job[0] == alert_file]
        share = sum(end - first for *_, (first, _, end) in mine) / workers
        done, current = 0, []
        for job in mine:
            current.append(job)
            done += job[3][2] - job[3][0]
            if done >= share:
                out.append(current)
                done, current = 0, []
        if current:
            out.append(current)
    return out
