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
