"""The terms the alert expressions share, evaluated once for the candidate search.

After :mod:`.shared_counts`, an alert expression is still dozens of operators a step, and
several alerts compute the same terms: a page and its warning differ only in the score they
compare with (``... > 4.42`` against ``... > 3.89``), the fast and the slow share alerts
read the same shares. Prometheus evaluates each occurrence anew at every step (~10 us an
operator and step: a 30-day range query of the rise alert took 30 s). Here every repeated
term of enough operators is written as a series of its own (the same value at every step,
evaluated by Prometheus itself), largest first, and the expressions read it instead: the
syntax tree is rewritten, not the text, so no precedence changes. A term is shared only
outside subqueries and ranges (which read it at other times), only where it is an instant
vector, and never where it reads ``ALERTS`` (which a range query has not).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import promql_parser as pq

PREFIX = "txwatch_backtest_term_"
MIN_OPERATORS = 3  # a term of fewer costs its own query more than it saves


@dataclass(frozen=True)
class SharedTerm:
    """One repeated term: the series it is written back as and its PromQL."""

    name: str
    expr: str


def share_terms(exprs: list[str]) -> tuple[list[SharedTerm], list[str]]:
    """The repeated terms of ``exprs`` (each may read terms found after it) and the
    expressions rewritten to read them."""
    texts = [str(pq.parse(e)) for e in exprs]  # as the tree prints: a term's text is in it
    terms: list[SharedTerm] = []
    while True:
        repeated = [key for key, n in _occurrences(texts + [t.expr for t in terms]).items()
                    if n > 1]
        if not repeated:
            return terms, texts
        key = max(repeated, key=len)
        term = SharedTerm(f"{PREFIX}{len(terms)}", key)
        texts = [_replace(t, key, term.name) for t in texts]
        terms = [SharedTerm(t.name, _replace(t.expr, key, term.name)) for t in terms]
        terms.append(term)


def order(terms: list[SharedTerm]) -> list[list[SharedTerm]]:
    """The terms in levels: each reads only terms of the levels before it."""
    levels: list[list[SharedTerm]] = []
    done: set[str] = set()
    left = list(terms)
    while left:
        ready = [t for t in left if not (reads(t.expr) - done)]
        levels.append(ready)
        done.update(t.name for t in ready)
        left = [t for t in left if t not in ready]
    return levels


def inline(texts: list[str], term: SharedTerm) -> list[str]:
    """``texts`` reading ``term``'s own expression again (a term whose result cannot be
    written as one series per label set)."""
    def back(node: pq.Expr) -> pq.Expr | None:
        if isinstance(node, pq.VectorSelector) and node.name == term.name:
            return pq.parse(f"({term.expr})")
        return None
    return [str(pq.transform(pq.parse(t), back, None)) for t in texts]


def reads(expr: str) -> set[str]:
    found: set[str] = set()

    def visit(node: pq.Expr) -> None:
        if isinstance(node, pq.VectorSelector) and (node.name or "").startswith(PREFIX):
            found.add(node.name)
    pq.walk(pq.parse(expr), visit, None)
    return found


def _occurrences(texts: list[str]) -> Counter[str]:
    """How often each shareable term occurs outside subqueries and ranges (a term that
    also occurs inside one is left out: it is read there at other steps)."""
    outside: Counter[str] = Counter()
    inside: set[str] = set()
    for text in texts:
        found, within = _count_in(text)
        outside.update(dict(found))
        inside.update(within)
    return Counter({k: n for k, n in outside.items() if k not in inside})


@lru_cache(maxsize=4096)
def _count_in(text: str) -> tuple[tuple[tuple[str, int], ...], frozenset[str]]:
    """(term, occurrences outside subqueries) and the terms inside one, of one text; cached:
    most texts are unchanged from one round of :func:`share_terms` to the next. One walk:
    each node's operators, vector type and ``ALERTS`` read are summed from its children."""
    outside: Counter[str] = Counter()
    inside: set[str] = set()
    within: list[bool] = []  # per enclosing node: whether it is in a subquery or range
    children: list[list[_Facts]] = [[]]

    def enter(node: pq.Expr) -> None:
        within.append(isinstance(node, pq.SubqueryExpr | pq.MatrixSelector) or any(within))
        children.append([])

    def leave(node: pq.Expr) -> None:
        below = children.pop()
        inner = within.pop() and not isinstance(node, pq.SubqueryExpr | pq.MatrixSelector)
        facts = _facts(node, below)
        children[-1].append(facts)
        if (facts.vector and facts.operators >= MIN_OPERATORS and not facts.alerts
                and not isinstance(node, pq.ParenExpr)):
            key = str(node)
            if inner or any(within):
                inside.add(key)
            else:
                outside[key] += 1

    pq.walk(pq.parse(text), enter, leave)
    return tuple(outside.items()), frozenset(inside)


@dataclass(frozen=True)
class _Facts:
    operators: int
    vector: bool
    alerts: bool


def facts(node: pq.Expr) -> _Facts:
    """``node``'s operators, whether it is an instant vector and whether it reads
    ``ALERTS``, by the same walk :func:`_count_in` makes (the other stages of the
    candidate search, :mod:`.bounds` and :mod:`.own_terms`, judge terms as it does)."""
    children: list[list[_Facts]] = [[]]

    def enter(_node: pq.Expr) -> None:
        children.append([])

    def leave(n: pq.Expr) -> None:
        below = children.pop()
        children[-1].append(_facts(n, below))

    pq.walk(node, enter, leave)
    return children[0][-1]


def shareable(node: pq.Expr) -> str | None:
    """The text of ``node`` if it may be written as a term (a compound instant vector of
    enough operators reading no ``ALERTS``), else None; a parenthesis is its content."""
    while isinstance(node, pq.ParenExpr):
        node = node.expr
    found = facts(node)
    if not found.vector or found.operators < MIN_OPERATORS or found.alerts:
        return None
    return str(node)


def _facts(node: pq.Expr, below: list[_Facts]) -> _Facts:
    operators = sum(f.operators for f in below) + isinstance(
        node, pq.BinaryExpr | pq.AggregateExpr | pq.Call | pq.UnaryExpr)
    alerts = any(f.alerts for f in below) or (
        isinstance(node, pq.VectorSelector) and node.name == "ALERTS")
    if isinstance(node, pq.VectorSelector | pq.AggregateExpr):
        vector = True
    elif isinstance(node, pq.Call):
        vector = node.func.return_type == pq.ValueType.Vector
    elif isinstance(node, pq.ParenExpr | pq.UnaryExpr | pq.BinaryExpr):
        vector = any(f.vector for f in below)
    else:
        vector = False
    return _Facts(operators, vector, alerts)


def _replace(text: str, key: str, name: str) -> str:
    if key not in text:  # a tree prints as its subtrees do
        return text

    def swap(node: pq.Expr) -> pq.Expr | None:
        inner = node.expr if isinstance(node, pq.ParenExpr) else node  # a parenthesis too
        return pq.parse(name) if str(inner) == key else None
    return str(pq.transform(pq.parse(text), swap, None))
