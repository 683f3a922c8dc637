"""Evaluate rule files over history with Prometheus itself, fast enough for 30 days.

Stage 1 (recording rules): the history is loaded into a throwaway Prometheus (remote
write into its head block); every recording rule is evaluated with ``query_range`` level by
level (a rule that reads another recorded series runs after it, its inputs written back the
same way), so chains behave as in a live server. The lookback is set just under the step
and samples sit on the step grid, so a vanished series is absent at once, as with a live
staleness marker.

Stage 2 (alerting rules, :mod:`.alertstage`): ``promtool test rules`` evaluates only the
alerting rules, fed with the series they read (staleness marked), in windows around the
steps where an alert expression holds (and the ``keep_firing_for`` after them), which
honours ``for`` and ``keep_firing_for`` exactly; see :mod:`txwatch.engines.promtool`. Those
steps come from one range query per alert expression, each windowed count they share
evaluated once (:mod:`.shared_counts`); promtool evaluates the expressions in that form
too.

What a rule reads, the order of the levels and each alert's look-back come from
:mod:`txwatch.backtest.ruleset`; this module only orchestrates.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from txwatch.backtest.alertstage import STEP, alert_stage, reads_own_alerts
from txwatch.backtest.bounds import steps_to_ask
from txwatch.backtest.cadence import schedule
from txwatch.backtest.own_terms import own_terms
from txwatch.backtest.ruleset import (
    levels,
    load_rules,
    needed_by,
    reads_nothing,
    referenced,
    rule_key,
)
from txwatch.backtest.shared_counts import seasonal_counts_shared, share_counts, written
from txwatch.backtest.shared_terms import share_terms
from txwatch.backtest.stepwise import Stepwise, merged_by_labels
from txwatch.engines import remote_write
from txwatch.engines.promtool import Firing
from txwatch.engines.series import Series
from txwatch.engines.server import ThrowawayPrometheus


def evaluate_history(raw: list[Series], steps: int, rule_files: list[Path],
                     progress: Callable[[str], None] | None = None, workers: int = 2,
                     all_rules: bool = False, share: bool = True,
                     ) -> tuple[list[Firing], dict[str, list[Series]], list[str]]:
    """Return (firing alerts per step, recorded series, always-firing alert names).

    By default only the recording rules the alerts depend on are evaluated; ``all_rules``
    evaluates board-only rules too (for dashboards and previews). ``share``: the candidate
    search reads each windowed count and each repeated term once (:mod:`.shared_counts`,
    :mod:`.shared_terms`) and promtool applies ``for`` and ``keep_firing_for`` to the
    results; off, both stages evaluate the alert expressions as written (the same steps,
    slower).
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
    # A record read only on the hour (or every 5 minutes) is evaluated only then, and one
    # that can only change on 5-minute edges (the normals, the limits) at each edge and the
    # step after it, carried to the next edge (:mod:`.cadence`); with ``all_rules`` the
    # boards may read any record at any step, so every step.
    every = {} if all_rules else schedule(
        [r for lv in ordered for r in lv],
        [str(r["expr"]) for g in rules.alert_groups for r in g["rules"]], STEP)
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
            ordered = seasonal_counts_shared(prom, pool, ordered, steps, STEP)
            for number, level in enumerate(ordered):
                say(f"recording rules level {number + 1}/{len(ordered)} ({len(level)} rules)")
                results = pool.map(lambda r: (r, _evaluate_range(
                    prom, r.expr, steps, *every.get(r.record, (1, False)))), level)
                new = [Series(rule.record, {**s.labels, **rule.labels}, s.values)
                       for rule, found in results for s in _renamed(rule.record, found)]
                for series in new:
                    recorded.setdefault(series.name, []).append(series)
                wanted = [x for x in new if x.name in later_needs[number]]
                if wanted:
                    remote_write.write(prom.url, wanted, 0.0, STEP)
            say("alert expressions")
            by_name: dict[str, list[Series]] = {}
            for series in raw + [s for found in recorded.values() for s in found]:
                by_name.setdefault(series.name, []).append(series)
            # constant alerts (e.g. Watchdog) always fire; an alert whose every selector
            # finds nothing in this history (the segment alerts of an unsegmented one) never
            never = []
            for rule in alert_rules:
                if not referenced(str(rule["expr"]), set(by_name)):
                    found = always if reads_nothing(str(rule["expr"])) else never
                    found.append(rule["alert"])
            evaluated = [r for r in alert_rules if r["alert"] not in always + never]
            exprs = [str(r["expr"]) for r in evaluated]
            shared, exprs = share_counts(exprs) if share else ([], exprs)
            for series in written(prom, pool, shared, steps, STEP):
                by_name.setdefault(series.name, []).append(series)
            if share:
                answers, exprs = _stepwise(prom, pool, evaluated, exprs, steps, by_name)
            else:
                answers = list(pool.map(lambda e: prom.query_range(e, 0.0, steps, STEP),
                                        exprs))
            as_queried: dict[str, str] = {}
            for number, (rule, expr, found) in enumerate(
                    zip(evaluated, exprs, answers, strict=True)):
                key = rule_key(rule)
                held = candidates.setdefault(key, np.zeros(steps, dtype=bool))
                for _labels, values in found:
                    held |= ~np.isnan(values)
                as_queried[key] = (_as_result(rule, expr, found, f"{RESULT}{number}", by_name)
                                   if share else expr)
        firings = alert_stage(rules, by_name, steps, candidates, always, as_queried, work,
                               workers, say)
    return firings, recorded, always


RESULT = "txwatch_backtest_result_"


def _stepwise(prom: ThrowawayPrometheus, pool: ThreadPoolExecutor,
              rules: list[dict[str, object]], exprs: list[str], steps: int,
              by_name: dict[str, list[Series]]
              ) -> tuple[list[list[tuple[dict[str, str], np.ndarray]]], list[str]]:
    """Each alert expression's result and the expression promtool reads: its repeated terms
    (:mod:`.shared_terms`) and, an alert reading its own ``ALERTS``, its terms free of it
    (:mod:`.own_terms`) read as series; each asked only where its cheap parts let it hold
    (:mod:`.bounds`), the terms evaluated where they are read (:mod:`.stepwise`). promtool
    reads the terms of a held alert at any step: they, and its result, cover every step."""
    own = [reads_own_alerts(e, str(r["alert"])) for r, e in zip(rules, exprs, strict=True)]
    terms, exprs = share_terms(exprs)
    mine, exprs = own_terms(exprs, own, len(terms))
    stepwise = Stepwise(prom, steps, STEP, terms + mine)
    everywhere = np.ones(steps, dtype=bool)

    def ask(expr: str, held: bool) -> list[tuple[dict[str, str], np.ndarray]]:
        asked = everywhere if held else steps_to_ask(expr, stepwise.weight, steps,
                                                             stepwise.holds)
        return stepwise.query(expr, asked)

    answers = list(pool.map(ask, exprs, own))
    exprs = [stepwise.readable(e) for e in exprs]
    for expr, found in zip(exprs, answers, strict=True):
        if _nameless("-", found) is None:  # promtool will read its expression: all steps
            stepwise.query(expr, everywhere)
    by_name.update(stepwise.series())
    return answers, [stepwise.readable(e) for e in exprs]


def _as_result(rule: dict[str, object], expr: str,
               found: list[tuple[dict[str, str], np.ndarray]], name: str,
               by_name: dict[str, list[Series]]) -> str:
    """What the alert stage evaluates for ``rule``: the result Prometheus returned for its
    expression, written as series ``name`` (one per label set, the series name dropped as
    an alert drops it), so promtool only applies ``for`` and ``keep_firing_for`` to it; an
    expression of 60 operators cost ~3 ms per step in promtool, a selector a fraction of it
    (30 generated days 123 s -> see bench/backtest.py). An alert that reads its own
    ``ALERTS`` (hysteresis) depends on its own state, which the range query cannot see: it
    keeps ``expr``, as do results that hold two series of one label set at a step."""
    series = None if reads_own_alerts(expr, str(rule["alert"])) else _nameless(name, found)
    if series is None:
        return expr
    by_name[name] = series
    return name


def _renamed(record: str, found: list[tuple[dict[str, str], np.ndarray]]) -> list[Series]:
    """A recording rule's result as the one series per label set a server records: a
    range query keeps apart series that differ only in their name (``x < y or y``: the
    first branch keeps x's name at the steps it holds, the second has none), which the
    rule's renaming makes one."""
    merged = _nameless(record, found)
    if merged is None:
        raise RuntimeError(f"{record}: two series of one label set at one step (a server "
                           "would refuse the rule's result)")
    return merged


def _nameless(name: str, found: list[tuple[dict[str, str], np.ndarray]]
              ) -> list[Series] | None:
    """A range query's result as series ``name``, the series name it had dropped; series
    that differ only in it (an ``or`` of two comparisons, one branch holding at one step,
    the other at another) are one. None if two of them hold at the same step: an alert
    fails on that, and it cannot be written as one series."""
    merged = merged_by_labels(found)
    if merged is None:
        return None
    return [Series(name, dict(key), values) for key, values in merged.items()]


_CONSTANT = re.compile(r"\s*vector\(\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\)\s*")


def _evaluate_range(prom: ThrowawayPrometheus, expr: str, steps: int, every: int = 1,
                    carry: bool = False) -> list[tuple[dict[str, str], np.ndarray]]:
    """``query_range`` of ``expr`` at every ``every``-th step, the others NaN (a record
    only read through ``[range:1h]`` subqueries is read on the hour, and the history starts
    on one) or, with ``carry``, also at the step after each of those, whose value holds
    until the next (a record that cannot change in between, :func:`.cadence.periods`); a
    constant (``vector(<number>)``, the threshold table's rows) is filled in directly:
    Prometheus would return the same unlabelled series, and the table's ~60 rows cost
    seconds of round trips on 30 days."""
    constant = _CONSTANT.fullmatch(expr)
    if constant:
        return [({}, np.full(steps, float(constant.group(1))))]
    if every == 1:
        return prom.query_range(expr, 0.0, steps, STEP)
    out: dict[tuple[tuple[str, str], ...], np.ndarray] = {}
    offsets = range(2) if carry else range(1)
    for offset in offsets:
        count = len(range(offset, steps, every))
        for labels, coarse in prom.query_range(expr, offset * STEP, count, STEP * every):
            values = out.setdefault(tuple(sorted(labels.items())), np.full(steps, np.nan))
            for at in range(offset, every if offset else 1):  # the steps it holds for
                values[at::every] = coarse[:len(values[at::every])]
    return [(dict(key), values) for key, values in out.items()]
