"""The steps an alert expression can hold at, found from its cheap parts first.

A range query costs Prometheus ~0.5 us per series, operator and step, and an alert holds
at a few percent of the steps: the traffic-drop page is 4 branches of 3 comparisons
(~6 s of Prometheus CPU over 30 days) and holds at 1.5% of the steps. Its result can only
be non-empty where each of its ``and`` operands is, where one of its ``or`` operands is and
where the left side of ``unless`` is (the set operators return a subset of their operands'
elements, or their union); every other expression can only be non-empty where itself is.
So the operands of its set operators (the leaves of :func:`bound`) that cost a fraction of
the whole are asked first, each only at the steps the ones before it left (cheapest
first), and the expression itself is then evaluated only at the steps that remain, by
Prometheus, as written: the same result at every step (an expression at a step depends on
no other step of the query), at a fraction of the steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import promql_parser as pq

from txwatch.backtest.shared_terms import facts

SET_OPERATORS = ("and", "or", "unless")
FRACTION = 4  # a leaf is asked first if it costs at most this fraction of the whole
MIN_WEIGHT = 20  # an expression of fewer operators is asked at every step at once
QUERY_STEPS = 1200  # steps of a one-operator expression that cost as much as a query


@dataclass(frozen=True)
class Bound:
    """Where an expression can hold: ``kind`` "leaf" (where ``text``, of ``weight``
    operators, holds), "and" / "or" of ``parts``, or "all" (any step)."""

    kind: str
    text: str = ""
    weight: int = 0
    parts: tuple[Bound, ...] = ()


def bound(expr: str, weight: Callable[[pq.Expr], int]) -> Bound:
    """The bound of ``expr`` from its set operators (``weight``: a node's cost)."""
    def walk(node: pq.Expr) -> Bound:
        while isinstance(node, pq.ParenExpr):
            node = node.expr
        if isinstance(node, pq.BinaryExpr) and str(node.op) in SET_OPERATORS:
            if str(node.op) == "unless":
                return walk(node.lhs)
            return Bound(str(node.op), parts=(walk(node.lhs), walk(node.rhs)))
        if facts(node).vector:
            return Bound("leaf", str(node), weight(node))
        return Bound("all")
    return walk(pq.parse(expr))


def cost(b: Bound) -> int:
    """What refining ``b`` costs at most (an ``and`` is ordered by its cheapest part)."""
    if b.kind == "leaf":
        return b.weight
    if b.kind == "all":
        return 1 << 30
    costs = [cost(p) for p in b.parts]
    return min(costs) if b.kind == "and" else sum(costs)


def refine(b: Bound, domain: np.ndarray, limit: int,
           holds: Callable[[str, np.ndarray], np.ndarray]) -> np.ndarray:
    """The steps of ``domain`` where ``b`` can hold, asking ``holds(text, steps)`` (where
    a leaf is non-empty among ``steps``) only of leaves of at most ``limit`` operators."""
    if b.kind == "all" or not domain.any():
        return domain
    if b.kind == "leaf":
        return domain if b.weight > limit else holds(b.text, domain) & domain
    if b.kind == "and":
        for part in sorted(b.parts, key=cost):
            domain = refine(part, domain, limit, holds)
        return domain
    out = np.zeros_like(domain)
    for part in b.parts:
        out |= refine(part, domain, limit, holds)
    return out


def steps_to_ask(expr: str, weight: Callable[[pq.Expr], int], steps: int,
                 holds: Callable[[str, np.ndarray], np.ndarray]) -> np.ndarray:
    """The steps at which ``expr`` must be evaluated: all of them for a cheap expression,
    else those its cheap leaves leave (:func:`refine`)."""
    everywhere = np.ones(steps, dtype=bool)
    whole = weight(pq.parse(expr))
    if whole < MIN_WEIGHT:
        return everywhere
    return refine(bound(expr, weight), everywhere, whole // FRACTION, holds)


def spans(mask: np.ndarray, weight: int) -> list[tuple[int, int]]:
    """(first, end) of the runs of ``mask``, runs closer than a query's cost apart merged:
    a query costs ~4 ms besides its steps, about 1,200 steps of an expression of one
    operator (a term read and counted) or 30 of one of 40, so the steps between are asked
    too (every step asked is exact)."""
    gap = max(8, QUERY_STEPS // (weight + 1))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    out: list[tuple[int, int]] = []
    for first, end in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if out and first - out[-1][1] < gap:
            out[-1] = (out[-1][0], end)
        else:
            out.append((first, end))
    return out


def weight_with(terms: dict[str, str]) -> Callable[[pq.Expr], int]:
    """A node's cost: its operators and those of the shared terms it reads (``terms``:
    name -> expression), which may not have been evaluated where it is asked."""
    known: dict[str, int] = {}  # a term's weight, found once: ~2 ms a walk, ~3,000 queries

    def term(name: str) -> int:
        if name not in known:  # (two threads may both find it: the same number)
            known[name] = weight(pq.parse(terms[name]))
        return known[name]

    def weight(node: pq.Expr) -> int:
        found = [facts(node).operators]

        def visit(n: pq.Expr) -> None:
            if isinstance(n, pq.VectorSelector) and n.name in terms:
                found.append(term(n.name))
        pq.walk(node, visit, None)
        return sum(found)
    return weight
