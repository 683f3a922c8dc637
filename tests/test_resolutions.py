"""Records read only on the hour are evaluated only on the hour: which ones, and that the
backtest sees exactly what evaluating them at every step gives."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import generated_history, require_binary
from txwatch.backtest import engine
from txwatch.backtest.ruleset import RecordingRule, resolutions


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


@pytest.mark.slow
def test_hourly_records_change_no_firing_nor_recorded_limit(tmp_path, monkeypatch):
    """The shipped rules on two generated days: the records the normals read on the hour
    and every 5 minutes evaluated only then, or at every step, give the same firings and
    the same limits at every step."""
    require_binary("prometheus")
    require_binary("promtool")
    from txwatch.resources import rule_files, rules_dir

    raw, steps = generated_history(tmp_path / "data", 2, 7, "demo")
    files = rule_files(rules_dir())
    coarse, coarse_recorded, _ = engine.evaluate_history(raw, steps, files)
    monkeypatch.setattr(engine, "resolutions", lambda *_args: {})
    fine, fine_recorded, _ = engine.evaluate_history(raw, steps, files)
    assert np.isnan(coarse_recorded["status:payment_transactions:increase1h"][0].values[1])
    assert set(coarse) == set(fine) and len(coarse) == len(fine) > 0
    for name in ("status:payment_transactions:ratio_limit_fast",
                 "auth_code:payment_auth_codes:mix_limit_fast"):
        got = {tuple(sorted(s.labels.items())): s.values for s in coarse_recorded[name]}
        want = {tuple(sorted(s.labels.items())): s.values for s in fine_recorded[name]}
        assert got.keys() == want.keys()
        for key, values in want.items():
            np.testing.assert_array_equal(got[key], values)
