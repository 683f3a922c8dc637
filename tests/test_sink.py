"""The notification sink in process: bad queries are 400 JSON, the board and its files are
served, the board's panel list is the Grafana overview's and its colours the palette's,
Prometheus is passed through."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import REPO
from txwatch.engines.procs import free_port
from txwatch.web.board import static_dir
from txwatch.web.palette import CSS, PALETTE
from txwatch.web.sink import build_app, read_log

ALERT = {"status": "firing", "labels": {"alertname": "PaymentRatioHighFast",
                                        "severity": "critical", "status": "failed"},
         "annotations": {"summary": "failed share jumped"}, "startsAt": "2025-01-06T10:00:00Z"}


def run(log: Path, check: Callable[[TestClient], Awaitable[None]],
        prometheus_url: str | None = None) -> None:
    async def main() -> None:
        app = build_app(log, out=io.StringIO(), clock=lambda: 1000.0,
                        prometheus_url=prometheus_url)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await check(client)
    asyncio.run(main())


def test_bad_limit_is_400_json_and_changes_nothing(tmp_path: Path):
    log = tmp_path / "alerts.jsonl"

    async def check(client: TestClient) -> None:
        for n in range(3):
            body = {"receiver": "pager", "alerts": [{**ALERT, "fingerprint": str(n)}]}
            assert (await client.post("/webhook", json=body)).status == 200
        before = log.read_bytes()
        for query in ("limit=abc", "limit=-1", "limit=0", "limit=10001", "limit=1.5",
                      "limit=", "limit=%C2%B2", "lmit=2"):
            answer = await client.get(f"/api/alerts?{query}")
            assert answer.status == 400, query
            body = await answer.json()
            assert body["error"] == "bad_request" and body["message"], query
        assert log.read_bytes() == before
        newest = await (await client.get("/api/alerts?limit=2")).json()
        assert [r["fingerprint"] for r in newest] == ["2", "1"]
        assert len(await (await client.get("/api/alerts")).json()) == 3

    run(log, check)


def test_a_line_being_written_is_left_for_the_next_read(tmp_path: Path):
    log = tmp_path / "alerts.jsonl"
    log.write_text(json.dumps({"n": 1}) + "\n" + '{"n": 2, "lab')
    assert read_log(log) == [{"n": 1}]


def test_root_serves_the_board_and_its_vendored_chart_library(tmp_path: Path):
    async def check(client: TestClient) -> None:
        page = await client.get("/")
        html = await page.text()
        assert page.status == 200 and page.content_type == "text/html"
        for src in ("/static/uPlot.iife.min.js", "/static/board.js", "/static/board.css"):
            assert src in html
            answer = await client.get(src)
            assert answer.status == 200, src
            assert len(await answer.read()) > 500, src
        lib = await client.get("/static/uPlot.iife.min.js")
        assert lib.content_type == "application/javascript"
        assert "uPlot" in (await lib.text())[:200]
        licence = await (await client.get("/static/uPlot.LICENSE.txt")).text()
        assert "MIT License" in licence
        for bad in ("/static/..%2Fsink.py", "/static/sink.py", "/static/nothing.js"):
            answer = await client.get(bad)
            assert answer.status == 404, bad
            assert (await answer.json())["error"] == "not_found"

    run(tmp_path / "alerts.jsonl", check)


def _grafana_panels() -> list[tuple[str, list[str]]]:
    board = json.loads((REPO / "grafana/dashboards/overview.json").read_text())
    return [(p["title"], [t["expr"] for t in p["targets"]]) for p in board["panels"]]


def test_local_board_has_the_grafana_overview_panels_and_queries(tmp_path: Path):
    async def check(client: TestClient) -> None:
        board: dict[str, Any] = await (await client.get("/api/board")).json()
        mine = [(p["title"], [q["expr"] for q in p["queries"]]) for p in board["panels"]]
        assert mine == _grafana_panels()
        kinds = {p["title"]: p["kind"] for p in board["panels"]}
        assert kinds["Firing alerts"] == "table"
        assert sum(k == "timeseries" for k in kinds.values()) >= 7
        named = {c for p in board["panels"] for _, c in p["colours"]}
        assert named <= set(board["css"]), named - set(board["css"])
        assert (board["css"], board["palette"]) == (CSS, list(PALETTE))

    run(tmp_path / "alerts.jsonl", check)


def test_the_page_styles_with_the_boards_palette(tmp_path: Path):
    async def check(client: TestClient) -> None:
        assert "/palette.css" in await (await client.get("/")).text()
        answer = await client.get("/palette.css")
        assert answer.status == 200 and answer.content_type == "text/css"
        css = await answer.text()
        for name, value in CSS.items():
            assert f"--{name}: {value};" in css, name
        used = set(re.findall(r"var\(--([\w-]+)\)", (static_dir() / "board.css").read_text()))
        assert used and used <= set(CSS), used - set(CSS)

    run(tmp_path / "alerts.jsonl", check)


def test_the_page_and_script_hold_no_copy_of_the_palette():
    """The colours are defined once (txwatch.web.palette); the browser gets them served."""
    colours = {c.lower() for c in [*CSS.values(), *PALETTE]}
    pages = [p for p in static_dir().iterdir()
             if p.suffix in (".js", ".css", ".html") and not p.name.startswith("uPlot")]
    assert {"board.js", "charts.js", "segments.js", "segments.html"} <= {p.name for p in pages}
    for page in pages:
        text = page.read_text().lower()
        assert not {c for c in colours if c in text}, page.name


def test_segments_page_and_its_board_are_served(tmp_path: Path):
    async def check(client: TestClient) -> None:
        page = await client.get("/segments")
        html = await page.text()
        assert page.status == 200 and page.content_type == "text/html"
        for src in ("/static/charts.js", "/static/segments.js", "/palette.css"):
            assert src in html
            assert (await client.get(src)).status == 200, src
        board: dict[str, Any] = await (await client.get("/api/board/segments")).json()
        assert [v["name"] for v in board["variables"]] == ["dimension", "segment"]
        assert board["variables"][1]["promql"] == (
            'group by (segment) (segment:payment_transactions:increase1h{dimension="$dimension"})')
        grafana = json.loads((REPO / "grafana/dashboards/segments.json").read_text())
        assert [(p["title"], [q["expr"] for q in p["queries"]]) for p in board["panels"]] == [
            (p["title"], [t["expr"] for t in p["targets"]]) for p in grafana["panels"]]
        assert (await client.get("/api/board/overview")).status == 200
        missing = await client.get("/api/board/nothing")
        assert missing.status == 404 and (await missing.json())["error"] == "not_found"

    run(tmp_path / "alerts.jsonl", check)


def test_prometheus_pass_through_errors_are_json(tmp_path: Path):
    async def check(client: TestClient) -> None:
        answer = await client.get("/prometheus/api/v1/query?query=up")
        assert answer.status == 503
        assert (await answer.json())["error"] == "no_prometheus"

    run(tmp_path / "alerts.jsonl", check)

    async def unreachable(client: TestClient) -> None:
        answer = await client.get("/prometheus/api/v1/query?query=up")
        assert answer.status == 502
        assert (await answer.json())["error"] == "prometheus_unreachable"
        answer = await client.get("/prometheus/api/v1/admin/tsdb/delete_series")
        assert answer.status == 404  # only read-only endpoints are passed on

    run(tmp_path / "alerts.jsonl", unreachable, f"http://127.0.0.1:{free_port()}")


def test_prometheus_answer_is_passed_back_unchanged(tmp_path: Path):
    seen: list[dict[str, str]] = []

    async def fake_query_range(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        return web.json_response({"status": "success", "data": {"resultType": "matrix",
                                                                "result": []}})

    async def main() -> None:
        fake = web.Application()
        fake.router.add_get("/api/v1/query_range", fake_query_range)
        async with TestServer(fake, host="127.0.0.1") as prom:
            url = f"http://127.0.0.1:{prom.port}"

            async def check(client: TestClient) -> None:
                answer = await client.get("/prometheus/api/v1/query_range",
                                          params={"query": "up", "start": "1", "end": "2",
                                                  "step": "15"})
                assert answer.status == 200
                assert (await answer.json())["data"]["resultType"] == "matrix"

            app = build_app(tmp_path / "a.jsonl", out=io.StringIO(), prometheus_url=url)
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                await check(client)

    asyncio.run(main())
    assert seen == [{"query": "up", "start": "1", "end": "2", "step": "15"}]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"alerts": "x"}'])
def test_bad_webhook_is_400_and_stores_nothing(tmp_path: Path, body: bytes):
    log = tmp_path / "alerts.jsonl"

    async def check(client: TestClient) -> None:
        answer = await client.post("/webhook", data=body,
                                   headers={"Content-Type": "application/json"})
        assert answer.status == 400
        assert not log.exists() or log.read_text() == ""

    run(log, check)


def test_every_alerts_runbook_link_lands_on_a_heading_of_the_served_runbook(tmp_path: Path):
    import re

    import yaml
    rules = yaml.safe_load((REPO / "rules" / "alerts.yml").read_text())
    links = [r["annotations"]["runbook_url"] for g in rules["groups"] for r in g["rules"]
             if "alert" in r]

    async def check(client: TestClient) -> None:
        response = await client.get("/runbook")
        assert response.status == 200 and response.content_type == "text/html"
        ids = set(re.findall(r'<h[1-6] id="([^"]+)"', await response.text()))
        for link in links:
            base, _, anchor = link.partition("#")
            assert base == "http://localhost:9095/runbook", link
            assert anchor in ids, (anchor, sorted(ids))

    run(tmp_path / "alerts.jsonl", check)


def test_the_watchdog_is_printed_once_and_logged_every_time(tmp_path: Path):
    log, out = tmp_path / "alerts.jsonl", io.StringIO()
    watchdog = {"status": "firing", "labels": {"alertname": "Watchdog", "severity": "info"},
                "annotations": {"summary": "always firing"}}

    async def main() -> None:
        app = build_app(log, out=out, clock=lambda: 1000.0)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            for _ in range(3):
                payload = {"receiver": "deadmansswitch", "alerts": [watchdog]}
                assert (await client.post("/deadmansswitch", json=payload)).status == 200
            payload = {"receiver": "pager", "alerts": [ALERT]}
            assert (await client.post("/webhook", json=payload)).status == 200
    asyncio.run(main())
    printed = out.getvalue().splitlines()
    assert [line for line in printed if "Watchdog" in line] == printed[:1]
    assert any("PaymentRatioHighFast" in line for line in printed)
    assert len(read_log(log, 100)) == 4


def test_a_renotified_group_prints_only_what_changed_and_logs_everything(tmp_path: Path):
    """Alertmanager re-sends a group's every alert; the terminal shows only alerts that
    fired or resolved since that group's last notification, a resolved one without its
    stale firing text; the log keeps every alert of every notification."""
    log, out = tmp_path / "alerts.jsonl", io.StringIO()

    def alert(status: str, fingerprint: str, share: str, starts: str,
              ends: str = "0001-01-01T00:00:00Z") -> dict[str, Any]:
        return {"status": status, "fingerprint": fingerprint, "startsAt": starts,
                "endsAt": ends, "labels": {"alertname": "PaymentRatioHighFast",
                                           "severity": "critical", "status": fingerprint},
                "annotations": {"summary": f"{fingerprint} share {share}"}}

    failed = "2025-01-06T10:00:00.5Z"
    sent = [
        ("g1", [alert("firing", "failed", "0.72%", failed)]),
        ("g1", [alert("firing", "failed", "0.9%", failed),
                alert("firing", "denied", "15.9%", "2025-01-06T10:03:00Z")]),
        ("g1", [alert("resolved", "failed", "0.72%", failed, "2025-01-06T10:12:20Z"),
                alert("firing", "denied", "16.4%", "2025-01-06T10:03:00Z")]),
        ("g1", [alert("firing", "denied", "17.0%", "2025-01-06T10:03:00Z")]),
        ("g1", [alert("firing", "failed", "2.1%", "2025-01-06T11:00:00Z"),
                alert("firing", "denied", "17.2%", "2025-01-06T10:03:00Z")]),
        ("g2", [alert("firing", "denied", "17.2%", "2025-01-06T10:03:00Z")]),
    ]

    async def main() -> None:
        app = build_app(log, out=out, clock=lambda: 1000.0)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            for group, alerts in sent:
                payload = {"receiver": "pager", "groupKey": group, "alerts": alerts}
                assert (await client.post("/webhook", json=payload)).status == 200
    asyncio.run(main())
    printed = out.getvalue().splitlines()
    head = "[critical] PaymentRatioHighFast status="
    assert printed == [
        f"FIRING   {head}failed: failed share 0.72% (since 2025-01-06T10:00:00, via pager)",
        f"FIRING   {head}denied: denied share 15.9% (since 2025-01-06T10:03:00, via pager)",
        f"RESOLVED {head}failed: resolved after 12m (fired 2025-01-06T10:00:00 to "
        "2025-01-06T10:12:20, via pager)",
        f"FIRING   {head}failed: failed share 2.1% (since 2025-01-06T11:00:00, via pager)",
        f"FIRING   {head}denied: denied share 17.2% (since 2025-01-06T10:03:00, via pager)",
    ], printed
    logged = read_log(log, 100)
    assert len(logged) == sum(len(alerts) for _, alerts in sent) == 9
    assert [r["annotations"]["summary"] for r in logged[:2]] == ["denied share 17.2%"] * 2
