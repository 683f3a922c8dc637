"""Evaluate rule files over history with Prometheus itself, fast enough for 30 days.

Stage 1 (recording rules): the history is loaded into a throwaway Prometheus (remote
write into its head block); every recording rule is evaluated with ``query_range`` level by
level (a rule that reads another recorded series runs after it, its inputs written back the
same way), so chains behave as in a live server. The lookback is set just under the step
and samples sit on the step grid, so a vanished series is absent at once, as with a live
staleness marker.

Stage 2 (alerting rules): ``promtool test rules`` evaluates only the alerting rules, fed
with the series they read (staleness marked), in windows around the steps where an alert
expression holds (and the ``keep_firing_for`` after them), which honours ``for`` and
``keep_firing_for`` exactly; see :mod:`txwatch.prom.promtool`. Those steps come from one
range query per alert expression, each windowed count they share evaluated once
(:mod:`.shared_counts`); promtool evaluates the expressions in that form too.

What a rule reads, the order of the levels and each alert's look-back come from
:mod:`txwatch.backtest.ruleset`; this module only orchestrates.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from txwatch.backtest.ruleset import (
    RuleSet,
    history_needed,
    levels,
    load_rules,
    needed_by,
    referenced,
    windows,
)
from txwatch.backtest.shared_counts import share_counts
from txwatch.prom import remote_write
from txwatch.prom.promtool import Firing, Window, evaluate_windows, parse_duration
from txwatch.prom.series import Series
from txwatch.prom.server import ThrowawayPrometheus

STEP = 60.0
EXTEND = 60  # steps a held alert's window grows by when it still fires at its end (doubling)
HOLD_AHEAD = 15  # steps past keep_firing_for a held alert's windows start with
# One promtool window of one alert: its rule file, inputs, candidate steps, (first, exact, end)
Job = tuple[Path, list[Series], np.ndarray, tuple[int, int, int]]


def evaluate_history(raw: list[Series], steps: int, rule_files: list[Path],
                     progress: Callable[[str], None] | None = None, workers: int = 2,
                     all_rules: bool = False, share: bool = True,
                     ) -> tuple[list[Firing], dict[str, list[Series]], list[str]]:
    """Return (firing alerts per step, recorded series, always-firing alert names).

    By default only the recording rules the alerts depend on are evaluated; ``all_rules``
    evaluates board-only rules too (for dashboards and previews). ``share``: the candidate
    search reads each windowed count once (:mod:`.shared_counts`); off, it evaluates the
    alert expressions as written (the same steps, slower).
    """
    say = progress or (lambda _msg: None)
    rules = load_rules(rule_files)
    recorded: dict[str, list[Series]] = {}
    records = {x.record for x in rules.recording}
    alert_needs = set().union(*(referenced(str(r["expr"]), records)
                                for g in rules.alert_groups for r in g["rules"]))
    if all_rules:
        alert_needs = set(records)
    ordered = levels(needed_by(rules.recording, alert_needs))
    later_needs = [alert_needs.union(*(referenced(r.expr, records)
                                       for lv in ordered[i + 1:] for r in lv))
                   for i in range(len(ordered))]
    with tempfile.TemporaryDirectory(prefix="txwatch-engine-") as tmp:
        work = Path(tmp)
        alert_rules = [r for g in rules.alert_groups for r in g["rules"]]
        candidates: dict[str, np.ndarray] = {}
        always: list[str] = []
        with ThrowawayPrometheus(work / "tsdb", lookback="59s", receiver=True) as prom, \
                ThreadPoolExecutor(workers * 2) as pool:
            say(f"loading {len(raw)} series x {steps} steps")
            remote_write.write(prom.url, raw, 0.0, STEP)
            for number, level in enumerate(ordered):
                say(f"recording rules level {number + 1}/{len(ordered)} ({len(level)} rules)")
                results = pool.map(lambda r: (r, _evaluate_range(prom, r.expr, steps)), level)
                new = [Series(rule.record, {**{k: v for k, v in labels.items()
                                               if k != "__name__"}, **rule.labels}, values)
                       for rule, found in results for labels, values in found]
                for series in new:
                    recorded.setdefault(series.name, []).append(series)
                wanted = [x for x in new if x.name in later_needs[number]]
                if wanted:
                    remote_write.write(prom.url, wanted, 0.0, STEP)
            say("alert expressions")
            by_name: dict[str, list[Series]] = {}
            for series in raw + [s for found in recorded.values() for s in found]:
                by_name.setdefault(series.name, []).append(series)
            for rule in alert_rules:  # constant alerts (e.g. Watchdog) always fire
                if not referenced(str(rule["expr"]), set(by_name)):
                    always.append(rule["alert"])
            evaluated = [r for r in alert_rules if r["alert"] not in always]
            exprs = [str(r["expr"]) for r in evaluated]
            shared, exprs = share_counts(exprs) if share else ([], exprs)
            counted = pool.map(lambda c: (c, _recorded_or_queried(prom, c.expr, rules, recorded,
                                                                  steps)), shared)
            counts = [Series(c.name, {k: v for k, v in labels.items() if k != "__name__"},
                             values) for c, results in counted for labels, values in results]
            remote_write.write(prom.url, counts, 0.0, STEP)
            for series in counts:
                by_name.setdefault(series.name, []).append(series)
            answers = pool.map(lambda e: prom.query_range(e, 0.0, steps, STEP), exprs)
            for rule, found in zip(evaluated, answers, strict=True):
                held = candidates.setdefault(rule["alert"], np.zeros(steps, dtype=bool))
                for _labels, values in found:
                    held |= ~np.isnan(values)
        as_queried = {r["alert"]: e for r, e in zip(evaluated, exprs, strict=True)}
        firings = _alert_stage(rules, by_name, steps, candidates, always, as_queried, work,
                               workers, say)
    return firings, recorded, always


_CONSTANT = re.compile(r"\s*vector\(\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\)\s*")


def _evaluate_range(prom: ThrowawayPrometheus, expr: str, steps: int
                    ) -> list[tuple[dict[str, str], np.ndarray]]:
    """``query_range`` of ``expr`` over every step; a constant (``vector(<number>)``, the
    threshold table's rows) is filled in directly: Prometheus would return the same
    unlabelled series, and the table's ~60 rows cost seconds of round trips on 30 days."""
    constant = _CONSTANT.fullmatch(expr)
    if constant:
        return [({}, np.full(steps, float(constant.group(1))))]
    return prom.query_range(expr, 0.0, steps, STEP)


def _recorded_or_queried(prom: ThrowawayPrometheus, expr: str, rules: RuleSet,
                         recorded: dict[str, list[Series]], steps: int,
                         ) -> list[tuple[dict[str, str], np.ndarray]]:
    """A shared count's values: a recording rule's that has the very same expression and no
    labels of its own (the 5-minute status counts are both), else a ``query_range``."""
    text = " ".join(expr.split())
    for rule in rules.recording:
        if not rule.labels and rule.record in recorded and " ".join(rule.expr.split()) == text:
            return [(dict(s.labels), s.values) for s in recorded[rule.record]]
    return prom.query_range(expr, 0.0, steps, STEP)


def kept_on(candidates: np.ndarray, steps: int) -> np.ndarray:
    """Candidates widened ``steps`` forward: an alert with ``keep_firing_for`` may still fire
    that long after its expression last held, so those steps are evaluated too."""
    widened = candidates.copy()
    for shift in range(1, min(steps, len(candidates)) + 1):
        widened[shift:] |= candidates[:-shift]
    return widened


def _alert_stage(rules: RuleSet, by_name: dict[str, list[Series]],
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
            name = rule["alert"]
            if name in always or not candidates.get(name, np.zeros(1, bool)).any():
                continue
            # Annotations are dropped: their templates (which may query) change no firing.
            bare = {**{k: v for k, v in rule.items() if k != "annotations"},
                    "expr": as_queried.get(name, str(rule["expr"]))}
            alert_file = work / f"alert-{name}.yml"
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
            held = kept_on(candidates[name], kept)
            alerts[name] = Alert(alert_file, [s for n in sorted(needed) for s in by_name[n]],
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


def extended(alert: Alert, fired: list[Firing], steps: int, more: int = 60
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
