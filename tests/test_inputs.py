"""The alerts' recorded inputs (rules/inputs.py): order within the group, and the inline form
vmalert and the backtest read."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO
from txwatch.rules.inputs import NAME, inline, inline_group, is_input

COUNT = 'sum by (job, status) (increase(payment_transactions_total{job="txwatch"}[5m]))'


def _payments() -> list[dict]:
    doc = yaml.safe_load((REPO / "rules" / "alerts.yml").read_text())
    return next(g["rules"] for g in doc["groups"] if any(is_input(r.get("record", ""))
                                                       for r in g["rules"]))


def test_every_input_is_recorded_before_the_first_rule_that_reads_it():
    """Prometheus evaluates a group's rules in order at one timestamp: a rule reading an
    input recorded after it would read the previous cycle's value."""
    seen: set[str] = set()
    inputs = 0
    for rule in _payments():
        for ref in NAME.finditer(str(rule["expr"])):
            assert ref["name"] in seen, (rule.get("record") or rule["alert"], ref["name"])
        if is_input(rule.get("record", "")):
            seen.add(rule["record"])
            inputs += 1
    assert inputs > 20


def test_the_inline_form_reads_no_input_and_every_alert_is_kept():
    rules = _payments()
    inlined = inline_group(rules)
    assert [r["alert"] for r in inlined] == [r["alert"] for r in rules if "alert" in r]
    for rule in inlined:
        assert not NAME.search(str(rule["expr"])), rule["alert"]
        for text in rule["annotations"].values():
            assert not NAME.search(str(text)), rule["alert"]
    fast = next(r for r in inlined if r["alert"] == "PaymentRatioHighFast")
    assert 'increase(payment_transactions_total{job="txwatch"}[5m])' in fast["expr"]


def test_a_count_read_with_matchers_is_inlined_with_them_in_its_selector():
    known = {"status:payment_transactions:count5m": COUNT}
    text = inline('status:payment_transactions:count5m{status="failed"} > 3', known)
    assert text == ('sum by (job, status) (increase(payment_transactions_total'
                    '{job="txwatch", status="failed"}[5m])) > 3')


def test_another_input_is_inlined_in_parentheses_and_refused_with_matchers():
    known = {"status:payment_transactions:share5m": "a / b"}
    assert inline("status:payment_transactions:share5m > 0.1", known) == "(a / b) > 0.1"
    with pytest.raises(ValueError, match="only a recorded count"):
        inline('status:payment_transactions:share5m{status="failed"} > 0.1', known)


def test_a_deployments_own_records_and_recording_groups_are_left_alone():
    own = [{"record": "job:http_requests:count5m", "expr": "sum(rate(x[5m]))"},
           {"alert": "A", "expr": "job:http_requests:count5m > 1"}]
    assert inline_group(own) == own
    recording_only = [{"record": "status:payment_transactions:count5m", "expr": COUNT}]
    assert inline_group(recording_only) == recording_only
