"""Grafana boards and docker-compose: layout, datasource, queries against real data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import REPO, samples
from txwatch import contract
from txwatch.backtest.loaded import loaded_prometheus
from txwatch.history.dataset import load_dataset
from txwatch.history.generate import write

BOARDS = sorted((REPO / "grafana" / "dashboards").glob("*.json"))
UID = yaml.safe_load((REPO / "grafana/provisioning/datasources/prometheus.yml").read_text())[
    "datasources"][0]["uid"]
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
KEYWORDS = {"sum", "by", "rate", "time", "max", "and", "or", "on", "status", "reason",
            "alertname", "severity", "alertstate", "firing", "info", "all", "label_values",
            "auth_code", "approved", "failed", "topk", "min", "increase", "ignoring", "group_left",
            "job", "unless", "label_replace", "count", "without", "group", "dimension",
            "segment", *contract.SEGMENT_DIMENSIONS}
# Checked on a segmented history instead (tests/test_grafana_segments.py): on a history
# without segments its every query is rightly empty.
SEGMENTED = {"segments.json"}


def panels(board: dict) -> list[dict]:
    return [p for p in board["panels"] if p.get("type") != "row"]


def exprs(board: dict) -> list[str]:
    found = [t["expr"] for p in panels(board) for t in p.get("targets", [])]
    found += [a["expr"] for a in board["annotations"]["list"] if a.get("expr")]
    return found


def known_series() -> set[str]:
    sample = (REPO / "docs" / "metrics-sample.prom").read_text()
    names = {s.name for s in samples(sample)}
    for path in (REPO / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names | {"ALERTS", "up"}


@pytest.mark.parametrize("path", BOARDS, ids=[p.name for p in BOARDS])
def test_board_parses_and_uses_the_provisioned_datasource(path: Path):
    board = json.loads(path.read_text())
    assert board["uid"] and board["title"] and panels(board)
    for panel in panels(board):
        assert panel["datasource"]["uid"] == UID, panel["title"]
        assert panel.get("description"), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == UID
    assert [a for a in board["annotations"]["list"] if "ALERTS" in a.get("expr", "")]


def test_provisioning_layout_matches_compose_mounts():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = dict(v.rsplit(":", 2)[:2] for v in compose["services"]["grafana"]["volumes"]
                  if v.startswith("./"))
    provider = yaml.safe_load((REPO / "grafana/provisioning/dashboards/txwatch.yml").read_text())
    assert mounts["./grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    assert len(BOARDS) == 3


@pytest.mark.parametrize("path", BOARDS, ids=[p.name for p in BOARDS])
def test_every_series_a_board_reads_exists(path: Path):
    known = known_series()
    for expr in exprs(json.loads(path.read_text())):
        bare = re.sub(r'"[^"]*"|\{\{[^}]*\}\}|\$\w+|\[[^]]*\]|\b\d+[smhdwy]\b', "", expr)
        for token in IDENT.findall(bare):
            if token.lower() in KEYWORDS or token in {"status_", "offset"}:
                continue
            assert token in known, f"{token} in {expr!r} is neither exported nor recorded"


def test_share_panels_draw_the_limits_the_alerts_use():
    """Each share panel draws the fast and slow limits: the recorded series the paging
    alerts compare with, derived from the threshold table's rows."""
    board = json.loads((REPO / "grafana/dashboards/overview.json").read_text())
    recording = {r["record"]: r["expr"] for g in yaml.safe_load(
        (REPO / "rules/recording.yml").read_text())["groups"] for r in g["rules"]}
    alerts = (REPO / "rules/alerts.yml").read_text()
    share = [p for p in panels(board) if p["title"].endswith(" share")]
    assert {p["title"] for p in share} == {f"{s} share" for s in
                                           ("failed", "denied", "reversed", "backend_reversed")}
    for panel in share:
        lines = {t["expr"].split("{")[0] for t in panel["targets"] if "ratio_limit" in t["expr"]}
        assert lines == {"status:payment_transactions:ratio_limit_fast",
                         "status:payment_transactions:ratio_limit_slow"}
        for line in lines:
            assert "threshold:payment_transactions:" in recording[line]
            assert line in alerts


@pytest.mark.slow
def test_every_query_runs_and_returns_data_on_demo_history(tmp_path):
    paths = write(tmp_path / "demo", days=2, seed=1)
    data = load_dataset([paths["transactions"], paths["auth_codes"]], contract.STATUSES,
                        contract.AUTH_CODES)
    steps = len(data.transactions)
    with loaded_prometheus(data, REPO / "rules", tmp_path) as prom:
        for path in BOARDS:
            if path.name in SEGMENTED:
                continue
            for expr in exprs(json.loads(path.read_text())):
                concrete = expr.replace("$status", "failed")
                found = prom.query_range(concrete, 0.0, steps)
                assert found, f"{path.name}: no data for {concrete}"
                assert any((v == v).any() for _labels, v in found), concrete


def _code_panels(board: dict) -> dict[str, dict[str, str]]:
    """The overview's top-decline-code panels: title -> {legend: expr}."""
    return {p["title"]: {t["legendFormat"]: t["expr"] for t in p["targets"]}
            for p in panels(board) if p["title"].startswith("Top decline codes")}


def test_code_panels_show_the_top_decline_codes_with_the_limits_the_alerts_use():
    """No code is named: the top codes of whatever the deployment sends, each with the
    recorded limit its alert compares with (dashed: every series of the limit query)."""
    board = json.loads((REPO / "grafana/dashboards/overview.json").read_text())
    found = _code_panels(board)
    assert set(found) == {"Top decline codes, share of all auth codes",
                          "Top decline codes, share of the declines"}
    alerts = (REPO / "rules/alerts.yml").read_text()
    for title, targets in found.items():
        assert set(targets) == {"{{auth_code}}", "{{auth_code}} limit"}, title
        share, limit = targets["{{auth_code}}"], targets["{{auth_code}} limit"]
        assert "topk by (job) (8, " in share and f"({share})" in limit, title
        line = limit.split()[0]
        assert line in alerts and line.endswith("_limit_fast"), line
        assert f'auth_code!="{contract.APPROVED_AUTH_CODE}"' in share
        matchers = set(re.findall(r'auth_code\s*(=~|!~|!=|=)\s*"([^"]*)"', limit))
        assert matchers == {("!=", contract.APPROVED_AUTH_CODE)}, limit  # no code named
        panel = next(p for p in panels(board) if p["title"] == title)
        limit_ref = next(t["refId"] for t in panel["targets"] if t["expr"] == limit)
        dashed = [o for o in panel["fieldConfig"]["overrides"]
                  if o["matcher"] == {"id": "byFrameRefID", "options": limit_ref}]
        assert dashed and dashed[0]["properties"][0]["id"] == "custom.lineStyle"


@pytest.mark.slow
def test_code_panels_return_codes_the_contract_does_not_list(tmp_path):
    """Twelve decline codes, most of them in neither the contract nor the table: each code
    panel shows the top 8 at each time (more only when tied at the 8th), among them
    unlisted ones (91's bursts), never 00, and the limit of a code only where it shows the
    code (the table's default rows for the unlisted)."""
    paths = write(tmp_path / "codes", days=1, seed=3, profile="many_codes")
    data = load_dataset([paths["transactions"], paths["auth_codes"]], contract.STATUSES,
                        contract.AUTH_CODES)
    steps = len(data.transactions)
    declines = data.auth_codes.drop(columns=contract.APPROVED_AUTH_CODE)
    assert ((declines.rolling(10).sum() > 0).sum(axis=1) > 8).any()  # more than 8 at times
    board = json.loads((REPO / "grafana/dashboards/overview.json").read_text())
    with loaded_prometheus(data, REPO / "rules", tmp_path) as prom:
        for title, targets in _code_panels(board).items():
            shares = prom.query_range(targets["{{auth_code}}"], 0.0, steps)
            limits = prom.query_range(targets["{{auth_code}} limit"], 0.0, steps)
            shown = {labels["auth_code"]: values for labels, values in shares}
            unlisted = set(shown) - set(contract.AUTH_CODES)
            assert "91" in unlisted and len(shown) > 8, (title, sorted(shown))
            assert contract.APPROVED_AUTH_CODE not in shown
            ranked = -np.sort(-np.nan_to_num(np.array(list(shown.values()))), axis=0)
            assert (ranked >= 0).all(), title  # code x step, each step largest first
            # each step: the top 8, and past the 8th only codes tied with it
            assert ((ranked[8:] == 0) | (ranked[8:] == ranked[7])).all(), title
            assert (np.count_nonzero(ranked, axis=0) == 8).any(), title
            limited = {labels["auth_code"]: values for labels, values in limits}
            assert "91" in limited and set(limited) <= set(shown), title
            for code, values in limited.items():  # a limit only where its code is shown
                assert not (~np.isnan(values) & np.isnan(shown[code])).any(), (title, code)
                assert ((values[~np.isnan(values)] > 0)
                        & (values[~np.isnan(values)] <= 1)).all(), (title, code)


@pytest.mark.slow
def test_warm_up_normal_and_approved_volume_only_over_full_windows(tmp_path):
    """On demo history (a data minute a step): the warm-up normal is drawn exactly where no
    normal is learned, at the table's value (the one the messages quote then); the
    approved-volume lines start once their window was scraped whole, not climbing from 0."""
    paths = write(tmp_path / "demo", days=1, seed=1)
    data = load_dataset([paths["transactions"], paths["auth_codes"]], contract.STATUSES,
                        contract.AUTH_CODES)
    steps = len(data.transactions)
    board = json.loads((REPO / "grafana/dashboards/overview.json").read_text())
    targets = {p["title"]: {t["legendFormat"]: t["expr"] for t in p["targets"]}
               for p in panels(board)}
    share, approved = targets["failed share"], targets["Approved volume vs its recent level"]
    with loaded_prometheus(data, REPO / "rules", tmp_path) as prom:
        def one(expr: str) -> np.ndarray:
            found = prom.query_range(expr, 0.0, steps)
            assert len(found) <= 1, expr
            return found[0][1] if found else np.full(steps, np.nan)

        learned, warm = one(share["normal"]), one(share["normal (warm-up)"])
        table = one('max(threshold:payment_transactions:ratio_normal{status="failed"})')
        assert np.isnan(learned[:10]).all() and not np.isnan(learned[-60:]).any()
        assert (np.isnan(warm) == ~np.isnan(learned)).all()  # one of the two, always
        assert np.allclose(warm[~np.isnan(warm)], table[~np.isnan(warm)])
        filling = one('sum(status:payment_transactions:increase10m{status="approved"})')
        assert not np.isnan(filling[1:10]).any()  # the climbing window the board leaves out
        for legend, full in (("approved 10m", 10), ("10m before", 20)):
            drawn = one(approved[legend])
            assert np.isnan(drawn[:full]).all() and not np.isnan(drawn[full:]).any(), legend
