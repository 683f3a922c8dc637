"""Grafana boards built from code with the Grafana Foundation SDK.

``python scripts/generate.py`` writes them to grafana/dashboards/*.json; the tests fail when
the JSON is stale. Threshold lines are the threshold-table series of rules/thresholds.yml,
so the boards and the alerts read the same numbers; the confidence level a description
names comes from the rules' own definition (``txwatch.rules.settings``).
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard, prometheus, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from txwatch.rules import DEFAULT as RULES  # the confidence level of each recorded bound

DATASOURCE_UID = "txwatch-prometheus"
DS = dm.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
COLOURS = {"approved": "green", "denied": "orange", "failed": "red", "reversed": "purple",
           "backend_reversed": "dark-red", "refunded": "blue", "00": "green", "51": "orange",
           "59": "red"}
SHARES = ("failed", "denied", "reversed", "backend_reversed")


def query(expr: str, legend: str, ref: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)


def colour(panel: timeseries.Panel, name: str, value: str) -> timeseries.Panel:
    return panel.override_by_name(name, [dm.DynamicConfigValue(
        id_val="color", value={"mode": "fixed", "fixedColor": value})])


def series_panel(title: str, description: str, unit: str, pos: tuple[int, int, int, int],
                 targets: list[prometheus.Dataquery]) -> timeseries.Panel:
    h, w, x, y = pos
    panel = (timeseries.Panel().title(title).description(description).unit(unit)
             .datasource(DS).grid_pos(dm.GridPos(h=h, w=w, x=x, y=y)).line_width(1)
             .fill_opacity(10)
             .legend(cb.VizLegendOptions().show_legend(True)
                     .display_mode(common.LegendDisplayMode.LIST)
                     .placement(common.LegendPlacement.BOTTOM))
             .tooltip(cb.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                      .sort(common.SortOrder.NONE)))
    for target in targets:
        panel = panel.with_target(target)
    return panel


def share_panel(status: str, pos: tuple[int, int, int, int]) -> timeseries.Panel:
    """Share of one status against its learned normal and the two limits the alerts use."""
    s = f'status="{status}"'
    panel = series_panel(
        f"{status} share", f"Share of {status} in all transactions over 5 minutes, its lower "
        f"{RULES.status_5m.text} bound, the deployment's normal share (learned from its own "
        "history) and the fast / slow limits derived from it with rules/thresholds.yml "
        "(dashed).",
        "percentunit", pos, [
            query(f"status:payment_transactions:ratio_rate5m{{{s}}}", "share 5m", "A"),
            query(f"status:payment_transactions:ratio_wilson_lower5m{{{s}}}", "lower bound 5m",
                  "B"),
            query(f"max(status:payment_transactions:ratio_normal{{{s}}})", "normal", "C"),
            query(f"status:payment_transactions:ratio_limit_fast{{{s}}}", "fast limit", "D"),
            query(f"status:payment_transactions:ratio_limit_slow{{{s}}}", "slow limit", "E")])
    panel = colour(panel, "share 5m", COLOURS.get(status, "red"))
    panel = colour(panel, "normal", "blue")
    for name in ("fast limit", "slow limit"):
        panel = panel.override_by_name(name, [
            dm.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash",
                                                                    "dash": [10, 10]}),
            dm.DynamicConfigValue(id_val="color", value={"mode": "fixed",
                                                         "fixedColor": "dark-red"})])
    return panel


def alerts_table(pos: tuple[int, int, int, int], selector: str = "") -> table.Panel:
    h, w, x, y = pos
    extra = f",{selector}" if selector else ""
    return (table.Panel().title("Firing alerts").datasource(DS)
            .description("Alerts firing now (the ALERTS series of Prometheus).")
            .grid_pos(dm.GridPos(h=h, w=w, x=x, y=y))
            .with_target(query(
                f'sum by (alertname, severity, status) (ALERTS{{alertstate="firing"{extra}}})',
                "{{alertname}}", "A").instant().format(pm.PromQueryFormat.TABLE)))


def alert_annotations() -> dashboard.AnnotationQuery:
    return (dashboard.AnnotationQuery().name("Alerts firing").datasource(DS).enable(True)
            .icon_color("red").expr('ALERTS{alertstate="firing",severity!="info"}'))


def overview() -> dashboard.Dashboard:
    tx = series_panel(
        "Transactions per minute by status", "All pushed transactions, stacked by status.",
        "short", (8, 16, 0, 0),
        [query("status:payment_transactions:rate5m * 60", "{{status}}", "A")])
    tx = tx.stacking(cb.StackingConfig().mode(common.StackingMode.NORMAL))
    for status in ("approved", "denied", "failed", "reversed", "backend_reversed", "refunded"):
        tx = colour(tx, status, COLOURS[status])
    board = (dashboard.Dashboard("txwatch overview").uid("txwatch-overview")
             .tags(["txwatch", "payments"]).refresh("30s").time("now-6h", "now")
             .annotation(alert_annotations()).with_panel(tx)
             .with_panel(alerts_table((8, 8, 16, 0))))
    for i, status in enumerate(SHARES):
        board = board.with_panel(share_panel(status, (8, 12, 12 * (i % 2), 8 + 8 * (i // 2))))
    approved = series_panel(
        "Approved volume vs its recent level", "Approved transactions in the last 10 minutes, "
        "and the level of the half hour before them, which the approved-volume alert compares "
        "with (a drop to the table's volume_drop_factor of it pages).", "short",
        (8, 12, 0, 24), [
            query('status:payment_transactions:increase10m{status="approved"}', "approved 10m",
                  "A"),
            query('status:payment_transactions:increase10m{status="approved"} offset 10m',
                  "10m before", "B")])
    codes = series_panel(
        "Auth-code mix", "Share of issuer auth codes over 5 minutes (00 approved, 51 "
        "insufficient funds, 59 suspected fraud).", "percentunit", (8, 12, 12, 24),
        [query("auth_code:payment_auth_codes:ratio_rate5m", "{{auth_code}}", "A")])
    for code in ("00", "51", "59"):
        codes = colour(codes, code, COLOURS[code])
    health = series_panel(
        "Exporter health", "Records accepted and rejected per second (by reason), and the "
        "age of the last accepted push.", "short", (8, 24, 0, 32), [
            query("sum(rate(txwatch_exporter_records_accepted_total[5m]))", "accepted/s", "A"),
            query("sum by (reason) (rate(txwatch_exporter_records_rejected_total[5m]))",
                  "rejected/s {{reason}}", "B"),
            query("time() - max(payment_last_push_timestamp_seconds)", "last push age (s)",
                  "C")])
    return board.with_panel(approved).with_panel(codes).with_panel(health)


def drilldown() -> dashboard.Dashboard:
    variable = (dashboard.QueryVariable("status").label("status").datasource(DS)
                .query("label_values(payment_transactions_total, status)")
                .current(dm.VariableOption(selected=True, text="failed", value="failed")))
    s = 'status="$status"'
    counts = series_panel(
        "$status per minute", "Transactions of the selected status per minute, and all "
        "transactions.", "short", (8, 12, 0, 8), [
            query(f"status:payment_transactions:rate5m{{{s}}} * 60", "$status", "A"),
            query("job:payment_transactions:rate5m * 60", "all", "B")])
    bounds = series_panel(
        "$status share over 1 hour", "Share over 1 hour and its lower "
        f"{RULES.status_1h.text} bound, against the learned normal share and the slow "
        "limit.", "percentunit", (8, 12, 12, 8), [
            query(f"status:payment_transactions:ratio_rate1h{{{s}}}", "share 1h", "A"),
            query(f"status:payment_transactions:ratio_wilson_lower1h{{{s}}}", "lower bound 1h",
                  "B"),
            query(f"max(status:payment_transactions:ratio_normal{{{s}}})", "normal", "C"),
            query(f"status:payment_transactions:ratio_limit_slow{{{s}}}", "slow limit", "D")])
    return (dashboard.Dashboard("txwatch status drill-down").uid("txwatch-status")
            .tags(["txwatch", "payments"]).refresh("30s").time("now-6h", "now")
            .with_variable(variable).annotation(alert_annotations())
            .with_panel(share_panel("$status", (8, 16, 0, 0)))
            .with_panel(alerts_table((8, 8, 16, 0), 'status=~"$status|all"'))
            .with_panel(counts).with_panel(bounds))


def render(board: dashboard.Dashboard) -> str:
    return json.dumps(board.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


BOARDS: dict[str, Any] = {"grafana/dashboards/overview.json": overview,
                          "grafana/dashboards/status.json": drilldown}
