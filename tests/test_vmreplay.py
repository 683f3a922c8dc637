"""``txwatch-replay backtest --engine both``: the txwatch engine and ``vmalert -replay`` on
the same history and rules (real victoria-metrics and vmalert), and the agreement measure."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from txwatch.backtest.agreement import compare
from txwatch.backtest.scoring import Episode
from txwatch.engines.procs import need
from txwatch.history.generate import write
from txwatch.replay.cli import held_alerts
from txwatch.resources import rules_dir
from txwatch.rules import write_rule_dir
from txwatch.rules.settings import DEFAULT


def _episode(start: int, end: int, status: str = "failed") -> Episode:
    return Episode("PaymentRatioHighFast", {"status": status, "severity": "critical"},
                   start, end)


def test_agreement_pairs_overlapping_episodes_and_lists_the_rest():
    ours = [_episode(10, 20), _episode(40, 45), _episode(2, 3, "denied")]
    peer = [_episode(11, 20), _episode(60, 61), _episode(40, 45),
            Episode("Watchdog", {}, 0, 100)]
    found = compare(ours, peer)
    assert (found.ours, found.peer, found.exact) == (2, 3, 1)  # first 5 minutes left out
    assert sorted(found.start_shifts) == [0, 1]
    assert found.only_peer == [_episode(60, 61)] and found.only_ours == []
    assert not found.agreeing
    assert compare(ours, ours).agreeing


def test_the_alerts_vmalert_replay_cannot_hold_are_named(tmp_path: Path):
    """The shipped paging alert reads its own ALERTS series; rendered without the hold,
    no alert does."""
    assert held_alerts(rules_dir()) == ["PaymentRatioHighFast"]
    write_rule_dir(tmp_path, replace(DEFAULT, fast_hold=False))
    assert held_alerts(tmp_path) == []


@pytest.mark.slow
@pytest.mark.heavy
def test_vmalert_replay_agrees_with_the_txwatch_engine_on_generated_days(tmp_path: Path):
    for binary in ("victoria-metrics", "vmalert"):
        need(binary)  # scripts/setup installs Debian's victoria-metrics
    paths = write(tmp_path / "data", days=2, seed=3)
    # The engines compared on rules both can evaluate: vmalert -replay cannot hold a page
    # through the alert's own ALERTS series (docs/runbook.md, "One page per incident").
    rules = tmp_path / "rules"
    write_rule_dir(rules, replace(DEFAULT, fast_hold=False))
    result = subprocess.run(
        [sys.executable, "-m", "txwatch.replay", "backtest", "--engine", "both", "--json",
         "--data", str(paths["transactions"]), str(paths["auth_codes"]),
         "--incidents", str(paths["incidents"]), "--rules", str(rules)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(result.stdout)
    assert doc["held_alerts"] == []
    ours, peer = doc["engines"]["txwatch"], doc["engines"]["vmalert"]
    incidents = len(json.loads(paths["incidents"].read_text())["incidents"])
    assert incidents > 0
    for engine in (ours, peer):
        assert engine["score"]["caught"] == incidents
        assert engine["score"]["false_critical"] == 0
        assert engine["always_firing"] == ["Watchdog"]
    assert peer["episodes"] == ours["episodes"] > 0
    agreement = doc["agreement"]
    assert agreement["only_txwatch"] == agreement["only_vmalert"] == 0, agreement
    assert agreement["identical"] == ours["episodes"], agreement
