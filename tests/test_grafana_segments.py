"""The Grafana segments board: variables, the ranking's drill-down link, and every query
against a real Prometheus loaded with a short segmented history (one acquirer failing, one
too small to be judged), the ranking agreeing with what the segment page itself weighs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from tests.conftest import REPO
from tests.segment_history import FAILING, VOLUMES, segmented_dataset
from txwatch.backtest.loaded import loaded_prometheus
from txwatch.web.segments import UID, judged_statuses, segments

BOARD = REPO / "grafana" / "dashboards" / "segments.json"
MINUTES, FAILING_FROM = 240, 210  # four hours; the last half hour acq-04 fails fully
SMALL = "acq-05"  # never gathers the 1,000 transactions a normal needs


def grafana() -> dict:
    return json.loads(BOARD.read_text())


def panel(title: str) -> dict:
    return next(p for p in grafana()["panels"] if p["title"] == title)


def concrete(expr: str) -> str:
    return expr.replace("$dimension", "acquirer").replace("$segment", FAILING)


def test_variables_pick_a_dimension_then_one_of_its_segments():
    found = {v["name"]: v for v in grafana()["templating"]["list"]}
    assert set(found) == {"dimension", "segment"}
    assert found["dimension"]["query"] == (
        "label_values(segment:payment_transactions:increase1h, dimension)")
    assert found["segment"]["query"] == ('label_values(segment:payment_transactions:'
                                         'increase1h{dimension="$dimension"}, segment)')
    drill = [p for p in grafana()["panels"] if p["title"].startswith("$segment ")]
    assert len(drill) == 2 + len(judged_statuses())
    for p in drill:  # every drill-down query reads the selected segment only
        for target in p["targets"]:
            assert "$segment" in target["expr"], (p["title"], target["expr"])


def test_ranking_rows_link_to_the_drill_down_of_their_segment():
    ranking = panel("Segments furthest above their own normal")
    assert [t["refId"] for t in ranking["targets"]] == ["A", "B", "C"]
    assert all(t["instant"] and t["format"] == "table" for t in ranking["targets"])
    assert "topk(10, " in ranking["targets"][0]["expr"]
    assert ranking["options"]["sortBy"] == [{"desc": True, "displayName": "excess 15m"}]
    ids = [t["id"] for t in ranking["transformations"]]
    assert ids == ["merge", "filterByValue", "organize"]
    links = [prop["value"] for o in ranking["fieldConfig"]["overrides"]
             if o["matcher"] == {"id": "byName", "options": "segment"}
             for prop in o["properties"] if prop["id"] == "links"]
    assert len(links) == 1
    url = links[0][0]["url"]
    assert url.startswith(f"/d/{UID}?") and grafana()["uid"] == UID
    assert "var-dimension=${__data.fields.dimension}" in url
    assert "var-segment=${__data.fields.segment}" in url


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A throwaway Prometheus holding the history as live operation would have left it."""
    work = tmp_path_factory.mktemp("segments")
    data = segmented_dataset(work / "history", datetime(2024, 3, 1, tzinfo=UTC), MINUTES,
                             FAILING_FROM)
    with loaded_prometheus(data, REPO / "rules", work) as prom:
        yield prom


def instant(prom, expr: str) -> list[tuple[dict[str, str], float]]:
    """``expr`` at the history's last minute."""
    found = prom.query_range(expr, (MINUTES - 1) * 60.0, 1)
    return [(labels, float(values[0])) for labels, values in found if not np.isnan(values[0])]


@pytest.mark.slow
def test_every_segment_query_returns_data(loaded):
    for p in grafana()["panels"]:
        for target in p["targets"]:
            found = loaded.query_range(concrete(target["expr"]), 0.0, MINUTES)
            assert found, f"{p['title']}: no data for {target['expr']}"
    for v in segments().variables:
        values = {labels[v.label] for labels, _ in instant(loaded, concrete(v.promql()))}
        assert values == ({"acquirer"} if v.name == "dimension" else set(VOLUMES)), v.name


@pytest.mark.slow
def test_ranking_puts_the_failing_acquirer_first_with_the_pages_own_excess(loaded):
    ranking = {t["refId"]: t["expr"] for t in panel(
        "Segments furthest above their own normal")["targets"]}
    rows = sorted(instant(loaded, ranking["A"]), key=lambda row: -row[1])
    assert len(rows) == 10
    top, value = rows[0]
    assert (top["dimension"], top["segment"], top["status"]) == ("acquirer", FAILING, "failed")
    # what PaymentSegmentAboveNormal weighs, recorded in its group, to the transaction
    own = instant(loaded, f'segment_status:payment_transactions:excess15m{{segment="{FAILING}"'
                          ', status="failed"}')
    assert value == pytest.approx(own[0][1]) and value > 200
    assert {r["status"] for r, _ in rows} <= set(judged_statuses())
    assert SMALL not in {r["segment"] for r, _ in rows}  # no normal: not ranked
    shares = {(r["segment"], r["status"]): v for r, v in instant(loaded, ranking["B"])}
    assert shares[(FAILING, "failed")] == 1.0
    firing = instant(loaded, panel("Segment pages firing")["targets"][0]["expr"])
    assert [(r["segment"], r["status"]) for r, _ in firing] == [(FAILING, "failed")]


@pytest.mark.slow
def test_coverage_names_the_segment_too_small_to_be_judged(loaded):
    expr = panel("Segments judged, and covered by the flow only")["targets"][0]["expr"]
    judged = {r["segment"]: r["judged"] for r, _ in instant(loaded, expr)}
    assert judged == {**{s: "judged: own normal" for s in VOLUMES if s != SMALL},
                      SMALL: "flow only: no normal yet"}


@pytest.mark.slow
def test_drill_down_shows_the_failing_share_far_above_its_own_normal(loaded):
    share = {t["legendFormat"]: concrete(t["expr"]) for t in panel(
        "$segment failed share")["targets"]}
    values = {legend: instant(loaded, expr)[0][1] for legend, expr in share.items()}
    assert values["share 5m"] == values["share 15m"] == 1.0
    assert 0 < values["normal"] < values["material above"] < 0.05
    excess = instant(loaded, concrete(panel("$segment excess over 15m")["targets"][0]["expr"]))
    assert max(excess, key=lambda row: row[1])[0]["status"] == "failed"
