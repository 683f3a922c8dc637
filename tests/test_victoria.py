"""The same rules on VictoriaMetrics and on Prometheus, side by side, with real binaries.

Three exporter replicas take the traffic; vmagent -> victoria-metrics -> vmalert (flags from
the shipped ``prometheus/victoriametrics.yml``) and a Prometheus scraping the same replicas
each alert their own Alertmanager and sink. Scrape and evaluation every 1 s, Alertmanager
waits of 1 s, ``keep_firing_for`` 5 s for Prometheus (vmalert 1.79 has none); every other
flag is the shipped one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import FAST_ROUTE_TIMING
from txwatch.engines.procs import need
from txwatch.rules import Settings, write_rule_dir
from txwatch.stack.launcher import LocalStack, Ports
from txwatch.stack.victoria import VictoriaStack
from txwatch.web.sink import read_log

pytestmark = pytest.mark.slow
TX = "/api/v1/transactions"
WEIGHTS = (1, 2, 3)  # the replicas take uneven shares of every minute's traffic
PAGES = ("PaymentRatioHighFast", "PaymentRatioHighSlow", "PaymentAuthCodeShareHigh")


class Engines:
    """Both stacks on the same replicas, and what the test pushed to them."""

    def __init__(self, vm: VictoriaStack, prom: LocalStack) -> None:
        self.vm, self.prom = vm, prom
        self.pushed: dict[str, int] = {}
        self.down: set[int] = set()

    def push(self, approved: int, failed: int = 0) -> None:
        """One tick of traffic, split across the live replicas by WEIGHTS."""
        for i, url in enumerate(self.vm.exporter_urls):
            if i in self.down:
                continue
            body = [{"status": "approved", "count": approved * WEIGHTS[i]}]
            if failed:
                body.append({"status": "failed", "count": failed * WEIGHTS[i]})
            requests.post(url + TX, json=body, timeout=5).raise_for_status()
            for row in body:
                self.pushed[row["status"]] = self.pushed.get(row["status"], 0) + row["count"]

    def rows(self, engine: str) -> list[dict]:
        stack = self.vm.base if engine == "vmalert" else self.prom
        return read_log(stack.sink_log, 10_000)

    def firing(self, engine: str, alertname: str, **labels: str) -> list[dict]:
        return [r for r in self.rows(engine) if r["status"] == "firing"
                and r["labels"].get("alertname") == alertname
                and all(r["labels"].get(k) == v for k, v in labels.items())]

    def pages(self, engine: str) -> list[dict]:
        return [r for r in self.rows(engine) if r["status"] == "firing"
                and r["labels"].get("alertname") in PAGES]

    def traffic_until(self, done: Callable[[], bool], seconds: float, approved: int,
                      failed: int = 0) -> None:
        deadline = time.monotonic() + seconds
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; vmalert sink {self.rows('vmalert')}, "
                                     f"Prometheus sink {self.rows('prometheus')}")
            self.push(approved, failed)
            time.sleep(1.0)

    def sums(self, engine: str) -> dict[str, float]:
        base = self.vm.url("victoria-metrics") if engine == "vmalert" else \
            self.prom.url("prometheus")
        body = requests.get(base + "/api/v1/query", timeout=5, params={
            "query": 'sum by (status) (payment_transactions_total{job="txwatch"})'}).json()
        return {r["metric"]["status"]: float(r["value"][1]) for r in body["data"]["result"]}


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Engines]:
    for binary in ("victoria-metrics", "vmagent", "vmalert"):
        need(binary)  # scripts/setup installs Debian's victoria-metrics
    rules = tmp_path / "rules"
    write_rule_dir(rules, Settings(keep_firing_for="5s", keep_fast_firing_for="5s",
                                   keep_slow_firing_for="5s"))
    timing = {"scrape_interval": "1s", "evaluation_interval": "1s",
              "route_timing": dict(FAST_ROUTE_TIMING), "rules": rules}
    vm = VictoriaStack(LocalStack(tmp_path / "vm", Ports.free(), **timing))
    prom: LocalStack | None = None
    try:
        vm.start()
        # Free ports chosen once the VictoriaMetrics stack holds its own: its replicas and
        # engines bind ports at start, which a set chosen before could collide with (seen
        # once in CI: Alertmanager's port already in use).
        prom = LocalStack(tmp_path / "prom", Ports.free(), **timing,
                          prometheus_flags=["--rules.alert.resend-delay=2s"])
        prom.exporters = vm.targets
        prom.start()
        yield Engines(vm, prom)
    finally:
        if prom is not None:
            prom.stop()
        vm.stop()


def _settle(engines: Engines, seconds: float, approved: int = 40) -> None:
    for _ in range(int(seconds)):
        engines.push(approved)
        time.sleep(1.0)


def test_victoria_and_prometheus_page_once_each_and_agree_on_sums(engines: Engines) -> None:
    _settle(engines, 25)  # start-up: no engine may page on normal traffic
    assert engines.pages("vmalert") == [] and engines.pages("prometheus") == []

    both = ("vmalert", "prometheus")
    engines.traffic_until(lambda: all(engines.firing(e, "PaymentRatioHighFast",
                                                     status="failed") for e in both),
                          120, approved=40, failed=10)
    for _ in range(8):  # the incident goes on: still one page each
        engines.push(40, 10)
        time.sleep(1.0)
    vm_page, = engines.firing("vmalert", "PaymentRatioHighFast", status="failed")
    prom_page, = engines.firing("prometheus", "PaymentRatioHighFast", status="failed")
    assert vm_page["labels"] == prom_page["labels"]  # no alertgroup label: dedupable
    assert abs(vm_page["received_at"] - prom_page["received_at"]) <= 30, (vm_page, prom_page)
    assert vm_page["annotations"]["summary"].startswith("failed share ")
    assert "of" in vm_page["annotations"]["summary"]  # vmalert rendered the query templates
    assert vm_page["generator_url"].startswith(engines.vm.url("victoria-metrics") + "/vmui/")
    # The board reads through the sink: alerts (proxied to vmalert) and shares from VM.
    board = engines.vm.url("sink") + "/prometheus/api/v1/"
    firing = requests.get(board + "alerts", timeout=5).json()["data"]["alerts"]
    assert {"alertname": "PaymentRatioHighFast", "status": "failed"}.items() <= \
        firing_labels(firing).items()
    share = requests.get(board + "query", timeout=5, params={
        "query": 'status:payment_transactions:ratio_rate5m{status="failed"}'}).json()
    assert 0.005 < float(share["data"]["result"][0]["value"][1]) <= 1.0, share  # normal 0.1%

    # Recovery, then a full outage of every replica and a restart from their journals:
    # the counters come back where they were, and neither engine may page for a share.
    engines.traffic_until(lambda: not _active(engines), 120, approved=20_000)
    before = {e: len(engines.pages(e)) for e in both}
    for name in engines.vm.exporter_names:
        engines.vm.base.kill(name, hard=True)
    time.sleep(10)
    for name in engines.vm.exporter_names:
        engines.vm.base.restart(name)
    _settle(engines, 25)
    assert {e: len(engines.pages(e)) for e in both} == before, \
        {e: engines.pages(e)[before[e]:] for e in both}

    time.sleep(8)  # scrapes after the last push, past VictoriaMetrics' latencyOffset (5s)
    for engine in both:
        assert engines.sums(engine) == pytest.approx(
            {**{s: 0 for s in engines.sums(engine)}, **engines.pushed}), engine


def firing_labels(alerts: list[dict]) -> dict[str, str]:
    """Labels of the first firing payment share alert in an /api/v1/alerts list."""
    found = [a["labels"] for a in alerts
             if a.get("state") == "firing" and a["labels"]["alertname"] in PAGES]
    return found[0] if found else {}


def _active(engines: Engines) -> bool:
    """True while either engine still has a payment share alert firing."""
    vm = requests.get(engines.vm.url("victoria-metrics") + "/api/v1/alerts", timeout=5).json()
    prom = requests.get(engines.prom.url("prometheus") + "/api/v1/alerts", timeout=5).json()
    names = [a["labels"]["alertname"] for doc in (vm, prom) for a in doc["data"]["alerts"]
             if a.get("state") == "firing"]
    return any(name in PAGES for name in names)


def test_one_replica_down_pages_about_itself_and_an_incident_still_pages(
        engines: Engines) -> None:
    _settle(engines, 10)
    lost = engines.vm.exporter_names[1]
    engines.vm.base.kill(lost, hard=True)
    engines.down.add(1)  # a load balancer stops sending to it
    instance = engines.vm.targets[1]
    both = ("vmalert", "prometheus")
    engines.traffic_until(lambda: all(engines.firing(e, "PaymentExporterDown",
                                                     instance=instance) for e in both),
                          150, approved=40)
    engines.traffic_until(lambda: all(engines.firing(e, "PaymentRatioHighFast",
                                                     status="failed") for e in both),
                          120, approved=40, failed=10)
    for engine in both:
        down = engines.firing(engine, "PaymentExporterDown")
        assert [r["labels"]["instance"] for r in down] == [instance], engine
        assert not engines.firing(engine, "PaymentExportersAllDown"), engine
