"""The backtest's edges, checked against the real tools: promtool reading our series
notation and the failure listing we parse (captured in tests/data, re-checked live), remote
write decoded by protobuf + cramjam, and the CLI's ``--json`` document.

``python -m tests.test_backtest_io`` re-captures tests/data/promtool_firings.txt.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import require_binary
from txwatch.engines import remote_pb, remote_write
from txwatch.engines.promtool import (
    Firing,
    Window,
    _values,
    evaluate,
    evaluate_windows,
    parse_firings,
    write_test_file,
)
from txwatch.engines.series import Series
from txwatch.history.generate import write

FIXTURE = Path(__file__).resolve().parent / "data" / "promtool_firings.txt"
NAN = np.nan


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
        "`python -m tests.test_backtest_io`")
    assert parse_firings(live) == EXPECTED_FIRINGS


def test_windows_in_one_promtool_file_fire_as_each_alone(tmp_path):
    """Several windows in one file (one promtool process): each window's firings are those
    it has evaluated alone, steps counted from its own start, with no firing crossing over."""
    rules = tmp_path / "alerts.yml"
    rules.write_text(FIRING_RULES)
    x = np.array([0, 6, 6, 6, 6, 0, 6, 6, 6, 0, 0, 0.0])
    y = np.array([NAN, NAN, 1, NAN, NAN, NAN, NAN, NAN, 2, 2, NAN, NAN])
    windows = [Window([Series("x", {"job": "j"}, x)], 12),
               Window([Series("y", {"kind": "a"}, y)], 12, [2, 8]),
               Window([Series("x", {"job": "k"}, x[5:])], 7),
               Window([Series("x", {"job": "j"}, np.zeros(5))], 5)]
    together = evaluate_windows([rules], windows)
    alone = [evaluate([rules], w.series, w.steps, query_steps=w.query_steps) for w in windows]
    assert together == alone
    assert [len(found) for found in together] == [3, 2, 1, 0]
    assert [f.step for f in together[2]] == [3]  # x > 5 at its steps 1-3, for 2m: fires at 3


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


def test_remote_write_posts_batches_prometheus_can_read(monkeypatch):
    posted: list[tuple[dict[str, str], bytes]] = []

    def post(url: str, data: bytes, timeout: float, headers: dict[str, str]):
        assert url == "http://prom/api/v1/write"
        posted.append((headers, data))
        return SimpleNamespace(status_code=204, text="")

    monkeypatch.setattr(remote_write.requests, "post", post)
    monkeypatch.setattr(remote_write, "BATCH_SAMPLES", 12)
    series = [Series("m", {"i": str(i)}, np.arange(6.0)) for i in range(5)]
    assert remote_write.write("http://prom", series, 0.0, 60.0) == 30
    assert len(posted) == 3  # two series of 6 samples fill a batch of 12
    assert all(h["Content-Encoding"] == "snappy" and h["Content-Type"] ==
               "application/x-protobuf" for h, _ in posted)
    decoded = [ts for _, body in posted for ts in remote_pb.decode(body)]
    assert [labels["i"] for labels, _, _ in decoded] == ["0", "1", "2", "3", "4"]
    assert all(values.tolist() == list(range(6)) for _, values, _ in decoded)


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
                          "--incidents", str(paths["incidents"]), "--rules-b", str(b_rules),
                          "--report", str(tmp_path / "report")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # the whole of stdout is one document
    assert doc["data"]["minutes"] == 2880
    assert doc["data"]["start"] == "2025-01-06T00:00:00+00:00"
    a, b = doc["rule_sets"]["A"], doc["rule_sets"]["B"]
    assert a["score"]["caught"] == a["score"]["incidents"] == doc["incidents"] == 3
    assert {"recall", "precision", "false_per_day", "median_delay", "false_pages_per_week",
            "false_warnings_per_day", "pages_per_incident", "notifications_per_day"} \
        <= set(a["score"])
    assert a["always_firing"] == ["Watchdog"] and b["always_firing"] == []
    listed = a["episode_list"]
    assert a["episodes"] == len(listed) >= a["pages"] + a["warnings"] > 0
    assert a["pages"] == sum(e["paging"] for e in listed) == sum(
        e["severity"] == "critical" and e["alertname"] != "Watchdog" for e in listed)
    assert a["warnings"] == sum(e["severity"] == "warning" for e in listed)
    first = listed[0]
    assert pd.Timestamp(first["start"]) <= pd.Timestamp(first["end"])
    assert {e["alertname"] for e in b["episode_list"]} == {"AnyFailed"}
    comparison = doc["comparison"]
    assert comparison["figures"]["caught"] == {"A": "3/3", "B": f"{b['score']['caught']}/3"}
    assert comparison["figures"]["pages"] == {"A": a["pages"], "B": 0}
    labels = json.loads(paths["incidents"].read_text())["incidents"]
    assert [r["incident"] for r in comparison["incidents"]] == [
        f"{i['kind']} {i['start'][:16].replace('T', ' ')}" for i in labels]
    # no alert is in both rule sets: every notifying episode of each side is only its own
    assert len(comparison["episodes"]["disappear"]) == a["pages"] + a["warnings"]
    assert len(comparison["episodes"]["appear"]) == b["warnings"] > 0
    # one report: the A/B table, each incident's delays, the episodes only one side has
    page = (tmp_path / "report" / "index.html").read_text()
    assert page.count("<h2>A/B</h2>") == 1 and page.count("<img") == 1
    assert f"Episodes only in B (new with B): {b['warnings']}" in page
    for row in comparison["incidents"]:
        assert f"<td>{row['incident']}</td><td>{row['A']}</td>" in page
    assert doc["elapsed_seconds"] >= a["seconds"] + b["seconds"] > 0


# ---- the CLI on a history with codes the contract does not list -------------------------

CODE_RULES = """groups:
  - name: codes
    rules:
      - alert: Code91Seen
        expr: sum by (job, auth_code) (increase(payment_auth_codes_total{auth_code="91"}[5m])) > 0
        labels: {severity: warning}
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "txwatch.replay", *args],
                          capture_output=True, text=True, timeout=300)


def test_analyze_cli_reports_every_code_of_the_history(tmp_path):
    paths = write(tmp_path / "d", days=1, seed=3, profile="many_codes")
    out = _cli("analyze", str(paths["transactions"]), str(paths["auth_codes"]))
    assert out.returncode == 0, out.stderr
    rows = [line.split()[0] for line in out.stdout.splitlines() if line.strip()]
    for code in ("91", "05", "96", "41"):  # shares and table rows, mix and its rows
        assert rows.count(code) == 4, (code, out.stdout)


def test_cli_refuses_unknown_statuses_by_name(tmp_path):
    paths = write(tmp_path / "d", days=1, seed=3)
    bad = tmp_path / "bad.csv"
    bad.write_text(paths["transactions"].read_text() + "2025-01-06 12:00:00,stolen,2\n")
    for command in (["analyze", str(bad)], ["backtest", "--data", str(bad)]):
        out = _cli(*command)
        assert out.returncode == 2, out.stderr
        assert "unknown status(es) stolen" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_backtest_cli_scrapes_every_code_of_the_history(tmp_path):
    """Code 91 is no contract code, yet the backtest's scrapes carry its counter."""
    paths = write(tmp_path / "d", days=1, seed=3, profile="many_codes")
    rules = tmp_path / "codes.yml"
    rules.write_text(CODE_RULES)
    out = _cli("backtest", "--json", "--rules", str(rules), "--data",
               str(paths["transactions"]), str(paths["auth_codes"]))
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)["rule_sets"]["A"]["episode_list"]
    assert listed and {e["labels"].get("auth_code") for e in listed} == {"91"}
    assert sum(e["minutes"] for e in listed) > 60  # 91 is ~0.2% of ~180 a minute


def test_constant_rules_are_filled_in_as_prometheus_would_return_them(tmp_path):
    """The engine answers ``vector(<number>)`` (the threshold rows) without a query; the
    series must be the one Prometheus returns, and any other expression still goes to it."""
    require_binary("prometheus")
    from txwatch.backtest.engine import _evaluate_range
    from txwatch.engines.server import ThrowawayPrometheus

    with ThrowawayPrometheus(tmp_path / "tsdb", lookback="59s") as prom:
        for expr in ("vector(0.005)", " vector( 1e-3 ) ", "vector(-2)", "vector(3.)"):
            [(labels, values)] = _evaluate_range(prom, expr, 30)
            [(want_labels, want)] = prom.query_range(expr, 0.0, 30, 60.0)
            assert labels == want_labels == {}
            np.testing.assert_array_equal(values, want)
        [(_, summed)] = _evaluate_range(prom, "vector(1) + vector(2)", 5)
        np.testing.assert_array_equal(summed, np.full(5, 3.0))


@pytest.mark.parametrize(("profile", "alerts"), [
    ("demo", {"PaymentRatioHighFast", "PaymentRatioHighSlow"}),
    ("outages", {"PaymentTrafficStopped"})])
def test_shared_counts_find_the_steps_the_written_expressions_do(tmp_path, profile, alerts):
    """The candidate search reads each windowed count once, written back as a series, and
    promtool evaluates the alerts rewritten that way; on a generated history with incidents
    the shipped alerts fire at exactly the same steps as when every alert expression is
    evaluated as written, by both stages."""
    require_binary("prometheus")
    require_binary("promtool")
    from txwatch import contract
    from txwatch.backtest.engine import evaluate_history
    from txwatch.history.dataset import load_dataset
    from txwatch.history.scrape import scrape_series
    from txwatch.resources import rule_files, rules_dir

    paths = write(tmp_path / "data", 2, 5, profile=profile)
    data = load_dataset([paths["transactions"], paths["auth_codes"]], contract.STATUSES,
                        contract.AUTH_CODES)
    raw, steps = list(scrape_series(data)), len(data.transactions)
    files = rule_files(rules_dir())
    shared, _, _ = evaluate_history(raw, steps, files, share=True)
    written, _, _ = evaluate_history(raw, steps, files, share=False)
    assert len(shared) == len(written) and set(shared) == set(written)
    fired = {f.alertname for f in shared}
    assert alerts <= fired, fired


def test_shared_counts_keep_the_labels_of_the_counts_they_stand_for(tmp_path):
    """A count compared without ``bool`` keeps no series name in the rule (it is an
    aggregation); its shared stand-in must not gain one, or a subquery over two such
    branches holds two series of the same labels and the query fails. The rule below
    (an empty 2 minutes, or a quiet night's 10) holds each branch alone within 20 minutes
    of the night-time outage, and must fire at the same steps in both forms."""
    require_binary("prometheus")
    require_binary("promtool")
    from txwatch import contract
    from txwatch.backtest.engine import evaluate_history
    from txwatch.history.dataset import load_dataset
    from txwatch.history.scrape import scrape_series

    paths = write(tmp_path / "data", 2, 5, profile="outages")
    data = load_dataset([paths["transactions"], paths["auth_codes"]], contract.STATUSES,
                        contract.AUTH_CODES)
    count = 'sum by (job) (increase(payment_transactions_total{job="txwatch"}[%s]))'
    rules = tmp_path / "alerts.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{
        "alert": "RecentlyEmpty", "expr": f"max_over_time(({count % '2m'} < 1 or "
                                          f"{count % '10m'} < 200)[20m:1m])"}]}]}))
    raw, steps = list(scrape_series(data)), len(data.transactions)
    shared, _, _ = evaluate_history(raw, steps, [rules], share=True)
    written, _, _ = evaluate_history(raw, steps, [rules], share=False)
    assert shared and set(shared) == set(written)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        FIXTURE.parent.mkdir(exist_ok=True)
        FIXTURE.write_text(capture_firings(Path(tmp)))
    print(f"wrote {FIXTURE}")
