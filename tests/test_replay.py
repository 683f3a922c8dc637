"""Replay: push order and restarts, generated data, backfill vs live scrape, backtests."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import requests

from tests.conftest import REPO, metric_value, shared_data_or_skip
from txwatch import contract
from txwatch.backtest.run import run
from txwatch.backtest.scoring import load_incidents
from txwatch.engines.server import ThrowawayPrometheus
from txwatch.exporter.config import Config
from txwatch.history.dataset import load_dataset
from txwatch.history.generate import KINDS, generate, write
from txwatch.replay.backfill import backfill_dataset
from txwatch.replay.push import batches, push, replica_for

STATUS_CSV = ("timestamp,status,count\n"  # sorted by status, like the data set
              "2025-07-12 13:46:00,approved,7\n2025-07-12 13:45:00,approved,5\n"
              "2025-07-12 13:47:00,approved,9\n2025-07-12 13:45:00,failed,1\n"
              "2025-07-12 13:47:00,failed,2\n")
CODES_CSV = "timestamp,auth_code,count\n2025-07-12 13:46:00,00,7\n2025-07-12 13:45:00,00,5\n"


@pytest.fixture
def csvs(tmp_path):
    tx, codes = tmp_path / "tx.csv", tmp_path / "codes.csv"
    tx.write_text(STATUS_CSV)
    codes.write_text(CODES_CSV)
    return [str(tx), str(codes)]


def test_batches_are_in_time_order_one_per_minute_and_kind(csvs):
    grouped = batches(csvs)
    assert [g[0].minute.strftime("%H:%M") for g in grouped] == ["13:45", "13:46", "13:47"]
    assert [len(g) for g in grouped] == [2, 2, 1]
    first = {b.label: b for b in grouped[0]}
    assert first["status"].body.splitlines() == [
        "timestamp,status,count", "2025-07-12 13:45:00,approved,5",
        "2025-07-12 13:45:00,failed,1"]
    assert first["status"].key == batches(csvs)[0][0].key  # deterministic keys


def test_push_then_restarted_push_does_not_double_count(start_exporter, csvs):
    ex = start_exporter(Config(), now=1_752_400_000.0)
    first = push(csvs, ex.url)
    assert (first.batches, first.records, first.replayed, first.failed) == (5, 7, 0, [])
    again = push(csvs, ex.url)  # a replay restarted from the beginning
    assert again.replayed == 5 and again.failed == []
    text = ex.metrics()
    assert metric_value(text, "payment_transactions_total", status="approved") == 21
    assert metric_value(text, "payment_transactions_total", status="failed") == 3
    assert metric_value(text, "payment_auth_codes_total", auth_code="00") == 12
    assert metric_value(text, "payment_newest_data_timestamp_seconds") == 1752328020


def test_several_replicas_each_batch_to_its_keys_replica_and_retries_meet_it(
        start_exporter, tmp_path):
    paths = write(tmp_path / "gen", 1, seed=3)
    files = [str(paths["transactions"]), str(paths["auth_codes"])]
    replicas = [start_exporter(Config(), now=1_800_000_000.0) for _ in range(3)]
    urls = [r.url for r in replicas]
    first = push(files, urls)
    assert first.failed == [] and first.replayed == 0
    # A restarted replay in another order of URLs: every batch reaches the replica that
    # remembers its key (all replayed, nothing counted twice).
    again = push(files, list(reversed(urls)))
    assert again.replayed == again.batches == first.batches
    totals = [sum(metric_value(r.metrics(), "payment_transactions_total", status=s)
                  for s in contract.STATUSES) for r in replicas]
    assert all(t > 0 for t in totals)  # spread over all three
    pushed = pd.read_csv(paths["transactions"])["count"].sum()
    assert sum(totals) == pushed  # and summed across replicas, what was pushed
    keys = [b.key for minute in batches(files) for b in minute]
    assert all(replica_for(k, urls) == replica_for(k, urls[::-1]) for k in keys)
    # a fourth replica takes over only keys that now hash to it
    moved = [k for k in keys if replica_for(k, urls) != replica_for(k, [*urls, "http://d"])]
    assert all(replica_for(k, [*urls, "http://d"]) == "http://d" for k in moved)
    with pytest.raises(ValueError):
        push(files, [])


def test_push_paces_by_speed(csvs):
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    summary = push(csvs, "http://127.0.0.1:9", speed=60, retries=0, clock=lambda: clock[0],
                   sleep=sleep)
    assert sleeps == [1.0, 1.0]  # 3 data minutes at 60x: one second apart
    assert len(summary.failed) == 5  # nothing listens on port 9


def test_push_reports_refused_batches(start_exporter, tmp_path):
    ex = start_exporter()
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,status,count\n2025-07-12 13:45:00,stolen,1\n")
    summary = push([str(bad)], ex.url, retries=3)
    assert summary.retries == 0 and len(summary.failed) == 1 and "422" in summary.failed[0]


def test_generated_data_has_daily_cycle_noise_and_labelled_incidents():
    tx, codes, incidents = generate(days=3, seed=3)
    wide = tx.pivot_table(index="timestamp", columns="status", values="count")
    assert len(wide) == 3 * 1440
    hours = pd.to_datetime(wide.index).hour
    total = wide.sum(axis=1)
    assert total[(hours >= 2) & (hours < 4)].mean() < 25
    assert total[(hours >= 13) & (hours < 17)].mean() > 110
    assert (wide["failed"] > 0).sum() > 20 and (wide["reversed"] > 0).sum() > 1000
    codes_wide = codes.pivot_table(index="timestamp", columns="auth_code", values="count")
    assert (codes_wide["00"] == wide["approved"]).all()
    assert (codes_wide["51"] + codes_wide["59"] == wide["denied"]).all()
    assert len(incidents) == 6 and {i["kind"] for i in incidents} <= set(KINDS)
    for incident in incidents:
        start, end = pd.Timestamp(incident["start"]), pd.Timestamp(incident["end"])
        assert start < end and start >= pd.Timestamp("2025-01-07")  # day 1 is quiet
    night = [i for i in incidents if pd.Timestamp(i["start"]).hour < 5]
    assert night, "some incidents must hit the low-volume night"
    again, _, _ = generate(days=3, seed=3)
    assert again.equals(tx)


def test_generate_command_writes_the_three_files(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "txwatch.replay", "generate", "--days", "2",
                             "--seed", "5", "--out", str(out)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "incidents.json").read_text())["incidents"]
    assert (out / "transactions.csv").read_text().startswith("timestamp,status,count\n")


@pytest.mark.slow
def test_backfilled_series_match_a_live_scrape(start_exporter, tmp_path):
    paths = write(tmp_path / "d", days=1, seed=11)
    frame = pd.read_csv(paths["transactions"])
    frame = frame[frame["timestamp"] < "2025-01-06 00:30:00"]
    small = tmp_path / "small.csv"
    frame.to_csv(small, index=False)
    ex = start_exporter(Config(), now=1_736_200_000.0)
    assert push([str(small)], ex.url).failed == []
    live = ex.metrics()
    data = load_dataset([str(small)], contract.STATUSES, contract.AUTH_CODES)
    first, last, written = backfill_dataset(data, tmp_path / "tsdb", scrape_interval=15)
    assert written > 0 and last - first == (30 * 4 - 1) * 15
    with ThrowawayPrometheus(tmp_path / "tsdb") as prom:
        result = requests.get(f"{prom.url}/api/v1/query", timeout=10, params={
            "query": 'payment_transactions_total{job="txwatch"}', "time": last}).json()
    series = result["data"]["result"]
    assert {s["metric"]["status"] for s in series} == set(contract.STATUSES)
    for s in series:
        assert s["metric"]["job"] == "txwatch"
        expected = metric_value(live, "payment_transactions_total",
                                status=s["metric"]["status"])
        assert float(s["value"][1]) == expected


@pytest.mark.slow
def test_backtest_finds_injected_incidents_and_stays_quiet_on_the_clean_day(tmp_path):
    paths = write(tmp_path / "d", days=2, seed=21)
    data = load_dataset([paths["transactions"], paths["auth_codes"]], contract.STATUSES,
                        contract.AUTH_CODES)
    incidents = load_incidents(paths["incidents"])
    result = run(data, REPO / "rules", incidents)
    assert result.score is not None
    assert result.score.caught == len(incidents) == 3, result.score.missed
    first_day = [e for e in result.episodes if e.paging and e.start < 1440]
    assert first_day == [], result.episode_lines()
    assert result.always_firing == ["Watchdog"]


@pytest.mark.slow
def test_backtest_cli_writes_report(tmp_path):
    paths = write(tmp_path / "d", days=1, seed=2)
    report = tmp_path / "report"
    out = subprocess.run([sys.executable, "-m", "txwatch.replay", "backtest", "--data",
                          str(paths["transactions"]), "--report", str(report)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "alert episodes:" in out.stdout
    page = (report / "index.html").read_text()
    assert "data:image/png;base64," in page
    assert (report / "backtest.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_backtest_on_the_real_data_set():
    data_dir = shared_data_or_skip()
    data = load_dataset([data_dir / "transactions.csv", data_dir / "transactions_auth_codes.csv"],
                        contract.STATUSES, contract.AUTH_CODES)
    incidents = load_incidents(REPO / "docs" / "incidents" / "real-2025-07.json")
    result = run(data, REPO / "rules", incidents)
    assert result.score is not None
    assert result.score.caught == 14, result.score.missed
    assert result.score.median_delay is not None and result.score.median_delay <= 3
    assert result.score.false_episodes <= 1, result.score.false_alerts
    assert np.isfinite(result.score.precision)
