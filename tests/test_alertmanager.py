"""Alertmanager config with the real amtool and a real Alertmanager: routes and inhibition."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.conftest import REPO, require_binary, running_alertmanager
from txwatch.stack.launcher import LocalStack, Ports

CONFIG = REPO / "alertmanager" / "alertmanager.yml"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("amtool"), *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("path", [CONFIG, REPO / "alertmanager" / "examples" /
                                  "all-receivers.yml"], ids=["shipped", "all-receivers"])
def test_amtool_check_config(path):
    result = amtool("check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("labels, receiver", [
    (["severity=critical", "alertname=PaymentRatioHighFast", "status=failed"], "pager"),
    (["severity=warning", "alertname=PaymentRatioHighSlow", "status=failed"], "chat"),
    (["severity=info", "alertname=Something", "status=all"], "blackhole"),
    (["severity=info", "alertname=Watchdog", "status=all"], "deadmansswitch"),
    (["team=unknown", "alertname=Foreign"], "chat"),  # unknown label set: default route
])
def test_amtool_routes(labels, receiver):
    ok = amtool("config", "routes", "test", f"--config.file={CONFIG}",
                f"--verify.receivers={receiver}", *labels)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = "pager" if receiver != "pager" else "chat"
    assert amtool("config", "routes", "test", f"--config.file={CONFIG}",
                  f"--verify.receivers={wrong}", *labels).returncode != 0


def _post(am: str, labels: dict[str, str], minutes: int = 10) -> None:
    now = datetime.now(UTC)
    body = [{"labels": labels, "annotations": {"summary": "test"},
             "startsAt": (now - timedelta(minutes=1)).isoformat(),
             "endsAt": (now + timedelta(minutes=minutes)).isoformat()}]
    requests.post(f"{am}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def _inhibited(am: str, alertname: str, status: str) -> bool:
    for alert in requests.get(f"{am}/api/v2/alerts", timeout=5).json():
        if alert["labels"]["alertname"] == alertname and alert["labels"]["status"] == status:
            return bool(alert["status"]["inhibitedBy"])
    raise AssertionError(f"{alertname}/{status} not found")


def _wait(check, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


def test_inhibition_in_a_real_alertmanager(tmp_path):
    stack = LocalStack(tmp_path, Ports.free())
    stack.workdir.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "am.yml"
    import yaml

    config.write_text(yaml.safe_dump(stack.alertmanager_config()))
    with running_alertmanager(config, tmp_path) as am:
        base = {"job": "txwatch"}
        _post(am, {**base, "alertname": "PaymentRatioHighFast", "severity": "critical",
                   "status": "failed"})
        _post(am, {**base, "alertname": "PaymentRatioHighSlow", "severity": "warning",
                   "status": "failed"})
        _post(am, {**base, "alertname": "PaymentRatioHighSlow", "severity": "warning",
                   "status": "denied"})
        _post(am, {**base, "alertname": "PaymentAuthCodeMixShift", "severity": "warning",
                   "status": "denied", "auth_code": "59"})
        _wait(lambda: _inhibited(am, "PaymentRatioHighSlow", "failed"))
        assert not _inhibited(am, "PaymentRatioHighSlow", "denied")  # other status: delivered
        assert not _inhibited(am, "PaymentAuthCodeMixShift", "denied")
        # One replica of several down pages about itself and mutes no payment alert ...
        _post(am, {**base, "alertname": "PaymentExporterDown", "severity": "critical",
                   "status": "all", "instance": "e:2"})
        time.sleep(1.0)
        assert not _inhibited(am, "PaymentRatioHighSlow", "denied")
        assert not _inhibited(am, "PaymentRatioHighFast", "failed")
        # ... every replica down mutes them all.
        _post(am, {**base, "alertname": "PaymentExportersAllDown", "severity": "info",
                   "status": "all"})
        _wait(lambda: _inhibited(am, "PaymentRatioHighSlow", "denied"))
        assert _inhibited(am, "PaymentRatioHighFast", "failed")
        assert _inhibited(am, "PaymentAuthCodeMixShift", "denied")
        assert not _inhibited(am, "PaymentExporterDown", "all")
        _post(am, {**base, "alertname": "PaymentExportersAllDown", "severity": "info",
                   "status": "all"}, minutes=0)  # resolved: the payment alerts come back
        _wait(lambda: not _inhibited(am, "PaymentRatioHighSlow", "denied"))
        _post(am, {**base, "alertname": "PaymentDataStale", "severity": "critical",
                   "status": "all"})
        _wait(lambda: _inhibited(am, "PaymentRatioHighSlow", "denied"))  # no data: all quiet
        assert _inhibited(am, "PaymentRatioHighFast", "failed")


def _groups(am: str) -> list[tuple[dict[str, str], list[str]]]:
    """Alertmanager's own paging groups (inhibited alerts included): (group labels, the
    alert names in it, one per alert)."""
    return [(g["labels"], sorted(a["labels"]["alertname"] for a in g["alerts"]))
            for g in requests.get(f"{am}/api/v2/alerts/groups", timeout=5).json()
            if g["receiver"]["name"] == "pager"]


def test_one_incident_is_one_alert_group_in_a_real_alertmanager(tmp_path):
    """What the backtest counts as one page is what Alertmanager groups: the failed and
    backend_reversed shares of one incident share a group, and so do traffic that
    collapses (PaymentTrafficLow) and then stops (PaymentTrafficStopped); an unrelated
    critical alert gets its own group. The backtest's model (``group_of``) agrees."""
    from txwatch.backtest.notify import group_of
    from txwatch.backtest.scoring import Episode

    stack = LocalStack(tmp_path, Ports.free())
    stack.workdir.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "am.yml"
    import yaml

    config.write_text(yaml.safe_dump(stack.alertmanager_config()))
    sent = [("PaymentRatioHighFast", "failed"), ("PaymentRatioHighFast", "backend_reversed"),
            ("PaymentTrafficLow", "all"), ("PaymentTrafficStopped", "all"),
            ("PaymentDataStale", "all")]
    with running_alertmanager(config, tmp_path) as am:
        for alertname, status in sent:
            _post(am, {"job": "txwatch", "alertname": alertname, "severity": "critical",
                       "status": status})
        _wait(lambda: sum(len(names) for _, names in _groups(am)) == len(sent))
        groups = sorted(_groups(am), key=lambda g: g[1])
    assert [names for _, names in groups] == [
        ["PaymentDataStale"], ["PaymentRatioHighFast", "PaymentRatioHighFast"],
        ["PaymentTrafficLow", "PaymentTrafficStopped"]]
    assert groups[2][0] == {"job": "txwatch"}  # the volume route groups by job alone
    modelled: dict[tuple[str, ...], list[str]] = {}
    for alertname, status in sent:
        episode = Episode(alertname, {"status": status, "severity": "critical"}, 0, 1)
        modelled.setdefault(group_of(episode), []).append(alertname)
    assert sorted(modelled.values()) == [names for _, names in groups]


@pytest.mark.slow
def test_segments_hit_together_are_one_page_in_a_real_alertmanager(tmp_path):
    """An issuer failing every acquirer at once: each segment's page and the flow's own page
    arrive as one group (one page listing the segments), which is what the backtest counts;
    a segment page about another status joins the same page too (one incident, one page)."""
    from txwatch.backtest.notify import group_of
    from txwatch.backtest.scoring import Episode

    stack = LocalStack(tmp_path, Ports.free())
    stack.workdir.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "am.yml"
    import yaml

    config.write_text(yaml.safe_dump(stack.alertmanager_config()))
    sent = [{"alertname": "PaymentSegmentAboveNormal", "status": "failed",
             "dimension": "acquirer", "segment": f"acq-{k:02d}"} for k in (1, 7, 31)]
    sent.append({"alertname": "PaymentRatioHighFast", "status": "failed"})
    with running_alertmanager(config, tmp_path) as am:
        for labels in sent:
            _post(am, {"job": "txwatch", "severity": "critical", **labels})
        _wait(lambda: sum(len(names) for _, names in _groups(am)) == len(sent))
        groups = _groups(am)
    assert len(groups) == 1, groups
    assert sorted(groups[0][1]) == sorted(a["alertname"] for a in sent)
    modelled = {group_of(Episode(a["alertname"], {**a, "severity": "critical"}, 0, 1))
                for a in sent}
    assert len(modelled) == 1
