"""Text that names a confidence level says the level of the bound it shows, per real promtool.

Every alert (summary, description) and board panel (title, description) whose text names a
confidence level ("lower 99.9% bound", "99% confidence") is matched with the Wilson-bound
series it reads. For each such pair, the real ``promtool test rules`` evaluates the recording
rules on counters rising linearly (k failures of n transactions per window) and checks
that the recorded bound equals the textbook Wilson lower bound at the z of the named level,
within a tolerance that 99% and 99.9% cannot both meet. PromQL is never re-implemented here.
A text must name one level and read the bound(s) of that level; a text naming a level but
reading no bound, or two levels at once, is reported too.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from statistics import NormalDist

import promql_parser
import pytest
import yaml

from tests.conftest import REPO, require_binary
from tests.promsuite import case_file, cases, covering
from txwatch import contract
from txwatch.rules import DEFAULT, Confidence, Settings, render_alerts, render_recording
from txwatch.rules.inputs import inline_group

RULES = REPO / "rules"
BOARDS = sorted((REPO / "grafana" / "dashboards").glob("*.json"))
LEVEL = re.compile(
    r"(?<![\d.])(\d{1,2}(?:\.\d+)?) ?%(?=(?:\s+[\w-]+){0,2}?\s+(?:confidence|bound)\b)"
    r"|confidence(?:\s+level)?(?:\s+of)?\s+(\d{1,2}(?:\.\d+)?) ?%", re.IGNORECASE)
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
PER_MINUTE = {"k": 10, "n": 100}  # 10 of 100 per minute: k = 50 of n = 500 over 5m
TOLERANCE = 2e-4
EVAL_MINUTES = 90
SCORE = "score test at z "  # what a text reads when its alert compares a score with z


def wilson_lower(k: float, n: float, z: float) -> float:
    """Textbook Wilson score interval with continuity correction, lower end (Newcombe 1998,
    "Two-sided confidence intervals for the single proportion", method 4)."""
    if k == 0:
        return 0.0
    root = math.sqrt(z * z - 2 - 1 / n + 4 * (k / n) * (n * (1 - k / n) + 1))
    return max(0.0, (2 * n * (k / n) + z * z - 1 - z * root) / (2 * (n + z * z)))


def _nodes(expr: str, match: Callable[[object], bool]) -> list[object]:
    """The outermost nodes of ``expr``'s syntax tree (read with promql-parser) that
    ``match``; a matching node's children are not searched."""
    found: list[object] = []

    def walk(node: object) -> None:
        if match(node):
            found.append(node)
            return
        for attr in ("lhs", "rhs", "expr"):
            if hasattr(node, attr):
                walk(getattr(node, attr))
        for arg in getattr(node, "args", []) or []:
            walk(arg)

    walk(promql_parser.parse(expr))
    return found


def inline_bounds(expr: str) -> list[str]:
    """Bounds an alert computes inline from the counters: every ``clamp_min(...)`` call
    that takes a square root."""
    return [str(node) for node in _nodes(expr, lambda node: isinstance(
        node, promql_parser.Call) and node.func.name == "clamp_min" and "sqrt" in str(node))]


def score_tests(expr: str) -> list[float]:
    """The z of every score test an alert computes inline: a ``> z`` comparison of a score
    (``rules.wilson.wilson_score``, a quotient by ``sqrt(L * (1 - L))``, equivalent to its
    Wilson bound above the limit; or ``rules.inline.normal_score``, the Poisson test).
    The slow alert compares its score with ``z - d * (poisson > bool z')``: z and z - d."""
    def is_score(node: object) -> bool:
        return "sqrt" in str(node) and "(1 - " in str(node)

    def is_score_test(node: object) -> bool:
        return (isinstance(node, promql_parser.BinaryExpr) and str(node.op) == ">"
                and is_score(node.lhs) and (isinstance(node.rhs, promql_parser.NumberLiteral)
                                            or _lowered(node.rhs) is not None))

    found = []
    for node in _nodes(expr, is_score_test):
        rhs = node.rhs  # type: ignore[attr-defined]
        lowered = _lowered(rhs)
        found += [float(rhs.val)] if lowered is None else [*lowered, *score_tests(str(rhs))]
    return found


def _lowered(node: object) -> tuple[float, float] | None:
    """(z, z - d) of a threshold written ``z - d * (...)`` (or that ``or`` a fallback to z
    for a status without a normal), else None."""
    while isinstance(node, promql_parser.ParenExpr) or (
            isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "or"):
        node = node.expr if isinstance(node, promql_parser.ParenExpr) else node.lhs
    if not (isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "-"
            and isinstance(node.lhs, promql_parser.NumberLiteral)
            and isinstance(node.rhs, promql_parser.BinaryExpr) and str(node.rhs.op) == "*"
            and isinstance(node.rhs.lhs, promql_parser.NumberLiteral)):
        return None
    z, d = float(node.lhs.val), float(node.rhs.lhs.val)
    return z, round(z - d, 12)


def named_levels(text: str) -> set[float]:
    """Confidence levels (as fractions) a text names: "lower 99.9% bound" -> {0.999}."""
    return {round(float(a or b) / 100, 12) for a, b in LEVEL.findall(text)}


def claims(alerts: Path, recording: Path, boards: list[Path]) -> list[tuple[str, float, set]]:
    """(where, level named, Wilson-bound series read) for every text that names a level."""
    bounds = {r["record"] for g in yaml.safe_load(recording.read_text())["groups"]
              for r in g["rules"] if "wilson" in r.get("record", "")}
    def named(rule: dict) -> str:  # one alert name may have a rule per severity
        severity = rule.get("labels", {}).get("severity")
        return f"alert {rule['alert']}" + (f" ({severity})" if severity else "")

    texts = [(named(r), r["annotations"].get("summary", "") + " "
              + r["annotations"].get("description", ""), r["expr"])
             for g in yaml.safe_load(alerts.read_text())["groups"]
             for r in inline_group(g["rules"]) if "alert" in r]
    for board in boards:
        for panel in json.loads(board.read_text())["panels"]:
            texts.append((f"{board.name} panel {panel.get('title')!r}",
                          f"{panel.get('title', '')} {panel.get('description', '')}",
                          " ".join(t.get("expr", "") for t in panel.get("targets", []))))
    def read(where: str, expr: str) -> set[str]:
        alert = where.startswith("alert ")
        inline = inline_bounds(expr) if alert else []
        scores = {f"{SCORE}{z!r}" for z in score_tests(expr)} if alert else set()
        return (set(IDENT.findall(expr)) & bounds) | set(inline) | scores

    return [(where, level, read(where, expr))
            for where, text, expr in texts for level in sorted(named_levels(text))]


def window_minutes(series: str) -> int:
    """The window of a recorded bound (its name ends in it) or of an inline one (its range)."""
    found = re.search(r"(\d+)([mh])$", series) or re.search(r"\[(\d+)([mh])\]", series)
    value, unit = found.groups()
    return int(value) * (60 if unit == "h" else 1)


def kind_of(series: str) -> contract.Kind:
    if series in contract.KIND_BY_LABEL or ":" in series.split("(")[0]:
        return contract.KIND_BY_LABEL[series.split(":")[0]]
    return next(k for k in contract.KINDS if k.counter in series)


def bound_matches(recording: Path, series: str, level: float, tmp: Path) -> str:
    """'' when promtool finds ``series`` equal to the Wilson bound at ``level``, else why not."""
    kind = kind_of(series)
    bad, good = ("failed", "approved") if kind is contract.TRANSACTIONS else ("59", "00")
    if f'auth_code!="{contract.APPROVED_AUTH_CODE}"' in series:  # a share of the declines
        good = "51"
    minutes = window_minutes(series)
    k, n = PER_MINUTE["k"] * minutes, PER_MINUTE["n"] * minutes
    expected = wilson_lower(k, n, NormalDist().inv_cdf(level))
    job = f'job="{contract.JOB}",instance="t:1"'
    per_minute = {bad: PER_MINUTE["k"], good: PER_MINUTE["n"] - PER_MINUTE["k"]}
    suite = {"rule_files": [str(recording)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": f'{kind.counter}{{{job},{kind.label}="{value}"}}',
                          "values": f"0+{rate}x{EVAL_MINUTES + 10}"}
                         for value, rate in per_minute.items()],
        "promql_expr_test": [{
            "expr": f'abs(({series}) - {expected!r}) < bool {TOLERANCE} and on ({kind.label}) '
                    f'{kind.counter}{{{kind.label}="{bad}"}}',
            "eval_time": f"{EVAL_MINUTES}m",
            "exp_samples": [{"labels": f'{{job="{contract.JOB}",{kind.label}="{bad}"}}',
                             "value": 1}]}]}]}
    path = tmp / f"bound_{abs(hash(series)) % 10**9}_{level}.yml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    result = subprocess.run([require_binary("promtool"), "test", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)
    return "" if result.returncode == 0 else (
        f"{series[:80]} is not the Wilson bound at {level:.4%} (k={k}, n={n}, expected "
        f"{expected:.6f}):\n{result.stdout}{result.stderr}")


def same_level(level: float, z: float) -> bool:
    """Whether a level as a text writes it (rounded) is z's: their tail probabilities agree
    within 20% (99.99997% names z 5.0, whose tail is 2.9e-7; 99% does not name z 3.09)."""
    tail = 1 - NormalDist().cdf(z)
    return abs(math.log((1 - level) / tail)) < math.log(1.2)


def problems(alerts: Path, recording: Path, boards: list[Path], tmp: Path) -> list[str]:
    """What is wrong with the levels the texts name. A text may name several levels only
    when its alert has a score test at each (the slow alert: its strict and its guarded
    test); each named level must be a score test's z, and each score test's z named."""
    found, verdicts = [], {}
    texts: dict[str, list[tuple[float, set[str]]]] = {}
    for where, level, series in claims(alerts, recording, boards):
        texts.setdefault(where, []).append((level, series))
    for where, named in texts.items():
        series = named[0][1]  # what the expression reads: the same for each level named
        scores = sorted(float(n[len(SCORE):]) for n in series if n.startswith(SCORE))
        bounds = sorted(n for n in series if not n.startswith(SCORE))
        if not series:
            found += [f"{where}: names {level:.4%} but reads no Wilson bound"
                      for level, _ in named]
            continue
        if len(named) > 1 and (bounds or not scores):
            found.append(f"{where}: names more than one confidence level")
            continue
        for level, _ in named:
            if scores and not any(same_level(level, z) for z in scores):
                tests = " or ".join(map(str, scores))
                found.append(f"{where}: names {level:.4%} but its score test is at z {tests}")
            for name in bounds:
                if (name, level) not in verdicts:
                    verdicts[name, level] = bound_matches(recording.resolve(), name, level, tmp)
                if verdicts[name, level]:
                    found.append(f"{where}: {verdicts[name, level]}")
        levels = [NormalDist().inv_cdf(level) for level, _ in named]
        found += [f"{where}: its score test at z {z} names no level"
                  for z in scores if len(named) > 1
                  and not any(abs(z - z_named) < 0.005 for z_named in levels)]
    return found


def test_shipped_texts_name_the_level_of_the_bound_they_show(tmp_path):
    found = claims(RULES / "alerts.yml", RULES / "recording.yml", BOARDS)
    where = {w for w, _, _ in found}
    assert {"alert PaymentRatioHighFast", "alert PaymentRatioHighSlow"} <= where
    assert sum(w.startswith("overview.json") for w in where) == 4  # the four share panels
    assert sum(w.startswith("status.json") for w in where) == 2
    assert "alert PaymentAuthCodeShareHigh" in where
    assert "alert PaymentAuthCodeMixShift" in where
    assert problems(RULES / "alerts.yml", RULES / "recording.yml", BOARDS, tmp_path) == []


def test_tolerance_tells_99_from_99_9():
    for minutes in (5, 60):
        k, n = PER_MINUTE["k"] * minutes, PER_MINUTE["n"] * minutes
        gap = abs(wilson_lower(k, n, NormalDist().inv_cdf(0.99))
                  - wilson_lower(k, n, NormalDist().inv_cdf(0.999)))
        assert gap > 4 * TOLERANCE, (minutes, gap)


def test_level_parsing():
    assert named_levels("The lower 99.9% confidence bound of the share") == {0.999}
    assert named_levels("its lower 99% bound, the fast threshold") == {0.99}
    assert named_levels("at 97.5 % one-sided confidence") == {0.975}
    assert named_levels("a confidence level of 95%") == {0.95}
    assert named_levels("at least {{ $value | humanizePercentage }}, above 0.5% share") == set()


def drifted(tmp_path: Path, recording: Settings = DEFAULT, alerts: Settings = DEFAULT):
    (tmp_path / "recording.yml").write_text(render_recording(recording))
    (tmp_path / "alerts.yml").write_text(render_alerts(alerts))
    return tmp_path / "alerts.yml", tmp_path / "recording.yml"


def test_catches_alert_text_with_the_wrong_level(tmp_path):
    alerts, recording = drifted(tmp_path)
    level = DEFAULT.status_5m.text
    text = alerts.read_text()
    named = re.compile(rf"lower\s+{re.escape(level)}\s+confidence\s+bound")  # folded text
    assert named.search(text)
    alerts.write_text(named.sub("lower 99% confidence bound", text, count=1))
    found = problems(alerts, recording, [], tmp_path)
    assert len(found) == 1 and found[0].startswith("alert PaymentRatioHighFast:"), found


def test_catches_a_score_test_at_another_level_than_its_text(tmp_path):
    alerts, recording = drifted(tmp_path)
    text = alerts.read_text()
    assert text.count("> 2.33\n") >= 4  # the auth-code share's, the code mix's per window
    alerts.write_text(text.replace("> 2.33\n", "> 3.09\n"))
    found = problems(alerts, recording, [], tmp_path)
    assert found == [f"alert {name}: names 99.0000% but its score test is at z 3.09"
                     for name in ("PaymentAuthCodeShareHigh", "PaymentAuthCodeMixShift")], found


def test_catches_the_slow_alerts_lowered_threshold_retuned_without_its_text(tmp_path):
    """The slow alert's score is compared with ``3.09 - 0.76 * (poisson > bool 3.72)``:
    change the lowering and its 99% is no longer a test's level."""
    alerts, recording = drifted(tmp_path)
    text = alerts.read_text()
    assert text.count("3.09 - 0.76 * (") == 1
    alerts.write_text(text.replace("3.09 - 0.76 * (", "3.09 - 1.09 * ("))
    assert problems(alerts, recording, [], tmp_path) == [
        "alert PaymentRatioHighSlow: names 99.0000% but its score test is at z 2.0 or 3.09 "
        "or 3.72", "alert PaymentRatioHighSlow: its score test at z 2.0 names no level"]


def test_catches_a_score_test_its_text_does_not_name(tmp_path):
    """The slow alert names three levels, one per score test; drop one from the text and
    the test it named is caught."""
    alerts, recording = drifted(tmp_path)
    far = DEFAULT.status_slow_normal
    assert far is not None
    text = alerts.read_text()
    assert f"(Poisson test at {far.text}\n" in text  # the text is folded after it
    alerts.write_text(text.replace(f"(Poisson test at {far.text}\n", "(Poisson test\n"))
    assert problems(alerts, recording, [], tmp_path) == [
        f"alert PaymentRatioHighSlow: its score test at z {far.z} names no level"]


def test_catches_a_bound_retuned_without_its_text(tmp_path):
    alerts, recording = drifted(tmp_path, recording=Settings(status_1h=Confidence(3.09)))
    found = problems(alerts, recording, BOARDS, tmp_path)
    assert {f.split(":")[0] for f in found} == {"status.json panel '$status share over 1 hour'"}, \
        found


def test_catches_a_board_with_the_wrong_level(tmp_path):
    board = tmp_path / "overview.json"
    level = DEFAULT.status_5m.text
    board.write_text(BOARDS[0].read_text().replace(f"lower {level} bound", "lower 99% bound"))
    found = problems(RULES / "alerts.yml", RULES / "recording.yml", [board], tmp_path)
    assert len(found) == 4 and all("ratio_wilson_lower5m" in f for f in found), found


def test_catches_a_level_named_without_a_bound(tmp_path):
    alerts = tmp_path / "alerts.yml"
    alerts.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{
        "alert": "X", "expr": "status:payment_transactions:ratio_rate5m > 0.1",
        "annotations": {"description": "above the 99% confidence limit"}}]}]}))
    assert problems(alerts, RULES / "recording.yml", [], tmp_path) == [
        "alert X: names 99.0000% but reads no Wilson bound"]


def test_confidence_text_is_derived_from_z():
    assert Confidence(3.09).text == "99.9%" and Confidence(2.33).text == "99%"
    assert Confidence(1.96).text == "97.5%" and Confidence(1.645).text == "95%"


def test_no_hand_typed_wilson_constants_in_rules():
    """The rendered files are exactly the render (so every constant in them is computed), z
    is written once (rules/settings.py), and z^2, z^2/2, z^2/4 are typed nowhere in rules/."""
    assert (RULES / "recording.yml").read_text() == render_recording()
    assert (RULES / "alerts.yml").read_text() == render_alerts()
    zs = {DEFAULT.status_5m.z, DEFAULT.status_1h.z, DEFAULT.auth_code_5m.z}
    derived = {f"{z * z / d:.12g}" for z in zs for d in (1, 2, 4)}
    generated = {RULES / "recording.yml", RULES / "alerts.yml"}
    for path in sorted(RULES.rglob("*")):
        if path.suffix not in (".py", ".yml") or path in generated:
            continue
        text = path.read_text()
        assert not {c for c in derived if c in text}, path
        if path.suffix == ".py" and path.name != "settings.py":
            assert not {repr(z) for z in zs if repr(z) in text}, path


def counter_selectors(expr: str, exported: set[str]) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2) or "") for m in
            re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?", expr)
            if m.group(1) in exported]


def test_cli_renders_job_and_runbook_everywhere(tmp_path):
    base = "https://wiki.example/runbook.md"
    out = tmp_path / "rules"
    result = subprocess.run([sys.executable, "-m", "txwatch.rules", "--job", "payments",
                             "--runbook-base", base, "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    exported = {contract.TRANSACTIONS.counter, contract.AUTH_CODE_COUNTS.counter,
                contract.LAST_PUSH_TIMESTAMP, "process_start_time_seconds", "up"}
    readers = set()
    for name in ("recording.yml", "alerts.yml"):
        text = (out / name).read_text()
        assert "txwatch.rules --job payments" in text and contract.JOB + '"' not in text
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                for _series, selector in counter_selectors(rule["expr"], exported):
                    assert 'job="payments"' in selector, rule
                    readers.add(rule.get("alert") or rule.get("record"))
                if "alert" in rule:
                    assert rule["annotations"]["runbook_url"] == f"{base}#{rule['alert'].lower()}"
    assert {"PaymentDataStale", "PaymentExporterDown", "PaymentExportersAllDown",
            "PaymentExporterAbsent"} <= readers
    # The alerts read the counters through the counts their group records (each of those
    # reads them, with the job); only the volume alert's recent-stop subquery and the
    # health alerts read them directly.
    counts = {r["record"]: r["expr"] for g in yaml.safe_load((out / "alerts.yml").read_text())[
        "groups"] for r in g["rules"] if ":count" in r.get("record", "")}
    # ... or sum such a count (a segment's total is the sum of its statuses' counts)
    summed = {name for name, expr in counts.items()
              if name not in readers and any(other in expr for other in counts.keys() & readers)}
    assert len(counts) > 10 and set(counts) <= readers | summed
    assert summed == {n for n in counts if n.startswith("segment:")}, summed
    assert {r for r in readers if ":" not in r} == {
        "PaymentDataStale", "PaymentExporterDown", "PaymentExportersAllDown",
        "PaymentExporterAbsent", "PaymentTrafficLow"}
    shutil.copy(RULES / "thresholds.yml", out)
    check = subprocess.run([require_binary("promtool"), "check", "rules",
                            *map(str, sorted(out.glob("*.yml")))], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
@pytest.mark.parametrize("suite", sorted((RULES / "tests").glob("*.yml")), ids=lambda p: p.name)
def test_rules_rendered_for_another_job_pass_the_suites_moved_to_it(tmp_path, suite):
    out = tmp_path / "rules"
    (out / "tests").mkdir(parents=True)
    wiki = "https://wiki.example/runbook.md"
    settings = Settings(job="payments", runbook_base=wiki)
    (out / "recording.yml").write_text(render_recording(settings))
    (out / "alerts.yml").write_text(render_alerts(settings))
    shutil.copy(RULES / "thresholds.yml", out)
    moved = suite.read_text().replace(DEFAULT.runbook_base, wiki)
    for old in ('job="{}"', "job: {}", "for job {}"):
        moved = moved.replace(old.format(contract.JOB), old.format("payments"))
    (out / "tests" / suite.name).write_text(moved)
    # The shortest case that expects each alert to fire (every case of a suite that expects
    # none): the suites themselves run whole in test_rules.py.
    picked = covering(out / "tests" / suite.name) or range(len(cases(suite)))
    for index in picked:
        case = case_file(out / "tests" / suite.name, index, tmp_path)
        result = subprocess.run([require_binary("promtool"), "test", "rules", str(case)],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr


def test_rules_rendered_for_another_job_ignore_the_default_job(tmp_path):
    """The selector really selects: the shipped job's series feed no rule rendered for
    "payments" (and the other way round, the shipped rules ignore "payments")."""
    for job, other in (("payments", contract.JOB), (contract.JOB, "payments")):
        settings = Settings(job=job)
        (tmp_path / "recording.yml").write_text(render_recording(settings))
        (tmp_path / "alerts.yml").write_text(render_alerts(settings))
        shutil.copy(RULES / "thresholds.yml", tmp_path)
        suite = {"rule_files": ["recording.yml", "thresholds.yml", "alerts.yml"],
                 "evaluation_interval": "1m", "tests": [{
                     "interval": "1m", "input_series": [
                         {"series": f'{contract.TRANSACTIONS.counter}{{job="{j}",status="failed"}}',
                          "values": "0+10x20"} for j in (job, other)] + [
                         {"series": f'up{{job="{job}"}}', "values": "1x20"},
                         {"series": f'up{{job="{other}"}}', "values": "0x20"}],
                     "promql_expr_test": [{
                         "expr": "count by (job) (status:payment_transactions:increase5m)",
                         "eval_time": "10m", "exp_samples": [{"labels": f'{{job="{job}"}}',
                                                              "value": 1}]}],
                     "alert_rule_test": [{"eval_time": "10m", "alertname": "PaymentExporterDown",
                                          "exp_alerts": []}]}]}
        (tmp_path / "suite.yml").write_text(yaml.safe_dump(suite, sort_keys=False))
        result = subprocess.run([require_binary("promtool"), "test", "rules",
                                 str(tmp_path / "suite.yml")],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
