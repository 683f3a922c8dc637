"""The local board in a real browser: Debian's chromium driven by Selenium through Debian's
chromedriver (no browser download), against the fast stack with an injected incident and
a decline code no list names."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import require_binary
from txwatch import contract
from txwatch.rules import Settings, write_rule_dir
from txwatch.stack.inject import inject
from txwatch.stack.launcher import LocalStack
from txwatch.stack.panels import overview

pytestmark = pytest.mark.slow

# Each data minute's auth codes: 91 is in neither the contract's list nor the table
CODES = {contract.APPROVED_AUTH_CODE: 150, "51": 6, "91": 8}
CODE_PANEL = "Top decline codes, share of all auth codes"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1400,1800")


class Stop(Exception):
    """Ends the injection when the test is done."""


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


def test_board_shows_the_injected_incident_with_charts_and_no_console_error(
        fast_stack: Callable[..., LocalStack], browser: webdriver.Chrome, tmp_path: Path):
    done = threading.Event()

    def incident(stack: LocalStack) -> None:
        def sleep(seconds: float) -> None:  # between data minutes: push the minute's codes
            requests.post(stack.url("exporter") + contract.AUTH_CODE_COUNTS.path, timeout=5,
                          json=[{"auth_code": code, "count": n} for code, n in CODES.items()]
                          ).raise_for_status()
            if done.wait(seconds):
                raise Stop

        try:  # failed at 20% of 200 a minute, one data minute per second
            inject(stack.url("exporter"), "failed", 0.2, 120, 60.0, 200, say=lambda _: None,
                   sleep=sleep)
        except (Stop, requests.RequestException):
            pass

    rules = tmp_path / "rules"  # the shipped rules, a new code watched from the next 5 s edge
    write_rule_dir(rules, Settings(code_watch_step="5s"))
    with fast_stack(rules=rules) as stack:
        pusher = threading.Thread(target=incident, args=(stack,), daemon=True)
        pusher.start()
        try:
            WebDriverWait(None, 90, poll_frequency=1).until(
                lambda _: "PaymentRatioHighFast" in firing(stack))
            browser.get(stack.url("sink") + "/")
            wait = WebDriverWait(browser, 60, poll_frequency=0.5)
            item = wait.until(lambda d: d.find_elements(
                By.CSS_SELECTOR, '#firing li[data-alert="PaymentRatioHighFast"]'))[0]
            assert "critical" in item.text.lower() and "failed" in item.text
            wait.until(lambda d: "PaymentRatioHighFast" in d.find_element(
                By.ID, "messages").text)

            def share_panel_drawn(d: webdriver.Chrome) -> bool:
                for panel in d.find_elements(By.CSS_SELECTOR, ".panel"):
                    if panel.find_element(By.TAG_NAME, "h3").text == "failed share":
                        return int(panel.get_attribute("data-series") or 0) >= 3 and \
                            bool(panel.find_elements(By.TAG_NAME, "canvas"))
                return False

            wait.until(share_panel_drawn)

            def code_panel_drawn(d: webdriver.Chrome) -> str | None:
                for panel in d.find_elements(By.CSS_SELECTOR, ".panel"):
                    if panel.find_element(By.TAG_NAME, "h3").text == CODE_PANEL and \
                            panel.find_elements(By.TAG_NAME, "canvas"):
                        labels = {e.text for e in panel.find_elements(By.CSS_SELECTOR,
                                                                      ".u-legend .u-label")}
                        return panel.get_attribute("data-series") if {
                            "91", "91 limit", "51", "51 limit"} <= labels else None
                return None

            # the unlisted code is drawn with its limit (the table's default row), 00 is not
            assert int(wait.until(code_panel_drawn)) == 4
            panels = browser.find_elements(By.CSS_SELECTOR, ".panel h3")
            timeseries = [p for p in overview().panels if p.kind == "timeseries"]
            assert [p.text for p in panels] == [p.title for p in timeseries]
            assert len(panels) == 9  # every time-series panel of the overview board
            assert "update failed" not in browser.find_element(By.ID, "updated").text
            browser.save_screenshot(str(tmp_path / "board.png"))
            errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, errors
        finally:
            done.set()
            pusher.join(10)
