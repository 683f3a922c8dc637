"""Grafana boards and docker-compose: layout, datasource, queries against real data."""

from __future__ import annotations

import json
import re
from pathlib import Path

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
            "auth_code", "approved", "failed"}


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
    assert len(BOARDS) == 2


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
            for expr in exprs(json.loads(path.read_text())):
                concrete = expr.replace("$status", "failed")
                found = prom.query_range(concrete, 0.0, steps)
                assert found, f"{path.name}: no data for {concrete}"
                assert any((v == v).any() for _labels, v in found), concrete
