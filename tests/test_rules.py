"""Rule files with the real promtool: syntax, unit suites, their sensitivity, the table."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, require_binary
from tests.promsuite import asserted, case_file, cases
from txwatch.rules.inputs import inline_group

RULES = REPO / "rules"
RULE_FILES = sorted(RULES.glob("*.yml"))
SUITES = sorted((RULES / "tests").glob("*.yml"))
SEVERITIES = {"critical", "warning", "info"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.name for p in RULE_FILES])
def test_promtool_check_rules(path: Path):
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


CASES = [(suite, i) for suite in SUITES for i in range(len(cases(suite)))]


@pytest.mark.parametrize(("suite", "index"), CASES,
                         ids=[f"{s.name}[{i}]" for s, i in CASES])
def test_promtool_unit_suites(suite: Path, index: int, tmp_path):
    """Each test group of each suite, loading only the alerts it asserts (tests/promsuite.py)."""
    result = promtool("test", "rules", str(case_file(suite, index, tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_case_file_keeps_the_asserted_alerts_and_every_group(tmp_path):
    suite = RULES / "tests" / "ratio_alerts_test.yml"
    index = next(i for i, c in enumerate(cases(suite)) if asserted(c))
    written = yaml.safe_load(case_file(suite, index, tmp_path).read_text())
    assert len(written["tests"]) == 1
    alerts = yaml.safe_load(Path(written["rule_files"][-1]).read_text())
    shipped = yaml.safe_load((RULES / "alerts.yml").read_text())
    assert [g["name"] for g in alerts["groups"]] == [g["name"] for g in shipped["groups"]]
    kept = {r["alert"] for g in alerts["groups"] for r in g["rules"] if "alert" in r}
    assert kept == asserted(cases(suite)[index]) and kept
    # with every quantity the alerts' group records for them
    records = [[r["record"] for r in g["rules"] if "record" in r] for g in alerts["groups"]]
    assert records == [[r["record"] for r in g["rules"] if "record" in r]
                       for g in shipped["groups"]]


@pytest.mark.slow
@pytest.mark.heavy
def test_suites_fail_when_a_threshold_changes(tmp_path):
    """The suites pin behaviour: raising the failed fast threshold must break them."""
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    table = copy / "thresholds.yml"
    text = table.read_text()
    needle = ('"threshold:payment_transactions:ratio_fast_floor", expr: vector(0.005), '
              'labels: {status: failed')
    assert needle in text
    table.write_text(text.replace(needle, needle.replace("0.005", "0.5")))
    # Only the cases that page on failed (the whole suite takes minutes; these, seconds)
    suite = copy / "tests" / "ratio_alerts_test.yml"
    doc = yaml.safe_load(suite.read_text())
    doc["tests"] = [case for case in doc["tests"] if any(
        'status="failed"' in s["series"] for s in case["input_series"]) and any(
        a["alertname"] == "PaymentRatioHighFast" and a.get("exp_alerts")
        for a in case.get("alert_rule_test", []))]
    assert doc["tests"]
    suite.write_text(yaml.safe_dump(doc, sort_keys=False))
    # the cases together, with only the fast page loaded (tests/promsuite.py)
    doc["tests"] = [{**case, "alert_rule_test": [
        a for a in case["alert_rule_test"] if a["alertname"] == "PaymentRatioHighFast"]}
        for case in doc["tests"]]
    suite.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = promtool("test", "rules", str(case_file(suite, 0, tmp_path, every=True)))
    assert result.returncode != 0
    assert "PaymentRatioHighFast" in result.stdout + result.stderr


def _rules(path: Path) -> list[dict]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def _alerts(path: Path) -> list[dict]:
    """The alerts of a rule file, the quantities their group records put back inline."""
    return [r for g in yaml.safe_load(path.read_text())["groups"]
            for r in inline_group(g["rules"]) if "alert" in r]


def test_every_alert_has_severity_status_and_annotations():
    table = _rules(RULES / "thresholds.yml")
    for rule in _alerts(RULES / "alerts.yml"):
        labels = rule.get("labels", {})
        from_table = "group_left (severity" in rule["expr"]
        assert from_table or labels.get("severity") in SEVERITIES, rule["alert"]
        # the status of each series: summed by it inline, or a segment's recorded per status
        per_status = any(f in rule["expr"] for f in ("sum by (job, status)", "segment_status:"))
        assert from_table or per_status or "status" in labels, rule["alert"]
        assert rule["alert"][0].isupper() and "_" not in rule["alert"]
        for key in ("summary", "description", "runbook_url"):
            assert rule["annotations"].get(key), (rule["alert"], key)
        anchor = rule["annotations"]["runbook_url"].split("#")[1]
        runbook = (REPO / "docs" / "runbook.md").read_text().lower()
        assert f"## {rule['alert'].lower()}" in runbook, anchor
    severities = {r["labels"]["severity"] for r in table if "severity" in r.get("labels", {})}
    assert severities <= SEVERITIES


def test_threshold_table_complete_for_every_ratio_status():
    rows: dict[str, set[str]] = {}
    for rule in _rules(RULES / "thresholds.yml"):
        status = rule.get("labels", {}).get("status")
        if rule["record"].startswith("threshold:payment_transactions:") and status:
            rows.setdefault(status, set()).add(rule["record"].rsplit(":", 1)[1])
    needed = {"ratio_normal", "ratio_factor", "ratio_fast_margin", "ratio_fast_floor",
              "ratio_slow_margin", "ratio_slow_floor", "ratio_cap"}
    for status in ("failed", "denied", "reversed", "backend_reversed"):
        assert needed <= rows[status], status


@pytest.mark.parametrize("alert, severity", [("PaymentRatioHighSlow", "warning"),
                                             ("PaymentRatioHighFast", "critical")])
def test_share_alert_without_a_normal_row_keeps_its_strict_test(tmp_path, alert, severity):
    """A hand-edited table that drops a status's ``ratio_normal`` row leaves the status a
    limit (its cap) but, in the first minutes, no normal for the share alerts' Poisson
    test: each must still fire on its strict test, not go silent."""
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    table = copy / "thresholds.yml"
    lines = table.read_text().splitlines(keepends=True)
    dropped = [x for x in lines if "ratio_normal" in x and "status: failed" in x]
    assert len(dropped) == 1
    table.write_text("".join(x for x in lines if x not in dropped))
    suite = copy / "tests" / "no_normal_row.yml"
    series = 'payment_transactions_total{job="txwatch",instance="e:1",status="%s"}'
    suite.write_text(yaml.safe_dump({
        "rule_files": ["../recording.yml", "../thresholds.yml", "../alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",  # 10% failed from the start: no learned normal for 15 minutes
            "input_series": [{"series": series % "approved", "values": "0+90x20"},
                             {"series": series % "failed", "values": "0+10x20"}],
            "promql_expr_test": [{
                "expr": f'ALERTS{{alertname="{alert}",alertstate="firing"}}',
                "eval_time": "8m",
                "exp_samples": [{"labels": f'ALERTS{{alertname="{alert}",alertstate="firing",'
                                 f'job="txwatch",severity="{severity}",status="failed"}}',
                                 "value": 1}]}]}]}))
    result = promtool("test", "rules", str(suite))
    assert result.returncode == 0, result.stdout + result.stderr


def test_recording_rule_names_follow_level_metric_operations():
    for path in (RULES / "recording.yml", RULES / "thresholds.yml"):
        for rule in _rules(path):
            assert rule["record"].count(":") == 2, rule["record"]


def test_rule_renderer_round_trips_awkward_text(tmp_path):
    """Job names and texts with quotes, colons and hashes still render to YAML that loads as
    the rules they came from and that promtool accepts (the CLI takes them from users)."""
    from txwatch.rules import Settings, render_alerts, render_recording
    from txwatch.rules.yamltext import Group, Rule, render

    settings = Settings(job='pay"ments: #1', runbook_base="https://wiki.example/a b#c")
    for name, text in (("recording.yml", render_recording(settings)),
                       ("alerts.yml", render_alerts(settings))):
        (tmp_path / name).write_text(text)
        exprs = [r["expr"] for r in _rules(tmp_path / name)]
        assert any('job="pay\\"ments: #1"' in expr for expr in exprs), name
    result = promtool("check", "rules", str(tmp_path / "recording.yml"),
                      str(tmp_path / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    odd = Rule(alert="A", expr='up{x="a: #b"} == 0', labels={"code": "59", "s": "yes"},
               annotations={"summary": 'say "hi" \\ {{ $value }}', "description": "#" * 150})
    assert yaml.safe_load(render("h", [Group("g", [odd])]))["groups"][0]["rules"][0] == (
        odd.as_data())


def test_the_boards_share_panels_follow_the_tables_limited_statuses(tmp_path):
    """A status whose limit rows are deleted from the table loses its share panel's status."""
    from txwatch.rules import limited_statuses

    shipped = limited_statuses()
    assert set(shipped) == {"failed", "denied", "reversed", "backend_reversed"}
    table = tmp_path / "thresholds.yml"
    table.write_text("\n".join(line for line in (RULES / "thresholds.yml").read_text().splitlines()
                               if "status: reversed}" not in line))
    assert limited_statuses(table) == tuple(s for s in shipped if s != "reversed")


def test_no_rendered_rule_line_is_over_120_characters():
    """Operators read and edit these files: long expressions and messages are wrapped."""
    for path in (RULES / "alerts.yml", RULES / "recording.yml"):
        long = [n for n, line in enumerate(path.read_text().splitlines(), 1) if len(line) > 120]
        assert not long, f"{path.name}: lines {long[:5]} are over 120 characters"


def test_a_wrapped_promql_line_parses_as_the_line_and_never_breaks_a_string():
    import promql_parser

    from txwatch.rules.yamltext import wrap_line

    line = ("  sum by (job) (increase(payment_transactions_total{job=\"a b c\", status=~\"x|y\"}"
            "[5m])) / on (job) group_left () " + " + ".join(f"metric_{i}" for i in range(30)))
    wrapped = wrap_line(line, offset=10)
    assert len(wrapped) > 1 and all(10 + len(part) <= 120 for part in wrapped)
    assert all('"a b c"' in part for part in wrapped if "job=" in part)
    assert str(promql_parser.parse("\n".join(wrapped))) == str(promql_parser.parse(line))
