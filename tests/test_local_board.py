"""The local board in a real browser: Debian's chromium driven by Selenium through Debian's
chromedriver (no browser download), against the fast stack replaying data minutes of
2024-03-01 with an incident and a decline code no list names.

``python scripts/generate.py --pictures`` regenerates the screenshot of docs/board.png (it
runs this test with ``TXWATCH_BOARD_PNG=docs/board.png``)."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import require_binary
from txwatch import contract
from txwatch.rules import Settings, write_rule_dir
from txwatch.stack.launcher import LocalStack
from txwatch.web.palette import CSS, PALETTE
from txwatch.web.panels import FAST, SLOW, WARM_UP, overview

pytestmark = pytest.mark.slow

# Data minutes stamped from this data time, one a real second: far from the wall clock, so
# an axis in wall time cannot pass for data time. Failed is 20% from data minute 20 on.
DATA_START = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
INCIDENT_MINUTE = 20
# Each data minute's auth codes: 91 is in neither the contract's list nor the table
CODES = {contract.APPROVED_AUTH_CODE: 150, "51": 6, "91": 8}
CODE_PANEL = "Top decline codes, share of all auth codes"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1400,1800")
# Set to a path (docs/board.png) to keep the screenshot the test takes: the documented way
# to regenerate docs/board.png.
SCREENSHOT = os.environ.get("TXWATCH_BOARD_PNG")
# The drawn style of each series of a panel (the uPlot chart's own options), the data-time
# range of its x scale and its legend markers' colours
STYLES = """const u = plots.get(arguments[0]); if (!u) return null;
const markers = [...u.root.querySelectorAll(".u-legend .u-series")].map((row) => [
  row.querySelector(".u-label").textContent,
  getComputedStyle(row.querySelector(".u-marker")).borderColor]);
return {x: [u.scales.x.min, u.scales.x.max], markers: Object.fromEntries(markers),
  series: Object.fromEntries(u.series.slice(1).map((s, i) => [s.label, {
    stroke: typeof s.stroke === "function" ? s.stroke(u, i + 1) : s.stroke,
    dash: s.dash || [], width: s.width, last: u.data[i + 1].filter((v) => v != null).pop()}]))};"""
# The firing list's background when empty and with a critical alert (the page's own CSS)
EMPTY_STATE = """showFiring([]); const quiet = getComputedStyle(
  document.querySelector("#firing li")).backgroundColor;
showFiring([{alertname: "X", severity: "critical", status: "failed"}]);
const critical = getComputedStyle(document.querySelector("#firing li")).backgroundColor;
return [quiet, critical];"""
# A critical alert's severity label, coloured by the page's CSS with the palette's dark red
CRITICAL_SEVERITY = """showFiring([{alertname: "X", severity: "critical", status: "failed"}]);
return getComputedStyle(document.querySelector("#firing li .sev")).color;"""


def rgb(colour: str) -> str:
    """A palette hex colour as the browser computes it."""
    return "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (1, 3, 5)))


def replay(exporter: str, done: threading.Event) -> None:
    """A data minute a real second: quiet traffic, then failed at 20% of 200 a minute."""
    minute = 0
    while not done.wait(1.0):
        stamp = datetime.fromtimestamp(DATA_START + 60 * minute, UTC).isoformat()
        failed = 50 if minute >= INCIDENT_MINUTE else int(minute % 5 == 0)
        counts = {"approved": 185 - failed, "denied": 15, "failed": failed}
        try:
            for path, label, rows in ((contract.TRANSACTIONS.path, "status", counts),
                                      (contract.AUTH_CODE_COUNTS.path, "auth_code", CODES)):
                requests.post(exporter + path, timeout=5, json=[
                    {"timestamp": stamp, label: key, "count": n} for key, n in rows.items()]
                    ).raise_for_status()
        except requests.RequestException:
            return
        minute += 1


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = require_binary("chromium")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=Service(executable_path=require_binary("chromedriver")))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def firing(stack: LocalStack) -> set[str]:
    alerts = requests.get(stack.url("prometheus") + "/api/v1/alerts", timeout=5).json()
    return {a["labels"]["alertname"] for a in alerts["data"]["alerts"]
            if a["state"] == "firing"}


def prom_value(stack: LocalStack, query: str) -> float | None:
    found = requests.get(stack.url("prometheus") + "/api/v1/query", params={"query": query},
                         timeout=5).json()["data"]["result"]
    return float(found[0]["value"][1]) if found else None


def panel_by_title(d: webdriver.Chrome, title: str) -> WebElement | None:
    for panel in d.find_elements(By.CSS_SELECTOR, ".panel"):
        if panel.find_element(By.TAG_NAME, "h3").text == title:
            return panel
    return None


def check_warm_up_board(stack: LocalStack, browser: webdriver.Chrome) -> None:
    """Before a normal is learned: the warm-up normal, distinct limits, data time."""
    def drawn(d: webdriver.Chrome) -> dict | None:
        found = d.execute_script(STYLES, "failed share")
        return found if found and {"normal (warm-up)", "fast limit", "slow limit"} <= set(
            found["series"]) else None

    chart = WebDriverWait(browser, 60, poll_frequency=0.5).until(drawn)
    series = chart["series"]
    assert prom_value(stack, 'max(status:payment_transactions:ratio_normal{status="failed"})') \
        is None and "normal" not in series  # nothing learned yet: the table's is drawn
    assert series["normal (warm-up)"]["last"] == pytest.approx(prom_value(
        stack, 'max(threshold:payment_transactions:ratio_normal{status="failed"})'))
    assert series["normal (warm-up)"]["stroke"] == CSS[str(WARM_UP.colour)]
    fast, slow = series["fast limit"], series["slow limit"]
    assert (fast["stroke"], slow["stroke"]) == (CSS[str(FAST.colour)], CSS[str(SLOW.colour)])
    assert fast["stroke"] != slow["stroke"] and fast["dash"] != slow["dash"]
    assert fast["dash"] and slow["dash"]
    assert chart["markers"]["fast limit"] != chart["markers"]["slow limit"]
    # the axis is data time: 2024-03-01, the minutes pushed, not the wall clock
    newest = prom_value(stack, f"max({contract.LAST_MINUTE_TIMESTAMP})")
    assert newest is not None
    low, high = chart["x"]
    assert DATA_START <= low < high <= newest < DATA_START + 86400
    assert abs(time.time() - high) > 30 * 86400
    ticks = panel_by_title(browser, "failed share").get_attribute("data-xticks").split("|")
    assert ticks[0].startswith("2024-03-01 ") and all(re.fullmatch(r"[\d: -]+", t)
                                                      for t in ticks), ticks
    assert re.search(r"newest data minute 2024-03-01 \d\d:\d\d",
                     browser.find_element(By.ID, "clock").text)
    quiet, critical = (tuple(map(int, re.findall(r"\d+", c)))
                       for c in browser.execute_script(EMPTY_STATE))
    assert max(quiet) - min(quiet) < 16 and quiet != critical  # grey, not the alarm's red
    assert browser.execute_script(CRITICAL_SEVERITY) == rgb(CSS["dark-red"])


def test_board_draws_data_time_the_warm_up_normal_distinct_limits_and_the_incident(
        fast_stack: Callable[..., LocalStack], browser: webdriver.Chrome, tmp_path: Path):
    done = threading.Event()
    rules = tmp_path / "rules"  # the shipped rules, a new code watched from the next 5 s edge
    write_rule_dir(rules, Settings(code_watch_step="5s"))
    with fast_stack(rules=rules) as stack:
        pusher = threading.Thread(target=replay, args=(stack.url("exporter"), done),
                                  daemon=True)
        pusher.start()
        try:
            browser.get(stack.url("sink") + "/")
            check_warm_up_board(stack, browser)
            WebDriverWait(None, 120, poll_frequency=1).until(
                lambda _: "PaymentRatioHighFast" in firing(stack))
            wait = WebDriverWait(browser, 60, poll_frequency=0.5)
            item = wait.until(lambda d: d.find_elements(
                By.CSS_SELECTOR, '#firing li[data-alert="PaymentRatioHighFast"]'))[0]
            assert "critical" in item.text.lower() and "failed" in item.text
            wait.until(lambda d: "PaymentRatioHighFast" in d.find_element(
                By.ID, "messages").text)

            def code_panel_drawn(d: webdriver.Chrome) -> str | None:
                panel = panel_by_title(d, CODE_PANEL)
                if panel is None or not panel.find_elements(By.TAG_NAME, "canvas"):
                    return None
                labels = {e.text for e in panel.find_elements(By.CSS_SELECTOR,
                                                              ".u-legend .u-label")}
                return panel.get_attribute("data-series") if {
                    "91", "91 limit", "51", "51 limit"} <= labels else None

            # the unlisted code is drawn with its limit (the table's default row), 00 is not
            assert int(wait.until(code_panel_drawn)) == 4
            panels = browser.find_elements(By.CSS_SELECTOR, ".panel h3")
            timeseries = [p for p in overview().panels if p.kind == "timeseries"]
            assert [p.text for p in panels] == [p.title for p in timeseries]
            assert len(panels) == 10  # every time-series panel of the overview board
            # the 10-minute window is not full yet (a few real minutes): no line climbs from 0
            assert prom_value(stack, 'sum(status:payment_transactions:increase10m'
                                     '{status="approved"})')
            approved = panel_by_title(browser, "Approved volume vs its recent level")
            assert approved.get_attribute("data-series") == "0", approved.text
            # the push age has its own panel and axis, off the records' rates
            records = browser.execute_script(STYLES, "Exporter records")
            age = browser.execute_script(STYLES, "Last push age")
            assert all(n.startswith(("accepted/s", "rejected/s")) for n in records["series"])
            assert set(age["series"]) == {"last push age"} and "accepted/s" in records["series"]
            # a series with no named colour: the palette's, in order
            assert records["series"]["accepted/s"]["stroke"] == PALETTE[0]
            assert "update failed" not in browser.find_element(By.ID, "updated").text
            browser.save_screenshot(str(tmp_path / "board.png"))
            if SCREENSHOT:
                shutil.copyfile(tmp_path / "board.png", SCREENSHOT)
            errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, errors
        finally:
            done.set()
            pusher.join(10)
