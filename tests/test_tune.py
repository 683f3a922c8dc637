"""``txwatch-replay tune`` and ``analyze``: the table rewritten in place (comments kept, the
result a valid rules file for promtool), the knobs found from the rules' own dependencies,
the search's choices on known episodes, the share statistics, refused input, and (slow) a
deliberately bad table tuned into the budget with the backtest as the judge."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO, require_binary
from txwatch import contract
from txwatch.backtest.ruleset import load_rules
from txwatch.backtest.run import run
from txwatch.backtest.scoring import Episode, Incident, load_incidents, score
from txwatch.backtest.search import Budget, Knob, alert_margins, combine, knob_of, search
from txwatch.backtest.table import Table, number
from txwatch.backtest.tune import candidates, knobs
from txwatch.history.analyze import decline_mix, round_up, statistics, suggest
from txwatch.history.dataset import load_dataset
from txwatch.history.generate import write
from txwatch.replay.cli import main
from txwatch.resources import rule_files

SHIPPED = REPO / "rules" / "thresholds.yml"
FAILED_FAST = ("payment_transactions", "ratio_fast_margin", "failed")


def _promtool_check(path: Path) -> None:
    out = subprocess.run([require_binary("promtool"), "check", "rules", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def _without_numbers(text: str) -> list[str]:
    return [re.sub(r"vector\([^)]*\)", "vector(N)", line) for line in text.splitlines()]


# ---- the table ----------------------------------------------------------------------------

def test_table_rewrite_changes_only_the_numbers_and_stays_valid(tmp_path):
    table = Table.load(SHIPPED)
    margins = [k for k in table.rows if k[1].endswith("_margin")]
    assert FAILED_FAST in table.rows and len(margins) >= 8
    changes = {k: 0.0001234 * (i + 1) for i, k in enumerate(margins)}
    changes[("payment_transactions", "busy_min", "")] = 12
    text = table.with_values(changes)
    assert _without_numbers(text) == _without_numbers(table.text)  # comments, order, style
    again = Table(text)
    assert {k: again.rows[k].number for k in changes} == {
        k: float(number(v)) for k, v in changes.items()}
    untouched = set(table.rows) - set(changes)
    assert all(again.rows[k].number == table.rows[k].number for k in untouched)
    out = tmp_path / "thresholds.yml"
    out.write_text(text)
    _promtool_check(out)


def test_table_refuses_unknown_rows_and_ambiguous_labels():
    table = Table.load(SHIPPED)
    with pytest.raises(KeyError, match="no such threshold rows"):
        table.with_values({("payment_transactions", "ratio_fast_margin", "stolen"): 0.1})
    with pytest.raises(ValueError, match="more than one label"):
        Table("groups:\n  - name: t\n    rules:\n      - record: threshold:a:b\n"
              "        expr: vector(1)\n        labels: {status: x, auth_code: y}\n")
    with pytest.raises(ValueError, match="groups"):
        Table("rules: []\n")


@pytest.mark.parametrize(("value", "text"), [(0.00012345, "0.0001234"), (3.0, "3"),
                                             (0.1 + 0.2, "0.3"), (0.0, "0"), (12345.6, "12346")])
def test_number_is_short_and_never_in_exponent_form(value, text):
    assert number(value) == text


# ---- knobs and search -----------------------------------------------------------------------

def test_knobs_come_from_what_each_alert_reads():
    margins = alert_margins(load_rules(rule_files()))
    assert margins["PaymentRatioHighFast"] == [("payment_transactions", "ratio", "fast")]
    assert margins["PaymentRatioHighSlow"] == [("payment_transactions", "ratio", "slow")]
    assert margins["PaymentAuthCodeShareHigh"] == [("payment_auth_codes", "ratio", "fast")]
    assert margins["PaymentAuthCodeMixShift"] == [("payment_auth_codes", "mix", "fast")]
    assert "PaymentTrafficLow" not in margins and "Watchdog" not in margins


def test_the_decline_mix_is_a_knob_of_its_own():
    table = Table.load(REPO / "rules" / "thresholds.yml")
    found = {k.title: k for k in knobs(table)}
    mix = found["auth_code=59 mix fast"]
    assert mix.key("margin") == ("payment_auth_codes", "mix_fast_margin", "59")
    assert found["auth_code=59 fast"].key("margin") == ("payment_auth_codes",
                                                         "ratio_fast_margin", "59")
    # a mix episode answers to the mix knob, not to the code's share knob
    margins = alert_margins(load_rules(rule_files()))
    episode = Episode("PaymentAuthCodeMixShift", {"auth_code": "59", "severity": "warning"},
                      0, 5)
    assert knob_of(episode, margins, {"payment_auth_codes": "auth_code"}) == mix
    # its candidates: the ladder for shares of the declines, never above the mix cap (100%)
    rungs = [c.margins[mix] for c in candidates(table, [mix], {}, 5)]
    assert rungs[:2] == [0.1, 0.1]  # current and "statistics" (none: the current stands in)
    assert rungs[2:] == [0.03, 0.053, 0.095, 0.17, 0.3]


def _ep(status: str, severity: str, start: int) -> Episode:
    name = "Fast" if severity == "critical" else "Slow"
    return Episode(name, {"status": status, "severity": severity}, start, start + 2)


def test_search_mixes_candidates_within_the_budget():
    origin = pd.Timestamp("2025-01-06", tz="UTC")
    steps = 7 * 1440
    incidents = [Incident(origin + pd.Timedelta(minutes=1000),
                          origin + pd.Timedelta(minutes=1030), "failed_spike", ("failed",))]
    failed, denied = (Knob("payment_transactions", "status", s, "fast")
                      for s in ("failed", "denied"))
    by_run = [  # candidate runs, from the most sensitive (0) to the least (2)
        {failed: [_ep("failed", "critical", 1001)] + [_ep("failed", "critical", m)
                                                       for m in (10, 3000, 6000)],
         denied: [_ep("denied", "critical", 200), _ep("denied", "critical", 4000)],
         None: [Episode("Stopped", {"status": "all", "severity": "info"}, 5, 9)]},
        {failed: [_ep("failed", "critical", 1002)], denied: [_ep("denied", "warning", 500)]},
        {}]

    def evaluate(labelled: bool):
        return lambda choice: score(combine(choice, by_run), incidents if labelled else [],
                                    origin, steps)

    options = {failed: [0, 1, 2], denied: [0, 1, 2]}
    budget = Budget(pages_per_week=1, warnings_per_day=1)

    def from_current(current: int):  # distance of a run's values from the current table's
        return lambda knob, run: abs(run - current)

    starts = [{failed: 0, denied: 0}, {failed: 2, denied: 2}]
    choice, s = search(options, evaluate(True), budget, True, from_current(0), starts)
    # failed: caught with no false page at run 1; denied: the warning is false, run 2 is quiet
    assert choice == {failed: 1, denied: 2}
    assert (s.caught, s.false_critical, s.false_warning) == (1, 0, 0)
    # without labels only the budget is judged: the nearest mix to the current table (run 0,
    # 6 false pages) within it; the incident's own page counts as false, one page is allowed
    choice, s = search(options, evaluate(False), budget, False, from_current(0), starts)
    assert choice == {failed: 1, denied: 1} and (s.false_critical, s.false_warning) == (1, 1)
    tight = Budget(pages_per_week=0, warnings_per_day=0)
    choice, s = search(options, evaluate(False), tight, False, from_current(0), starts)
    assert choice == {failed: 2, denied: 2} and s.false_critical == 0
    # a current table already within the budget stays as it is without labels
    choice, s = search(options, evaluate(False), budget, False, from_current(2), starts)
    assert choice == {failed: 2, denied: 2}


# ---- analyze --------------------------------------------------------------------------------

def test_statistics_stay_shares_and_approved_falls():
    rng = np.random.default_rng(5)
    index = pd.date_range("2025-01-06", periods=3 * 1440, freq="min", tz="UTC")
    total = rng.poisson(200, len(index))
    failed = rng.binomial(total, 0.02)
    wide = pd.DataFrame({"approved": total - failed, "failed": failed}, index=index)
    wide.iloc[100:130, 1] = wide.iloc[100:130].sum(axis=1)  # an incident: everything fails
    wide.iloc[100:130, 0] = 0
    stats = statistics(wide)
    shares = stats[["normal", "p50 5m", "limit 5m", "limit 30m"]].to_numpy()
    assert np.all((shares >= 0) & (shares <= 1))
    assert stats.loc["approved", "limit 5m"] < stats.loc["approved", "p50 5m"]  # low is bad
    assert stats.loc["failed", "limit 5m"] > stats.loc["failed", "p50 5m"]
    assert stats.loc["failed", "limit 5m"] < 0.05  # the incident barely moves the spread
    found = suggest(stats, {"failed": 1.0})
    assert "approved" not in found
    assert found["failed"]["ratio_normal"] >= stats.loc["failed", "normal"]
    assert 0 < found["failed"]["ratio_fast_margin"] < 0.05
    small = statistics(wide // 100)  # ~2 a minute: no window holds enough for a spread
    assert np.isnan(small.loc["failed", "limit 5m"])
    assert "ratio_fast_margin" not in suggest(small, {})["failed"]
    assert (round_up(0.012301), round_up(0.0), round_up(0.5)) == (0.013, 0.0, 0.5)


def test_decline_mix_is_each_codes_share_of_the_declines():
    index = pd.date_range("2025-01-06", periods=4 * 60, freq="min", tz="UTC")
    codes = pd.DataFrame({"00": 100, "51": 4, "59": 1}, index=index)
    codes.iloc[180:240, 1:] = [[1, 4]]  # the fourth hour: 59 replaces 51
    codes.iloc[60:120, 1:] = 0  # an hour without declines counts for no share
    mix = decline_mix(codes)
    assert list(mix.index) == ["51", "59"]  # 00 (approved) is not a decline
    assert mix.loc["59", "median 1h"] == pytest.approx(0.2)  # 2 of 3 hours at 20%
    assert mix.loc["59", "of declines"] == pytest.approx((60 + 60 + 240) / (3 * 300))
    assert mix["of declines"].sum() == pytest.approx(1.0)
    assert mix.loc["51", "per min"] == pytest.approx((120 * 4 + 60) / 240)


def test_analyze_prints_current_and_suggested_side_by_side(tmp_path, capsys):
    paths = write(tmp_path / "d", days=1, seed=4)
    assert main(["analyze", str(paths["transactions"]), str(paths["auth_codes"])]) == 0
    out = capsys.readouterr().out
    assert re.search(r"denied\s+0\.1 -> 0\.0\d+", out)  # shipped warm-up normal -> learned
    assert "current -> suggested" in out and "falling" in out and "\n59 " in out
    for column in ("per min", "zero min", "normal", "p50 5m", "limit 5m", "limit 30m",
                   "of declines", "median 1h"):
        assert f"\n  {column} " in out  # explained
    assert re.search(r"\n51\s+0\.9\s+0\.1\n", out)  # the mix rows of the table


def test_tune_refuses_bad_input_and_writes_nothing(tmp_path, capsys):
    paths = write(tmp_path / "d", days=1, seed=4)
    out = tmp_path / "t.yml"
    for bad in (["--rungs", "0"], ["--max-false-pages-per-week", "-1"],
                ["--max-false-pages-per-week", "nan"]):
        with pytest.raises(SystemExit) as stop:
            main(["tune", "--data", str(paths["transactions"]), "--out", str(out), *bad])
        assert stop.value.code == 2
    assert main(["tune", "--data", str(paths["transactions"]), "--table",
                 str(tmp_path / "missing.yml"), "--out", str(out)]) == 2
    assert main(["tune", "--data", str(paths["transactions"]),
                 "--out", str(tmp_path / "no" / "t.yml")]) == 2
    broken = tmp_path / "incidents.json"
    broken.write_text('{"incidents": [{"start": "2025-01-06 00:00"}]}')
    assert main(["tune", "--data", str(paths["transactions"]), "--incidents", str(broken),
                 "--out", str(out)]) == 2
    assert main(["tune", "--prometheus", "http://127.0.0.1:9", "--start", "not a time",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no threshold table" in err and "incident 1: missing end, statuses" in err
    assert not out.exists()


# ---- end to end -----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.heavy
def test_tune_brings_a_constantly_paging_table_within_the_budget(tmp_path):
    paths = write(tmp_path / "d", days=2, seed=21)
    table = Table.load(SHIPPED)
    bad = table.with_values({k: 0.0001 if k[1].endswith(("_margin", "_floor")) else 1.0
                             for k in table.rows if k[1].startswith(("ratio_fast", "ratio_slow"))
                             or k[1] == "ratio_factor"})
    bad_file, tuned = tmp_path / "bad.yml", tmp_path / "tuned.yml"
    bad_file.write_text(bad)
    out = subprocess.run([sys.executable, "-m", "txwatch.replay", "tune", "--data",
                          str(paths["transactions"]), str(paths["auth_codes"]), "--incidents",
                          str(paths["incidents"]), "--table", str(bad_file), "--out",
                          str(tuned), "--rungs", "2"], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "backtest before (A) and after (B)" in out.stdout and "within the budget" in out.stdout
    _promtool_check(tuned)
    assert _without_numbers(tuned.read_text()) == _without_numbers(bad)
    data = load_dataset([paths["transactions"], paths["auth_codes"]], contract.STATUSES,
                        contract.AUTH_CODES)
    incidents = load_incidents(paths["incidents"])
    rules = {}
    for name, text in (("bad", bad), ("tuned", tuned.read_text())):
        folder = tmp_path / name
        folder.mkdir()
        for f in rule_files():
            if f.name != "thresholds.yml":
                shutil.copy(f, folder)
        (folder / "thresholds.yml").write_text(text)
        rules[name] = run(data, folder, incidents).score
    before, after = rules["bad"], rules["tuned"]
    assert before is not None and after is not None
    assert before.false_pages_per_week > 1 or before.false_warnings_per_day > 1  # really bad
    assert after.caught == after.incidents == 3, after.missed
    assert after.false_pages_per_week <= 1 and after.false_warnings_per_day <= 1, \
        after.false_alerts


@pytest.mark.slow
def test_history_read_back_from_prometheus_equals_the_csv(tmp_path):
    from txwatch.engines import remote_write
    from txwatch.engines.server import ThrowawayPrometheus
    from txwatch.history.promsource import fetch_dataset
    from txwatch.history.scrape import scrape_series

    paths = write(tmp_path / "d", days=1, seed=8)
    data = load_dataset([paths["transactions"], paths["auth_codes"]], contract.STATUSES,
                        contract.AUTH_CODES)
    counters = [s for s in scrape_series(data) if s.name.startswith("payment_")
                and s.name.endswith("_total")]
    counters[0].values[600:] -= counters[0].values[599]  # an exporter restart: a reset
    with ThrowawayPrometheus(tmp_path / "tsdb", receiver=True) as prom:
        remote_write.write(prom.url, counters, 0.0, 60.0)
        origin = pd.Timestamp(0, unit="s", tz="UTC")
        # the counter sampled at a minute's end holds that minute: read from one minute before
        got = fetch_dataset(prom.url, origin - pd.Timedelta(minutes=1),
                            origin + pd.Timedelta(minutes=len(data.transactions) - 1))
        with pytest.raises(ValueError, match="no payment_transactions_total samples"):
            fetch_dataset(prom.url, origin, origin + pd.Timedelta(minutes=5), job="other")
    assert got.transactions.to_numpy().tolist() == data.transactions.to_numpy().tolist()
    assert got.auth_codes.to_numpy().tolist() == data.auth_codes.to_numpy().tolist()
    assert bool(got.pushed.all())


def test_cost_weighs_refires_and_false_alerts_against_delay():
    from txwatch.backtest.scoring import Score
    from txwatch.backtest.search import cost

    early_but_refiring = Score(delays=[4], pages=[3])  # 2 pages beyond the first
    later_once = Score(delays=[8], pages=[1])
    assert cost(early_but_refiring) == 4 + 2 * 5 > cost(later_once) == 8
    assert cost(Score(delays=[0, 1], pages=[1, 1])) == 6  # under 3 minutes counts as 3
    assert cost(Score(false_critical=1, false_warning=2)) == 30 + 2 * 5
