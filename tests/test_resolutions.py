"""Records read only on the hour are evaluated only on the hour, and records that hold their
value for 5 minutes once per 5 minutes: which ones, and that the backtest sees exactly what
evaluating them at every step gives."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import generated_history, require_binary
from txwatch.backtest import engine
from txwatch.backtest.cadence import periods, resolutions, schedule
from txwatch.backtest.ruleset import RecordingRule
from txwatch.rules import Settings, write_rule_dir


def _rules(**exprs: str) -> list[RecordingRule]:
    return [RecordingRule(name, expr) for name, expr in exprs.items()]


def test_a_record_read_only_through_hourly_subqueries_is_read_on_the_hour():
    rules = _rules(hourly="sum(increase(c[1h]))", week="sum_over_time(hourly[7d:1h])")
    assert resolutions(rules, ["week > 1"], 60.0) == {"hourly": 3600.0, "week": 60.0}


def test_any_other_read_keeps_every_step():
    rules = _rules(hourly="sum(increase(c[1h]))", week="sum_over_time(hourly[7d:1h])")
    for reader in ("hourly > 1",  # read directly by an alert
                   "rate(hourly[5m])",  # a range: every sample in it
                   "sum_over_time(hourly[7d:1h] offset 5m)",  # off the hour
                   "sum_over_time(hourly offset 1m [7d:1h])",
                   "max_over_time(rate(hourly[5m])[1h:1h])"):  # a range inside
        assert resolutions(rules, ["week > 1", reader], 60.0)["hourly"] == 60.0, reader


def test_resolutions_follow_chains_and_combine_readers():
    rules = _rules(raw5m="sum(increase(c[5m]))", job5m="sum by (job) (raw5m)",
                   young="sum_over_time(job5m[3h:5m])", hourly="sum_over_time(raw5m[1d:1h])")
    found = resolutions(rules, ["young > 0", "hourly > 0"], 60.0)
    # job5m is read every 5 minutes, so raw5m is too (through it), and on the hour
    assert found == {"raw5m": 300.0, "job5m": 300.0, "young": 60.0, "hourly": 60.0}
    assert resolutions(rules, ["young > 0", "raw5m"], 60.0)["raw5m"] == 60.0


def test_a_record_read_only_through_aligned_subqueries_holds_for_their_step():
    rules = _rules(hourly="sum(increase(c[1h]))", five="sum(increase(c[5m]))",
                   table="vector(0.5)",
                   normal="sum_over_time(hourly[7d:1h]) / sum_over_time(hourly[7d:1h])",
                   young="sum_over_time(five[3h:5m]) or normal",
                   limit="young * 2 + on () group_left table",
                   nested="max_over_time(sum_over_time(c[1h:1m])[1d:5m])")
    found = periods(rules, 60.0)
    assert found == {"hourly": 60.0, "five": 60.0, "table": None, "normal": 3600.0,
                     "young": 300.0, "limit": 300.0, "nested": 300.0}


def test_anything_that_can_change_within_the_block_makes_it_every_step():
    for expr in ("normal + c",  # a raw series read directly
                 "rate(normal[5m])",  # a range of it slides every step
                 "normal offset 1m",
                 "sum_over_time(c[7d:1h] offset 30m)",  # off the hour
                 "sum_over_time(c[10m:3m])",  # range not whole steps: its left end moves
                 "sum_over_time(c[1h:])",  # the default step: unknown here
                 "hour() * normal", "timestamp(normal)", "normal * time()",
                 "{__name__=~\"norm.*\"}"):  # could name a raw series too
        rules = _rules(normal="sum_over_time(c[7d:1h])", reader=expr)
        assert periods(rules, 60.0)["reader"] == 60.0, expr


def test_schedule_carries_held_values_and_leaves_unread_steps_empty():
    rules = _rules(hourly="sum(increase(c[1h]))", normal="sum_over_time(hourly[7d:1h])",
                   limit="normal * 2", five="sum(increase(c[5m]))",
                   young="sum_over_time(five[3h:5m])")
    found = schedule(rules, ["limit > 1", "young > 1"], 60.0)
    assert found == {"hourly": (60, False), "normal": (60, True), "limit": (60, True),
                     "five": (5, False), "young": (5, True)}
    # read every 2 minutes but held for 5: not a multiple, so evaluated when read
    rules = _rules(five="sum(increase(c[5m]))", young="sum_over_time(five[3h:5m])",
                   pair="sum_over_time(young[1h:2m])")
    assert schedule(rules, ["pair > 1"], 60.0)["young"] == (2, False)


@pytest.mark.slow
@pytest.mark.parametrize("learning", [None, "12h"])
def test_coarse_records_change_no_firing_nor_recorded_limit(tmp_path, monkeypatch, learning):
    """The rules on two generated days: the records the normals read on the hour and every
    5 minutes evaluated only then, and the normals and limits only on their blocks' edges
    and carried over, or all of them at every step, give the same firings and the same
    normals and limits at every step. With a 12-hour learning range (``learning``) the
    range's far end moves through the history too: Prometheus 2 counts a range's first
    sample at an aligned step and not a step later, which the carry must honour."""
    require_binary("prometheus")
    require_binary("promtool")
    from txwatch.resources import rule_files, rules_dir

    raw, steps = generated_history(tmp_path / "data", 2, 7, "demo")
    if learning:
        files = write_rule_dir(tmp_path / "rules", Settings(normal_range=learning))
    else:
        files = rule_files(rules_dir())
    coarse, coarse_recorded, _ = engine.evaluate_history(raw, steps, files)
    monkeypatch.setattr(engine, "schedule", lambda *_args: {})
    fine, fine_recorded, _ = engine.evaluate_history(raw, steps, files)
    assert np.isnan(coarse_recorded["status:payment_transactions:increase1h"][0].values[1])
    assert set(coarse) == set(fine) and len(coarse) == len(fine) > 0
    for name in ("status:payment_transactions:ratio_normal",
                 "status:payment_transactions:ratio_limit_fast",
                 "auth_code:payment_auth_codes:mix_normal",
                 "auth_code:payment_auth_codes:mix_limit_fast"):
        got = {tuple(sorted(s.labels.items())): s.values for s in coarse_recorded[name]}
        want = {tuple(sorted(s.labels.items())): s.values for s in fine_recorded[name]}
        assert got.keys() == want.keys()
        for key, values in want.items():
            np.testing.assert_array_equal(got[key], values)
