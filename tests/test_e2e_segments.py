"""One acquirer failing, end to end, real processes on loopback: exporter (run with
``--segment.dimensions=acquirer`` and a bound of five values) -> Prometheus (the shipped
rules, rendered) -> Alertmanager -> sink, and the sink's segments page in chromium.

A segment is judged against its own normal, learned from hours of its history; a test
cannot wait hours, so the history is backfilled first, as ``txwatch-replay backfill`` does
for a deployment: three hours of five acquirers ending 50 minutes ago, written as TSDB
blocks into the Prometheus data directory before Prometheus starts (the scraped series and
the segment records of ``txwatch.segments``, evaluated over the history by the backtest's
engine, and the data clock). Live pushes then go on from the history's next data minute,
one a second: a few ordinary minutes, then acq-04 failing every transaction. The page must
arrive naming the segment; a push adding a sixth acquirer must be refused whole (422,
naming record and field, no counter moved); and the board's drill-down of acq-04 must
draw its failed share above its own normal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import FAST_ROUTE_TIMING, samples
from tests.segment_history import (
    DIMENSION,
    FAILING,
    VOLUMES,
    clock_series,
    history_rows,
    recent_start,
    segmented_dataset,
)
from tests.test_local_board import STYLES, browser  # noqa: F401  (the chromium fixture)
from txwatch import contract
from txwatch.backtest.engine import evaluate_history
from txwatch.engines.blocks import backfill
from txwatch.history.scrape import scrape_series
from txwatch.rules import DEFAULT, write_rule_dir
from txwatch.rules.segments import SEGMENT_ALERT
from txwatch.stack.launcher import LocalStack, Ports
from txwatch.web.sink import read_log

pytestmark = pytest.mark.slow

MAX_VALUES = len(VOLUMES)  # every acquirer of the history, and not one more
HISTORY_HOURS, HISTORY_ENDS = 3, 50 * 60  # ... seconds before the test starts
ORDINARY, FAILING_PUSHES = 6, 40  # live data minutes: ordinary ones, then at most these


@dataclass
class SegmentedStack(LocalStack):
    """The local stack with an exporter that labels its counters per acquirer."""

    def exporter_command(self, port: int | None = None,
                         state: str = "exporter-state") -> list[str]:
        return [*super().exporter_command(port, state), f"--segment.dimensions={DIMENSION}",
                f"--segment.max-values={MAX_VALUES}"]


def segment_rule_file(rules: Path, out: Path) -> Path:
    """Only the segments' records (their counts, medians and normals): the ones the
    page's normal is learned from."""
    doc = yaml.safe_load((rules / "recording.yml").read_text())
    doc["groups"] = [g for g in doc["groups"] if g["name"] == "txwatch.segments"]
    out.write_text(yaml.safe_dump(doc))
    return out


def backfill_history(workdir: Path, rules: Path, end: float) -> datetime:
    """Write the history ending at ``end`` (seconds) into the stack's Prometheus data
    directory; return its first live data minute."""
    start, minutes = recent_start(HISTORY_HOURS, end)
    data = segmented_dataset(workdir / "history", start, minutes, failing_from=minutes)
    origin = start.timestamp()
    raw = list(scrape_series(data, 1, push_time_origin=origin))
    _firings, recorded, _ = evaluate_history(
        raw, minutes, [segment_rule_file(rules, workdir / "segments.yml")], all_rules=True)
    series = raw + [s for found in recorded.values() for s in found] + [clock_series(data)]
    backfill(series, workdir / "stack" / "prometheus-data", origin, 60.0, workdir)
    return start + timedelta(minutes=minutes)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[SegmentedStack, datetime]]:
    rules = tmp_path / "rules"
    write_rule_dir(rules, DEFAULT)  # the shipped rules, rendered
    live = backfill_history(tmp_path, rules, time.time() - HISTORY_ENDS)
    made = SegmentedStack(tmp_path / "stack", Ports.free(), scrape_interval="1s",
                          evaluation_interval="1s", route_timing=dict(FAST_ROUTE_TIMING),
                          prometheus_flags=["--rules.alert.resend-delay=2s"], rules=rules)
    try:
        yield made.start(), live
    finally:
        made.stop()


def push(stack: LocalStack, body: list[dict]) -> requests.Response:
    return requests.post(stack.url("exporter") + contract.TRANSACTIONS.path, json=body,
                         timeout=5)


def minute_body(at: datetime, failing: bool, seed: int) -> list[dict]:
    """One live data minute of every acquirer, acq-04 failing every transaction or not."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = history_rows(at, 1, failing_from=0 if failing else 1, seed=seed)
    return [{"timestamp": stamp, DIMENSION: name, "status": status, "count": n}
            for _at, name, counts in rows for status, n in counts.items()
            if n or status == "approved"]


def counters(stack: LocalStack) -> dict[tuple[tuple[str, str], ...], float]:
    text = requests.get(stack.url("exporter") + "/metrics", timeout=5).text
    return {tuple(sorted(s.labels.items())): s.value for s in samples(text)
            if s.name == contract.TRANSACTIONS.counter}


def segment_pages(stack: LocalStack) -> list[dict]:
    return [r for r in read_log(stack.sink_log, 1000)
            if r["labels"].get("alertname") == SEGMENT_ALERT and r["status"] == "firing"]


def check_bound(stack: LocalStack, at: datetime) -> None:
    """A sixth acquirer is past the bound: the whole push is refused, nothing counted."""
    before = counters(stack)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = push(stack, [
        {"timestamp": stamp, DIMENSION: "acq-01", "status": "approved", "count": 7},
        {"timestamp": stamp, DIMENSION: "acq-06", "status": "approved", "count": 3}])
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "invalid_record" and "nothing was applied" in body["message"]
    assert [(e["index"], e["field"], e["reason"]) for e in body["errors"]] == [
        (1, DIMENSION, f"too_many_{DIMENSION}_values")]
    assert "acq-06" in body["errors"][0]["message"]
    assert counters(stack) == before


def check_drill_down(stack: LocalStack, driver: webdriver.Chrome) -> None:
    """The segments page ranks acq-04's failures first; its drill-down draws them."""
    driver.get(stack.url("sink") + "/segments")
    wait = WebDriverWait(driver, 60, poll_frequency=0.5)
    first = wait.until(lambda d: d.find_elements(
        By.CSS_SELECTOR, "#table-0 tbody tr[data-segment]"))[0]
    assert (first.get_attribute("data-segment"), first.get_attribute("data-status")) == (
        FAILING, "failed")
    first.click()
    wait.until(lambda d: f"segment={FAILING}" in d.current_url)
    Select(driver.find_element(By.ID, "range")).select_by_value("900")  # the live minutes

    def share(d: webdriver.Chrome) -> dict | None:
        found = d.execute_script(STYLES, f"{FAILING} failed share")
        series = (found or {}).get("series", {})
        return series if {"share 5m", "normal"} <= set(series) and \
            series["share 5m"]["last"] > 0.5 else None

    series = wait.until(share)
    assert 0 < series["normal"]["last"] < 0.05  # its own normal, learned from the history
    assert wait.until(lambda d: d.execute_script(STYLES, f"{FAILING} excess over 15m"))
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_failing_acquirer_pages_by_segment_the_bound_holds_and_the_board_drills_down(
        stack: tuple[SegmentedStack, datetime], browser: webdriver.Chrome):  # noqa: F811
    running, at = stack
    normal = requests.get(running.url("prometheus") + "/api/v1/query", timeout=5, params={
        "query": f'segment_status:payment_transactions:ratio_normal{{segment="{FAILING}", '
                 'status="failed"}'}).json()["data"]["result"]
    assert normal, "no normal learned from the backfilled history"
    for i in range(ORDINARY):
        tick = time.monotonic()
        push(running, minute_body(at, False, seed=i)).raise_for_status()
        at += timedelta(minutes=1)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    check_bound(running, at)
    assert not segment_pages(running)
    began = time.time()
    for i in range(FAILING_PUSHES):
        tick = time.monotonic()
        push(running, minute_body(at, True, seed=100 + i)).raise_for_status()
        at += timedelta(minutes=1)
        if segment_pages(running):
            break
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    pages = segment_pages(running)
    assert pages, f"no {SEGMENT_ALERT}; sink has {read_log(running.sink_log, 1000)}"
    page = pages[-1]  # the first (newest first)
    assert page["received_at"] - began < 30
    assert page["labels"] == {"alertname": SEGMENT_ALERT, "job": contract.JOB,
                              "severity": "critical", "status": "failed",
                              "dimension": DIMENSION, "segment": FAILING,
                              "monitor": "txwatch"}, page["labels"]
    assert page["receiver"] == "pager"
    summary = page["annotations"]["summary"]
    assert summary.startswith(f"failed at {DIMENSION} {FAILING} well above its own normal: "), \
        summary
    assert f"{DIMENSION} {FAILING}" in page["annotations"]["description"]
    others = {r["labels"]["segment"] for r in segment_pages(running)}
    assert others == {FAILING}  # the other acquirers stayed on their normal
    check_drill_down(running, browser)
