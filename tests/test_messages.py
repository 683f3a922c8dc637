"""What the on-call reads: the shipped templates rendered by a real Alertmanager.

Alertmanager posts Slack-style messages (rendered with ``alertmanager/templates``) to a
capture server on loopback. The alert annotations are the ones the shipped rules render in
Prometheus (their exact values are checked by the promtool suites in ``rules/tests``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import REPO, running_alertmanager

TEMPLATES = REPO / "alertmanager" / "templates" / "*.tmpl"
SUMMARY = "failed share 6.2% over 5m (31 of 500), limit 1.2%"
DESCRIPTION = ("31 of 500 transactions over the last 5m were failed (6.2%); this deployment's "
               "normal share is 0.1%. The lower 99.99% confidence bound of that share, 3.2%, "
               "is above the fast limit 1.2%. Newest data minute: 2026-11-22 06:00:00 +0000 UTC.")


class _Capture(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[tuple[str, list[dict]]]:
    """A real Alertmanager whose one receiver posts Slack messages to a capture server."""
    handler = type("Capture", (_Capture,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shipped = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())
    # group_wait long enough that both alerts of one POST are in the first notification on
    # a loaded machine (1s split them there: two messages)
    fast = {"group_wait": "3s", "group_interval": "1s", "repeat_interval": "1h"}
    config = {"route": {"receiver": "slack", "group_by": shipped["route"]["group_by"], **fast},
              "templates": [str(TEMPLATES)],
              "receivers": [{"name": "slack", "slack_configs": [{
                  "api_url": f"http://127.0.0.1:{server.server_port}/slack",
                  "channel": "#payments", "send_resolved": True,
                  "title": '{{ template "txwatch.title" . }}',
                  "text": '{{ template "txwatch.text" . }}'}]}]}
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(config))
    try:
        with running_alertmanager(path, tmp_path) as am:
            yield am, handler.received
    finally:
        server.shutdown()


def _wait(check, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


def _alert(status: str, starts: datetime, ends: datetime) -> dict:
    return {"labels": {"alertname": "PaymentRatioHighFast", "job": "txwatch",
                       "severity": "critical", "status": status},
            "annotations": {"summary": SUMMARY.replace("failed", status),
                            "description": DESCRIPTION, "runbook_url": "http://runbook#x"},
            "startsAt": starts.isoformat(), "endsAt": ends.isoformat(),
            "generatorURL": "http://prometheus/graph?g0.expr=x"}


def _texts(received: list[dict]) -> list[str]:
    return [a["title"] + "\n" + a["text"] for m in received for a in m["attachments"]]


def test_firing_and_resolved_messages_say_what_happened_and_how_long(chat):
    am, received = chat
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=12)
    alerts = [_alert(s, started, started + timedelta(hours=1))
              for s in ("failed", "backend_reversed")]
    requests.post(f"{am}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
    _wait(lambda: len(received) >= 1)
    time.sleep(2)  # a second group interval: still one message for both statuses
    assert len(received) == 1, _texts(received)
    firing = _texts(received)[0]
    assert firing.startswith("[FIRING:2] PaymentRatioHighFast")
    for fact in ("6.2%", "31 of 500", "limit 1.2%", "backend_reversed share",
                 "Newest data minute: 2026-11-22 06:00",
                 f"started {started:%Y-%m-%d %H:%M:%S} UTC", "runbook: http://runbook#x"):
        assert fact in firing, (fact, firing)

    ended = datetime.now(UTC)
    resolved = [_alert(s, started, ended) for s in ("failed", "backend_reversed")]
    requests.post(f"{am}/api/v2/alerts", json=resolved, timeout=5).raise_for_status()
    _wait(lambda: len(received) >= 2)
    text = _texts(received)[1]
    assert text.startswith("[RESOLVED] PaymentRatioHighFast"), text
    assert "FIRING" not in text and "jumped" not in text
    assert "RESOLVED [critical] PaymentRatioHighFast status=failed after 12m" in text, text
    assert f"({started:%H:%M:%S} to " in text
    assert "last reading while firing: failed share 6.2% over 5m (31 of 500)" in text
