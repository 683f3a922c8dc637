"""The terms of an alert that reads its own ``ALERTS``, evaluated once for promtool.

An alert held through its own ``ALERTS`` series (hysteresis) cannot be handed to promtool
as the result of a range query (:func:`.engine._as_result`): its state depends on itself.
promtool evaluates its expression around each candidate, and for the fast ratio page that
was ~45 operators a step over ~6,000 steps (~10 of the 30-day backtest's seconds). Yet
the expression depends on ``ALERTS`` only through the branches that read it: every largest
term that does not (outside subqueries and ranges, an instant vector of enough operators)
has the same value at a step whatever the alert's state, so it is evaluated by Prometheus
once over the whole range, written as a series like a shared term (:mod:`.shared_terms`)
and both stages read it; promtool is left the few operators around ``ALERTS``.
"""

from __future__ import annotations

import promql_parser as pq

from txwatch.backtest.shared_terms import PREFIX, SharedTerm, _replace, shareable


def own_terms(exprs: list[str], own: list[bool], first: int
              ) -> tuple[list[SharedTerm], list[str]]:
    """The largest ``ALERTS``-free terms of the expressions marked ``own`` (named from
    ``PREFIX`` + ``first`` on; a term may read one found after it) and ``exprs`` rewritten
    to read them; the others unchanged."""
    chosen: dict[str, None] = {}
    inside: set[str] = set()
    for text, mine in zip(exprs, own, strict=True):
        if mine:
            _largest_free(text, chosen, inside)
    keys = [k for k in chosen if k not in inside]  # read at other times there
    terms: list[SharedTerm] = []
    texts = [str(pq.parse(t)) if mine else t  # as the tree prints: a term's text is in it
             for t, mine in zip(exprs, own, strict=True)]
    for key in sorted(keys, key=len, reverse=True):  # a larger one may hold a smaller
        term = SharedTerm(f"{PREFIX}{first + len(terms)}", key)
        texts = [_replace(t, key, term.name) if mine else t
                 for t, mine in zip(texts, own, strict=True)]
        terms = [SharedTerm(t.name, _replace(t.expr, key, term.name)) for t in terms]
        terms.append(term)
    return terms, texts


def _largest_free(text: str, chosen: dict[str, None], inside: set[str]) -> None:
    """Add to ``chosen`` the shareable terms of ``text`` (``ALERTS``-free) that no larger
    one holds, and to ``inside`` those that occur inside a subquery or range."""
    stack: list[tuple[bool, bool]] = []  # per enclosing node: (in a range, in a term)

    def enter(node: pq.Expr) -> None:
        ranged = any(r for r, _ in stack) or isinstance(node, pq.SubqueryExpr
                                                         | pq.MatrixSelector)
        held = any(h for _, h in stack)
        key = None if isinstance(node, pq.ParenExpr) else shareable(node)
        if key is not None and ranged:
            inside.add(key)
        elif key is not None and not held:
            chosen[key] = None
        stack.append((ranged, held or key is not None))

    def leave(_node: pq.Expr) -> None:
        stack.pop()

    pq.walk(pq.parse(text), enter, leave)
