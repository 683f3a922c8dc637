"""The candidate search's shared counts: which counts the alert expressions share, and the
expressions rewritten to read them (pure text; the engine test checks the steps)."""

from __future__ import annotations

from tests.conftest import REPO
from txwatch.backtest.ruleset import load_rules
from txwatch.backtest.shared_counts import PREFIX, share_counts, subquery_spans


def test_each_distinct_count_is_named_once_and_offsets_stay():
    a = 'sum by (job) (increase(tx_total{job="t"}[5m]))'
    b = 'sum by (job, status) (increase(tx_total{job="t"}[5m]))'
    exprs = [f"{a} < 1 and {a.replace('[5m]', '[5m] offset 5m')} > 3",
             f"{b} / ignoring (status) group_left () {a}",
             "min_over_time((" + a.replace("5m", "2m") + ")[20m:1m]) < 1"]
    counts, rewritten = share_counts(exprs)
    assert [c.expr for c in counts] == [a, b, a.replace("5m", "2m")]
    assert rewritten == [f"{PREFIX}0 < 1 and {PREFIX}0 offset 5m > 3",
                         f"{PREFIX}1 / ignoring (status) group_left () {PREFIX}0",
                         f"min_over_time((sum by (job) ({PREFIX}2))[20m:1m]) < 1"]


def test_subquery_spans_find_each_parenthesised_body():
    expr = "max_over_time((a < 1 or (b) > 2)[20m:1m]) + rate(c[5m]) + min_over_time((d)[1h:])"
    spans = subquery_spans(expr)
    assert [expr[a:b + 1] for a, b in spans] == ["(a < 1 or (b) > 2)", "(d)"]


def test_the_shipped_alerts_read_no_counter_after_the_rewrite():
    """Every inline count of the shipped alerts is shared: the rewritten expressions read
    only the shared counts and recorded series, so none is evaluated twice."""
    rules = load_rules([REPO / "rules" / "alerts.yml"])
    exprs = [str(r["expr"]) for g in rules.alert_groups for r in g["rules"]]
    counts, rewritten = share_counts(exprs)
    assert len(counts) >= 10
    assert not any("increase(" in e for e in rewritten)
    occurrences = sum(e.count(PREFIX) for e in rewritten)
    assert occurrences >= 3 * len(counts)  # what sharing saves: each count read ~3+ times


def test_a_page_and_its_warning_share_every_term_but_their_score():
    """Two rules that differ only in the score they compare with: every term of the
    expression but that comparison is evaluated once."""
    from txwatch.backtest.shared_terms import PREFIX as TERM
    from txwatch.backtest.shared_terms import order, share_terms

    body = ("3 * sqrt(k) * (1 - 1 / (9 * k) - ((k / ignoring (status) group_left () n) ^ -1"
            " * on (status) group_left () p) ^ (1 / 3))")
    material = "k - on (status) group_left () max by (status) (p) * on () group_left () n >= 5"
    exprs = [f"({body}) > {z} and on (job, status) ({material})" for z in (4.42, 3.89)]
    terms, rewritten = share_terms(exprs)
    assert rewritten == [f"{TERM}0{{}} > 4.42 and on (job, status) {TERM}1{{}}",
                         f"{TERM}0{{}} > 3.89 and on (job, status) {TERM}1{{}}"]
    assert [t.expr for t in terms] == [
        str(__import__("promql_parser").parse(body)),
        str(__import__("promql_parser").parse(material))]
    assert [len(level) for level in order(terms)] == [2]


def test_terms_inside_subqueries_reading_alerts_or_of_few_operators_stay():
    from txwatch.backtest.shared_terms import share_terms

    inside = "max by (job) (a / ignoring (s) group_left () b - 1)"
    alerts = 'sum by (job) (ALERTS{alertname="X"} * 2 - 1)'
    exprs = [f"max_over_time(({inside})[20m:1m]) > 1 and {inside} > 2",
             f"{inside} < 3", f"{alerts} > 1", f"{alerts} < 1", "a / b > 1", "a / b < 1"]
    terms, rewritten = share_terms(exprs)
    assert terms == [] and rewritten == [
        str(__import__("promql_parser").parse(e)) for e in exprs]


def test_a_shared_term_keeps_the_order_of_operations():
    """``a / b / c`` is ``(a / b) / c``: the text ``b / c`` in it is no term, and a term
    ``(b / c)`` elsewhere must not be read there."""
    import promql_parser as pq

    from txwatch.backtest.shared_terms import share_terms

    term = "max by (j) (b) / sqrt(c) * 2"
    exprs = [f"a / {term} > 0", f"({term}) > 1", f"({term}) < 0"]
    terms, rewritten = share_terms(exprs)
    assert [t.expr for t in terms] == [str(pq.parse(term))]
    assert rewritten[1:] == [f"{terms[0].name}{{}} > 1", f"{terms[0].name}{{}} < 0"]
    # the first holds the text of the term only: its tree is ((a / max) / sqrt) * 2
    assert rewritten[0] == str(pq.parse(exprs[0]))


def test_an_alert_reading_its_own_alerts_keeps_only_the_operators_around_them():
    """A held alert's largest terms free of ``ALERTS`` become series of their own (its
    value at a step does not depend on its state); the hysteresis branch keeps reading
    ``ALERTS``, other alerts and terms inside subqueries stay as they were."""
    import promql_parser as pq

    from txwatch.backtest.own_terms import own_terms
    from txwatch.backtest.shared_terms import PREFIX as TERM

    score = "(a - 0.5) / ignoring (s) group_left () b > on (s) group_left () sqrt(c) * 3"
    held = "a / ignoring (s) group_left () b > on (s) group_left () c * 2"
    alerts = 'max without (alertname) (ALERTS{alertname="Own"})'
    mine = f"{score} and on (s) a >= 3 or (-1 * {alerts} and on (s) {held})"
    other = f"{score} or {held}"
    terms, rewritten = own_terms([mine, other], [True, False], 7)
    whole = f"{score} and on (s) a >= 3"
    assert [t.expr for t in terms] == [str(pq.parse(whole)), str(pq.parse(held))]
    assert [t.name for t in terms] == [f"{TERM}7", f"{TERM}8"]
    assert rewritten == [str(pq.parse(f"{TERM}7 or (-1 * {alerts} and on (s) {TERM}8)")),
                         other]
    # read inside a subquery (at other steps) by another held alert, ``held`` stays
    ranged = f"max_over_time(({held})[5m:1m]) > on (s) {alerts}"
    terms, rewritten = own_terms([mine, ranged], [True, True], 0)
    assert [t.expr for t in terms] == [str(pq.parse(whole)),
                                       str(pq.parse(f"max_over_time(({held})[5m:1m])"))]
    assert rewritten[0] == str(pq.parse(f"{TERM}0 or (-1 * {alerts} and on (s) {held})"))


def test_bounds_ask_the_cheap_operands_first_and_only_where_the_others_left():
    """An ``and`` asks its cheapest operand everywhere, the next only where the first
    holds; an ``or`` the union of its operands; ``unless`` its left side; a leaf costing
    more than the limit is not asked (it can hold anywhere)."""
    import numpy as np

    from txwatch.backtest.bounds import bound, refine, spans, weight_with

    weight = weight_with({"t": "a * b * c * d"})
    b = bound("(t > 1 and on (s) a < 2) or (c > 3 unless d)", weight)
    truth = {"a{} < 2": [0, 1, 2], "t{} > 1": [1, 2, 5], "c{} > 3": [7]}
    asked: list[tuple[str, list[int]]] = []

    def holds(text: str, where: np.ndarray) -> np.ndarray:
        asked.append((text, np.flatnonzero(where).tolist()))
        out = np.zeros(10, dtype=bool)
        out[truth[text]] = True
        return out

    found = refine(b, np.ones(10, dtype=bool), 4, holds)
    assert np.flatnonzero(found).tolist() == [1, 2, 7]
    assert asked == [("a{} < 2", list(range(10))), ("t{} > 1", [0, 1, 2]),
                     ("c{} > 3", list(range(10)))]
    asked.clear()
    found = refine(b, np.ones(10, dtype=bool), 3, holds)  # t > 1 costs 4: not asked
    assert np.flatnonzero(found).tolist() == [0, 1, 2, 7]
    assert [text for text, _ in asked] == ["a{} < 2", "c{} > 3"]
    mask = np.zeros(100, dtype=bool)
    mask[[3, 4, 5, 20, 90]] = True
    assert spans(mask, 100) == [(3, 6), (20, 21), (90, 91)]
    assert spans(mask, 60) == [(3, 21), (90, 91)]  # a costlier expression: fewer queries
