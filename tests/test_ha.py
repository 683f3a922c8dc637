"""High availability with real binaries on loopback: 2 Prometheus replicas, 2 clustered
Alertmanagers. One notification per alert; with one Alertmanager killed, still delivered."""

from __future__ import annotations

import time

import pytest
import requests
import yaml

from txwatch.stack.ha import HAStack
from txwatch.web.sink import read_log

TX = "/api/v1/transactions"


def _notifications(stack: HAStack, status: str) -> list[dict]:
    return [r for r in read_log(stack.base.sink_log, 1000)
            if r["labels"].get("alertname") == "PaymentRatioHighFast"
            and r["labels"].get("status") == status and r["status"] == "firing"]


def _spike_until(stack: HAStack, status: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not _notifications(stack, status):
        assert time.monotonic() < deadline, f"no notification for {status}"
        requests.post(stack.base.url("exporter") + TX, timeout=5, json=[
            {"status": "approved", "count": 100}, {"status": status, "count": 100}])
        time.sleep(1.0)


@pytest.mark.slow
def test_two_replicas_two_alertmanagers_one_notification_and_failover(fast_stack):
    with HAStack(fast_stack("ha")) as stack:
        status = requests.get(stack.url("alertmanager-a") + "/api/v2/status", timeout=5).json()
        assert len(status["cluster"]["peers"]) == 2
        _spike_until(stack, "failed", 90)
        time.sleep(8)  # both replicas keep sending to both Alertmanagers meanwhile
        sent = _notifications(stack, "failed")
        assert len(sent) == 1, sent
        assert "replica" not in sent[0]["labels"]
        # Both replicas evaluated the rules (the alert exists in each, labelled by replica).
        for replica in ("a", "b"):
            prometheus = stack.url(f"prometheus-{replica}")
            config = requests.get(prometheus + "/api/v1/status/config", timeout=5).json()
            external = yaml.safe_load(config["data"]["yaml"])["global"]["external_labels"]
            assert external["replica"] == replica  # the shipped HA file, expanded from env
            alerts = requests.get(prometheus + "/api/v1/alerts",
                                  timeout=5).json()["data"]["alerts"]
            assert any(a["labels"]["alertname"] == "PaymentRatioHighFast" for a in alerts)

        stack.kill("alertmanager-a")
        _spike_until(stack, "denied", 90)  # a new alert after the failure
        time.sleep(5)
        denied = _notifications(stack, "denied")
        assert len(denied) == 1
        # Grouped by alertname: the one notification about denied is the group's update,
        # which lists the failed alert (still firing) beside it; nothing came twice.
        failed = _notifications(stack, "failed")
        assert len(failed) == 2, failed
        assert failed[0]["received_at"] == denied[0]["received_at"]
        assert failed[0]["group_key"] == denied[0]["group_key"] == failed[1]["group_key"]
