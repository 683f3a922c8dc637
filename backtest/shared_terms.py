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
from collections.abc import Callable
from dataclasses import dataclass

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
    texts = list(exprs)
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
        ready = [t for t in left if not (_reads(t.expr) - done)]
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


def _reads(expr: str) -> set[str]:
    found: set[str] = set()

    def visit(node: pq.Expr) -> None:
        if isinstance(node, pq.VectorSelector) and (node.name or "").startswith(PREFIX):
            found.add(node.name)
    pq.walk(pq.parse(expr), visit, None)
    return found


def _key(node: pq.Expr) -> str | None:
    """The text of ``node`` if it may be shared (a compound instant vector reading no
    ``ALERTS``, enough operators), else None; a parenthesis is its content."""
    while isinstance(node, pq.ParenExpr):
        node = node.expr
    if not _vector(node) or _operators(node) < MIN_OPERATORS or _reads_alerts(node):
        return None
    return str(node)


def _occurrences(texts: list[str]) -> Counter[str]:
    """How often each shareable term occurs outside subqueries and ranges (a term that
    also occurs inside one is left out: it is read there at other steps)."""
    outside: Counter[str] = Counter()
    inside: set[str] = set()
    for text in texts:
        _count_in(pq.parse(text), outside, inside)
    return Counter({k: n for k, n in outside.items() if k not in inside})


def _count_in(tree: pq.Expr, outside: Counter[str], inside: set[str]) -> None:
    depth: list[bool] = []  # per enclosing node: whether it is in a subquery or range

    def enter(node: pq.Expr) -> None:
        within = any(depth)
        depth.append(isinstance(node, pq.SubqueryExpr | pq.MatrixSelector) or within)
        key = _key(node) if not isinstance(node, pq.ParenExpr) else None
        if key is not None:
            if within:
                inside.add(key)
            else:
                outside[key] += 1

    def leave(_node: pq.Expr) -> None:
        depth.pop()  # (returning False would stop the walk)

    pq.walk(tree, enter, leave)


def _replace(text: str, key: str, name: str) -> str:
    def swap(node: pq.Expr) -> pq.Expr | None:
        return pq.parse(name) if _key(node) == key else None  # a parenthesis with it too
    return str(pq.transform(pq.parse(text), swap, None))


def _vector(node: pq.Expr) -> bool:
    if isinstance(node, pq.VectorSelector | pq.AggregateExpr):
        return True
    if isinstance(node, pq.ParenExpr | pq.UnaryExpr):
        return _vector(node.expr)
    if isinstance(node, pq.BinaryExpr):
        return _vector(node.lhs) or _vector(node.rhs)
    if isinstance(node, pq.Call):
        return node.func.return_type == pq.ValueType.Vector
    return False


def _count(node: pq.Expr, test: Callable[[pq.Expr], bool]) -> int:
    found = [0]

    def visit(n: pq.Expr) -> None:
        found[0] += test(n)
    pq.walk(node, visit, None)
    return found[0]


def _operators(node: pq.Expr) -> int:
    return _count(node, lambda n: isinstance(n, pq.BinaryExpr | pq.AggregateExpr | pq.Call
                                             | pq.UnaryExpr))


def _reads_alerts(node: pq.Expr) -> bool:
    return _count(node, lambda n: isinstance(n, pq.VectorSelector) and n.name == "ALERTS") > 0
