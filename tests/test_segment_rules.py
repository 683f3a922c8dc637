"""The segment rules (rules/segments.py): rendered for a deployment's dimensions, derived
strictness, scored per segment by the backtest, and fed per segment by the scrape model."""

from __future__ import annotations

import subprocess
import sys
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import require_binary
from txwatch import contract
from txwatch.backtest.incidents import Incident
from txwatch.backtest.scoring import Episode, score
from txwatch.history.dataset import load_dataset
from txwatch.history.scrape import scrape_series
from txwatch.resources import rules_dir
from txwatch.rules import render_alerts, render_recording
from txwatch.rules.segments import PAYMENTS, SEGMENT_ALERT
from txwatch.rules.settings import DEFAULT, Settings


def _groups(text: str) -> dict[str, list[dict]]:
    return {g["name"]: g["rules"] for g in yaml.safe_load(text)["groups"]}


def test_without_dimensions_the_flows_rules_are_exactly_the_shipped_ones():
    """Segments add groups and change nothing of the flow's: a deployment without
    dimensions gets today's rules, group for group."""
    bare = Settings(segment_dimensions=())
    for render in (render_alerts, render_recording):
        shipped, plain = _groups(render(DEFAULT)), _groups(render(bare))
        assert not any("segment" in name for name in plain)
        assert {n: r for n, r in shipped.items() if "segment" not in n} == plain
    assert PAYMENTS in _groups(render_alerts(DEFAULT))


def test_cli_renders_the_dimensions_named_and_refuses_a_reserved_one(tmp_path):
    require_binary("promtool")
    out = tmp_path / "rules"
    done = subprocess.run([sys.executable, "-m", "txwatch.rules", "--segment-dimensions",
                           "acquirer,region", "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    alerts = (out / "alerts.yml").read_text()
    assert 'region!=""' in alerts and 'acquirer!=""' in alerts and 'brand!=""' not in alerts
    assert "--segment-dimensions acquirer,region" in alerts  # the header says how to redo it
    (out / "thresholds.yml").write_text((rules_dir() / "thresholds.yml").read_text())
    check = subprocess.run(["promtool", "check", "rules", *map(str, sorted(out.glob("*.yml")))],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    bad = subprocess.run([sys.executable, "-m", "txwatch.rules", "--segment-dimensions",
                          "acquirer,status", "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "'status' clashes" in bad.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("judged", [1, 10, 100, 1000])
def test_segment_page_shares_the_flow_pages_tail_among_the_segments(judged):
    """The segment page's z is derived, not fitted: the flow page's one-sided tail divided
    by the segments judged; one segment is the flow's own z."""
    s = Settings(segments_judged=judged)
    tail = 1 - NormalDist().cdf(s.rise.z)
    assert s.segment_rise.z == pytest.approx(NormalDist().inv_cdf(1 - tail / judged), abs=0.005)
    rendered = render_alerts(s)
    page = next(r for r in _groups(rendered)[PAYMENTS] if r.get("alert") == SEGMENT_ALERT)
    assert f"> {s.segment_rise.z:g}" in page["expr"]


def _episode(segment: str, start: int, status: str = "failed") -> Episode:
    return Episode(SEGMENT_ALERT, {"severity": "critical", "status": status,
                                   "dimension": "acquirer", "segment": segment}, start, start + 9)


def test_a_page_about_another_segment_neither_catches_nor_hides_as_caught():
    origin = pd.Timestamp("2025-01-06")
    incident = Incident(origin + pd.Timedelta(minutes=100), origin + pd.Timedelta(minutes=110),
                        "acquirer_failing", ("failed",), ("acquirer=acq-04",))
    elsewhere = score([_episode("acq-09", 101)], [incident], origin, 1440)
    assert elsewhere.caught == 0 and elsewhere.false_critical == 1
    named = score([_episode("acq-09", 101), _episode("acq-04", 103)], [incident], origin, 1440)
    found = named.per_incident[next(iter(named.per_incident))]
    assert named.caught == 1 and found["named_delay"] == 3 and named.false_critical == 1
    flow = Episode("PaymentRatioHighFast", {"severity": "critical", "status": "failed"}, 102, 110)
    unnamed = score([flow], [incident], origin, 1440)
    found = unnamed.per_incident[next(iter(unnamed.per_incident))]
    assert unnamed.caught == 1 and found["named_delay"] is None


def test_scrape_exposes_each_segment_as_its_labelled_series(tmp_path):
    """What the backtest stores is what an exporter with the history's dimensions exposes:
    one series set per segment, the default segment unlabelled, summing to the flow."""
    rows = [("2025-01-06 00:00", "acq-1", "approved", 5), ("2025-01-06 00:00", "", "failed", 2),
            ("2025-01-06 00:01", "acq-2", "approved", 7), ("2025-01-06 00:01", "acq-1",
                                                            "failed", 1)]
    path = tmp_path / "tx.csv"
    path.write_text("timestamp,acquirer,status,count\n"
                    + "".join(f"{t},{a},{s},{c}\n" for t, a, s, c in rows))
    data = load_dataset([path], contract.STATUSES, contract.AUTH_CODES)
    counters = [s for s in scrape_series(data) if s.name == contract.TRANSACTIONS.counter]
    by_segment = {(s.labels.get("acquirer", ""), s.labels["status"]): s.values[-1]
                  for s in counters}
    assert by_segment[("acq-1", "approved")] == 5 and by_segment[("acq-1", "failed")] == 1
    assert by_segment[("", "failed")] == 2 and by_segment[("acq-2", "approved")] == 7
    total = sum(s.values for s in counters)
    assert np.array_equal(total, data.transactions.sum(axis=1).cumsum().to_numpy())
