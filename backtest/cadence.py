"""When a recording rule must be evaluated in a backtest: at which steps its value is read
(:func:`resolutions`) and over which blocks of time it cannot change (:func:`periods`).

Both come from where a selector sits in the syntax tree. A subquery ``x[7d:1h]`` evaluates
its inner expression at absolute-time-aligned steps only, so what it reads of ``x`` is read
on the hour, and its own value depends only on which hour it is evaluated in (its range
being a whole number of steps, and it not shifted off them), with one exception: exactly on
the hour, Prometheus 2 also counts the point at the range's far end (its ranges are closed
on the left; Prometheus 3's are open). So the value at the hour may differ, and the value
a step after it holds until the next hour. The learned normals read everything through such
subqueries, the limits only the normals and the constant threshold table; alerts read both
every minute. Evaluating them at each 5-minute edge and one step after, and carrying the
second value over, is exact on either version and two fifths of the work. Time functions
(``time()``, ``hour()``, ``timestamp(x)``, ...) read the evaluation time itself and count
as a read at every step.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import promql_parser as pq

from txwatch.backtest.ruleset import (
    NameTest,
    RecordingRule,
    levels,
    matches,
    name_tests,
    seconds,
)

_CLOCK = {"time", "timestamp", "minute", "hour", "day_of_week", "day_of_month",
          "day_of_year", "days_in_month", "month", "year"}
_NO_NAME = (("=", "\0no series"),)  # a subquery or the clock: a block, not a series


@lru_cache(maxsize=4096)
def _read_at(expr: str) -> tuple[tuple[NameTest, float], ...]:
    """(name test, resolution) of every selector: the step of the innermost subquery it is
    read through as an instant vector (no range, no offset: read at that subquery's
    absolute-time-aligned steps only), or 0 (read at every evaluation of ``expr``)."""
    found: list[tuple[NameTest, float]] = []
    context: list[float] = []  # per enclosing subquery / range: its step, or 0

    def enter(node: pq.Expr) -> None:
        if isinstance(node, pq.SubqueryExpr):
            step = seconds(node.step)
            context.append(step if step and not seconds(node.offset) else 0.0)
        elif isinstance(node, pq.MatrixSelector):
            context.append(0.0)
        elif isinstance(node, pq.VectorSelector):
            at = context[-1] if context and not seconds(node.offset) else 0.0
            found.extend((test, at) for test in name_tests(node))

    def leave(node: pq.Expr) -> None:
        if isinstance(node, pq.SubqueryExpr | pq.MatrixSelector):
            context.pop()

    pq.walk(pq.parse(expr), enter, leave)
    return tuple(found)


@lru_cache(maxsize=4096)
def _held_for(expr: str) -> tuple[tuple[NameTest, float], ...]:
    """(name test, block) of every selector and time function outside all subqueries: the
    block is 0 (the value of what it names, at this step) or -1 (every step: a range, or the
    clock), plus ``_NO_NAME`` with the block of each outermost subquery: its step if its
    range and offset are whole steps of it, otherwise -1."""
    found: list[tuple[NameTest, float]] = []
    depth: list[pq.Expr] = []  # enclosing subqueries and ranges

    def enter(node: pq.Expr) -> None:
        inside = any(isinstance(n, pq.SubqueryExpr) for n in depth)
        if isinstance(node, pq.SubqueryExpr) and not inside:
            step, span, shift = (seconds(node.step), seconds(node.range),
                                 seconds(node.offset))
            aligned = step > 0 and not span % step and not shift % step
            found.append((_NO_NAME, step if aligned else -1.0))
        elif isinstance(node, pq.Call) and node.func.name in _CLOCK and not inside:
            found.append((_NO_NAME, -1.0))
        elif isinstance(node, pq.VectorSelector) and not inside:
            ranged = any(isinstance(n, pq.MatrixSelector) for n in depth)
            block = -1.0 if ranged or seconds(node.offset) else 0.0
            found.extend((test, block) for test in name_tests(node))
        if isinstance(node, pq.SubqueryExpr | pq.MatrixSelector):
            depth.append(node)

    def leave(node: pq.Expr) -> None:
        if isinstance(node, pq.SubqueryExpr | pq.MatrixSelector):
            depth.pop()

    pq.walk(pq.parse(expr), enter, leave)
    return tuple(found)


def periods(rules: list[RecordingRule], step: float) -> dict[str, float | None]:
    """Record -> the length of the absolute-time-aligned blocks over which its value cannot
    change from the step after a block's edge to the next edge (a multiple of ``step``;
    ``step`` when it may change at any step; None when it never changes: a constant).
    Series no rule records change at every step."""
    records = {r.record for r in rules}
    out: dict[str, float | None] = {}
    for level in levels(rules):
        for name in {r.record for r in level}:
            blocks: list[int] = []
            for rule in (r for r in level if r.record == name):
                for test, block in _held_for(rule.expr):
                    if block == 0.0:
                        named = [out[n] for n in records if n != name and matches(test, n)]
                        blocks += [int(b) for b in named if b is not None]
                        blocks += [int(step)] if _could_name_raw(test, records) else []
                    else:
                        blocks.append(int(step) if block < 0 else int(block))
            found = float(gcd(*blocks)) if blocks else None
            out[name] = found if found is None or not found % step else step
    return out


def _could_name_raw(test: NameTest, records: set[str]) -> bool:
    """Whether a selector could read a series that is not recorded (a raw counter): only a
    single exact name that is a record is sure not to."""
    exact = [value for op, value in test if op == "="]
    return not exact or exact[0] not in records


def resolutions(rules: list[RecordingRule], readers: list[str], step: float
                ) -> dict[str, float]:
    """Record -> the coarsest step (a multiple of ``step``) at which evaluating it changes
    nothing ``readers`` (expressions evaluated at every ``step``) or the other rules see:
    a series read only through ``[range:1h]`` subqueries, directly or through rules
    themselves read that way, is only ever read on the hour. Rules of one record share it."""
    records = {r.record for r in rules}
    needs: dict[str, list[float]] = {name: [] for name in records}

    def reads(expr: str, at: float) -> None:
        for test, every in _read_at(expr):
            for name in records:
                if matches(test, name):
                    needs[name].append(every or at)

    for expr in readers:
        reads(expr, step)
    out: dict[str, float] = {}
    for level in reversed(levels(rules)):
        for name in {r.record for r in level}:
            out[name] = float(gcd(*(int(x) for x in needs[name]))) if needs[name] else step
            if out[name] % step:
                out[name] = step
        for rule in level:
            reads(rule.expr, out[rule.record])
    return out


def schedule(rules: list[RecordingRule], readers: list[str], step: float
             ) -> dict[str, tuple[int, bool]]:
    """Record -> (evaluate at every n-th step, carry): at each block's edge and the step
    after it, that value carried to the next edge (so it is right at every step), when its
    value holds over blocks that are whole multiples of the steps it is read at; else only
    at the steps it is read at (the others left empty, as nothing reads them)."""
    read = resolutions(rules, readers, step)
    held = periods(rules, step)
    out: dict[str, tuple[int, bool]] = {}
    for name, every in read.items():
        block = held[name]
        if block is not None and block >= every and not block % every:
            out[name] = (int(block // step), True)
        else:
            out[name] = (int(every // step), False)
    return out
