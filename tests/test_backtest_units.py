"""The backtest's pure parts: rule analysis (what a rule reads, levels, cycles, look-back,
windows) and scoring (episodes, caught / missed / delay / false episodes / precision)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO
from txwatch.backtest.alertstage import batches
from txwatch.backtest.notify import GROUP_BY, notifications
from txwatch.backtest.ruleset import (
    RecordingRule,
    history_needed,
    levels,
    load_rules,
    needed_by,
    referenced,
    windows,
)
from txwatch.backtest.scoring import Episode, Incident, score, to_episodes
from txwatch.engines.promtool import Firing
from txwatch.resources import rule_files

# ---- rule analysis ----------------------------------------------------------------------

def _all_expressions() -> list[str]:
    exprs = [str(r["expr"]) for path in sorted((REPO / "rules").glob("*.yml"))
             for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]
    for suite in sorted((REPO / "rules" / "tests").glob("*.yml")):
        exprs += [str(t["expr"]) for test in yaml.safe_load(suite.read_text())["tests"]
                  for t in test.get("promql_expr_test", [])]
    return exprs


def test_promql_parser_reads_every_shipped_and_suite_expression():
    exprs = _all_expressions()
    assert len(exprs) > 50
    for expr in exprs:
        history_needed(expr)  # parses, or raises with the expression


def test_referenced_reads_selectors_only():
    names = {"a", "b", "c", "job", "status", "failed", "x:y:z", "n:m:o"}
    expr = ('sum by (job, status) (rate(a{status="failed"}[5m]))'
            ' / ignoring (status) group_left b'
            ' + on () group_left scalar(c offset 1h)'
            ' - label_replace(x:y:z, "dst", "job", "", "")')
    assert referenced(expr, names) == {"a", "b", "c", "x:y:z"}
    assert referenced('{__name__=~"x:.*|n:m:o"}', names) == {"x:y:z", "n:m:o"}
    assert referenced('{__name__="b"} and max_over_time(a[1h:5m])', names) == {"a", "b"}
    assert referenced("vector(1) + time()", names) == set()


@pytest.mark.parametrize(("expr", "for_", "seconds"), [
    ("x", None, 0),
    ("rate(x[5m])", None, 300),
    ("x offset 1h", "5m", 3900),
    ("avg_over_time(x[2h] offset 30m)", "3m", 9180),
    ("rate(a[5m]) + b offset 1h", None, 3600),  # per selector, not largest range + offset
    ("max_over_time(rate(x[5m] offset 1m)[1h:1m] offset 10m)", None, 300 + 60 + 3600 + 60 + 600),
    ("x offset -1h", "1m", 60),
    ("max_over_time(job:a:b[3h]) > scalar(t:c:d)", "1m", 10860),
])
def test_history_needed(expr, for_, seconds):
    assert history_needed(expr, for_) == seconds


def test_history_needed_refuses_at_modifier():
    with pytest.raises(ValueError, match="@"):
        history_needed("x @ start()")


def _rule(record: str, expr: str) -> RecordingRule:
    return RecordingRule(record, expr)


def test_levels_order_dependencies_and_keep_repeated_records_together():
    rules = [_rule("c:c:c", "a:a:a + b:b:b"), _rule("a:a:a", "sum(raw)"),
             _rule("t:t:t", "vector(1)"), _rule("b:b:b", "a:a:a * on() group_left t:t:t"),
             _rule("t:t:t", "vector(2)")]
    ordered = [[r.record for r in level] for level in levels(rules)]
    assert ordered == [["a:a:a", "t:t:t", "t:t:t"], ["b:b:b"], ["c:c:c"]]
    assert levels([_rule("s:s:s", "s:s:s offset 1m + raw")]) == [[_rule("s:s:s",
                                                                      "s:s:s offset 1m + raw")]]


def test_levels_detect_a_cycle():
    rules = [_rule("a:a:a", "b:b:b"), _rule("b:b:b", "c:c:c"), _rule("c:c:c", "a:a:a"),
             _rule("d:d:d", "raw")]
    with pytest.raises(ValueError, match="cycle: a:a:a, b:b:b, c:c:c"):
        levels(rules)


def test_needed_by_follows_chains_and_skips_unrelated_rules():
    rules = [_rule("a:a:a", "raw"), _rule("b:b:b", "a:a:a"), _rule("c:c:c", "rate(b:b:b[5m])"),
             _rule("board:only:x", "a:a:a"), _rule("other:o:o", "raw")]
    assert [r.record for r in needed_by(rules, {"c:c:c", "raw"})] == ["a:a:a", "b:b:b",
                                                                        "c:c:c"]
    assert needed_by(rules, {"raw"}) == []


def test_shipped_rules_levels_and_alert_needs():
    rules = load_rules(rule_files())
    records = {r.record for r in rules.recording}
    depth = {r.record: i for i, level in enumerate(levels(rules.recording)) for r in level}
    for rule in rules.recording:
        assert all(depth[d] < depth[rule.record]
                   for d in referenced(rule.expr, records) - {rule.record})
    assert depth["status:payment_transactions:increase5m"] == 0
    assert depth["status:payment_transactions:ratio_wilson_lower5m"] == 2
    assert depth["status:payment_transactions:ratio_limit_fast"] == \
        depth["status:payment_transactions:ratio_normal"] + 1
    needs = set().union(*(referenced(str(r["expr"]), records)
                          for g in rules.alert_groups for r in g["rules"]))
    kept = {r.record for r in needed_by(rules.recording, needs)}
    assert "status:payment_transactions:ratio_normal" in kept  # via the limits
    assert "status:payment_transactions:ratio_wilson_lower5m" not in kept  # boards only
    assert "Watchdog" in rules.alert_names()


def test_windows_merge_runs_closer_than_the_history():
    candidates = np.zeros(100, dtype=bool)
    candidates[[5, 6, 7, 20, 60, 99]] = True
    assert windows(candidates, 10, 100) == [(0, 5, 8), (10, 20, 21), (50, 60, 61),
                                            (89, 99, 100)]
    assert windows(candidates, 30, 100) == [(0, 5, 21), (30, 60, 61), (69, 99, 100)]
    assert windows(np.zeros(5, dtype=bool), 3, 5) == []


# ---- scoring ------------------------------------------------------------------------------

def test_to_episodes_splits_on_gaps_and_labels():
    a, b = (("status", "failed"),), (("status", "denied"),)
    firings = [Firing(5, "A", a), Firing(2, "A", a), Firing(1, "A", a), Firing(3, "A", a),
               Firing(2, "A", b), Firing(2, "B", a)]
    assert to_episodes(firings) == [Episode("A", {"status": "failed"}, 1, 3),
                                    Episode("A", {"status": "denied"}, 2, 2),
                                    Episode("B", {"status": "failed"}, 2, 2),
                                    Episode("A", {"status": "failed"}, 5, 5)]
    assert to_episodes([]) == []


def test_score_caught_missed_delays_and_false_episodes():
    origin = pd.Timestamp("2025-01-01 00:00", tz="UTC")

    def incident(start: int, end: int, *statuses: str) -> Incident:
        return Incident(origin + pd.Timedelta(minutes=start), origin + pd.Timedelta(minutes=end),
                        "spike", statuses)

    def ep(name: str, status: str, severity: str, start: int, end: int) -> Episode:
        return Episode(name, {"status": status, "severity": severity}, start, end)

    incidents = [incident(100, 130, "failed"), incident(500, 520, "denied"),
                 incident(1000, 1010, "reversed")]
    episodes = [
        ep("Fast", "failed", "critical", 103, 120),     # catches #1 after 3 minutes
        ep("Slow", "failed", "warning", 110, 140),      # also about #1, later
        ep("Stopped", "all", "critical", 560, 565),     # status=all, inside #2's grace
        ep("Info", "denied", "info", 505, 506),         # not paging
        ep("Watchdog", "all", "critical", 0, 2879),     # never paging
        ep("Fast", "denied", "critical", 110, 112),     # during #1 but about another status
        ep("Fast", "failed", "critical", 200, 201),     # after #1's grace (190)
        ep("Fast", "reversed", "critical", 2000, 2005),  # these two overlap: one storm
        ep("Slow", "reversed", "warning", 2003, 2010),
    ]
    s = score(episodes, incidents, origin, steps=2880)
    assert (s.incidents, s.caught, s.paged, s.delays) == (3, 2, 2, [3, 60])
    assert s.missed == ["spike 2025-01-01 16:40"]
    # pages are critical episodes only: Watchdog and info never notify, warnings are chat
    assert (s.critical_episodes, s.warning_episodes, s.notified_episodes) == (5, 2, 7)
    assert len(s.false_alerts) == 4 and s.false_episodes == 3
    assert (s.false_critical, s.false_warning) == (3, 1)
    assert s.false_pages_per_week == 10.5 and s.false_warnings_per_day == 0.5
    assert s.pages == [1, 1] and s.pages_per_incident == 1.0  # the warning is no page
    assert s.per_incident["spike 2025-01-01 01:40"] == {"delay": 3, "pages": 1, "warnings": 1,
                                                         "page_delay": 3}
    assert s.per_incident["spike 2025-01-01 16:40"]["delay"] is None
    # grouped by alertname: Fast{failed} and Fast{denied} overlap, one notification
    assert s.notifications == 6 and s.notifications_per_day == 3.0
    assert s.recall == pytest.approx(2 / 3) and s.precision == pytest.approx(1 - 4 / 7)
    assert s.false_per_day == 1.5 and s.median_delay == 31.5
    assert s.false_alerts[0] == "Fast{status=denied} critical @2025-01-01 01:50 (3 min)"
    empty = score([], [], origin, steps=1440)
    # one incident on two statuses: each alert fires for both, and Alertmanager groups
    # them by alertname, so the on-call person gets one page and one chat message
    both = [incident(100, 130, "failed", "backend_reversed")]
    pairs = [ep(n, st, sev, 103, 120) for n, sev in (("Fast", "critical"), ("Slow", "warning"))
             for st in ("failed", "backend_reversed")]
    grouped = score(pairs, both, origin, steps=1440)
    assert grouped.per_incident["spike 2025-01-01 01:40"] == {
        "delay": 3, "pages": 1, "warnings": 1, "page_delay": 3}
    assert (grouped.critical_episodes, grouped.warning_episodes) == (2, 2)
    assert (empty.recall, empty.precision, empty.median_delay) == (1.0, 1.0, None)
    assert empty.pages_per_incident is None
    doc = json.loads(json.dumps(s.as_dict()))
    assert doc["false_per_day"] == 1.5 and doc["false_pages_per_week"] == 10.5


def test_without_incidents_every_notifying_episode_is_false():
    origin = pd.Timestamp("2025-01-01 00:00", tz="UTC")
    episodes = [Episode("Fast", {"status": "failed", "severity": "critical"}, 10, 12),
                Episode("Slow", {"status": "failed", "severity": "warning"}, 11, 30),
                Episode("Note", {"status": "failed", "severity": "info"}, 11, 30)]
    s = score(episodes, [], origin, steps=1440)
    assert (s.false_critical, s.false_warning, s.false_episodes) == (1, 1, 1)
    assert s.false_pages_per_week == 7.0 and s.caught == 0


def test_an_episode_touching_an_incident_by_one_minute_belongs_to_it():
    """The overlap is inclusive at both ends: an episode whose last firing minute is the
    incident's first minute caught it (delay 0, one page, not false), as does one that
    starts on the last minute of the grace; one minute later it is false."""
    origin = pd.Timestamp("2025-01-01 00:00", tz="UTC")
    incidents = [Incident(origin + pd.Timedelta(minutes=100),
                          origin + pd.Timedelta(minutes=130), "spike", ("failed",))]
    page = {"status": "failed", "severity": "critical"}
    ending_at_start = score([Episode("Fast", page, 90, 100)], incidents, origin, steps=1440)
    assert (ending_at_start.caught, ending_at_start.delays) == (1, [0])
    assert ending_at_start.per_incident["spike 2025-01-01 01:40"]["pages"] == 1
    assert ending_at_start.false_episodes == 0 and ending_at_start.false_alerts == []
    one_before = score([Episode("Fast", page, 90, 99)], incidents, origin, steps=1440)
    assert (one_before.caught, one_before.false_episodes) == (0, 1)
    in_grace = score([Episode("Fast", page, 190, 195)], incidents, origin, steps=1440, grace=60)
    assert (in_grace.caught, in_grace.delays, in_grace.false_episodes) == (1, [90], 0)
    after = score([Episode("Fast", page, 191, 195)], incidents, origin, steps=1440, grace=60)
    assert (after.caught, after.false_episodes) == (0, 1)


def test_false_episodes_sharing_a_minute_are_one_storm_and_a_gap_splits_them():
    """Merged while they overlap, even by one minute (the second starts on the first's last
    minute); back to back without a shared minute they are two storms."""
    origin = pd.Timestamp("2025-01-01 00:00", tz="UTC")

    def false_storms(*spans: tuple[int, int]) -> int:
        episodes = [Episode("Fast" if i % 2 == 0 else "Slow",
                            {"status": "failed", "severity": "critical"}, a, b)
                    for i, (a, b) in enumerate(spans)]
        return score(episodes, [], origin, steps=1440).false_episodes

    assert false_storms((10, 20), (20, 30)) == 1
    assert false_storms((10, 20), (21, 30)) == 2
    assert false_storms((0, 5), (3, 4), (5, 9), (10, 12)) == 2


def test_severity_decides_page_chat_or_nothing():
    page = Episode("A", {"severity": "critical"}, 0, 1)
    chat = Episode("A", {"severity": "warning"}, 0, 1)
    quiet = Episode("A", {"severity": "info"}, 0, 1)
    watchdog = Episode("Watchdog", {"severity": "critical"}, 0, 1)
    assert [(e.paging, e.notifies) for e in (page, chat, quiet, watchdog)] == [
        (True, True), (False, True), (False, False), (False, False)]


def test_notifications_one_per_alert_group_and_span():
    def ep(code: str, start: int, end: int, name: str = "Codes") -> Episode:
        return Episode(name, {"status": "denied", "auth_code": code, "severity": "warning"},
                       start, end)
    # two codes in one group (alertname, status) overlapping: one notification; a span that
    # starts the minute after the last one ended continues it; a gap starts a new one
    episodes = [ep("51", 0, 5), ep("59", 3, 9), ep("51", 10, 12), ep("59", 20, 21),
                ep("51", 0, 1, name="Other"), Episode("Quiet", {"severity": "info"}, 0, 50)]
    assert notifications(episodes) == 3
    assert notifications([]) == 0
    # the failed and backend_reversed pages of one incident: one notification
    both = [Episode("Fast", {"status": s, "severity": "critical"}, 0, 9)
            for s in ("failed", "backend_reversed")]
    assert notifications(both) == 1


def test_notification_groups_are_the_shipped_routes():
    import yaml

    from tests.conftest import REPO
    route = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())["route"]
    assert set(route["group_by"]) == {*GROUP_BY, "job"}


# ---- A/B comparison -----------------------------------------------------------------------

def _result(name: str, episodes: list[Episode], incidents: list[Incident]):
    from pathlib import Path

    from txwatch.backtest.run import Result
    from txwatch.history.dataset import Dataset

    index = pd.date_range("2025-01-01", periods=1440, freq="min", tz="UTC")
    data = Dataset(pd.DataFrame({"approved": 1}, index=index),
                   pd.DataFrame({"00": 1}, index=index), pd.Series(True, index=index))
    return Result(Path(name), data, episodes, [], {},
                  score(episodes, incidents, index[0], len(index)))


def test_comparison_delays_and_episodes_only_one_side_has():
    from txwatch.backtest.compare import comparison, comparison_lines

    origin = pd.Timestamp("2025-01-01", tz="UTC")
    incidents = [Incident(origin + pd.Timedelta(minutes=100), origin + pd.Timedelta(minutes=120),
                          "failed_spike", ("failed",)),
                 Incident(origin + pd.Timedelta(minutes=600), origin + pd.Timedelta(minutes=610),
                          "denied_spike", ("denied",))]
    crit = {"status": "failed", "severity": "critical"}
    a = _result("a", [Episode("Fast", crit, 104, 110), Episode("Fast", crit, 300, 301),
                      Episode("Slow", {"status": "denied", "severity": "warning"}, 605, 609)],
                incidents)
    b = _result("b", [Episode("Fast", crit, 101, 103), Episode("Fast", crit, 900, 901)],
                incidents)
    doc = comparison(a, b)
    assert doc["incidents"] == [
        {"incident": "failed_spike 2025-01-01 01:40", "A": 4, "B": 1, "difference": -3,
         "pages A": 1, "pages B": 1},
        {"incident": "denied_spike 2025-01-01 10:00", "A": 5, "B": None, "difference": None,
         "pages A": 0, "pages B": 0}]
    # 104-110 and 101-103 do not overlap: different episodes, so each side has it alone
    assert [x.split()[1] for x in doc["episodes"]["disappear"]] == ["01:44", "05:00", "10:05"]
    assert [x.split()[1] for x in doc["episodes"]["appear"]] == ["01:41", "15:00"]
    assert doc["figures"]["caught"] == {"A": "2/2", "B": "1/2"}
    assert doc["figures"]["false_critical"] == {"A": 1, "B": 1}
    text = "\n".join(comparison_lines(a, b))
    assert "denied_spike 2025-01-01 10:00" in text and "episodes only in B (new with B): 2" in text


def test_comparison_without_labels_shows_no_detection_figures():
    from txwatch.backtest.compare import figures

    crit = {"status": "failed", "severity": "critical"}
    found = figures(_result("a", [Episode("Fast", crit, 5, 6)], []))
    assert found["false_critical"] == 1 and found["pages"] == 1
    assert not {"caught", "paged", "median_delay", "precision"} & set(found)


def test_batches_keep_every_window_and_one_alert_per_promtool_run():
    """Each batch is one promtool process with one rule file: windows never mix alerts,
    none is lost or repeated, and an alert's windows spread over about ``workers`` runs."""
    def job(alert: str, first: int, end: int):
        return (Path(f"alert-{alert}.yml"), [], np.zeros(1, bool), (first, first, end))
    jobs = ([job("Fast", 10 * i, 10 * i + 8) for i in range(9)]
            + [job("Low", 0, 90), job("Low", 200, 230), job("Low", 400, 410)]
            + [job("Stopped", 5, 15)])
    out = batches(jobs, 2)
    assert [j for batch in out for j in batch] == jobs  # every window once, in order
    assert all(len({j[0] for j in batch}) == 1 for batch in out)
    per_alert = {}
    for batch in out:
        per_alert[batch[0][0].name] = per_alert.get(batch[0][0].name, 0) + 1
    assert per_alert == {"alert-Fast.yml": 2, "alert-Low.yml": 2, "alert-Stopped.yml": 1}
