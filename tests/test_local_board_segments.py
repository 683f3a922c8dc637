"""The local board's segments page in a real browser (Debian's chromium through Selenium):
the ranking, the segment pages firing and the coverage tables against a Prometheus holding
four recent hours of five acquirers (one failing for its last half hour, one too small to
be judged), and a click on the first ranking row opening that segment's own panels."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import REPO
from tests.segment_history import (
    FAILING,
    VOLUMES,
    prometheus_holding,
    recent_start,
    segmented_dataset,
)
from tests.test_local_board import STYLES, browser  # noqa: F401  (the chromium fixture)
from txwatch.engines.procs import free_port, stop_process, wait_ready
from txwatch.web.segments import judged_statuses, segments

pytestmark = pytest.mark.slow

SMALL = "acq-05"
RANKING = "table-0"  # the board's first panel
FIRING, COVERAGE = "table-1", "table-2"


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[str]:
    """The sink (the local board's server) over a Prometheus holding the history."""
    start, minutes = recent_start(4, time.time())
    data = segmented_dataset(tmp_path / "history", start, minutes, minutes - 30)
    with prometheus_holding(data, REPO / "rules", tmp_path) as prom:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "txwatch.web.sink", f"--web.listen-address=127.0.0.1:{port}",
             f"--log.file={tmp_path / 'alerts.jsonl'}", f"--prometheus.url={prom.url}"],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_ready(f"http://127.0.0.1:{port}/-/healthy", proc, "sink", 20)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(proc)


def rows(d: webdriver.Chrome, table: str) -> list[WebElement]:
    return d.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr[data-segment]")


def drawn(d: webdriver.Chrome, title: str) -> dict | None:
    return d.execute_script(STYLES, title)


def test_segments_page_ranks_covers_and_opens_one_segment(sink: str,
                                                           browser: webdriver.Chrome):  # noqa: F811
    api = requests.get(sink + "/api/board/segments", timeout=5).json()
    assert [p["title"] for p in api["panels"]] == [p.title for p in segments().panels]
    assert requests.get(sink + "/api/board/nothing", timeout=5).status_code == 404

    browser.get(sink + "/segments")
    wait = WebDriverWait(browser, 60, poll_frequency=0.5)
    ranked = wait.until(lambda d: rows(d, RANKING))
    first = ranked[0]
    assert (first.get_attribute("data-segment"), first.get_attribute("data-status")) == (
        FAILING, "failed")
    cells = [c.text for c in first.find_elements(By.TAG_NAME, "td")]
    assert cells[:3] == ["acquirer", FAILING, "failed"]
    # excess over 15m: ~15 failures a minute where its normal implies ~0.06 (how many
    # failing minutes the window holds depends on when the page is drawn), share 15m
    assert float(cells[3]) > 100 and cells[4] == "100.00%", cells
    assert {r.get_attribute("data-status") for r in ranked} <= set(judged_statuses())
    assert SMALL not in {r.get_attribute("data-segment") for r in ranked}
    firing = wait.until(lambda d: rows(d, FIRING))
    assert [(r.get_attribute("data-segment"), r.get_attribute("data-status"))
            for r in firing] == [(FAILING, "failed")]
    covered = {r.get_attribute("data-segment"): r.find_elements(By.TAG_NAME, "td")[2].text
               for r in wait.until(lambda d: rows(d, COVERAGE))}
    assert set(covered) == set(VOLUMES)
    assert covered[SMALL].startswith("flow only") and covered[FAILING].startswith("judged")
    assert wait.until(lambda d: drawn(d, "Segments judged over time"))
    assert browser.find_element(By.ID, "pick").is_displayed()
    assert not browser.find_elements(By.CSS_SELECTOR, "#drill-charts .panel")

    first.click()  # the row opens its segment, as Grafana's data link does
    wait.until(lambda d: d.current_url.endswith(f"/segments?dimension=acquirer&segment="
                                                f"{FAILING}#drill"))
    share = wait.until(lambda d: (found := drawn(d, f"{FAILING} failed share")) and {
        "share 5m", "share 15m", "normal", "material above"} <= set(found["series"]) and found)
    series = share["series"]
    assert series["share 5m"]["last"] == series["share 15m"]["last"] == 1.0
    assert 0 < series["normal"]["last"] < series["material above"]["last"] < 0.05
    excess = wait.until(lambda d: drawn(d, f"{FAILING} excess over 15m"))
    assert excess["series"]["failed"]["last"] > 200
    volume = wait.until(lambda d: drawn(d, f"{FAILING} transactions per minute by status"))
    assert "failed" in volume["series"]
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#drill-charts .panel h3")]
    assert len(titles) == 2 + len(judged_statuses()) and all(FAILING in t for t in titles)
    assert not browser.find_element(By.ID, "pick").is_displayed()
    chosen = [browser.find_element(By.ID, f"var-{n}").get_attribute("value")
              for n in ("dimension", "segment")]
    assert chosen == ["acquirer", FAILING]
    assert "update failed" not in browser.find_element(By.ID, "updated").text
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
