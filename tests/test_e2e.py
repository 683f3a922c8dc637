"""The whole pipeline, real processes on loopback: exporter -> Prometheus -> Alertmanager -> sink.

Intervals are shortened (scrape / evaluation 1 s, Alertmanager waits 1 s); the rules are
the shipped ones rendered with a 5 s ``keep_firing_for`` (the shipped 10-20 minutes would
keep the page open longer than a test should wait for its resolution).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from txwatch.rules import Settings, write_rule_dir
from txwatch.stack.launcher import LocalStack
from txwatch.web.sink import read_log

TX = "/api/v1/transactions"


def _push(stack: LocalStack, approved: int, failed: int = 0) -> None:
    body = [{"status": "approved", "count": approved}]
    if failed:
        body.append({"status": "failed", "count": failed})
    requests.post(stack.url("exporter") + TX, json=body, timeout=5).raise_for_status()


def _post_alert(stack: LocalStack, alert: dict, starts: datetime, ends: datetime) -> None:
    body = [{**alert, "startsAt": starts.isoformat(), "endsAt": ends.isoformat()}]
    requests.post(stack.url("alertmanager") + "/api/v2/alerts", json=body,
                  timeout=5).raise_for_status()


def _about_failed_spike(row: dict) -> bool:
    return (row["labels"].get("alertname") == "PaymentRatioHighFast"
            and row["labels"].get("status") == "failed")


def _wait_for(stack: LocalStack, check, seconds: float, traffic: tuple[int, int]) -> list[dict]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _push(stack, *traffic)
        rows = read_log(stack.sink_log, 1000)
        if check(rows):
            return rows
        time.sleep(1.0)
    raise AssertionError(f"timed out; sink has {read_log(stack.sink_log, 1000)}")




@pytest.mark.slow
def test_failed_spike_fires_once_then_resolves_and_inhibited_warning_never_arrives(
        fast_stack, tmp_path):
    short = tmp_path / "rules"
    write_rule_dir(short, Settings(keep_firing_for="5s", keep_fast_firing_for="5s",
                                   keep_slow_firing_for="5s"))
    with fast_stack(rules=short) as stack:
        for _ in range(10):  # normal traffic
            _push(stack, 100)
            time.sleep(1.0)
        assert not [r for r in read_log(stack.sink_log) if _about_failed_spike(r)]

        rows = _wait_for(stack, lambda rows: any(_about_failed_spike(r) and
                                                 r["status"] == "firing" for r in rows),
                         150, (100, 100))
        firing = [r for r in rows if _about_failed_spike(r) and r["status"] == "firing"]
        assert len(firing) == 1
        assert firing[0]["labels"] == {"alertname": "PaymentRatioHighFast", "job": "txwatch",
                                       "severity": "critical", "status": "failed",
                                       "monitor": "txwatch"}
        assert firing[0]["receiver"] == "pager"
        summary = firing[0]["annotations"]["summary"]
        assert summary.startswith("failed share ") and " of " in summary, summary
        assert "limit" in summary and "over 5m" in summary, summary
        graph = firing[0]["generator_url"]  # opens the alert's expression in Prometheus
        assert graph.startswith(stack.url("prometheus") + "/graph?g0.expr="), graph
        assert requests.get(graph, timeout=5).status_code == 200
        runbook = firing[0]["annotations"]["runbook_url"]
        assert runbook.endswith("#paymentratiohighfast"), runbook

        # A warning about the same status while the critical fires: inhibited, never sent.
        warning = {"labels": {"alertname": "PaymentRatioHighSlow", "severity": "warning",
                              "status": "failed", "job": "txwatch", "monitor": "txwatch"},
                   "annotations": {"summary": "should be inhibited"}}
        now = datetime.now(UTC)
        _post_alert(stack, warning, now, now + timedelta(minutes=5))
        for _ in range(8):  # several group waits, failures still ongoing
            _push(stack, 100, 100)
            time.sleep(1.0)
        rows = read_log(stack.sink_log, 1000)
        assert not [r for r in rows if r["labels"].get("alertname") == "PaymentRatioHighSlow"]
        _post_alert(stack, warning, now, datetime.now(UTC))  # ends while still inhibited

        # Recovery: failures stop and a large volume dilutes the 5-minute window.
        rows = _wait_for(stack, lambda rows: any(_about_failed_spike(r) and
                                                 r["status"] == "resolved" for r in rows),
                         180, (200_000, 0))
        resolved = [r for r in rows if _about_failed_spike(r) and r["status"] == "resolved"]
        assert len(resolved) == 1
        firing = [r for r in rows if _about_failed_spike(r) and r["status"] == "firing"]
        assert len(firing) == 1, "the spike was notified more than once"
        assert not [r for r in rows if r["labels"].get("alertname") == "PaymentRatioHighSlow"]
        recent = requests.get(stack.url("sink") + "/api/alerts?limit=5", timeout=5).json()
        assert recent and recent[0]["received_at"] >= recent[-1]["received_at"]
