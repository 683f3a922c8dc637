"""The backtest pipeline's parts one by one: rule analysis, promtool's series notation and
failure listing, scoring, remote write, and the CLI's ``--json`` document.

``python -m tests.test_backtest_units`` re-captures tests/data/promtool_firings.txt.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, require_binary
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
from txwatch.history.generate import write
from txwatch.prom import remote_pb, remote_write
from txwatch.prom.promtool import Firing, _values, parse_firings, write_test_file
from txwatch.prom.series import Series
from txwatch.resources import rule_files

DATA = Path(__file__).resolve().parent / "data"
FIXTURE = DATA / "promtool_firings.txt"
NAN = np.nan


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
    assert depth["status:payment_transactions:ratio_wilson_lower5m"] == 3
    needs = set().union(*(referenced(str(r["expr"]), records)
                          for g in rules.alert_groups for r in g["rules"]))
    kept = {r.record for r in needed_by(rules.recording, needs)}
    assert "status:payment_transactions:ratio_baseline_limit" in kept
    assert "job:payment_transactions:rate5m_zscore1d" not in kept  # dashboards only
    assert "Watchdog" in rules.alert_names()


def test_windows_merge_runs_closer_than_the_history():
    candidates = np.zeros(100, dtype=bool)
    candidates[[5, 6, 7, 20, 60, 99]] = True
    assert windows(candidates, 10, 100) == [(0, 5, 8), (10, 20, 21), (50, 60, 61),
                                            (89, 99, 100)]
    assert windows(candidates, 30, 100) == [(0, 5, 21), (30, 60, 61), (69, 99, 100)]
    assert windows(np.zeros(5, dtype=bool), 3, 5) == []


# ---- promtool: series notation and failure listing --------------------------------------

@pytest.mark.parametrize(("values", "text"), [
    ([1, 2, 3, 4], "1+1x3"),
    ([5, 5, 5], "5+0x2"),
    ([4, 3, 2, 1], "4-1x3"),
    ([1, 2], "1 2"),
    ([NAN, 1, NAN, NAN, 2], "_ 1 stale _ 2"),
    ([0.5, 1.5, 2.5, NAN, 7, 7, 7, 8], "0.5+1x2 stale 7+0x2 8"),
])
def test_series_notation(values, text):
    assert _values(np.array(values, dtype=float)) == text


def _notation_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    cases = [np.resize(np.array(v, dtype=float), 60) for v in (  # equal lengths: a series
        # that ends early stays visible for the look-back (5m), as it would live
        [1, 2, 3, 4, NAN, NAN, 5, 5, 5, 5, 4, 3, 2],
        [NAN, NAN, 0.1, 0.2, 0.30000000000000004, 0.4, NAN, 1e300, -1e-300, 0],
        [123456789012.5, 123456789013.5, 123456789014.5, 3, NAN])]
    for _ in range(6):
        steps = rng.choice([0.0, 0.0, 1.0, 0.1, 0.3, 1e-9, 123456.789, -2.5], 60)
        values = np.cumsum(steps) * rng.choice([1.0, 1e6, 1e-3])
        values[rng.random(60) < 0.15] = NAN
        cases.append(values)
    return cases


def test_promtool_reads_the_series_notation_back(tmp_path):
    """Every written value comes back exactly; a gap is empty (stale), not the old value."""
    cases = _notation_cases()
    lines = ["rule_files: []", "evaluation_interval: 1m", "tests:", "  - interval: 1m",
             "    input_series:"]
    for number, values in enumerate(cases):
        lines += [f"      - series: 'v{{case=\"{number}\"}}'",
                  f"        values: '{_values(values)}'"]
    lines.append("    promql_expr_test:")
    for step in range(60):
        present = [(n, c[step]) for n, c in enumerate(cases) if not np.isnan(c[step])]
        lines += ["      - expr: v", f"        eval_time: {step}m",
                  "        exp_samples:" + ("" if present else " []")]
        for number, value in present:
            lines += [f"          - labels: 'v{{case=\"{number}\"}}'",
                      f"            value: {float(value)!r}"]
    (tmp_path / "notation_test.yml").write_text("\n".join(lines) + "\n")
    result = subprocess.run([require_binary("promtool"), "test", "rules", "notation_test.yml"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


FIRING_RULES = """groups:
  - name: t
    rules:
      - alert: XHigh
        expr: x > 5
        for: 2m
        labels: {severity: critical}
      - alert: YAny
        expr: y > 0
        labels: {severity: warning, note: "a, b=c"}
      - alert: Never
        expr: x > 100
"""
EXPECTED_FIRINGS = [
    Firing(2, "YAny", (("kind", "a"), ("note", "a, b=c"), ("severity", "warning"))),
    Firing(3, "XHigh", (("job", "j"), ("severity", "critical"))),
    Firing(4, "XHigh", (("job", "j"), ("severity", "critical"))),
    Firing(8, "XHigh", (("job", "j"), ("severity", "critical"))),
    Firing(8, "YAny", (("kind", "a"), ("note", "a, b=c"), ("severity", "warning"))),
    Firing(9, "YAny", (("kind", "a"), ("note", "a, b=c"), ("severity", "warning"))),
]


def capture_firings(tmp: Path) -> str:
    """promtool's listing for a small file that fires at a few steps (XHigh needs 2m)."""
    rules = tmp / "alerts.yml"
    rules.write_text(FIRING_RULES)
    series = [Series("x", {"job": "j"}, np.array([0, 6, 6, 6, 6, 0, 6, 6, 6, 0, 0, 0.0])),
              Series("y", {"kind": "a"}, np.array([NAN, NAN, 1, NAN, NAN, NAN, NAN, NAN, 2, 2,
                                                   NAN, NAN]))]
    write_test_file(tmp / "firings_test.yml", [rules], series, 12)
    result = subprocess.run([require_binary("promtool"), "test", "rules", "firings_test.yml"],
                            cwd=tmp, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_parse_firings_on_captured_promtool_output():
    assert parse_firings(FIXTURE.read_text()) == EXPECTED_FIRINGS


def test_captured_promtool_output_is_current(tmp_path):
    live = capture_firings(tmp_path)
    assert live == FIXTURE.read_text(), (
        "promtool's listing changed: check parse_firings, then re-capture with "
        "`python -m tests.test_backtest_units`")
    assert parse_firings(live) == EXPECTED_FIRINGS


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
    assert (s.incidents, s.caught, s.delays) == (3, 2, [3, 60])
    assert s.missed == ["spike 2025-01-01 16:40"]
    assert s.paging_episodes == 7 and len(s.false_alerts) == 4 and s.false_episodes == 3
    assert s.recall == pytest.approx(2 / 3) and s.precision == pytest.approx(1 - 4 / 7)
    assert s.false_per_day == 1.5 and s.median_delay == 31.5
    assert s.false_alerts[0] == "Fast{status=denied} @2025-01-01 01:50 (3 min)"
    empty = score([], [], origin, steps=1440)
    assert (empty.recall, empty.precision, empty.median_delay) == (1.0, 1.0, None)
    assert json.loads(json.dumps(s.as_dict()))["false_per_day"] == 1.5


# ---- remote write -------------------------------------------------------------------------

def _bits(values: np.ndarray) -> list[int]:
    return values.astype("<f8").view("<i8").tolist()


def test_remote_write_round_trips_through_protobuf_and_snappy():
    values = np.array([0.0, -0.0, NAN, 1.5, np.inf, -np.inf, 1e308, 5e-324, NAN, 42.0])
    series = [Series("job:metric:rate5m", {"status": "fäiled", "quote": 'a"b\\c\nd',
                                            "A": "upper"}, values),
              Series("empty", {}, np.full(3, NAN))]
    origin, step = 1_700_000_000.0, 15.0
    body = remote_write.encode_body(series, origin, step)
    (labels, got, stamps), (labels2, got2, stamps2) = remote_pb.decode(body)
    assert list(labels) == sorted(labels)  # Prometheus wants labels sorted by name
    assert labels == {"__name__": "job:metric:rate5m", "status": "fäiled", "quote": 'a"b\\c\nd',
                      "A": "upper"}
    present = ~np.isnan(values)
    assert _bits(got) == _bits(values[present])  # NaN = no sample; -0.0 and inf kept exactly
    assert stamps.tolist() == [int((origin + i * step) * 1000) for i in np.flatnonzero(present)]
    assert labels2 == {"__name__": "empty"} and len(got2) == len(stamps2) == 0
    assert remote_pb.decode(remote_pb.encode(series, origin, step))[0][0] == labels


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50),
       origin=st.integers(0, 4_000_000_000), step=st.sampled_from([1.0, 15.0, 60.0]))
def test_remote_write_matches_protobuf_encoder(values, origin, step):
    series = [Series("m", {"k": "v"}, np.array(values, dtype=float))]
    mine = remote_pb.decode(remote_write.encode_body(series, float(origin), step))
    theirs = remote_pb.decode(remote_pb.encode(series, float(origin), step))
    assert mine[0][0] == theirs[0][0]
    assert _bits(mine[0][1]) == _bits(theirs[0][1])
    assert mine[0][2].tolist() == theirs[0][2].tolist()


def test_snappy_literal_spans_several_chunks():
    data = np.random.default_rng(1).integers(0, 256, (1 << 24) + 12345, dtype=np.uint8)
    body = remote_write.snappy_literal(data.tobytes())
    assert bytes(remote_pb.cramjam.snappy.decompress_raw(body)) == data.tobytes()


def test_remote_write_refuses_timestamps_it_cannot_encode():
    with pytest.raises(ValueError, match="2\\^42"):
        remote_write.encode_body([Series("m", {}, np.ones(2))], 2.0**42 / 1000, 1.0)


# ---- the CLI's JSON document ------------------------------------------------------------

B_RULES = """groups:
  - name: b
    rules:
      - alert: AnyFailed
        expr: sum by (job) (increase(payment_transactions_total{status="failed"}[5m])) > 0
        labels: {severity: warning, status: failed}
"""


@pytest.mark.slow
def test_backtest_cli_json(tmp_path):
    paths = write(tmp_path / "d", days=2, seed=21)
    b_rules = tmp_path / "b.yml"
    b_rules.write_text(B_RULES)
    out = subprocess.run([sys.executable, "-m", "txwatch.replay", "backtest", "--json",
                          "--data", str(paths["transactions"]), str(paths["auth_codes"]),
                          "--incidents", str(paths["incidents"]), "--rules-b", str(b_rules)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # the whole of stdout is one document
    assert doc["data"]["minutes"] == 2880
    assert doc["data"]["start"] == "2025-01-06T00:00:00+00:00"
    a, b = doc["rule_sets"]["A"], doc["rule_sets"]["B"]
    assert a["score"]["caught"] == a["score"]["incidents"] == doc["incidents"] == 3
    assert {"recall", "precision", "false_per_day", "median_delay"} <= set(a["score"])
    assert a["always_firing"] == ["Watchdog"] and b["always_firing"] == []
    assert a["episodes"] == len(a["episode_list"]) >= a["paging_episodes"] > 0
    first = a["episode_list"][0]
    assert pd.Timestamp(first["start"]) <= pd.Timestamp(first["end"])
    assert {e["alertname"] for e in b["episode_list"]} == {"AnyFailed"}
    assert doc["comparison"]["caught"] == {"A": 3, "B": b["score"]["caught"]}
    assert doc["elapsed_seconds"] >= a["seconds"] + b["seconds"] > 0


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        FIXTURE.parent.mkdir(exist_ok=True)
        FIXTURE.write_text(capture_firings(Path(tmp)))
    print(f"wrote {FIXTURE}")
