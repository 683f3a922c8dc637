"""Rule files as data: what each expression reads, the order rules must run in, and how much
history an alert needs. Pure analysis; nothing here starts Prometheus.

PromQL is read with ``promql-parser`` (GreptimeTeam's Rust parser, Python bindings), not with
regexes: the names come from the vector selectors of the syntax tree (a ``__name__`` matcher
counts, so ``{__name__=~"job:.*"}`` reads every matching series), never from label names,
strings or ``by (...)`` lists, and a look-back is summed along each selector's own path
(matrix range + its offset + every enclosing subquery's range, step and offset) instead of
adding the largest range anywhere to the largest offset anywhere. It parses every
expression of ``rules/*.yml`` and of the suites in ``rules/tests/``, and gives the same
names, levels and look-backs as the regexes it replaced on the shipped rules
(tests/test_backtest_units.py). ``@`` is refused: a windowed backtest cannot pin a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import promql_parser as pq
import yaml

from txwatch.engines.promtool import parse_duration
from txwatch.rules.inputs import inline_group
from txwatch.rules.segments import PAYMENTS as SEGMENT_GROUP


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class RuleSet:
    recording: list[RecordingRule]
    alert_groups: list[dict[str, Any]]

    def alert_names(self) -> list[str]:
        return [r["alert"] for g in self.alert_groups for r in g["rules"]]


def rule_key(rule: dict[str, Any]) -> str:
    """One alerting rule's identity: its name and static labels. One alert name may have a
    rule per severity (a page and a warning at a lower confidence), each its own rule."""
    labels = ",".join(f"{k}={v}" for k, v in sorted(rule.get("labels", {}).items()))
    return f"{rule['alert']}{{{labels}}}"


def load_rules(files: list[Path]) -> RuleSet:
    recording: list[RecordingRule] = []
    alert_groups: list[dict[str, Any]] = []
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups", []):
            # The quantities a group records for its own alerts, read back inline: Prometheus
            # evaluates them at each alert's own timestamp, as the inline form does. The
            # segments' stay recorded: stage 1 evaluates them at every step before the alerts
            # read them, which is Prometheus' order too, and far cheaper than searching
            # every segment's inlined unions step by step.
            rules = group.get("rules") or []
            if group.get("name") != SEGMENT_GROUP:
                rules = inline_group(rules)
            alerts = [r for r in rules if "alert" in r]
            recording += [RecordingRule(r["record"], str(r["expr"]),
                                        {k: str(v) for k, v in (r.get("labels") or {}).items()})
                          for r in rules if "record" in r]
            if alerts:
                alert_groups.append({**{k: v for k, v in group.items() if k != "rules"},
                                     "rules": alerts})
    return RuleSet(recording, alert_groups)


# A selector's name test: ((op, value), ...) over __name__, all of which must hold; the
# metric name written before the braces is an Equal test like any other.
NameTest = tuple[tuple[str, str], ...]


def seconds(delta: timedelta | None) -> float:
    return delta.total_seconds() if delta is not None else 0.0


def _op(op: pq.MatchOp) -> str:  # MatchOp is not hashable, so no dict
    for name, text in (("Equal", "="), ("NotEqual", "!="), ("Re", "=~"), ("NotRe", "!~")):
        if op == getattr(pq.MatchOp, name):
            return text
    raise ValueError(f"unknown match operator {op}")


def name_tests(selector: pq.VectorSelector) -> list[NameTest]:
    groups = selector.matchers.or_matchers or [selector.matchers.matchers]
    tests = []
    for group in groups:
        test = [("=", selector.name)] if selector.name else []
        test += [(_op(m.op), m.value) for m in group if m.name == "__name__"]
        tests.append(tuple(test))
    return tests


@lru_cache(maxsize=4096)
def _analyse(expr: str) -> tuple[tuple[NameTest, ...], float]:
    """(name tests of every selector, seconds of look-back of the furthest-reaching one)."""
    tests: list[NameTest] = []
    reach: list[float] = [0.0]
    outer: list[float] = []  # look-back added by the enclosing matrix ranges and subqueries

    def enter(node: pq.Expr) -> None:
        if isinstance(node, pq.VectorSelector | pq.SubqueryExpr) and node.at is not None:
            raise ValueError(f"'@' pins a selector to a fixed time; a windowed backtest "
                             f"cannot honour it: {expr!r}")
        if isinstance(node, pq.SubqueryExpr):
            outer.append(seconds(node.range) + seconds(node.step) + seconds(node.offset))
        elif isinstance(node, pq.MatrixSelector):
            outer.append(seconds(node.range))
        elif isinstance(node, pq.VectorSelector):
            tests.extend(name_tests(node))
            reach.append(sum(outer) + seconds(node.offset))

    def leave(node: pq.Expr) -> None:
        if isinstance(node, pq.SubqueryExpr | pq.MatrixSelector):
            outer.pop()

    pq.walk(pq.parse(expr), enter, leave)
    return tuple(tests), max(reach)


def matches(test: NameTest, name: str) -> bool:
    for op, value in test:
        if op in ("=", "!=") and (name == value) != (op == "="):
            return False
        if op in ("=~", "!~") and bool(re.fullmatch(value, name)) != (op == "=~"):
            return False
    return True


def referenced(expr: str, names: set[str]) -> set[str]:
    """Which of ``names`` an expression reads (any of its selectors could select)."""
    tests = _analyse(expr)[0]
    return {name for name in names if any(matches(t, name) for t in tests)}


def reads_nothing(expr: str) -> bool:
    """An expression without a selector (``vector(1)``): a constant."""
    return not _analyse(expr)[0]


def needed_by(rules: list[RecordingRule], names: set[str]) -> list[RecordingRule]:
    """The recording rules the given series depend on, transitively (board-only rules are
    skipped: they cannot change an alert)."""
    by_name: dict[str, list[RecordingRule]] = {}
    for rule in rules:
        by_name.setdefault(rule.record, []).append(rule)
    wanted: set[str] = set()
    todo = [n for n in names if n in by_name]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        for rule in by_name[name]:
            todo += [d for d in referenced(rule.expr, set(by_name)) if d not in wanted]
    return [r for r in rules if r.record in wanted]


def levels(rules: list[RecordingRule]) -> list[list[RecordingRule]]:
    """Order recording rules so each runs after every recorded series it reads."""
    recorded = {r.record for r in rules}
    level: dict[str, int] = {}
    pending = list(rules)
    while pending:
        progressed = []
        for rule in pending:
            deps = referenced(rule.expr, recorded) - {rule.record}
            if all(d in level for d in deps):
                depth = 1 + max((level[d] for d in deps), default=-1)
                level[rule.record] = max(level.get(rule.record, 0), depth)
                progressed.append(rule)
        if not progressed:
            raise ValueError("recording rules form a cycle: "
                             + ", ".join(sorted(r.record for r in pending)))
        pending = [r for r in pending if r not in progressed]
    out: list[list[RecordingRule]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for rule in rules:
        out[level[rule.record]].append(rule)
    return out


def history_needed(expr: str, for_: str | None = None) -> float:
    """Seconds of past data an expression reads (its furthest-reaching selector: range +
    offset, through any subqueries) plus its ``for``."""
    return max(0.0, _analyse(expr)[1]) + parse_duration(for_ or "0s")


def windows(candidates: np.ndarray, history: int, steps: int) -> list[tuple[int, int, int]]:
    """Evaluation windows (first, exact_from, end) around runs of candidate steps.

    Each window starts ``history`` steps before its first candidate (the alert's look-back
    and ``for``), answers exactly from that candidate on, and ends after its last one;
    windows closer than ``history`` merge.
    """
    found: list[tuple[int, int, int]] = []
    for step in np.flatnonzero(candidates):
        first = max(0, int(step) - history)
        if found and first <= found[-1][2]:
            found[-1] = (found[-1][0], found[-1][1], int(step) + 1)
        else:
            found.append((first, int(step), int(step) + 1))
    return [(a, b, min(c, steps)) for a, b, c in found]
